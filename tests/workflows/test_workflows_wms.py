"""Section 2: the daily-prices workflow on the local engine, with conductor-python workers."""

import time

import pytest

from fdelib import conductor, db
from fdelib.conductor import history
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
    assert fetches == [
        ("fetch_equities", "FAILED", 0),
        ("fetch_etfs", "COMPLETED", 0),
        ("fetch_equities", "COMPLETED", 1),
    ]
    assert db.read_scalar("SELECT count(*) FROM workflows.prices_upsert") == 12


def test_incomplete_data_takes_the_alert_branch(running, engine):
    clients, workflow = running
    wms.reset(engine)
    run = workflow.execute(workflow_input={**INPUT, "flaky": {}, "short": {"etfs": 1}}, wait_for_seconds=60)
    assert run.status == "COMPLETED"
    assert run.output["alert"] == "daily prices incomplete: 10 of 12 rows; report not published"
    refs = [
        t.reference_task_name
        for t in clients.get_workflow_client().get_workflow(run.workflow_id, include_tasks=True).tasks
    ]
    assert "alert" in refs and "publish_report" not in refs


def test_an_unknown_market_fails_without_retrying(running):
    _, workflow = running
    run = workflow.execute(
        workflow_input={**INPUT, "markets": ["crypto"], "flaky": {}, "short": {}}, wait_for_seconds=30
    )
    assert run.status == "FAILED"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"markets": "etfs"}, "markets must be a list of market names, not 'etfs'"),
        ({"flaky": ["etfs"]}, r"flaky must map a market to a count, not \['etfs'\]"),
        ({"short": "etfs:1"}, "short must map a market to a count, not 'etfs:1'"),
    ],
)
def test_a_malformed_plan_input_is_refused_naming_it(given, message):
    from conductor.client.worker.exception import NonRetryableException

    with pytest.raises(NonRetryableException, match=message):
        wms.plan_fetches(**{"markets": ["etfs"], "as_of": INPUT["as_of"], **given})


def test_no_flaky_or_short_map_means_none_for_every_market():
    planned = wms.plan_fetches(["etfs"], INPUT["as_of"], 3, 1, flaky=0, short=None)
    assert (planned["inputs"]["fetch_etfs"]["flaky"], planned["inputs"]["fetch_etfs"]["short"]) == (0, 0)


def test_static_fork_runs_fixed_branches_in_parallel_and_joins_their_outputs(running, engine):
    clients, _ = running
    wms.reset(engine)
    stored = clients.get_metadata_client().get_workflow_def(wms.STATIC_WORKFLOW, 1)
    fork = stored.tasks[0]
    assert (fork.type, [[t.task_reference_name for t in branch] for branch in fork.fork_tasks]) == (
        "FORK_JOIN",
        [["fetch_equities"], ["fetch_etfs"]],
    )
    assert (stored.tasks[1].type, stored.tasks[1].join_on) == ("JOIN", ["fetch_equities", "fetch_etfs"])

    run = wms.static_fork(conductor.executor()).execute(
        workflow_input={"as_of": INPUT["as_of"], "days": 3, "seed": 1}, wait_for_seconds=60
    )
    executed = clients.get_workflow_client().get_workflow(run.workflow_id, include_tasks=True)
    assert run.status == "COMPLETED", history.tasks(executed).to_string()
    assert run.output["rows"] == {"equities": 6, "etfs": 6}  # the JOIN's output, per branch
    assert [r["symbol"] for r in run.output["report"]] == ["ACME", "BONDX", "GLOBX", "INDEXY"]
    refs = [t.reference_task_name for t in executed.tasks]
    assert refs[0] == "fetch_markets" and refs[-2:] == ["fetch_markets_join", "publish_report"]
    assert sorted(refs[1:3]) == ["fetch_equities", "fetch_etfs"]  # both branches scheduled by the fork


def test_restart_runs_an_ended_workflow_again_from_its_first_task(running, engine):
    clients, workflow = running
    wms.reset(engine)
    first = workflow.execute(
        workflow_input=wms.run_input(["etfs"], INPUT["as_of"], 3, 1, flaky={"etfs": 1}), wait_for_seconds=60
    )
    assert first.status == "COMPLETED"
    wf = clients.get_workflow_client()
    before = history.summary(wf.get_workflow(first.workflow_id, include_tasks=True))
    wms.reset(engine)  # the restart must load the rows again
    again = wms.restart(wf, first.workflow_id)
    assert again.status == "COMPLETED" and again.workflow_id == first.workflow_id
    # a fresh run with the same input: the same tasks, attempts counted from 0 again (the flaky
    # fetch fails once more), not the first run's tasks appended to
    assert history.summary(again).equals(before)
    assert again.output["report"] == first.output["report"]
    assert db.read_scalar("SELECT count(*) FROM workflows.prices_upsert") == 6


def test_terminate_then_retry_resumes_where_the_run_stopped(running, engine):
    clients, _ = running
    wms.reset(engine)
    wf = clients.get_workflow_client()
    # the fetch times out on its first 2 attempts; the second waits 1 s (backoff) to be scheduled:
    # the run is terminated in that second, once the first attempt has failed
    run_id = wms.start(wf, wms.run_input(["etfs"], INPUT["as_of"], 3, 1, flaky={"etfs": 2}))
    deadline = time.monotonic() + 30
    while not any(
        t.reference_task_name == "fetch_etfs" and t.status == "FAILED"
        for t in wf.get_workflow(run_id, include_tasks=True).tasks or []
    ):
        assert time.monotonic() < deadline, "the first fetch attempt never failed"
        time.sleep(0.02)
    stopped = wms.terminate(wf, run_id, reason="maintenance")
    assert stopped.status == "TERMINATED" and stopped.reason_for_incompletion == "maintenance"
    assert [(t.reference_task_name, t.status) for t in stopped.tasks][-1] == ("fetch_etfs", "CANCELED")
    assert db.read_scalar("SELECT count(*) FROM workflows.prices_upsert") == 0

    finished = wms.retry(wf, run_id)
    assert finished.status == "COMPLETED"
    summary = history.summary(finished)
    assert summary["ref"].tolist().count("plan") == 1  # done before the stop: not run again
    fetches = summary[summary["ref"] == "fetch_etfs"]
    assert fetches[["status", "attempt"]].values.tolist() == [["FAILED", 0], ["CANCELED", 1], ["COMPLETED", 2]]
    assert db.read_scalar("SELECT count(*) FROM workflows.prices_upsert") == 6
