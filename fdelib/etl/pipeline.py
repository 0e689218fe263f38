"""The market-data ETL, one plain function per step, and the whole month in one call.

    fetch ─► load_raw ─► deduplicate ─► aggregate_daily ─► export ─► reconcile
    (API)    (COPY, with    (latest ingestion   (SQL GROUP BY     (CSV,      (against the
              ingestion       of each bar)        per session)      Parquet)   official daily bars)
              time)

The steps live in modules named after what they do — :mod:`.load` (fetch, load_raw), :mod:`.transform`
(deduplicate, aggregate_daily, gaps), :mod:`.product` (daily, export, reconcile) and :mod:`.runs`
(the run record, its locks and transaction) — and are importable from here as before. This module
runs them: :func:`run_month` for one symbol and month, :func:`backfill` for many.

Each step is idempotent and works on one symbol and month, so a month can be re-run, and
months can be run in any order (a backfill), with the same result. The fetch is validated
before anything is written; raw load, dedup and aggregation commit together with the run's
record, so a bad payload or a crash leaves nothing half-written — re-running the month recovers.
A second run of a month that is being loaded is refused (:class:`~.runs.RunInProgress`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from .. import db
from . import alphavantage, csvbars
from .load import COPY_RAW, RAW_COLUMNS, RawCsv, decode, fetch, fetch_ahead, load_csv, load_raw, months_of, render_raw
from .product import Reconciliation, daily, export, export_paths, reconcile
from .runs import RUN_LOCK, Run, RunInProgress, abandon_stale_runs, answer_digest, reset, run_log, setup, start_run
from .transform import aggregate_daily, deduplicate, duplicates, gaps

__all__ = [
    "COPY_RAW",
    "RAW_COLUMNS",
    "RUN_LOCK",
    "RawCsv",
    "Reconciliation",
    "Run",
    "RunInProgress",
    "abandon_stale_runs",
    "aggregate_daily",
    "answer_digest",
    "backfill",
    "daily",
    "decode",
    "deduplicate",
    "duplicates",
    "export",
    "export_paths",
    "fetch",
    "fetch_ahead",
    "gaps",
    "load_csv",
    "load_raw",
    "months_of",
    "reconcile",
    "render_raw",
    "reset",
    "run_log",
    "run_month",
    "setup",
    "start_run",
]


def _client(client: alphavantage.Client | None) -> alphavantage.Client:
    from .source import client as configured

    return client or configured()


def run_month(
    symbol: str,
    month: str,
    interval: str = "5min",
    *,
    client: alphavantage.Client | None = None,
    engine: sa.Engine | None = None,
    export_to: Path | None = None,
    payload: dict[str, Any] | alphavantage.Answer | csvbars.CsvBars | Exception | None = None,
    extended_hours: bool = False,
    datatype: str = "json",
    adjusted: bool = False,
    reconcile_daily: bool | dict[str, Any] = False,
    wait: float = 0.0,
    skip_unchanged: bool = False,
) -> dict[str, Any]:
    """fetch → load_raw → deduplicate → aggregate_daily → export, recorded in ``etl.runs`` (a :class:`Run`).

    ``payload``: an answer already fetched (a payload — checked like a fetched one —, an
    undecoded :class:`~.alphavantage.Answer`, or a checked :class:`~.csvbars.CsvBars`), or the error
    fetching it raised (see :func:`backfill`). ``datatype="csv"``: fetch the CSV answer and load it
    column-wise with Arrow (:mod:`.csvbars`, the faster path; same checks, same rows).
    ``extended_hours``: fetch (and keep, raw and clean) the pre- and post-market bars too — the
    bar at the close then mixes the closing auction with post-market trades, so the product's
    close is no longer the official one. ``adjusted``: split/dividend-adjusted prices (default:
    as traded, like the official daily series).
    ``reconcile_daily``: also compare the product with the official daily bars (``True``: fetch
    them, one more call; or a daily answer already fetched); the result gets ``reconciliation``.
    ``wait``: seconds to wait for another run of the same month instead of refusing at once.
    ``skip_unchanged``: when the month's product still stands from a load of the same answer (same
    digest, same parameters, its files there: :meth:`Run.standing_load`), write nothing and record
    the run ``unchanged`` — a scheduler's re-run of an unchanged month costs a fetch, not a load.
    The result then has ``unchanged_since`` (that run) and no counts of rows written.

    Bars of another month in the answer (an overlap with the month before) are deduplicated and
    aggregated in their own month too: the latest load of a bar wins, whichever month brought it.
    Any exception — even a ``KeyboardInterrupt`` — rolls the work back and records the run as
    ``failed``; a process killed outright leaves it ``running`` until the next run marks it ``abandoned``."""
    engine = engine or db.get_engine()
    client = _client(client)
    run = Run.begin(
        symbol,
        month,
        interval,
        extended_hours=extended_hours,
        adjusted=adjusted,
        client=client,
        engine=engine,
        wait=wait,
    )
    try:
        if isinstance(payload, BaseException):
            raise payload
        if payload is None:
            payload = fetch(
                client, symbol, month, interval, extended_hours=extended_hours, datatype=datatype, adjusted=adjusted
            )
        elif isinstance(payload, alphavantage.Answer):
            payload = decode(payload)
        elif not isinstance(payload, csvbars.CsvBars):
            payload = alphavantage.validate(payload, symbol, interval)
        covered = months_of(payload, month)
        digest = answer_digest(payload)
        if skip_unchanged and covered == [month]:
            files = export_paths(symbol, month, export_to)
            standing = run.standing_load(digest, files, extended_hours, adjusted)
            if standing is not None:
                run.unchanged(standing)
                return {"run_id": run.run_id, "unchanged_since": standing, "files": files}
        for each in covered:  # an answer that overlaps the month before writes it too
            run.lock_month(each)
        run.record_answer(digest)
        raw = load_raw(run.conn, payload, run.run_id)
        for each in covered:
            dedup = deduplicate(run.conn, symbol, each, interval)
            days = aggregate_daily(run.conn, symbol, each, interval)
            if each == month:
                outcome = {**dedup, "daily_rows": days}
        counts = run.succeed(release=False)
    except BaseException as exc:
        run.fail(exc)
        raise
    try:
        files = export(symbol, month, export_to, engine)  # the month still locked: no older export wins
    finally:
        run.release()
    result = {
        "run_id": run.run_id,
        "raw_rows": raw,
        **outcome,
        "duplicates": counts["duplicates"],
        "missing_bars": counts["gaps"],
        "files": files,
    }
    if reconcile_daily is not False:
        series = reconcile_daily if isinstance(reconcile_daily, dict) else None
        result["reconciliation"] = reconcile(symbol, month, client, engine, series=series)
    return result


def backfill(
    symbols: list[str],
    months: list[str],
    interval: str = "5min",
    *,
    client: alphavantage.Client | None = None,
    engine: sa.Engine | None = None,
    export_to: Path | None = None,
    progress: bool = True,
    extended_hours: bool = False,
    datatype: str = "json",
    adjusted: bool = False,
    reconcile_daily: bool = False,
) -> pd.DataFrame:
    """Run every symbol and month (in the order given: any order gives the same product),
    fetching the next month while the current one loads. A month that fails is logged in
    ``etl.runs`` and the backfill goes on; re-running it later recovers it.
    ``reconcile_daily=True``: compare each month with the official daily bars, fetched once per
    symbol (the ``differences`` column counts the sessions that differ)."""
    from tqdm.auto import tqdm

    client = _client(client)
    jobs = [(s, m) for s in symbols for m in months]
    results, series = [], {}
    fetched = fetch_ahead(client, jobs, interval, extended_hours=extended_hours, datatype=datatype, adjusted=adjusted)
    for (symbol, month), payload in tqdm(fetched, total=len(jobs), desc="months", disable=not progress):
        try:
            outcome = run_month(
                symbol,
                month,
                interval,
                client=client,
                engine=engine,
                export_to=export_to,
                payload=payload,
                extended_hours=extended_hours,
                adjusted=adjusted,
            )
            row = {
                "symbol": symbol,
                "month": month,
                "status": "succeeded",
                "daily_rows": outcome["daily_rows"],
                "error": "",
            }
            if reconcile_daily:
                if symbol not in series:
                    from .product import daily_series

                    series[symbol] = daily_series(client, symbol, min(months))[0]
                row["differences"] = reconcile(symbol, month, engine=engine, series=series[symbol]).summary["differ"]
            results.append(row)
        except (alphavantage.AlphaVantageError, RunInProgress) as exc:
            results.append({"symbol": symbol, "month": month, "status": "failed", "daily_rows": 0, "error": str(exc)})
    return pd.DataFrame(results)
