"""Project 1: a bank-account database on PostgreSQL, with every rule enforced by the database.

Seven entities in schema ``bank`` — branches, employees, customers, accounts, cards, loans
and transactions (the ledger) — defined in ``schema.sql``; the rules a constraint cannot
express (each customer's minimum balance, an append-only, chained ledger, balances always
explained by it), the bank's clock and the operations (deposit, withdraw, transfer, pay_loan)
in ``functions.sql``; the roles in ``roles.sql`` (``bank_owner``, which owns it all and cannot
log in; ``bank_app``, the application) and who may do what in ``grants.sql``.

* :func:`setup` — create or update all of it (idempotent; through fdelib's privileged connection);
* :func:`populate` — replace the data by a seeded, generated bank, loaded with COPY;
* :mod:`.ops` — the operations from Python, and the database's refusals;
* :mod:`.interest` — the monthly job that charges loan interest through the ledger;
* :mod:`.clock` — the bank's clock: the database stamps bookings; lessons set a course clock;
* :mod:`.reports` — balances, statements, loan book, branch staffing;
* :mod:`.rules` — every rule broken on purpose; :mod:`.erd` — the diagram from the catalog;
* :mod:`.concurrency` — many clients at once, isolation levels, retries, invariants.
"""

from .ddl import APP_ROLE, OWNER_ROLE, TABLES, app_engine, owner_engine, setup
from .population import generate, populate

__all__ = ["APP_ROLE", "OWNER_ROLE", "TABLES", "app_engine", "generate", "owner_engine", "populate", "setup"]
