"""The differential conformance suite as data: scripted HTTP interactions sent to the local
engine and to the real Conductor OSS server, compared after normalisation.

A *scenario* is a list of steps run in order against one server; every step is an HTTP
request (method, path, query, body). A step with an ``id`` is an *interaction*: its answer,
seen through its ``view`` (what of the answer is compared) and normalised (ids, times,
worker ids and host names replaced by placeholders), must be equal on both servers — or the
interaction is listed in :data:`DELIBERATE` with the reason the local engine differs on
purpose. Steps without an ``id`` are setup. Workers are the script itself: it polls and
updates tasks over HTTP, so every run is deterministic.

``{{p}}`` in a path, query or body is the run's name prefix (one per server and run, so runs
never meet); ``{{name}}`` is a value an earlier step saved (``save={"wid": "text"}``). A step
with ``until`` is repeated (briefly, up to :data:`PATIENCE` seconds) until its condition
holds: Conductor runs JOIN and timeouts asynchronously, the local engine at once.

:func:`run` plays every scenario against one server; ``test_differential`` plays them against
both and compares; :func:`table` is the README's table of the suite's results by feature.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

#: how long a step with ``until`` may repeat (Conductor's sweeper and async JOIN)
PATIENCE = 45.0
_NO_BODY = object()


@dataclasses.dataclass(frozen=True)
class Step:
    method: str
    path: str
    body: Any = _NO_BODY
    query: dict | None = None
    id: str | None = None  # an interaction (compared) when set
    feature: str = ""
    view: str = "json"
    save: dict | None = None
    until: str | None = None
    raw: str | None = None  # a body sent as it is (not JSON-encoded)


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    area: str
    steps: list[Step]


def ask(id, feature, method, path, body=_NO_BODY, *, view="json", query=None, save=None, until=None, raw=None):
    return Step(method, path, body, query, id, feature, view, save, until, raw)


def setup(method, path, body=_NO_BODY, *, query=None, save=None, until=None):
    return Step(method, path, body, query, None, "", "json", save, until)


# --- building blocks -----------------------------------------------------------------------


def taskdef(name: str, **extra) -> dict:
    base = {"name": name, "retryCount": 0, "retryDelaySeconds": 0, "timeoutSeconds": 300, "responseTimeoutSeconds": 180}
    return {**base, **extra}


def simple(name: str, ref: str, **extra) -> dict:
    return {"name": name, "taskReferenceName": ref, "type": "SIMPLE", **extra}


def wf(name: str, tasks: list[dict], **extra) -> dict:
    return {"name": name, "version": 1, "schemaVersion": 2, "tasks": tasks, **extra}


def register(*defs: dict) -> Step:
    return setup("PUT", "/metadata/workflow", list(defs))


def taskdefs(*defs: dict) -> Step:
    return setup("POST", "/metadata/taskdefs", list(defs))


def start(name: str, body: dict | None = None, var: str = "wid") -> Step:
    return setup("POST", f"/workflow/{name}", body or {}, save={var: "text"})


def poll(kind: str, var: str = "tid") -> Step:
    """A worker's poll: repeated until a task is handed out (a retry may wait its delay)."""
    return setup("GET", f"/tasks/poll/{kind}", query={"workerid": "w1"}, save={var: "json:taskId"}, until="code=200")


def complete(tid: str, wid: str, status: str = "COMPLETED", output: dict | None = None, **extra) -> Step:
    body = {
        "taskId": f"{{{{{tid}}}}}",
        "workflowInstanceId": f"{{{{{wid}}}}}",
        "status": status,
        "outputData": output or {},
        "workerId": "w1",
        **extra,
    }
    return setup("POST", "/tasks", body)


def settle(id: str, feature: str, wid: str = "wid", until: str = "status!=RUNNING") -> Step:
    return ask(id, feature, "GET", f"/workflow/{{{{{wid}}}}}", view="workflow", until=until)


P = "{{p}}"

# --- the scenarios ---------------------------------------------------------------------------

EXPRESSIONS = {
    "whole": "${workflow.input.order}",
    "field": "${workflow.input.order.qty}",
    "index": "${workflow.input.items[0]}",
    "negative_index": "${workflow.input.items[-1]}",
    "wildcard": "${workflow.input.lines[*].sku}",
    "slice": "${workflow.input.items[0:2]}",
    "filter": "${workflow.input.lines[?(@.qty > 1)].sku}",
    "deep_scan": "${workflow.input..sku}",
    "bracket_key": "${workflow.input['dotted.key']}",
    "length": "${workflow.input.items.length()}",
    "missing": "${workflow.input.nothing.here}",
    "in_text": "order ${workflow.input.order.id} of ${workflow.input.order.qty}",
    "map_in_text": "got ${workflow.input.order}",
    "list_in_text": "got ${workflow.input.items}",
    "null_in_text": "got ${workflow.input.nothing}",
    "bool_in_text": "flag ${workflow.input.flag}",
    "float_in_text": "px ${workflow.input.price}",
    "escaped": "$${workflow.input.order}",
    "nested": "${workflow.input.${workflow.input.key}}",
    "workflow_id": "${workflow.workflowId}",
    "workflow_status": "${workflow.status}",
    "workflow_type": "${workflow.workflowType}",
    "task_id": "${CPEWF_TASK_ID}",
    "secret": "${workflow.secrets.api_key}",
    "list_template": ["${workflow.input.flag}", "fixed", 3],
    "map_template": {"q": "${workflow.input.order.qty}", "k": {"deep": "${workflow.input.key}"}},
    "constant": 42,
}
EXPRESSION_INPUT = {
    "order": {"id": "A1", "qty": 3},
    "items": [10, 20, 30],
    "lines": [{"sku": "x", "qty": 1}, {"sku": "y", "qty": 2}],
    "dotted.key": "dotted",
    "key": "flag",
    "flag": True,
    "price": 101.5,
}


def _expression_scenario() -> Scenario:
    n = f"{P}expr"
    steps = [
        taskdefs(taskdef(f"{n}_t"), taskdef(f"{n}_u")),
        register(
            wf(
                n,
                [
                    simple(f"{n}_t", "t", inputParameters=EXPRESSIONS),
                    simple(
                        f"{n}_u",
                        "u",
                        inputParameters={
                            "prev_output": "${t.output}",
                            "prev_field": "${t.output.result.values[1]}",
                            "prev_status": "${t.status}",
                            "prev_input": "${t.input.field}",
                            "prev_retry": "${t.retryCount}",
                            "prev_missing": "${t.output.none}",
                        },
                    ),
                ],
                outputParameters={
                    "t": "${t.output.result}",
                    "u": "${u.output}",
                    "count": "${t.output.result.values.length()}",
                },
            )
        ),
        start(n, EXPRESSION_INPUT),
        poll(f"{n}_t"),
    ]
    for key in EXPRESSIONS:
        steps.append(
            ask(f"expr.{key}", f"expression: {key.replace('_', ' ')}", "GET", "/tasks/{{tid}}", view=f"input:{key}")
        )
    steps += [
        complete("tid", "wid", output={"result": {"values": [1, 2, 3]}}),
        poll(f"{n}_u", "tid2"),
        ask(
            "expr.previous_task",
            "expression: another task's output, input, status",
            "GET",
            "/tasks/{{tid2}}",
            view="task",
        ),
        complete("tid2", "wid", output={"done": True}),
        settle("expr.workflow_output", "expression: workflow outputParameters"),
    ]
    return Scenario("expressions", "expressions", steps)


def _health() -> Scenario:
    return Scenario(
        "health",
        "routes",
        [
            ask("health", "GET /health", "GET", "/../health", view="json"),
            ask("version", "GET /version", "GET", "/version", view="text"),
            ask("unknown_path", "a path not served: 404", "GET", "/nothing/here", view="code"),
            ask("wrong_method", "a served path with another method: 405", "PATCH", "/metadata/taskdefs", view="code"),
        ],
    )


def _taskdefs() -> Scenario:
    n = f"{P}td"
    return Scenario(
        "taskdefs",
        "metadata",
        [
            ask("td.register", "POST /metadata/taskdefs", "POST", "/metadata/taskdefs", [{"name": n}], view="text"),
            ask("td.get", "GET /metadata/taskdefs/{name}", "GET", f"/metadata/taskdefs/{n}", view="taskdef"),
            ask(
                "td.update",
                "PUT /metadata/taskdefs",
                "PUT",
                "/metadata/taskdefs",
                {"name": n, "retryCount": 2},
                view="text",
            ),
            ask("td.get_updated", "PUT /metadata/taskdefs", "GET", f"/metadata/taskdefs/{n}", view="taskdef"),
            ask("td.list", "GET /metadata/taskdefs", "GET", "/metadata/taskdefs", view="names"),
            ask(
                "td.get_unknown", "an unknown task definition: 404", "GET", f"/metadata/taskdefs/{n}_none", view="error"
            ),
            ask(
                "td.update_unknown",
                "PUT of an unknown task definition",
                "PUT",
                "/metadata/taskdefs",
                taskdef(f"{n}_none"),
                view="error",
            ),
            ask("td.empty_list", "registration: an empty list", "POST", "/metadata/taskdefs", [], view="error"),
            ask(
                "td.no_name",
                "registration: a task definition without name",
                "POST",
                "/metadata/taskdefs",
                [{"retryCount": 1}],
                view="error",
            ),
            ask(
                "td.negative_retry",
                "registration: retryCount < 0",
                "POST",
                "/metadata/taskdefs",
                [taskdef(f"{n}_x1", retryCount=-1)],
                view="error",
            ),
            ask(
                "td.response_over_timeout",
                "registration: responseTimeoutSeconds > timeoutSeconds",
                "POST",
                "/metadata/taskdefs",
                [taskdef(f"{n}_x2", timeoutSeconds=10, responseTimeoutSeconds=20)],
                view="error",
            ),
            ask(
                "td.response_zero",
                "registration: responseTimeoutSeconds < 1",
                "POST",
                "/metadata/taskdefs",
                [taskdef(f"{n}_x3", responseTimeoutSeconds=0)],
                view="error",
            ),
            ask(
                "td.bad_retry_logic",
                "registration: an unknown retryLogic",
                "POST",
                "/metadata/taskdefs",
                [taskdef(f"{n}_x4", retryLogic="SOMETIMES")],
                view="code",
            ),
            ask("td.bad_json", "a body that is not JSON", "POST", "/metadata/taskdefs", raw="{not json", view="code"),
            ask("td.delete", "DELETE /metadata/taskdefs/{name}", "DELETE", f"/metadata/taskdefs/{n}", view="text"),
            ask("td.get_deleted", "a deleted task definition: 404", "GET", f"/metadata/taskdefs/{n}", view="code"),
            ask(
                "td.delete_unknown",
                "DELETE of an unknown task definition",
                "DELETE",
                f"/metadata/taskdefs/{n}_none",
                view="error",
            ),
        ],
    )


def _workflowdefs() -> Scenario:
    n = f"{P}wd"
    t = f"{n}_t"
    good = wf(n, [simple(t, "a")], description="d")
    return Scenario(
        "workflowdefs",
        "metadata",
        [
            taskdefs(taskdef(t)),
            ask("wd.create", "POST /metadata/workflow", "POST", "/metadata/workflow", good, view="text"),
            ask(
                "wd.create_again", "POST of an existing version: 409", "POST", "/metadata/workflow", good, view="error"
            ),
            ask(
                "wd.create_overwrite",
                "POST ?overwrite=true",
                "POST",
                "/metadata/workflow",
                good,
                query={"overwrite": "true"},
                view="text",
            ),
            ask("wd.get", "GET /metadata/workflow/{name}", "GET", f"/metadata/workflow/{n}", view="workflowdef"),
            ask(
                "wd.get_version",
                "GET /metadata/workflow/{name}?version",
                "GET",
                f"/metadata/workflow/{n}",
                query={"version": "1"},
                view="workflowdef",
            ),
            ask(
                "wd.get_unknown",
                "an unknown workflow definition: 404",
                "GET",
                f"/metadata/workflow/{n}_none",
                view="error",
            ),
            ask(
                "wd.get_unknown_version",
                "an unknown version: 404",
                "GET",
                f"/metadata/workflow/{n}",
                query={"version": "9"},
                view="error",
            ),
            ask(
                "wd.put_v2",
                "PUT /metadata/workflow (bulk)",
                "PUT",
                "/metadata/workflow",
                [{**good, "version": 2}],
                view="json",
            ),
            ask(
                "wd.get_latest",
                "the latest version without ?version",
                "GET",
                f"/metadata/workflow/{n}",
                view="workflowdef",
            ),
            ask("wd.list", "GET /metadata/workflow", "GET", "/metadata/workflow", view="names"),
            ask("wd.put_empty", "PUT of an empty list", "PUT", "/metadata/workflow", [], view="error"),
            ask("wd.no_tasks", "registration: no tasks", "POST", "/metadata/workflow", wf(f"{n}_x5", []), view="error"),
            ask(
                "wd.no_name",
                "registration: no name",
                "POST",
                "/metadata/workflow",
                {"version": 1, "schemaVersion": 2, "tasks": [simple(t, "a")]},
                view="error",
            ),
            ask(
                "wd.schema1",
                "registration: schemaVersion 1",
                "POST",
                "/metadata/workflow",
                wf(f"{n}_x6", [simple(t, "a")], schemaVersion=1),
                view="error",
            ),
            ask(
                "wd.no_ref",
                "registration: a task without taskReferenceName",
                "POST",
                "/metadata/workflow",
                wf(f"{n}_x7", [{"name": t, "type": "SIMPLE"}]),
                view="error",
            ),
            ask(
                "wd.dup_ref",
                "registration: duplicate reference names",
                "POST",
                "/metadata/workflow",
                wf(f"{n}_x8", [simple(t, "a"), simple(t, "a")]),
                view="error",
            ),
            ask(
                "wd.unknown_taskdef",
                "registration: a SIMPLE task without task definition",
                "POST",
                "/metadata/workflow",
                wf(f"{n}_x9", [simple(f"{n}_nodef", "a")]),
                view="error",
            ),
            ask(
                "wd.bad_reference",
                "registration: an expression naming no task",
                "POST",
                "/metadata/workflow",
                wf(f"{n}_x10", [simple(t, "a", inputParameters={"x": "${ghost.output.y}"})]),
                view="error",
            ),
            ask(
                "wd.switch_javascript",
                "registration: SWITCH evaluated by javascript",
                "POST",
                "/metadata/workflow",
                wf(
                    f"{n}_js",
                    [
                        {
                            "name": "s",
                            "taskReferenceName": "s",
                            "type": "SWITCH",
                            "evaluatorType": "javascript",
                            "expression": "$.kind == 'buy' ? 'buy' : 'other'",
                            "inputParameters": {"kind": "${workflow.input.kind}"},
                            "decisionCases": {"buy": [simple(t, "b")]},
                        }
                    ],
                ),
                view="code",
            ),
            ask(
                "wd.unsupported_type",
                "registration: a task type the local engine lacks (WAIT)",
                "POST",
                "/metadata/workflow",
                wf(f"{n}_wait", [{"name": "w", "taskReferenceName": "w", "type": "WAIT"}]),
                view="code",
            ),
            ask(
                "wd.empty_expression",
                "registration: an empty expression ${}",
                "POST",
                "/metadata/workflow",
                wf(f"{n}_x0", [simple(t, "a", inputParameters={"x": "${}"})]),
                view="error",
            ),
            ask(
                "wd.switch_no_cases",
                "registration: SWITCH without decisionCases/expression",
                "POST",
                "/metadata/workflow",
                wf(
                    f"{n}_x11",
                    [{"name": "s", "taskReferenceName": "s", "type": "SWITCH", "evaluatorType": "value-param"}],
                ),
                view="error",
            ),
            ask(
                "wd.terminate_bad_status",
                "registration: TERMINATE with an unknown terminationStatus",
                "POST",
                "/metadata/workflow",
                wf(
                    f"{n}_x12",
                    [
                        {
                            "name": "x",
                            "taskReferenceName": "x",
                            "type": "TERMINATE",
                            "inputParameters": {"terminationStatus": "DONE"},
                        }
                    ],
                ),
                view="error",
            ),
            ask(
                "wd.dynamic_fork_no_params",
                "registration: FORK_JOIN_DYNAMIC without its parameter names",
                "POST",
                "/metadata/workflow",
                wf(
                    f"{n}_x13",
                    [
                        {"name": "f", "taskReferenceName": "f", "type": "FORK_JOIN_DYNAMIC"},
                        {"name": "j", "taskReferenceName": "j", "type": "JOIN"},
                    ],
                ),
                view="error",
            ),
            ask(
                "wd.bad_timeout_policy",
                "registration: workflow timeoutPolicy RETRY",
                "POST",
                "/metadata/workflow",
                wf(f"{n}_x14", [simple(t, "a")], timeoutPolicy="RETRY"),
                view="code",
            ),
            ask(
                "wd.delete",
                "DELETE /metadata/workflow/{name}/{version}",
                "DELETE",
                f"/metadata/workflow/{n}/2",
                view="text",
            ),
            ask(
                "wd.delete_unknown", "DELETE of an unknown version", "DELETE", f"/metadata/workflow/{n}/7", view="error"
            ),
            ask(
                "wd.get_after_delete", "the latest after a delete", "GET", f"/metadata/workflow/{n}", view="workflowdef"
            ),
        ],
    )


def _start_and_read() -> Scenario:
    n = f"{P}run"
    t = f"{n}_t"
    return Scenario(
        "start",
        "workflows",
        [
            taskdefs(taskdef(t)),
            register(
                wf(
                    n,
                    [simple(t, "a", inputParameters={"x": "${workflow.input.x}"})],
                    outputParameters={"y": "${a.output.y}"},
                )
            ),
            ask(
                "start.by_name",
                "POST /workflow/{name}",
                "POST",
                f"/workflow/{n}",
                {"x": 1},
                view="uuid",
                save={"wid": "text"},
            ),
            ask(
                "start.request",
                "POST /workflow (StartWorkflowRequest)",
                "POST",
                "/workflow",
                {"name": n, "version": 1, "input": {"x": 2}, "correlationId": "c-1"},
                view="uuid",
                save={"wid2": "text"},
            ),
            ask("start.correlation", "the correlationId of a start", "GET", "/workflow/{{wid2}}", view="workflow"),
            ask("start.unknown", "start an unknown workflow: 404", "POST", f"/workflow/{n}_none", {}, view="error"),
            ask(
                "start.unknown_version",
                "start an unknown version: 404",
                "POST",
                f"/workflow/{n}",
                {},
                query={"version": "5"},
                view="error",
            ),
            ask(
                "start.priority_high",
                "start with priority 100: 400",
                "POST",
                f"/workflow/{n}",
                {},
                query={"priority": "100"},
                view="error",
            ),
            ask(
                "start.request_priority",
                "StartWorkflowRequest priority 100: 400",
                "POST",
                "/workflow",
                {"name": n, "priority": 100},
                view="code",
            ),
            ask(
                "start.request_no_name",
                "StartWorkflowRequest without name",
                "POST",
                "/workflow",
                {"input": {}},
                view="code",
            ),
            ask("wf.get", "GET /workflow/{id}", "GET", "/workflow/{{wid}}", view="workflow"),
            ask(
                "wf.get_no_tasks",
                "GET /workflow/{id}?includeTasks=false",
                "GET",
                "/workflow/{{wid}}",
                query={"includeTasks": "false"},
                view="workflow",
            ),
            ask("wf.status", "GET /workflow/{id}/status", "GET", "/workflow/{{wid}}/status", view="json"),
            ask(
                "wf.status_output",
                "GET /workflow/{id}/status?includeOutput&includeVariables",
                "GET",
                "/workflow/{{wid}}/status",
                query={"includeOutput": "true", "includeVariables": "true"},
                view="json",
            ),
            ask("wf.running", "GET /workflow/running/{name}", "GET", f"/workflow/running/{n}", view="sorted"),
            ask("wf.get_unknown", "an unknown workflow id: 404", "GET", f"/workflow/{uuid.UUID(int=1)}", view="error"),
            ask(
                "wf.status_unknown",
                "status of an unknown workflow id: 404",
                "GET",
                f"/workflow/{uuid.UUID(int=1)}/status",
                view="error",
            ),
            ask(
                "queue.size", "GET /tasks/queue/sizes", "GET", "/tasks/queue/sizes", query={"taskType": t}, view="json"
            ),
            ask(
                "poll.one",
                "GET /tasks/poll/{type}",
                "GET",
                f"/tasks/poll/{t}",
                query={"workerid": "w1"},
                view="task",
                save={"tid": "json:taskId"},
            ),
            ask(
                "poll.batch",
                "GET /tasks/poll/batch/{type}",
                "GET",
                f"/tasks/poll/batch/{t}",
                query={"workerid": "w1", "count": "5", "timeout": "10"},
                view="tasks",
                save={"tid2": "json:0.taskId"},
            ),
            ask(
                "poll.empty",
                "a poll of an empty queue: 204",
                "GET",
                f"/tasks/poll/{t}",
                query={"workerid": "w1"},
                view="text",
            ),
            ask(
                "poll.batch_empty",
                "a batch poll of an empty queue",
                "GET",
                f"/tasks/poll/batch/{t}",
                query={"count": "2", "timeout": "1"},
                view="json",
            ),
            ask(
                "queue.size_after",
                "queue sizes after polls",
                "GET",
                "/tasks/queue/sizes",
                query={"taskType": t},
                view="json",
            ),
            ask("task.get", "GET /tasks/{taskId}", "GET", "/tasks/{{tid}}", view="task"),
            ask("task.get_unknown", "an unknown task id", "GET", f"/tasks/{uuid.UUID(int=2)}", view="code"),
            ask("task.log_none", "GET /tasks/{id}/log without logs", "GET", "/tasks/{{tid}}/log", view="text"),
            ask("task.log_add", "POST /tasks/{id}/log", "POST", "/tasks/{{tid}}/log", raw="a line", view="text"),
            ask("task.log_get", "GET /tasks/{id}/log", "GET", "/tasks/{{tid}}/log", view="logs"),
            ask(
                "task.in_progress",
                "POST /tasks IN_PROGRESS",
                "POST",
                "/tasks",
                {
                    "taskId": "{{tid}}",
                    "workflowInstanceId": "{{wid}}",
                    "status": "IN_PROGRESS",
                    "outputData": {"half": 1},
                    "workerId": "w1",
                },
                view="text",
            ),
            ask("task.after_progress", "a task IN_PROGRESS", "GET", "/tasks/{{tid}}", view="task"),
            ask(
                "task.complete",
                "POST /tasks COMPLETED",
                "POST",
                "/tasks",
                {
                    "taskId": "{{tid}}",
                    "workflowInstanceId": "{{wid}}",
                    "status": "COMPLETED",
                    "outputData": {"y": 9},
                    "workerId": "w1",
                },
                view="text",
            ),
            settle("wf.completed", "a workflow completed by its worker"),
            ask(
                "task.update_done",
                "POST /tasks on a completed task",
                "POST",
                "/tasks",
                {"taskId": "{{tid}}", "workflowInstanceId": "{{wid}}", "status": "FAILED", "workerId": "w1"},
                view="code",
            ),
            ask(
                "task.update_unknown",
                "POST /tasks for an unknown task",
                "POST",
                "/tasks",
                {"taskId": str(uuid.UUID(int=3)), "workflowInstanceId": "{{wid}}", "status": "COMPLETED"},
                view="code",
            ),
            ask(
                "task.update_no_id",
                "POST /tasks without taskId",
                "POST",
                "/tasks",
                {"workflowInstanceId": "{{wid}}", "status": "COMPLETED"},
                view="code",
            ),
            ask(
                "wf.status_done",
                "status of a completed workflow",
                "GET",
                "/workflow/{{wid}}/status",
                query={"includeOutput": "true"},
                view="json",
            ),
            ask("wf.running_after", "running ids after one completed", "GET", f"/workflow/running/{n}", view="sorted"),
            # update-v2 on the second run (its task handed out by the batch poll)
            ask(
                "task.update_v2",
                "POST /tasks/update-v2",
                "POST",
                "/tasks/update-v2",
                {
                    "taskId": "{{tid2}}",
                    "workflowInstanceId": "{{wid2}}",
                    "status": "COMPLETED",
                    "outputData": {"y": 2},
                    "workerId": "w1",
                },
                view="code",
            ),
            settle("wf.completed_v2", "a workflow completed by update-v2", "wid2"),
        ],
    )


def _workflow_ops() -> Scenario:
    n = f"{P}ops"
    t = f"{n}_t"
    return Scenario(
        "operations",
        "workflows",
        [
            taskdefs(taskdef(t)),
            register(wf(n, [simple(t, "a"), simple(t, "b")])),
            start(n, {"k": 1}),
            ask(
                "ops.terminate",
                "DELETE /workflow/{id} (terminate)",
                "DELETE",
                "/workflow/{{wid}}",
                query={"reason": "stop"},
                view="text",
            ),
            settle("ops.terminated", "a terminated workflow"),
            ask("ops.terminate_again", "terminate a terminated workflow", "DELETE", "/workflow/{{wid}}", view="code"),
            ask(
                "ops.retry_terminated",
                "POST /workflow/{id}/retry of a terminated one",
                "POST",
                "/workflow/{{wid}}/retry",
                view="text",
            ),
            ask(
                "ops.retried", "a retried workflow", "GET", "/workflow/{{wid}}", view="workflow", until="status=RUNNING"
            ),
            ask("ops.retry_running", "retry a running workflow: 409", "POST", "/workflow/{{wid}}/retry", view="error"),
            ask(
                "ops.restart_running",
                "restart a running workflow: 409",
                "POST",
                "/workflow/{{wid}}/restart",
                view="error",
            ),
            poll(t),
            complete("tid", "wid", "FAILED", reasonForIncompletion="boom"),
            settle("ops.failed", "a failed workflow"),
            ask("ops.restart", "POST /workflow/{id}/restart", "POST", "/workflow/{{wid}}/restart", view="text"),
            ask(
                "ops.restarted",
                "a restarted workflow",
                "GET",
                "/workflow/{{wid}}",
                view="workflow",
                until="status=RUNNING",
            ),
            ask(
                "ops.restart_latest",
                "restart ?useLatestDefinitions=true of a running one: 409",
                "POST",
                "/workflow/{{wid}}/restart",
                query={"useLatestDefinitions": "true"},
                view="code",
            ),
            ask(
                "ops.retry_unknown",
                "retry an unknown workflow: 404",
                "POST",
                f"/workflow/{uuid.UUID(int=4)}/retry",
                view="error",
            ),
            ask(
                "ops.restart_unknown",
                "restart an unknown workflow: 404",
                "POST",
                f"/workflow/{uuid.UUID(int=4)}/restart",
                view="error",
            ),
            ask(
                "ops.terminate_unknown",
                "terminate an unknown workflow: 404",
                "DELETE",
                f"/workflow/{uuid.UUID(int=4)}",
                view="error",
            ),
            ask("ops.pause", "PUT /workflow/{id}/pause", "PUT", "/workflow/{{wid}}/pause", view="code"),
            ask("ops.resume", "PUT /workflow/{id}/resume", "PUT", "/workflow/{{wid}}/resume", view="code"),
            ask(
                "ops.remove_running",
                "DELETE /workflow/{id}/remove of a running one",
                "DELETE",
                "/workflow/{{wid}}/remove",
                view="error",
            ),
            ask(
                "ops.remove_unknown",
                "remove an unknown workflow",
                "DELETE",
                f"/workflow/{uuid.UUID(int=4)}/remove",
                view="code",
            ),
            start(n, {"k": 2}, "wid2"),
            setup("DELETE", "/workflow/{{wid2}}"),
            ask("ops.remove", "DELETE /workflow/{id}/remove", "DELETE", "/workflow/{{wid2}}/remove", view="text"),
            ask("ops.removed", "a removed workflow: 404", "GET", "/workflow/{{wid2}}", view="error"),
            start(n, {"k": 3}, "wid3"),
            ask(
                "bulk.terminate",
                "POST /workflow/bulk/terminate",
                "POST",
                "/workflow/bulk/terminate",
                ["{{wid3}}", str(uuid.UUID(int=5))],
                query={"reason": "bulk"},
                view="json",
            ),
            ask("bulk.retry", "POST /workflow/bulk/retry", "POST", "/workflow/bulk/retry", ["{{wid3}}"], view="json"),
            ask(
                "bulk.restart",
                "POST /workflow/bulk/restart",
                "POST",
                "/workflow/bulk/restart",
                ["{{wid3}}", str(uuid.UUID(int=5))],
                view="json",
            ),
            ask(
                "bulk.terminate_remove",
                "DELETE /workflow/bulk/terminate-remove",
                "DELETE",
                "/workflow/bulk/terminate-remove",
                ["{{wid3}}"],
                view="json",
            ),
            ask(
                "bulk.remove_unknown",
                "DELETE /workflow/bulk/remove",
                "DELETE",
                "/workflow/bulk/remove",
                [str(uuid.UUID(int=5))],
                view="json",
            ),
            ask(
                "bulk.bad_body", "a bulk body that is no list", "POST", "/workflow/bulk/retry", {"ids": []}, view="code"
            ),
        ],
    )


def _by_ref() -> Scenario:
    n = f"{P}ref"
    t = f"{n}_t"
    return Scenario(
        "by_reference",
        "tasks",
        [
            taskdefs(taskdef(t)),
            register(wf(n, [simple(t, "a")], outputParameters={"got": "${a.output.got}"})),
            start(n),
            ask(
                "ref.complete",
                "POST /tasks/{wid}/{ref}/{status}",
                "POST",
                "/tasks/{{wid}}/a/COMPLETED",
                {"got": 1},
                view="uuid",
            ),
            settle("ref.completed", "a workflow completed by reference name"),
            ask(
                "ref.none_pending",
                "by reference name, no pending task",
                "POST",
                "/tasks/{{wid}}/a/COMPLETED",
                {},
                view="text",
            ),
            ask(
                "ref.bad_status",
                "by reference name, an unknown status: 500",
                "POST",
                "/tasks/{{wid}}/a/DONE",
                {},
                view="code",
            ),
            ask(
                "ref.unknown_workflow",
                "by reference name, an unknown workflow",
                "POST",
                f"/tasks/{uuid.UUID(int=6)}/a/COMPLETED",
                {},
                view="text",
            ),
        ],
    )


def _fork_join() -> Scenario:
    n = f"{P}fork"
    t = f"{n}_t"
    fork = {
        "name": "fork",
        "taskReferenceName": "fork",
        "type": "FORK_JOIN",
        "forkTasks": [
            [simple(t, "l", inputParameters={"side": "left"})],
            [simple(t, "r", inputParameters={"side": "right"})],
        ],
    }
    join = {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": ["l", "r"]}
    return Scenario(
        "fork_join",
        "task types",
        [
            taskdefs(taskdef(t)),
            register(wf(n, [fork, join], outputParameters={"joined": "${join.output}"})),
            start(n),
            ask(
                "fork.scheduled",
                "FORK_JOIN: both branches scheduled",
                "GET",
                "/workflow/{{wid}}",
                view="workflow",
                until="tasks>=4",
            ),
            ask(
                "fork.queue",
                "FORK_JOIN: two tasks queued",
                "GET",
                "/tasks/queue/sizes",
                query={"taskType": t},
                view="json",
            ),
            setup("POST", "/tasks/{{wid}}/l/COMPLETED", {"v": "L"}),
            ask(
                "fork.half",
                "JOIN waits for every branch",
                "GET",
                "/workflow/{{wid}}",
                view="workflow",
                until="output=join:l",
            ),
            setup("POST", "/tasks/{{wid}}/r/COMPLETED", {"v": "R"}),
            settle("fork.joined", "JOIN: the branches' outputs by reference name"),
        ],
    )


def _fork_fail() -> Scenario:
    n = f"{P}forkfail"
    t = f"{n}_t"
    fork = {
        "name": "fork",
        "taskReferenceName": "fork",
        "type": "FORK_JOIN",
        "forkTasks": [[simple(t, "l")], [simple(t, "r", optional=True)]],
    }
    join = {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": ["l", "r"]}
    return Scenario(
        "fork_optional",
        "errors and retries",
        [
            taskdefs(taskdef(t)),
            register(wf(n, [fork, join])),
            start(n),
            setup("GET", "/workflow/{{wid}}", until="tasks>=4"),
            setup("POST", "/tasks/{{wid}}/r/FAILED", {}),
            setup("POST", "/tasks/{{wid}}/l/COMPLETED", {"v": 1}),
            settle("fork.optional_failed", "an optional task failed in a branch: COMPLETED_WITH_ERRORS"),
        ],
    )


def _dynamic_fork() -> Scenario:
    n = f"{P}dyn"
    t = f"{n}_t"
    fork = {
        "name": "dyn",
        "taskReferenceName": "dyn",
        "type": "FORK_JOIN_DYNAMIC",
        "inputParameters": {"tasks": "${workflow.input.tasks}", "inputs": "${workflow.input.inputs}"},
        "dynamicForkTasksParam": "tasks",
        "dynamicForkTasksInputParamName": "inputs",
    }
    join = {"name": "join", "taskReferenceName": "join", "type": "JOIN"}
    tasks = [simple(t, "d1"), simple(t, "d2")]
    return Scenario(
        "dynamic_fork",
        "task types",
        [
            taskdefs(taskdef(t)),
            register(wf(n, [fork, join], outputParameters={"joined": "${join.output}"})),
            start(n, {"tasks": tasks, "inputs": {"d1": {"i": 1}, "d2": {"i": 2}}}),
            ask(
                "dyn.scheduled",
                "FORK_JOIN_DYNAMIC: the tasks and their inputs",
                "GET",
                "/workflow/{{wid}}",
                view="workflow",
                until="tasks>=4",
            ),
            setup("POST", "/tasks/{{wid}}/d1/COMPLETED", {"o": 1}),
            setup("POST", "/tasks/{{wid}}/d2/COMPLETED", {"o": 2}),
            settle("dyn.joined", "FORK_JOIN_DYNAMIC: JOIN of the dynamic tasks"),
            start(n, {"tasks": [], "inputs": {}}, "wid2"),
            settle("dyn.empty", "FORK_JOIN_DYNAMIC with no tasks", "wid2"),
            start(n, {"tasks": "nope", "inputs": {}}, "wid3"),
            settle("dyn.bad_list", "FORK_JOIN_DYNAMIC given no list", "wid3"),
        ],
    )


def _switch() -> Scenario:
    n = f"{P}sw"
    t = f"{n}_t"
    switch = {
        "name": "sw",
        "taskReferenceName": "sw",
        "type": "SWITCH",
        "evaluatorType": "value-param",
        "expression": "kind",
        "inputParameters": {"kind": "${workflow.input.kind}"},
        "decisionCases": {"buy": [simple(t, "buy")], "sell": [simple(t, "sell")]},
        "defaultCase": [simple(t, "other")],
    }
    decision = {
        "name": "dec",
        "taskReferenceName": "dec",
        "type": "DECISION",
        "caseValueParam": "kind",
        "inputParameters": {"kind": "${workflow.input.kind}"},
        "decisionCases": {
            "buy": [
                {"name": "s1", "taskReferenceName": "s1", "type": "SET_VARIABLE", "inputParameters": {"went": "buy"}}
            ]
        },
        "defaultCase": [
            {"name": "s2", "taskReferenceName": "s2", "type": "SET_VARIABLE", "inputParameters": {"went": "default"}}
        ],
    }
    d = f"{P}dec"
    steps = [
        taskdefs(taskdef(t)),
        register(
            wf(n, [switch], outputParameters={"case": "${sw.output.evaluationResult}"}),
            wf(d, [decision], outputParameters={"went": "${workflow.variables.went}"}),
        ),
    ]
    for kind in ("buy", "sell", "hold"):
        steps += [
            start(n, {"kind": kind}, f"w_{kind}"),
            ask(
                f"switch.{kind}",
                f"SWITCH value-param: case {kind}" if kind != "hold" else "SWITCH value-param: defaultCase",
                "GET",
                f"/workflow/{{{{w_{kind}}}}}",
                view="workflow",
                until="tasks>=2",
            ),
            setup("POST", f"/tasks/{{{{w_{kind}}}}}/{'other' if kind == 'hold' else kind}/COMPLETED", {}),
            settle(f"switch.{kind}_done", "SWITCH: the case's task completes the workflow", f"w_{kind}"),
        ]
    steps += [
        start(n, {}, "w_none"),
        ask(
            "switch.missing",
            "SWITCH value-param: a null value takes defaultCase",
            "GET",
            "/workflow/{{w_none}}",
            view="workflow",
            until="tasks>=2",
        ),
        start(d, {"kind": "buy"}, "d_buy"),
        settle("decision.buy", "DECISION caseValueParam: a case", "d_buy"),
        start(d, {"kind": 7}, "d_other"),
        settle("decision.default", "DECISION caseValueParam: defaultCase", "d_other"),
    ]
    return Scenario("switch", "task types", steps)


def _terminate_setvar() -> Scenario:
    n = f"{P}term"
    t = f"{n}_t"
    set_var = {
        "name": "sv",
        "taskReferenceName": "sv",
        "type": "SET_VARIABLE",
        "inputParameters": {"stage": "${workflow.input.stage}", "n": 1},
    }
    set_again = {"name": "sv2", "taskReferenceName": "sv2", "type": "SET_VARIABLE", "inputParameters": {"n": 2}}
    term = {
        "name": "stop",
        "taskReferenceName": "stop",
        "type": "TERMINATE",
        "inputParameters": {
            "terminationStatus": "COMPLETED",
            "workflowOutput": {"why": "${workflow.variables.stage}"},
            "terminationReason": "enough",
        },
    }

    def ending(status: str) -> dict:
        return {**term, "inputParameters": {**term["inputParameters"], "terminationStatus": status}}

    return Scenario(
        "terminate",
        "task types",
        [
            taskdefs(taskdef(t)),
            ask(
                "terminate.expression",
                "registration: TERMINATE with terminationStatus from an expression",
                "POST",
                "/metadata/workflow",
                wf(f"{n}_expr", [{**term, "inputParameters": {"terminationStatus": "${workflow.input.end}"}}]),
                view="error",
            ),
            register(
                *(
                    wf(
                        f"{n}_{end.lower()}",
                        [set_var, set_again, ending(end), simple(t, "never")],
                        outputParameters={"vars": "${workflow.variables}"},
                    )
                    for end in ("COMPLETED", "FAILED", "TERMINATED")
                ),
                wf(
                    f"{n}_sv",
                    [set_var, set_again],
                    outputParameters={"vars": "${workflow.variables}", "n": "${workflow.variables.n}"},
                ),
            ),
            start(f"{n}_completed", {"stage": "s1", "end": "COMPLETED"}),
            settle("terminate.completed", "TERMINATE COMPLETED with workflowOutput"),
            start(f"{n}_failed", {"stage": "s2", "end": "FAILED"}, "wid2"),
            settle("terminate.failed", "TERMINATE FAILED", "wid2"),
            start(f"{n}_terminated", {"stage": "s3", "end": "TERMINATED"}, "wid3"),
            settle("terminate.terminated", "TERMINATE TERMINATED", "wid3"),
            start(f"{n}_sv", {"stage": "s4"}, "wid4"),
            settle("setvar.workflow", "SET_VARIABLE: variables, overwritten by a later one", "wid4"),
            ask(
                "setvar.status_vars",
                "status with includeVariables",
                "GET",
                "/workflow/{{wid4}}/status",
                query={"includeVariables": "true"},
                view="json",
            ),
            ask(
                "execute.sync",
                "POST /workflow/execute/{name}/{version}",
                "POST",
                f"/workflow/execute/{n}_sv/1",
                {"input": {"stage": "x"}},
                query={"waitForSeconds": "5"},
                view="workflow",
            ),
            ask(
                "execute.unknown",
                "execute an unknown workflow: 404",
                "POST",
                f"/workflow/execute/{n}_none/1",
                {},
                view="code",
            ),
        ],
    )


def _retries() -> Scenario:
    steps = []
    defs = []
    for logic in ("FIXED", "EXPONENTIAL_BACKOFF", "LINEAR_BACKOFF"):
        name = f"{P}retry_{logic.lower()}"
        defs.append(
            taskdef(
                f"{name}_t",
                retryCount=2,
                retryLogic=logic,
                retryDelaySeconds=1 if logic != "FIXED" else 0,
                backoffScaleFactor=1,
            )
        )
        steps += [
            register(wf(name, [simple(f"{name}_t", "a")], outputParameters={"o": "${a.output.o}"})),
            start(name, {}, f"w_{logic}"),
            poll(f"{name}_t", "t1"),
            complete("t1", f"w_{logic}", "FAILED", reasonForIncompletion="first"),
            ask(
                f"retry.{logic.lower()}_scheduled",
                f"retryLogic {logic}: the retry scheduled",
                "GET",
                f"/workflow/{{{{w_{logic}}}}}",
                view="workflow",
                until="tasks>=2",
            ),
            poll(f"{name}_t", "t2"),
            ask(
                f"retry.{logic.lower()}_second",
                f"retryLogic {logic}: the second attempt",
                "GET",
                "/tasks/{{t2}}",
                view="task",
            ),
            complete("t2", f"w_{logic}", "FAILED", reasonForIncompletion="second"),
            poll(f"{name}_t", "t3"),
            complete("t3", f"w_{logic}", output={"o": "third"}),
            settle(f"retry.{logic.lower()}_done", f"retryLogic {logic}: completed by the last retry", f"w_{logic}"),
        ]
    terminal = f"{P}retry_terminal"
    exhausted = f"{P}retry_out"
    defs += [taskdef(f"{terminal}_t", retryCount=3), taskdef(f"{exhausted}_t", retryCount=1)]
    steps += [
        register(wf(terminal, [simple(f"{terminal}_t", "a")]), wf(exhausted, [simple(f"{exhausted}_t", "a")])),
        start(terminal, {}, "w_term"),
        poll(f"{terminal}_t", "tt"),
        complete("tt", "w_term", "FAILED_WITH_TERMINAL_ERROR", reasonForIncompletion="fatal"),
        settle("retry.terminal_error", "FAILED_WITH_TERMINAL_ERROR: no retry", "w_term"),
        start(exhausted, {}, "w_out"),
        poll(f"{exhausted}_t", "o1"),
        complete("o1", "w_out", "FAILED", reasonForIncompletion="one"),
        poll(f"{exhausted}_t", "o2"),
        complete("o2", "w_out", "FAILED", reasonForIncompletion="two"),
        settle("retry.exhausted", "retries exhausted: the workflow fails", "w_out"),
        ask(
            "retry.retry_failed",
            "POST /workflow/{id}/retry of a failed one",
            "POST",
            "/workflow/{{w_out}}/retry",
            view="text",
        ),
        ask(
            "retry.after_retry",
            "a retried failed workflow: its task again",
            "GET",
            "/workflow/{{w_out}}",
            view="workflow",
            until="status=RUNNING",
        ),
    ]
    return Scenario("retries", "errors and retries", [taskdefs(*defs), *steps])


def _optional_and_failure_workflow() -> Scenario:
    n = f"{P}opt"
    t = f"{n}_t"
    h = f"{P}handler"
    f = f"{P}failing"
    return Scenario(
        "optional_failure_workflow",
        "errors and retries",
        [
            taskdefs(taskdef(t), taskdef(f"{h}_t")),
            register(
                wf(n, [simple(t, "opt", optional=True), simple(t, "next", inputParameters={"was": "${opt.status}"})]),
                wf(h, [simple(f"{h}_t", "h")]),
                wf(f, [simple(t, "a")], failureWorkflow=h),
                wf(f"{f}_expr", [simple(t, "a")], failureWorkflow="${workflow.input.onFailure}"),
            ),
            start(n),
            setup("POST", "/tasks/{{wid}}/opt/FAILED", {"err": 1}),
            ask(
                "optional.continues",
                "an optional task fails: COMPLETED_WITH_ERRORS, the next runs",
                "GET",
                "/workflow/{{wid}}",
                view="workflow",
                until="tasks>=2",
            ),
            setup("POST", "/tasks/{{wid}}/next/COMPLETED", {}),
            settle("optional.done", "a workflow with an optional failure completes"),
            start(f, {"order": 1}, "wf"),
            setup("GET", "/workflow/{{wf}}", until="tasks>=1"),
            setup("POST", "/tasks/{{wf}}/a/FAILED", {}),
            ask(
                "failure_workflow.failed",
                "failureWorkflow: the failed run names it",
                "GET",
                "/workflow/{{wf}}",
                view="workflow",
                until="status!=RUNNING",
                save={"handler": "json:output.conductor.failure_workflow"},
            ),
            ask(
                "failure_workflow.started",
                "failureWorkflow: started with the failed run's details",
                "GET",
                "/workflow/{{handler}}",
                view="workflow",
            ),
            start(f"{f}_expr", {"onFailure}": h}, "wf2"),
            setup("GET", "/workflow/{{wf2}}", until="tasks>=1"),
            setup("POST", "/tasks/{{wf2}}/a/FAILED", {}),
            ask(
                "failure_workflow.expression",
                "failureWorkflow as ${workflow.input.…}",
                "GET",
                "/workflow/{{wf2}}",
                view="workflow",
                until="status!=RUNNING",
            ),
        ],
    )


def _timeouts() -> Scenario:
    r = f"{P}resp"
    w = f"{P}wftime"
    return Scenario(
        "timeouts",
        "errors and retries",
        [
            taskdefs(taskdef(f"{r}_t", responseTimeoutSeconds=1, timeoutSeconds=30, retryCount=1), taskdef(f"{w}_t")),
            register(
                wf(r, [simple(f"{r}_t", "a")]),
                wf(w, [simple(f"{w}_t", "a")], timeoutSeconds=1, timeoutPolicy="TIME_OUT_WF"),
            ),
            start(r, {}, "wr"),
            poll(f"{r}_t", "t1"),
            ask(
                "timeout.response",
                "responseTimeoutSeconds: TIMED_OUT and retried",
                "GET",
                "/workflow/{{wr}}",
                view="workflow",
                until="first=TIMED_OUT",
            ),
            start(w, {}, "ww"),
            settle("timeout.workflow", "workflow timeoutSeconds with TIME_OUT_WF", "ww"),
        ],
    )


SCENARIOS: list[Scenario] = [
    _health(),
    _taskdefs(),
    _workflowdefs(),
    _start_and_read(),
    _workflow_ops(),
    _by_ref(),
    _expression_scenario(),
    _fork_join(),
    _fork_fail(),
    _dynamic_fork(),
    _switch(),
    _terminate_setvar(),
    _retries(),
    _optional_and_failure_workflow(),
    _timeouts(),
]
INTERACTIONS: dict[str, tuple[str, str]] = {
    step.id: (scenario.area, step.feature) for scenario in SCENARIOS for step in scenario.steps if step.id
}

#: interactions whose answers differ on purpose, and why (a difference not listed fails the test;
#: a listed one that no longer differs fails it too, so the README's table stays true)
_SUBSET = "the local engine is a subset of Conductor: "
DELIBERATE: dict[str, str] = {
    "wd.switch_javascript": _SUBSET
    + "it runs no JavaScript, so it refuses a SWITCH evaluated by javascript at registration (400, saying so)",
    "wd.unsupported_type": _SUBSET + "a task type it does not run is refused at registration (400, saying so)",
    "failure_workflow.started": (
        "the reason a task gives a failed workflow: Conductor names the task's id ('Task <id> failed with "
        "status: FAILED and reason: 'null''), the local engine its reference name, which the course's "
        "notebooks show (not closed yet: changing it means re-executing them)"
    ),
    "ops.pause": _SUBSET + "no pause/resume (404: not served)",
    "ops.resume": _SUBSET + "no pause/resume (404: not served)",
}


# --- playing a scenario ------------------------------------------------------------------------

_VAR = re.compile(r"\{\{(\w+)\}\}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIMES = re.compile(r".*(Time|time|At)$|^(createdBy|updatedBy|lastRetriedTime)$")
_WORKERS = {"workerId", "callbackAfterSeconds", "pollCount", "queueWaitTime", "executionNameSpace", "isolationGroupId"}


def _fill(value: Any, variables: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _VAR.sub(lambda m: str(variables.get(m.group(1), m.group(0))), value)
    if isinstance(value, dict):
        return {_fill(k, variables): _fill(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, variables) for v in value]
    return value


def _pick(answer: requests.Response, selector: str) -> str | None:
    """``text``, or ``json:a.b.0.c`` (a key may hold dots: ``output.conductor.failure_workflow``)."""
    if selector == "text":
        return answer.text
    value: Any = answer.json() if answer.content else None
    parts = selector.removeprefix("json:").split(".")
    while parts:
        if isinstance(value, dict):
            for n in range(len(parts), 0, -1):  # the longest dotted key first
                if ".".join(parts[:n]) in value:
                    value, parts = value[".".join(parts[:n])], parts[n:]
                    break
            else:
                return None
        elif isinstance(value, list) and parts[0].isdigit() and int(parts[0]) < len(value):
            value, parts = value[int(parts[0])], parts[1:]
        else:
            return None
    return value


def _body(answer: requests.Response) -> Any:
    if not answer.content:
        return None
    try:
        return answer.json()
    except ValueError:
        return answer.text


def _holds(condition: str, answer: requests.Response) -> bool:
    key, _, wanted = condition.partition("=")
    if key == "code":
        return str(answer.status_code) == wanted
    body = _body(answer)
    if not isinstance(body, dict):
        return False
    if key == "status!":
        return body.get("status") != wanted
    if key == "status":
        return body.get("status") == wanted
    if key == "ref":
        ref, status = wanted.split(":")
        seen = [t for t in body.get("tasks", []) if t.get("referenceTaskName") == ref]
        return bool(seen) and seen[-1].get("status") == status
    if key == "output":  # a task's outputData has a key: output=ref:key
        ref, out = wanted.split(":")
        seen = [t for t in body.get("tasks", []) if t.get("referenceTaskName") == ref]
        return bool(seen) and out in (seen[-1].get("outputData") or {})
    if key == "first":  # the first task's status
        return bool(body.get("tasks")) and body["tasks"][0].get("status") == wanted
    if condition.startswith("tasks>="):
        return len(body.get("tasks", [])) >= int(condition.split(">=")[1])
    raise ValueError(f"unknown condition {condition!r}")


def play(scenario: Scenario, base: str, prefix: str) -> dict[str, Any]:
    """Run ``scenario`` against ``base`` (…/api): every interaction's normalised observation."""
    variables: dict[str, str] = {"p": prefix}
    seen: dict[str, Any] = {}
    session = requests.Session()
    for step in scenario.steps:
        path = _fill(step.path, variables)
        url = base.removesuffix("/api") + "/health" if path == "/../health" else base + path
        kwargs: dict[str, Any] = {"params": _fill(step.query, variables), "timeout": 60}
        if step.raw is not None:
            kwargs["data"] = step.raw.encode()
            kwargs["headers"] = {"Content-Type": "application/json" if step.raw.startswith("{") else "text/plain"}
        elif step.body is not _NO_BODY:
            kwargs["json"] = _fill(step.body, variables)
        unresolved = _VAR.search(json.dumps([path, kwargs.get("json"), kwargs["params"]]))
        if unresolved:  # an earlier step saved nothing under that name: the script is wrong
            raise RuntimeError(f"{scenario.name}: {step.method} {path}: nothing saved as {unresolved.group(0)}")
        deadline = time.monotonic() + PATIENCE
        while True:
            answer = session.request(step.method, url, **kwargs)
            if step.until is None or _holds(step.until, answer) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        for var, selector in (step.save or {}).items():
            try:
                found = _pick(answer, selector)
            except ValueError:
                found = None
            if found:
                variables[var] = str(found)
        if step.id:
            shown = normalise(view(step.view, answer), variables)
            if step.view == "sorted" and isinstance(shown[1], list):
                shown[1].sort()
            seen[step.id] = shown
        elif answer.status_code >= 300:  # the rest of the scenario would not mean much
            failed = f"setup {step.method} {path} answered {answer.status_code}: {answer.text[:300]}"
            for rest in scenario.steps:
                if rest.id and rest.id not in seen:
                    seen[rest.id] = normalise(failed, variables)
            return seen
    return seen


def run(base: str, scenarios: list[Scenario] | None = None, workers: int = 8) -> dict[str, Any]:
    """Every scenario against one server, several at a time (each has its own names)."""
    prefix = f"d{uuid.uuid4().hex[:6]}_"
    results: dict[str, Any] = {}
    with ThreadPoolExecutor(workers) as pool:
        for seen in pool.map(lambda s: play(s, base, prefix), scenarios or SCENARIOS):
            results.update(seen)
    return results


# --- what is compared --------------------------------------------------------------------------

_TASK_KEYS = (
    "taskType",
    "referenceTaskName",
    "taskDefName",
    "status",
    "retryCount",
    "retried",
    "seq",
    "inputData",
    "outputData",
    "workflowInstanceId",
    "workflowType",
    "retriedTaskId",
)
#: fields of an answer not compared, and why (shown under the README's table)
NOT_COMPARED = {
    "executed": "a flag internal to Conductor's decider (saved only when a task scheduled a next one)",
    "ids, times, worker ids": "they differ on every run; replaced by the name the script saved them under",
}
_WORKFLOW_KEYS = (
    "status",
    "workflowName",
    "workflowVersion",
    "input",
    "output",
    "variables",
    "correlationId",
    "priority",
)


def _task(task: dict) -> dict:
    shown = {k: task.get(k) for k in _TASK_KEYS if k in task}
    forked = (shown.get("inputData") or {}).get("forkedTaskDefs")
    if isinstance(forked, list):  # Conductor writes every WorkflowTask field, defaults included
        keys = ("name", "taskReferenceName", "type", "inputParameters")
        shown["inputData"] = {**shown["inputData"], "forkedTaskDefs": [{k: t.get(k) for k in keys} for t in forked]}
    return shown


def view(kind: str, answer: requests.Response) -> Any:
    """The part of an answer an interaction compares."""
    body = _body(answer)
    code = answer.status_code
    if kind == "code":
        return code
    if kind == "text":
        return [code, body]
    if kind == "uuid":
        return [code, bool(_UUID.fullmatch(answer.text))]
    if kind.startswith("input:"):
        return [code, (body or {}).get("inputData", {}).get(kind[6:], "<absent>")]
    if not isinstance(body, (dict, list)):
        return [code, body]
    if kind == "error":
        if not isinstance(body, dict):
            return [code, body]
        errors = sorted((e.get("path"), e.get("message")) for e in body.get("validationErrors") or [])
        return [code, body.get("status"), body.get("message"), errors]
    if kind == "task":
        return [code, _task(body)] if isinstance(body, dict) else [code, body]
    if kind == "tasks":
        return [code, [_task(t) for t in body]]
    if kind == "workflow" and isinstance(body, dict):
        shown = {k: body.get(k) for k in _WORKFLOW_KEYS}
        shown["tasks"] = [_task(t) for t in body.get("tasks", [])]
        failed = (shown.get("input") or {}).get("failedWorkflow")
        if isinstance(failed, dict):  # a failure workflow's input: the failed run, by its main fields
            keys = ("workflowId", "status", "input", "output", "failedReferenceTaskNames", "failedTaskNames")
            shown["input"] = {**shown["input"], "failedWorkflow": {k: failed.get(k) for k in keys}}
        if body.get("reasonForIncompletion"):
            shown["reasonForIncompletion"] = "<given>"
        return [code, shown]
    if kind == "taskdef" and isinstance(body, dict):
        keys = (
            "name",
            "retryCount",
            "retryLogic",
            "retryDelaySeconds",
            "timeoutSeconds",
            "timeoutPolicy",
            "responseTimeoutSeconds",
            "concurrentExecLimit",
            "rateLimitPerFrequency",
            "pollTimeoutSeconds",
            "backoffScaleFactor",
            "inputKeys",
            "outputKeys",
        )
        return [code, {k: body.get(k) for k in keys}]
    if kind == "workflowdef" and isinstance(body, dict):
        keys = (
            "name",
            "version",
            "schemaVersion",
            "description",
            "restartable",
            "timeoutPolicy",
            "timeoutSeconds",
            "workflowStatusListenerEnabled",
            "ownerEmail",
            "failureWorkflow",
            "outputParameters",
            "inputParameters",
        )
        shown = {k: body.get(k) for k in keys}
        shown["tasks"] = [
            {k: t.get(k) for k in ("name", "taskReferenceName", "type", "inputParameters", "optional")}
            for t in body.get("tasks", [])
        ]
        return [code, shown]
    if kind == "names":
        return [code, "<list>" if isinstance(body, list) else body]
    if kind == "sorted":
        return [code, sorted(body) if isinstance(body, list) else body]
    if kind == "logs":
        return [code, [e.get("log") for e in body]] if isinstance(body, list) else [code, body]
    return [code, body]


def normalise(value: Any, variables: dict[str, str]) -> Any:
    """Ids become the name the script saved them under (or <uuid>), times <time>, the prefix P_."""
    names = {v: f"<{k}>" for k, v in variables.items() if k != "p" and v}

    value = json.loads(json.dumps(value))  # tuples as lists

    def walk(v: Any, key: str = "") -> Any:
        if isinstance(v, dict):
            return {
                walk(k): (
                    "<time>"
                    if _TIMES.match(k) and isinstance(x, int) and x
                    else "<worker>"
                    if k in _WORKERS and x
                    else walk(x, k)
                )
                for k, x in v.items()
            }
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str):
            v = v.replace(variables["p"], "P_")
            for raw, name in names.items():
                if raw in v:
                    v = v.replace(raw, name)
            return _UUID.sub("<uuid>", v)
        return v

    return json.loads(json.dumps(walk(value)))


# --- the README's table -------------------------------------------------------------------------


def table() -> str:
    """The suite's results by area and feature: "same on both", or "≠ deliberate: reason" (the
    test fails when a difference is not listed, or when a listed one no longer differs, so
    this table is what the last run against both servers found)."""
    from fdelib.conductor import release

    rows: dict[tuple[str, str], list[str]] = {}
    for iid, (area, feature) in INTERACTIONS.items():
        rows.setdefault((area, feature.split(":")[0]), []).append(iid)  # "registration: …" by its head
    lines = [
        f"| area | feature | interactions | local engine vs Conductor OSS {release.VERSION} |",
        "| --- | --- | --- | --- |",
    ]
    for (area, feature), ids in sorted(rows.items()):
        reasons = sorted({f"`{i}` {DELIBERATE[i]}" for i in ids if i in DELIBERATE})
        same = len(ids) - len(reasons)
        outcome = "; ".join(
            ([f"same on both ({same})"] if reasons and same else [] if reasons else ["same on both"])
            + [f"≠ deliberate: {r}" for r in reasons]
        )
        lines.append(f"| {area} | {feature.replace('|', '/')} | {len(ids)} | {outcome} |")
    lines.append("")
    lines.append(
        f"{len(INTERACTIONS)} interactions. Not compared: "
        + "; ".join(f"{k}: {v}" for k, v in NOT_COMPARED.items())
        + "."
    )
    return "\n".join(lines)
