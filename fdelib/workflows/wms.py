"""A workflow management system at work: the daily-prices workflow on a Conductor engine.

The DAG of lesson 1, run by a real WMS: the definition is data registered with the engine,
each task is a worker polling its queue, and the engine owns what lesson 1's runner did
not — retries with backoff, timeouts, persistence, an execution history, operator actions
(terminate, retry, restart).

    wms_daily_prices:  ┌ fetch equities ┐
                       └ fetch etfs     ┘ ─► join ─► quality check ─► publish report

The fetch worker can be told to fail its first ``flaky`` attempts (a feed timing out), so
a lesson can watch the engine retry it. (No ``from __future__ import annotations``:
conductor-python reads the workers' annotations as types.)
"""

import sqlalchemy as sa
from conductor.client.context import get_task_context
from conductor.client.http.models import TaskDef
from conductor.client.worker.worker_task import worker_task
from conductor.client.workflow.conductor_workflow import ConductorWorkflow
from conductor.client.workflow.task.fork_task import ForkTask
from conductor.client.workflow.task.simple_task import SimpleTask

from .. import db
from ..conductor.workers import redirect_worker_output
from . import tasks
from ..start import sample_prices

redirect_worker_output()

WORKFLOW = "wms_daily_prices"
MARKETS = {"equities": ["ACME", "GLOBX"], "etfs": ["BONDX", "INDEXY"]}   # fictional tickers


class FeedTimeout(Exception):
    """The (simulated) market-data feed did not answer."""


@worker_task(task_definition_name="wms_fetch_prices", poll_interval_millis=10, thread_count=2)
def fetch_prices(market: str, as_of: str, days: int = 5, seed: int = 42, flaky: int = 0) -> dict:
    attempt = get_task_context().get_retry_count() or 0
    if attempt < flaky:
        raise FeedTimeout(f"{market} feed timed out (attempt {attempt})")
    prices = sample_prices(seed + list(MARKETS).index(market), as_of, days,
                           symbols=tuple(MARKETS[market]))
    loaded = tasks.load_upsert(db.get_engine(), prices)   # idempotent: a retry rewrites the rows
    return {"market": market, "rows": int(loaded), "attempts": attempt + 1}


@worker_task(task_definition_name="wms_quality_check", poll_interval_millis=10)
def quality_check(expected_rows: int) -> dict:
    rows = db.read_scalar("SELECT count(*) FROM workflows.prices_upsert")
    if rows < expected_rows:
        raise ValueError(f"only {rows} of {expected_rows} price rows loaded")
    return {"rows": int(rows), "ok": True}


@worker_task(task_definition_name="wms_publish_report", poll_interval_millis=10)
def publish_report(as_of: str) -> dict:
    summary = db.read_frame("SELECT symbol, count(*) AS days, round(avg(close)::numeric, 2) AS avg_close "
                            "FROM workflows.prices_upsert GROUP BY symbol ORDER BY symbol")
    return {"as_of": as_of, "report": summary.to_dict(orient="records")}


def task_defs(retries: int = 3, retry_delay: int = 1) -> list[TaskDef]:
    return [TaskDef(name=name, retry_count=retries, retry_logic="EXPONENTIAL_BACKOFF",
                    retry_delay_seconds=retry_delay, response_timeout_seconds=30, timeout_seconds=0,
                    owner_email="course@fde.example.com")
            for name in ("wms_fetch_prices", "wms_quality_check", "wms_publish_report")]


def daily_prices(executor) -> ConductorWorkflow:
    workflow = ConductorWorkflow(executor=executor, name=WORKFLOW, version=1,
                                 description="Fetch equity and ETF prices in parallel, check, report")
    common = {"as_of": "${workflow.input.as_of}", "days": "${workflow.input.days}",
              "seed": "${workflow.input.seed}"}
    branches = []
    for market in MARKETS:
        fetch = SimpleTask("wms_fetch_prices", f"fetch_{market}")
        fetch.input_parameters.update(market=market, **common,
                                      flaky=f"${{workflow.input.flaky.{market}}}")
        branches.append([fetch])
    check = SimpleTask("wms_quality_check", "quality_check")
    check.input_parameters.update(expected_rows="${workflow.input.expected_rows}")
    report = SimpleTask("wms_publish_report", "publish_report")
    report.input_parameters.update(as_of="${workflow.input.as_of}")
    workflow >> ForkTask("fetch_all", branches, join_on=[f"fetch_{m}" for m in MARKETS]) >> check >> report
    workflow.output_parameters({"report": "${publish_report.output.report}"})
    workflow.timeout_seconds(300)
    return workflow


def register(executor, metadata_client, **options) -> ConductorWorkflow:
    for task_def in task_defs(**options):
        metadata_client.register_task_def(task_def)
    workflow = daily_prices(executor)
    workflow.register(overwrite=True)
    return workflow


def reset(engine: sa.Engine | None = None) -> None:
    engine = engine or db.get_engine()
    tasks.setup(engine)
    tasks.reset_prices(engine)
