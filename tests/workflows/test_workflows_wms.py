"""Section 2: the daily-prices workflow on the local engine, with conductor-python workers."""

import pytest

from fdelib import conductor, db
from fdelib.conductor.workers import Workers
from fdelib.workflows import wms

INPUT = {"markets": ["equities", "etfs"], "as_of": "2026-01-02", "days": 3, "seed": 1}


@pytest.fixture(scope="module")
def running(engine):
    clients = conductor.clients()
    workflow = wms.register(conductor.executor(), clients.get_metadata_client())
    with Workers(["fdelib.workflows.wms"]):
        yield clients, workflow


def test_fan_out_retries_and_publishes(running, engine):
    clients, workflow = running
    wms.reset(engine)
    run = workflow.execute(workflow_input={**INPUT, "flaky": {"equities": 1}, "short": {}}, wait_for_seconds=60)
    assert run.status == "COMPLETED"
    assert [r["symbol"] for r in run.output["report"]] == ["ACME", "BONDX", "GLOBX", "INDEXY"]
    tasks = clients.get_workflow_client().get_workflow(run.workflow_id, include_tasks=True).tasks
    fetches = [(t.reference_task_name, t.status, t.retry_count) for t in tasks if t.task_def_name == "wms_fetch_prices"]
    assert fetches == [("fetch_equities", "FAILED", 0), ("fetch_etfs", "COMPLETED", 0),
                       ("fetch_equities", "COMPLETED", 1)]
    assert db.read_scalar("SELECT count(*) FROM workflows.prices_upsert") == 12


def test_incomplete_data_takes_the_alert_branch(running, engine):
    clients, workflow = running
    wms.reset(engine)
    run = workflow.execute(workflow_input={**INPUT, "flaky": {}, "short": {"etfs": 1}}, wait_for_seconds=60)
    assert run.status == "COMPLETED"
    assert run.output["alert"] == "daily prices incomplete: 10 of 12 rows; report not published"
    refs = [t.reference_task_name for t in clients.get_workflow_client().get_workflow(
        run.workflow_id, include_tasks=True).tasks]
    assert "alert" in refs and "publish_report" not in refs


def test_an_unknown_market_fails_without_retrying(running):
    _, workflow = running
    run = workflow.execute(workflow_input={**INPUT, "markets": ["crypto"], "flaky": {}, "short": {}},
                           wait_for_seconds=30)
    assert run.status == "FAILED"
