"""Order acknowledgement: receive a client order, persist it, acknowledge it; close or cancel it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from .common import Refused, engine_or_default, lock_order


def acknowledge(order: dict[str, Any], engine: sa.Engine | None = None) -> dict[str, Any]:
    """Persist a client order (once, whatever the retries) and acknowledge it."""
    missing = [k for k in ("order_id", "customer_id", "items", "amount", "address", "received_at")
               if not order.get(k)]
    if missing:
        raise Refused(f"order is missing {', '.join(missing)}")
    with engine_or_default(engine).begin() as conn:
        known = conn.execute(sa.text("SELECT 1 FROM oms.customers WHERE customer_id = :c"),
                             {"c": order["customer_id"]}).first()
        if known is None:
            raise Refused(f"order {order['order_id']}: unknown customer {order['customer_id']}")
        skus = sorted({item["sku"] for item in order["items"]})
        found = set(conn.execute(sa.text("SELECT sku FROM oms.products WHERE sku = ANY(:s)"),
                                 {"s": skus}).scalars())
        if set(skus) - found:
            raise Refused(f"order {order['order_id']}: unknown product(s) {', '.join(sorted(set(skus) - found))}")
        inserted = conn.execute(sa.text("""
            INSERT INTO oms.orders (order_id, customer_id, amount, address, status, fault, received_at)
            VALUES (:order_id, :customer_id, :amount, :address, 'ACKNOWLEDGED', :fault, :received_at)
            ON CONFLICT (order_id) DO NOTHING RETURNING order_id"""),
            {**{k: order[k] for k in ("order_id", "customer_id", "address", "received_at")},
             "amount": Decimal(str(order["amount"])), "fault": order.get("fault") or None}).first()
        if inserted:
            conn.execute(sa.text("INSERT INTO oms.order_items (order_id, sku, quantity) VALUES (:o, :s, :q)"),
                         [{"o": order["order_id"], "s": i["sku"], "q": int(i["quantity"])} for i in order["items"]])
        row = conn.execute(sa.text("SELECT status, amount FROM oms.orders WHERE order_id = :o"),
                           {"o": order["order_id"]}).one()
    return {"order_id": order["order_id"], "status": row.status, "amount": float(row.amount)}


def close(order_id: str, engine: sa.Engine | None = None) -> dict[str, Any]:
    """Mark a delivered-to-schedule order COMPLETED (a cancelled one stays cancelled)."""
    with engine_or_default(engine).begin() as conn:
        order = lock_order(conn, order_id)
        if order.status == "ACKNOWLEDGED":
            conn.execute(sa.text("UPDATE oms.orders SET status = 'COMPLETED', closed_at = received_at "
                                 "WHERE order_id = :o"), {"o": order_id})
            return {"order_id": order_id, "status": "COMPLETED", "was": order.status}
    return {"order_id": order_id, "status": order.status, "was": order.status}


def cancel(order_id: str, reason: str | None = None, engine: sa.Engine | None = None) -> dict[str, Any]:
    """Cancel an order (compensation). Status CANCELLED means there is something to undo; a
    COMPLETED order stays completed, and one never acknowledged (refused) has nothing to undo."""
    with engine_or_default(engine).begin() as conn:
        order = lock_order(conn, order_id, missing_ok=True)
        if order is None:
            return {"order_id": order_id, "status": "NEVER_ACKNOWLEDGED", "was": None}
        if order.status == "ACKNOWLEDGED":
            conn.execute(sa.text("UPDATE oms.orders SET status = 'CANCELLED', closed_at = received_at, "
                                 "reason = :r WHERE order_id = :o"), {"o": order_id, "r": reason})
            return {"order_id": order_id, "status": "CANCELLED", "was": order.status}
    return {"order_id": order_id, "status": order.status, "was": order.status}
