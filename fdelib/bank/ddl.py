"""Create the bank (idempotent) and connect as its least-privilege application role."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from .. import db
from ..errors import FdeError

HERE = Path(__file__).parent
SQL_FILES = ("schema.sql", "functions.sql")
APP_ROLE = "bank_app"
TABLES = ("branches", "employees", "customers", "accounts", "cards", "loans", "transactions")


class BankIntegrityWarning(UserWarning):
    """The bank's stored data breaks a rule that setup could therefore not validate."""


def app_password() -> str:
    """The application role's password (``BANK_APP_PASSWORD``; the embedded server's Unix
    socket trusts local roles, a compose or external server checks it)."""
    return os.environ.get("BANK_APP_PASSWORD") or APP_ROLE


def setup(engine: sa.Engine | None = None) -> None:
    """Create schema ``bank``: tables, rules, operations and the ``bank_app`` role.

    Safe to call again: ``IF NOT EXISTS`` / ``CREATE OR REPLACE``, each file in one
    transaction, serialised by an advisory lock. Data is left as it is.
    """
    engine = engine or db.get_engine()
    said = []
    for name in SQL_FILES:
        said += db.run_sql_file(HERE / name, engine)
    for message in said:
        warnings.warn(BankIntegrityWarning(message), stacklevel=2)
    try:
        db.run_sql_file(HERE / "roles.sql", engine, params={"password": app_password()})
    except DBAPIError as exc:
        raise FdeError(f"could not create the role {APP_ROLE!r} (the application role needs "
                       f"CREATEROLE): {str(exc.orig).strip().splitlines()[0]}") from exc


_APP_ENGINES: dict[str, sa.Engine] = {}


def app_engine(engine: sa.Engine | None = None) -> sa.Engine:
    """An engine that logs in as ``bank_app`` on the same database as ``engine``."""
    engine = engine or db.get_engine()
    url = engine.url.set(username=APP_ROLE, password=app_password())
    key = url.render_as_string(hide_password=False)
    if key not in _APP_ENGINES:
        _APP_ENGINES[key] = sa.create_engine(url, pool_size=10, max_overflow=10)
    return _APP_ENGINES[key]


def dispose_app_engines() -> None:
    """Close the application role's pooled connections (before stopping the server)."""
    while _APP_ENGINES:
        _APP_ENGINES.popitem()[1].dispose()


def raw_connect(engine: sa.Engine, *, autocommit: bool = False):
    """A plain psycopg2 connection for ``engine``'s URL (one per worker thread)."""
    import psycopg2

    url = engine.url
    params = {"dbname": url.database, "user": url.username, "password": url.password,
              "host": url.host or url.query.get("host"), "port": url.port or url.query.get("port")}
    conn = psycopg2.connect(**{k: v for k, v in params.items() if v is not None})
    conn.autocommit = autocommit
    return conn
