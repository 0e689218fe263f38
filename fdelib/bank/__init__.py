"""Project 1: a bank-account database on PostgreSQL, with every rule enforced by the database.

Seven entities in schema ``bank`` — branches, employees, customers, accounts, cards, loans
and transactions (the ledger) — defined in ``schema.sql``; the rules a constraint cannot
express (each customer's minimum balance, an append-only, chained ledger, balances always
explained by it) and the operations (deposit, withdraw, transfer, pay_loan) in
``functions.sql``; the least-privilege application role ``bank_app`` in ``roles.sql``.

* :func:`setup` — create or update all of it (idempotent);
* :func:`populate` — replace the data by a seeded, generated bank, loaded with COPY;
* :mod:`.ops` — the operations from Python, and the database's refusals;
* :mod:`.reports` — balances, statements, loan book, branch staffing;
* :mod:`.rules` — every rule broken on purpose; :mod:`.erd` — the diagram from the catalog;
* :mod:`.concurrency` — many clients at once, isolation levels, retries, invariants.
"""

from .ddl import APP_ROLE, TABLES, app_engine, setup
from .population import generate, populate

__all__ = ["APP_ROLE", "TABLES", "app_engine", "generate", "populate", "setup"]
