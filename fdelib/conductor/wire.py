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
