"""The five services of the order-management system, as plain, idempotent functions.

Each call is one database transaction. Every step that a retry could repeat is
idempotent — keyed by the order id, not by the attempt — so a worker that dies after
charging a card and is retried charges nothing more. Every step that touches an order
first locks its row: a compensation that cancels an order and a late charge for it are
serialised, and a step for a cancelled order does nothing ("VOID").

Errors a retry cannot fix (an unknown product, a stock-out) are :class:`Refused`; the
workers report those as terminal failures. Transient ones (a carrier that does not answer)
are :class:`TryAgain`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any

import numpy as np
import sqlalchemy as sa

from .. import db
from ..errors import FdeError

CARRIERS = ("DHL", "FedEx", "UPS")
#: the faults a lesson can inject, and which service trips over each
FAULTS = {
    "none": "every service succeeds",
    "payment_declined": "the payment service declines the card",
    "stock_out": "an item is out of stock",
    "delivery_failure": "no carrier can take the parcel (every retry fails)",
    "payment_worker_crash": "the payment worker dies after charging, before reporting back",
}


class Refused(FdeError):
    """A business refusal: retrying the same request gives the same answer."""


class TryAgain(FdeError):
    """A transient failure: the same request may succeed later."""


def _engine(engine: sa.Engine | None) -> sa.Engine:
    return engine or db.get_engine()


def _lock_order(conn: sa.Connection, order_id: str, missing_ok: bool = False) -> sa.Row | None:
    row = conn.execute(sa.text("SELECT * FROM oms.orders WHERE order_id = :o FOR UPDATE"),
                       {"o": order_id}).one_or_none()
    if row is None and not missing_ok:
        raise Refused(f"order {order_id} does not exist")
    return row


# --- order acknowledgement ---------------------------------------------------------------

def acknowledge(order: dict[str, Any], engine: sa.Engine | None = None) -> dict[str, Any]:
    """Persist a client order (once, whatever the retries) and acknowledge it."""
    missing = [k for k in ("order_id", "customer_id", "items", "amount", "address", "received_at")
               if not order.get(k)]
    if missing:
        raise Refused(f"order is missing {', '.join(missing)}")
    with _engine(engine).begin() as conn:
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
    with _engine(engine).begin() as conn:
        order = _lock_order(conn, order_id)
        if order.status == "ACKNOWLEDGED":
            conn.execute(sa.text("UPDATE oms.orders SET status = 'COMPLETED', closed_at = received_at "
                                 "WHERE order_id = :o"), {"o": order_id})
            return {"order_id": order_id, "status": "COMPLETED", "was": order.status}
    return {"order_id": order_id, "status": order.status, "was": order.status}


def cancel(order_id: str, reason: str | None = None, engine: sa.Engine | None = None) -> dict[str, Any]:
    """Cancel an order (compensation). Status CANCELLED means there is something to undo; a
    COMPLETED order stays completed, and one never acknowledged (refused) has nothing to undo."""
    with _engine(engine).begin() as conn:
        order = _lock_order(conn, order_id, missing_ok=True)
        if order is None:
            return {"order_id": order_id, "status": "NEVER_ACKNOWLEDGED", "was": None}
        if order.status == "ACKNOWLEDGED":
            conn.execute(sa.text("UPDATE oms.orders SET status = 'CANCELLED', closed_at = received_at, "
                                 "reason = :r WHERE order_id = :o"), {"o": order_id, "r": reason})
            return {"order_id": order_id, "status": "CANCELLED", "was": order.status}
    return {"order_id": order_id, "status": order.status, "was": order.status}


# --- payment processing --------------------------------------------------------------------

def charge(order_id: str, attempt: int = 0, engine: sa.Engine | None = None) -> dict[str, Any]:
    """Charge the order's amount once. Returns status CHARGED, DECLINED or VOID."""
    with _engine(engine).begin() as conn:
        order = _lock_order(conn, order_id)
        if order.status == "CANCELLED":
            return {"status": "VOID", "amount": 0.0}
        done = conn.execute(sa.text("SELECT kind, amount, attempt FROM oms.payments WHERE order_id = :o "
                                    "AND kind IN ('charge', 'declined')"), {"o": order_id}).first()
        if done is not None:   # a retry: answer what was done, do nothing more
            return {"status": "CHARGED" if done.kind == "charge" else "DECLINED",
                    "amount": float(done.amount), "charged_on_attempt": done.attempt}
        kind = "declined" if order.fault == "payment_declined" else "charge"
        conn.execute(sa.text("INSERT INTO oms.payments (order_id, kind, amount, attempt) "
                             "VALUES (:o, :k, :a, :n)"),
                     {"o": order_id, "k": kind, "a": order.amount if kind == "charge" else 0, "n": attempt})
    return {"status": "CHARGED" if kind == "charge" else "DECLINED",
            "amount": float(order.amount) if kind == "charge" else 0.0, "charged_on_attempt": attempt}


def refund(order_id: str, engine: sa.Engine | None = None) -> dict[str, Any]:
    """Refund a charge (compensation): once, and only if there was one."""
    with _engine(engine).begin() as conn:
        if _lock_order(conn, order_id).status != "CANCELLED":
            return {"status": "NOT_CANCELLED", "amount": 0.0}   # only a cancelled order is refunded
        charged = conn.execute(sa.text("SELECT amount FROM oms.payments WHERE order_id = :o AND kind = 'charge'"),
                               {"o": order_id}).scalar()
        if charged is None:
            return {"status": "NOTHING_TO_REFUND", "amount": 0.0}
        conn.execute(sa.text("INSERT INTO oms.payments (order_id, kind, amount, attempt) "
                             "VALUES (:o, 'refund', :a, 0) ON CONFLICT (order_id, kind) DO NOTHING"),
                     {"o": order_id, "a": charged})
    return {"status": "REFUNDED", "amount": float(charged)}


# --- stock and inventory ---------------------------------------------------------------

def book_stock(order_id: str, engine: sa.Engine | None = None) -> dict[str, Any]:
    """Book every item of the order, all or nothing. Raises Refused on a stock-out."""
    with _engine(engine).begin() as conn:
        order = _lock_order(conn, order_id)
        if order.status == "CANCELLED":
            return {"status": "VOID", "items": 0}
        booked = conn.execute(sa.text("SELECT count(*) FROM oms.stock_bookings WHERE order_id = :o"),
                              {"o": order_id}).scalar()
        if booked:
            return {"status": "BOOKED", "items": int(booked)}
        items = conn.execute(sa.text("SELECT sku, quantity FROM oms.order_items WHERE order_id = :o "
                                     "ORDER BY sku"), {"o": order_id}).all()   # sku order: no deadlocks
        for item in items:
            quantity = item.quantity * (10**6 if order.fault == "stock_out" else 1)
            took = conn.execute(sa.text("UPDATE oms.products SET stock = stock - :q WHERE sku = :s "
                                        "AND stock >= :q RETURNING stock"),
                                {"q": quantity, "s": item.sku}).first()
            if took is None:
                raise Refused(f"order {order_id}: {item.sku} is out of stock "
                              f"({quantity} wanted)")   # the transaction rolls back every booking
        conn.execute(sa.text("INSERT INTO oms.stock_bookings (order_id, sku, quantity, status) "
                             "VALUES (:o, :s, :q, 'BOOKED')"),
                     [{"o": order_id, "s": i.sku, "q": i.quantity} for i in items])
    return {"status": "BOOKED", "items": len(items)}


def release_stock(order_id: str, engine: sa.Engine | None = None) -> dict[str, Any]:
    """Put booked items back (compensation): once, and only what was booked."""
    with _engine(engine).begin() as conn:
        if _lock_order(conn, order_id).status != "CANCELLED":
            return {"status": "NOT_CANCELLED", "items": 0}
        released = conn.execute(sa.text("""
            WITH r AS (UPDATE oms.stock_bookings SET status = 'RELEASED'
                       WHERE order_id = :o AND status = 'BOOKED' RETURNING sku, quantity)
            UPDATE oms.products p SET stock = p.stock + r.quantity FROM r WHERE p.sku = r.sku
            RETURNING p.sku"""), {"o": order_id}).all()
    return {"status": "RELEASED" if released else "NOTHING_TO_RELEASE", "items": len(released)}


# --- delivery scheduling -----------------------------------------------------------------

def schedule_delivery(order_id: str, engine: sa.Engine | None = None) -> dict[str, Any]:
    """Book a carrier: tracking number and expected date (three business days after receipt)."""
    with _engine(engine).begin() as conn:
        order = _lock_order(conn, order_id)
        if order.status == "CANCELLED":
            return {"status": "VOID"}
        if order.fault == "delivery_failure":
            raise TryAgain(f"order {order_id}: no carrier accepted the parcel")
        digest = hashlib.sha256(order_id.encode()).hexdigest()
        received = order.received_at.date() if isinstance(order.received_at, dt.datetime) else order.received_at
        expected = np.busday_offset(np.datetime64(received, "D"), 3, roll="forward").astype(dt.date)
        conn.execute(sa.text("""INSERT INTO oms.deliveries (order_id, carrier, tracking, expected_on, status)
                                VALUES (:o, :c, :t, :e, 'SCHEDULED') ON CONFLICT (order_id) DO NOTHING"""),
                     {"o": order_id, "c": CARRIERS[int(digest[:8], 16) % len(CARRIERS)],
                      "t": "TRK" + digest[:10].upper(), "e": expected})
        row = conn.execute(sa.text("SELECT carrier, tracking, expected_on FROM oms.deliveries "
                                   "WHERE order_id = :o"), {"o": order_id}).one()
    return {"status": "SCHEDULED", "carrier": row.carrier, "tracking": row.tracking,
            "expected_on": row.expected_on.isoformat()}


def cancel_delivery(order_id: str, engine: sa.Engine | None = None) -> dict[str, Any]:
    with _engine(engine).begin() as conn:
        if _lock_order(conn, order_id).status != "CANCELLED":
            return {"status": "NOT_CANCELLED"}
        done = conn.execute(sa.text("UPDATE oms.deliveries SET status = 'CANCELLED' WHERE order_id = :o "
                                    "AND status = 'SCHEDULED' RETURNING order_id"), {"o": order_id}).first()
    return {"status": "CANCELLED" if done else "NOTHING_TO_CANCEL"}


# --- notification ------------------------------------------------------------------------

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
    with _engine(engine).begin() as conn:
        conn.execute(sa.text("INSERT INTO oms.notifications (order_id, stage, message) VALUES (:o, :s, :m) "
                             "ON CONFLICT (order_id, stage) DO NOTHING"),
                     {"o": order_id, "s": stage, "m": message})
    return {"stage": stage, "message": message}


# --- injected faults that fire once --------------------------------------------------------

def fire_once(order_id: str, fault: str, engine: sa.Engine | None = None) -> bool:
    """True the first time this order's fault fires, False ever after."""
    with _engine(engine).begin() as conn:
        order = conn.execute(sa.text("SELECT fault FROM oms.orders WHERE order_id = :o"),
                             {"o": order_id}).first()
        if order is None or order.fault != fault:
            return False
        return conn.execute(sa.text("INSERT INTO oms.fired_faults VALUES (:o, :f) ON CONFLICT DO NOTHING "
                                    "RETURNING 1"), {"o": order_id, "f": fault}).first() is not None
