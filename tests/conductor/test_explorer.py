"""The executions explorer without a browser: its view-model (what each view shows, from
Conductor's JSON) and its widget driven from Python, against the real engine over HTTP."""

import itertools
import time

import pytest
import requests

from fdelib.conductor.ui import graph, views
from fdelib.conductor.ui.api import ConductorAPI, ConductorError
from fdelib.conductor.ui.widget import Explorer

_tags = itertools.count(1)


def _definition(tag: str) -> dict:
    simple = {"type": "SIMPLE"}
    return {
        "name": f"{tag}_flow",
        "version": 1,
        "schemaVersion": 2,
        "tasks": [
            {
                **simple,
                "name": f"{tag}_charge",
                "taskReferenceName": "charge",
                "inputParameters": {"card": "${workflow.input.card}"},
            },
            {
                "name": "fork",
                "taskReferenceName": "fork",
                "type": "FORK_JOIN",
                "forkTasks": [
                    [
                        {
                            "name": "note_a",
                            "taskReferenceName": "note_a",
                            "type": "SET_VARIABLE",
                            "inputParameters": {"a": 1},
                        }
                    ],
                    [
                        {
                            "name": "note_b",
                            "taskReferenceName": "note_b",
                            "type": "SET_VARIABLE",
                            "inputParameters": {"b": 2},
                        }
                    ],
                ],
            },
            {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": ["note_a", "note_b"]},
            {
                "name": "route",
                "taskReferenceName": "route",
                "type": "SWITCH",
                "evaluatorType": "value-param",
                "expression": "kind",
                "inputParameters": {"kind": "${workflow.input.kind}"},
                "decisionCases": {
                    "express": [
                        {
                            "name": "fast",
                            "taskReferenceName": "fast",
                            "type": "SET_VARIABLE",
                            "inputParameters": {"x": 1},
                        }
                    ]
                },
                "defaultCase": [],
            },
        ],
    }


@pytest.fixture
def flow(local_server):
    api = local_server.url
    tag = f"x{next(_tags)}_{time.monotonic_ns() % 10**8}"
    requests.post(
        f"{api}/metadata/taskdefs",
        json=[{"name": f"{tag}_charge", "retryCount": 0, "responseTimeoutSeconds": 30, "timeoutSeconds": 60}],
        timeout=10,
    ).raise_for_status()
    requests.put(f"{api}/metadata/workflow", json=[_definition(tag)], timeout=10).raise_for_status()
    return {"api": api, "tag": tag, "name": f"{tag}_flow", "task": f"{tag}_charge"}


def start(flow, correlation: str, kind: str = "express") -> str:
    body = {"name": flow["name"], "version": 1, "correlationId": correlation, "input": {"card": "4111", "kind": kind}}
    return requests.post(f"{flow['api']}/workflow", json=body, timeout=10).text


def work(flow, status: str, reason: str = "") -> None:
    """One poll of the charge task and its result, as a worker over HTTP."""
    task = requests.get(
        f"{flow['api']}/tasks/poll/{flow['task']}", params={"workerid": "test-worker"}, timeout=10
    ).json()
    result = {"workflowInstanceId": task["workflowInstanceId"], "taskId": task["taskId"], "status": status}
    result["workerId"] = "test-worker"
    if reason:
        result["reasonForIncompletion"] = reason
    requests.post(f"{flow['api']}/tasks", json=result, timeout=10).raise_for_status()


def wait_status(flow, workflow_id: str, statuses) -> dict:
    deadline = time.monotonic() + 20
    while True:
        run = requests.get(f"{flow['api']}/workflow/{workflow_id}", timeout=10).json()
        if run["status"] in statuses or time.monotonic() > deadline:
            return run
        time.sleep(0.05)


def test_the_filter_is_conductors_query():
    f = views.Filter(workflow="oms_order", statuses=views.FAILED, since_ms=1700000000000, correlation_id=" ORD-7 ")
    assert f.query() == (
        "workflowType IN (oms_order) AND status IN (FAILED,TIMED_OUT,TERMINATED) "
        "AND startTime > 1700000000000 AND correlationId = 'ORD-7'"
    )
    assert f.params(page=2) == {"start": 50, "size": 25, "sort": "startTime:DESC", "freeText": "*", "query": f.query()}
    assert views.Filter().params()["query"] is None
    assert views.Filter(workflow=views.PRACTICE).query() == "workflowType IN (practice_*)"


def test_a_page_knows_its_place():
    page = views.Page.of({"totalHits": 60, "results": [{"status": "COMPLETED"}] * 25}, page=1)
    assert page.label == "26–50 of 60 executions, newest first"
    assert page.has_next and page.has_previous and not page.live
    assert views.Page.of({"totalHits": 1, "results": [{"status": "RUNNING"}]}).live


def test_definitions_list_the_course_first_and_exercise_answers_after():
    listed = views.definitions(
        [
            {"name": "practice_x_1", "version": 1},
            {"name": "oms_order", "version": 2},
            {"name": "oms_order", "version": 1},
        ]
    )
    assert listed == [("oms_order", [1, 2]), ("practice_x_1", [1])]
    assert views.definition_label("practice_x_1", [1]) == "practice_x_1 v1 (your exercise answer)"


def test_the_graph_draws_forks_switch_cases_and_dynamic_forks():
    definition = _definition("g")
    definition["tasks"].append({"name": "dyn", "taskReferenceName": "dyn", "type": "FORK_JOIN_DYNAMIC"})
    drawn = graph.svg(definition)
    for ref in ("charge", "fork", "note_a", "note_b", "join", "route", "fast", "dyn", "dynamic tasks"):
        assert f'data-ref="{ref}"' in drawn, ref
    assert ">express</text>" in drawn and ">default</text>" in drawn
    forked = [
        {"taskReferenceName": "dyn_0", "type": "SIMPLE", "name": "w"},
        {"taskReferenceName": "dyn_1", "type": "SIMPLE", "name": "w"},
    ]
    in_a_run = graph.svg(definition, {"charge": "FAILED"}, {"dyn": forked})
    assert 'data-ref="dyn_1"' in in_a_run and 'data-ref="dynamic tasks"' not in in_a_run
    assert f'fill="{graph.STATUS_FILLS["FAILED"]}"' in in_a_run
    # the branches of the fork stand side by side: same row, different columns
    layout = {n.ref: n for n in graph.layout(definition).nodes}
    assert layout["note_a"].y == layout["note_b"].y and layout["note_a"].x != layout["note_b"].x
    assert layout["join"].y > layout["note_a"].y


def test_a_failed_run_shows_why_and_can_be_retried(flow):
    workflow_id = start(flow, "ORD-1")
    work(flow, "FAILED", "card declined by the issuer")
    run = wait_status(flow, workflow_id, ("FAILED",))
    assert views.statuses(run)["charge"] == "FAILED"
    [failed] = views.failed_tasks(run)
    assert failed["reasonForIncompletion"] == "card declined by the issuer"
    detail = views.task_detail(failed)
    assert "card declined by the issuer" in detail and "4111" in detail
    rows = views.task_rows(run)
    assert rows[0]["worker"] == "test-worker" and rows[0]["polls"] == 1 and rows[0]["timeout s"] == 60
    assert views.actions(run) == ["retry", "restart", "restart with latest definitions", "rerun"]
    assert 'data-status="FAILED"' in views.run_graph(run)
    assert "card declined" in views.run_header(run)

    explorer = Explorer(flow["api"], refresh_seconds=3600)
    try:
        explorer.workflow_choice.value = flow["name"]
        explorer.status_choice.value = ("FAILED",)
        assert [o[1] for o in explorer.results.options] == [workflow_id]
        explorer.results.value = workflow_id  # opens the run
        assert explorer.tabs.selected_index == 2 and explorer.run["workflowId"] == workflow_id
        assert "card declined by the issuer" in explorer.task_detail.value
        assert explorer.action_buttons.children[0].description == "Retry"
        explorer.action_buttons.children[0].click()
        assert explorer.confirm_box.layout.display == "flex"  # it asks first
        assert wait_status(flow, workflow_id, ("FAILED",))["status"] == "FAILED"  # nothing sent yet
        explorer.confirm_button.click()
        assert explorer.run["status"] == "RUNNING"
        work(flow, "COMPLETED")
        explorer.refresh_run()
        assert wait_status(flow, workflow_id, ("COMPLETED",))["status"] == "COMPLETED"
        attempts = [t for t in explorer.run["tasks"] if t["referenceTaskName"] == "charge"]
        assert [t["retryCount"] for t in attempts] == [0, 1]
    finally:
        explorer.close()


def test_the_list_fetches_one_page_newest_first(flow):
    ids = [start(flow, f"ORD-{i}", kind="plain") for i in range(30)]
    explorer = Explorer(flow["api"], refresh_seconds=3600)
    try:
        explorer.workflow_choice.value = flow["name"]
        assert explorer.page.total == 30 and len(explorer.results.options) == views.PAGE_SIZE
        assert explorer.results.options[0][1] == ids[-1]  # newest first
        assert explorer.page.live  # the runs wait for a worker
        explorer.next_button.click()
        assert [o[1] for o in explorer.results.options] == ids[:5][::-1]
        explorer.correlation.value = "ORD-7"
        explorer.search_button.click()
        assert [o[1] for o in explorer.results.options] == [ids[7]]
    finally:
        explorer.close()
        for workflow_id in ids:
            requests.delete(f"{flow['api']}/workflow/{workflow_id}", params={"reason": "test over"}, timeout=10)


def test_rerun_starts_a_new_run_with_the_same_input(flow):
    workflow_id = start(flow, "ORD-RERUN")
    api = ConductorAPI(flow["api"])
    run = api.workflow(workflow_id)
    again = api.rerun(run)
    assert again != workflow_id
    copy = api.workflow(again)
    assert copy["input"] == run["input"] and copy["correlationId"] == "ORD-RERUN"
    for wid in (workflow_id, again):
        api.terminate(wid)
    with pytest.raises(ConductorError, match="404"):
        api.workflow("no-such-run")


def test_the_static_view_is_the_same_for_two_runs(flow):
    views_ = []
    for correlation in ("A", "B"):
        workflow_id = start(flow, correlation)
        work(flow, "FAILED", "card declined")
        views_.append(views.RunView(wait_status(flow, workflow_id, ("FAILED",))))
    first, second = views_
    assert first._repr_html_() == second._repr_html_() and repr(first) == repr(second)
    assert "card declined" in repr(first) and "explorer()" in first._repr_html_()


def test_a_runs_dynamic_fork_shows_the_tasks_it_forked():
    """Conductor reports a dynamic fork's taskType as FORK: its workflowTask names the kind."""
    fork = {"name": "fan", "taskReferenceName": "fan", "type": "FORK_JOIN_DYNAMIC"}
    run = {
        "workflowDefinition": {"name": "w", "tasks": [fork, {"name": "j", "taskReferenceName": "j", "type": "JOIN"}]},
        "tasks": [
            {
                "referenceTaskName": "fan",
                "taskType": "FORK",
                "workflowTask": fork,
                "status": "COMPLETED",
                "seq": 1,
                "inputData": {"forkedTasks": ["get_a", "get_b"]},
            },
            {
                "referenceTaskName": "get_a",
                "taskType": "get",
                "taskDefName": "get",
                "status": "FAILED",
                "seq": 2,
                "workflowTask": {"type": "SIMPLE"},
            },
            {
                "referenceTaskName": "get_b",
                "taskType": "get",
                "taskDefName": "get",
                "status": "COMPLETED",
                "seq": 3,
                "workflowTask": {"type": "SIMPLE"},
            },
        ],
    }
    assert [t["taskReferenceName"] for t in views.spawned(run)["fan"]] == ["get_a", "get_b"]
    drawn = views.run_graph(run)
    assert 'data-ref="get_a" data-status="FAILED"' in drawn and "dynamic tasks" not in drawn


def test_a_learners_exercise_runs_are_found_apart_from_the_courses(flow):
    """workflowcheck registers an answer as practice_<exercise>_<hash>: "your exercise answers"
    lists those runs and no course run."""
    api = flow["api"]
    name = f"practice_{flow['tag']}_0123abcd"
    note = {"name": "n", "taskReferenceName": "n", "type": "SET_VARIABLE", "inputParameters": {"x": 1}}
    definition = {"name": name, "version": 1, "schemaVersion": 2, "tasks": [note]}
    requests.put(f"{api}/metadata/workflow", json=[definition], timeout=10).raise_for_status()
    mine = requests.post(f"{api}/workflow", json={"name": name, "version": 1}, timeout=10).text
    course = start(flow, "ORD-COURSE")
    explorer = Explorer(api, refresh_seconds=3600)
    try:
        assert explorer.def_list.options[-1][1].startswith("practice_")  # listed after the course's
        explorer.workflow_choice.value = views.PRACTICE
        found = {o[1] for o in explorer.results.options}
        assert mine in found and course not in found
        explorer.workflow_choice.value = ""
        explorer.free_text.value = flow["tag"]
        explorer.search_button.click()  # the exercise's id finds its runs too
        assert mine in {o[1] for o in explorer.results.options}
    finally:
        explorer.close()
        requests.delete(f"{api}/workflow/{course}", params={"reason": "test over"}, timeout=10)


def test_the_list_refreshes_while_a_run_is_live(flow):
    workflow_id = start(flow, "ORD-LIVE", kind="plain")
    explorer = Explorer(flow["api"], refresh_seconds=0.1)
    try:
        explorer.workflow_choice.value = flow["name"]
        assert explorer.page.live and "RUNNING" in explorer.results.options[0][0]
        explorer.results.value = workflow_id
        work(flow, "COMPLETED")  # nobody touches the widget: it reads the change itself
        deadline = time.monotonic() + 20
        while "COMPLETED" not in explorer.results.options[0][0] or explorer.run["status"] != "COMPLETED":
            assert time.monotonic() < deadline, "the explorer did not refresh"
            time.sleep(0.1)
        assert not explorer.page.live
    finally:
        explorer.close()
