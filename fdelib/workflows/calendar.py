"""NYSE trading days for the workflow lessons (exchange-calendars' XNYS): settlement dates,
expected sessions, the days after a date."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd


@lru_cache(maxsize=1)
def _xnys():
    import warnings

    import exchange_calendars as xcals

    with warnings.catch_warnings():  # exchange-calendars' own use of an API pandas deprecates
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return xcals.get_calendar("XNYS")


def between(first, last) -> pd.DatetimeIndex:
    """The NYSE sessions from ``first`` to ``last`` (inclusive)."""
    return pd.DatetimeIndex(_xnys().sessions_in_range(pd.Timestamp(first), pd.Timestamp(last)))


def after(day, count: int) -> pd.DatetimeIndex:
    """The ``count`` NYSE sessions after ``day``."""
    calendar = _xnys()
    first = calendar.date_to_session(pd.Timestamp(day) + pd.Timedelta(days=1), direction="next")
    return pd.DatetimeIndex(calendar.sessions_window(first, count))


def settlement_date(trade_date, lag: int = 1) -> str:
    """The settlement date of a trade: ``lag`` business days after the trade date (T+1, the US
    equities standard since 28 May 2024), as an ISO string."""
    return after(trade_date, lag)[-1].date().isoformat()
