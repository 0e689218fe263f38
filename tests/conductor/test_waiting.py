"""Waiting for an outcome: a deadline, then a clear error — never a half-finished state.

fdelib's executor refuses to hand back a workflow still RUNNING as if it were the result,
``history.wait`` does the same, and ``Workers.start`` returns once every worker process has
polled the engine (or fails saying which did not).
"""

import dataclasses
import os
import socket

import pytest
from conductor.client.http.models import TaskDef
from conductor.client.workflow.conductor_workflow import ConductorWorkflow
from conductor.client.workflow.task.simple_task import SimpleTask

from fdelib import conductor, config
from fdelib.conductor import history
from fdelib.conductor.workers import Workers
from fdelib.errors import StackError, StillRunning


@pytest.fixture(scope="module")
def nobody_polls(engine):
    """A workflow whose only task type no worker polls: it can only stay RUNNING."""
    clients = conductor.clients()
    clients.get_metadata_client().register_task_def(
        TaskDef(name="waiting_unpolled", retry_count=0, response_timeout_seconds=60)
    )
    workflow = ConductorWorkflow(executor=conductor.executor(), name="waiting_stuck", version=1)
    workflow >> SimpleTask("waiting_unpolled", "never_polled")
    workflow.register(overwrite=True)
    yield clients, workflow
    for workflow_id in clients.get_workflow_client().workflowResourceApi.get_running_workflow("waiting_stuck"):
        clients.get_workflow_client().terminate_workflow(workflow_id, reason="test over")


def test_execute_raises_instead_of_returning_a_running_workflow(nobody_polls):
    _, workflow = nobody_polls
    with pytest.raises(
        StillRunning,
        match=r"waiting_stuck .* still RUNNING after 1 s, "
        r"waiting on never_polled SCHEDULED: are its workers running",
    ):
        workflow.execute(workflow_input={}, wait_for_seconds=1)


def test_history_wait_raises_at_its_deadline(nobody_polls):
    clients, _ = nobody_polls
    from conductor.client.http.models import StartWorkflowRequest

    workflow_id = clients.get_workflow_client().start_workflow(StartWorkflowRequest(name="waiting_stuck", version=1))
    with pytest.raises(StillRunning, match=rf"waiting_stuck \({workflow_id}\) is still RUNNING after 1 s"):
        history.wait(clients.get_workflow_client(), workflow_id, timeout=1)


def test_workers_start_returns_once_every_process_polled(engine):
    workers = Workers(["fdelib.workflows.wms"]).start()
    try:
        polled = os.listdir(workers._ready_dir)
        task_types = {w.get_task_definition_name() for h in workers.handlers for w in h.workers}
        assert len(task_types) == 5 and {name.rsplit(".", 1)[0] for name in polled} == task_types
        assert {int(name.rsplit(".", 1)[1]) for name in polled} == set(workers.pids())
    finally:
        workers.stop()


def test_workers_that_cannot_reach_the_engine_fail_by_name(settings):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    unreachable = dataclasses.replace(settings, conductor_server_url=f"http://127.0.0.1:{port}/api")
    workers = Workers(["fdelib.workflows.wms"], settings=unreachable, ready_timeout=3)
    with pytest.raises(
        StackError,
        match=r"5 of 5 worker processes did not poll the engine within 3 s "
        r"\(wms_fetch_prices, wms_plan_fetches, .*\); see .*workers.log",
    ):
        workers.start()
    assert workers.handlers == []  # stopped, not left polling
    assert config.get_settings().conductor_server_url is None
