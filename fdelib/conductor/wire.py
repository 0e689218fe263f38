"""Conductor's JSON: how tasks, workflows, runs and errors look on the wire.

Field names and shapes follow Conductor's model classes (``common/.../metadata/tasks/Task``,
``common/.../run/Workflow``, ``org/conductoross/conductor/model/WorkflowRun``,
``WorkflowStatus``, ``common/.../validation/ErrorResponse``). Conductor's ObjectMapper
leaves out top-level fields that are null (``JsonInclude.Include.NON_NULL`` in
``ObjectMapperProvider``); so does this module.
"""

from __future__ import annotations

import socket
from typing import Any

from .expressions import java_string

#: ErrorResponse.instance: the server's id (Utils.getServerId: the host name)
INSTANCE = socket.gethostname()


def _non_null(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in payload.items() if value is not None}


def task_type_of(row: dict) -> str:
    """What Conductor reports as ``taskType``: a SIMPLE task's own name, else the system type."""
    return row["task_def_name"] if row["task_type"] == "SIMPLE" else row["task_type"]


def render_task(row: dict, workflow: dict | None = None) -> dict:
    """A task row as Conductor's Task JSON (``workflow``: its workflow row, for the fields
    a task copies from it)."""
    wf = workflow or {}
    start, scheduled = row["start_time"] or 0, row["scheduled_time"] or 0
    return _non_null(
        {
            "taskType": task_type_of(row),
            "status": row["status"],
            "inputData": row["input"],
            "referenceTaskName": row["ref"],
            "retryCount": row["retry_count"],
            "seq": row["seq"],
            "correlationId": wf.get("correlation_id", row.get("correlation_id")),
            "pollCount": row["poll_count"],
            "taskDefName": row["task_def_name"],
            "scheduledTime": scheduled,
            "startTime": start,
            "endTime": row["end_time"] or 0,
            "updateTime": row["update_time"],
            "startDelayInSeconds": 0,
            "retriedTaskId": row["retried_task_id"],
            "retried": row["retried"],
            "executed": row["executed"],
            "callbackFromWorker": True,
            "responseTimeoutSeconds": row["response_timeout_seconds"],
            "workflowInstanceId": row["workflow_id"],
            "workflowType": wf.get("name", row.get("workflow_type")),
            "taskId": row["task_id"],
            "reasonForIncompletion": row["reason"],
            "callbackAfterSeconds": row["callback_after_seconds"],
            "workerId": row["worker_id"],
            "outputData": row["output"],
            "workflowTask": row["workflow_task"],
            "rateLimitPerFrequency": 0,
            "rateLimitFrequencyInSeconds": 0,
            "workflowPriority": wf.get("priority", row.get("workflow_priority")) or 0,
            "iteration": 0,
            "subworkflowChanged": False,
            "firstStartTime": 0,
            "queueWaitTime": max(0, start - scheduled) if start else 0,
            "loopOverTask": False,
            "taskDefinition": (row["workflow_task"] or {}).get("taskDefinition"),
        }
    )


def render_workflow(workflow: dict, tasks: list[dict], include_tasks: bool = True) -> dict:
    """A workflow row and its tasks as Conductor's Workflow JSON."""
    wf = workflow
    failed_names = sorted({t["task_def_name"] for t in tasks if t["ref"] in (wf["failed_refs"] or [])})
    return _non_null(
        {
            "ownerApp": "",
            "createTime": wf["create_time"],
            "updateTime": wf["update_time"],
            "status": wf["status"],
            "endTime": wf["end_time"] or 0,
            "workflowId": wf["workflow_id"],
            "parentWorkflowId": wf["parent_workflow_id"],
            "tasks": [render_task(t, wf) for t in tasks] if include_tasks else [],
            "input": wf["input"],
            "output": wf["output"],
            "correlationId": wf["correlation_id"],
            "reasonForIncompletion": wf["reason"],
            "taskToDomain": {},
            "failedReferenceTaskNames": list(wf["failed_refs"] or []),
            "workflowDefinition": wf["definition"],
            "priority": wf["priority"],
            "variables": wf["variables"],
            "lastRetriedTime": wf["last_retried_time"],
            "failedTaskNames": failed_names,
            "history": [],
            "rateLimited": False,
            "failedTaskId": wf["failed_task_id"],
            "startTime": wf["create_time"],
            "workflowName": wf["name"],
            "workflowVersion": wf["version"],
        }
    )


def render_workflow_run(workflow: dict, tasks: list[dict], request_id: str | None, timed_out: bool = False) -> dict:
    """The synchronous execute answer: NotificationResult.toResponse with the default
    ``returnStrategy`` TARGET_WORKFLOW (a WorkflowRun)."""
    wf = workflow
    return _non_null(
        {
            "responseType": "TARGET_WORKFLOW",
            "targetWorkflowId": wf["workflow_id"],
            "targetWorkflowStatus": wf["status"],
            "requestId": request_id,
            "workflowId": wf["workflow_id"],
            "correlationId": wf["correlation_id"],
            "input": wf["input"],
            "output": wf["output"],
            "signalTimeout": timed_out,
            "priority": wf["priority"],
            "variables": wf["variables"],
            "tasks": [render_task(t, wf) for t in tasks],
            "createTime": wf["create_time"],
            "status": wf["status"],
            "updateTime": wf["update_time"] or 0,
        }
    )


def render_status(workflow: dict, include_output: bool, include_variables: bool) -> dict:
    """GET /workflow/{id}/status (WorkflowStatus, Conductor 3.32.0 and later)."""
    return _non_null(
        {
            "workflowId": workflow["workflow_id"],
            "correlationId": workflow["correlation_id"] or None,
            "output": workflow["output"] if include_output else None,
            "variables": workflow["variables"] if include_variables else None,
            "status": workflow["status"],
        }
    )


def error_body(status: int, message: str, retryable: bool = False) -> dict:
    """ApplicationExceptionMapper.handleAll's ErrorResponse."""
    return {"status": status, "message": message, "instance": INSTANCE, "retryable": retryable}


def validation_body(errors: list[dict], message: str = "Validation failed, check below errors for detail.") -> dict:
    """ValidationExceptionMapper's ErrorResponse for a ConstraintViolationException."""
    return {"status": 400, "message": message, "retryable": False, "validationErrors": [_non_null(e) for e in errors]}


def bulk_response(succeeded: list[str], failed: dict[str, str]) -> dict:
    """BulkResponse: what PUT /metadata/workflow and /workflow/bulk/... answer. Its ``message``
    field has no getter, so Jackson leaves it out: two keys only."""
    return {"bulkErrorResults": failed, "bulkSuccessfulResults": succeeded}


def java_text(value: Any) -> str:
    """A JSON value as Java's ``toString`` writes the map Jackson read it into: what
    WorkflowSummary's ``input``/``output`` hold (SummaryUtil.serializeInputOutput, with
    Conductor's default ``summary-input-output-json-serialization.enabled=false``):
    ``{order={qty=2, sku=A}, express=true, note=null}`` — the same rendering as an expression's
    string (:func:`.expressions.java_string`)."""
    return java_string(value)


def java_time(millis: int | None) -> str | None:
    """WorkflowSummary's time format: ``yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`` in UTC."""
    if not millis:
        return None
    import datetime as dt

    moment = dt.datetime.fromtimestamp(millis / 1000, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


def render_summary(row: dict) -> dict:
    """A run as Conductor's WorkflowSummary (common/run/WorkflowSummary.java), what
    ``GET /workflow/search`` lists: times as text, input and output as Java's toString."""
    end = row["end_time"] or 0
    text_in, text_out = java_text(row["input"] or {}), java_text(row["output"] or {})
    return _non_null(
        {
            "workflowType": row["name"],
            "version": row["version"],
            "workflowId": row["workflow_id"],
            "correlationId": row["correlation_id"],
            "startTime": java_time(row["create_time"]),
            "updateTime": java_time(row["update_time"]),
            "endTime": java_time(end) if end > 0 else None,
            "status": row["status"],
            "input": text_in,
            "output": text_out,
            "reasonForIncompletion": row["reason"],
            "executionTime": end - row["create_time"] if end > 0 else 0,
            "failedReferenceTaskNames": ",".join(row["failed_refs"] or []),
            "priority": row["priority"],
            "failedTaskNames": list(row.get("failed_task_names") or []),
            "taskToDomain": {},
            "parentWorkflowId": row["parent_workflow_id"] or "",
            "classifier": row.get("classifier") or "workflow",
            "inputSize": len(text_in),
            "outputSize": len(text_out),
        }
    )


def render_search(total: int, rows: list[dict]) -> dict:
    """SearchResult<WorkflowSummary>."""
    return {"totalHits": total, "results": [render_summary(r) for r in rows]}
