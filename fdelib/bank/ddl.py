"""Create the bank (idempotent), and connect as its roles.

Three roles meet the bank (``roles.sql``):

* ``bank_owner`` — NOLOGIN; owns schema ``bank`` and everything in it. Set-up, population and
  the lessons' "as the owner" demonstrations run through fdelib's privileged connection
  (:func:`fdelib.db.get_admin_engine`: the embedded server's bootstrap superuser, or
  ``DATABASE_ADMIN_URL``), switched to ``bank_owner`` with ``SET ROLE`` — :func:`owner_engine`;
* ``bank_app`` — the application: reads (national ids excepted), calls the operations;
  :func:`app_engine`;
* the notebooks' own role (``POSTGRES_USER``) — reads as ``bank_app`` does; it does not own the
  bank and cannot become its owner, so it can neither switch the ledger's rules off nor replace
  the audit. It does not own the database either (``course_owner`` does, ``fdelib/database.sql``),
  so it cannot set a ``search_path`` for other roles; and every bank function pins its own
  ``search_path`` (pg_catalog, bank, pg_temp), so no function, operator, cast or table another
  role creates can change what the audit finds.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from .. import db, stack
from ..config import get_settings
from ..errors import FdeError

HERE = Path(__file__).parent
ADMIN_FILES = ("roles.sql",)  # as the privileged login
OWNER_FILES = ("schema.sql", "functions.sql", "grants.sql")  # as bank_owner
OWNER_ROLE = "bank_owner"
APP_ROLE = "bank_app"
TABLES = ("branches", "employees", "customers", "accounts", "cards", "loans", "transactions")


class BankIntegrityWarning(UserWarning):
    """The bank's stored data breaks a rule that setup could therefore not validate."""


class BankPrivilegeWarning(UserWarning):
    """The roles around the bank allow more than they should (e.g. a superuser notebook role)."""


def app_password() -> str:
    """The application role's password (``BANK_APP_PASSWORD``; the embedded server's Unix
    socket trusts local roles, a compose or external server checks it)."""
    return get_settings().bank_app_password


def setup(engine: sa.Engine | None = None) -> None:
    """Create or upgrade schema ``bank``: roles, tables, rules, operations, privileges.

    ``engine`` is the notebooks' connection; the work is done through the privileged one, in
    **one transaction** (all of it or none of it), serialised by an advisory lock: the roles as
    the privileged login, every object as ``bank_owner``. Safe to call again (``IF NOT EXISTS``
    / ``CREATE OR REPLACE``); data is left as it is. A database set up by an older version is
    upgraded: its objects are handed to ``bank_owner``. What set-up cannot fix, it says: a
    :class:`BankIntegrityWarning` (stored rows breaking a rule) or :class:`BankPrivilegeWarning`.
    """
    engine = engine or db.get_engine()
    notebook_role = engine.url.username
    said = []
    try:
        with db.get_admin_engine(engine).begin() as conn:
            conn.execute(
                sa.text(
                    "SELECT set_config('fdelib.notebook_role', :role, true),"
                    " set_config('fdelib.bank_app_password', :password, true)"
                ),
                {"role": notebook_role, "password": app_password()},
            )
            # the course database owned by a NOLOGIN role, public closed (as fdelib.stack does on
            # the embedded server; here for DATABASE_ADMIN_URL's server too)
            said += db.run_sql_file(stack.DATABASE_SQL, connection=conn)
            for name in ADMIN_FILES:
                said += db.run_sql_file(HERE / name, connection=conn)
            conn.exec_driver_sql(f"SET LOCAL ROLE {OWNER_ROLE}")
            for name in OWNER_FILES:
                said += db.run_sql_file(HERE / name, connection=conn)
    except DBAPIError as exc:
        admin = sa.make_url(db.admin_url(engine)).username
        first = str(exc.orig).strip().splitlines()[0]
        raise FdeError(f"bank setup failed on the privileged connection (as {admin!r}): {first}") from exc
    for message in said:
        kind = BankPrivilegeWarning if message.startswith("bank privileges:") else BankIntegrityWarning
        warnings.warn(kind(message), stacklevel=2)


_APP_ENGINES: dict[str, sa.Engine] = {}


def app_engine(engine: sa.Engine | None = None) -> sa.Engine:
    """An engine that logs in as ``bank_app`` on the same database as ``engine``."""
    engine = engine or db.get_engine()
    url = engine.url.set(username=APP_ROLE, password=app_password())
    key = url.render_as_string(hide_password=False)
    if key not in _APP_ENGINES:
        _APP_ENGINES[key] = sa.create_engine(url, pool_size=10, max_overflow=10)
    return _APP_ENGINES[key]


def owner_engine(engine: sa.Engine | None = None) -> sa.Engine:
    """An engine whose connections act as ``bank_owner`` (privileged login + ``SET ROLE``):
    for population, the course clock and the lessons' demonstrations of what the owner —
    the most powerful role on the bank — still cannot do. Run :func:`setup` first."""
    return db.get_admin_engine(engine or db.get_engine(), role=OWNER_ROLE)


def notebook_role(engine: sa.Engine | None = None) -> str:
    """The role notebooks connect as (``engine``'s user)."""
    name = (engine or db.get_engine()).url.username
    if name is None:
        raise FdeError("the database URL names no user: set one in DATABASE_URL (user@host)")
    return name


def dispose_app_engines() -> None:
    """Close the application role's pooled connections (before stopping the server)."""
    while _APP_ENGINES:
        _APP_ENGINES.popitem()[1].dispose()


def raw_connect(engine: sa.Engine, *, autocommit: bool = False, role: str | None = None):
    """A plain psycopg2 connection for ``engine``'s URL (one per worker thread); with
    ``role``, switched to it (``SET ROLE``, ``search_path`` pg_catalog) as :func:`owner_engine`'s are."""
    import psycopg2
    from psycopg2 import sql

    url = engine.url
    params = {
        "dbname": url.database,
        "user": url.username,
        "password": url.password,
        "host": url.host or url.query.get("host"),
        "port": url.port or url.query.get("port"),
    }
    conn = psycopg2.connect(**{k: v for k, v in params.items() if v is not None})
    if role:
        with conn.cursor() as cur:
            cur.execute("SET search_path = pg_catalog, pg_temp")
            cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        conn.commit()
    conn.autocommit = autocommit
    return conn
