"""The executions explorer's REST layer (:mod:`fdelib.conductor.ui.api`) and view-model
(:mod:`fdelib.conductor.ui.views`) against the real Conductor OSS server (the session's
``oss_server``, skipped with the reason where no Java 21+ or Maven can be had): the
Definitions view lists and draws a workflow, the Executions list finds a failed run through
``/workflow/search``, the run shows its failed task's reason and input, and Retry (as the
explorer sends it) brings the run back to RUNNING and then to COMPLETED.

The worker is this test, over plain HTTP: it polls the task and posts its result."""

import time
import uuid

import pytest
import requests

from fdelib.conductor.ui import graph, views
from fdelib.conductor.ui.api import ConductorAPI, ConductorError

WORKER = "explorer-oss-test"
REASON = "card declined by the issuer"


def _definition(name: str, task: str) -> dict:
    return {
        "name": name,
        "version": 1,
        "schemaVersion": 2,
        "tasks": [
            {
                "name": task,
                "taskReferenceName": "charge",
                "type": "SIMPLE",
                "inputParameters": {"card": "${workflow.input.card}"},
            },
            {
                "name": "note",
                "taskReferenceName": "note",
                "type": "SET_VARIABLE",
                "inputParameters": {"charged": "${charge.output.charged}"},
            },
        ],
        "outputParameters": {"charged": "${charge.output.charged}"},
    }


@pytest.fixture
def flow(oss_server):
    base = oss_server.url
    tag = f"xo_{uuid.uuid4().hex[:8]}"
    name, task = f"{tag}_flow", f"{tag}_charge"
    requests.post(
        f"{base}/metadata/taskdefs",
        json=[{"name": task, "retryCount": 0, "responseTimeoutSeconds": 30, "timeoutSeconds": 60}],
        timeout=60,
    ).raise_for_status()
    requests.put(f"{base}/metadata/workflow", json=[_definition(name, task)], timeout=60).raise_for_status()
    return {"api": base, "name": name, "task": task}


def _start(flow, correlation: str) -> str:
    body = {"name": flow["name"], "version": 1, "correlationId": correlation, "input": {"card": "4111"}}
    answer = requests.post(f"{flow['api']}/workflow", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.text


def _work(flow, workflow_id: str, status: str, reason: str = "", within: float = 120) -> None:
    """Poll the charge task of ``workflow_id`` (the real server's queue may hand it out after a
    moment) and post its result, as a worker over HTTP."""
    deadline = time.monotonic() + within
    while True:
        answer = requests.get(f"{flow['api']}/tasks/poll/{flow['task']}", params={"workerid": WORKER}, timeout=60)
        task = answer.json() if answer.status_code == 200 and answer.content else None
        if task:
            assert task["workflowInstanceId"] == workflow_id, task  # one run waits at a time here
            break
        assert time.monotonic() < deadline, f"no {flow['task']} task to poll in {within} s"
        time.sleep(0.1)
    result = {
        "workflowInstanceId": workflow_id,
        "taskId": task["taskId"],
        "status": status,
        "workerId": WORKER,
        "outputData": {"charged": status == "COMPLETED"},
    }
    if reason:
        result["reasonForIncompletion"] = reason
    requests.post(f"{flow['api']}/tasks", json=result, timeout=60).raise_for_status()


def _until(read, ready, what: str, within: float = 120):
    """``read()`` again until ``ready(value)``, within a deadline (the real server's state and
    its SQLite index follow a moment after the call that changed them)."""
    deadline = time.monotonic() + within
    while True:
        value = read()
        if ready(value):
            return value
        assert time.monotonic() < deadline, f"{what} not within {within} s; last: {str(value)[:500]}"
        time.sleep(0.1)


def test_the_list_shows_a_failed_tasks_own_reason_in_either_servers_words():
    """Conductor OSS names the failed task by its id, the local engine by its reference name:
    the list line shows the reference name and the task's reason either way."""
    real = {
        "reasonForIncompletion": "Task 658369a2-b694 failed with status: FAILED and reason: 'card declined'",
        "failedReferenceTaskNames": "charge",
    }
    local = {
        "reasonForIncompletion": "Task 'charge' failed with status FAILED and reason: 'card declined'",
        "failedReferenceTaskNames": "charge",
    }
    assert views.short_reason(real) == views.short_reason(local) == "charge: card declined"
    assert views.short_reason({"reasonForIncompletion": "Task 7 failed with status: TIMED_OUT and reason: ''"}) == (
        "a task: TIMED_OUT"
    )
    assert views.short_reason({"reasonForIncompletion": "terminated by hand"}) == "terminated by hand"
    assert views.short_reason({}) == ""


def test_the_explorer_on_the_real_server(flow):
    api = ConductorAPI(flow["api"], timeout=60)
    failed_id = _start(flow, "ORD-FAIL")
    _work(flow, failed_id, "FAILED", REASON)
    done_id = _start(flow, "ORD-OK")
    _work(flow, done_id, "COMPLETED")
    _until(lambda: api.workflow(failed_id)["status"], lambda s: s == "FAILED", "the failed run")
    _until(lambda: api.workflow(done_id)["status"], lambda s: s == "COMPLETED", "the completed run")

    # Definitions: listed with its version, drawn as the graph
    listed = dict(views.definitions(api.workflow_defs()))
    assert listed[flow["name"]] == [1]
    drawn = graph.svg(api.workflow_def(flow["name"], 1))
    assert 'data-ref="charge"' in drawn and 'data-ref="note"' in drawn

    # Executions: the failed runs of the workflow, as the explorer's filter asks for them
    failed_only = views.Filter(workflow=flow["name"], statuses=("FAILED",))
    assert "status IN (FAILED)" in (failed_only.query() or "")
    page = _until(
        lambda: views.Page.of(api.search(**failed_only.params())),
        lambda p: p.total >= 1,
        "the failed run in /workflow/search",
    )
    assert [r["workflowId"] for r in page.rows] == [failed_id] and page.total == 1
    assert page.label == "1–1 of 1 executions, newest first" and not page.live
    line = views.row_label(page.rows[0])
    assert "FAILED" in line and failed_id in line and "ORD-FAIL" in line
    assert line.endswith(f"charge: {REASON}")  # not the start of "Task <id> failed with status: …"
    every = _until(
        lambda: views.Page.of(api.search(**views.Filter(workflow=flow["name"]).params())),
        lambda p: p.total == 2,
        "both runs in /workflow/search",
    )
    assert {r["workflowId"]: r["status"] for r in every.rows} == {failed_id: "FAILED", done_id: "COMPLETED"}

    # the run: its failed task's reason and input, its graph and actions
    run = api.workflow(failed_id)
    assert views.statuses(run)["charge"] == "FAILED"
    [failed] = views.failed_tasks(run)
    assert failed["reasonForIncompletion"] == REASON and failed["inputData"] == {"card": "4111"}
    detail = views.task_detail(failed, api.task_logs(failed["taskId"]))
    assert REASON in detail and "4111" in detail
    rows = views.task_rows(run)
    assert rows[0]["ref"] == "charge" and rows[0]["worker"] == WORKER and rows[0]["timeout s"] == 60
    assert 'data-ref="charge" data-status="FAILED"' in views.run_graph(run)
    assert "ORD-FAIL" in views.run_header(run)
    assert views.actions(run)[0] == "retry"

    # Retry, as the explorer sends it: RUNNING again, then COMPLETED once the task is done
    api.retry(failed_id)
    retried = _until(lambda: api.workflow(failed_id), lambda r: r["status"] == "RUNNING", "RUNNING after retry")
    assert views.actions(retried) == ["terminate", "rerun"]
    _work(flow, failed_id, "COMPLETED")
    run = _until(lambda: api.workflow(failed_id), lambda r: r["status"] == "COMPLETED", "COMPLETED after retry")
    attempts = [t for t in run["tasks"] if t["referenceTaskName"] == "charge"]
    assert [(t["retryCount"], t["status"]) for t in attempts] == [(0, "FAILED"), (1, "COMPLETED")]
    assert views.statuses(run) == {"charge": "COMPLETED", "note": "COMPLETED"}
    assert run["output"] == {"charged": True}

    # what the server refuses comes back in its own words
    with pytest.raises(ConductorError, match="404"):
        api.workflow(str(uuid.uuid4()))
