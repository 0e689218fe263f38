"""The local engine through conductor-python's own clients: Conductor's semantics, one by one.

Each test plays the worker by hand (poll, then update) so it controls timing and failures.
"""

import time

import pytest
from conductor.client.http.models import StartWorkflowRequest, TaskDef, TaskResult
from conductor.client.http.rest import ApiException
from conductor.client.workflow.conductor_workflow import ConductorWorkflow
from conductor.client.workflow.executor.workflow_executor import WorkflowExecutor
from conductor.client.workflow.task.fork_task import ForkTask
from conductor.client.workflow.task.simple_task import SimpleTask
from conductor.client.workflow.task.switch_task import SwitchTask
from conductor.client.workflow.task.terminate_task import TerminateTask, WorkflowStatus
from conductor.client.workflow.task.timeout_policy import TimeoutPolicy

from fdelib.conductor.definitions import DefinitionError, check_workflow


@pytest.fixture
def executor(local_server):
    from conductor.client.configuration.configuration import Configuration

    return WorkflowExecutor(Configuration(server_api_url=local_server.url, log_level="ERROR"))


def simple(name, ref, **inputs):
    task = SimpleTask(name, ref)
    task.input_parameters.update(inputs)
    return task


def register_task(clients, name, **options):
    defaults = {
        "retry_count": 0,
        "retry_logic": "FIXED",
        "retry_delay_seconds": 0,
        "response_timeout_seconds": 60,
        "timeout_seconds": 0,
        "owner_email": "t@example.com",
    }
    clients.get_metadata_client().register_task_def(TaskDef(name=name, **{**defaults, **options}))


def start(clients, name, workflow_input=None):
    return clients.get_workflow_client().start_workflow(
        StartWorkflowRequest(name=name, version=1, input=workflow_input or {})
    )


def poll(clients, task_type, worker="w1", wait_ms=2000):
    tasks = clients.get_task_client().batch_poll_tasks(task_type, worker, 1, wait_ms)
    return tasks[0] if tasks else None


def report(clients, task, status="COMPLETED", output=None, reason=None, worker="w1"):
    result = TaskResult(
        workflow_instance_id=task.workflow_instance_id,
        task_id=task.task_id,
        worker_id=worker,
        status=status,
        output_data=output or {},
        reason_for_incompletion=reason,
    )
    return clients.get_task_client().update_task(result)


def workflow(clients, workflow_id):
    return clients.get_workflow_client().get_workflow(workflow_id, include_tasks=True)


def wait_for(clients, workflow_id, statuses=("COMPLETED", "FAILED", "TERMINATED", "TIMED_OUT"), timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = workflow(clients, workflow_id)
        if found.status in statuses:
            return found
        time.sleep(0.05)
    raise AssertionError(f"workflow {workflow_id} still {found.status}")


def test_sequence_with_input_expressions_and_output(clients, executor, name):
    register_task(clients, f"{name}_a")
    register_task(clients, f"{name}_b")
    wf = ConductorWorkflow(executor=executor, name=name, version=1)
    (
        wf
        >> simple(f"{name}_a", "a", who="${workflow.input.who}")
        >> simple(f"{name}_b", "b", greeting="hello ${a.output.name}", n="${a.output.n}")
    )
    wf.output_parameters({"said": "${b.input.greeting}"})
    wf.register(overwrite=True)
    workflow_id = start(clients, name, {"who": "ann"})

    first = poll(clients, f"{name}_a")
    assert first.input_data == {"who": "ann"} and first.status == "IN_PROGRESS"
    assert poll(clients, f"{name}_b", wait_ms=0) is None  # b waits for a
    report(clients, first, output={"name": "Ann", "n": 2})
    second = poll(clients, f"{name}_b")
    assert second.input_data == {"greeting": "hello Ann", "n": 2}  # whole expression keeps its type
    report(clients, second)
    done = wait_for(clients, workflow_id)
    assert done.status == "COMPLETED"
    assert done.output == {"said": "hello Ann"}
    assert [t.reference_task_name for t in done.tasks] == ["a", "b"]


def test_fork_join_runs_branches_in_parallel_and_joins_outputs(clients, executor, name):
    for suffix in ("x", "y"):
        register_task(clients, f"{name}_{suffix}")
    wf = ConductorWorkflow(executor=executor, name=name, version=1)
    wf >> ForkTask("fork", [[simple(f"{name}_x", "x")], [simple(f"{name}_y", "y")]], join_on=["x", "y"])
    wf.register(overwrite=True)
    workflow_id = start(clients, name)
    x, y = poll(clients, f"{name}_x"), poll(clients, f"{name}_y")
    assert x and y  # both scheduled at once
    report(clients, y, output={"v": 2})
    assert workflow(clients, workflow_id).status == "RUNNING"  # the join still waits for x
    report(clients, x, output={"v": 1})
    done = wait_for(clients, workflow_id)
    join = next(t for t in done.tasks if t.task_type == "JOIN")
    assert done.status == "COMPLETED"
    assert join.output_data == {"x": {"v": 1}, "y": {"v": 2}}


def test_switch_picks_a_case_and_terminate_fails_the_workflow(clients, executor, name):
    register_task(clients, f"{name}_after")
    wf = ConductorWorkflow(executor=executor, name=name, version=1)
    switch = SwitchTask("route", case_expression="${workflow.input.kind}")
    switch.switch_case("bad", [TerminateTask("stop", WorkflowStatus.FAILED, "bad input")])
    switch.default_case([simple(f"{name}_after", "after")])
    wf >> switch
    wf.register(overwrite=True)

    bad = wait_for(clients, start(clients, name, {"kind": "bad"}))
    assert bad.status == "FAILED" and bad.reason_for_incompletion == "bad input"
    # SwitchTaskMapper.getMappedTasks: evaluationResult and selectedCase
    assert bad.tasks[0].output_data == {"evaluationResult": ["bad"], "selectedCase": "bad"}

    good_id = start(clients, name, {"kind": "fine"})
    report(clients, poll(clients, f"{name}_after"), output={"ok": True})
    assert wait_for(clients, good_id).status == "COMPLETED"


def test_failed_task_is_retried_with_backoff_then_fails_the_workflow(clients, executor, name):
    register_task(clients, f"{name}_flaky", retry_count=2, retry_logic="EXPONENTIAL_BACKOFF", retry_delay_seconds=1)
    wf = ConductorWorkflow(executor=executor, name=name, version=1)
    wf >> simple(f"{name}_flaky", "flaky")
    wf.register(overwrite=True)
    workflow_id = start(clients, name)

    report(clients, poll(clients, f"{name}_flaky"), "FAILED", reason="boom 1")
    assert poll(clients, f"{name}_flaky", wait_ms=300) is None  # retry 1 waits 1 s (1 * 2^0)
    retry1 = poll(clients, f"{name}_flaky", wait_ms=2500)
    assert retry1.retry_count == 1
    report(clients, retry1, "FAILED", reason="boom 2")
    assert poll(clients, f"{name}_flaky", wait_ms=1200) is None  # retry 2 waits 2 s (1 * 2^1)
    retry2 = poll(clients, f"{name}_flaky", wait_ms=3000)
    assert retry2.retry_count == 2
    report(clients, retry2, "FAILED", reason="boom 3")
    done = wait_for(clients, workflow_id)
    assert done.status == "FAILED"
    assert set(done.failed_reference_task_names) == {"flaky"}
    assert [t.status for t in done.tasks] == ["FAILED"] * 3
    assert "boom 3" in done.reason_for_incompletion


def test_terminal_error_is_not_retried(clients, executor, name):
    register_task(clients, f"{name}_t", retry_count=5)
    wf = ConductorWorkflow(executor=executor, name=name, version=1)
    wf >> simple(f"{name}_t", "t")
    wf.register(overwrite=True)
    workflow_id = start(clients, name)
    report(clients, poll(clients, f"{name}_t"), "FAILED_WITH_TERMINAL_ERROR", reason="card stolen")
    done = wait_for(clients, workflow_id)
    assert done.status == "FAILED" and len(done.tasks) == 1


def test_a_silent_worker_loses_its_task_and_its_late_answer_is_ignored(clients, executor, name):
    # (a response timeout long enough for the live worker to answer in time on a busy machine)
    register_task(clients, f"{name}_slow", retry_count=1, response_timeout_seconds=4)
    wf = ConductorWorkflow(executor=executor, name=name, version=1)
    wf >> simple(f"{name}_slow", "slow")
    wf.register(overwrite=True)
    workflow_id = start(clients, name)
    dead = poll(clients, f"{name}_slow", worker="dies")
    deadline = time.monotonic() + 30
    again = None
    while again is None and time.monotonic() < deadline:  # the retry, once the response timeout is up
        again = poll(clients, f"{name}_slow", worker="alive", wait_ms=5000)
    assert again is not None and again.retry_count == 1 and again.task_id != dead.task_id
    report(clients, dead, output={"late": True}, worker="dies")  # the zombie speaks: ignored
    report(clients, again, output={"on_time": True}, worker="alive")
    done = wait_for(clients, workflow_id)
    assert done.status == "COMPLETED" and done.output == {"on_time": True}
    assert [t.status for t in done.tasks] == ["TIMED_OUT", "COMPLETED"]
    assert "responseTimeoutSeconds" in done.tasks[0].reason_for_incompletion


def test_in_progress_with_callback_requeues_the_task(clients, executor, name):
    register_task(clients, f"{name}_long")
    wf = ConductorWorkflow(executor=executor, name=name, version=1)
    wf >> simple(f"{name}_long", "long")
    wf.register(overwrite=True)
    workflow_id = start(clients, name)
    task = poll(clients, f"{name}_long")
    result = TaskResult(
        workflow_instance_id=workflow_id,
        task_id=task.task_id,
        worker_id="w1",
        status="IN_PROGRESS",
        output_data={"step": 1},
        callback_after_seconds=1,
    )
    clients.get_task_client().update_task(result)
    assert poll(clients, f"{name}_long", wait_ms=200) is None
    again = poll(clients, f"{name}_long", wait_ms=2500)
    assert again.task_id == task.task_id and again.poll_count == 2
    report(clients, again, output={"step": 2})
    assert wait_for(clients, workflow_id).status == "COMPLETED"


def test_failure_workflow_gets_the_failed_workflow_and_its_input(clients, executor, name):
    register_task(clients, f"{name}_main")
    register_task(clients, f"{name}_undo")
    undo = ConductorWorkflow(executor=executor, name=f"{name}_undo_wf", version=1)
    undo >> simple(
        f"{name}_undo",
        "undo",
        order="${workflow.input.failedWorkflow.input.order}",
        spread="${workflow.input.order}",
        why="${workflow.input.reason}",
        failed="${workflow.input.workflowId}",
        status="${workflow.input.failureStatus}",
    )
    undo.register(overwrite=True)
    wf = ConductorWorkflow(executor=executor, name=name, version=1)
    wf >> simple(f"{name}_main", "main")
    wf.failure_workflow(f"{name}_undo_wf")
    wf.register(overwrite=True)
    workflow_id = start(clients, name, {"order": "O-1", "workflowId": "mine", "reason": "mine"})
    report(clients, poll(clients, f"{name}_main"), "FAILED_WITH_TERMINAL_ERROR", reason="no stock")
    failed = wait_for(clients, workflow_id)
    compensation_id = failed.output["conductor.failure_workflow"]
    task = poll(clients, f"{name}_undo")
    report(clients, task)
    assert task.workflow_instance_id == compensation_id
    assert task.input_data["order"] == "O-1"  # via failedWorkflow
    assert task.input_data["spread"] == "O-1"  # the failed workflow's own input
    assert task.input_data["failed"] == workflow_id  # Conductor's keys win over it
    assert "no stock" in task.input_data["why"] and task.input_data["status"] == "FAILED"


def test_terminate_retry_and_restart_through_the_api(clients, executor, name):
    register_task(clients, f"{name}_s")
    wf = ConductorWorkflow(executor=executor, name=name, version=1)
    wf >> simple(f"{name}_s", "s")
    wf.register(overwrite=True)
    workflow_client = clients.get_workflow_client()
    workflow_id = start(clients, name)
    workflow_client.terminate_workflow(workflow_id, reason="operator said so")
    stopped = workflow(clients, workflow_id)
    assert stopped.status == "TERMINATED" and stopped.tasks[0].status == "CANCELED"
    assert poll(clients, f"{name}_s", wait_ms=0) is None  # nothing left in the queue

    workflow_client.retry_workflow(workflow_id)
    report(clients, poll(clients, f"{name}_s"), output={"n": 1})
    assert wait_for(clients, workflow_id).status == "COMPLETED"

    workflow_client.restart_workflow(workflow_id)
    report(clients, poll(clients, f"{name}_s"), output={"n": 2})
    again = wait_for(clients, workflow_id)
    assert again.status == "COMPLETED" and again.output == {"n": 2} and len(again.tasks) == 1


def test_terminate_as_the_first_task_ends_the_workflow(clients, executor, name):
    register_task(clients, f"{name}_never")
    wf = ConductorWorkflow(executor=executor, name=name, version=1)
    wf >> TerminateTask("stop", WorkflowStatus.FAILED, "nothing to do") >> simple(f"{name}_never", "never")
    wf.register(overwrite=True)
    workflow_id = start(clients, name)
    done = wait_for(clients, workflow_id, timeout=3)
    assert done.status == "FAILED" and done.reason_for_incompletion == "nothing to do"
    assert [t.reference_task_name for t in done.tasks] == ["stop"]

    clients.get_workflow_client().restart_workflow(workflow_id)
    again = workflow(clients, workflow_id)
    assert again.status == "FAILED" and [t.reference_task_name for t in again.tasks] == ["stop"]
    assert again.tasks[0].task_id != done.tasks[0].task_id  # the restart ran it again
    assert poll(clients, f"{name}_never", wait_ms=0) is None


def test_workflow_timeout_counts_from_the_last_retry_and_afresh_after_restart(clients, executor, name):
    from conductor.client.workflow.task.set_variable_task import SetVariableTask

    register_task(clients, f"{name}_s")
    noted = ConductorWorkflow(executor=executor, name=f"{name}_noted", version=1)
    noted >> SetVariableTask("note")  # a failure workflow that ends at once
    noted.register(overwrite=True)
    wf = ConductorWorkflow(executor=executor, name=name, version=1)
    wf >> simple(f"{name}_s", "s")
    wf.timeout_seconds(2)
    wf.timeout_policy(TimeoutPolicy.TIME_OUT_WORKFLOW)  # WorkflowDef's default, ALERT_ONLY, never times out
    wf.failure_workflow(f"{name}_noted")
    wf.register(overwrite=True)
    workflow_client = clients.get_workflow_client()
    workflow_id = start(clients, name)
    timed_out = wait_for(clients, workflow_id)
    assert timed_out.status == "TIMED_OUT" and "conductor.failure_workflow" in timed_out.output

    workflow_client.retry_workflow(workflow_id)  # more than 2 s after the start
    time.sleep(0.5)  # the sweep runs every 0.05 s
    retried = workflow(clients, workflow_id)
    assert retried.status == "RUNNING" and retried.last_retried_time > retried.create_time
    # WorkflowExecutorOps.retry leaves the output alone until the workflow ends again
    assert "conductor.failure_workflow" in retried.output
    assert wait_for(clients, workflow_id, timeout=5).status == "TIMED_OUT"  # 2 s after the retry

    workflow_client.restart_workflow(workflow_id)  # more than 2 s after the retry
    time.sleep(0.5)
    restarted = workflow(clients, workflow_id)
    assert restarted.status == "RUNNING" and not restarted.last_retried_time
    report(clients, poll(clients, f"{name}_s"), output={"n": 1})
    assert wait_for(clients, workflow_id).status == "COMPLETED"


def test_sync_execute_returns_the_finished_run(clients, executor, name):
    import threading

    register_task(clients, f"{name}_q")
    wf = ConductorWorkflow(executor=executor, name=name, version=1)
    wf >> simple(f"{name}_q", "q", x="${workflow.input.x}")
    wf.output_parameters({"y": "${q.output.y}"})
    wf.register(overwrite=True)

    def worker():
        task = poll(clients, f"{name}_q", wait_ms=5000)
        report(clients, task, output={"y": task.input_data["x"] * 2})

    threading.Thread(target=worker).start()
    run = wf.execute(workflow_input={"x": 21}, wait_for_seconds=10)
    assert run.status == "COMPLETED" and run.output == {"y": 42}


def test_workers_through_task_handler_use_update_v2(
    clients, local_server, name, tmp_path, monkeypatch, only_workers_of
):
    """conductor-python's own TaskHandler, in its own processes, against the engine."""
    import sys

    from conductor.client.automator.task_handler import TaskHandler
    from conductor.client.configuration.configuration import Configuration

    module = tmp_path / "shout_worker.py"
    module.write_text(
        "from conductor.client.worker.worker_task import worker_task\n"
        f"@worker_task(task_definition_name='{name}_shout', poll_interval_millis=10)\n"
        "def shout(text: str) -> dict:\n    return {'loud': text.upper()}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    register_task(clients, f"{name}_shout")
    wf = ConductorWorkflow(
        executor=WorkflowExecutor(Configuration(server_api_url=local_server.url)), name=name, version=1
    )
    (
        wf
        >> simple(f"{name}_shout", "s1", text="${workflow.input.text}")
        >> simple(f"{name}_shout", "s2", text="${s1.output.loud}!")
    )
    wf.output_parameters({"out": "${s2.output.loud}"})
    wf.register(overwrite=True)
    only_workers_of("shout_worker")  # TaskHandler scans every @worker_task this process has seen
    handler = TaskHandler(
        workers=[],
        configuration=Configuration(server_api_url=local_server.url, log_level="ERROR"),
        scan_for_annotated_workers=True,
        import_modules=["shout_worker"],
    )
    handler.start_processes()
    try:
        run = wf.execute(workflow_input={"text": "hi"}, wait_for_seconds=20)
    finally:
        handler.stop_processes()
        sys.modules.pop("shout_worker", None)
    assert run.status == "COMPLETED" and run.output == {"out": "HI!"}


def test_bad_definitions_and_requests_get_clear_errors(clients, name):
    with pytest.raises(DefinitionError) as twice:
        check_workflow(
            {
                "name": "x",
                "tasks": [
                    {"name": "a", "taskReferenceName": "a", "type": "SIMPLE"},
                    {"name": "b", "taskReferenceName": "a", "type": "SIMPLE"},
                ],
            }
        )
    assert "should be unique across tasks" in twice.value.errors[0]["message"]
    with pytest.raises(DefinitionError, match="DO_WHILE"):
        check_workflow({"name": "x", "tasks": [{"name": "l", "taskReferenceName": "l", "type": "DO_WHILE"}]})
    with pytest.raises(ApiException) as missing:
        start(clients, f"{name}_never_registered")
    assert missing.value.status == 404 and "No such workflow found by name" in missing.value.body
    with pytest.raises(ApiException) as unknown:
        clients.get_workflow_client().get_workflow("not-a-workflow")
    assert unknown.value.status == 404


def test_dynamic_fork_fans_out_at_run_time_and_joins_all(clients, executor, name):
    from conductor.client.workflow.task.dynamic_fork_task import DynamicForkTask
    from conductor.client.workflow.task.join_task import JoinTask

    register_task(clients, f"{name}_part")
    fan = DynamicForkTask("fan", join_task=JoinTask("gather"))
    fan.input_parameters.update(dynamicTasks="${workflow.input.tasks}", dynamicTasksInputs="${workflow.input.inputs}")
    wf = ConductorWorkflow(executor=executor, name=name, version=1)
    wf >> fan
    wf.register(overwrite=True)
    parts = [f"p{i}" for i in range(3)]
    workflow_id = start(
        clients,
        name,
        {
            "tasks": [{"name": f"{name}_part", "taskReferenceName": p, "type": "SIMPLE"} for p in parts],
            "inputs": {p: {"n": i} for i, p in enumerate(parts)},
        },
    )
    polled = [poll(clients, f"{name}_part") for _ in parts]
    assert sorted(t.input_data["n"] for t in polled) == [0, 1, 2]
    for task in polled:
        report(clients, task, output={"twice": task.input_data["n"] * 2})
    done = wait_for(clients, workflow_id)
    gather = next(t for t in done.tasks if t.reference_task_name == "gather")
    assert done.status == "COMPLETED"
    assert gather.output_data == {p: {"twice": 2 * i} for i, p in enumerate(parts)}

    bad = wait_for(clients, start(clients, name, {"tasks": "not a list", "inputs": {}}))
    assert bad.status == "FAILED" and "must be a list of tasks" in bad.reason_for_incompletion
