"""NYSE sessions and the intraday bars they should hold (exchange-calendars' XNYS).

How Alpha Vantage labels intraday bars (``TIME_SERIES_INTRADAY``, the API since the
``month``/``extended_hours`` parameters): each bar is keyed by its **start** time in US/Eastern,
on a grid aligned to the clock — every bar starts at a multiple of its interval after midnight.
For 1-, 5-, 15- and 30-minute bars that grid meets the open (09:30) and the close (16:00, 13:00
on a half day).

**The close is a bar of its own.** The documentation says ``extended_hours=false`` gives "regular
trading hours (9:30am to 4:00pm US/Eastern Time)", and the answers mean it inclusively: the last
bar of a regular session is labelled **16:00** (13:00 on a half day), and it holds the closing
auction's print — on a verified day its close *is* the official daily close (``TIME_SERIES_DAILY``)
and it carries about a tenth of the day's volume (the closing auction's share in NYSE-listed
stocks). A regular session's 5-minute bars therefore
run 09:30 … 15:55 **and 16:00** (79, 43 on a half day). The opening auction prints at 09:30 and is
the open of the 09:30 bar, the session's first. A daily bar built from the bars *before* 16:00
misses the close and a tenth of the volume.

**60-minute bars are hour-aligned**: with extended hours (the API's default) a day runs 04:00 …
19:00 — recorded answers end their day on ``"… 19:00:00"`` with 18:00 and 17:00 before it, never
18:30. The regular session is then covered by the bars 09:00 … 15:00 and 16:00: the 09:00 bar holds
the session's first half hour (in an extended-hours answer also the half hour of pre-market trading
before it, which no hourly bar can separate), the 15:00 bar its last hour, the 16:00 bar the close.
(Answers of the API before 2023 were 09:30-aligned, ``09:30 … 15:30``.)

With extended hours the bar at the close also holds the first minutes of post-market trading
(16:00–16:05 for 5-minute bars): its close is then a post-market price, not the official close.
The exact session needs ``extended_hours=false`` (the default here); the reconciliation with the
daily series shows the difference otherwise.

So the bars a session should have are the grid bars that *overlap* ``[open, close)`` plus the one
that starts *at* the close: :func:`bar_times` for gap detection, the same rule in the daily
aggregation.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import numpy as np
import pandas as pd

TZ = "America/New_York"
EXTENDED = pd.Timedelta(hours=4)  # pre-market from 04:00; post-market to the close plus four hours


@lru_cache(maxsize=8)
def _calendar():
    import warnings

    with warnings.catch_warnings():  # exchange-calendars' own use of a deprecated pandas API
        warnings.simplefilter("ignore")
        return xcals.get_calendar("XNYS")


def step(interval: str) -> pd.Timedelta:
    """The bar length of an Alpha Vantage interval (``"60min"`` → 60 minutes)."""
    return pd.Timedelta(minutes=int(interval.removesuffix("min")))


def sessions(month: str) -> pd.DataFrame:
    """The month's NYSE sessions with open and close in US/Eastern."""
    start = pd.Timestamp(f"{month}-01")
    end = start + pd.offsets.MonthEnd(0)
    cal = _calendar()
    days = cal.sessions_in_range(start, end)
    return pd.DataFrame(
        {
            "session": days.date,
            "open": list(cal.opens[days].dt.tz_convert(TZ)),
            "close": list(cal.closes[days].dt.tz_convert(TZ)),
        }
    )


def bar_times(month: str, interval: str) -> list[dt.datetime]:
    """Every bar start the month's regular sessions should have (US/Eastern, naive): the
    clock-aligned bars that overlap ``[open, close)``, and the closing auction's bar at the close —
    09:30 … 15:55 and 16:00 for 5 minutes, 09:00 … 15:00 and 16:00 for 60 (see the module's
    docstring)."""
    length = step(interval)
    times = []
    for row in sessions(month).itertuples():
        opened, closed = row.open.tz_localize(None), row.close.tz_localize(None)
        times.extend(pd.date_range(opened.floor(length), closed, freq=length).to_pydatetime())
    return times


def session_minutes(month: str) -> tuple[np.ndarray, np.ndarray]:
    """Every minute of continuous trading of the month's sessions with their extended hours — from
    04:00 to the close plus four hours (20:00, or 17:00 after a half day) — as ``datetime64[m]``
    starts (US/Eastern, naive), and whether each one is in the regular session ``[open, close)``.
    (The auctions are not minutes of trading: the stand-in adds them, :mod:`.stub`.)"""
    minutes, regular = [], []
    for row in sessions(month).itertuples():
        opened = np.datetime64(row.open.tz_localize(None), "m")
        closed = np.datetime64(row.close.tz_localize(None), "m")
        day = np.datetime64(row.open.tz_localize(None).normalize(), "m")
        span = np.arange(day + np.timedelta64(4, "h"), closed + np.timedelta64(4, "h"))
        minutes.append(span)
        regular.append((span >= opened) & (span < closed))
    if not minutes:
        return np.array([], dtype="datetime64[m]"), np.array([], dtype=bool)
    return np.concatenate(minutes), np.concatenate(regular)


def session_bounds(month: str) -> tuple[list[dt.date], list[dt.datetime], list[dt.datetime]]:
    """The month's sessions with their open and close as aware datetimes (for SQL arrays)."""
    frame = sessions(month)
    return (
        list(frame["session"]),
        [t.to_pydatetime() for t in frame["open"]],
        [t.to_pydatetime() for t in frame["close"]],
    )


def month_window(month: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[first midnight, next month's first midnight) in New York time."""
    start = pd.Timestamp(f"{month}-01", tz=TZ)
    return start, start + pd.offsets.MonthBegin(1)


def months_between(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last`` (``YYYY-MM`` or longer ISO strings), in order."""
    return [str(p) for p in pd.period_range(first[:7], last[:7], freq="M")]


def utc_offset(day: str) -> str:
    """New York's UTC offset on ``day`` ('YYYY-MM-DD') at noon, as '-05:00' (DST changes it)."""
    noon = dt.datetime.fromisoformat(day + " 12:00").replace(tzinfo=ZoneInfo(TZ))
    offset = noon.utcoffset()
    assert offset is not None  # an aware datetime (ZoneInfo) always has one
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
