"""The local engine's answers on the wire, as Conductor v3.32.1 gives them: status codes,
body shapes, registration checks, HTTP/1.1 details.

Raw HTTP (http.client) so nothing between the test and the server smooths an answer over.
Each test names the Conductor source it follows (``rest/`` is rest/src/main/java/com/netflix/
conductor/rest/controllers, ``core/`` core/src/main/java/com/netflix/conductor/core).
"""

import http.client
import json
import urllib.parse

import pytest
from conformance import TARGET, behaves


class Wire:
    """One keep-alive connection to the engine."""

    def __init__(self, url):
        parts = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)

    def call(self, method, path, body=None, chunked=False, raw=None):
        headers = {}
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            headers["Content-Type"] = "application/json"
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
            self.conn.request(method, "/api" + path, body=_chunks(data), headers=headers, encode_chunked=True)
        else:
            self.conn.request(method, "/api" + path, body=data, headers=headers)
        response = self.conn.getresponse()
        payload = response.read()
        try:
            parsed = json.loads(payload) if payload else None
        except ValueError:
            parsed = payload.decode()
        return response.status, parsed, response


def _chunks(data):
    for i in range(0, len(data), 7):
        yield data[i : i + 7]


@pytest.fixture
def wire(local_server):
    w = Wire(local_server.url)
    yield w
    w.conn.close()


def task_def(name, **fields):
    return {"name": name, "retryCount": 0, "responseTimeoutSeconds": 60, **fields}


def workflow_def(name, *tasks, **fields):
    return {
        "name": name,
        "version": 1,
        "tasks": list(tasks) or [{"name": f"{name}_a", "taskReferenceName": "a", "type": "SIMPLE"}],
        **fields,
    }


def register(wire, name):
    assert wire.call("POST", "/metadata/taskdefs", [task_def(f"{name}_a")])[0] == 200
    assert wire.call("POST", "/metadata/workflow", workflow_def(name))[0] == 200


def errors(body):
    return [e["message"] for e in body["validationErrors"]]


# --- HTTP/1.1 ------------------------------------------------------------------------------


@behaves(
    "request bodies sent chunked (`Transfer-Encoding: chunked`)",
    "read whole; the connection stays usable",
    source="RFC 9112 section 7.1 (Conductor runs on Tomcat, which reads them)",
)
def test_chunked_bodies_on_one_keep_alive_connection(wire, name):
    status, _, _ = wire.call("POST", "/metadata/taskdefs", [task_def(f"{name}_a")], chunked=True)
    assert status == 200
    status, _, _ = wire.call("POST", "/metadata/workflow", workflow_def(name), chunked=True)
    assert status == 200
    status, workflow_id, _ = wire.call("POST", f"/workflow/{name}", {"n": 1}, chunked=True)
    assert status == 200 and len(workflow_id) == 36
    status, tasks, _ = wire.call("GET", f"/tasks/poll/batch/{name}_a?workerid=w&count=1&timeout=1000")
    assert status == 200 and tasks[0]["inputData"] == {}
    result = {
        "workflowInstanceId": workflow_id,
        "taskId": tasks[0]["taskId"],
        "status": "COMPLETED",
        "outputData": {"ok": True},
        "workerId": "w",
    }
    status, body, _ = wire.call("POST", "/tasks", result, chunked=True)
    assert status == 200 and body == tasks[0]["taskId"]
    status, run, _ = wire.call("GET", f"/workflow/{workflow_id}")
    assert run["status"] == "COMPLETED" and run["output"] == {"ok": True}


@behaves("204 answers", "no body and no Content-Type", source="rest/TaskResource.java poll (ResponseEntity.noContent)")
def test_no_content_has_no_content_type(wire, name):
    status, body, response = wire.call("GET", f"/tasks/poll/{name}_nothing?workerid=w")
    assert status == 204 and body is None
    assert response.getheader("Content-Type") is None and response.getheader("Content-Length") is None
    status, body, response = wire.call("GET", "/tasks/not-a-task/log")
    assert status == 204 and response.getheader("Content-Type") is None


@behaves(
    "a path Conductor does not serve",
    "404 No static resource …; 405 for another method",
    source="rest/ApplicationExceptionMapper.java handleAll "
    "(NoResourceFoundException, HttpRequestMethodNotSupportedException)",
)
def test_unknown_paths_and_methods(wire):
    status, body, _ = wire.call("POST", "/workflow/execute/only-a-name", {})
    assert status == 404 and body["message"] == "No static resource api/workflow/execute/only-a-name."
    assert set(body) == {"status", "message", "instance", "retryable"} and body["retryable"] is False
    status, body, _ = wire.call("PATCH", "/metadata/workflow", {})
    assert status == 405 and body["message"] == "Request method 'PATCH' is not supported"


@behaves(
    "server version",
    f"GET /api/version answers {TARGET}",
    source="org/conductoross/conductor/controllers/VersionResource.java",
)
def test_version(wire):
    assert wire.call("GET", "/version")[:2] == (200, TARGET)


# --- registration --------------------------------------------------------------------------


@behaves(
    "register a workflow that exists (POST /metadata/workflow)",
    "409 unless `overwrite=true`, which replaces it",
    "same (3.15.0: 409 even with overwrite)",
    source="rest/MetadataResource.java create",
)
def test_register_overwrite_semantics(wire, name):
    register(wire, name)
    status, body, _ = wire.call("POST", "/metadata/workflow", workflow_def(name))
    assert status == 409 and body["message"] == f"Workflow with {name}.1 already exists!"
    changed = workflow_def(name, description="second")
    assert wire.call("POST", "/metadata/workflow?overwrite=true", changed)[0] == 200
    assert wire.call("GET", f"/metadata/workflow/{name}?version=1")[1]["description"] == "second"
    status, body, _ = wire.call("PUT", "/metadata/workflow", [workflow_def(name), workflow_def(f"{name}_2")])
    assert status == 200 and body["bulkSuccessfulResults"] == [name, f"{name}_2"]


@pytest.mark.parametrize(
    "task, message",
    [
        (
            {"name": "stop", "taskReferenceName": "stop", "type": "TERMINATE", "inputParameters": {}},
            "terminate task must have an terminationStatus parameter and must be set to COMPLETED or FAILED, "
            "taskName: stop",
        ),
        (
            {
                "name": "stop",
                "taskReferenceName": "stop",
                "type": "TERMINATE",
                "inputParameters": {"terminationStatus": "failed"},
            },
            "terminate task must have an terminationStatus parameter and must be set to COMPLETED or FAILED, "
            "taskName: stop",
        ),
        (
            {"name": "sw", "taskReferenceName": "sw", "type": "SWITCH", "expression": "x", "decisionCases": {"a": []}},
            "evaluatorType field is required for taskType: SWITCH taskName: sw",
        ),
        (
            {
                "name": "sw",
                "taskReferenceName": "sw",
                "type": "SWITCH",
                "evaluatorType": "value-param",
                "decisionCases": {"a": []},
            },
            "expression field is required for taskType: SWITCH taskName: sw",
        ),
        ({"taskReferenceName": "nameless", "type": "SIMPLE"}, "WorkflowTask name cannot be empty or null"),
    ],
)
@behaves(
    "workflow registration checks",
    "400 `validationErrors` (TERMINATE status, SWITCH evaluatorType/expression, nameless tasks, schemaVersion 2)",
    source="core/validations/WorkflowTaskTypeConstraint.java; "
    "common/metadata/workflow/WorkflowTask.java, WorkflowDef.java",
)
def test_workflow_registration_is_checked_as_conductor_checks_it(wire, name, task, message):
    status, body, _ = wire.call("POST", "/metadata/workflow", workflow_def(name, task))
    assert status == 400 and body["message"] == "Validation failed, check below errors for detail."
    assert message in errors(body)
    status, body, _ = wire.call("POST", "/metadata/workflow", workflow_def(f"{name}_v1", schemaVersion=1))
    assert status == 400 and errors(body) == ["workflowDef schemaVersion: 2 is only supported"]
    assert body["validationErrors"][0] == {
        "path": "registerWorkflowDef.arg0.schemaVersion",
        "message": "workflowDef schemaVersion: 2 is only supported",
        "invalidValue": "1",
    }


@behaves(
    "task definition checks",
    "400: responseTimeoutSeconds < 1 or above timeoutSeconds, retryCount < 0",
    source="common/metadata/tasks/TaskDef.java; common/constraints/TaskTimeoutConstraint.java",
)
def test_task_definition_checks(wire, name):
    status, body, _ = wire.call("POST", "/metadata/taskdefs", [task_def(name, responseTimeoutSeconds=0)])
    assert status == 400 and errors(body) == ["TaskDef responseTimeoutSeconds: 0 should be minimum 1 second"]
    status, body, _ = wire.call("POST", "/metadata/taskdefs", [task_def(name, timeoutSeconds=10)])
    assert status == 400 and errors(body) == [
        f"TaskDef: {name} responseTimeoutSeconds: 60 must be less than timeoutSeconds: 10"
    ]
    status, body, _ = wire.call("POST", "/metadata/taskdefs", [task_def(name, retryCount=-1)])
    assert errors(body) == ["TaskDef retryCount: 0 must be >= 0"]  # Conductor writes the bound
    status, body, _ = wire.call("PUT", "/metadata/taskdefs", task_def(f"{name}_never_registered"))
    assert status == 404 and body["message"] == f"No such task by name {name}_never_registered"


@behaves(
    "start with priority above 99",
    "400 `validationErrors`",
    source="common/metadata/workflow/StartWorkflowRequest.java priority",
)
def test_priority_above_99_is_refused(wire, name):
    register(wire, name)
    status, body, _ = wire.call("POST", "/workflow", {"name": name, "priority": 100, "input": {}})
    assert status == 400 and errors(body) == ["priority: 100 should be maximum 99"]
    status, body, _ = wire.call("POST", f"/workflow/{name}?priority=100", {})
    assert status == 400 and errors(body) == ["99 is the maximum priority value"]


@behaves(
    "long poll above 5 s",
    "400 Long Poll Timeout value cannot be more than 5 seconds",
    source="core/../service/ExecutionService.java poll",
)
def test_long_poll_is_capped(wire, name):
    status, body, _ = wire.call("GET", f"/tasks/poll/batch/{name}?timeout=6000")
    assert status == 400 and body["message"] == "Long Poll Timeout value cannot be more than 5 seconds"


# --- operator answers ----------------------------------------------------------------------


@behaves(
    "terminate a TERMINATED workflow; retry a RUNNING one",
    "200 (nothing to do); 404",
    "same (3.15.0: terminate again makes it TERMINATED afresh)",
    source="core/execution/WorkflowExecutorOps.java terminateWorkflow, retry; rest/WorkflowResource.java",
)
def test_operator_answers(wire, name):
    register(wire, name)
    _, workflow_id, _ = wire.call("POST", f"/workflow/{name}", {})
    status, body, _ = wire.call("POST", f"/workflow/{workflow_id}/retry")
    assert status == 404 and body["message"] == "Workflow is still running.  status=RUNNING"
    status, body, response = wire.call("DELETE", f"/workflow/{workflow_id}?reason=stop")
    assert (status, body) == (200, None) and response.getheader("Content-Type") is None
    assert wire.call("DELETE", f"/workflow/{workflow_id}?reason=again")[:2] == (200, None)
    assert wire.call("GET", f"/workflow/{workflow_id}")[1]["reasonForIncompletion"] == "stop"
    status, _, _ = wire.call("POST", f"/workflow/{workflow_id}/retry")
    assert status == 204


@behaves(
    "GET /workflow/{id}/status",
    "workflowId, status (output, variables on request)",
    "same (3.32.0 and later)",
    source="rest/WorkflowResource.java getWorkflowStatusSummary",
)
def test_status_summary(wire, name):
    register(wire, name)
    _, workflow_id, _ = wire.call("POST", f"/workflow/{name}", {})
    assert wire.call("GET", f"/workflow/{workflow_id}/status")[1] == {"workflowId": workflow_id, "status": "RUNNING"}
    body = wire.call("GET", f"/workflow/{workflow_id}/status?includeOutput=true&includeVariables=true")[1]
    assert body == {"workflowId": workflow_id, "status": "RUNNING", "output": {}, "variables": {}}


@behaves(
    "synchronous execute (POST /workflow/execute/{name}/{version})",
    "a WorkflowRun (TARGET_WORKFLOW); `signalTimeout` when time is up",
    "same (3.21.23 and later)",
    source="rest/WorkflowResource.java executeWorkflow; core/execution/NotificationResult.java",
)
def test_execute_answers_a_workflow_run(wire, name):
    register(wire, name)
    status, run, _ = wire.call("POST", f"/workflow/execute/{name}/1?waitForSeconds=1&requestId=r1", {"input": {"n": 1}})
    assert status == 200 and run["status"] == "RUNNING" and run["signalTimeout"] is True
    assert run["responseType"] == "TARGET_WORKFLOW" and run["requestId"] == "r1"
    assert run["targetWorkflowId"] == run["workflowId"] and run["input"] == {"n": 1}


def test_compose_pins_the_targeted_conductor_version():
    """docker-compose.yaml's Conductor is the version the local engine answers as, from the
    image Conductor's docs name (conductoross/conductor; conductor-standalone ended at 3.15.0)."""
    from pathlib import Path

    import yaml

    from fdelib.conductor.server import CONDUCTOR_VERSION

    compose = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yaml").read_text())
    assert compose["services"]["conductor"]["image"] == f"conductoross/conductor:{CONDUCTOR_VERSION}"
    assert CONDUCTOR_VERSION == TARGET


# --- where the local engine differs on purpose ---------------------------------------------


@pytest.mark.parametrize(
    "task",
    [
        {
            "name": "loop",
            "taskReferenceName": "loop",
            "type": "DO_WHILE",
            "loopCondition": "false",
            "loopOver": [{"name": "a", "taskReferenceName": "a", "type": "SIMPLE"}],
        },
        {"name": "call", "taskReferenceName": "call", "type": "HTTP", "inputParameters": {"uri": "http://x"}},
        {
            "name": "sw",
            "taskReferenceName": "sw",
            "type": "SWITCH",
            "evaluatorType": "graaljs",
            "expression": "1",
            "decisionCases": {"1": [{"name": "a", "taskReferenceName": "a", "type": "SIMPLE"}]},
        },
    ],
)
@behaves(
    "task types and evaluators the engine lacks (DO_WHILE, HTTP, SUB_WORKFLOW, WAIT, INLINE, JavaScript SWITCH, …)",
    "400 at registration, naming what is missing",
    "registered and run",
    source="fdelib/conductor/definitions.py _check_runnable (the engine's own limits)",
)
def test_what_the_engine_lacks_is_refused_at_registration(wire, name, task):
    status, body, _ = wire.call("POST", "/metadata/workflow", workflow_def(name, task))
    assert status == 400 and "local engine" in body["message"]


@behaves(
    "JOIN on a task the workflow does not have",
    "400 at registration",
    "registered; the JOIN then waits forever",
    source="core/execution/tasks/Join.java execute (never all terminal)",
)
def test_join_on_an_unknown_task_is_refused(wire, name):
    fork = {
        "name": "f",
        "taskReferenceName": "f",
        "type": "FORK_JOIN",
        "forkTasks": [[{"name": f"{name}_a", "taskReferenceName": "a", "type": "SIMPLE"}]],
    }
    join = {"name": "j", "taskReferenceName": "j", "type": "JOIN", "joinOn": ["a", "ghost"]}
    status, body, _ = wire.call("POST", "/metadata/workflow", workflow_def(name, fork, join))
    assert status == 400 and "waits on unknown task(s) ghost" in body["message"]


@behaves(
    "reasonForIncompletion of a workflow a task failed",
    "Task 'ref' failed with status S and reason: 'r'",
    "Task <taskId> failed with status: FAILED and reason: 'r'",
    source="core/execution/DeciderService.java retry (the local wording names the task, stable in lessons)",
)
def test_failed_workflow_reason_names_the_task_reference(wire, name):
    register(wire, name)
    _, workflow_id, _ = wire.call("POST", f"/workflow/{name}", {})
    _, tasks, _ = wire.call("GET", f"/tasks/poll/batch/{name}_a?workerid=w&timeout=1000")
    wire.call(
        "POST",
        "/tasks",
        {
            "workflowInstanceId": workflow_id,
            "taskId": tasks[0]["taskId"],
            "status": "FAILED",
            "reasonForIncompletion": "boom",
        },
    )
    run = wire.call("GET", f"/workflow/{workflow_id}")[1]
    assert run["status"] == "FAILED"
    assert run["reasonForIncompletion"] == "Task 'a' failed with status FAILED and reason: 'boom'"


def test_readme_table_is_current():
    """README.md's conformance table is the one these tests declare (rewrite it with
    ``python tests/conductor/conformance.py``)."""
    import conformance

    assert conformance.readme_table(conformance.README.read_text()) == conformance.table(), (
        "README.md's conformance table is stale: run python tests/conductor/conformance.py"
    )
