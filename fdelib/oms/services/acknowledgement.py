"""Order acknowledgement: receive a client order, price it, persist it; close or cancel it.

The order id is the client's **idempotency key**, as a payment reference is the bank's:

* a new id: the order is checked (:func:`.order_request.parse_order`), priced from the
  catalogue (``oms.products.price`` x quantity — the client's stated total must agree, it
  is never what is charged), stored with the id of the workflow that placed it, and
  ``PLACED``;
* the same order again (same customer, items, amount and address) is a **replay**: nothing
  is done twice, and the answer is the original's outcome — ``IN_PROGRESS`` while the
  first workflow runs, then ``REPLAY_COMPLETED`` (with its payment and tracking) or
  ``REPLAY_CANCELLED`` (with its reason);
* the same id with other content is refused, naming what differs.

(The receipt time and a lesson's injected fault are not part of what a replay must repeat:
the first request's stand.)
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from .common import Refused, engine_or_default, lock_order, owns
from .order_request import OrderRequest, describe_items, parse_order


def acknowledge(order: Any, workflow_id: str | None = None, engine: sa.Engine | None = None) -> dict[str, Any]:
    """Place a client order once, whatever the retries and replays; see the module's doc."""
    request = parse_order(order)
    with engine_or_default(engine).begin() as conn:
        stored = lock_order(conn, request.order_id, missing_ok=True)
        if stored is None:
            prices = _price(conn, request)
            total = sum((prices[sku] * quantity for sku, quantity in request.items), Decimal("0.00"))
            placed = conn.execute(
                sa.text("""
                INSERT INTO oms.orders (order_id, customer_id, amount, address, status, fault, received_at,
                                        workflow_id)
                VALUES (:o, :c, :a, :d, 'ACKNOWLEDGED', :f, :r, :w)
                ON CONFLICT (order_id) DO NOTHING RETURNING order_id"""),
                {
                    "o": request.order_id,
                    "c": request.customer_id,
                    "a": total,
                    "d": request.address,
                    "f": request.fault,
                    "r": request.received_at,
                    "w": workflow_id,
                },
            ).first()
            if placed:
                conn.execute(
                    sa.text(
                        "INSERT INTO oms.order_items (order_id, sku, quantity, unit_price) VALUES (:o, :s, :q, :p)"
                    ),
                    [
                        {"o": request.order_id, "s": sku, "q": quantity, "p": prices[sku]}
                        for sku, quantity in request.items
                    ],
                )
                _record(conn, request.order_id, workflow_id, "PLACED")
                return {
                    "order_id": request.order_id,
                    "outcome": "PLACED",
                    "status": "ACKNOWLEDGED",
                    "amount": float(total),
                }
            stored = lock_order(conn, request.order_id)  # placed meanwhile by a concurrent request
        return _replay(conn, stored, request, workflow_id)


def _price(conn: sa.Connection, request: OrderRequest) -> dict[str, Decimal]:
    """The catalogue price of each item; refused unless the stated total is their sum."""
    prices: dict[str, Decimal] = dict(
        conn.execute(
            sa.text("SELECT sku, price FROM oms.products WHERE sku = ANY(:s)"), {"s": [sku for sku, _ in request.items]}
        ).all()
    )
    unknown = [sku for sku, _ in request.items if sku not in prices]
    if unknown:
        raise Refused(f"order {request.order_id}: unknown product(s) {', '.join(unknown)}")
    customer = conn.execute(
        sa.text("SELECT 1 FROM oms.customers WHERE customer_id = :c"), {"c": request.customer_id}
    ).first()
    if customer is None:
        raise Refused(f"order {request.order_id}: unknown customer {request.customer_id}")
    total = sum((prices[sku] * quantity for sku, quantity in request.items), Decimal("0.00"))
    if total != request.amount:
        lines = ", ".join(f"{quantity} x {sku} at {prices[sku]}" for sku, quantity in request.items)
        raise Refused(
            f"order {request.order_id}: the stated total {request.amount} differs from the "
            f"catalogue total {total} ({lines}); nothing was charged"
        )
    return prices


def _replay(conn: sa.Connection, stored: sa.Row, request: OrderRequest, workflow_id: str | None) -> dict[str, Any]:
    """The answer to an order id seen before: its outcome, or a refusal naming what differs."""
    items = tuple(
        (sku, quantity)
        for sku, quantity in conn.execute(
            sa.text("SELECT sku, quantity FROM oms.order_items WHERE order_id = :o ORDER BY sku"),
            {"o": stored.order_id},
        )
    )
    differs = [
        f"{name} differ{'s' if name != 'items' else ''} (was {was}, now {now})"
        for name, was, now in (
            ("customer", stored.customer_id, request.customer_id),
            ("items", describe_items(items), describe_items(request.items)),
            ("amount", stored.amount, request.amount),
            ("address", repr(stored.address), repr(request.address)),
        )
        if was != now
    ]
    if differs:
        raise Refused(
            f"order {stored.order_id} was already placed with other content: {'; '.join(differs)}. "
            "Resend the same order to get its outcome, or use a new order id for a new order"
        )
    answer = {
        "order_id": stored.order_id,
        "status": stored.status,
        "amount": float(stored.amount),
        "placed_by": stored.workflow_id,
    }
    if workflow_id is not None and stored.workflow_id == workflow_id:
        return {**answer, "outcome": "PLACED"}  # this workflow's own retry
    if workflow_id is not None:
        _record(conn, stored.order_id, workflow_id, "REPLAYED")
    if stored.status == "ACKNOWLEDGED":
        return {**answer, "outcome": "IN_PROGRESS"}
    if stored.status == "CANCELLED":
        return {
            **answer,
            "outcome": "REPLAY_CANCELLED",
            "reason": f"order {stored.order_id} was already cancelled: {stored.reason or 'see its workflow'}",
        }
    return {
        **answer,
        "outcome": "REPLAY_COMPLETED",
        "original": {"order_id": stored.order_id, **(stored.outcome or {}), "replay_of": stored.workflow_id},
    }


def _record(conn: sa.Connection, order_id: str, workflow_id: str | None, outcome: str) -> None:
    """Remember every workflow that named this order (the audit checks how each one ended)."""
    if workflow_id is not None:
        conn.execute(
            sa.text(
                "INSERT INTO oms.order_requests (order_id, workflow_id, outcome) VALUES (:o, :w, :k) "
                "ON CONFLICT (order_id, workflow_id) DO NOTHING"
            ),
            {"o": order_id, "w": workflow_id, "k": outcome},
        )


def close(
    order_id: str,
    workflow_id: str | None = None,
    outcome: dict[str, Any] | None = None,
    engine: sa.Engine | None = None,
) -> dict[str, Any]:
    """Mark the order COMPLETED once its delivery is scheduled, keeping the ``outcome`` the
    workflow reports (payment status, tracking number, date): a replay is answered from the
    order service's own table. A cancelled order is refused: a workflow must never complete
    an order its compensation undid."""
    with engine_or_default(engine).begin() as conn:
        order = lock_order(conn, order_id, workflow_id=workflow_id)
        if order.status == "CANCELLED":
            raise Refused(
                f"order {order_id} was cancelled ({order.reason or 'no reason given'}); it cannot be completed"
            )
        if order.status == "ACKNOWLEDGED":
            conn.execute(
                sa.text(
                    "UPDATE oms.orders SET status = 'COMPLETED', closed_at = received_at, "
                    "outcome = :r WHERE order_id = :o"
                ),
                {"o": order_id, "r": json.dumps(outcome) if outcome is not None else None},
            )
            return {"order_id": order_id, "status": "COMPLETED", "was": order.status}
    return {"order_id": order_id, "status": order.status, "was": order.status}


def cancel(
    order_id: str, reason: str | None = None, workflow_id: str | None = None, engine: sa.Engine | None = None
) -> dict[str, Any]:
    """Cancel an order (compensation). Status CANCELLED means there is something to undo; a
    COMPLETED order stays completed, one never acknowledged (refused) has nothing to undo,
    and one placed by another workflow (this was a replay or a refused duplicate) is not
    this compensation's to touch: NOT_OWNER."""
    with engine_or_default(engine).begin() as conn:
        order = lock_order(conn, order_id, missing_ok=True)
        if order is None:
            return {"order_id": order_id, "status": "NEVER_ACKNOWLEDGED", "was": None}
        if not owns(order, workflow_id):
            return {"order_id": order_id, "status": "NOT_OWNER", "was": order.status}
        if order.status == "ACKNOWLEDGED":
            conn.execute(
                sa.text(
                    "UPDATE oms.orders SET status = 'CANCELLED', closed_at = received_at, "
                    "reason = :r WHERE order_id = :o"
                ),
                {"o": order_id, "r": reason},
            )
            return {"order_id": order_id, "status": "CANCELLED", "was": order.status}
    return {"order_id": order_id, "status": order.status, "was": order.status}
