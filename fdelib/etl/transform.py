"""Transform: raw bars → clean bars → the daily OHLCV, in SQL, in the caller's transaction.

* :func:`deduplicate` — rebuild a month's clean bars (``etl.intraday``): one per bar time, its
  latest ingestion, from every load that holds bars of the month;
* :func:`aggregate_daily` — replace the month's daily product (``etl.daily``) from the clean
  bars: one row per NYSE session, from the bars of its regular session — every bar that overlaps
  ``[open, close)`` and the bar that starts at the close, which holds the closing auction;
* :func:`gaps` — the bars the calendar expects that the clean table lacks; :func:`duplicates` —
  how many of one run's raw rows were duplicates.

Deduplication comes *before* aggregation (the book lists it after): a duplicated bar aggregated
first would already have doubled the day's volume.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from .. import db
from .sessions import TZ, bar_times, month_window, session_bounds, step

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
    conn.execute(
        sa.text(
            "DELETE FROM etl.intraday WHERE symbol = :s AND interval = :i AND bar_time >= :start AND bar_time < :end"
        ),
        window,
    )
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


DAILY_SQL = """
    INSERT INTO etl.daily (symbol, session, open, high, low, close, volume, bars, interval)
    SELECT :s, s.session,
           (array_agg(b.open ORDER BY b.bar_time))[1], max(b.high), min(b.low),
           (array_agg(b.close ORDER BY b.bar_time DESC))[1], sum(b.volume), count(*), :i
    FROM etl.intraday b
    JOIN unnest(CAST(:sessions AS date[]), CAST(:opens AS timestamptz[]), CAST(:closes AS timestamptz[]))
         AS s(session, open, close) ON s.session = (b.bar_time AT TIME ZONE :tz)::date
    WHERE b.symbol = :s AND b.interval = :i AND b.bar_time >= :start AND b.bar_time < :end
      AND b.bar_time > s.open - CAST(:step AS interval)     -- bars overlapping the session [open, close),
      AND b.bar_time <= s.close                               -- and the closing auction's bar at the close
    GROUP BY s.session
"""


def aggregate_daily(conn: sa.Connection, symbol: str, month: str, interval: str) -> int:
    """Replace the month's daily OHLCV of ``symbol`` from its clean bars (SQL only): one row per
    NYSE session, from every bar that overlaps its regular hours ``[open, close)`` and the bar
    that starts at the close (16:00, 13:00 on a half day: the closing auction's print, the official
    close) — open from the first, close from the last, high, low and volume over all; pre- and
    post-market bars are left out. From a regular-hours answer this is the official daily bar
    (``TIME_SERIES_DAILY``; :func:`.product.reconcile` checks it).

    Overlapping, not starting inside: Alpha Vantage's bars are clock-aligned (see
    :mod:`.sessions`), so a 60-minute session runs 09:00 … 15:00, 16:00 and its 09:00 bar holds the
    opening half hour. The product is then the same from any interval of regular-hours bars. An
    extended-hours answer's bar at the close also holds the first minutes of post-market trading,
    and its 60-minute 09:00 bar 09:00–09:30 of pre-market trading (no bar can split them): that
    product's close is a post-market price — fetch without extended hours (the default) for the
    exact session."""
    start, end = month_window(month)
    sessions, opens, closes = session_bounds(month)
    conn.execute(
        sa.text("DELETE FROM etl.daily WHERE symbol = :s AND session >= :d0 AND session < :d1"),
        {"s": symbol, "d0": start.date(), "d1": end.date()},
    )
    if not sessions:
        return 0
    return conn.execute(
        sa.text(DAILY_SQL),
        {
            "s": symbol,
            "i": interval,
            "start": start,
            "end": end,
            "tz": TZ,
            "step": f"{int(step(interval).total_seconds() // 60)} minutes",
            "sessions": sessions,
            "opens": opens,
            "closes": closes,
        },
    ).rowcount


def gaps(
    symbol: str, month: str, interval: str, engine: sa.Engine | None = None, *, connection: sa.Connection | None = None
) -> pd.DataFrame:
    """Bars the NYSE calendar expects but the clean table lacks, as ranges per session: every
    clock-aligned bar that overlaps a regular session, and its bar at the close
    (:func:`.sessions.bar_times`)."""
    start, end = month_window(month)
    have = db.read_frame(
        "SELECT bar_time AT TIME ZONE :tz AS t FROM etl.intraday WHERE symbol = :s "
        "AND interval = :i AND bar_time >= :start AND bar_time < :end",
        {"tz": TZ, "s": symbol, "i": interval, "start": start, "end": end},
        engine=engine,
        connection=connection,
    )
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
