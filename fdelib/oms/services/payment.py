"""Payment processing: charge an order once (whatever the retries), refund it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from .common import engine_or_default, lock_order


def charge(
    order_id: str, attempt: int = 0, workflow_id: str | None = None, engine: sa.Engine | None = None
) -> dict[str, Any]:
    """Charge the order's amount — the catalogue total the order service stored, never a
    client's figure — once. Returns status CHARGED, DECLINED or VOID."""
    with engine_or_default(engine).begin() as conn:
        order = lock_order(conn, order_id, workflow_id=workflow_id)
        if order.status == "CANCELLED":
            return {"status": "VOID", "amount": 0.0}
        done = conn.execute(
            sa.text(
                "SELECT kind, amount, attempt FROM oms.payments WHERE order_id = :o AND kind IN ('charge', 'declined')"
            ),
            {"o": order_id},
        ).first()
        if done is not None:  # a retry: answer what was done, do nothing more
            return {
                "status": "CHARGED" if done.kind == "charge" else "DECLINED",
                "amount": float(done.amount),
                "charged_on_attempt": done.attempt,
            }
        kind = "declined" if order.fault == "payment_declined" else "charge"
        conn.execute(
            sa.text("INSERT INTO oms.payments (order_id, kind, amount, attempt) VALUES (:o, :k, :a, :n)"),
            {"o": order_id, "k": kind, "a": order.amount if kind == "charge" else 0, "n": attempt},
        )
    return {
        "status": "CHARGED" if kind == "charge" else "DECLINED",
        "amount": float(order.amount) if kind == "charge" else 0.0,
        "charged_on_attempt": attempt,
    }


def refund(order_id: str, workflow_id: str | None = None, engine: sa.Engine | None = None) -> dict[str, Any]:
    """Refund a charge (compensation): once, and only if there was one."""
    with engine_or_default(engine).begin() as conn:
        if lock_order(conn, order_id, workflow_id=workflow_id).status != "CANCELLED":
            return {"status": "NOT_CANCELLED", "amount": 0.0}  # only a cancelled order is refunded
        charged = conn.execute(
            sa.text("SELECT amount FROM oms.payments WHERE order_id = :o AND kind = 'charge'"), {"o": order_id}
        ).scalar()
        if charged is None:
            return {"status": "NOTHING_TO_REFUND", "amount": 0.0}
        conn.execute(
            sa.text(
                "INSERT INTO oms.payments (order_id, kind, amount, attempt) "
                "VALUES (:o, 'refund', :a, 0) ON CONFLICT (order_id, kind) DO NOTHING"
            ),
            {"o": order_id, "a": charged},
        )
    return {"status": "REFUNDED", "amount": float(charged)}
