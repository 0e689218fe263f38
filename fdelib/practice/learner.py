"""The ``learner`` role: least privilege for what learners type.

``%%sql`` cells and every check's SQL run on connections that **log in** as ``learner``
(never the application role's connection with a role switched: a switched role can be
switched back). The role:

* is a member of no role, so no ``SET ROLE``/``SET SESSION AUTHORIZATION``/``set_config``
  leads anywhere; the application role is a member of it (INHERIT, no SET) to watch,
  cancel and end its sessions;
* reads the course's data: ``SELECT`` on every table and view of the course schemas
  (:data:`SCHEMAS`), granted table by table by ``grants.sql`` — except columns named in
  :data:`PRIVATE_COLUMNS` (a national id is never readable, whatever the table);
* writes only in its own schema ``practice`` and in a check's scratch schema;
* cannot create roles, databases or other schemas; the server stops its statements after
  30 s, its lock waits after 10 s, an idle open transaction after a minute (defaults the
  role may lower or raise for itself: checks enforce theirs from outside, see
  :mod:`.sandbox`).

It logs in with a generated password kept in ``$FDE_HOME/learner.password`` (0600), set by
the privileged set-up: the embedded server's Unix socket would let it in without one, an
external server (``DATABASE_URL``, compose) needs it.

Grants are explicit per table rather than owner-wide defaults, so they keep working when a
schema's owner is another role than the notebooks' (the bank's owner may grant, or not:
a table nobody granted stays unreadable and :func:`unreadable` names it). Tables created
after the set-up are granted by :func:`refresh`, which costs one catalog query when nothing
changed (``%%sql`` cells and checks call it).
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from .. import db
from ..config import Settings, get_settings
from ..errors import FdeError

ROLE = "learner"
SCHEMA = "practice"
PASSWORD_FILE = "learner.password"  # under $FDE_HOME, mode 0600
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
    and checks then log in as the application role (:func:`login_role`), saying so once.
    """
    import psycopg2

    settings = settings or get_settings()
    engine = engine or db.get_engine(settings)
    me = db.read_scalar("SELECT current_user", engine=engine)
    reason = None
    if me == ROLE:
        reason = f"the application role is itself named {ROLE}"
    else:
        try:
            db.run_sql_file(
                _HERE / "learner.sql", _setup_engine(engine), {"password": password(settings), "app_role": me}
            )
            _grant(engine)
        except psycopg2.Error as exc:
            if exc.pgcode != "42501":  # insufficient_privilege: anything else is a bug
                raise
            first = (exc.pgerror or str(exc)).strip().splitlines()[0].removeprefix("ERROR:").strip()
            reason = f"the application role {me} may not set up the role {ROLE} ({first})"
    _UNAVAILABLE[str(engine.url)] = reason
    return reason


def password(settings: Settings | None = None) -> str:
    """The learner's password: generated once, kept in ``$FDE_HOME/learner.password`` (0600)."""
    settings = settings or get_settings()
    path = settings.home / PASSWORD_FILE
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    draft = path.with_name(f".{PASSWORD_FILE}.{os.getpid()}")
    with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        out.write(secrets.token_urlsafe(24) + "\n")
    try:
        os.link(draft, path)  # the first process to get here wins; the others read its password
    except FileExistsError:
        if not path.read_text().strip():  # an empty file left by hand: replace it
            os.replace(draft, path)
    finally:
        draft.unlink(missing_ok=True)
    return path.read_text().strip()


def _setup_engine(engine: sa.Engine) -> sa.Engine:
    """Who creates the role: the privileged set-up login (the application role has no
    CREATEROLE), or, on a server without one configured, the application role itself."""
    try:
        return db.get_admin_engine(engine)
    except FdeError:
        return engine


def role(engine: sa.Engine | None = None) -> str | None:
    """``learner``, or None when the database does not allow a separate role (then ``%%sql``
    cells and checks log in as the application role: :func:`login_role`)."""
    engine = engine or db.get_engine()
    refresh(engine)
    return None if _UNAVAILABLE.get(str(engine.url)) else ROLE


def login_role(engine: sa.Engine | None = None) -> str:
    """The role a check's session logs in as: ``learner``; on a server where it cannot be set
    up (see :func:`setup`), the application role's own login — there is no smaller role to
    keep the learner's SQL in, and the check keeps its deadline and clean-up all the same."""
    engine = engine or db.get_engine()
    return ROLE if role(engine) else str(engine.url.username)


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

    It logs in with the generated password (:func:`password`), on the embedded server too.
    """
    settings = settings or get_settings()
    base = sa.make_url(db.database_url(settings))
    return base.set(username=ROLE, password=password(settings))


def connect(
    engine: sa.Engine | None = None, *, application_name: str = "fde-practice", as_learner: bool | None = None
) -> Any:
    """A new psycopg2 connection that logs in as the learner (:func:`login_role`) on
    ``engine``'s database (autocommit: the caller says where transactions begin). Closing it
    ends the session. ``as_learner``: what :func:`role` says, when the caller knows it."""
    import psycopg2

    engine = engine or db.get_engine()
    target = engine.url
    # (else the application role's login, even if it is named learner)
    own = role(engine) is not None if as_learner is None else as_learner
    params = {
        "dbname": target.database,
        "user": ROLE if own else target.username,
        "password": password() if own else target.password,
        "host": target.host or target.query.get("host"),
        "port": target.port or target.query.get("port"),
        "application_name": application_name,
    }
    params = {k: v for k, v in params.items() if v is not None}
    try:
        conn = psycopg2.connect(**params)
    except psycopg2.OperationalError as exc:
        if not own or "password authentication failed" not in str(exc):
            raise
        # the role's password was set from another $FDE_HOME on this server: set ours again
        _UNAVAILABLE.pop(str(engine.url), None)
        refresh(engine)
        conn = psycopg2.connect(**params)
    conn.autocommit = True
    return conn


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
