"""The rest of what the README says the local engine covers, one feature per test.

Same style as test_engine.py (whose helpers these reuse): the test plays the worker by hand.
"""

import time

import pytest
from conductor.client.http.models import TaskResult, WorkflowDef
from conductor.client.http.rest import ApiException
from conductor.client.workflow.conductor_workflow import ConductorWorkflow
from conductor.client.workflow.task.set_variable_task import SetVariableTask
from conductor.client.workflow.task.timeout_policy import TimeoutPolicy
from test_engine import executor, poll, register_task, report, simple, start, wait_for, workflow  # noqa: F401


def sequence(executor, name, *tasks, **options):
    wf = ConductorWorkflow(executor=executor, name=name, version=1)
    for task in tasks:
        wf >> task
    if "timeout" in options:
        wf.timeout_seconds(options["timeout"])
    if "policy" in options:
        wf.timeout_policy(options["policy"])
    if "failure_workflow" in options:
        wf.failure_workflow(options["failure_workflow"])
    wf.register(overwrite=True)
    return wf


def tasks_of(clients, workflow_id):
    return [(t.reference_task_name, t.status) for t in workflow(clients, workflow_id).tasks]


def test_a_failed_optional_task_completes_with_errors_and_the_workflow_goes_on(clients, executor, name):
    register_task(clients, f"{name}_opt", retry_count=1)
    register_task(clients, f"{name}_next")
    optional = simple(f"{name}_opt", "opt")
    optional.optional = True
    sequence(executor, name, optional, simple(f"{name}_next", "next", was="${opt.status}"))
    workflow_id = start(clients, name)
    report(clients, poll(clients, f"{name}_opt"), "FAILED", reason="flaky")
    retry = poll(clients, f"{name}_opt")  # optional tasks are retried first
    assert retry.retry_count == 1
    report(clients, retry, "FAILED", reason="still flaky")
    following = poll(clients, f"{name}_next")
    assert following is not None and following.input_data == {"was": "COMPLETED_WITH_ERRORS"}
    report(clients, following, output={"ok": True})
    done = wait_for(clients, workflow_id)
    assert done.status == "COMPLETED" and done.output == {"ok": True}
    assert [(t.reference_task_name, t.status) for t in done.tasks] == [
        ("opt", "FAILED"),
        ("opt", "COMPLETED_WITH_ERRORS"),
        ("next", "COMPLETED"),
    ]


def test_task_timeout_with_time_out_wf_times_out_the_workflow_without_retrying(clients, executor, name):
    register_task(
        clients,
        f"{name}_slow",
        retry_count=2,
        timeout_seconds=1,
        response_timeout_seconds=1,
        timeout_policy="TIME_OUT_WF",
    )
    slow = simple(f"{name}_slow", "slow")
    slow.optional = True  # even an optional task: TIME_OUT_WF wins
    sequence(executor, name, slow)
    workflow_id = start(clients, name)
    assert poll(clients, f"{name}_slow") is not None  # polled, then never finished
    done = wait_for(clients, workflow_id, timeout=5)
    assert done.status == "TIMED_OUT"
    assert [t.status for t in done.tasks] == ["TIMED_OUT"]  # neither retryCount nor optional apply
    assert "Timeout configured as 1 seconds" in done.tasks[0].reason_for_incompletion
    # terminateWorkflow lists FAILED and FAILED_WITH_TERMINAL_ERROR tasks only, not TIMED_OUT ones
    assert set(done.failed_reference_task_names) == set()


def test_task_timeout_with_retry_policy_retries_the_task(clients, executor, name):
    register_task(
        clients, f"{name}_slow", retry_count=1, timeout_seconds=1, response_timeout_seconds=1, timeout_policy="RETRY"
    )
    sequence(executor, name, simple(f"{name}_slow", "slow"))
    workflow_id = start(clients, name)
    first = poll(clients, f"{name}_slow")
    again = poll(clients, f"{name}_slow", wait_ms=4000)  # after the timeout, as a new attempt
    assert again is not None and again.retry_count == 1 and again.task_id != first.task_id
    report(clients, again, output={"n": 1})
    done = wait_for(clients, workflow_id)
    assert done.status == "COMPLETED"
    assert [t.status for t in done.tasks] == ["TIMED_OUT", "COMPLETED"]


def test_task_timeout_also_ends_a_task_waiting_for_its_callback(clients, executor, name):
    """Conductor: a callbackAfterSeconds beyond the task's timeoutSeconds times the task out."""
    register_task(clients, f"{name}_wait", timeout_seconds=1, response_timeout_seconds=1, timeout_policy="TIME_OUT_WF")
    sequence(executor, name, simple(f"{name}_wait", "wait"))
    workflow_id = start(clients, name)
    task = poll(clients, f"{name}_wait")
    clients.get_task_client().update_task(
        TaskResult(
            workflow_instance_id=workflow_id,
            task_id=task.task_id,
            worker_id="w1",
            status="IN_PROGRESS",
            callback_after_seconds=30,
        )
    )
    done = wait_for(clients, workflow_id, timeout=5)
    assert done.status == "TIMED_OUT" and [t.status for t in done.tasks] == ["TIMED_OUT"]
    assert clients.get_task_client().get_queue_size_for_task(f"{name}_wait") == 0


def test_task_timeout_alert_only_lets_the_task_run_on(clients, executor, name):
    register_task(clients, f"{name}_long", timeout_seconds=3, response_timeout_seconds=3, timeout_policy="ALERT_ONLY")
    sequence(executor, name, simple(f"{name}_long", "long"))
    workflow_id = start(clients, name)
    task = poll(clients, f"{name}_long")
    time.sleep(1.5)
    clients.get_task_client().update_task(
        TaskResult(  # keeps the response timeout away
            workflow_instance_id=workflow_id,
            task_id=task.task_id,
            worker_id="w1",
            status="IN_PROGRESS",
            extend_lease=True,
        )
    )
    time.sleep(1.8)  # past timeoutSeconds: only an alert
    assert workflow(clients, workflow_id).status == "RUNNING"
    report(clients, task, output={"late": "but fine"})
    assert wait_for(clients, workflow_id).status == "COMPLETED"


def test_workflow_timeout_times_out_a_running_workflow_unless_alert_only(clients, executor, name):
    register_task(clients, f"{name}_s")
    sequence(executor, name, simple(f"{name}_s", "s"), timeout=1, policy=TimeoutPolicy.TIME_OUT_WORKFLOW)
    sequence(executor, f"{name}_alert", simple(f"{name}_s", "s"), timeout=1, policy=TimeoutPolicy.ALERT_ONLY)
    workflow_id, alert_id = start(clients, name), start(clients, f"{name}_alert")
    assert poll(clients, f"{name}_s") is not None  # in progress, never answered
    done = wait_for(clients, workflow_id, timeout=5)
    assert done.status == "TIMED_OUT" and "timed out" in done.reason_for_incompletion
    assert [t.status for t in done.tasks] == ["CANCELED"]
    assert workflow(clients, alert_id).status == "RUNNING"  # started at the same time
    clients.get_workflow_client().terminate_workflow(alert_id, reason="cleanup")


def test_linear_backoff_waits_delay_times_scale_times_attempt(clients, executor, name):
    register_task(
        clients,
        f"{name}_flaky",
        retry_count=2,
        retry_logic="LINEAR_BACKOFF",
        retry_delay_seconds=1,
        backoff_scale_factor=2,
    )
    sequence(executor, name, simple(f"{name}_flaky", "flaky"))
    workflow_id = start(clients, name)
    report(clients, poll(clients, f"{name}_flaky"), "FAILED", reason="boom 1")
    assert poll(clients, f"{name}_flaky", wait_ms=1200) is None  # 1 * 2 * (0 + 1) = 2 s
    waiting = workflow(clients, workflow_id).tasks[-1]  # shown while it waits
    assert waiting.status == "SCHEDULED" and waiting.callback_after_seconds == 2
    retry1 = poll(clients, f"{name}_flaky", wait_ms=3000)
    assert retry1.retry_count == 1 and retry1.callback_after_seconds == 0  # reset by the poll
    report(clients, retry1, "FAILED", reason="boom 2")
    retry2 = workflow(clients, workflow_id).tasks[-1]  # 1 * 2 * (1 + 1) = 4 s
    assert retry2.status == "SCHEDULED" and retry2.retry_count == 2 and retry2.callback_after_seconds == 4
    assert poll(clients, f"{name}_flaky", wait_ms=2500) is None
    clients.get_workflow_client().terminate_workflow(workflow_id, reason="cleanup")


def test_fixed_retry_delay_is_the_same_every_time(clients, executor, name):
    register_task(clients, f"{name}_flaky", retry_count=2, retry_logic="FIXED", retry_delay_seconds=2)
    sequence(executor, name, simple(f"{name}_flaky", "flaky"))
    workflow_id = start(clients, name)
    report(clients, poll(clients, f"{name}_flaky"), "FAILED", reason="boom 1")
    for attempt in (1, 2):
        assert poll(clients, f"{name}_flaky", wait_ms=300) is None  # not before the delay
        assert workflow(clients, workflow_id).tasks[-1].callback_after_seconds == 2
        retry = poll(clients, f"{name}_flaky", wait_ms=4000)
        assert retry.retry_count == attempt
        report(clients, retry, "FAILED" if attempt == 1 else "COMPLETED", reason="boom 2")
    assert wait_for(clients, workflow_id).status == "COMPLETED"


def test_decision_routes_on_its_case_value_param(clients, name):
    for suffix in ("a", "other", "after"):
        register_task(clients, f"{name}_{suffix}")
    decision = {
        "name": "route",
        "taskReferenceName": "route",
        "type": "DECISION",
        "caseValueParam": "kind",
        "inputParameters": {"kind": "${workflow.input.kind}"},
        "decisionCases": {"a": [{"name": f"{name}_a", "taskReferenceName": "a", "type": "SIMPLE"}]},
        "defaultCase": [{"name": f"{name}_other", "taskReferenceName": "other", "type": "SIMPLE"}],
    }
    after = {"name": f"{name}_after", "taskReferenceName": "after", "type": "SIMPLE"}
    definition = WorkflowDef(name=name, version=1, tasks=[decision, after], owner_email="t@example.com")
    clients.get_metadata_client().register_workflow_def(definition, overwrite=True)

    for kind, branch in (("a", "a"), ("b", "other"), (None, "other")):
        workflow_id = start(clients, name, {"kind": kind} if kind else {})
        report(clients, poll(clients, f"{name}_{branch}"))
        report(clients, poll(clients, f"{name}_after"))  # after the case, the workflow goes on
        done = wait_for(clients, workflow_id)
        assert done.status == "COMPLETED"
        assert [t.reference_task_name for t in done.tasks] == ["route", branch, "after"]
        route = done.tasks[0]
        assert route.task_type == "DECISION"
        assert route.output_data == {"caseOutput": [kind or "null"]}  # Conductor's DECISION output

    scripted = {**decision, "caseExpression": "$.kind == 'a' ? 'a' : 'b'"}
    with pytest.raises(ApiException) as refused:  # JavaScript: not evaluated here
        clients.get_metadata_client().register_workflow_def(
            WorkflowDef(name=f"{name}_js", version=1, tasks=[scripted], owner_email="t@example.com")
        )
    assert refused.value.status == 400 and "caseExpression" in refused.value.body


def test_set_variable_is_read_by_later_tasks(clients, executor, name):
    register_task(clients, f"{name}_use")
    first, second = SetVariableTask("set1"), SetVariableTask("set2")
    first.input_parameters.update(x="${workflow.input.x}", keep="kept")
    second.input_parameters.update(x="${workflow.variables.x}-again")
    sequence(
        executor,
        name,
        first,
        second,
        simple(f"{name}_use", "use", x="${workflow.variables.x}", keep="${workflow.variables.keep}"),
    )
    workflow_id = start(clients, name, {"x": "one"})
    task = poll(clients, f"{name}_use")
    assert task.input_data == {"x": "one-again", "keep": "kept"}
    report(clients, task)
    done = wait_for(clients, workflow_id)
    assert done.status == "COMPLETED" and done.variables == {"x": "one-again", "keep": "kept"}


def test_task_logs_through_the_task_client_and_the_task_result(clients, executor, name):
    register_task(clients, f"{name}_t")
    sequence(executor, name, simple(f"{name}_t", "t"))
    workflow_id = start(clients, name)
    task = poll(clients, f"{name}_t")
    task_client = clients.get_task_client()
    task_client.add_task_log(task.task_id, "starting")
    task_client.add_task_log(task.task_id, "1.50")  # text, not a number to re-render
    result = TaskResult(
        workflow_instance_id=workflow_id, task_id=task.task_id, worker_id="w1", status="COMPLETED", output_data={}
    )
    result.log("done")
    task_client.update_task(result)
    logs = task_client.get_task_logs(task.task_id)
    assert [entry.log for entry in logs] == ["starting", "1.50", "done"]
    assert {entry.task_id for entry in logs} == {task.task_id} and all(entry.created_time for entry in logs)
    assert task_client.get_task_logs("no-such-task") == []


def test_queue_size_counts_waiting_tasks(clients, executor, name):
    register_task(clients, f"{name}_q", retry_count=1, retry_delay_seconds=60)
    sequence(executor, name, simple(f"{name}_q", "q"))
    task_client = clients.get_task_client()
    assert task_client.get_queue_size_for_task(f"{name}_q") == 0
    first, second = start(clients, name), start(clients, name)
    assert task_client.get_queue_size_for_task(f"{name}_q") == 2
    polled = poll(clients, f"{name}_q")
    assert task_client.get_queue_size_for_task(f"{name}_q") == 1  # in progress is not queued
    report(clients, polled, "FAILED", reason="again later")
    assert task_client.get_queue_size_for_task(f"{name}_q") == 2  # a delayed retry is queued
    for workflow_id in (first, second):
        clients.get_workflow_client().terminate_workflow(workflow_id, reason="cleanup")
    assert task_client.get_queue_size_for_task(f"{name}_q") == 0


def test_remove_deletes_a_workflow_and_its_queued_tasks(clients, executor, name):
    register_task(clients, f"{name}_r")
    sequence(executor, name, simple(f"{name}_r", "r"))
    workflow_client = clients.get_workflow_client()
    finished = start(clients, name)
    report(clients, poll(clients, f"{name}_r"))
    assert wait_for(clients, finished).status == "COMPLETED"
    running = start(clients, name)
    assert clients.get_task_client().get_queue_size_for_task(f"{name}_r") == 1
    workflow_client.delete_workflow(finished, archive_workflow=True)
    with pytest.raises(ApiException) as still_running:  # Conductor archives only a workflow that ended
        workflow_client.remove_workflow(running)
    assert still_running.value.status == 400 and "Cannot archive workflow" in still_running.value.body
    workflow_client.terminate_workflow(running, reason="to remove it")
    workflow_client.remove_workflow(running)
    for workflow_id in (finished, running):
        with pytest.raises(ApiException) as gone:
            workflow(clients, workflow_id)
        assert gone.value.status == 404
    assert clients.get_task_client().get_queue_size_for_task(f"{name}_r") == 0
    with pytest.raises(ApiException) as twice:
        workflow_client.delete_workflow(running, archive_workflow=False)
    assert twice.value.status == 404


def test_terminate_through_the_api_never_starts_the_failure_workflow(clients, executor, name):
    """WorkflowExecutorOps.terminateWorkflow(workflowId, reason) passes no failure workflow, and
    WorkflowResource.terminate has no triggerFailureWorkflow parameter in Conductor OSS (Orkes'
    server has one): asking for it changes nothing."""
    register_task(clients, f"{name}_main")
    register_task(clients, f"{name}_undo")
    sequence(executor, f"{name}_undo_wf", simple(f"{name}_undo", "undo"))
    sequence(executor, name, simple(f"{name}_main", "main"), failure_workflow=f"{name}_undo_wf")
    workflow_client = clients.get_workflow_client()
    for trigger in (False, True):
        workflow_id = start(clients, name, {"order": "O-3"})
        workflow_client.terminate_workflow(workflow_id, reason="operator", trigger_failure_workflow=trigger)
        stopped = workflow(clients, workflow_id)
        assert stopped.status == "TERMINATED" and stopped.reason_for_incompletion == "operator"
        assert "conductor.failure_workflow" not in stopped.output
    assert poll(clients, f"{name}_undo", wait_ms=300) is None
