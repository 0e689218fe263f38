"""Notification: tell the customer about each stage of their order, once per stage."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from .common import Refused, engine_or_default


MESSAGES = {
    "received": "We have received your order {order_id}.",
    "completed": "Your order {order_id} is on its way.",
    "cancelled": "Your order {order_id} was cancelled: {reason}. Any payment has been refunded.",
}


def notify(order_id: str, stage: str, reason: str | None = None,
           engine: sa.Engine | None = None) -> dict[str, Any]:
    """Tell the customer about a stage of their order (once per stage)."""
    if stage not in MESSAGES:
        raise Refused(f"unknown notification stage {stage!r}; one of {', '.join(MESSAGES)}")
    message = MESSAGES[stage].format(order_id=order_id, reason=reason or "see your account")
    with engine_or_default(engine).begin() as conn:
        conn.execute(sa.text("INSERT INTO oms.notifications (order_id, stage, message) VALUES (:o, :s, :m) "
                             "ON CONFLICT (order_id, stage) DO NOTHING"),
                     {"o": order_id, "s": stage, "m": message})
    return {"stage": stage, "message": message}
