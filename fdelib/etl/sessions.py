"""NYSE sessions and the intraday bars they should hold (exchange-calendars' XNYS)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

TZ = "America/New_York"


@lru_cache(maxsize=8)
def _calendar():
    import warnings

    with warnings.catch_warnings():   # exchange-calendars' own use of a deprecated pandas API
        warnings.simplefilter("ignore")
        return xcals.get_calendar("XNYS")


def sessions(month: str) -> pd.DataFrame:
    """The month's NYSE sessions with open and close in US/Eastern."""
    start = pd.Timestamp(f"{month}-01")
    end = start + pd.offsets.MonthEnd(0)
    cal = _calendar()
    days = cal.sessions_in_range(start, end)
    return pd.DataFrame({"session": days.date,
                         "open": list(cal.opens[days].dt.tz_convert(TZ)),
                         "close": list(cal.closes[days].dt.tz_convert(TZ))})


def bar_times(month: str, interval: str) -> list[dt.datetime]:
    """Every regular-hours bar start of the month (US/Eastern, naive)."""
    step = pd.Timedelta(minutes=int(interval.removesuffix("min")))
    times = []
    for row in sessions(month).itertuples():
        opened, closed = row.open.tz_localize(None), row.close.tz_localize(None)
        times.extend(pd.date_range(opened, closed - step, freq=step).to_pydatetime())
    return times



def extended_bar_times(month: str, interval: str) -> list[dt.datetime]:
    """Every pre-market (04:00 to the open) and post-market (the close plus four hours: 20:00, or
    17:00 after a half day) bar start of the month (US/Eastern, naive)."""
    step = pd.Timedelta(minutes=int(interval.removesuffix("min")))
    times = []
    for row in sessions(month).itertuples():
        opened, closed = row.open.tz_localize(None), row.close.tz_localize(None)
        times.extend(pd.date_range(opened.normalize() + pd.Timedelta(hours=4), opened - step,
                                   freq=step).to_pydatetime())
        times.extend(pd.date_range(closed, closed + pd.Timedelta(hours=4) - step, freq=step).to_pydatetime())
    return times


def session_bounds(month: str) -> tuple[list[dt.date], list[dt.datetime], list[dt.datetime]]:
    """The month's sessions with their open and close as aware datetimes (for SQL arrays)."""
    frame = sessions(month)
    return (list(frame["session"]), [t.to_pydatetime() for t in frame["open"]],
            [t.to_pydatetime() for t in frame["close"]])


def month_window(month: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[first midnight, next month's first midnight) in New York time."""
    start = pd.Timestamp(f"{month}-01", tz=TZ)
    return start, start + pd.offsets.MonthBegin(1)
