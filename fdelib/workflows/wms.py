"""A workflow management system at work: the daily-prices workflow on a Conductor engine.

The DAG of lesson 1, run by a real WMS: the definition is data registered with the engine,
each task is a worker polling its queue, and the engine owns what lesson 1's runner did
not — retries with backoff, timeouts, persistence, an execution history, operator actions
(terminate, retry, restart).

    wms_daily_prices:  plan ─► ┌ fetch <market> ┐ (one per market, decided at run time)
                               └ ...            ┘ ─► join ─► quality check ─► switch on "ok"
                                                                 true:  publish report
                                                                 false: raise an alert

It shows what a WMS adds to lesson 1's runner: data passed between tasks, a **dynamic
fan-out** (FORK_JOIN_DYNAMIC: how many fetches is known only when the workflow runs), a
**conditional** step (SWITCH), retries. A second, smaller workflow has **static** parallel
branches (FORK_JOIN, then a JOIN that collects their outputs):

    wms_static_fork:  ┌ fetch equities ┐ ─► join ─► publish report
                      └ fetch etfs     ┘       (branches fixed in the definition)

The operator actions (terminate, retry, restart) work on any run: :func:`start`,
:func:`terminate`, :func:`retry` and :func:`restart` are thin helpers around conductor-python's
workflow client that return the run with its tasks. The fetch worker can be told to fail its first
``flaky`` attempts (a feed timing out), so a lesson can watch the engine retry it.
(No ``from __future__ import annotations``:
conductor-python reads the workers' annotations as types.)
"""

import sqlalchemy as sa
from conductor.client.context import get_task_context
from conductor.client.http.models import TaskDef
from conductor.client.worker.exception import NonRetryableException
from conductor.client.worker.worker_task import worker_task
from conductor.client.workflow.conductor_workflow import ConductorWorkflow
from conductor.client.workflow.task.dynamic_fork_task import DynamicForkTask
from conductor.client.workflow.task.fork_task import ForkTask
from conductor.client.workflow.task.join_task import JoinTask
from conductor.client.workflow.task.simple_task import SimpleTask
from conductor.client.workflow.task.switch_task import SwitchTask

from .. import db, params
from ..conductor.workers import redirect_worker_output
from ..start import sample_prices
from . import tasks

redirect_worker_output()

WORKFLOW = "wms_daily_prices"
STATIC_WORKFLOW = "wms_static_fork"
MARKETS = {"equities": ["ACME", "GLOBX"], "etfs": ["BONDX", "INDEXY"]}  # fictional tickers


#: The parameters of lesson 2 (02_workflow_management), checked at its top by :func:`fdelib.params.check`.
PARAMETERS = {
    "as_of": params.Date(),
    "seed": params.Integer(0),
    "days": params.Integer(1, 60),
    "flaky_equities": params.Integer(0, 3, why="the fetch task retries 3 times: a 4th failure fails the run"),
    "markets": params.ListOf(params.Choice(tuple(MARKETS)), min_items=1),
    "workers_per_type": params.ListOf(params.Integer(1, 8), min_items=2, max_items=4),
}


class FeedTimeout(Exception):
    """The (simulated) market-data feed did not answer."""


@worker_task(task_definition_name="wms_fetch_prices", poll_interval_millis=10, thread_count=2)
def fetch_prices(market: str, as_of: str, days: int = 5, seed: int = 42, flaky: int = 0, short: int = 0) -> dict:
    attempt = get_task_context().get_retry_count() or 0
    if attempt < flaky:
        raise FeedTimeout(f"{market} feed timed out (attempt {attempt})")
    prices = sample_prices(seed + list(MARKETS).index(market), as_of, days, symbols=tuple(MARKETS[market]))
    if short:  # the feed silently leaves out the oldest sessions
        prices = prices[prices["day"] > sorted(prices["day"].unique())[short - 1]]
    loaded = tasks.load_upsert(db.get_engine(), prices)  # idempotent: a retry rewrites the rows
    return {"market": market, "rows": int(loaded), "attempts": attempt + 1}


@worker_task(task_definition_name="wms_plan_fetches", poll_interval_millis=10)
def plan_fetches(
    markets: object, as_of: str, days: int = 5, seed: int = 42, flaky: object = None, short: object = None
) -> dict:
    # (``object``: conductor-python passes JSON lists and objects through as they are)
    """One fetch task per market: the dynamic fork's task list and each task's input."""
    if not isinstance(markets, list):
        raise NonRetryableException(f"markets must be a list of market names, not {markets!r}")
    unknown = [m for m in markets if m not in MARKETS]
    if unknown:
        raise NonRetryableException(f"unknown market(s) {', '.join(unknown)}; known: {', '.join(MARKETS)}")
    flaky, short = _per_market(flaky, "flaky"), _per_market(short, "short")
    tasks_ = [{"name": "wms_fetch_prices", "taskReferenceName": f"fetch_{m}", "type": "SIMPLE"} for m in markets]
    inputs = {
        f"fetch_{m}": {
            "market": m,
            "as_of": as_of,
            "days": days,
            "seed": seed,
            "flaky": flaky.get(m, 0),
            "short": short.get(m, 0),
        }
        for m in markets
    }
    return {
        "tasks": tasks_,
        "inputs": inputs,
        "symbols": [s for m in markets for s in MARKETS[m]],
        "expected_rows": sum(len(MARKETS[m]) for m in markets) * days,
    }


def _per_market(value: object, name: str) -> dict:
    """``flaky`` or ``short`` as the workflow passes it: market -> count, or nothing (null, 0)."""
    if not value:
        return {}
    if not isinstance(value, dict):
        raise NonRetryableException(f"{name} must map a market to a count, not {value!r}")
    return value


@worker_task(task_definition_name="wms_quality_check", poll_interval_millis=10)
def quality_check(symbols: object, expected_rows: int) -> dict:
    rows = int(db.read_scalar("SELECT count(*) FROM workflows.prices_upsert WHERE symbol = ANY(:s)", {"s": symbols}))
    return {"rows": rows, "expected": expected_rows, "ok": "true" if rows == expected_rows else "false"}


@worker_task(task_definition_name="wms_raise_alert", poll_interval_millis=10)
def raise_alert(rows: int, expected: int) -> dict:
    return {"alert": f"daily prices incomplete: {rows} of {expected} rows; report not published"}


@worker_task(task_definition_name="wms_publish_report", poll_interval_millis=10)
def publish_report(as_of: str) -> dict:
    summary = db.read_frame(
        "SELECT symbol, count(*) AS days, round(avg(close)::numeric, 2) AS avg_close "
        "FROM workflows.prices_upsert GROUP BY symbol ORDER BY symbol"
    )
    summary["avg_close"] = summary["avg_close"].astype(float)
    return {"as_of": as_of, "report": summary.to_dict(orient="records")}


def task_defs(retries: int = 3, retry_delay: int = 1) -> list[TaskDef]:
    return [
        TaskDef(
            name=name,
            retry_count=retries,
            retry_logic="EXPONENTIAL_BACKOFF",
            retry_delay_seconds=retry_delay,
            response_timeout_seconds=30,
            timeout_seconds=0,
            owner_email="course@fde.example.com",
        )
        for name in (
            "wms_plan_fetches",
            "wms_fetch_prices",
            "wms_quality_check",
            "wms_publish_report",
            "wms_raise_alert",
        )
    ]


def daily_prices(executor) -> ConductorWorkflow:
    workflow = ConductorWorkflow(
        executor=executor,
        name=WORKFLOW,
        version=1,
        description="Fetch prices per market (fan-out decided at run time), check, then publish or alert",
    )
    plan = SimpleTask("wms_plan_fetches", "plan")
    plan.input_parameters.update(
        markets="${workflow.input.markets}",
        as_of="${workflow.input.as_of}",
        days="${workflow.input.days}",
        seed="${workflow.input.seed}",
        flaky="${workflow.input.flaky}",
        short="${workflow.input.short}",
    )
    fan_out = DynamicForkTask("fetch_all", join_task=JoinTask("fetch_all_join"))
    fan_out.input_parameters.update(dynamicTasks="${plan.output.tasks}", dynamicTasksInputs="${plan.output.inputs}")
    check = SimpleTask("wms_quality_check", "quality_check")
    check.input_parameters.update(symbols="${plan.output.symbols}", expected_rows="${plan.output.expected_rows}")
    report = SimpleTask("wms_publish_report", "publish_report")
    report.input_parameters.update(as_of="${workflow.input.as_of}")
    alert = SimpleTask("wms_raise_alert", "alert")
    alert.input_parameters.update(rows="${quality_check.output.rows}", expected="${quality_check.output.expected}")
    decide = SwitchTask("complete_data", case_expression="${quality_check.output.ok}")
    decide.switch_case("true", [report])
    decide.default_case([alert])
    workflow >> plan >> fan_out >> check >> decide
    workflow.output_parameters({"report": "${publish_report.output.report}", "alert": "${alert.output.alert}"})
    workflow.timeout_seconds(300)
    return workflow


def static_fork(executor) -> ConductorWorkflow:
    """Static parallel branches: one fetch per market, written into the definition (FORK_JOIN);
    the JOIN waits for both and outputs each branch's result under its reference name."""
    workflow = ConductorWorkflow(
        executor=executor,
        name=STATIC_WORKFLOW,
        version=1,
        description="Fetch both markets in fixed parallel branches, join, publish",
    )
    branches = []
    for market in MARKETS:
        fetch = SimpleTask("wms_fetch_prices", f"fetch_{market}")
        fetch.input_parameters.update(
            market=market,
            as_of="${workflow.input.as_of}",
            days="${workflow.input.days}",
            seed="${workflow.input.seed}",
            flaky=0,
            short=0,
        )
        branches.append([fetch])
    refs = [f"fetch_{market}" for market in MARKETS]
    fork = ForkTask("fetch_markets", branches, join_on=refs)  # adds the JOIN "fetch_markets_join"
    report = SimpleTask("wms_publish_report", "publish_report")
    report.input_parameters.update(as_of="${workflow.input.as_of}")
    workflow >> fork >> report
    workflow.output_parameters(
        {
            "rows": {market: f"${{fetch_markets_join.output.fetch_{market}.rows}}" for market in MARKETS},
            "report": "${publish_report.output.report}",
        }
    )
    workflow.timeout_seconds(300)
    return workflow


def register(executor, metadata_client, **options) -> ConductorWorkflow:
    """Register the task types and both workflows; the daily-prices workflow (the lesson's main one)."""
    for task_def in task_defs(**options):
        metadata_client.register_task_def(task_def)
    static_fork(executor).register(overwrite=True)
    workflow = daily_prices(executor)
    workflow.register(overwrite=True)
    return workflow


def run_input(
    markets: list[str], as_of: str, days: int, seed: int, *, flaky: dict | None = None, short: dict | None = None
) -> dict:
    """The daily-prices workflow's input: ``flaky`` and ``short`` map a market to how many first
    attempts time out, and how many oldest sessions its feed leaves out."""
    return {
        "markets": list(markets),
        "as_of": as_of,
        "days": days,
        "seed": seed,
        "flaky": dict(flaky or {}),
        "short": dict(short or {}),
    }


def retry_policy(metadata_client, task_type: str = "wms_fetch_prices"):
    """What the engine stored for a task type: its retry and timeout settings."""
    import pandas as pd

    found = metadata_client.get_task_def(task_type)
    return pd.Series(
        {
            "retryCount": found.retry_count,
            "retryLogic": found.retry_logic,
            "retryDelaySeconds": found.retry_delay_seconds,
            "responseTimeoutSeconds": found.response_timeout_seconds,
        },
        name=task_type,
    ).to_frame()


# --- operator actions ---------------------------------------------------------------------


def start(workflow_client, workflow_input: dict, name: str = WORKFLOW) -> str:
    """Start a run without waiting for it; its id."""
    from conductor.client.http.models import StartWorkflowRequest

    return workflow_client.start_workflow(StartWorkflowRequest(name=name, version=1, input=workflow_input))


def terminate(workflow_client, workflow_id: str, reason: str):
    """Stop a running workflow (its scheduled tasks are CANCELED); the run with its tasks."""
    workflow_client.terminate_workflow(workflow_id, reason=reason)
    return workflow_client.get_workflow(workflow_id, include_tasks=True)


def retry(workflow_client, workflow_id: str, timeout: float = 60):
    """Resume an ended run from its failed or canceled tasks (done tasks are kept); the run once
    it ends again. Workers must be polling."""
    from ..conductor import history

    workflow_client.retry_workflow(workflow_id)
    return history.wait(workflow_client, workflow_id, timeout=timeout)


def restart(workflow_client, workflow_id: str, timeout: float = 60):
    """Run an ended run again from its first task, with the same input (its old tasks are
    replaced); the run once it ends again. Workers must be polling."""
    from ..conductor import history

    workflow_client.restart_workflow(workflow_id)
    return history.wait(workflow_client, workflow_id, timeout=timeout)


def reset(engine: sa.Engine | None = None) -> None:
    engine = engine or db.get_engine()
    tasks.setup(engine)
    tasks.reset_prices(engine)
