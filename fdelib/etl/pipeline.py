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

Deduplication comes *before* aggregation (the book lists it after): a duplicated bar
aggregated first would already have doubled the day's volume.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from zoneinfo import ZoneInfo
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg2
import sqlalchemy as sa

from .. import db
from ..config import get_settings
from . import alphavantage
from .alphavantage import MalformedPayload
from .sessions import TZ, bar_times, month_window, session_bounds

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
    """Record a run and its parameters in ``etl.runs`` (status ``running``); its ``run_id``."""
    return conn.execute(sa.text("INSERT INTO etl.runs (symbol, month, interval, extended_hours, status) "
                                "VALUES (:s, :m, :i, :x, 'running') RETURNING run_id"),
                        {"s": symbol, "m": month, "i": interval, "x": extended_hours}).scalar_one()


# --- step 1: fetch --------------------------------------------------------------------------

def fetch(client: alphavantage.Client, symbol: str, month: str, interval: str = "5min", *,
          extended_hours: bool = False) -> dict[str, Any]:
    """The month's intraday payload, validated (raises on an error or malformed answer)."""
    return client.intraday(symbol, month, interval, extended_hours=extended_hours)


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
            self.offsets = {day: _offset(day) for day in {stamp[:10] for stamp in self.series}}
        except ValueError as exc:
            raise MalformedPayload(f"{self.symbol} {self.interval}: a bar key is not a date ({exc})") from exc
        self.stamps = list(self.series)             # line n of the COPY is bar self.stamps[n - 1]
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
        stamps = self.stamps[self._next:self._next + self.chunk_bars]   # strings: no work for the GC
        if not stamps:
            return ""
        self._next += len(stamps)
        series, offsets = self.series, self.offsets
        prefix, suffix = f"{self.symbol},{self.interval},", f",{self.run_id}\n"
        try:
            text = "".join([f"{prefix}{s}{offsets[s[:10]]},{b['1. open']},{b['2. high']},{b['3. low']},"
                            f"{b['4. close']},{b['5. volume']}{suffix}" for s in stamps for b in (series[s],)])
        except (KeyError, TypeError, AttributeError) as exc:   # fetch validates; a hand-made payload may not
            bad = next((s for s in stamps if not isinstance(series[s], dict)
                        or not set(alphavantage.FIELDS) <= series[s].keys()), "?")
            raise MalformedPayload(f"{self.symbol} {self.interval}: bar {bad} lacks a field ({exc})") from None
        if text.count("\n") != len(stamps) or text.count(",") != 8 * len(stamps):
            bad = next((s for s in stamps if any(c in s + "".join(map(str, series[s].values())) for c in ",\r\n")),
                       "?")
            raise MalformedPayload(f"{self.symbol} {self.interval}: bar {bad} has a comma or a line break "
                                   "in its time or values")
        self.rows += len(stamps)
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


def _offset(day: str) -> str:
    noon = dt.datetime.fromisoformat(day + " 12:00").replace(tzinfo=ZoneInfo(TZ))
    minutes = int(noon.utcoffset().total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


_COPY_LINE = re.compile(r"line (\d+)")


def load_raw(conn: sa.Connection, payload: dict[str, Any], run_id: int) -> int:
    """Append the payload's bars to ``etl.raw_intraday`` with COPY and record, on the run, how
    many and which time range they cover (deduplication finds the loads by it); the row count.

    Runs in the caller's transaction: a value PostgreSQL refuses (not a number, not a time,
    a negative price) raises :class:`MalformedPayload` naming the bar, and the caller's
    rollback leaves nothing behind."""
    rendered = RawCsv(payload, run_id)
    try:
        with conn.connection.dbapi_connection.cursor() as cur:
            cur.copy_expert(COPY_RAW, rendered)
            # summarise the new rows in the BRIN index now (autovacuum would, later)
            cur.execute("SELECT brin_summarize_new_values('etl.raw_intraday_run_idx')")
    except psycopg2.Error as exc:
        if rendered.error is not None:
            raise rendered.error from None
        if not isinstance(exc, (psycopg2.DataError, psycopg2.IntegrityError)):
            raise
        context = getattr(exc.diag, "context", None) or ""
        line = _COPY_LINE.search(context)
        bar = rendered.stamps[int(line.group(1)) - 1] if line and int(line.group(1)) <= len(rendered.stamps) else "?"
        reason = (exc.diag.message_primary or str(exc)).strip()
        raise MalformedPayload(f"{rendered.symbol} {rendered.interval}: bar {bar}: {reason}") from None
    bounds = rendered.bounds()
    conn.execute(sa.text("UPDATE etl.runs SET raw_rows = :n, first_bar = CAST(:first AS timestamptz), "
                         "last_bar = CAST(:last AS timestamptz) WHERE run_id = :id"),
                 {"n": rendered.rows, "first": bounds and bounds[0], "last": bounds and bounds[1], "id": run_id})
    return rendered.rows


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
      AND b.bar_time >= s.open AND b.bar_time < s.close            -- regular hours only
    GROUP BY s.session
"""


def aggregate_daily(conn: sa.Connection, symbol: str, month: str, interval: str) -> int:
    """Replace the month's daily OHLCV of ``symbol`` from its clean bars (SQL only): one row per
    NYSE session, from the bars of its regular hours (pre- and post-market bars are left out)."""
    start, end = month_window(month)
    sessions, opens, closes = session_bounds(month)
    conn.execute(sa.text("DELETE FROM etl.daily WHERE symbol = :s AND session >= :d0 AND session < :d1"),
                 {"s": symbol, "d0": start.date(), "d1": end.date()})
    if not sessions:
        return 0
    return conn.execute(sa.text(DAILY_SQL), {"s": symbol, "i": interval, "start": start, "end": end, "tz": TZ,
                                             "sessions": sessions, "opens": opens, "closes": closes}).rowcount


# --- gaps ---------------------------------------------------------------------------------------

def gaps(symbol: str, month: str, interval: str, engine: sa.Engine | None = None) -> pd.DataFrame:
    """Bars the NYSE calendar expects but the clean table lacks, as ranges per session."""
    start, end = month_window(month)
    have = db.read_frame("SELECT bar_time AT TIME ZONE :tz AS t FROM etl.intraday WHERE symbol = :s "
                         "AND interval = :i AND bar_time >= :start AND bar_time < :end",
                         {"tz": TZ, "s": symbol, "i": interval, "start": start, "end": end}, engine=engine)
    missing = sorted(set(bar_times(month, interval)) - set(pd.to_datetime(have["t"]).dt.to_pydatetime()))
    step = pd.Timedelta(minutes=int(interval.removesuffix("min")))
    ranges: list[dict] = []
    for t in missing:
        if ranges and ranges[-1]["last"] + step == t:
            ranges[-1]["last"] = t
            ranges[-1]["bars"] += 1
        else:
            ranges.append({"symbol": symbol, "session": t.date(), "first": t, "last": t, "bars": 1})
    frame = pd.DataFrame(ranges, columns=["symbol", "session", "first", "last", "bars"])
    frame["first"] = frame["first"].map(lambda t: t.strftime("%H:%M"))
    frame["last"] = frame["last"].map(lambda t: t.strftime("%H:%M"))
    return frame


# --- step 5: export -------------------------------------------------------------------------------

def daily(symbol: str | None = None, month: str | None = None, engine: sa.Engine | None = None) -> pd.DataFrame:
    """The data product, ordered; one symbol and/or month if given."""
    where, params = ["true"], {}
    if symbol:
        where.append("symbol = :s")
        params["s"] = symbol
    if month:
        start, end = month_window(month)
        where.append("session >= :d0 AND session < :d1")
        params.update(d0=start.date(), d1=end.date())
    return db.read_frame(f"SELECT symbol, session, open, high, low, close, volume, bars FROM etl.daily "
                         f"WHERE {' AND '.join(where)} ORDER BY symbol, session", params, engine=engine)


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
              payload: dict[str, Any] | alphavantage.Answer | Exception | None = None,
              extended_hours: bool = False) -> dict[str, Any]:
    """fetch → load_raw → deduplicate → aggregate_daily → export, recorded in ``etl.runs``.

    ``payload``: an answer already fetched (a payload, or an undecoded :class:`~.alphavantage.Answer`),
    or the error fetching it raised (see :func:`backfill`).
    ``extended_hours``: fetch (and keep, raw and clean) the pre- and post-market bars too; the
    daily product is the regular session's either way."""
    engine = engine or db.get_engine()
    client = client or alphavantage.client()
    setup(engine)
    with engine.begin() as conn:
        run_id = start_run(conn, symbol, month, interval, extended_hours)
    calls = client.calls
    try:
        if isinstance(payload, Exception):
            raise payload
        if payload is None:
            payload = fetch(client, symbol, month, interval, extended_hours=extended_hours)
        if isinstance(payload, alphavantage.Answer):
            payload = payload.decode()
        with engine.begin() as conn:     # all or nothing: raw, clean, daily and the run record
            raw = load_raw(conn, payload, run_id)
            dedup = deduplicate(conn, symbol, month, interval)
            days = aggregate_daily(conn, symbol, month, interval)
            conn.execute(sa.text("UPDATE etl.runs SET status = 'succeeded', finished_at = clock_timestamp(), "
                                 "api_calls = :c, raw_rows = :r, duplicates = :d, daily_rows = :n "
                                 "WHERE run_id = :id"),
                         {"c": client.calls - calls, "r": raw, "d": dedup["superseded"], "n": days, "id": run_id})
    except Exception as exc:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE etl.runs SET status = 'failed', finished_at = clock_timestamp(), "
                                 "api_calls = :c, error = :e WHERE run_id = :id"),
                         {"c": client.calls - calls, "e": f"{type(exc).__name__}: {exc}"[:500], "id": run_id})
        raise
    missing = gaps(symbol, month, interval, engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE etl.runs SET gaps = :g WHERE run_id = :id"),
                     {"g": int(missing["bars"].sum()) if len(missing) else 0, "id": run_id})
    files = export(symbol, month, export_to, engine)
    return {"run_id": run_id, "raw_rows": raw, **dedup, "daily_rows": days,
            "missing_bars": int(missing["bars"].sum()) if len(missing) else 0, "files": files}


def backfill(symbols: list[str], months: list[str], interval: str = "5min", *,
             client: alphavantage.Client | None = None, engine: sa.Engine | None = None,
             export_to: Path | None = None, progress: bool = True, extended_hours: bool = False) -> pd.DataFrame:
    """Run every symbol and month (in the order given: any order gives the same product),
    fetching the next month while the current one loads. A month that fails is logged in
    ``etl.runs`` and the backfill goes on; re-running it later recovers it."""
    from tqdm.auto import tqdm

    client = client or alphavantage.client()
    jobs = [(s, m) for s in symbols for m in months]
    results = []
    fetched = fetch_ahead(client, jobs, interval, extended_hours=extended_hours)
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
                extended_hours: bool = False):
    """Yield ``((symbol, month), answer)`` for each job, downloading the next one in a thread
    while the caller loads the current one. The answer is an :class:`~.alphavantage.Answer`:
    the caller parses it (``.decode()``; :func:`run_month` does) — a parse in the thread would
    hold Python's GIL and stall the COPY that feeds the database. A failed fetch is yielded as its
    exception, for the caller to record."""
    def attempt(symbol, month):
        try:
            return client.intraday(symbol, month, interval, extended_hours=extended_hours, decode=False)
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
