"""The decider: Conductor's state machine as pure functions (no SQL, no clock).

A :class:`Run` is one workflow and its tasks, as plain dicts (the store's rows). Every
function here takes a run, a :class:`Context` (the time *now*, an id generator, the
registered task definitions, the failure workflows' definitions) and changes the run in
place; :attr:`Run.dirty` says which tasks to save and :attr:`Run.started` which new runs
(failure workflows) to insert. Nothing here reads a clock or a database, so a test drives
it with a fake clock and no sleeps.

It follows Conductor v3.32.1's source, function by function:

* ``core/.../execution/DeciderService.java``: :func:`decide` (``decide``,
  ``checkWorkflowTimeout``, ``checkTaskTimeout``, ``checkTaskPollTimeout``,
  ``isResponseTimedOut``, ``retry``, ``getNextTask``, ``checkForWorkflowCompletion``,
  ``updateWorkflowOutput``);
* ``core/.../execution/WorkflowExecutorOps.java``: the decide loop, ``endExecution``,
  ``completeWorkflow``, ``terminate``/``terminateWorkflow`` (failure workflow and its
  input), ``updateTask`` (:func:`apply_result`), ``retry`` and ``restart``
  (:func:`retry`, :func:`restart`), ``terminateWorkflow(id, reason)`` (:func:`terminate`);
* ``core/.../execution/mapper/*TaskMapper.java``: what scheduling each task type creates
  (:func:`_map`); ``core/.../execution/tasks/{Join,Switch,Decision,Terminate,SetVariable}.java``:
  how system tasks run;
* ``core/.../metadata/MetadataMapperService.java``: a workflow carries its tasks'
  definitions from its start (registered, else ad-hoc defaults).

The poll itself (SCHEDULED → IN_PROGRESS, ``pollCount``, ``callbackAfterSeconds`` reset) is a
queue operation and lives in the store, as in Conductor (QueueDAO.pop + ExecutionService.poll).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import FdeError
from . import expressions, wire
from .definitions import Plan, ad_hoc_task_def, task_type

TERMINAL_TASK = frozenset(
    {"COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "FAILED_WITH_TERMINAL_ERROR", "TIMED_OUT", "CANCELED", "SKIPPED"}
)
SUCCESSFUL = frozenset({"IN_PROGRESS", "SCHEDULED", "COMPLETED", "COMPLETED_WITH_ERRORS", "SKIPPED"})
RETRIABLE = frozenset({"IN_PROGRESS", "SCHEDULED", "FAILED", "COMPLETED", "COMPLETED_WITH_ERRORS", "TIMED_OUT"})
TERMINAL_WORKFLOW = frozenset({"COMPLETED", "FAILED", "TIMED_OUT", "TERMINATED"})
SYSTEM = frozenset(
    {"FORK", "FORK_JOIN", "FORK_JOIN_DYNAMIC", "JOIN", "SWITCH", "DECISION", "TERMINATE", "SET_VARIABLE"}
)
TASK_COLUMNS = (
    "task_id",
    "workflow_id",
    "seq",
    "ref",
    "task_type",
    "task_def_name",
    "status",
    "workflow_task",
    "input",
    "output",
    "retry_count",
    "retried",
    "executed",
    "retried_task_id",
    "poll_count",
    "worker_id",
    "reason",
    "callback_after_seconds",
    "response_timeout_seconds",
    "timeout_seconds",
    "queued",
    "visible_at",
    "scheduled_time",
    "start_time",
    "end_time",
    "update_time",
)


class EngineError(FdeError):
    status = 400


class NotFound(EngineError):
    status = 404


class Conflict(EngineError):
    status = 409


@dataclasses.dataclass
class Context:
    """What a decision may know besides the run: the time, new ids, and definitions."""

    now: int  # epoch milliseconds
    new_id: Callable[[], str]
    task_defs: Mapping[str, dict] = dataclasses.field(default_factory=dict)
    workflow_defs: Mapping[str, dict] = dataclasses.field(default_factory=dict)  # by name


class Run:
    """One workflow and its tasks; remembers what changed."""

    def __init__(self, workflow: dict, tasks: list[dict]):
        self.workflow = workflow
        self.tasks = tasks
        self.plan = Plan(workflow["definition"])
        self.dirty: dict[str, dict] = {}
        self.started: list[Run] = []  # failure workflows started by this decision
        self.reset = False  # restart: delete the old tasks on save
        self.redefined = False  # restart with the latest definition: save it

    @property
    def id(self) -> str:
        return self.workflow["workflow_id"]

    @property
    def status(self) -> str:
        return self.workflow["status"]

    @property
    def running(self) -> bool:
        return self.workflow["status"] == "RUNNING"

    def touch(self, task: dict) -> None:
        self.dirty[task["task_id"]] = task

    def latest(self, ref: str) -> dict | None:
        """WorkflowModel.getTaskByRefName: the last task with this reference name."""
        found = None
        for task in self.tasks:
            if task["ref"] == ref:
                found = task
        return found

    def task(self, task_id: str) -> dict:
        for task in self.tasks:
            if task["task_id"] == task_id:
                return task
        raise NotFound(f"No such task found by id: {task_id}")

    def document(self) -> dict[str, Any]:
        """What ``${...}`` expressions read (ParametersUtils.getTaskInputV2's input map)."""
        wf = self.workflow
        doc: dict[str, Any] = {
            "workflow": {
                "input": wf["input"],
                "output": wf["output"],
                "status": wf["status"],
                "workflowId": wf["workflow_id"],
                "parentWorkflowId": wf["parent_workflow_id"],
                "parentWorkflowTaskId": None,
                "workflowType": wf["name"],
                "version": wf["version"],
                "correlationId": wf["correlation_id"],
                "reasonForIncompletion": wf["reason"],
                "schemaVersion": wf["definition"].get("schemaVersion", 2),
                "variables": wf["variables"],
            }
        }
        for task in self.tasks:  # later attempts overwrite earlier ones
            doc[task["ref"]] = {
                "input": task["input"],
                "output": task["output"],
                "taskType": wire.task_type_of(task),
                "status": task["status"],
                "referenceTaskName": task["ref"],
                "retryCount": task["retry_count"],
                "correlationId": wf["correlation_id"],
                "pollCount": task["poll_count"],
                "taskDefName": task["task_def_name"],
                "scheduledTime": task["scheduled_time"],
                "startTime": task["start_time"] or 0,
                "endTime": task["end_time"] or 0,
                "workflowInstanceId": wf["workflow_id"],
                "taskId": task["task_id"],
                "reasonForIncompletion": task["reason"],
                "callbackAfterSeconds": task["callback_after_seconds"],
                "workerId": task["worker_id"],
                "iteration": 0,
            }
        return doc

    def render(self, include_tasks: bool = True) -> dict:
        return wire.render_workflow(self.workflow, self.tasks, include_tasks)


class _Terminate(Exception):
    """TerminateWorkflowException: end the workflow with ``status`` because of ``task``."""

    def __init__(self, reason: str, status: str = "FAILED", task: dict | None = None):
        super().__init__(reason)
        self.reason, self.status, self.task = reason, status, task


# --- starting -----------------------------------------------------------------------------


def start(definition: dict, request: Mapping[str, Any], ctx: Context, *, parent: str | None = None) -> Run:
    """WorkflowExecutorOps.startWorkflow: a new run of ``definition`` (already checked),
    decided once."""
    definition = with_task_definitions(definition, ctx.task_defs)
    workflow_input = dict(request.get("input") or {})
    if workflow_input:  # ParametersUtils.getWorkflowInput: only a non-empty input gets the template
        for key, value in (definition.get("inputTemplate") or {}).items():
            workflow_input.setdefault(key, copy.deepcopy(value))
    workflow = {
        "workflow_id": request.get("workflowId") or ctx.new_id(),
        "name": definition["name"],
        "version": definition.get("version", 1),
        "status": "RUNNING",
        "definition": definition,
        "input": workflow_input,
        "output": {},
        "variables": copy.deepcopy(definition.get("variables") or {}),
        "correlation_id": request.get("correlationId"),
        "request_id": request.get("requestId"),
        "priority": request.get("priority") or 0,
        "reason": None,
        "failed_refs": [],
        "failed_task_id": None,
        "parent_workflow_id": parent,
        "timeout_seconds": _workflow_timeout(definition),
        "create_time": ctx.now,
        "update_time": ctx.now,
        "end_time": None,
        "last_retried_time": 0,
    }
    run = Run(workflow, [])
    decide(run, ctx)
    return run


def with_task_definitions(definition: dict, task_defs: Mapping[str, dict]) -> dict:
    """MetadataMapperService.populateTaskDefinitions: every named task carries its definition
    (registered, else ad-hoc defaults), fixed for the run's lifetime."""
    definition = copy.deepcopy(definition)

    def populate(tasks: list[dict]) -> None:
        for task in tasks or []:
            if task.get("taskDefinition") is None and task.get("name"):
                task["taskDefinition"] = task_defs.get(task["name"]) or ad_hoc_task_def(task["name"], task_type(task))
            for branch in task.get("forkTasks") or []:
                populate(branch)
            for case in (task.get("decisionCases") or {}).values():
                populate(case)
            populate(task.get("defaultCase") or [])

    populate(definition.get("tasks") or [])
    return definition


def _workflow_timeout(definition: dict) -> int:
    """The workflow's timeout the sweep watches: only TIME_OUT_WF ends it (WorkflowDef's
    timeoutPolicy defaults to ALERT_ONLY, which only logs)."""
    return definition.get("timeoutSeconds") or 0 if definition.get("timeoutPolicy") == "TIME_OUT_WF" else 0


# --- the decide loop -----------------------------------------------------------------------


def decide(run: Run, ctx: Context) -> None:
    """WorkflowExecutorOps.decide: apply DeciderService.decide until nothing changes."""
    if not run.running:
        if run.status not in ("COMPLETED",):
            _cancel_non_terminal(run, ctx)
        return
    try:
        for _ in range(10_000):
            outcome = _decide_once(run, ctx)
            if outcome.complete:
                _end_execution(run, outcome.terminate_task, ctx)
                return
            if not outcome.changed:
                return
    except _Terminate as stop:
        _terminate_with(run, stop, ctx)


@dataclasses.dataclass
class _Outcome:
    changed: bool = False
    complete: bool = False
    terminate_task: dict | None = None


def _decide_once(run: Run, ctx: Context) -> _Outcome:
    outcome = _Outcome()
    _check_workflow_timeout(run, ctx)
    if not run.tasks:  # a new workflow (or a restart)
        outcome.changed = _schedule(run, run.plan.first(), ctx) != []
        if not outcome.changed:
            raise _Terminate("No tasks found to be executed", "COMPLETED")
        return outcome
    terminate_task = next(
        (
            t
            for t in run.tasks
            if t["task_type"] == "TERMINATE" and t["status"] in ("COMPLETED", "COMPLETED_WITH_ERRORS")
        ),
        None,
    )
    if terminate_task is not None:  # the workflow ends; nothing more is scheduled
        for task in run.tasks:
            if not task["executed"] and task["status"] in TERMINAL_TASK:
                task["executed"] = True
                run.touch(task)
        return _Outcome(changed=True, complete=True, terminate_task=terminate_task)
    scheduled: list[dict] = []
    for task in list(run.tasks):
        if task["retried"] or task["status"] == "SKIPPED" or task["executed"]:
            continue
        if task["task_type"] == "JOIN" and task["status"] == "IN_PROGRESS":
            outcome.changed |= _evaluate_join(run, task, ctx)
        task_def = _task_def(task, ctx)
        _check_task_timeout(run, task, task_def, ctx)
        _check_poll_timeout(run, task, task_def, ctx)
        if _response_timed_out(task, task_def, ctx):
            task.update(
                status="TIMED_OUT",
                end_time=ctx.now,
                queued=False,
                reason=f"responseTimeoutSeconds: {task_def['responseTimeoutSeconds']} exceeded "
                "(no word from the worker that polled it)",
            )
            run.touch(task)
            outcome.changed = True
        if task["status"] in TERMINAL_TASK and task["status"] not in SUCCESSFUL:
            again = _retry_task(run, task, task_def, ctx)
            if again is not None:
                scheduled.append(again)
                outcome.changed = True
                continue
            task["status"] = "COMPLETED_WITH_ERRORS"  # optional: the workflow goes on
            run.touch(task)
        if not task["executed"] and not task["retried"] and task["status"] in TERMINAL_TASK:
            task["executed"] = True
            run.touch(task)
            outcome.changed = True
            following = _next_task(run, task)
            if following is not None:
                scheduled += _schedule(run, following, ctx)
    outcome.changed |= bool(scheduled)
    if any(t["task_type"] == "TERMINATE" and t["status"] == "COMPLETED" for t in scheduled):
        return outcome  # the next round ends the workflow
    if not scheduled and _workflow_done(run):
        outcome.complete = True
    return outcome


def _next_task(run: Run, task: dict) -> dict | None:
    """DeciderService.getNextTask: a switch that scheduled its case has no next of its own."""
    if task["task_type"] in ("SWITCH", "DECISION") and task["input"].get("hasChildren") is not None:
        return None
    if task["task_type"] == "FORK_JOIN_DYNAMIC":
        return None
    return run.plan.after(task["ref"])


def _workflow_done(run: Run) -> bool:
    """DeciderService.checkForWorkflowCompletion."""
    statuses: dict[str, str] = {}
    for task in run.tasks:
        statuses[task["ref"]] = task["status"]
        if task["status"] not in TERMINAL_TASK:
            return False
    if not statuses:
        return False
    for workflow_task in run.workflow["definition"].get("tasks") or []:
        if statuses.get(workflow_task["taskReferenceName"]) not in TERMINAL_TASK:
            return False
    for task in run.tasks:
        if not task["retried"] or not task["executed"]:
            following = run.plan.after(task["ref"])
            if following is not None and following["taskReferenceName"] not in statuses:
                return False
    return True


# --- scheduling: the task mappers -----------------------------------------------------------


def _schedule(run: Run, workflow_task: dict | None, ctx: Context, retry_count: int = 0) -> list[dict]:
    """DeciderService.getTasksToBeScheduled + WorkflowExecutorOps.scheduleTask: map the task
    (and what it brings along), skip reference names already in the run, give them their
    sequence numbers and run the synchronous system tasks."""
    if workflow_task is None:
        return []
    taken = {(t["ref"], t["retry_count"]) for t in run.tasks}
    created = [t for t in _map(run, workflow_task, ctx, retry_count) if (t["ref"], t["retry_count"]) not in taken]
    for task in created:
        task["seq"] = max((t["seq"] for t in run.tasks), default=0) + 1
        run.tasks.append(task)
        run.touch(task)
        _start_system_task(run, task, ctx)
    return created


def _map(run: Run, wt: dict, ctx: Context, retry_count: int) -> list[dict]:
    kind = task_type(wt)
    if kind == "SIMPLE":
        return [_simple(run, wt, ctx, retry_count)]
    doc = run.document()
    task_input = expressions.task_input(wt.get("inputParameters"), doc)
    if kind == "FORK_JOIN":
        fork = _new_task(
            run,
            wt,
            "FORK",
            ctx,
            retry_count,
            input=task_input,
            status="COMPLETED",
            task_def_name="FORK",
            start_time=ctx.now,
            end_time=ctx.now,
        )
        tasks = [fork]
        for branch in wt.get("forkTasks") or []:
            tasks += _map(run, branch[0], ctx, retry_count)
        join = run.plan.after(wt["taskReferenceName"])
        if join is None or task_type(join) != "JOIN":
            raise _Terminate("Fork task definition is not followed by a join task.  Check the blueprint")
        return tasks + _map(run, join, ctx, retry_count)
    if kind == "JOIN":
        return [
            _new_task(
                run,
                wt,
                "JOIN",
                ctx,
                retry_count,
                input={"joinOn": list(wt.get("joinOn") or [])},
                status="IN_PROGRESS",
                task_def_name="JOIN",
                start_time=ctx.now,
            )
        ]
    if kind == "FORK_JOIN_DYNAMIC":
        return _dynamic_fork(run, wt, task_input, ctx, retry_count)
    if kind in ("SWITCH", "DECISION"):
        return _switch(run, wt, kind, task_input, ctx, retry_count)
    if kind == "TERMINATE":
        task_input = expressions.task_input(wt.get("inputParameters"), doc, None, None)
        return [
            _new_task(
                run, wt, "TERMINATE", ctx, retry_count, input=task_input, status="IN_PROGRESS", start_time=ctx.now
            )
        ]
    if kind == "SET_VARIABLE":
        return [
            _new_task(
                run, wt, "SET_VARIABLE", ctx, retry_count, input=task_input, status="IN_PROGRESS", start_time=ctx.now
            )
        ]
    raise _Terminate(f"task type {kind} cannot be scheduled by the local engine")


def _simple(run: Run, wt: dict, ctx: Context, retry_count: int, retried_task_id: str | None = None) -> dict:
    """SimpleTaskMapper: the task waits in its queue for a worker."""
    name = wt["name"]  # checked definitions and dynamic forks always name their tasks
    task_def = wt.get("taskDefinition") or ctx.task_defs.get(name) or ad_hoc_task_def(name, "SIMPLE")
    task_id = ctx.new_id()
    delay = int(wt.get("startDelay") or 0)
    task_input = expressions.task_input(wt.get("inputParameters"), run.document(), task_def, task_id)
    policy = task_def.get("timeoutPolicy") or "TIME_OUT_WF"
    return _new_task(
        run,
        wt,
        "SIMPLE",
        ctx,
        retry_count,
        task_id=task_id,
        input=task_input,
        status="SCHEDULED",
        queued=True,
        visible_at=ctx.now + delay * 1000,
        callback_after_seconds=delay,
        retried_task_id=retried_task_id,
        response_timeout_seconds=task_def.get("responseTimeoutSeconds") or 0,
        timeout_seconds=0 if policy == "ALERT_ONLY" else task_def.get("timeoutSeconds") or 0,
    )


def _switch(run: Run, wt: dict, kind: str, task_input: dict, ctx: Context, retry_count: int) -> list[dict]:
    """SwitchTaskMapper (value-param evaluator) and DecisionTaskMapper (caseValueParam):
    the chosen case's first task is scheduled with the switch."""
    cases = wt.get("decisionCases") or {}
    if kind == "SWITCH":
        key = expressions.java_string(task_input.get(wt.get("expression")))
        task = _new_task(
            run,
            wt,
            "SWITCH",
            ctx,
            retry_count,
            task_def_name="SWITCH",
            status="IN_PROGRESS",
            input={**task_input, "case": key},
            start_time=ctx.now,
            output={"evaluationResult": [key], "selectedCase": key},
        )
        chosen = cases.get(key)
        if chosen is None:  # an explicitly empty case runs nothing, not the default
            chosen = wt.get("defaultCase") or []
    else:
        key = expressions.java_string(task_input.get(wt.get("caseValueParam")))
        task = _new_task(
            run,
            wt,
            "DECISION",
            ctx,
            retry_count,
            task_def_name="DECISION",
            status="IN_PROGRESS",
            input={"case": key},
            start_time=ctx.now,
            output={"caseOutput": [key]},
        )
        chosen = cases.get(key) or wt.get("defaultCase") or []
    tasks = [task]
    if chosen:
        tasks += _map(run, chosen[0], ctx, retry_count)
        task["input"]["hasChildren"] = "true"
    return tasks


def _dynamic_fork(run: Run, wt: dict, task_input: dict, ctx: Context, retry_count: int) -> list[dict]:
    """ForkJoinDynamicTaskMapper: a FORK task, the forked tasks, and the JOIN on all of them."""
    tasks_param = wt.get("dynamicForkTasksParam") or "dynamicTasks"
    inputs_param = wt.get("dynamicForkTasksInputParamName") or "dynamicTasksInput"
    forked, inputs = task_input.get(tasks_param), task_input.get(inputs_param) or {}
    if not isinstance(forked, list) or not all(
        isinstance(t, dict) and t.get("taskReferenceName") and t.get("name") for t in forked
    ):
        raise _Terminate(
            f"Tasks could not be dynamically forked due to invalid input: FORK_JOIN_DYNAMIC "
            f"{wt['taskReferenceName']}: input {tasks_param!r} must be a list of tasks with a "
            "name and a taskReferenceName"
        )
    if not isinstance(inputs, dict):
        raise _Terminate(
            f"Tasks could not be dynamically forked due to invalid input: input "
            f"{inputs_param!r} must map each reference name to its input"
        )
    forked = [{**copy.deepcopy(t), "type": task_type(t)} for t in forked]
    for task in forked:
        if task["type"] not in SYSTEM | {"SIMPLE"} or task["type"] in ("FORK_JOIN_DYNAMIC",):
            raise _Terminate(
                f"FORK_JOIN_DYNAMIC {wt['taskReferenceName']}: the local engine cannot fork "
                f"tasks of type {task['type']}"
            )
        task["inputParameters"] = {
            **(task.get("inputParameters") or {}),
            **(inputs.get(task["taskReferenceName"]) or {}),
        }
    fork = _new_task(
        run,
        wt,
        "FORK",
        ctx,
        retry_count,
        task_def_name="FORK",
        status="COMPLETED",
        executed=True,
        start_time=ctx.now,
        end_time=ctx.now,
        input={**task_input, "forkedTasks": [t["taskReferenceName"] for t in forked], "forkedTaskDefs": forked},
    )
    tasks, join_on = [fork], []
    taken = {t["ref"] for t in run.tasks} | set(run.plan.slots)
    for task in forked:
        if task["taskReferenceName"] in taken:
            raise _Terminate(
                f"No dynamic tasks could be created for the Workflow: {run.workflow['name']}."
                f"{run.workflow['version']}/{run.id}, Dynamic Fork Task: {wt['taskReferenceName']} "
                f"attempted to create a duplicate task reference name: {task['taskReferenceName']}"
            )
        mapped = _map(run, task, ctx, retry_count)
        tasks += mapped
        join_on.append(mapped[-1]["ref"])
    join_wt = run.plan.after(wt["taskReferenceName"])
    if join_wt is None or task_type(join_wt) != "JOIN":
        raise _Terminate("Dynamic join definition is not followed by a join task.  Check the workflow definition.")
    join = _new_task(
        run,
        join_wt,
        "JOIN",
        ctx,
        retry_count,
        task_def_name="JOIN",
        status="IN_PROGRESS",
        start_time=ctx.now,
        input={**(join_wt.get("inputParameters") or {}), "joinOn": join_on},
    )
    return [*tasks, join]


def _new_task(run: Run, wt: dict, kind: str, ctx: Context, retry_count: int, **fields) -> dict:
    """TaskMapperContext.createTaskModel, with a mapper's own fields."""
    task = {
        "task_id": fields.pop("task_id", None) or ctx.new_id(),
        "workflow_id": run.id,
        "seq": 0,
        "ref": wt["taskReferenceName"],
        "task_type": kind,
        "task_def_name": wt.get("name") or kind,
        "status": "SCHEDULED",
        "workflow_task": wt,
        "input": {},
        "output": {},
        "retry_count": retry_count,
        "retried": False,
        "executed": False,
        "retried_task_id": None,
        "poll_count": 0,
        "worker_id": None,
        "reason": None,
        "callback_after_seconds": 0,
        "response_timeout_seconds": 0,
        "timeout_seconds": 0,
        "queued": False,
        "visible_at": None,
        "scheduled_time": ctx.now,
        "start_time": None,
        "end_time": None,
        "update_time": ctx.now,
    }
    task.update(fields)
    return task


def _start_system_task(run: Run, task: dict, ctx: Context) -> None:
    """The synchronous system tasks run as they are scheduled (Switch, Decision, Terminate,
    SetVariable .execute); a JOIN is evaluated by the decide loop."""
    kind = task["task_type"]
    if kind in ("SWITCH", "DECISION"):
        task.update(status="COMPLETED", end_time=ctx.now)
    elif kind == "SET_VARIABLE":
        run.workflow["variables"] = {**run.workflow["variables"], **task["input"]}
        task.update(status="COMPLETED", end_time=ctx.now)
    elif kind == "TERMINATE":
        status = task["input"].get("terminationStatus")
        if status in ("COMPLETED", "FAILED", "TERMINATED"):
            value = task["input"].get("workflowOutput")
            output = {} if value is None else dict(value) if isinstance(value, dict) else {"output": value}
            task.update(status="COMPLETED", output=output, end_time=ctx.now)
        else:
            task.update(status="FAILED", reason="given termination status is not valid", end_time=ctx.now)


def _evaluate_join(run: Run, join: dict, ctx: Context) -> bool:
    """Join.execute: wait until every joined task is terminal; a failed non-optional one fails
    the JOIN; an optional one that completed with errors makes it COMPLETED_WITH_ERRORS. Its
    output holds each joined task's output that is not empty."""
    join_on = join["input"].get("joinOn") or []
    joined = [(ref, run.latest(ref)) for ref in join_on]
    all_terminal = all(t is not None and t["status"] in TERMINAL_TASK for _, t in joined)
    output, optional_failures = {}, []
    for ref, task in joined:
        if task is None:
            continue
        if task["output"]:
            output[ref] = task["output"]
        optional = bool(task["workflow_task"].get("optional"))
        permissive = bool(task["workflow_task"].get("permissive"))
        if task["status"] not in SUCCESSFUL and not optional and (not permissive or all_terminal):
            reasons = " ".join(
                t["reason"] or "null" for _, t in joined if t is not None and t["status"] not in SUCCESSFUL
            )
            join.update(status="FAILED", reason=reasons, output=output, end_time=ctx.now)
            run.touch(join)
            return True
        if optional and task["status"] == "COMPLETED_WITH_ERRORS":
            optional_failures.append(f"{task['task_def_name']}/{task['task_id']}")
    if output != join["output"]:
        join["output"] = output
        run.touch(join)
    if not all_terminal:
        return False
    if optional_failures:
        join.update(
            status="COMPLETED_WITH_ERRORS",
            end_time=ctx.now,
            reason=" ".join(optional_failures) + " completed with errors",
        )
    else:
        join.update(status="COMPLETED", end_time=ctx.now)
    run.touch(join)
    return True


# --- failures, retries and timeouts ---------------------------------------------------------


def _task_def(task: dict, ctx: Context) -> dict:
    wt = task["workflow_task"]
    return (
        wt.get("taskDefinition")
        or ctx.task_defs.get(task["task_def_name"])
        or ad_hoc_task_def(task["task_def_name"], "SIMPLE" if task["task_type"] == "SIMPLE" else task["task_type"])
    )


def _retry_task(run: Run, task: dict, task_def: dict, ctx: Context) -> dict | None:
    """DeciderService.retry: a new attempt after the retry delay, or None for an optional
    task; otherwise the workflow ends (TIMED_OUT for a timed-out task, TERMINATED for a
    canceled one, else FAILED)."""
    wt = task["workflow_task"]
    expected = wt.get("retryCount")
    if expected is None:
        expected = task_def.get("retryCount", 0)
    if task["status"] not in RETRIABLE or task["task_type"] in SYSTEM or expected <= task["retry_count"]:
        if wt.get("optional") or wt.get("permissive"):
            return None
        status = {"CANCELED": "TERMINATED", "TIMED_OUT": "TIMED_OUT"}.get(task["status"], "FAILED")
        raise _Terminate(
            f"Task '{task['ref']}' failed with status {task['status']} and reason: '{task['reason'] or ''}'",
            status,
            task,
        )
    base = task_def.get("retryDelaySeconds", 60) or 0
    logic = task_def.get("retryLogic") or "FIXED"
    if logic == "LINEAR_BACKOFF":
        delay = base * (task_def.get("backoffScaleFactor") or 1) * (task["retry_count"] + 1)
    elif logic == "EXPONENTIAL_BACKOFF":
        delay = base * 2 ** task["retry_count"]
    else:
        delay = base
    cap = task_def.get("maxRetryDelaySeconds") or 0
    if cap > 0 and delay > cap:
        delay = cap
    task["retried"] = True
    run.touch(task)
    again = _simple(run, wt, ctx, task["retry_count"] + 1, retried_task_id=task["task_id"])
    again["input"] = {**task["input"], **again["input"]}  # the old input, re-resolved on top
    again.update(visible_at=ctx.now + delay * 1000, callback_after_seconds=delay, reason=task["reason"])
    again["seq"] = max((t["seq"] for t in run.tasks), default=0) + 1
    run.tasks.append(again)
    run.touch(again)
    return again


def _check_workflow_timeout(run: Run, ctx: Context) -> None:
    """DeciderService.checkWorkflowTimeout: TIME_OUT_WF ends the workflow, ALERT_ONLY only
    alerts; the count starts at the last retry, else at the start."""
    definition = run.workflow["definition"]
    seconds = definition.get("timeoutSeconds") or 0
    if seconds <= 0 or definition.get("timeoutPolicy") != "TIME_OUT_WF":
        return
    origin = run.workflow["last_retried_time"] or run.workflow["create_time"]
    elapsed = ctx.now - origin
    if elapsed >= seconds * 1000:
        raise _Terminate(
            f"Workflow timed out after {elapsed // 1000} seconds. Timeout configured as "
            f"{seconds} seconds. Timeout policy configured to TIME_OUT_WF",
            "TIMED_OUT",
        )


def _timeout_with_policy(run: Run, task: dict, task_def: dict, reason: str, ctx: Context) -> None:
    """DeciderService.timeoutTaskWithTimeoutPolicy."""
    policy = task_def.get("timeoutPolicy") or "TIME_OUT_WF"
    if policy == "ALERT_ONLY":
        return
    task.update(status="TIMED_OUT", reason=reason, end_time=ctx.now, queued=False)
    run.touch(task)
    if policy == "TIME_OUT_WF":
        raise _Terminate(reason, "TIMED_OUT", task)


def _check_task_timeout(run: Run, task: dict, task_def: dict, ctx: Context) -> None:
    """DeciderService.checkTaskTimeout: timeoutSeconds count from the first poll."""
    seconds = task_def.get("timeoutSeconds") or 0
    if task["status"] in TERMINAL_TASK or seconds <= 0 or not task["start_time"] or task["task_type"] in SYSTEM:
        return
    elapsed = ctx.now - (task["start_time"] + int(task["workflow_task"].get("startDelay") or 0) * 1000)
    if elapsed >= seconds * 1000:
        _timeout_with_policy(
            run,
            task,
            task_def,
            f"Task timed out after {elapsed // 1000} seconds. Timeout configured as {seconds} "
            f"seconds. Timeout policy configured to {task_def.get('timeoutPolicy')}",
            ctx,
        )


def _check_poll_timeout(run: Run, task: dict, task_def: dict, ctx: Context) -> None:
    """DeciderService.checkTaskPollTimeout: a SCHEDULED task no worker polled within
    pollTimeoutSeconds (plus its callbackAfterSeconds) of being scheduled."""
    seconds = task_def.get("pollTimeoutSeconds")
    if not seconds or seconds <= 0 or task["status"] != "SCHEDULED" or task["task_type"] != "SIMPLE":
        return
    elapsed = ctx.now - (task["scheduled_time"] + int(task["workflow_task"].get("startDelay") or 0) * 1000)
    if elapsed >= (seconds + task["callback_after_seconds"]) * 1000:
        _timeout_with_policy(
            run,
            task,
            task_def,
            f"Task poll timed out after {elapsed // 1000} seconds. Poll timeout configured as "
            f"{seconds} seconds. Timeout policy configured to {task_def.get('timeoutPolicy')}",
            ctx,
        )


def _response_timed_out(task: dict, task_def: dict, ctx: Context) -> bool:
    """DeciderService.isResponseTimedOut: an IN_PROGRESS task not updated for
    responseTimeoutSeconds (plus its callbackAfterSeconds)."""
    seconds = task_def.get("responseTimeoutSeconds") or 0
    if task["status"] != "IN_PROGRESS" or task["task_type"] != "SIMPLE" or seconds == 0:
        return False
    return ctx.now - task["update_time"] >= (seconds + task["callback_after_seconds"]) * 1000


# --- ending a workflow ----------------------------------------------------------------------


def _end_execution(run: Run, terminate_task: dict | None, ctx: Context) -> None:
    """WorkflowExecutorOps.endExecution: a TERMINATE task's status decides, else COMPLETED."""
    if terminate_task is not None:
        status = terminate_task["input"].get("terminationStatus")
        reason = (
            terminate_task["input"].get("terminationReason")
            or f"Workflow is {status} by TERMINATE task: {terminate_task['task_id']}"
        )
        if status in ("FAILED", "TERMINATED"):
            _terminate_with(run, _Terminate(reason, status, terminate_task), ctx)
            return
        run.workflow["reason"] = reason
    _complete(run, ctx)
    _cancel_non_terminal(run, ctx)


def _complete(run: Run, ctx: Context) -> None:
    """WorkflowExecutorOps.completeWorkflow."""
    wf = run.workflow
    wf.update(output=_workflow_output(run, ctx), status="COMPLETED", end_time=ctx.now)
    _add_failed_refs(run)


def _terminate_with(run: Run, stop: _Terminate, ctx: Context) -> None:
    """WorkflowExecutorOps.terminate: the workflow ends with the exception's status and
    starts its failure workflow."""
    wf = run.workflow
    if stop.status == "COMPLETED":  # "No tasks found to be executed"
        wf["reason"] = stop.reason
        _complete(run, ctx)
        return
    if wf["status"] not in TERMINAL_WORKFLOW:
        wf["status"] = stop.status
    if stop.task is not None and wf["failed_task_id"] is None:
        wf["failed_task_id"] = stop.task["task_id"]
    failure_workflow = wf["definition"].get("failureWorkflow")
    if failure_workflow and failure_workflow.startswith("$"):
        parts = failure_workflow.split(".")
        failure_workflow = wf["input"].get(parts[2]) if len(parts) > 2 else None
    _terminate_workflow(run, stop.reason, failure_workflow, ctx)


def _terminate_workflow(run: Run, reason: str | None, failure_workflow: str | None, ctx: Context) -> None:
    """WorkflowExecutorOps.terminateWorkflow(workflow, reason, failureWorkflow, version)."""
    wf = run.workflow
    if wf["status"] not in TERMINAL_WORKFLOW:
        wf["status"] = "TERMINATED"
    wf["output"] = _workflow_output(run, ctx)
    _add_failed_refs(run)
    wf.update(reason=reason, end_time=ctx.now)
    _cancel_non_terminal(run, ctx)
    if not failure_workflow or not str(failure_workflow).strip():
        return
    failure_input = {**wf["input"], "workflowId": run.id, "reason": reason, "failureStatus": wf["status"]}
    if wf["failed_task_id"] is not None:
        failure_input["failureTaskId"] = wf["failed_task_id"]
    failure_input["failedWorkflow"] = run.render(include_tasks=True)
    definition = ctx.workflow_defs.get(failure_workflow)
    if definition is None:
        version = wf["definition"].get("failureWorkflowVersion")
        wf["output"] = {
            **wf["output"],
            "conductor.failure_workflow": f"Error workflow {failure_workflow} failed to start.  "
            f"reason: No such workflow defined. name={failure_workflow}, version={version}",
        }
        return
    child = start(definition, {"input": failure_input, "correlationId": wf["correlation_id"]}, ctx, parent=None)
    child.workflow["parent_workflow_id"] = None
    run.started.append(child)
    run.started += child.started
    wf["output"] = {**wf["output"], "conductor.failure_workflow": child.id}


def _workflow_output(run: Run, ctx: Context, task: dict | None = None) -> dict:
    """DeciderService.updateWorkflowOutput: a successful TERMINATE's output; else the
    definition's outputParameters; else the last task's output."""
    if not run.tasks:
        return run.workflow["output"]
    terminate_task = next(
        (
            t
            for t in run.tasks
            if t["task_type"] == "TERMINATE" and t["status"] in ("COMPLETED", "COMPLETED_WITH_ERRORS")
        ),
        None,
    )
    if terminate_task is not None:
        return dict(terminate_task["output"]) if terminate_task["output"] else {}
    last = task or run.tasks[-1]
    template = run.workflow["definition"].get("outputParameters") or {}
    if template:
        return expressions.task_input(template, run.document())
    return last["output"]


def _add_failed_refs(run: Run) -> None:
    failed = {t["ref"] for t in run.tasks if t["status"] in ("FAILED", "FAILED_WITH_TERMINAL_ERROR")}
    refs = list(run.workflow["failed_refs"] or [])
    run.workflow["failed_refs"] = refs + sorted(failed - set(refs))


def _cancel_non_terminal(run: Run, ctx: Context) -> None:
    """WorkflowExecutorOps.cancelNonTerminalTasks."""
    for task in run.tasks:
        if task["status"] not in TERMINAL_TASK:
            task.update(status="CANCELED", queued=False, end_time=ctx.now)
            run.touch(task)


# --- events from outside: workers and operators ---------------------------------------------


def apply_result(run: Run, task_id: str, result: Mapping[str, Any], ctx: Context) -> dict:
    """WorkflowExecutorOps.updateTask: a worker's TaskResult. A result for a task (or a
    workflow) already ended is ignored; IN_PROGRESS puts the task back in its queue
    (SCHEDULED) for ``callbackAfterSeconds``; a final status is decided on."""
    task = run.task(task_id)
    if task["status"] in TERMINAL_TASK or not run.running:
        return task
    status = result["status"]
    now = ctx.now
    callback = int(result.get("callbackAfterSeconds") or 0)
    task.update(
        reason=result.get("reasonForIncompletion"),
        worker_id=result.get("workerId"),
        callback_after_seconds=callback,
        output=result.get("outputData") or {},
        update_time=now,
    )
    if status == "IN_PROGRESS":
        task.update(status="SCHEDULED", queued=True, visible_at=now + callback * 1000)
    else:
        task.update(status=status, end_time=now, queued=False)
    run.touch(task)
    decide(run, ctx)
    return task


def time_out(run: Run, ctx: Context) -> bool:
    """The sweeper's decide: True if the run changed (a timeout fired)."""
    before = (run.status, len(run.tasks), len(run.dirty))
    decide(run, ctx)
    return (run.status, len(run.tasks), len(run.dirty)) != before


def terminate(run: Run, reason: str | None, ctx: Context) -> None:
    """WorkflowExecutorOps.terminateWorkflow(id, reason): no failure workflow is started."""
    if run.status == "COMPLETED":
        raise Conflict("Cannot terminate a COMPLETED workflow.")
    if run.status == "TERMINATED":
        return
    run.workflow["status"] = "TERMINATED"
    _terminate_workflow(run, reason, None, ctx)


def retry(run: Run, ctx: Context) -> None:
    """WorkflowExecutorOps.retry: the last failed (or canceled) attempt of each task runs
    again; a canceled JOIN waits again."""
    wf = run.workflow
    if wf["status"] not in TERMINAL_WORKFLOW:
        raise NotFound(f"Workflow is still running.  status={wf['status']}")
    if not run.tasks:
        raise Conflict("Workflow has not started yet")
    retriable: dict[str, dict] = {}
    for task in run.tasks:
        status = task["status"]
        if status in ("FAILED", "FAILED_WITH_TERMINAL_ERROR", "TIMED_OUT"):
            if status == "FAILED" and task["task_type"] == "JOIN":
                task.update(status="IN_PROGRESS", end_time=None)
                run.touch(task)
                continue
            retriable[task["ref"]] = task
        elif status == "CANCELED":
            if task["task_type"] == "JOIN":
                task.update(status="IN_PROGRESS", end_time=None)
                run.touch(task)
            else:
                retriable[task["ref"]] = task
        else:
            retriable.pop(task["ref"], None)
    if not retriable and wf["status"] != "TIMED_OUT":
        raise Conflict(
            "There are no retryable tasks! Use restart if you want to attempt entire workflow execution again."
        )
    wf.update(status="RUNNING", last_retried_time=ctx.now, reason=None, end_time=None)
    for task in sorted(retriable.values(), key=lambda t: t["seq"]):
        _reschedule(run, task, ctx)
    decide(run, ctx)


def _reschedule(run: Run, task: dict, ctx: Context) -> None:
    """WorkflowExecutorOps.taskToBeRescheduled: a JOIN runs again in place; any other task
    gets a new attempt with its input resolved again."""
    if task["task_type"] in ("JOIN", "FORK"):
        task.update(status="IN_PROGRESS", retried=False, retry_count=task["retry_count"] + 1, end_time=None)
        run.touch(task)
        return
    again = _simple(run, task["workflow_task"], ctx, task["retry_count"] + 1, retried_task_id=task["task_id"])
    again["input"] = {**task["input"], **again["input"]}
    again["seq"] = max((t["seq"] for t in run.tasks), default=0) + 1
    task.update(retried=True, executed=True)
    run.touch(task)
    run.tasks.append(again)
    run.touch(again)


def restart(run: Run, ctx: Context, definition: dict | None = None) -> None:
    """WorkflowExecutorOps.restart: an ended workflow runs again from its first task, with
    the same input (and the latest definition when given)."""
    wf = run.workflow
    if wf["status"] not in TERMINAL_WORKFLOW:
        raise Conflict(
            f"Workflow: {wf['name']}.{wf['version']}/{run.id}.{wf['status']} is not in terminal "
            "state, unable to restart."
        )
    if definition is not None:
        wf.update(
            definition=with_task_definitions(definition, ctx.task_defs), timeout_seconds=_workflow_timeout(definition)
        )
        run.plan = Plan(wf["definition"])
        run.redefined = True
    if not wf["definition"].get("restartable", True) and wf["status"] == "COMPLETED":
        raise NotFound(f"Workflow: {wf['name']}.{wf['version']}/{run.id}.{wf['status']} is non-restartable")
    run.tasks, run.dirty, run.reset = [], {}, True
    wf.update(
        reason=None,
        failed_task_id=None,
        create_time=ctx.now,
        end_time=None,
        last_retried_time=0,
        status="RUNNING",
        output={},
    )
    decide(run, ctx)
