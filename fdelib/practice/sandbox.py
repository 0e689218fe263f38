"""The learner's sandbox: where a check runs a learner's SQL, enforced by the database.

A check runs the learner's SQL on a connection of its own that **logs in** as ``learner``
(:mod:`.learner`), watched by a connection of the application role, its *supervisor*::

    supervisor (application role)              the learner's session (a fresh login)
    -----------------------------              -------------------------------------
    sweep(): end what killed checks left
                                               connect as learner            -> pid L
    CREATE SCHEMA practice_check_L_S           (S: the supervisor's pid; committed, so
    GRANT USAGE, CREATE ON it TO learner        the learner's session sees it)
                                               BEGIN; search_path = the scratch schema, public
                                               fixture, the learner's SQL, probes —
                                               each statement under the check's deadline
                                               ROLLBACK; close (the session ends)
    DROP SCHEMA practice_check_L_S CASCADE

What holds, and why:

* **The role.** The session's user is ``learner``, a member of no role: ``SET ROLE``,
  ``SET SESSION AUTHORIZATION``, ``set_config('role', ...)``, a quoted ``"role"``, dynamic SQL
  in ``DO``/``EXECUTE`` and ``RESET`` can only reach roles the session's user belongs to: none.
* **Transaction control** hidden anywhere (a literal, a comment, a function) commits only
  what the learner may do anyway: in the scratch schema (dropped after the check) or in
  ``practice``. The check sees that its transaction ended and says so.
* **Time.** The server's defaults for the role (``statement_timeout``, ``lock_timeout``, ...)
  are the role's to change, so each statement also runs under a deadline kept from here: at
  :data:`DEADLINE` it is cancelled, :data:`GRACE` later (a PL/pgSQL handler may catch a
  cancel, never a termination) its session is terminated; a whole check has
  :data:`BUDGET`.
* **A killed checker.** Its supervisor's connection ends with it; the next check's
  :func:`sweep` terminates the learner sessions whose supervisor is gone and drops their
  scratch schemas (the server's ``client_connection_check_interval`` ends a waiting one sooner,
  unless the learner switched it off).
* **Nothing outlives a check.** The learner's session is a fresh login, closed after the check:
  advisory locks, temporary tables and settings end with it; prepared transactions it left
  are rolled back.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pandas as pd
import psycopg2
import psycopg2.errors
import psycopg2.extensions
import sqlalchemy as sa
from psycopg2 import sql as pgsql

from .. import db
from . import learner

DEADLINE = 10.0  # s: one statement of a check (a cross join by mistake stops here)
GRACE = 2.0  # s: from the cancel to the termination of a statement that ignores it
BUDGET = 60.0  # s: a whole check, all its sessions (a race's too)
STALE = 600  # s: a learner transaction open this long is ended by the next check's sweep
APPLICATION_NAME = "fde-practice-check"
# scratch schemas: practice_check_<learner pid>_<supervisor pid> (practice_race_... for a race)


class Failed(Exception):
    """The learner's SQL did not complete: refused by the database, stopped at the deadline,
    or it ended the check's transaction."""

    def __init__(self, sqlstate: str, message: str, constraint: str = "", raised_in: str = "") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.message = message
        # the driver's diagnostics: the constraint that refused (or the NOT NULL column), and the
        # server function that raised (``exec_stmt_raise``: the learner's own RAISE)
        self.constraint = constraint
        self.raised_in = raised_in


class Session:
    """A learner's session for one check, in its scratch schema (see the module's docstring)."""

    def __init__(self, engine: sa.Engine, supervisor: sa.Connection, prefix: str, user: str) -> None:
        self.engine = engine
        self.user = user  # learner.login_role(engine)
        self.connection = self._login()
        self.pid: int = self.connection.get_backend_pid()
        supervisor_pid = supervisor.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        self.schema = f"{prefix}_{self.pid}_{supervisor_pid}"
        self._pids = [self.pid]
        self._dead = False
        self._transaction: Any = None  # the check's transaction (its id), once begun
        self._lock = threading.Lock()
        try:
            with db.psycopg2_connection(supervisor).cursor() as cur:
                cur.execute(pgsql.SQL("CREATE SCHEMA {}").format(pgsql.Identifier(self.schema)))
                cur.execute(
                    pgsql.SQL("GRANT USAGE, CREATE ON SCHEMA {} TO {}").format(
                        pgsql.Identifier(self.schema), pgsql.Identifier(self.user)
                    )
                )
            supervisor.commit()
            self._enter_schema(self.connection)
        except BaseException:
            self.connection.close()
            raise
        self._budget = threading.Timer(BUDGET, self.terminate)
        self._budget.daemon = True
        self._budget.start()

    def _login(self) -> Any:
        separate = self.user != self.engine.url.username  # (not the application role's own login)
        return learner.connect(self.engine, application_name=APPLICATION_NAME, as_learner=separate)

    def _enter_schema(self, conn: Any) -> None:
        with conn.cursor() as cur:
            cur.execute("SELECT set_config('search_path', %s, false)", (f'"{self.schema}", public',))
            cur.execute("SELECT set_config('statement_timeout', %s, false)", (f"{int(DEADLINE * 1000)}ms",))
        if not conn.autocommit:
            conn.commit()

    def begin(self) -> None:
        """Open the check's transaction (everything after it is rolled back)."""
        self._send("BEGIN")
        self._transaction = self._transaction_id()

    def _transaction_id(self) -> Any:
        return self._send("SELECT pg_catalog.txid_current()", rows=False)

    def run(self, sql: str) -> pd.DataFrame | None:
        """Send ``sql`` as one script (``$$`` bodies and several statements work) under the
        deadline; the last statement's rows as a DataFrame, or None when it returns none.
        Raises :class:`Failed`."""
        rows = self._send(sql)
        status = self.connection.info.transaction_status
        if status == psycopg2.extensions.TRANSACTION_STATUS_IDLE or (
            status == psycopg2.extensions.TRANSACTION_STATUS_INTRANS and self._transaction_id() != self._transaction
        ):
            raise Failed(
                "25000",
                "your SQL ended the check's transaction (COMMIT, ROLLBACK or PREPARE TRANSACTION): "
                "write the query or DDL only",
            )
        return rows

    def probe(self, sql: str) -> pd.DataFrame | None:
        """:meth:`run` in a savepoint of its own: what it did is undone if it fails."""
        self._send("SAVEPOINT probe")
        try:
            rows = self.run(sql)
        except Failed:
            if not self._dead:
                with contextlib.suppress(Failed):
                    self._send("ROLLBACK TO SAVEPOINT probe")
            raise
        self._send("RELEASE SAVEPOINT probe")
        return rows

    def connect(self) -> Any:
        """Another learner session in this check's scratch schema (not autocommit), ended
        with the check; e.g. the second party of a race."""
        conn = self._login()
        conn.autocommit = False
        with self._lock:
            self._pids.append(conn.get_backend_pid())
        self._enter_schema(conn)
        return conn

    def _send(self, sql: str, rows: bool = True) -> Any:
        """Run ``sql`` under the deadline; its rows as a DataFrame (or, ``rows=False``, the
        first value), None when it returns none."""
        if self._dead:
            raise Failed("57014", _stopped())
        watch = _Deadline(self)
        try:
            with watch, self.connection.cursor() as cursor:
                cursor.execute(sql)
                if cursor.description is None:
                    return None
                if not rows:
                    first = cursor.fetchone()
                    return None if first is None else first[0]
                columns = [d.name for d in cursor.description]
                frame = pd.DataFrame.from_records(cursor.fetchall(), columns=columns)
                return db.fix_dtypes(frame, [d.type_code for d in cursor.description])
        except psycopg2.Error as exc:
            if watch.fired or self._dead or self.connection.closed:
                self._dead = True
                raise Failed("57014", _stopped()) from exc
            first = (str(exc.pgerror or exc).strip().splitlines() or ["error"])[0]
            diag = exc.diag
            raise Failed(
                exc.pgcode or "XX000",
                first.removeprefix("ERROR:").strip(),
                diag.constraint_name or diag.column_name or "",
                diag.source_function or "",
            ) from exc

    def terminate(self) -> None:
        """End every learner session of this check now (from any thread)."""
        self._dead = True
        with self._lock:
            pids = list(self._pids)
        with self.engine.connect() as conn:
            for pid in pids:
                conn.execute(sa.text(_TERMINATE), {"pid": pid, "user": self.user})
            conn.commit()

    def close(self, supervisor: sa.Connection) -> None:
        """End the check's sessions and drop its scratch schema."""
        self._budget.cancel()
        ended = [self.pid] if self._rolled_back() else []
        self.connection.close()
        with self._lock:
            others = [pid for pid in self._pids if pid not in ended]
        for pid in others:  # a session that ran on, or a race's (which its caller closes)
            supervisor.execute(sa.text(_TERMINATE), {"pid": pid, "user": self.user})
        _drop(supervisor, self.schema)  # (when locked, the next check's sweep drops it)

    def _rolled_back(self) -> bool:
        """Roll the check's session back, and any transaction it prepared (one outlives its
        session, keeping its locks); False when the session is not in a state to say so."""
        if self.connection.closed or self._dead:
            return False
        try:
            with self.connection.cursor() as cur:
                cur.execute("ROLLBACK")
                cur.execute(
                    "SELECT gid FROM pg_catalog.pg_prepared_xacts "
                    "WHERE owner = current_user AND database = pg_catalog.current_database()"
                )
                for (gid,) in cur.fetchall():
                    cur.execute(pgsql.SQL("ROLLBACK PREPARED {}").format(pgsql.Literal(gid)))
        except psycopg2.Error:
            return False
        return True


_TERMINATE = "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE pid = :pid AND usename = :user"


def _stopped() -> str:
    return (
        f"the check stopped your SQL after {DEADLINE:g} s (or the whole check after {BUDGET:g} s): "
        "is a join condition missing, or is it waiting for a lock?"
    )


class _Deadline:
    """Cancel the session's statement at :data:`DEADLINE`; terminate the session
    :data:`GRACE` later if it is still running."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.fired = False
        self._done = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(DEADLINE, self._cancel)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def _cancel(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            self.session.connection.cancel()
            self._timer = threading.Timer(GRACE, self._terminate)
            self._timer.daemon = True
            self._timer.start()

    def _terminate(self) -> None:
        with self._lock:
            if self._done:
                return
        self.session.terminate()

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._done = True
            self._timer.cancel()


@contextlib.contextmanager
def session(engine: sa.Engine | None = None, prefix: str = "practice_check") -> Iterator[Session]:
    """A learner's session for one check, ended and cleaned up when the block exits."""
    engine = engine or db.get_engine()
    user = learner.login_role(engine)
    with engine.connect() as supervisor:
        sweep(supervisor, user)
        opened = Session(engine, supervisor, prefix, user)
        try:
            yield opened
        finally:
            opened.close(supervisor)
            supervisor.commit()


_STALE_CHECKS = """
SELECT n.nspname AS schema, parts[2]::int AS learner_pid
FROM pg_namespace n
CROSS JOIN LATERAL regexp_match(n.nspname, '^practice_(check|race)_([0-9]+)_([0-9]+)$') AS parts
WHERE parts IS NOT NULL AND pg_get_userbyid(n.nspowner) = current_user
  AND (NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = parts[3]::int AND a.usename = current_user)
       OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = parts[2]::int AND a.usename = :user
                      AND a.backend_start > now() - make_interval(secs => :stale)))
"""
_STALE_SESSIONS = """
SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
WHERE usename = 'learner' AND xact_start < now() - make_interval(secs => :stale)
"""


def sweep(conn: sa.Connection, user: str = learner.ROLE) -> list[str]:
    """End what killed checks left: the sessions of checks whose supervisor is gone (or that
    ran past :data:`STALE`) and their scratch schemas; ``user`` is the role checks log in as
    (:func:`.learner.login_role`). Runs on ``conn``, the application role's; returns the
    schemas dropped."""
    if user != conn.engine.url.username:  # (never the application role's own long transactions)
        conn.execute(sa.text(_STALE_SESSIONS), {"stale": STALE})
    stale = conn.execute(sa.text(_STALE_CHECKS), {"stale": STALE, "user": user}).all()
    conn.commit()
    dropped = []
    for schema, pid in stale:
        conn.execute(sa.text(_TERMINATE), {"pid": pid, "user": user})
        if _drop(conn, schema):
            dropped.append(schema)
    return dropped


def _drop(conn: sa.Connection, schema: str) -> bool:
    """Drop a scratch schema; False when it is locked (the next sweep tries again)."""
    drop = pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pgsql.Identifier(schema))
    try:
        conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
        conn.exec_driver_sql(drop.as_string(db.psycopg2_connection(conn)))
        conn.commit()
        return True
    except sa.exc.OperationalError as exc:
        conn.rollback()
        if isinstance(exc.orig, psycopg2.errors.LockNotAvailable):
            return False
        raise
