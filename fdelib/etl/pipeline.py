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
import io
import os
from zoneinfo import ZoneInfo
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from .. import db
from ..config import get_settings
from . import alphavantage
from .sessions import TZ, bar_times, month_window

SCHEMA_SQL = Path(__file__).with_name("schema.sql")
RAW_COLUMNS = "symbol, interval, bar_time, open, high, low, close, volume, run_id"


def setup(engine: sa.Engine | None = None) -> None:
    db.run_sql_file(SCHEMA_SQL, engine or db.get_engine())


def reset(engine: sa.Engine | None = None) -> None:
    """Empty every ETL table (a lesson's fresh start)."""
    engine = engine or db.get_engine()
    setup(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE etl.raw_intraday, etl.intraday, etl.daily, etl.runs RESTART IDENTITY")


# --- step 1: fetch --------------------------------------------------------------------------

def fetch(client: alphavantage.Client, symbol: str, month: str, interval: str = "5min") -> dict[str, Any]:
    """The month's intraday payload, validated (raises on an error or malformed answer)."""
    return client.intraday(symbol, month, interval)


# --- step 2: load raw -----------------------------------------------------------------------

def render_raw(payload: dict[str, Any], run_id: int) -> tuple[str, int]:
    """The payload's bars as COPY CSV text, straight from the JSON strings (no DataFrame)."""
    meta = payload["Meta Data"]
    symbol, interval = meta["2. Symbol"], meta["4. Interval"]
    prefix = f"{symbol},{interval},"
    suffix = f",{run_id}\n"
    series = payload[f"Time Series ({interval})"]
    # New York's UTC offset per day (DST changes it): PostgreSQL parses "-05" much faster
    # than a zone name on every row
    offsets = {day: _offset(day) for day in {stamp[:10] for stamp in series}}
    lines = [prefix + stamp + offsets[stamp[:10]] + "," + bar["1. open"] + "," + bar["2. high"] + ","
             + bar["3. low"] + "," + bar["4. close"] + "," + bar["5. volume"] + suffix
             for stamp, bar in series.items()]
    return "".join(lines), len(lines)


def _offset(day: str) -> str:
    noon = dt.datetime.fromisoformat(day + " 12:00").replace(tzinfo=ZoneInfo(TZ))
    minutes = int(noon.utcoffset().total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def load_raw(conn: sa.Connection, payload: dict[str, Any], run_id: int) -> int:
    """Append the payload's bars to ``etl.raw_intraday`` with COPY; returns the row count."""
    text, rows = render_raw(payload, run_id)
    with conn.connection.dbapi_connection.cursor() as cur:
        cur.copy_expert(f"COPY etl.raw_intraday ({RAW_COLUMNS}) FROM STDIN WITH (FORMAT csv)",
                        io.StringIO(text), size=1 << 20)   # big chunks: fewer trips through Python
    return rows


# --- step 3: deduplicate ----------------------------------------------------------------------

def deduplicate(conn: sa.Connection, symbol: str, month: str, interval: str) -> dict[str, int]:
    """Rebuild the month's clean bars: one per bar time, from its latest ingestion."""
    start, end = month_window(month)
    window = {"s": symbol, "i": interval, "start": start, "end": end}
    conn.execute(sa.text("DELETE FROM etl.intraday WHERE symbol = :s AND interval = :i "
                         "AND bar_time >= :start AND bar_time < :end"), window)
    clean = conn.execute(sa.text("""
        INSERT INTO etl.intraday
        SELECT DISTINCT ON (bar_time) symbol, interval, bar_time, open, high, low, close, volume, ingested_at
        FROM etl.raw_intraday
        WHERE symbol = :s AND interval = :i AND bar_time >= :start AND bar_time < :end
        ORDER BY bar_time, ingested_at DESC, run_id DESC"""), window).rowcount
    raw = conn.execute(sa.text("SELECT count(*) FROM etl.raw_intraday WHERE symbol = :s AND interval = :i "
                               "AND bar_time >= :start AND bar_time < :end"), window).scalar_one()
    return {"raw": int(raw), "clean": int(clean), "superseded": int(raw - clean)}


# --- step 4: aggregate --------------------------------------------------------------------------

DAILY_SQL = """
    INSERT INTO etl.daily (symbol, session, open, high, low, close, volume, bars, interval)
    SELECT symbol, (bar_time AT TIME ZONE :tz)::date,
           (array_agg(open ORDER BY bar_time))[1], max(high), min(low),
           (array_agg(close ORDER BY bar_time DESC))[1], sum(volume), count(*), :i
    FROM etl.intraday
    WHERE symbol = :s AND interval = :i AND bar_time >= :start AND bar_time < :end
    GROUP BY symbol, (bar_time AT TIME ZONE :tz)::date
"""


def aggregate_daily(conn: sa.Connection, symbol: str, month: str, interval: str) -> int:
    """Replace the month's daily OHLCV of ``symbol`` from its clean bars (SQL only)."""
    start, end = month_window(month)
    window = {"s": symbol, "i": interval, "start": start, "end": end, "tz": TZ}
    conn.execute(sa.text("DELETE FROM etl.daily WHERE symbol = :s AND session >= :d0 AND session < :d1"),
                 {"s": symbol, "d0": start.date(), "d1": end.date()})
    return conn.execute(sa.text(DAILY_SQL), window).rowcount


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
              payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """fetch → load_raw → deduplicate → aggregate_daily → export, recorded in ``etl.runs``.

    ``payload``: an answer already fetched, or the error fetching it raised (see :func:`backfill`)."""
    engine = engine or db.get_engine()
    client = client or alphavantage.client()
    setup(engine)
    with engine.begin() as conn:
        run_id = conn.execute(sa.text("INSERT INTO etl.runs (symbol, month, interval, status) "
                                      "VALUES (:s, :m, :i, 'running') RETURNING run_id"),
                              {"s": symbol, "m": month, "i": interval}).scalar_one()
    calls = client.calls
    try:
        if isinstance(payload, Exception):
            raise payload
        if payload is None:
            payload = fetch(client, symbol, month, interval)
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
             export_to: Path | None = None, progress: bool = True) -> pd.DataFrame:
    """Run every symbol and month (in the order given: any order gives the same product),
    fetching the next month while the current one loads. A month that fails is logged in
    ``etl.runs`` and the backfill goes on; re-running it later recovers it."""
    from tqdm.auto import tqdm

    client = client or alphavantage.client()
    jobs = [(s, m) for s in symbols for m in months]
    results = []
    fetched = fetch_ahead(client, jobs, interval)
    for (symbol, month), payload in tqdm(fetched, total=len(jobs), desc="months", disable=not progress):
        try:
            outcome = run_month(symbol, month, interval, client=client, engine=engine,
                                export_to=export_to, payload=payload)
            results.append({"symbol": symbol, "month": month, "status": "succeeded",
                            "daily_rows": outcome["daily_rows"], "error": ""})
        except alphavantage.AlphaVantageError as exc:
            results.append({"symbol": symbol, "month": month, "status": "failed", "daily_rows": 0,
                            "error": str(exc)})
    return pd.DataFrame(results)


def fetch_ahead(client: alphavantage.Client, jobs: list[tuple[str, str]], interval: str = "5min"):
    """Yield ``((symbol, month), payload)`` for each job, fetching the next one in a thread
    while the caller loads the current one (the database parses a COPY while Python parses
    the next JSON). A failed fetch is yielded as its exception, for the caller to record."""
    def attempt(symbol, month):
        try:
            return fetch(client, symbol, month, interval)
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
