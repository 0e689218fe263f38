"""A small copy of the feed for the ETL lesson's exercises: three tables in schema ``public``
(as 00_start_here's ``start_here_prices``), which the ``learner`` role reads and a check's fixture
shadows with rows of its own.

* ``etl_bars`` — one symbol's bars of the month's last sessions **with extended hours** (04:00 to
  20:00 New York time): the pre- and post-market bars a daily aggregation must leave out;
* ``etl_sessions`` — those sessions' regular open and close (NYSE calendar: 13:00 on a half day);
* ``etl_raw_bars`` — the same bars as two loads would leave them in a raw table: every bar of the
  first load, then a re-fetch of the last session's afternoon, its closing bar corrected, each
  row with its ``ingested_at``.

Rebuilt from the stand-in (or the live API) on every call: the same parameters give the same rows.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from .. import db
from . import alphavantage
from .load import fetch
from .sessions import TZ, sessions

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS etl_bars (
    symbol text NOT NULL, bar_time timestamptz NOT NULL, open numeric(18,4) NOT NULL,
    high numeric(18,4) NOT NULL, low numeric(18,4) NOT NULL, close numeric(18,4) NOT NULL,
    volume bigint NOT NULL, PRIMARY KEY (symbol, bar_time));
CREATE TABLE IF NOT EXISTS etl_sessions (
    session date PRIMARY KEY, open timestamptz NOT NULL, close timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS etl_raw_bars (
    symbol text NOT NULL, bar_time timestamptz NOT NULL, open numeric(18,4) NOT NULL,
    high numeric(18,4) NOT NULL, low numeric(18,4) NOT NULL, close numeric(18,4) NOT NULL,
    volume bigint NOT NULL, ingested_at timestamptz NOT NULL);
"""


def load(
    client: alphavantage.Client,
    symbol: str,
    month: str,
    interval: str = "5min",
    *,
    last: int = 3,
    engine: sa.Engine | None = None,
) -> pd.Series:
    """Fill the three tables with ``symbol``'s last ``last`` sessions of ``month``; their row counts."""
    engine = engine or db.get_engine()
    payload = fetch(client, symbol, month, interval, extended_hours=True)
    if not isinstance(payload, dict):  # fetch answers JSON unless asked for CSV
        raise TypeError(f"expected the JSON payload, got {type(payload).__name__}")
    days = sessions(month).tail(last)
    series = payload[f"Time Series ({interval})"]
    wanted = {day.isoformat() for day in days["session"]}
    bars = pd.DataFrame(
        [
            (t, *(float(bar[key]) for key in alphavantage.PRICES), int(bar["5. volume"]))
            for t, bar in series.items()
            if t[:10] in wanted
        ],
        columns=["bar_time", "open", "high", "low", "close", "volume"],
    )
    bars["bar_time"] = pd.to_datetime(bars["bar_time"]).dt.tz_localize(TZ)  # vectorised: one zone lookup
    bars = bars.assign(symbol=symbol)[["symbol", "bar_time", "open", "high", "low", "close", "volume"]]
    bars = bars.sort_values("bar_time", ignore_index=True)
    first = pd.Timestamp(days["session"].iloc[-1], tz=TZ) + pd.Timedelta(hours=20, minutes=30)  # after the last bar
    refetched = bars[bars["bar_time"] >= pd.Timestamp(days["session"].iloc[-1], tz=TZ) + pd.Timedelta(hours=12)]
    refetched = refetched.assign(ingested_at=first + pd.Timedelta(days=1))
    closing = refetched["bar_time"] == pd.Timestamp(days["close"].iloc[-1])
    refetched.loc[closing, "close"] = (refetched.loc[closing, "close"] * 0.99).round(4)  # a corrected print
    refetched.loc[closing, "low"] = refetched.loc[closing, ["low", "close"]].min(axis=1)
    raw = pd.concat([bars.assign(ingested_at=first), refetched], ignore_index=True)
    frame = pd.DataFrame({"session": days["session"], "open": days["open"], "close": days["close"]})
    with engine.begin() as conn:
        conn.exec_driver_sql(SCHEMA_SQL)
        conn.exec_driver_sql("TRUNCATE etl_bars, etl_sessions, etl_raw_bars")
        for table, rows in (("etl_bars", bars), ("etl_sessions", frame), ("etl_raw_bars", raw)):
            db.copy_dataframe(rows, table, connection=conn)
    return pd.Series({"etl_bars": len(bars), "etl_sessions": len(frame), "etl_raw_bars": len(raw)}, name="rows")
