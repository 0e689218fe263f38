"""What every service shares: the refusals, the order lock, and the faults a lesson injects."""

from __future__ import annotations

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


def lock_order(conn: sa.Connection, order_id: str, missing_ok: bool = False) -> sa.Row | None:
    row = conn.execute(sa.text("SELECT * FROM oms.orders WHERE order_id = :o FOR UPDATE"),
                       {"o": order_id}).one_or_none()
    if row is None and not missing_ok:
        raise Refused(f"order {order_id} does not exist")
    return row


def fire_once(order_id: str, fault: str, engine: sa.Engine | None = None) -> bool:
    """True the first time this order's fault fires, False ever after."""
    with engine_or_default(engine).begin() as conn:
        order = conn.execute(sa.text("SELECT fault FROM oms.orders WHERE order_id = :o"),
                             {"o": order_id}).first()
        if order is None or order.fault != fault:
            return False
        return conn.execute(sa.text("INSERT INTO oms.fired_faults VALUES (:o, :f) ON CONFLICT DO NOTHING "
                                    "RETURNING 1"), {"o": order_id, "f": fault}).first() is not None
