"""Project 2: a market-data ETL — Alpha Vantage intraday bars to a daily data product.

:mod:`.alphavantage` (the API client and its errors), :mod:`.stub` (the offline
stand-in, with a real feed's faults), :mod:`.sessions` (NYSE sessions and expected bars),
:mod:`.pipeline` (the steps: fetch, load_raw, deduplicate, aggregate_daily, export; ``Run``,
the record and transaction they share when called one by one; and ``run_month`` for all of them).
"""

from .alphavantage import ApiError, MalformedPayload, RateLimited, client
from .pipeline import (Run, aggregate_daily, backfill, daily, deduplicate, duplicates, export, fetch, gaps,
                       load_raw, reset, run_log, run_month, setup, start_run)

__all__ = ["ApiError", "MalformedPayload", "RateLimited", "Run", "aggregate_daily", "backfill", "client", "daily",
           "deduplicate", "duplicates", "export", "fetch", "gaps", "load_raw", "reset", "run_log", "run_month", "setup",
           "start_run"]
