"""Runs: the record of each pipeline run, the locks it holds, and the transaction its steps share.

:class:`Run` records a run in ``etl.runs`` and holds the transaction the steps write in
(``run = Run.begin(...)``; ``load_raw(run.conn, payload, run.run_id)``; ``deduplicate(run.conn,
...)``; ``aggregate_daily(run.conn, ...)``; ``run.succeed()``; then ``export``). Two locks
(PostgreSQL advisory locks, held by the run's session — a process that dies drops them):

* **its own** (``RUN_LOCK``, by run id): a ``running`` run whose lock is free has no process any
  more; the next run to start finds it and marks it ``abandoned``;
* **its month's** (``MONTH_LOCK``, by symbol and month): two runs of the same symbol and month
  would each rebuild the month's clean bars and daily rows from what they see — one of them
  failed with a ``UniqueViolation``, or exported a product the other was replacing. A second run
  of a month that is being loaded is refused at once (:class:`RunInProgress`, naming the run
  that holds it), before it calls the API: a duplicate of a scheduled job is nearly always a
  mistake, its fetch would spend the key's quota for the same result, and a waiting run would
  hold a connection for as long as the other one takes (a live fetch may wait out rate limits).
  ``Run.begin(..., wait=seconds)`` waits for the month instead, for callers that mean to queue.
  A run whose answer also brings bars of the month before locks that month too (:meth:`Run.lock_month`).
  The month stays locked until the run's files are exported, so an older run's export can never
  replace a newer one's.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from .. import db
from ..errors import FdeError
from .sessions import month_window
from .transform import duplicates, gaps

SCHEMA_SQL = Path(__file__).with_name("schema.sql")

# a run holds this advisory lock (session-level) from its start to its end: if its process dies,
# PostgreSQL ends the session and releases it — the sign, to a later run, that nobody is working
RUN_LOCK = "hashtext('fdelib.etl.run'), CAST(:id % 2147483647 AS integer)"
# ... and this one for each symbol-month it writes (clean bars, daily rows, exported files)
MONTH_LOCK = "hashtext('fdelib.etl.month'), hashtext(CAST(:s AS text) || ' ' || CAST(:m AS text))"


class RunInProgress(FdeError):
    """Another run is loading the same symbol and month; this one stopped before doing anything."""


def setup(engine: sa.Engine | None = None) -> None:
    db.run_sql_file(SCHEMA_SQL, engine or db.get_engine())


def reset(engine: sa.Engine | None = None) -> None:
    """Empty every ETL table (a lesson's fresh start)."""
    engine = engine or db.get_engine()
    setup(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE etl.raw_intraday, etl.intraday, etl.daily, etl.runs RESTART IDENTITY")


def start_run(
    conn: sa.Connection, symbol: str, month: str, interval: str, extended_hours: bool = False, adjusted: bool = False
) -> int:
    """Record a run and its parameters in ``etl.runs`` (status ``running``); its ``run_id``.

    First marks the runs a dead process left ``running`` as ``abandoned`` (:func:`abandon_stale_runs`).
    This alone takes no lock: a run that should not look dead to others holds one (:class:`Run`)."""
    run_id = conn.execute(
        sa.text(
            "INSERT INTO etl.runs (symbol, month, interval, extended_hours, adjusted, status) "
            "VALUES (:s, :m, :i, :x, :a, 'running') RETURNING run_id"
        ),
        {"s": symbol, "m": month, "i": interval, "x": extended_hours, "a": adjusted},
    ).scalar_one()
    abandon_stale_runs(conn, run_id)
    return run_id


def abandon_stale_runs(conn: sa.Connection, by_run: int | None = None) -> list[int]:
    """Mark every ``running`` run whose process is gone — its lock is free — as ``abandoned``,
    with the reason in ``error``; their ids. (Without its lock a run cannot be told from a dead
    one: the steps driven by hand hold it through :class:`Run`.)"""
    candidates = (
        conn.execute(
            sa.text(
                "SELECT run_id FROM etl.runs WHERE status = 'running' AND run_id <> :me "
                "ORDER BY run_id FOR UPDATE SKIP LOCKED"
            ),
            {"me": by_run or 0},
        )
        .scalars()
        .all()
    )
    gone = [
        run_id
        for run_id in candidates  # a free lock: nobody works on it (freed at commit)
        if conn.execute(sa.text(f"SELECT pg_try_advisory_xact_lock({RUN_LOCK})"), {"id": run_id}).scalar()
    ]
    if gone:
        found = f" (found when run {by_run} started)" if by_run else ""
        conn.execute(
            sa.text(
                "UPDATE etl.runs SET status = 'abandoned', finished_at = clock_timestamp(), "
                "error = :why WHERE run_id = ANY(:ids)"
            ),
            {
                "ids": gone,
                "why": "abandoned: its process ended without recording an outcome (a crash "
                f"or a kill); nothing of it was committed{found}",
            },
        )
    return gone


def holder(conn: sa.Connection, symbol: str, month: str, me: int) -> str:
    """Which run holds ``symbol`` ``month`` (for the message): the newest other ``running`` run of
    that month or the next (whose answer may overlap it)."""
    following = str(pd.Period(month, freq="M") + 1)
    row = conn.execute(
        sa.text(
            "SELECT run_id, month, interval FROM etl.runs WHERE symbol = :s AND status = 'running' "
            "AND run_id <> :me AND month IN (:m, :n) ORDER BY run_id DESC LIMIT 1"
        ),
        {"s": symbol, "m": month, "n": following, "me": me},
    ).first()
    return f"run {row.run_id} ({row.month}, {row.interval})" if row else "another process"


class Run:
    """One run of the pipeline: its record in ``etl.runs``, its locks, and the transaction the steps share.

    :meth:`begin` records the run (``running``) and takes its advisory locks, held until the run
    ends; ``conn`` is the connection the steps write in — raw, clean and daily rows, one
    transaction. :meth:`succeed` records the outcome and commits it; :meth:`fail` rolls back and
    records the error. A process that dies in between loses its connection: PostgreSQL rolls
    the work back and releases the locks, and the next run to start marks this one ``abandoned``.
    """

    def __init__(self, conn: sa.Connection, run_id: int, symbol: str, month: str, interval: str, client=None):
        self.conn, self.run_id = conn, run_id
        self.symbol, self.month, self.interval = symbol, month, interval
        self.client = client
        self.calls = client.calls if client is not None else 0
        self.status = "running"
        self.months = {month}

    def __repr__(self) -> str:
        return f"Run({self.run_id}, {self.symbol} {self.month} {self.interval}, {self.status})"

    @classmethod
    def begin(
        cls,
        symbol: str,
        month: str,
        interval: str = "5min",
        *,
        extended_hours: bool = False,
        adjusted: bool = False,
        client=None,
        engine: sa.Engine | None = None,
        wait: float = 0.0,
    ) -> Run:
        """Record a run and hold its locks; ``client``: count its API calls from now on.

        Raises :class:`RunInProgress` (the run recorded as ``failed``) if another run holds the
        month, after waiting up to ``wait`` seconds for it."""
        engine = engine or db.get_engine()
        setup(engine)
        conn = engine.connect()
        try:
            with conn.begin():  # the lock is held before the record is visible to anyone
                run_id = start_run(conn, symbol, month, interval, extended_hours, adjusted)
                conn.execute(sa.text(f"SELECT pg_advisory_lock({RUN_LOCK})"), {"id": run_id})
            run = cls(conn, run_id, symbol, month, interval, client)
            run.months = set()
            run.lock_month(month, wait=wait)
            conn.commit()
            conn.begin()  # the steps' transaction (the server sees it at their first statement)
        except RunInProgress as exc:
            run.fail(exc)
            raise
        except BaseException:
            conn.invalidate()
            conn.close()
            raise
        return run

    def lock_month(self, month: str, wait: float = 0.0) -> None:
        """Hold ``month`` of this run's symbol until the run ends, or raise :class:`RunInProgress`."""
        if month in self.months:
            return
        deadline = time.monotonic() + wait
        params = {"s": self.symbol, "m": month}
        while not self.conn.execute(sa.text(f"SELECT pg_try_advisory_lock({MONTH_LOCK})"), params).scalar():
            if time.monotonic() >= deadline:
                other = holder(self.conn, self.symbol, month, self.run_id)
                waited = f" (waited {wait:g} s)" if wait else ""
                raise RunInProgress(
                    f"{self.symbol} {month} is already being loaded by {other}{waited}: "
                    f"run {self.run_id} stopped before writing anything; run it again "
                    "when that one has finished (or pass wait=seconds to queue)"
                )
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        self.months.add(month)

    def api_calls(self) -> int:
        return self.client.calls - self.calls if self.client is not None else 0

    def succeed(self, release: bool = True) -> dict[str, int]:
        """Record the outcome — this run's raw rows and duplicates, the month's daily rows and
        missing bars, the API calls — and commit it with the steps' work; the counts.
        ``release=False``: keep the month locked (for the export) until :meth:`release`."""
        conn, params = self.conn, {"id": self.run_id}
        missing = gaps(self.symbol, self.month, self.interval, connection=conn)
        start, end = month_window(self.month)
        counts = {
            "raw_rows": conn.execute(
                sa.text("SELECT coalesce(raw_rows, 0) FROM etl.runs WHERE run_id = :id"), params
            ).scalar_one(),
            "duplicates": duplicates(conn, self.run_id),
            "daily_rows": conn.execute(
                sa.text("SELECT count(*) FROM etl.daily WHERE symbol = :s AND session >= :d0 AND session < :d1"),
                {"s": self.symbol, "d0": start.date(), "d1": end.date()},
            ).scalar_one(),
            "gaps": int(missing["bars"].sum()) if len(missing) else 0,
            "api_calls": self.api_calls(),
        }
        conn.execute(
            sa.text(
                "UPDATE etl.runs SET status = 'succeeded', finished_at = clock_timestamp(), "
                "api_calls = :api_calls, raw_rows = :raw_rows, duplicates = :duplicates, "
                "daily_rows = :daily_rows, gaps = :gaps WHERE run_id = :id"
            ),
            {**counts, **params},
        )
        conn.commit()
        self.status = "succeeded"
        if release:
            self.release()
        return {k: int(v) for k, v in counts.items()}

    def record_answer(self, digest: str | None) -> None:
        """Record which answer this run loads (its digest, see :func:`answer_digest`), in the
        steps' transaction: it becomes the month's provenance when the run succeeds."""
        self.conn.execute(
            sa.text("UPDATE etl.runs SET payload_sha256 = :d WHERE run_id = :id"), {"d": digest, "id": self.run_id}
        )

    def standing_load(
        self, digest: str | None, files: dict[str, Path], extended_hours: bool, adjusted: bool
    ) -> int | None:
        """The run whose load the month's product still is, if it loaded the same answer
        (``digest``) with the same parameters and its exported ``files`` are still there; else None.

        The month is locked by this run, so nothing writes it meanwhile. "Still is": the newest
        succeeded run of the month, no later run wrote the month's bars (an answer of the month
        after may overlap it), and the daily rows it counted are all there (a reset, a delete)."""
        if digest is None or not all(Path(f).is_file() for f in files.values()):
            return None
        start, end = month_window(self.month)
        params = {"s": self.symbol, "m": self.month, "t0": start, "t1": end}
        last = self.conn.execute(
            sa.text(
                "SELECT run_id, interval, extended_hours, adjusted, payload_sha256, daily_rows FROM etl.runs "
                "WHERE symbol = :s AND month = :m AND status = 'succeeded' ORDER BY run_id DESC LIMIT 1"
            ),
            params,
        ).first()
        if last is None or (last.interval, last.extended_hours, last.adjusted, last.payload_sha256) != (
            self.interval,
            extended_hours,
            adjusted,
            digest,
        ):
            return None
        later = self.conn.execute(
            sa.text(
                "SELECT count(*) FROM etl.runs WHERE symbol = :s AND run_id > :id AND status = 'succeeded' "
                "AND first_bar < :t1 AND last_bar >= :t0"
            ),
            {**params, "id": last.run_id},
        ).scalar_one()
        rows = self.conn.execute(
            sa.text("SELECT count(*) FROM etl.daily WHERE symbol = :s AND session >= :d0 AND session < :d1"),
            {"s": self.symbol, "d0": start.date(), "d1": end.date()},
        ).scalar_one()
        return int(last.run_id) if later == 0 and rows == last.daily_rows else None

    def unchanged(self, standing: int) -> dict[str, int]:
        """Record that the month's standing load (run ``standing``) came from the same answer:
        nothing was written (the run's locks are released)."""
        self.conn.rollback()
        self.conn.execute(
            sa.text(
                "UPDATE etl.runs SET status = 'unchanged', finished_at = clock_timestamp(), api_calls = :c, "
                "raw_rows = 0, duplicates = 0, error = :e WHERE run_id = :id"
            ),
            {"c": self.api_calls(), "e": f"same answer as run {standing}: nothing written", "id": self.run_id},
        )
        self.conn.commit()
        self.status = "unchanged"
        self.release()
        return {"api_calls": self.api_calls()}

    def fail(self, error: BaseException) -> None:
        """Roll the steps' work back and record the error (the run's locks are released)."""
        if self.status != "running":
            return
        try:
            self.conn.rollback()
            self.conn.execute(
                sa.text(
                    "UPDATE etl.runs SET status = 'failed', finished_at = clock_timestamp(), "
                    "api_calls = :c, error = :e WHERE run_id = :id"
                ),
                {"c": self.api_calls(), "e": f"{type(error).__name__}: {error}"[:500], "id": self.run_id},
            )
            self.conn.commit()
            self.status = "failed"
        finally:
            self.release()

    def release(self) -> None:
        """Give up the run's locks and its connection (idempotent)."""
        if self.conn.closed:
            return
        try:
            self.conn.rollback()
            self.conn.exec_driver_sql("SELECT pg_advisory_unlock_all()")
            self.conn.commit()
        except Exception:
            self.conn.invalidate()  # a pooled connection must not keep the locks: drop it
        finally:
            self.conn.close()


def answer_digest(payload: object) -> str | None:
    """A digest of an answer as checked (a payload's JSON, a CSV answer's COPY lines): the same
    answer, the same digest; None for what has no stable form."""
    import hashlib
    import json

    lines = getattr(payload, "lines", None)
    if isinstance(lines, bytes):
        return hashlib.sha256(lines).hexdigest()
    if isinstance(payload, dict):
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()
    return None


def run_log(engine: sa.Engine | None = None) -> pd.DataFrame:
    """The runs, without their wall-clock times (those differ every run)."""
    return db.read_frame(
        "SELECT run_id, symbol, month, interval, status, api_calls, raw_rows, duplicates, "
        "daily_rows, gaps, error FROM etl.runs ORDER BY run_id",
        engine=engine,
    )
