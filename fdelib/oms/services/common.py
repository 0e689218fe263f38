"""What every service shares: the refusals, the order lock, and the faults a lesson injects."""

from __future__ import annotations

from typing import Literal, overload

import sqlalchemy as sa

from ... import db
from ...errors import FdeError

#: the faults a lesson can inject, and which service trips over each
FAULTS = {
    "none": "every service succeeds",
    "payment_declined": "the payment service declines the card",
    "stock_out": "an item is out of stock",
    "delivery_failure": "no carrier can take the parcel (every retry fails)",
    "payment_worker_crash": "the payment worker dies after charging, before reporting back",
    "payment_crash_before_charge": "the payment worker dies holding the task, before it charges",
}


class Refused(FdeError):
    """A business refusal: retrying the same request gives the same answer."""


class TryAgain(FdeError):
    """A transient failure: the same request may succeed later."""


def engine_or_default(engine: sa.Engine | None) -> sa.Engine:
    return engine or db.get_engine()


@overload
def lock_order(
    conn: sa.Connection, order_id: str, missing_ok: Literal[False] = False, workflow_id: str | None = None
) -> sa.Row: ...
@overload
def lock_order(
    conn: sa.Connection, order_id: str, missing_ok: bool, workflow_id: str | None = None
) -> sa.Row | None: ...
def lock_order(
    conn: sa.Connection, order_id: str, missing_ok: bool = False, workflow_id: str | None = None
) -> sa.Row | None:
    """The order's row, locked until the transaction ends (None only with ``missing_ok``).

    With ``workflow_id`` (what every workflow task passes), the order must be the one that
    workflow placed: a second workflow started with the same order id — a replay, or a
    client's conflicting request — can never charge, book, ship, close or tell anything
    about an order another workflow owns.
    """
    row = (
        conn.execute(sa.text("SELECT * FROM oms.orders WHERE order_id = :o FOR UPDATE"), {"o": order_id}).one_or_none()
        if isinstance(order_id, str)
        else None
    )
    if row is None and not missing_ok:
        raise Refused(f"order {order_id} does not exist")
    if row is not None and not owns(row, workflow_id):
        raise Refused(f"order {order_id} belongs to workflow {row.workflow_id}, not to {workflow_id}")
    return row


def owns(order: sa.Row, workflow_id: str | None) -> bool:
    """True if the caller may act on the order: the workflow that placed it, or a direct
    call (no workflow: the choreography, a test)."""
    return workflow_id is None or order.workflow_id == workflow_id


def fire_once(order_id: str, fault: str, engine: sa.Engine | None = None) -> bool:
    """True the first time this order's fault fires, False ever after."""
    with engine_or_default(engine).begin() as conn:
        order = conn.execute(sa.text("SELECT fault FROM oms.orders WHERE order_id = :o"), {"o": order_id}).first()
        if order is None or order.fault != fault:
            return False
        return (
            conn.execute(
                sa.text("INSERT INTO oms.fired_faults VALUES (:o, :f) ON CONFLICT DO NOTHING RETURNING 1"),
                {"o": order_id, "f": fault},
            ).first()
            is not None
        )
