"""Integration: a worker written with nothing but HTTP and JSON.

A WMS integrates with the systems around it through an API, not a library: any program in any
language that can send HTTP requests can be a worker. :func:`http_worker` is one, in a dozen lines of
``requests`` and no Conductor SDK — what a desk's notification system written in Java, Go or a shell
script would do: poll the task type's queue (``GET /tasks/poll/{taskType}``), do the work, report
the result (``POST /tasks``). The same calls work against the local engine and a real Conductor.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import requests
from conductor.client.http.models import StartWorkflowRequest, TaskDef
from conductor.client.workflow.conductor_workflow import ConductorWorkflow
from conductor.client.workflow.task.simple_task import SimpleTask

WORKFLOW = "wms_notify_desk"
TASK = "wms_notify_desk"


def register(executor, metadata_client) -> ConductorWorkflow:
    """A one-task workflow: tell the trading desk that the day's prices are published."""
    metadata_client.register_task_def(
        TaskDef(
            name=TASK,
            retry_count=0,
            response_timeout_seconds=30,
            timeout_seconds=0,
            owner_email="course@fde.example.com",
        )
    )
    workflow = ConductorWorkflow(
        executor=executor, name=WORKFLOW, version=1, description="Notify the desk (its worker speaks plain HTTP)"
    )
    notify = SimpleTask(TASK, "notify")
    notify.input_parameters.update(desk="${workflow.input.desk}", as_of="${workflow.input.as_of}")
    workflow >> notify
    workflow.output_parameters({"delivered": "${notify.output.delivered}"})
    workflow.register(overwrite=True)
    return workflow


def http_worker(
    base_url: str,
    task_type: str,
    handle: Callable[[dict], dict],
    *,
    worker_id: str = "desk-notifier",
    timeout: float = 30,
) -> list[str]:
    """Poll one task of ``task_type`` over HTTP, run ``handle(input)``, post the result; the
    requests it made, as ``METHOD path -> status`` lines (ids left out)."""
    made = []
    deadline = time.monotonic() + timeout
    while True:
        polled = requests.get(f"{base_url}/tasks/poll/{task_type}", params={"workerid": worker_id}, timeout=10)
        if polled.status_code == 200 and polled.content:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {task_type} task to poll within {timeout} s")
        time.sleep(0.05)
    made.append(f"GET /tasks/poll/{task_type}?workerid={worker_id} -> {polled.status_code} (a task)")
    task = polled.json()
    result = {
        "taskId": task["taskId"],
        "workflowInstanceId": task["workflowInstanceId"],
        "workerId": worker_id,
        "status": "COMPLETED",
        "outputData": handle(task["inputData"]),
    }
    posted = requests.post(f"{base_url}/tasks", json=result, timeout=10)
    posted.raise_for_status()
    made.append(f"POST /tasks {{status: COMPLETED, outputData: {result['outputData']}}} -> {posted.status_code}")
    return made


def notify_desk(inputs: dict) -> dict:
    """The 'external system': what it would send to the desk."""
    return {"delivered": f"to {inputs['desk']}: prices of {inputs['as_of']} are published"}


def run(workflow_client, base_url: str, as_of: str, desk: str = "rates desk") -> tuple[str, list[str], dict]:
    """Start the workflow, serve its task with :func:`http_worker`; the run's status, the HTTP
    requests made and the workflow's output."""
    from ..conductor import history

    run_id = workflow_client.start_workflow(
        StartWorkflowRequest(name=WORKFLOW, version=1, input={"desk": desk, "as_of": as_of})
    )
    made = http_worker(base_url, TASK, notify_desk)
    done = history.wait(workflow_client, run_id, timeout=30)
    return done.status, made, done.output
