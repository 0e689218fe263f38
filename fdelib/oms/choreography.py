"""The same saga without a conductor: services react to each other's events.

Each service subscribes to the events it cares about and publishes what it did; nobody
holds the whole flow. Events live in ``oms.events`` (an outbox: a service's change and the
event it publishes would be written in one transaction in production; here the dispatcher
records them in order). :func:`run` dispatches until no event is pending and returns the
event log — the only place the flow can be read back from, which is the point the lesson
makes about choreography.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from .. import db
from . import services

# event kind -> [(service, reaction)], in the order the services subscribed
SUBSCRIPTIONS: dict[str, list[tuple[str, str]]] = {
    "OrderPlaced": [("payment", "charge"), ("inventory", "book")],
    "PaymentCharged": [("delivery", "schedule_if_ready")],
    "StockBooked": [("delivery", "schedule_if_ready")],
    "PaymentDeclined": [("orders", "cancel")],
    "StockOut": [("orders", "cancel")],
    "DeliveryFailed": [("orders", "cancel")],
    "DeliveryScheduled": [("orders", "close")],
    "OrderCompleted": [("notification", "completed")],
    "OrderCancelled": [
        ("payment", "refund"),
        ("inventory", "release"),
        ("delivery", "cancel"),
        ("notification", "cancelled"),
    ],
}


def _publish(conn: sa.Connection, order_id: str, kind: str, source: str) -> None:
    conn.execute(
        sa.text("INSERT INTO oms.events (order_id, kind, source) VALUES (:o, :k, :s)"),
        {"o": order_id, "k": kind, "s": source},
    )


def _has(conn: sa.Connection, order_id: str, kind: str) -> bool:
    return (
        conn.execute(
            sa.text("SELECT 1 FROM oms.events WHERE order_id = :o AND kind = :k"), {"o": order_id, "k": kind}
        ).first()
        is not None
    )


def _react(engine: sa.Engine, service: str, reaction: str, order_id: str) -> list[str]:
    """Run one service's reaction; return the events it publishes."""
    if service == "payment" and reaction == "charge":
        return [
            "PaymentCharged" if services.charge(order_id, engine=engine)["status"] == "CHARGED" else "PaymentDeclined"
        ]
    if service == "inventory" and reaction == "book":
        try:
            services.book_stock(order_id, engine=engine)
            return ["StockBooked"]
        except services.Refused:
            return ["StockOut"]
    if service == "delivery" and reaction == "schedule_if_ready":
        with engine.connect() as conn:  # the delivery service keeps its own view of the events
            ready = _has(conn, order_id, "PaymentCharged") and _has(conn, order_id, "StockBooked")
            done = _has(conn, order_id, "DeliveryScheduled") or _has(conn, order_id, "DeliveryFailed")
        if not ready or done:  # both events arrive separately: act once, on the second
            return []
        for _attempt in range(3):
            try:
                services.schedule_delivery(order_id, engine=engine)
                return ["DeliveryScheduled"]
            except services.TryAgain:
                continue
        return ["DeliveryFailed"]
    if service == "orders" and reaction == "cancel":
        return (
            ["OrderCancelled"]
            if services.cancel(order_id, "a service refused", engine=engine)["was"] == "ACKNOWLEDGED"
            else []
        )
    if service == "orders" and reaction == "close":
        closed = services.close(order_id, engine=engine)
        return ["OrderCompleted"] if closed["was"] == "ACKNOWLEDGED" and closed["status"] == "COMPLETED" else []
    if service == "payment" and reaction == "refund":
        services.refund(order_id, engine=engine)
    elif service == "inventory" and reaction == "release":
        services.release_stock(order_id, engine=engine)
    elif service == "delivery" and reaction == "cancel":
        services.cancel_delivery(order_id, engine=engine)
    elif service == "notification":
        services.notify(order_id, reaction, "a service refused" if reaction == "cancelled" else None, engine=engine)
    return []


def place(orders: list[dict], engine: sa.Engine | None = None) -> None:
    """The order service acknowledges each order and publishes OrderPlaced (once: an order
    placed again is a replay, see :func:`.services.acknowledge`)."""
    engine = engine or db.get_engine()
    for order in orders:
        services.acknowledge(order, engine=engine)
        with engine.begin() as conn:
            if _has(conn, order["order_id"], "OrderPlaced"):
                continue
        services.notify(order["order_id"], "received", engine=engine)
        with engine.begin() as conn:
            _publish(conn, order["order_id"], "OrderPlaced", "orders")


def run(engine: sa.Engine | None = None, limit: int = 100_000) -> pd.DataFrame:
    """Dispatch pending events to their subscribers, oldest first, until none is left."""
    engine = engine or db.get_engine()
    for _ in range(limit):
        with engine.begin() as conn:
            event = conn.execute(
                sa.text(
                    "SELECT event_id, order_id, kind FROM oms.events WHERE NOT handled "
                    "ORDER BY event_id LIMIT 1 FOR UPDATE SKIP LOCKED"
                )
            ).first()
            if event is None:
                break
            conn.execute(sa.text("UPDATE oms.events SET handled = true WHERE event_id = :e"), {"e": event.event_id})
        for service, reaction in SUBSCRIPTIONS.get(event.kind, []):
            published = _react(engine, service, reaction, event.order_id)
            with engine.begin() as conn:
                for kind in published:
                    _publish(conn, event.order_id, kind, service)
    return event_log(engine)


def event_log(engine: sa.Engine | None = None) -> pd.DataFrame:
    return db.read_frame("SELECT event_id, order_id, source, kind FROM oms.events ORDER BY event_id", engine=engine)
