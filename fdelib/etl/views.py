"""What a lesson shows of the ETL: samples, before/after dedup, the month on a chart."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pandas as pd
import sqlalchemy as sa

from .. import db
from .pipeline import daily
from .sessions import TZ, month_window


def payload_sample(payload: dict, bars: int = 2) -> str:
    """The payload's head as the API sends it: Meta Data and the newest bars."""
    key = next(k for k in payload if k.startswith("Time Series"))
    head = dict(list(payload[key].items())[:bars])
    return json.dumps({"Meta Data": payload["Meta Data"], key: head}, indent=2)


def raw_sample(symbol: str, rows: int = 5, engine: sa.Engine | None = None) -> pd.DataFrame:
    """The first raw rows of ``symbol`` (ingestion time shown relative to the first load)."""
    return db.read_frame("""
        SELECT bar_time AT TIME ZONE :tz AS bar_time_et, open, high, low, close, volume, run_id,
               dense_rank() OVER (ORDER BY ingested_at) AS load_no
        FROM etl.raw_intraday WHERE symbol = :s ORDER BY bar_time, ingested_at LIMIT :n""",
                         {"tz": TZ, "s": symbol, "n": rows}, engine=engine)


def versions(symbol: str, month: str, engine: sa.Engine | None = None) -> pd.DataFrame:
    """Bars that arrived more than once with different values, each version, and which one won."""
    start, end = month_window(month)
    return db.read_frame("""
        WITH multi AS (SELECT bar_time FROM etl.raw_intraday WHERE symbol = :s
                         AND bar_time >= :start AND bar_time < :end
                       GROUP BY bar_time HAVING count(DISTINCT close) > 1)
        SELECT r.bar_time AT TIME ZONE :tz AS bar_time_et, r.close, r.run_id,
               (r.close = i.close AND r.ingested_at = i.ingested_at) AS kept
        FROM etl.raw_intraday r JOIN multi USING (bar_time)
        JOIN etl.intraday i ON i.symbol = r.symbol AND i.interval = r.interval AND i.bar_time = r.bar_time
        WHERE r.symbol = :s ORDER BY r.bar_time, r.run_id""",
                         {"s": symbol, "start": start, "end": end, "tz": TZ}, engine=engine)


def counts(symbol: str, month: str, engine: sa.Engine | None = None) -> pd.Series:
    """Rows per stage for the month: raw (every ingestion), clean (one per bar), daily."""
    start, end = month_window(month)
    params = {"s": symbol, "start": start, "end": end, "d0": start.date(), "d1": end.date()}
    row = db.read_frame("""
        SELECT (SELECT count(*) FROM etl.raw_intraday WHERE symbol = :s AND bar_time >= :start AND bar_time < :end) AS raw,
               (SELECT count(*) FROM etl.intraday WHERE symbol = :s AND bar_time >= :start AND bar_time < :end) AS clean,
               (SELECT count(*) FROM etl.daily WHERE symbol = :s AND session >= :d0 AND session < :d1) AS daily
        """, params, engine=engine).iloc[0]
    return row.astype(int).rename(f"{symbol} {month}")


def plot_month(symbol: str, month: str, engine: sa.Engine | None = None) -> None:
    """Intraday closes (thin line) under the daily candles built from them."""
    start, end = month_window(month)
    bars = db.read_frame("SELECT bar_time AT TIME ZONE :tz AS t, close FROM etl.intraday WHERE symbol = :s "
                         "AND bar_time >= :start AND bar_time < :end ORDER BY bar_time",
                         {"tz": TZ, "s": symbol, "start": start, "end": end}, engine=engine)
    days = daily(symbol, month, engine)
    fig, ax = plt.subplots(figsize=(10, 3.6))
    # one x position per session, intraday bars spread across it
    position = {d: i for i, d in enumerate(days["session"])}
    bars["session"] = bars["t"].dt.date
    bars["x"] = bars["session"].map(position) + bars.groupby("session").cumcount() / \
        bars.groupby("session")["close"].transform("size") - 0.5
    ax.plot(bars["x"], bars["close"], color="#9fc5e8", linewidth=0.8, label="intraday close")
    for i, day in enumerate(days.itertuples()):
        color = "#6aa84f" if day.close >= day.open else "#cc0000"
        ax.vlines(i, day.low, day.high, color=color, linewidth=1)
        ax.add_patch(plt.Rectangle((i - 0.3, min(day.open, day.close)), 0.6, abs(day.close - day.open) or 0.01,
                                   color=color, alpha=0.7))
    ax.set_xticks(range(len(days)), [d.strftime("%d") for d in days["session"]], fontsize=8)
    ax.set_xlabel(f"NYSE sessions of {month}")
    ax.set_ylabel("price")
    ax.set_title(f"{symbol}: intraday bars and the daily candles aggregated from them")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    plt.show()


def explorer(symbols: list[str], month: str, symbol: str | None = None):
    """A dropdown of the loaded symbols, redrawing the month's chart."""
    import ipywidgets as widgets

    choice = widgets.Dropdown(options=symbols, value=symbol or symbols[0], description="symbol")
    out = widgets.Output()

    def draw(change=None):
        with out:
            out.clear_output(wait=True)
            plot_month(choice.value, month)

    choice.observe(draw, names="value")
    return widgets.VBox([choice, out])
