"""The data product: the daily table, its exported files, and its reconciliation with the official daily bars.

* :func:`daily` — ``etl.daily``, ordered (one symbol and/or month);
* :func:`export` — the month's product as CSV and Parquet. Each file is written under a name of
  its own in the same folder, flushed to disk, then renamed over the old one (``os.replace`` is
  atomic on one file system): a reader sees the old file or the new one, whole — never half a
  file — and two processes exporting the same month each replace the file with a complete one;
* :func:`reconcile` — the product compared, session by session and field by field, with Alpha
  Vantage's ``TIME_SERIES_DAILY`` (the official daily bars): a :class:`Reconciliation` with a table
  of the differences and a summary. Built from regular-hours bars (the default fetch), the product
  equals the daily series; what differs points at a fault of the intraday feed (a missing window,
  a revised bar) or at a product built from extended-hours or adjusted bars.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from .. import db
from ..config import get_settings
from . import alphavantage
from .sessions import month_window

FIELDS = ("open", "high", "low", "close", "volume")
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def daily(
    symbol: str | None = None,
    month: str | None = None,
    engine: sa.Engine | None = None,
    *,
    connection: sa.Connection | None = None,
) -> pd.DataFrame:
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
    return db.read_frame(
        f"SELECT symbol, session, open, high, low, close, volume, bars FROM etl.daily "
        f"WHERE {' AND '.join(where)} ORDER BY symbol, session",
        params,
        engine=engine,
        connection=connection,
    )


def write_atomically(path: Path, write: Callable[[Path], None]) -> Path:
    """``write(temporary)`` to a uniquely named file beside ``path``, flushed to disk, then renamed
    to ``path`` in one step; the temporary file is removed if anything fails."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    temporary = Path(name)
    try:
        write(temporary)
        os.chmod(temporary, 0o666 & ~_UMASK)  # as an ordinary new file (mkstemp makes it private)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def export_paths(symbol: str, month: str, folder: Path | None = None) -> dict[str, Path]:
    """Where :func:`export` writes the month's product (CSV and Parquet)."""
    folder = Path(folder or get_settings().data_dir / "etl")
    return {"csv": folder / f"{symbol}_{month}_daily.csv", "parquet": folder / f"{symbol}_{month}_daily.parquet"}


def export(symbol: str, month: str, folder: Path | None = None, engine: sa.Engine | None = None) -> dict[str, Path]:
    """Write the month's daily product as CSV and Parquet (same data, same bytes every run), each
    file replaced whole (:func:`write_atomically`)."""
    paths = export_paths(symbol, month, folder)
    paths["csv"].parent.mkdir(parents=True, exist_ok=True)
    frame = daily(symbol, month, engine)
    frame["session"] = frame["session"].astype(str)
    write_atomically(paths["csv"], lambda tmp: frame.to_csv(tmp, index=False, float_format="%.4f", lineterminator="\n"))
    write_atomically(paths["parquet"], lambda tmp: frame.to_parquet(tmp, index=False, engine="pyarrow"))
    return paths


# --- reconciliation with the official daily series ---------------------------------------------------


@dataclasses.dataclass
class Reconciliation:
    """The product of ``symbol`` ``month`` against Alpha Vantage's daily series.

    ``differences``: one row per session and field that differ (``product``, ``daily_series``,
    ``difference``), and one per session that only one side has (``field`` is ``"session"``);
    ``summary``: the counts; ``note``: what limited the comparison, if anything."""

    symbol: str
    month: str
    differences: pd.DataFrame
    summary: dict[str, int]
    note: str = ""

    @property
    def agrees(self) -> bool:
        return self.differences.empty

    def table(self) -> pd.DataFrame:
        """The differences as a person reads them: prices with four decimals, volumes whole."""

        def shown(row, column):
            value = row[column]
            if pd.isna(value):
                return ""
            sign = "+" if column == "difference" else ""
            return f"{value:{sign},.0f}" if row["field"] == "volume" else f"{value:{sign},.4f}"

        frame = self.differences.copy()
        for column in ("product", "daily_series", "difference"):
            frame[column] = [shown(row, column) for row in self.differences.to_dict("records")]
        return frame

    def __repr__(self) -> str:
        s = self.summary
        text = (
            f"{self.symbol} {self.month}: {s['compared']} sessions compared with TIME_SERIES_DAILY, "
            f"{s['agree']} agree, {s['differ']} differ"
        )
        for key in ("only in the product", "only in the daily series"):
            if s[key]:
                text += f", {s[key]} {key}"
        return text + (f" ({self.note})" if self.note else "")


def daily_series(client: alphavantage.Client, symbol: str, month: str) -> tuple[dict[str, Any], str]:
    """The daily series covering ``month`` if the key allows: ``compact`` (the latest 100
    sessions, any key), then ``full`` if the month starts before that; a free key's refusal of
    ``full`` keeps the compact answer, with a note. Returns ``(payload, note)``."""
    payload = client.daily(symbol, "compact")
    days = payload[alphavantage.DAILY_KEY]
    if (days and min(days) <= f"{month}-01") or len(days) < 100:
        return payload, ""
    try:
        return client.daily(symbol, "full"), ""
    except alphavantage.PremiumRequired:
        return payload, (
            f"the daily series starts on {min(days)} for this key: outputsize=full "
            "(the whole history) needs a premium key"
        )


def reconcile(
    symbol: str,
    month: str,
    client: alphavantage.Client | None = None,
    engine: sa.Engine | None = None,
    *,
    series: dict[str, Any] | None = None,
) -> Reconciliation:
    """Compare the month's product with the official daily bars (``TIME_SERIES_DAILY``): every
    session of either side, prices at the four decimals both carry, volume exactly.

    ``series``: a daily answer already fetched (``client.daily(symbol)``), e.g. one per symbol
    for many months; otherwise it is fetched (one call, two if the month is older than the
    latest 100 sessions and the key may ask for the full history)."""
    note = ""
    if series is None:
        if client is None:
            from .source import client as make_client

            client = make_client()
        series, note = daily_series(client, symbol, month)
    series = alphavantage.validate_daily(series, symbol)
    start, end = month_window(month)
    days = series[alphavantage.DAILY_KEY]
    official = pd.DataFrame(
        [
            {"session": day, **{f: float(bar[key]) for f, key in zip(FIELDS, alphavantage.FIELDS, strict=False)}}
            for day, bar in days.items()
            if start.date().isoformat() <= day < end.date().isoformat()
        ],
        columns=["session", *FIELDS],
    )
    product = daily(symbol, month, engine)
    product = product.assign(session=product["session"].astype(str))[["session", *FIELDS]]
    window = min(days) if days else None
    if window and window > start.date().isoformat() and not note:
        note = f"the daily series starts on {window}"
    both = product.merge(official, on="session", how="outer", suffixes=("_product", "_series"), indicator="side")
    rows = []
    for row in both.sort_values("session").to_dict("records"):
        if row["side"] == "left_only":
            if window and row["session"] < window:
                continue  # before the series' window: not comparable
            rows.append(
                {
                    "session": row["session"],
                    "field": "session",
                    "product": np.nan,
                    "daily_series": np.nan,
                    "difference": np.nan,
                    "status": "only in the product",
                }
            )
            continue
        if row["side"] == "right_only":
            rows.append(
                {
                    "session": row["session"],
                    "field": "session",
                    "product": np.nan,
                    "daily_series": np.nan,
                    "difference": np.nan,
                    "status": "only in the daily series",
                }
            )
            continue
        for field in FIELDS:
            mine, theirs = row[f"{field}_product"], row[f"{field}_series"]
            same = int(mine) == int(theirs) if field == "volume" else round(mine, 4) == round(theirs, 4)
            if not same:
                rows.append(
                    {
                        "session": row["session"],
                        "field": field,
                        "product": mine,
                        "daily_series": theirs,
                        "difference": round(mine - theirs, 4),
                        "status": "differs",
                    }
                )
    differences = pd.DataFrame(rows, columns=["session", "field", "product", "daily_series", "difference", "status"])
    compared = int((both["side"] == "both").sum())
    differ = differences.loc[differences["status"] == "differs", "session"].nunique()
    summary = {
        "sessions in the product": len(product),
        "sessions in the daily series": len(official),
        "compared": compared,
        "agree": compared - differ,
        "differ": int(differ),
        "only in the product": int((differences["status"] == "only in the product").sum()),
        "only in the daily series": int((differences["status"] == "only in the daily series").sum()),
    }
    return Reconciliation(symbol, month, differences.reset_index(drop=True), summary, note)
