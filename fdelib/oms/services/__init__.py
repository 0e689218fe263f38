"""The five services of the order-management system, one module each, as plain, idempotent functions.

:mod:`.acknowledgement`, :mod:`.payment`, :mod:`.inventory`, :mod:`.delivery`, :mod:`.notification`;
:mod:`.common` holds what they share (refusals, the order lock, injected faults);
:mod:`.order_request` checks a client's order field by field.

Each call is one database transaction. Every step that a retry could repeat is
idempotent — keyed by the order id, not by the attempt — so a worker that dies after
charging a card and is retried charges nothing more. Every step that touches an order
first locks its row: a compensation that cancels an order and a late charge for it are
serialised, and a step for a cancelled order does nothing ("VOID").

Every step a workflow runs names the workflow (``workflow_id``): the order service records
which workflow placed an order, and the others act only for that one — a second workflow
started with the same order id cannot charge, book, ship, close or notify anything. An
order id is the client's idempotency key (see :mod:`.acknowledgement`).

Errors a retry cannot fix (an unknown product, a stock-out) are :class:`Refused`; the
workers report those as terminal failures. Transient ones (a carrier that does not answer)
are :class:`TryAgain`.
"""

from .acknowledgement import acknowledge, cancel, close
from .common import FAULTS, Refused, TryAgain, fire_once
from .delivery import CARRIERS, cancel_delivery, schedule_delivery
from .inventory import book_stock, release_stock
from .notification import MESSAGES, notify
from .order_request import MAX_LINES, MAX_QUANTITY, OrderRequest, parse_order
from .payment import charge, refund

__all__ = [
    "CARRIERS",
    "FAULTS",
    "MAX_LINES",
    "MAX_QUANTITY",
    "MESSAGES",
    "OrderRequest",
    "Refused",
    "TryAgain",
    "acknowledge",
    "book_stock",
    "cancel",
    "cancel_delivery",
    "charge",
    "close",
    "fire_once",
    "notify",
    "parse_order",
    "refund",
    "release_stock",
    "schedule_delivery",
]
