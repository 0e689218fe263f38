"""The pure decider, driven with a fake clock: no database, no HTTP, no sleeps.

Each test names the Conductor v3.32.1 source file and function whose behaviour it pins
(paths under conductor-oss/conductor; ``core/`` means core/src/main/java/com/netflix/conductor/core).
"""

import itertools

import pytest
from conformance import behaves

from fdelib.conductor import decider
from fdelib.conductor.decider import Conflict, Context, NotFound
from fdelib.conductor.definitions import check_workflow


class Sim:
    """A fake world for the decider: a clock that moves only when told, ids, definitions, and
    the worker's side of the queue (poll = the store's claim)."""

    def __init__(self, task_defs=None, workflow_defs=None):
        self.now = 1_000_000
        self._ids = itertools.count(1)
        self.task_defs = {d["name"]: {**decider_defaults(), **d} for d in (task_defs or [])}
        self.workflow_defs = {d["name"]: check_workflow(d) for d in (workflow_defs or [])}
        self.runs = {}

    def ctx(self):
        return Context(self.now, lambda: f"id{next(self._ids)}", self.task_defs, self.workflow_defs)

    def start(self, definition, workflow_input=None, **request):
        run = decider.start(check_workflow(definition), {"input": workflow_input or {}, **request}, self.ctx())
        for child in [run, *run.started]:
            self.runs[child.id] = child
        return run

    def poll(self, run, task_type, worker="w"):
        """ExecutionService.poll: the first visible queued task becomes IN_PROGRESS."""
        for task in run.tasks:
            if task["queued"] and task["task_def_name"] == task_type and task["visible_at"] <= self.now:
                task.update(
                    queued=False,
                    status="IN_PROGRESS",
                    callback_after_seconds=0,
                    poll_count=task["poll_count"] + 1,
                    worker_id=worker,
                    start_time=task["start_time"] or self.now,
                    update_time=self.now,
                )
                return task
        return None

    def report(self, run, task, status="COMPLETED", output=None, **extra):
        decider.apply_result(
            run, task["task_id"], {"status": status, "outputData": output or {}, "workerId": "w", **extra}, self.ctx()
        )
        self._adopt(run)

    def advance(self, seconds, run=None):
        self.now += int(seconds * 1000)
        for r in [run] if run else list(self.runs.values()):
            if r.running:
                decider.time_out(r, self.ctx())
                self._adopt(r)

    def _adopt(self, run):
        for child in run.started:
            self.runs[child.id] = child
        run.started = []


def decider_defaults():
    return {
        "retryCount": 0,
        "retryLogic": "FIXED",
        "retryDelaySeconds": 0,
        "responseTimeoutSeconds": 3600,
        "timeoutSeconds": 0,
        "timeoutPolicy": "TIME_OUT_WF",
        "backoffScaleFactor": 1,
        "inputTemplate": {},
    }


def simple(name, ref=None, **inputs):
    return {"name": name, "taskReferenceName": ref or name, "type": "SIMPLE", "inputParameters": inputs}


def wf(name, *tasks, **options):
    return {"name": name, "version": 1, "tasks": list(tasks), **options}


def refs(run):
    return [(t["ref"], t["status"]) for t in run.tasks]


# --- expressions, through scheduling -------------------------------------------------------


@behaves(
    "`${CPEWF_TASK_ID}` in a task's input",
    "the task's own id",
    source="core/utils/ParametersUtils.java replaceVariables; EnvUtils.getSystemParametersValue",
)
def test_cpewf_task_id_is_the_scheduled_tasks_id():
    sim = Sim()
    run = sim.start(wf("w", simple("a", me="${CPEWF_TASK_ID}", text="id=${CPEWF_TASK_ID}")))
    task = run.tasks[0]
    assert task["input"] == {"me": task["task_id"], "text": f"id={task['task_id']}"}


@behaves(
    "TaskDef `inputTemplate`",
    "fills keys the task does not set; a key resolving to null takes the template's value",
    source="core/utils/ParametersUtils.java getTaskInputV2",
)
def test_task_definition_input_template_fills_and_backs_up_keys():
    sim = Sim(task_defs=[{"name": "a", "inputTemplate": {"region": "EU", "limit": 10, "who": "nobody"}}])
    run = sim.start(wf("w", simple("a", limit=5, who="${workflow.input.missing}")))
    assert run.tasks[0]["input"] == {"limit": 5, "who": "nobody", "region": "EU"}


# --- default workflow output ---------------------------------------------------------------


@behaves(
    "workflow output without outputParameters",
    "the last task's output (any task type)",
    source="core/execution/DeciderService.java updateWorkflowOutput",
)
def test_default_output_is_the_last_tasks_output():
    sim = Sim()
    run = sim.start(wf("w", simple("a"), simple("b")))
    sim.report(run, sim.poll(run, "a"), output={"from": "a"})
    sim.report(run, sim.poll(run, "b"), output={"from": "b"})
    assert run.status == "COMPLETED" and run.workflow["output"] == {"from": "b"}
    ends_with_variable = sim.start(
        wf(
            "v",
            simple("a"),
            {"name": "note", "taskReferenceName": "note", "type": "SET_VARIABLE", "inputParameters": {"x": 1}},
        )
    )
    sim.report(ends_with_variable, sim.poll(ends_with_variable, "a"), output={"from": "a"})
    # SetVariable.execute writes the workflow's variables, not its own output: that stays empty
    assert ends_with_variable.workflow["output"] == {} and ends_with_variable.workflow["variables"] == {"x": 1}


@behaves(
    "output of a FAILED workflow",
    "the failed (last) task's output",
    source="core/execution/DeciderService.java retry -> updateWorkflowOutput; WorkflowExecutorOps.terminateWorkflow",
)
def test_failed_workflow_output_is_the_failed_tasks_output():
    sim = Sim(task_defs=[{"name": "a"}, {"name": "b"}])  # no retries
    run = sim.start(wf("w", simple("a"), simple("b")))
    sim.report(run, sim.poll(run, "a"), output={"from": "a"})
    sim.report(run, sim.poll(run, "b"), "FAILED", output={"partial": True}, reasonForIncompletion="boom")
    assert run.status == "FAILED" and run.workflow["output"] == {"partial": True}
    assert run.workflow["failed_refs"] == ["b"] and run.workflow["failed_task_id"] == run.tasks[1]["task_id"]


@behaves(
    "TERMINATE with a scalar `workflowOutput`",
    '`{"output": value}`',
    source="core/execution/tasks/Terminate.java getInputFromParam",
)
def test_terminate_with_scalar_output_wraps_it():
    sim = Sim()
    terminate = {
        "name": "stop",
        "taskReferenceName": "stop",
        "type": "TERMINATE",
        "inputParameters": {"terminationStatus": "COMPLETED", "workflowOutput": "${workflow.input.v}"},
    }
    run = sim.start(wf("w", terminate, outputParameters={"ignored": "yes"}), {"v": 42})
    assert run.status == "COMPLETED" and run.workflow["output"] == {"output": 42}
    assert run.workflow["reason"] == f"Workflow is COMPLETED by TERMINATE task: {run.tasks[0]['task_id']}"


# --- system tasks as Conductor reports them ------------------------------------------------


@behaves(
    "FORK_JOIN's task in an execution",
    "taskType `FORK`, taskDefName `FORK`",
    source="core/execution/mapper/ForkJoinTaskMapper.java getMappedTasks",
)
def test_fork_is_reported_as_fork_and_join_waits_on_its_join_on():
    sim = Sim()
    fork = {"name": "f", "taskReferenceName": "f", "type": "FORK_JOIN", "forkTasks": [[simple("x")], [simple("y")]]}
    join = {"name": "j", "taskReferenceName": "j", "type": "JOIN", "joinOn": ["x", "y"]}
    run = sim.start(wf("w", fork, join))
    assert [(t["ref"], t["task_type"], t["task_def_name"]) for t in run.tasks] == [
        ("f", "FORK", "FORK"),
        ("x", "SIMPLE", "x"),
        ("y", "SIMPLE", "y"),
        ("j", "JOIN", "JOIN"),
    ]
    assert run.tasks[3]["input"] == {"joinOn": ["x", "y"]}


@behaves(
    "JOIN over a failed optional branch",
    "COMPLETED_WITH_ERRORS, reason names the branch",
    source="core/execution/tasks/Join.java execute",
)
def test_join_over_a_failed_optional_branch_completes_with_errors():
    sim = Sim(task_defs=[{"name": "x"}, {"name": "y"}])
    x = {**simple("x"), "optional": True}
    fork = {"name": "f", "taskReferenceName": "f", "type": "FORK_JOIN", "forkTasks": [[x], [simple("y")]]}
    run = sim.start(wf("w", fork, {"name": "j", "taskReferenceName": "j", "type": "JOIN", "joinOn": ["x", "y"]}))
    sim.report(run, sim.poll(run, "x"), "FAILED", reasonForIncompletion="no")
    sim.report(run, sim.poll(run, "y"), output={"v": 1})
    join = run.latest("j")
    assert join["status"] == "COMPLETED_WITH_ERRORS" and join["output"] == {"y": {"v": 1}}
    assert join["reason"] == f"x/{run.latest('x')['task_id']} completed with errors"
    assert run.status == "COMPLETED"


@behaves(
    "SWITCH (value-param) output",
    "`evaluationResult` and `selectedCase`; input gets `case`",
    source="core/execution/mapper/SwitchTaskMapper.java getMappedTasks",
)
def test_switch_reports_selected_case():
    sim = Sim()
    switch = {
        "name": "s",
        "taskReferenceName": "s",
        "type": "SWITCH",
        "evaluatorType": "value-param",
        "expression": "kind",
        "inputParameters": {"kind": "${workflow.input.kind}"},
        "decisionCases": {"true": [simple("yes")], "none": []},
        "defaultCase": [simple("other")],
    }
    run = sim.start(wf("w", switch), {"kind": True})
    assert run.tasks[0]["output"] == {"evaluationResult": ["true"], "selectedCase": "true"}
    assert run.tasks[0]["input"] == {"kind": True, "case": "true", "hasChildren": "true"}
    assert [t["ref"] for t in run.tasks] == ["s", "yes"]
    empty = sim.start(wf("w", switch), {"kind": "none"})  # an empty case is not the default
    assert empty.status == "COMPLETED" and [t["ref"] for t in empty.tasks] == ["s"]


# --- TERMINATE and failure workflows -------------------------------------------------------


@behaves(
    "TERMINATE with status TERMINATED and a failureWorkflow",
    "workflow TERMINATED, failure workflow started",
    "same (3.15.0: COMPLETED, none started)",
    source="core/execution/WorkflowExecutorOps.java endExecution, terminate",
)
def test_terminate_task_terminated_starts_the_failure_workflow():
    sim = Sim(workflow_defs=[wf("undo", simple("undo", why="${workflow.input.reason}"))])
    terminate = {
        "name": "stop",
        "taskReferenceName": "stop",
        "type": "TERMINATE",
        "inputParameters": {"terminationStatus": "TERMINATED", "terminationReason": "enough"},
    }
    run = sim.start(wf("w", terminate, failureWorkflow="undo"))
    child = sim.runs[run.workflow["output"]["conductor.failure_workflow"]]
    assert run.status == "TERMINATED" and run.workflow["reason"] == "enough"
    assert run.workflow["failed_task_id"] == run.tasks[0]["task_id"]
    assert child.tasks[0]["input"] == {"why": "enough"}
    assert child.workflow["input"]["failureStatus"] == "TERMINATED"


@behaves(
    "terminate through the API, failureWorkflow defined",
    "no failure workflow; `triggerFailureWorkflow` ignored",
    source="core/execution/WorkflowExecutorOps.java terminateWorkflow(workflowId, reason)",
)
def test_terminate_never_starts_the_failure_workflow_and_is_idempotent():
    sim = Sim(workflow_defs=[wf("undo", simple("undo"))])
    run = sim.start(wf("w", simple("a"), failureWorkflow="undo"))
    decider.terminate(run, "stop", sim.ctx())
    assert run.status == "TERMINATED" and "conductor.failure_workflow" not in run.workflow["output"]
    assert refs(run) == [("a", "CANCELED")] and run.started == []
    decider.terminate(run, "again", sim.ctx())  # already TERMINATED: nothing happens
    assert run.workflow["reason"] == "stop"


@behaves(
    "terminate a COMPLETED workflow",
    "409 Cannot terminate a COMPLETED workflow.",
    source="core/execution/WorkflowExecutorOps.java terminateWorkflow(workflowId, reason)",
)
def test_terminate_completed_is_a_conflict():
    sim = Sim()
    run = sim.start(wf("w", simple("a")))
    sim.report(run, sim.poll(run, "a"))
    with pytest.raises(Conflict, match=r"Cannot terminate a COMPLETED workflow."):
        decider.terminate(run, None, sim.ctx())


@behaves(
    "retry a RUNNING workflow",
    "404 Workflow is still running.  status=RUNNING",
    source="core/execution/WorkflowExecutorOps.java retry",
)
def test_retry_running_is_not_found_and_completed_has_nothing_to_retry():
    sim = Sim()
    run = sim.start(wf("w", simple("a")))
    with pytest.raises(NotFound, match=r"Workflow is still running.  status=RUNNING"):
        decider.retry(run, sim.ctx())
    sim.report(run, sim.poll(run, "a"))
    with pytest.raises(Conflict, match="There are no retryable tasks!"):
        decider.retry(run, sim.ctx())


@behaves(
    "restart with `restartable: false`",
    "404 for a COMPLETED workflow; an ended one else restarts",
    source="core/execution/WorkflowExecutorOps.java restart",
)
def test_restartable_false_refuses_to_restart_a_completed_workflow():
    sim = Sim(task_defs=[{"name": "a"}])
    definition = wf("w", simple("a"), restartable=False)
    done = sim.start(definition)
    sim.report(done, sim.poll(done, "a"))
    with pytest.raises(NotFound, match="is non-restartable"):
        decider.restart(done, sim.ctx())
    failed = sim.start(definition)
    sim.report(failed, sim.poll(failed, "a"), "FAILED")
    decider.restart(failed, sim.ctx())
    assert failed.status == "RUNNING" and refs(failed) == [("a", "SCHEDULED")]
    running = sim.start(definition)
    with pytest.raises(Conflict, match="is not in terminal state, unable to restart"):
        decider.restart(running, sim.ctx())


# --- workers' answers and time ---------------------------------------------------------------


@behaves(
    "worker answers IN_PROGRESS with callbackAfterSeconds",
    "task SCHEDULED again, invisible until then; the poll resets callbackAfterSeconds to 0",
    source="core/execution/WorkflowExecutorOps.java updateTask; core/../service/ExecutionService.java poll",
)
def test_in_progress_answer_schedules_the_task_again_after_its_callback():
    sim = Sim()
    run = sim.start(wf("w", simple("a")))
    task = sim.poll(run, "a")
    sim.report(run, task, "IN_PROGRESS", output={"step": 1}, callbackAfterSeconds=30)
    assert task["status"] == "SCHEDULED" and task["callback_after_seconds"] == 30 and task["output"] == {"step": 1}
    sim.advance(29)
    assert sim.poll(run, "a") is None
    sim.advance(1)
    again = sim.poll(run, "a")
    assert again is task and task["poll_count"] == 2 and task["callback_after_seconds"] == 0


@behaves(
    "`pollTimeoutSeconds`",
    "a task no worker polls in time is TIMED_OUT by its timeoutPolicy",
    source="core/execution/DeciderService.java checkTaskPollTimeout",
)
def test_poll_timeout_times_the_task_out():
    sim = Sim(task_defs=[{"name": "a", "pollTimeoutSeconds": 5, "timeoutPolicy": "TIME_OUT_WF"}])
    run = sim.start(wf("w", simple("a")))
    sim.advance(4.9)
    assert run.status == "RUNNING"
    sim.advance(0.1)
    assert run.status == "TIMED_OUT" and refs(run) == [("a", "TIMED_OUT")]
    assert run.tasks[0]["reason"].startswith("Task poll timed out after 5 seconds")


@behaves(
    "response timeout",
    "counts from the last update, plus callbackAfterSeconds; then retried",
    source="core/execution/DeciderService.java isResponseTimedOut",
)
def test_response_timeout_retries_the_task():
    sim = Sim(task_defs=[{"name": "a", "responseTimeoutSeconds": 10, "retryCount": 1}])
    run = sim.start(wf("w", simple("a")))
    first = sim.poll(run, "a")
    sim.advance(9.9)
    assert first["status"] == "IN_PROGRESS"
    sim.advance(0.1)
    assert refs(run) == [("a", "TIMED_OUT"), ("a", "SCHEDULED")]
    sim.report(run, first, output={"late": True})  # the dead worker's answer: ignored
    sim.report(run, sim.poll(run, "a"), output={"ok": True})
    assert run.status == "COMPLETED" and run.workflow["output"] == {"ok": True}


@behaves(
    "retry delays",
    "FIXED, LINEAR_BACKOFF (delay × scale × attempt), EXPONENTIAL_BACKOFF (delay × 2^n), "
    "capped by maxRetryDelaySeconds",
    source="core/execution/DeciderService.java retry",
)
def test_retry_delays_follow_the_retry_logic():
    for logic, extra, delays in (
        ("FIXED", {}, [4, 4, 4]),
        ("LINEAR_BACKOFF", {"backoffScaleFactor": 2}, [8, 16, 24]),
        ("EXPONENTIAL_BACKOFF", {"maxRetryDelaySeconds": 10}, [4, 8, 10]),
    ):
        sim = Sim(task_defs=[{"name": "a", "retryCount": 3, "retryDelaySeconds": 4, "retryLogic": logic, **extra}])
        run = sim.start(wf("w", simple("a")))
        seen = []
        for _ in delays:
            sim.report(run, sim.poll(run, "a"), "FAILED")
            seen.append(run.tasks[-1]["callback_after_seconds"])
            sim.advance(seen[-1])
        assert seen == delays, logic


@behaves(
    "workflow `timeoutSeconds` without timeoutPolicy",
    "ALERT_ONLY: the workflow runs on",
    source="common/../metadata/workflow/WorkflowDef.java timeoutPolicy; DeciderService.checkWorkflowTimeout",
)
def test_workflow_timeout_only_ends_the_workflow_under_time_out_wf():
    sim = Sim()
    alert = sim.start(wf("w", simple("a"), timeoutSeconds=60))
    strict = sim.start(wf("w", simple("a"), timeoutSeconds=60, timeoutPolicy="TIME_OUT_WF"))
    sim.advance(60)
    assert alert.status == "RUNNING"
    assert strict.status == "TIMED_OUT" and strict.workflow["reason"].startswith("Workflow timed out after 60 seconds")


def test_decider_needs_no_database_and_no_clock():
    """The decider is pure: importing it pulls in neither psycopg2 nor the store."""
    import sys

    assert "fdelib.conductor.store" not in decider.__dict__ and "psycopg2" not in decider.__dict__
    assert all(not name.startswith("fdelib.conductor.store") for name in getattr(decider, "__dict__", {}))
    assert "time" not in decider.__dict__ and sys.modules["fdelib.conductor.decider"] is decider
