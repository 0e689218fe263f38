"""What a client's order must look like before the order service will look at it.

A client — the shop's web page, a script, anyone who can start the workflow — sends JSON.
:func:`parse_order` turns it into an :class:`OrderRequest` or refuses it with a message
naming the field and the value: a missing field, an unknown fault, an item that is not an
object, a quantity that is not a whole number from 1 to :data:`MAX_QUANTITY`, the same SKU
twice, an amount that is not a finite number of cents (NaN and Infinity included, which
JSON encoders still write). Prices are not checked here: the catalogue is in the database
(:func:`.acknowledgement.acknowledge`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from .common import FAULTS, Refused

MAX_QUANTITY = 1000  # units of one product in one order
MAX_LINES = 50  # products in one order
MAX_AMOUNT = Decimal("9999999999.99")  # what oms.orders.amount (numeric(12,2)) holds
REQUIRED = ("order_id", "customer_id", "items", "amount", "address", "received_at")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


@dataclasses.dataclass(frozen=True)
class OrderRequest:
    """A well-formed client order: what a replay must repeat exactly."""

    order_id: str
    customer_id: str
    items: tuple[tuple[str, int], ...]  # (sku, quantity), sorted by sku
    amount: Decimal  # the total the client states, in cents
    address: str
    received_at: dt.datetime
    fault: str | None = None


def describe_items(items) -> str:
    """``2 x SKU-DESK, 1 x SKU-MUG``."""
    return ", ".join(f"{quantity} x {sku}" for sku, quantity in items)


def parse_order(order: Any) -> OrderRequest:
    """The client's order, checked field by field; :class:`Refused` names the first problem."""
    if not isinstance(order, Mapping):
        raise Refused(f"an order must be a JSON object, got {type(order).__name__}")
    missing = [key for key in REQUIRED if order.get(key) in (None, "", [], {})]
    name = order.get("order_id")
    label = f"order {name}" if isinstance(name, str) and _ID.fullmatch(name) else "the order"
    if missing:
        raise Refused(f"{label} is missing {', '.join(missing)}")
    order_id = _identifier(order["order_id"], "order_id", "the order")
    fault = order.get("fault") or None
    if fault is not None and fault not in FAULTS:
        raise Refused(f"{label}: unknown fault {fault!r}; one of {', '.join(FAULTS)}")
    return OrderRequest(
        order_id=order_id,
        customer_id=_identifier(order["customer_id"], "customer_id", label),
        items=_items(order["items"], label),
        amount=_amount(order["amount"], label),
        address=_address(order["address"], label),
        received_at=_timestamp(order["received_at"], label),
        fault=fault,
    )


def _identifier(value: Any, field: str, label: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise Refused(
            f"{label}: {field} must be 1-64 letters, digits or . _ : - (starting with a "
            f"letter or digit), got {_show(value)}"
        )
    return value


def _items(value: Any, label: str) -> tuple[tuple[str, int], ...]:
    if not isinstance(value, list):
        raise Refused(f"{label}: items must be a list of {{sku, quantity}}, got {_show(value)}")
    if len(value) > MAX_LINES:
        raise Refused(f"{label}: {len(value)} items; an order holds at most {MAX_LINES} products")
    seen: dict[str, int] = {}
    for position, item in enumerate(value, 1):
        if not isinstance(item, Mapping) or "sku" not in item or "quantity" not in item:
            raise Refused(f"{label}: item {position} must be an object with sku and quantity, got {_show(item)}")
        sku = _identifier(item["sku"], f"the sku of item {position}", label)
        if sku in seen:
            raise Refused(
                f"{label}: {sku} appears twice (items {list(seen).index(sku) + 1} and {position}); "
                "state each product once, with its total quantity"
            )
        seen[sku] = _quantity(item["quantity"], sku, label)
    return tuple(sorted(seen.items()))


def _quantity(value: Any, sku: str, label: str) -> int:
    whole = (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer()
    )  # JSON's 2.0 is the number 2
    if not whole or not 1 <= value <= MAX_QUANTITY:
        raise Refused(
            f"{label}: the quantity of {sku} must be a whole number from 1 to {MAX_QUANTITY}, got {_show(value)}"
        )
    return int(value)


def _amount(value: Any, label: str) -> Decimal:
    """A finite, positive amount with at most two decimals (a JSON number or a decimal string)."""
    problem = None
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise InvalidOperation
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        problem = "is not a number"
    else:
        if not amount.is_finite():
            problem = "is not a finite number"
        elif amount <= 0:
            problem = "must be more than 0"
        elif amount > MAX_AMOUNT:
            problem = f"is more than {MAX_AMOUNT}"
        elif amount != amount.quantize(Decimal("0.01")):
            problem = "has more than two decimals"
    if problem:
        raise Refused(f"{label}: the stated amount {_show(value)} {problem}")
    return amount.quantize(Decimal("0.01"))


def _address(value: Any, label: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200 or not value.isprintable():
        raise Refused(f"{label}: address must be printable text of 1-200 characters, got {_show(value)}")
    return value.strip()


def _timestamp(value: Any, label: str) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        at = None
    if at is None or at.tzinfo is None or not 2000 <= at.year <= 2100:
        raise Refused(
            f"{label}: received_at must be an ISO 8601 time with its UTC offset between the years "
            f"2000 and 2100, e.g. 2026-01-02T10:00:00+00:00, got {_show(value)}"
        )
    return at


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
