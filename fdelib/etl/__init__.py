"""Project 2: a market-data ETL — Alpha Vantage intraday bars to a daily data product.

:mod:`.alphavantage` (the API's formats, the client and its errors), :mod:`.stub` (the offline
stand-in, with a real feed's faults), :mod:`.source` (live API or stand-in: :func:`client`),
:mod:`.sessions` (NYSE sessions and expected bars), the steps — :mod:`.load` (fetch, load_raw),
:mod:`.transform` (deduplicate, aggregate_daily, gaps), :mod:`.product` (daily, export, reconcile) —
:mod:`.runs` (``Run``: the record, locks and transaction the steps share) and :mod:`.pipeline`
(``run_month`` and ``backfill``: all of them).
"""

from .alphavantage import ApiError, MalformedPayload, PremiumRequired, RateLimited
from .load import fetch, load_raw
from .pipeline import backfill, run_month
from .product import Reconciliation, daily, export, export_paths, reconcile
from .runs import Run, RunInProgress, reset, run_log, setup, start_run
from .source import client
from .transform import aggregate_daily, deduplicate, duplicates, gaps

__all__ = [
    "ApiError",
    "MalformedPayload",
    "PremiumRequired",
    "RateLimited",
    "Reconciliation",
    "Run",
    "RunInProgress",
    "aggregate_daily",
    "backfill",
    "client",
    "daily",
    "deduplicate",
    "duplicates",
    "export",
    "export_paths",
    "fetch",
    "gaps",
    "load_raw",
    "reconcile",
    "reset",
    "run_log",
    "run_month",
    "setup",
    "start_run",
]
