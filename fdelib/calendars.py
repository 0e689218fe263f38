"""Trading calendars: an exchange's sessions, from `exchange-calendars`, opened once.

Every lesson that needs trading days asks here — the start page's sample prices, the ETL's
expected bars, the ML lesson's synthetic series and its completeness check, the settlement
date of a payment (T+1). One place opens a calendar (it takes ~0.3 s the first time) and keeps
exchange-calendars' own deprecation warnings out of notebook outputs.
"""

from __future__ import annotations

import datetime as dt
import warnings
from functools import lru_cache
from typing import Any

import pandas as pd

NYSE = "XNYS"  # the course's exchange (ISO 10383 MIC of the New York Stock Exchange)


@lru_cache(maxsize=4)
def get(exchange: str = NYSE) -> Any:
    """The exchange's calendar (an ``exchange_calendars.ExchangeCalendar``)."""
    import exchange_calendars as xcals

    with warnings.catch_warnings():
        # exchange-calendars still calls pandas APIs that pandas deprecates: their code, not ours
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return xcals.get_calendar(exchange)


def between(first: Any, last: Any, exchange: str = NYSE) -> pd.DatetimeIndex:
    """The sessions from ``first`` to ``last`` (inclusive)."""
    return pd.DatetimeIndex(get(exchange).sessions_in_range(pd.Timestamp(first), pd.Timestamp(last)))


def last_sessions(as_of: Any, days: int, exchange: str = NYSE) -> list[dt.date]:
    """The last ``days`` sessions up to ``as_of`` (holidays skipped), oldest first."""
    calendar = get(exchange)
    last = calendar.date_to_session(pd.Timestamp(as_of), direction="previous")
    return list(calendar.sessions_window(last, -days).date)


def after(day: Any, count: int, exchange: str = NYSE) -> pd.DatetimeIndex:
    """The ``count`` sessions after ``day``."""
    calendar = get(exchange)
    first = calendar.date_to_session(pd.Timestamp(day) + pd.Timedelta(days=1), direction="next")
    return pd.DatetimeIndex(calendar.sessions_window(first, count))


def settlement_date(trade_date: Any, lag: int = 1) -> str:
    """The settlement date of a trade: ``lag`` business days after the trade date (T+1, the US
    equities standard since 28 May 2024), as an ISO string."""
    return after(trade_date, lag)[-1].date().isoformat()
