"""The market-data ETL, one plain function per step.

    fetch ─► load_raw ─► deduplicate ─► aggregate_daily ─► export
    (API)    (COPY, with    (latest ingestion   (SQL GROUP BY     (CSV, Parquet,
              ingestion       of each bar)        per session)      the etl.daily table)
              time)

Each step is idempotent and works on one symbol and month, so a month can be re-run, and
months can be run in any order (a backfill), with the same result. :func:`run_month` runs
them in order: the fetch is validated before anything is written; raw load, dedup and
aggregation commit together with the run's record, so a bad payload or a crash leaves
nothing half-written — re-running the month recovers.

The steps take a connection and work in its transaction, so a caller can also run them one by
one: :class:`Run` records a run in ``etl.runs`` and holds the transaction they share
(``run = Run.begin(...)``; ``load_raw(run.conn, payload, run.run_id)``; ``deduplicate(run.conn,
...)``; ``aggregate_daily(run.conn, ...)``; ``run.succeed()``; then :func:`export`). A run whose
process dies is left ``running`` in the log; the next run to start finds it — its process
holds no lock any more — and marks it ``abandoned``.

Deduplication comes *before* aggregation (the book lists it after): a duplicated bar
aggregated first would already have doubled the day's volume.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg2
import sqlalchemy as sa

from .. import db
from ..config import get_settings
from . import alphavantage, csvbars
from .alphavantage import MalformedPayload
from .sessions import TZ, bar_times, month_window, months_between, session_bounds, step, utc_offset

SCHEMA_SQL = Path(__file__).with_name("schema.sql")
RAW_COLUMNS = "symbol, interval, bar_time, open, high, low, close, volume, run_id"
COPY_RAW = f"COPY etl.raw_intraday ({RAW_COLUMNS}) FROM STDIN WITH (FORMAT csv)"


def setup(engine: sa.Engine | None = None) -> None:
    db.run_sql_file(SCHEMA_SQL, engine or db.get_engine())


def reset(engine: sa.Engine | None = None) -> None:
    """Empty every ETL table (a lesson's fresh start)."""
    engine = engine or db.get_engine()
    setup(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE etl.raw_intraday, etl.intraday, etl.daily, etl.runs RESTART IDENTITY")


def start_run(conn: sa.Connection, symbol: str, month: str, interval: str, extended_hours: bool = False) -> int:
    """Record a run and its parameters in ``etl.runs`` (status ``running``); its ``run_id``.

    First marks the runs a dead process left ``running`` as ``abandoned`` (:func:`abandon_stale_runs`).
    This alone takes no lock: a run that should not look dead to others holds one (:class:`Run`)."""
    run_id = conn.execute(sa.text("INSERT INTO etl.runs (symbol, month, interval, extended_hours, status) "
                                  "VALUES (:s, :m, :i, :x, 'running') RETURNING run_id"),
                          {"s": symbol, "m": month, "i": interval, "x": extended_hours}).scalar_one()
    abandon_stale_runs(conn, run_id)
    return run_id


# a run holds this advisory lock (session-level) from its start to its end: if its process dies,
# PostgreSQL ends the session and releases it — the sign, to a later run, that nobody is working
RUN_LOCK = "hashtext('fdelib.etl.run'), CAST(:id % 2147483647 AS integer)"


def abandon_stale_runs(conn: sa.Connection, by_run: int | None = None) -> list[int]:
    """Mark every ``running`` run whose process is gone — its lock is free — as ``abandoned``,
    with the reason in ``error``; their ids. (Without its lock a run cannot be told from a dead
    one: the steps driven by hand hold it through :class:`Run`.)"""
    candidates = conn.execute(sa.text(
        "SELECT run_id FROM etl.runs WHERE status = 'running' AND run_id <> :me "
        "ORDER BY run_id FOR UPDATE SKIP LOCKED"), {"me": by_run or 0}).scalars().all()
    gone = [run_id for run_id in candidates        # a free lock: nobody works on it (freed at commit)
            if conn.execute(sa.text(f"SELECT pg_try_advisory_xact_lock({RUN_LOCK})"), {"id": run_id}).scalar()]
    if gone:
        found = f" (found when run {by_run} started)" if by_run else ""
        conn.execute(sa.text("UPDATE etl.runs SET status = 'abandoned', finished_at = clock_timestamp(), "
                             "error = :why WHERE run_id = ANY(:ids)"),
                     {"ids": gone, "why": "abandoned: its process ended without recording an outcome (a crash "
                                          f"or a kill); nothing of it was committed{found}"})
    return gone


class Run:
    """One run of the pipeline: its record in ``etl.runs``, its lock, and the transaction the steps share.

    :meth:`begin` records the run (``running``) and takes its advisory lock, held until the run
    ends; ``conn`` is the connection the steps write in — raw, clean and daily rows, one
    transaction. :meth:`succeed` records the outcome and commits it; :meth:`fail` rolls back and
    records the error. A process that dies in between loses its connection: PostgreSQL rolls
    the work back and releases the lock, and the next run to start marks this one ``abandoned``.
    """

    def __init__(self, conn: sa.Connection, run_id: int, symbol: str, month: str, interval: str,
                 client: alphavantage.Client | None = None):
        self.conn, self.run_id = conn, run_id
        self.symbol, self.month, self.interval = symbol, month, interval
        self.client = client
        self.calls = client.calls if client is not None else 0
        self.status = "running"

    def __repr__(self) -> str:
        return f"Run({self.run_id}, {self.symbol} {self.month} {self.interval}, {self.status})"

    @classmethod
    def begin(cls, symbol: str, month: str, interval: str = "5min", *, extended_hours: bool = False,
              client: alphavantage.Client | None = None, engine: sa.Engine | None = None) -> "Run":
        """Record a run and hold its lock; ``client``: count its API calls from now on."""
        engine = engine or db.get_engine()
        setup(engine)
        conn = engine.connect()
        try:
            with conn.begin():          # the lock is held before the record is visible to anyone
                run_id = start_run(conn, symbol, month, interval, extended_hours)
                conn.execute(sa.text(f"SELECT pg_advisory_lock({RUN_LOCK})"), {"id": run_id})
            conn.begin()                # the steps' transaction (the server sees it at their first statement)
        except BaseException:
            conn.invalidate()
            conn.close()
            raise
        return cls(conn, run_id, symbol, month, interval, client)

    def api_calls(self) -> int:
        return self.client.calls - self.calls if self.client is not None else 0

    def succeed(self) -> dict[str, int]:
        """Record the outcome — this run's raw rows and duplicates, the month's daily rows and
        missing bars, the API calls — and commit it with the steps' work; the counts."""
        conn, params = self.conn, {"id": self.run_id}
        missing = gaps(self.symbol, self.month, self.interval, connection=conn)
        start, end = month_window(self.month)
        counts = {
            "raw_rows": conn.execute(sa.text("SELECT coalesce(raw_rows, 0) FROM etl.runs WHERE run_id = :id"),
                                     params).scalar_one(),
            "duplicates": duplicates(conn, self.run_id),
            "daily_rows": conn.execute(sa.text("SELECT count(*) FROM etl.daily WHERE symbol = :s "
                                               "AND session >= :d0 AND session < :d1"),
                                       {"s": self.symbol, "d0": start.date(), "d1": end.date()}).scalar_one(),
            "gaps": int(missing["bars"].sum()) if len(missing) else 0,
            "api_calls": self.api_calls()}
        conn.execute(sa.text("UPDATE etl.runs SET status = 'succeeded', finished_at = clock_timestamp(), "
                             "api_calls = :api_calls, raw_rows = :raw_rows, duplicates = :duplicates, "
                             "daily_rows = :daily_rows, gaps = :gaps WHERE run_id = :id"), {**counts, **params})
        conn.commit()
        self.status = "succeeded"
        self._release()
        return {k: int(v) for k, v in counts.items()}

    def fail(self, error: BaseException) -> None:
        """Roll the steps' work back and record the error (the run's lock is released)."""
        if self.status != "running":
            return
        try:
            self.conn.rollback()
            self.conn.execute(sa.text("UPDATE etl.runs SET status = 'failed', finished_at = clock_timestamp(), "
                                      "api_calls = :c, error = :e WHERE run_id = :id"),
                              {"c": self.api_calls(), "e": f"{type(error).__name__}: {error}"[:500], "id": self.run_id})
            self.conn.commit()
            self.status = "failed"
        finally:
            self._release()

    def _release(self) -> None:
        try:
            self.conn.execute(sa.text(f"SELECT pg_advisory_unlock({RUN_LOCK})"), {"id": self.run_id})
            self.conn.commit()
        except Exception:
            self.conn.invalidate()      # a pooled connection must not keep the lock: drop it
        finally:
            self.conn.close()


# --- step 1: fetch --------------------------------------------------------------------------

def fetch(client: alphavantage.Client, symbol: str, month: str, interval: str = "5min", *,
          extended_hours: bool = False, datatype: str = "json") -> dict[str, Any] | csvbars.CsvBars:
    """The month's intraday payload, validated (raises on an error or malformed answer);
    ``datatype="csv"``: the CSV answer, read and checked column by column (a :class:`~.csvbars.CsvBars`)."""
    if datatype != "csv":
        return client.intraday(symbol, month, interval, extended_hours=extended_hours, datatype=datatype)
    return decode(client.intraday(symbol, month, interval, extended_hours=extended_hours, datatype="csv",
                                  decode=False))


def decode(answer: alphavantage.Answer) -> dict[str, Any] | csvbars.CsvBars:
    """A fetched answer parsed and checked: a CSV one column by column (:mod:`.csvbars`), a JSON one
    into its payload."""
    return csvbars.parse(answer) if answer.datatype == "csv" else answer.decode()


# --- step 2: load raw -----------------------------------------------------------------------

class RawCsv:
    """The payload's bars as COPY CSV text, rendered straight from the JSON strings (no DataFrame),
    a chunk at a time: ``COPY`` reads it like a file, so PostgreSQL parses one chunk while Python
    renders the next.

    Each chunk must have exactly one line and eight commas per bar: a value holding a comma or a
    line break (which would shift columns or smuggle in a row) is refused, naming the bar."""

    def __init__(self, payload: dict[str, Any], run_id: int, chunk_bars: int = 500):
        meta = payload["Meta Data"]
        self.symbol, self.interval = str(meta["2. Symbol"]).upper(), meta["4. Interval"]
        self.series = payload[f"Time Series ({self.interval})"]
        self.run_id = int(run_id)
        self.chunk_bars = chunk_bars
        try:
            # New York's UTC offset per day (DST changes it): PostgreSQL parses "-05:00" much
            # faster than a zone name on every row
            self.offsets = {day: utc_offset(day) for day in {stamp[:10] for stamp in self.series}}
        except ValueError as exc:
            raise MalformedPayload(f"{self.symbol} {self.interval}: a bar key is not a date ({exc})") from exc
        # every bar as sent, a time sent twice twice (alphavantage.Series keeps the earlier copies)
        self.bars = list(self.series.items()) + alphavantage.repeats(self.series)
        self.stamps = [stamp for stamp, _ in self.bars]     # line n of the COPY is bar self.stamps[n - 1]
        self._next = 0
        self.rows = 0
        self.error: Exception | None = None     # raised in read(): COPY only reports that read() failed

    def read(self, size: int = -1) -> str:
        try:
            return self._render()
        except Exception as exc:
            self.error = exc
            raise

    def _render(self) -> str:
        bars = self.bars[self._next:self._next + self.chunk_bars]   # strings: no work for the GC
        if not bars:
            return ""
        self._next += len(bars)
        offsets = self.offsets
        prefix, suffix = f"{self.symbol},{self.interval},", f",{self.run_id}\n"
        try:
            text = "".join([f"{prefix}{s}{offsets[s[:10]]},{b['1. open']},{b['2. high']},{b['3. low']},"
                            f"{b['4. close']},{b['5. volume']}{suffix}" for s, b in bars])
        except (KeyError, TypeError, AttributeError) as exc:   # fetch validates; a hand-made payload may not
            bad = next((s for s, b in bars if not isinstance(b, dict)
                        or not set(alphavantage.FIELDS) <= b.keys()), "?")
            raise MalformedPayload(f"{self.symbol} {self.interval}: bar {bad} lacks a field ({exc})") from None
        if text.count("\n") != len(bars) or text.count(",") != 8 * len(bars):
            bad = next((s for s, b in bars if any(c in s + "".join(map(str, b.values())) for c in ",\r\n")), "?")
            raise MalformedPayload(f"{self.symbol} {self.interval}: bar {bad} has a comma or a line break "
                                   "in its time or values")
        self.rows += len(bars)
        return text

    def bounds(self) -> tuple[str, str] | None:
        """The first and last bar time (ISO text with the UTC offset), None without bars."""
        if not self.stamps:
            return None
        first, last = min(self.stamps), max(self.stamps)
        return first + self.offsets[first[:10]], last + self.offsets[last[:10]]


def render_raw(payload: dict[str, Any], run_id: int) -> tuple[str, int]:
    """The payload's bars as one COPY CSV text, and their number (what :func:`load_raw` streams)."""
    rendered = RawCsv(payload, run_id)
    return "".join(iter(lambda: rendered.read(), "")), rendered.rows


_COPY_LINE = re.compile(r"line (\d+)")


def load_raw(conn: sa.Connection, payload: dict[str, Any], run_id: int) -> int:
    """Append the payload's bars to ``etl.raw_intraday`` with COPY and record, on the run, how
    many and which time range they cover (deduplication finds the loads by it); the row count.

    ``payload`` is what :func:`fetch` returns (checked whole: structure and values). Runs in the
    caller's transaction: a value PostgreSQL refuses all the same (not a number, not a time, a
    price the table's CHECK constraints refuse — a payload made by hand skips the fetch's checks)
    raises :class:`MalformedPayload` naming the bar, and the caller's rollback leaves nothing
    behind. A time the payload sends twice is loaded twice: deduplication removes the copy.

    ``payload`` may also be a :class:`~.csvbars.CsvBars` (a CSV answer, :func:`fetch` with
    ``datatype="csv"``): the same rows, rendered by Arrow (:func:`load_csv`)."""
    if isinstance(payload, csvbars.CsvBars):
        return load_csv(conn, payload, run_id)
    rendered = RawCsv(payload, run_id)
    try:
        _copy(conn, rendered)
    except psycopg2.Error as exc:
        if rendered.error is not None:
            raise rendered.error from None
        raise _refused(exc, rendered.stamps.__getitem__, len(rendered.stamps),
                       f"{rendered.symbol} {rendered.interval}") from None
    return _record_load(conn, run_id, rendered.rows, rendered.bounds())


def load_csv(conn: sa.Connection, bars: csvbars.CsvBars, run_id: int) -> int:
    """:func:`load_raw` for a checked CSV answer: its COPY lines, rendered by Arrow, with the run's id."""
    stamps = bars.table["timestamp"]
    try:
        _copy(conn, io.BytesIO(csvbars.copy_text(bars, run_id)))
    except psycopg2.Error as exc:
        raise _refused(exc, lambda i: stamps[i].as_py(), len(stamps), bars.where) from None
    span = bars.span()
    bounds = span and (span[0] + utc_offset(span[0][:10]), span[1] + utc_offset(span[1][:10]))
    return _record_load(conn, run_id, bars.table.num_rows, bounds)


def _copy(conn: sa.Connection, source) -> None:
    with conn.connection.dbapi_connection.cursor() as cur:
        cur.copy_expert(COPY_RAW, source, size=1 << 20)
        # summarise the new rows in the BRIN index now (autovacuum would, later)
        cur.execute("SELECT brin_summarize_new_values('etl.raw_intraday_run_idx')")


def _refused(exc: psycopg2.Error, stamp, rows: int, where: str) -> Exception:
    """A value PostgreSQL refused, as :class:`MalformedPayload` naming the bar (``stamp(i)``: the
    time of the i-th row COPYed); any other database error as it is."""
    if not isinstance(exc, (psycopg2.DataError, psycopg2.IntegrityError)):
        return exc
    line = _COPY_LINE.search(getattr(exc.diag, "context", None) or "")
    bar = stamp(int(line.group(1)) - 1) if line and int(line.group(1)) <= rows else "?"
    reason = (exc.diag.message_primary or str(exc)).strip()
    return MalformedPayload(f"{where}: bar {bar}: {reason}")


def _record_load(conn: sa.Connection, run_id: int, rows: int, bounds: tuple[str, str] | None) -> int:
    """Record on the run how many raw rows it loaded and which bar times they cover."""
    conn.execute(sa.text("UPDATE etl.runs SET raw_rows = :n, first_bar = CAST(:first AS timestamptz), "
                         "last_bar = CAST(:last AS timestamptz) WHERE run_id = :id"),
                 {"n": rows, "first": bounds and bounds[0], "last": bounds and bounds[1], "id": run_id})
    return rows


# --- step 3: deduplicate ----------------------------------------------------------------------

LOADS = """r.run_id = ANY(ARRAY(SELECT run_id FROM etl.runs WHERE symbol = :s AND interval = :i
                                   AND first_bar < :end AND last_bar >= :start))
      AND r.symbol = :s AND r.interval = :i AND r.bar_time >= :start AND r.bar_time < :end"""
DEDUP_SQL = f"""
    INSERT INTO etl.intraday
    SELECT DISTINCT ON (r.bar_time) r.symbol, r.interval, r.bar_time, r.open, r.high, r.low, r.close,
           r.volume, r.ingested_at
    FROM etl.raw_intraday r
    WHERE {LOADS}
    ORDER BY r.bar_time, r.ingested_at DESC, r.run_id DESC
"""


def deduplicate(conn: sa.Connection, symbol: str, month: str, interval: str) -> dict[str, int]:
    """Rebuild the month's clean bars: one per bar time, from its latest ingestion.

    Reads every load that holds bars of the month (``etl.runs`` knows their range), including
    loads of a neighbouring month whose answer overlapped this one."""
    start, end = month_window(month)
    window = {"s": symbol, "i": interval, "start": start, "end": end}
    conn.execute(sa.text("DELETE FROM etl.intraday WHERE symbol = :s AND interval = :i "
                         "AND bar_time >= :start AND bar_time < :end"), window)
    # A table loaded seconds ago has no statistics yet, and without them the planner cannot tell
    # that the BRIN index on run_id finds these loads' rows: it would read the whole raw table
    # (with parallel workers, whose start costs more than reading a month's rows).
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off; SET LOCAL max_parallel_workers_per_gather = 0")
    clean = conn.execute(sa.text(DEDUP_SQL), window).rowcount
    raw = conn.execute(sa.text(f"SELECT count(*) FROM etl.raw_intraday r WHERE {LOADS}"), window).scalar_one()
    conn.exec_driver_sql("RESET enable_seqscan; RESET max_parallel_workers_per_gather")
    return {"raw": int(raw), "clean": int(clean), "superseded": int(raw - clean)}


DUPLICATES_SQL = """
    WITH run AS (SELECT symbol, interval, first_bar, last_bar FROM etl.runs WHERE run_id = :id),
    mine AS (SELECT r.bar_time FROM etl.raw_intraday r, run
             WHERE r.run_id = :id AND r.symbol = run.symbol AND r.interval = run.interval),
    earlier AS (SELECT DISTINCT r.bar_time FROM etl.raw_intraday r, run
                WHERE r.run_id = ANY(ARRAY(SELECT o.run_id FROM etl.runs o, run
                                           WHERE o.symbol = run.symbol AND o.interval = run.interval
                                             AND o.run_id <> :id AND o.first_bar <= run.last_bar
                                             AND o.last_bar >= run.first_bar))
                  AND r.symbol = run.symbol AND r.interval = run.interval
                  AND r.bar_time BETWEEN run.first_bar AND run.last_bar)
    SELECT (SELECT count(*) - count(DISTINCT bar_time) FROM mine)
         + (SELECT count(*) FROM (SELECT DISTINCT bar_time FROM mine) m JOIN earlier USING (bar_time))
"""


def duplicates(conn: sa.Connection, run_id: int) -> int:
    """How many of run ``run_id``'s raw rows were duplicates: a bar another load already holds,
    or sent twice in this payload — this run's count, whatever came before."""
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off; SET LOCAL max_parallel_workers_per_gather = 0")
    count = conn.execute(sa.text(DUPLICATES_SQL), {"id": run_id}).scalar_one()
    conn.exec_driver_sql("RESET enable_seqscan; RESET max_parallel_workers_per_gather")
    return int(count or 0)


def months_of(payload: dict[str, Any] | csvbars.CsvBars, month: str) -> list[str]:
    """The months a payload's bars fall in, with ``month`` (an answer may overlap the month before)."""
    if isinstance(payload, csvbars.CsvBars):
        span = payload.span()
    else:
        series = payload[f"Time Series ({payload['Meta Data']['4. Interval']})"]
        span = series and (min(series), max(series))
    if not span:
        return [month]
    return months_between(min(span[0], month), max(span[1][:7], month))


# --- step 4: aggregate --------------------------------------------------------------------------

DAILY_SQL = """
    INSERT INTO etl.daily (symbol, session, open, high, low, close, volume, bars, interval)
    SELECT :s, s.session,
           (array_agg(b.open ORDER BY b.bar_time))[1], max(b.high), min(b.low),
           (array_agg(b.close ORDER BY b.bar_time DESC))[1], sum(b.volume), count(*), :i
    FROM etl.intraday b
    JOIN unnest(CAST(:sessions AS date[]), CAST(:opens AS timestamptz[]), CAST(:closes AS timestamptz[]))
         AS s(session, open, close) ON s.session = (b.bar_time AT TIME ZONE :tz)::date
    WHERE b.symbol = :s AND b.interval = :i AND b.bar_time >= :start AND b.bar_time < :end
      AND b.bar_time > s.open - CAST(:step AS interval) AND b.bar_time < s.close   -- bars overlapping the session
    GROUP BY s.session
"""


def aggregate_daily(conn: sa.Connection, symbol: str, month: str, interval: str) -> int:
    """Replace the month's daily OHLCV of ``symbol`` from its clean bars (SQL only): one row per
    NYSE session, from every bar that overlaps its regular hours ``[open, close)`` — open from
    the first, close from the last, high, low and volume over all; pre- and post-market bars are
    left out.

    Overlapping, not starting inside: Alpha Vantage's bars are clock-aligned (see
    :mod:`.sessions`), so a 60-minute session runs 09:00 … 15:00 and its 09:00 bar holds the
    opening half hour. The product is then the same from any interval of regular-hours bars. An
    extended-hours 60-minute answer's 09:00 bar also holds 09:00–09:30 of pre-market trading
    (no hourly bar can split it): that product starts at 09:00 — fetch 60-minute bars without
    extended hours (the default) for the exact session."""
    start, end = month_window(month)
    sessions, opens, closes = session_bounds(month)
    conn.execute(sa.text("DELETE FROM etl.daily WHERE symbol = :s AND session >= :d0 AND session < :d1"),
                 {"s": symbol, "d0": start.date(), "d1": end.date()})
    if not sessions:
        return 0
    return conn.execute(sa.text(DAILY_SQL), {"s": symbol, "i": interval, "start": start, "end": end, "tz": TZ,
                                             "step": f"{int(step(interval).total_seconds() // 60)} minutes",
                                             "sessions": sessions, "opens": opens, "closes": closes}).rowcount


# --- gaps ---------------------------------------------------------------------------------------

def gaps(symbol: str, month: str, interval: str, engine: sa.Engine | None = None, *,
         connection: sa.Connection | None = None) -> pd.DataFrame:
    """Bars the NYSE calendar expects but the clean table lacks, as ranges per session: every
    clock-aligned bar that overlaps a regular session (:func:`.sessions.bar_times`)."""
    start, end = month_window(month)
    have = db.read_frame("SELECT bar_time AT TIME ZONE :tz AS t FROM etl.intraday WHERE symbol = :s "
                         "AND interval = :i AND bar_time >= :start AND bar_time < :end",
                         {"tz": TZ, "s": symbol, "i": interval, "start": start, "end": end}, engine=engine,
                         connection=connection)
    missing = sorted(set(bar_times(month, interval)) - set(pd.to_datetime(have["t"]).dt.to_pydatetime()))
    length = step(interval)
    ranges: list[dict] = []
    for t in missing:
        if ranges and ranges[-1]["last"] + length == t:
            ranges[-1]["last"] = t
            ranges[-1]["bars"] += 1
        else:
            ranges.append({"symbol": symbol, "session": t.date(), "first": t, "last": t, "bars": 1})
    frame = pd.DataFrame(ranges, columns=["symbol", "session", "first", "last", "bars"])
    frame["first"] = frame["first"].map(lambda t: t.strftime("%H:%M"))
    frame["last"] = frame["last"].map(lambda t: t.strftime("%H:%M"))
    return frame


# --- step 5: export -------------------------------------------------------------------------------

def daily(symbol: str | None = None, month: str | None = None, engine: sa.Engine | None = None, *,
          connection: sa.Connection | None = None) -> pd.DataFrame:
    """The data product, ordered; one symbol and/or month if given (``connection``: as a run's
    transaction sees it, before it commits)."""
    where, params = ["true"], {}
    if symbol:
        where.append("symbol = :s")
        params["s"] = symbol
    if month:
        start, end = month_window(month)
        where.append("session >= :d0 AND session < :d1")
        params.update(d0=start.date(), d1=end.date())
    return db.read_frame(f"SELECT symbol, session, open, high, low, close, volume, bars FROM etl.daily "
                         f"WHERE {' AND '.join(where)} ORDER BY symbol, session", params, engine=engine,
                         connection=connection)


def export(symbol: str, month: str, folder: Path | None = None, engine: sa.Engine | None = None) -> dict[str, Path]:
    """Write the month's daily product as CSV and Parquet (same data, same bytes every run)."""
    folder = Path(folder or get_settings().data_dir / "etl")
    folder.mkdir(parents=True, exist_ok=True)
    frame = daily(symbol, month, engine)
    frame["session"] = frame["session"].astype(str)
    paths = {"csv": folder / f"{symbol}_{month}_daily.csv", "parquet": folder / f"{symbol}_{month}_daily.parquet"}
    for kind, path in paths.items():
        tmp = path.with_suffix(path.suffix + ".tmp")
        if kind == "csv":
            frame.to_csv(tmp, index=False, float_format="%.4f", lineterminator="\n")
        else:
            frame.to_parquet(tmp, index=False, engine="pyarrow")
        os.replace(tmp, path)    # readers never see half a file
    return paths


# --- the whole month ---------------------------------------------------------------------------

def run_month(symbol: str, month: str, interval: str = "5min", *, client: alphavantage.Client | None = None,
              engine: sa.Engine | None = None, export_to: Path | None = None,
              payload: dict[str, Any] | alphavantage.Answer | csvbars.CsvBars | Exception | None = None,
              extended_hours: bool = False, datatype: str = "json") -> dict[str, Any]:
    """fetch → load_raw → deduplicate → aggregate_daily → export, recorded in ``etl.runs`` (a :class:`Run`).

    ``payload``: an answer already fetched (a payload — checked like a fetched one —, an
    undecoded :class:`~.alphavantage.Answer`, or a checked :class:`~.csvbars.CsvBars`), or the error
    fetching it raised (see :func:`backfill`). ``datatype="csv"``: fetch the CSV answer and load it
    column-wise with Arrow (:mod:`.csvbars`, the faster path; same checks, same rows).
    ``extended_hours``: fetch (and keep, raw and clean) the pre- and post-market bars too; the
    daily product is the regular session's either way.

    Bars of another month in the answer (an overlap with the month before) are deduplicated and
    aggregated in their own month too: the latest load of a bar wins, whichever month brought it.
    Any exception — even a ``KeyboardInterrupt`` — rolls the work back and records the run as
    ``failed``; a process killed outright leaves it ``running`` until the next run marks it ``abandoned``."""
    engine = engine or db.get_engine()
    client = client or alphavantage.client()
    run = Run.begin(symbol, month, interval, extended_hours=extended_hours, client=client, engine=engine)
    try:
        if isinstance(payload, BaseException):
            raise payload
        if payload is None:
            payload = fetch(client, symbol, month, interval, extended_hours=extended_hours, datatype=datatype)
        elif isinstance(payload, alphavantage.Answer):
            payload = decode(payload)
        elif not isinstance(payload, csvbars.CsvBars):
            payload = alphavantage.validate(payload, symbol, interval)
        raw = load_raw(run.conn, payload, run.run_id)
        for each in months_of(payload, month):
            dedup = deduplicate(run.conn, symbol, each, interval)
            days = aggregate_daily(run.conn, symbol, each, interval)
            if each == month:
                outcome = {**dedup, "daily_rows": days}
        counts = run.succeed()
    except BaseException as exc:
        run.fail(exc)
        raise
    files = export(symbol, month, export_to, engine)
    return {"run_id": run.run_id, "raw_rows": raw, **outcome, "duplicates": counts["duplicates"],
            "missing_bars": counts["gaps"], "files": files}


def backfill(symbols: list[str], months: list[str], interval: str = "5min", *,
             client: alphavantage.Client | None = None, engine: sa.Engine | None = None,
             export_to: Path | None = None, progress: bool = True, extended_hours: bool = False,
             datatype: str = "json") -> pd.DataFrame:
    """Run every symbol and month (in the order given: any order gives the same product),
    fetching the next month while the current one loads. A month that fails is logged in
    ``etl.runs`` and the backfill goes on; re-running it later recovers it."""
    from tqdm.auto import tqdm

    client = client or alphavantage.client()
    jobs = [(s, m) for s in symbols for m in months]
    results = []
    fetched = fetch_ahead(client, jobs, interval, extended_hours=extended_hours, datatype=datatype)
    for (symbol, month), payload in tqdm(fetched, total=len(jobs), desc="months", disable=not progress):
        try:
            outcome = run_month(symbol, month, interval, client=client, engine=engine,
                                export_to=export_to, payload=payload, extended_hours=extended_hours)
            results.append({"symbol": symbol, "month": month, "status": "succeeded",
                            "daily_rows": outcome["daily_rows"], "error": ""})
        except alphavantage.AlphaVantageError as exc:
            results.append({"symbol": symbol, "month": month, "status": "failed", "daily_rows": 0,
                            "error": str(exc)})
    return pd.DataFrame(results)


def fetch_ahead(client: alphavantage.Client, jobs: list[tuple[str, str]], interval: str = "5min", *,
                extended_hours: bool = False, datatype: str = "json"):
    """Yield ``((symbol, month), answer)`` for each job, downloading the next one in a thread
    while the caller loads the current one. The answer is an :class:`~.alphavantage.Answer`:
    the caller parses it (:func:`decode`; :func:`run_month` does) — a parse in the thread would
    hold Python's GIL and stall the COPY that feeds the database. A CSV answer is the exception:
    Arrow parses and checks it (:mod:`.csvbars`) mostly without the GIL, so the thread does, and
    yields a :class:`~.csvbars.CsvBars`. A failed fetch (or a refused CSV answer) is yielded as its
    exception, for the caller to record."""
    def attempt(symbol, month):
        try:
            answer = client.intraday(symbol, month, interval, extended_hours=extended_hours, datatype=datatype,
                                     decode=False)
            csv = isinstance(answer, alphavantage.Answer) and answer.datatype == "csv"
            return csvbars.parse(answer) if csv else answer
        except alphavantage.AlphaVantageError as exc:
            return exc

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetch-ahead") as pool:
        pending = pool.submit(attempt, *jobs[0]) if jobs else None
        for i, job in enumerate(jobs):
            current = pending
            pending = pool.submit(attempt, *jobs[i + 1]) if i + 1 < len(jobs) else None
            yield job, current.result()


def run_log(engine: sa.Engine | None = None) -> pd.DataFrame:
    """The runs, without their wall-clock times (those differ every run)."""
    return db.read_frame("SELECT run_id, symbol, month, interval, status, api_calls, raw_rows, duplicates, "
                         "daily_rows, gaps, error FROM etl.runs ORDER BY run_id", engine=engine)
