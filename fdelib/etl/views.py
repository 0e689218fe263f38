"""What a lesson shows of the ETL: samples, before/after dedup, the month on a chart."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import sqlalchemy as sa

from .. import db
from ..errors import attempt  # noqa: F401  (the lessons' `views.attempt`: one home, fdelib.errors)
from .product import daily
from .sessions import TZ, month_window


def session_close(payload: dict, day: str | None = None, bars: int = 3) -> pd.DataFrame:
    """The last ``bars`` bars of one session of a payload (default: its first session), with each
    bar's share of the session's volume — the bar at the close is the closing auction's."""
    key = next(k for k in payload if k.startswith("Time Series"))
    series = payload[key]
    day = day or min(series)[:10]
    frame = pd.DataFrame(
        [
            {
                "bar": t[11:16],
                "open": float(b["1. open"]),
                "high": float(b["2. high"]),
                "low": float(b["3. low"]),
                "close": float(b["4. close"]),
                "volume": int(b["5. volume"]),
            }
            for t, b in sorted(series.items())
            if t.startswith(day)
        ]
    )
    frame["share of the day's volume"] = (frame["volume"] / frame["volume"].sum()).map("{:.1%}".format)
    return frame.tail(bars).reset_index(drop=True).rename_axis(day)


def digest(files: dict[str, Path]) -> str:
    """A short fingerprint of exported files' bytes (equal digests: identical files)."""
    content = b"".join(Path(files[kind]).read_bytes() for kind in sorted(files))
    return hashlib.sha256(content).hexdigest()[:12]


def payload_sample(payload: dict, bars: int = 2) -> str:
    """The payload's head as the API sends it: Meta Data and the newest bars."""
    key = next(k for k in payload if k.startswith("Time Series"))
    head = dict(list(payload[key].items())[:bars])
    return json.dumps({"Meta Data": payload["Meta Data"], key: head}, indent=2)


def raw_sample(
    symbol: str, rows: int = 5, engine: sa.Engine | None = None, *, connection: sa.Connection | None = None
) -> pd.DataFrame:
    """The first raw rows of ``symbol`` (ingestion time shown relative to the first load);
    ``connection``: as a run's open transaction sees them."""
    return db.read_frame(
        """
        SELECT bar_time AT TIME ZONE :tz AS bar_time_et, open, high, low, close, volume, run_id,
               dense_rank() OVER (ORDER BY ingested_at) AS load_no
        FROM etl.raw_intraday WHERE symbol = :s ORDER BY bar_time, ingested_at LIMIT :n""",
        {"tz": TZ, "s": symbol, "n": rows},
        engine=engine,
        connection=connection,
    )


def versions(symbol: str, month: str, interval: str, engine: sa.Engine | None = None) -> pd.DataFrame:
    """Bars of ``interval`` that arrived more than once with different values, each version, and
    which one won."""
    start, end = month_window(month)
    return db.read_frame(
        """
        WITH multi AS (SELECT bar_time FROM etl.raw_intraday WHERE symbol = :s AND interval = :i
                         AND bar_time >= :start AND bar_time < :end
                       GROUP BY bar_time HAVING count(DISTINCT (open, high, low, close, volume)) > 1)
        SELECT r.bar_time AT TIME ZONE :tz AS bar_time_et, r.close, r.run_id,
               (r.open, r.high, r.low, r.close, r.volume, r.ingested_at)
                 = (i.open, i.high, i.low, i.close, i.volume, i.ingested_at) AS kept
        FROM etl.raw_intraday r JOIN multi USING (bar_time)
        JOIN etl.intraday i ON i.symbol = r.symbol AND i.interval = r.interval AND i.bar_time = r.bar_time
        WHERE r.symbol = :s AND r.interval = :i ORDER BY r.bar_time, r.run_id""",
        {"s": symbol, "i": interval, "start": start, "end": end, "tz": TZ},
        engine=engine,
    )


def counts(symbol: str, month: str, interval: str | None = None, engine: sa.Engine | None = None) -> pd.Series:
    """Rows per stage for the month: raw (every ingestion), clean (one per bar), daily; the
    intraday ones of ``interval`` if given."""
    start, end = month_window(month)
    params = {"s": symbol, "i": interval, "start": start, "end": end, "d0": start.date(), "d1": end.date()}
    bars = "symbol = :s AND (CAST(:i AS text) IS NULL OR interval = :i) AND bar_time >= :start AND bar_time < :end"
    row = db.read_frame(
        f"""
        SELECT (SELECT count(*) FROM etl.raw_intraday WHERE {bars}) AS raw,
               (SELECT count(*) FROM etl.intraday WHERE {bars}) AS clean,
               (SELECT count(*) FROM etl.daily WHERE symbol = :s AND session >= :d0 AND session < :d1) AS daily
        """,
        params,
        engine=engine,
    ).iloc[0]
    return row.astype(int).rename(f"{symbol} {month}")


def dedup_effect(symbol: str, month: str, interval: str, engine: sa.Engine | None = None) -> pd.DataFrame:
    """Sessions whose raw bars hold duplicates: bars and volume counted from the raw table (what
    aggregating before deduplication would give) and from the clean one (what the product uses)."""
    start, end = month_window(month)
    return db.read_frame(
        """
        WITH raw AS (SELECT (bar_time AT TIME ZONE :tz)::date AS session, count(*) AS raw_bars,
                            CAST(sum(volume) AS bigint) AS raw_volume
                     FROM etl.raw_intraday WHERE symbol = :s AND interval = :i
                       AND bar_time >= :start AND bar_time < :end GROUP BY 1),
             clean AS (SELECT (bar_time AT TIME ZONE :tz)::date AS session, count(*) AS clean_bars,
                              CAST(sum(volume) AS bigint) AS clean_volume
                       FROM etl.intraday WHERE symbol = :s AND interval = :i
                         AND bar_time >= :start AND bar_time < :end GROUP BY 1)
        SELECT session, raw_bars, clean_bars, raw_volume, clean_volume
        FROM raw JOIN clean USING (session) WHERE raw_bars > clean_bars ORDER BY session""",
        {"tz": TZ, "s": symbol, "i": interval, "start": start, "end": end},
        engine=engine,
    )


def month_figure(symbol: str, month: str, interval: str | None = None, engine: sa.Engine | None = None):
    """Intraday closes (thin line) under the daily candles built from them: a matplotlib Figure.
    ``interval``: the intraday bars shown (default: those the daily product was built from)."""
    start, end = month_window(month)
    days = daily(symbol, month, engine)
    bars = db.read_frame(
        """
        SELECT bar_time AT TIME ZONE :tz AS t, close FROM etl.intraday
        WHERE symbol = :s AND bar_time >= :start AND bar_time < :end
          AND interval = coalesce(CAST(:i AS text), (SELECT interval FROM etl.daily WHERE symbol = :s
                                                      AND session >= :d0 AND session < :d1 LIMIT 1))
        ORDER BY bar_time""",
        {"tz": TZ, "s": symbol, "i": interval, "start": start, "end": end, "d0": start.date(), "d1": end.date()},
        engine=engine,
    )
    fig, ax = plt.subplots(figsize=(10, 3.6))
    # one x position per session, intraday bars spread across it
    position = {d: i for i, d in enumerate(days["session"])}
    bars["session"] = bars["t"].dt.date
    bars = bars[bars["session"].isin(position)].copy()
    bars["x"] = (
        bars["session"].map(position)
        + bars.groupby("session").cumcount() / bars.groupby("session")["close"].transform("size")
        - 0.5
    )
    ax.plot(bars["x"], bars["close"], color="#9fc5e8", linewidth=0.8, label="intraday close")
    for i, day in enumerate(days.itertuples()):
        color = "#6aa84f" if day.close >= day.open else "#cc0000"
        ax.vlines(i, day.low, day.high, color=color, linewidth=1)
        ax.add_patch(
            plt.Rectangle(
                (i - 0.3, min(day.open, day.close)), 0.6, abs(day.close - day.open) or 0.01, color=color, alpha=0.7
            )
        )
    ax.set_xticks(range(len(days)), [d.strftime("%d") for d in days["session"]], fontsize=8)
    ax.set_xlabel(f"NYSE sessions of {month}")
    ax.set_ylabel("price")
    ax.set_title(f"{symbol}: intraday bars and the daily candles aggregated from them")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_month(symbol: str, month: str, interval: str | None = None, engine: sa.Engine | None = None) -> None:
    """Show :func:`month_figure` (in a notebook: the cell's output)."""
    month_figure(symbol, month, interval, engine)
    plt.show()


def _figure_output(fig, label: str) -> dict:
    """A figure as an output of an ipywidgets ``Output`` (PNG), closed (nothing else shows it)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return {
        "output_type": "display_data",
        "metadata": {},
        "data": {"image/png": base64.b64encode(buffer.getvalue()).decode(), "text/plain": label},
    }


def explorer(symbols: list[str], month: str, symbol: str | None = None, engine: sa.Engine | None = None):
    """A dropdown of the loaded symbols over the month's chart, drawn for the current choice from
    the start and redrawn on every change. ``symbol`` (the one it starts on) is offered even when
    ``symbols`` lacks it: the lesson loads it first, then the others.

    The chart goes into the widget's state, not into the cell's output: a headless run (nbval,
    papermill) stores the same short text for the cell however the chart looks."""
    import ipywidgets as widgets

    class Explorer(widgets.VBox):
        def __repr__(self) -> str:  # the cell's text output: stable, no widget internals
            return f"explorer of {month}: {', '.join(symbols)} (showing {choice.value})"

    symbols = list(symbols) + ([symbol] if symbol and symbol not in symbols else [])  # the one it starts on too
    choice = widgets.Dropdown(options=symbols, value=symbol or symbols[0], description="symbol")
    out = widgets.Output()

    def draw(change=None):
        figure = month_figure(choice.value, month, engine=engine)
        out.outputs = (_figure_output(figure, f"{choice.value} {month}: intraday bars and daily candles"),)

    choice.observe(draw, names="value")
    draw()
    return Explorer([choice, out])
