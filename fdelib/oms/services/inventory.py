"""Stock and inventory: book every item of an order, or none; release a booking."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from .common import Refused, engine_or_default, lock_order


def book_stock(order_id: str, workflow_id: str | None = None, engine: sa.Engine | None = None) -> dict[str, Any]:
    """Book every item of the order, all or nothing. Raises Refused on a stock-out."""
    with engine_or_default(engine).begin() as conn:
        order = lock_order(conn, order_id, workflow_id=workflow_id)
        if order.status == "CANCELLED":
            return {"status": "VOID", "items": 0}
        booked = conn.execute(
            sa.text("SELECT count(*) FROM oms.stock_bookings WHERE order_id = :o"), {"o": order_id}
        ).scalar()
        if booked:
            return {"status": "BOOKED", "items": int(booked)}
        items = conn.execute(
            sa.text("SELECT sku, quantity FROM oms.order_items WHERE order_id = :o ORDER BY sku"), {"o": order_id}
        ).all()  # sku order: no deadlocks
        for item in items:
            quantity = item.quantity * (10**6 if order.fault == "stock_out" else 1)
            took = conn.execute(
                sa.text("UPDATE oms.products SET stock = stock - :q WHERE sku = :s AND stock >= :q RETURNING stock"),
                {"q": quantity, "s": item.sku},
            ).first()
            if took is None:
                raise Refused(
                    f"order {order_id}: {item.sku} is out of stock ({quantity} wanted)"
                )  # the transaction rolls back every booking
        conn.execute(
            sa.text("INSERT INTO oms.stock_bookings (order_id, sku, quantity, status) VALUES (:o, :s, :q, 'BOOKED')"),
            [{"o": order_id, "s": i.sku, "q": i.quantity} for i in items],
        )
    return {"status": "BOOKED", "items": len(items)}


def release_stock(order_id: str, workflow_id: str | None = None, engine: sa.Engine | None = None) -> dict[str, Any]:
    """Put booked items back (compensation): once, and only what was booked."""
    with engine_or_default(engine).begin() as conn:
        if lock_order(conn, order_id, workflow_id=workflow_id).status != "CANCELLED":
            return {"status": "NOT_CANCELLED", "items": 0}
        released = conn.execute(
            sa.text("""
            WITH r AS (UPDATE oms.stock_bookings SET status = 'RELEASED'
                       WHERE order_id = :o AND status = 'BOOKED' RETURNING sku, quantity)
            UPDATE oms.products p SET stock = p.stock + r.quantity FROM r WHERE p.sku = r.sku
            RETURNING p.sku"""),
            {"o": order_id},
        ).all()
    return {"status": "RELEASED" if released else "NOTHING_TO_RELEASE", "items": len(released)}
