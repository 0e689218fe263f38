"""The ``learner`` role: least privilege for what learners type.

``%%sql`` cells connect as ``learner`` and every check runs the learner's SQL as
``learner`` (``SET LOCAL ROLE`` inside a transaction that is rolled back). The role:

* reads the course's data: ``SELECT`` on every table and view of the course schemas
  (:data:`SCHEMAS`), granted table by table by ``grants.sql`` — except columns named in
  :data:`PRIVATE_COLUMNS` (a national id is never readable, whatever the table);
* writes only in its own schema ``practice`` (tables, constraints, functions, triggers);
* cannot create roles, databases or other schemas; its statements stop after 30 s.

Grants are explicit per table rather than owner-wide defaults, so they keep working when a
schema's owner is another role than the notebooks' (the bank's owner may grant, or not:
a table nobody granted stays unreadable and :func:`unreadable` names it). Tables created
after the set-up are granted by :func:`refresh`, which costs one catalog query when nothing
changed (``%%sql`` cells and checks call it).
"""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa

from .. import db
from ..config import Settings, get_settings
from ..errors import FdeError

ROLE = "learner"
SCHEMA = "practice"
# Course data the learner may read (the engine's own state, schema conductor, is not data).
SCHEMAS = ("public", "bank", "etl", "oms", "refdata", "workflows")
# Columns never granted to the learner, in any table of those schemas.
PRIVATE_COLUMNS = ("national_id",)

_HERE = Path(__file__).parent
_LOCK = threading.Lock()
_FINGERPRINT: dict[str, str] = {}  # engine url -> catalog fingerprint ("tables/max oid") at the last refresh


_UNAVAILABLE: dict[str, str | None] = {}  # engine url -> why the role cannot be used (None: it can)


def setup(engine: sa.Engine | None = None, settings: Settings | None = None) -> str | None:
    """Create or update the role, its schema and its read grants (idempotent).

    Returns None when the role is ready; otherwise why it cannot be (an external server whose
    application role may not create roles, or is itself named ``learner``): ``%%sql`` cells
    and checks then run as the application role, still inside rolled-back transactions.
    """
    import psycopg2

    settings = settings or get_settings()
    engine = engine or db.get_engine(settings)
    password = None if settings.embedded else settings.postgres_password
    me = db.read_scalar("SELECT current_user", engine=engine)
    reason = None
    if me == ROLE:
        reason = f"the application role is itself named {ROLE}"
    else:
        try:
            db.run_sql_file(_HERE / "learner.sql", _setup_engine(engine), {"password": password, "app_role": me})
            _grant(engine)
        except psycopg2.Error as exc:
            if exc.pgcode != "42501":  # insufficient_privilege: anything else is a bug
                raise
            first = (exc.pgerror or str(exc)).strip().splitlines()[0].removeprefix("ERROR:").strip()
            reason = f"the application role {me} may not set up the role {ROLE} ({first})"
    _UNAVAILABLE[str(engine.url)] = reason
    return reason


def _setup_engine(engine: sa.Engine) -> sa.Engine:
    """Who creates the role: the privileged set-up login (the application role has no
    CREATEROLE), or, on a server without one configured, the application role itself."""
    try:
        return db.get_admin_engine(engine)
    except FdeError:
        return engine


def role(engine: sa.Engine | None = None) -> str | None:
    """The role checks run the learner's SQL as: ``learner``, or None (the application
    role's own) when the database does not allow a separate role."""
    engine = engine or db.get_engine()
    refresh(engine)
    return None if _UNAVAILABLE.get(str(engine.url)) else ROLE


def unavailable(engine: sa.Engine | None = None) -> str | None:
    """Why the learner role cannot be used on this database (None: it is used)."""
    engine = engine or db.get_engine()
    refresh(engine)
    return _UNAVAILABLE.get(str(engine.url))


def refresh(engine: sa.Engine | None = None) -> bool:
    """Grant reads on course tables created since the last call; False when nothing changed.

    The first call in a process sets the role up (attributes, schema, grants).
    """
    engine = engine or db.get_engine()
    key = str(engine.url)
    with _LOCK:
        if key not in _UNAVAILABLE:
            setup(engine)
            _FINGERPRINT.pop(key, None)
        if _UNAVAILABLE[key] is not None:
            return False
    with engine.connect() as conn:
        fingerprint = conn.execute(
            sa.text(
                "SELECT count(*) || '/' || coalesce(max(c.oid::int8), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r', 'v', 'm', 'p', 'f')"
            ),
            {"schemas": list(SCHEMAS)},
        ).scalar_one()
    with _LOCK:
        if _FINGERPRINT.get(key) == fingerprint:
            return False
        _grant(engine)
        _FINGERPRINT[key] = fingerprint
    return True


def _grant(engine: sa.Engine) -> None:
    # by the set-up login too: the course's tables have several owners (the bank's is a NOLOGIN
    # role of its own), and the course decides what its learners read
    db.run_sql_file(
        _HERE / "grants.sql", _setup_engine(engine), {"schemas": list(SCHEMAS), "private": list(PRIVATE_COLUMNS)}
    )


def unreadable(engine: sa.Engine | None = None) -> list[str]:
    """Course tables the learner cannot read at all (``schema.table``), e.g. a table whose
    owner has not granted it; empty when every table is readable."""
    return list(
        db.read_frame(
            "SELECT n.nspname || '.' || c.relname AS name FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r', 'v', 'm', 'p', 'f') "
            "AND NOT has_any_column_privilege(:role, c.oid, 'SELECT') ORDER BY 1",
            {"schemas": list(SCHEMAS), "role": ROLE},
            engine=engine,
        )["name"]
    )


def url(settings: Settings | None = None) -> sa.URL:
    """The learner's SQLAlchemy URL: the course database's, with the learner's name.

    On the embedded server the Unix socket trusts local roles (no password); on an external
    server the learner's password is the application's (``POSTGRES_PASSWORD``): it opens
    strictly less than the application role.
    """
    settings = settings or get_settings()
    base = sa.make_url(db.database_url(settings))
    password = None if settings.embedded else settings.postgres_password
    return base.set(username=ROLE, password=password)


_ENGINES: dict[str, sa.Engine] = {}


def sql_engine(settings: Settings | None = None) -> sa.Engine:
    """The engine ``%%sql`` cells use: the learner's, or the application's when the
    database does not allow a separate role (see :func:`setup`)."""
    app = db.get_engine(settings)
    return engine(settings) if role(app) else app


def engine(settings: Settings | None = None) -> sa.Engine:
    """A small engine connected as the learner (one per URL, reused)."""
    target = url(settings)
    key = target.render_as_string(hide_password=False)
    if key not in _ENGINES:
        _ENGINES[key] = sa.create_engine(target, pool_pre_ping=True, pool_size=2)
    return _ENGINES[key]
