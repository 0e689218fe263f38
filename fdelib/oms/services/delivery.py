"""Delivery scheduling: book a carrier, a tracking number and a delivery date; cancel it."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import numpy as np
import sqlalchemy as sa

from .common import TryAgain, engine_or_default, lock_order

CARRIERS = ("DHL", "FedEx", "UPS")


def schedule_delivery(order_id: str, workflow_id: str | None = None, engine: sa.Engine | None = None) -> dict[str, Any]:
    """Book a carrier: tracking number and expected date (three business days after receipt)."""
    with engine_or_default(engine).begin() as conn:
        order = lock_order(conn, order_id, workflow_id=workflow_id)
        if order.status == "CANCELLED":
            return {"status": "VOID"}
        if order.fault == "delivery_failure":
            raise TryAgain(f"order {order_id}: no carrier accepted the parcel")
        digest = hashlib.sha256(order_id.encode()).hexdigest()
        received = order.received_at.date() if isinstance(order.received_at, dt.datetime) else order.received_at
        expected = np.busday_offset(np.datetime64(received, "D"), 3, roll="forward").astype(dt.date)
        conn.execute(
            sa.text("""INSERT INTO oms.deliveries (order_id, carrier, tracking, expected_on, status)
                                VALUES (:o, :c, :t, :e, 'SCHEDULED') ON CONFLICT (order_id) DO NOTHING"""),
            {
                "o": order_id,
                "c": CARRIERS[int(digest[:8], 16) % len(CARRIERS)],
                "t": "TRK" + digest[:10].upper(),
                "e": expected,
            },
        )
        row = conn.execute(
            sa.text("SELECT carrier, tracking, expected_on FROM oms.deliveries WHERE order_id = :o"), {"o": order_id}
        ).one()
    return {
        "status": "SCHEDULED",
        "carrier": row.carrier,
        "tracking": row.tracking,
        "expected_on": row.expected_on.isoformat(),
    }


def cancel_delivery(order_id: str, workflow_id: str | None = None, engine: sa.Engine | None = None) -> dict[str, Any]:
    """Cancel a scheduled delivery (compensation)."""
    with engine_or_default(engine).begin() as conn:
        if lock_order(conn, order_id, workflow_id=workflow_id).status != "CANCELLED":
            return {"status": "NOT_CANCELLED"}
        done = conn.execute(
            sa.text(
                "UPDATE oms.deliveries SET status = 'CANCELLED' WHERE order_id = :o "
                "AND status = 'SCHEDULED' RETURNING order_id"
            ),
            {"o": order_id},
        ).first()
    return {"status": "CANCELLED" if done else "NOTHING_TO_CANCEL"}
