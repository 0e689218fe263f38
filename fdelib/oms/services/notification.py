"""Notification: tell the customer about each stage of their order, once per stage.

A message must agree with the order: "on its way" only for a COMPLETED order, "cancelled"
only for a CANCELLED one — so a customer can never be told both.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from .common import Refused, engine_or_default, lock_order

MESSAGES = {
    "received": "We have received your order {order_id}.",
    "completed": "Your order {order_id} is on its way.",
    "cancelled": "Your order {order_id} was cancelled: {reason}. Any payment has been refunded.",
}
#: the order status each stage's message requires (None: any)
REQUIRES = {"received": None, "completed": "COMPLETED", "cancelled": "CANCELLED"}


def notify(
    order_id: str,
    stage: str,
    reason: str | None = None,
    workflow_id: str | None = None,
    engine: sa.Engine | None = None,
) -> dict[str, Any]:
    """Tell the customer about a stage of their order (once per stage)."""
    if stage not in MESSAGES:
        raise Refused(f"unknown notification stage {stage!r}; one of {', '.join(MESSAGES)}")
    message = MESSAGES[stage].format(order_id=order_id, reason=reason or "see your account")
    with engine_or_default(engine).begin() as conn:
        order = lock_order(conn, order_id, workflow_id=workflow_id)
        if REQUIRES[stage] not in (None, order.status):
            raise Refused(f"order {order_id} is {order.status}: the customer cannot be sent the {stage!r} message")
        conn.execute(
            sa.text(
                "INSERT INTO oms.notifications (order_id, stage, message) VALUES (:o, :s, :m) "
                "ON CONFLICT (order_id, stage) DO NOTHING"
            ),
            {"o": order_id, "s": stage, "m": message},
        )
    return {"stage": stage, "message": message}
