"""Workflow and task definitions: check them as Conductor does on registration, and find
one's way around them.

A definition is the JSON Conductor stores (what conductor-python's ``to_workflow_def``
sends): ``tasks`` is a list; FORK_JOIN holds ``forkTasks`` (lists of lists), SWITCH holds
``decisionCases`` (lists by value) and ``defaultCase``. :class:`Plan` indexes every task
by its ``taskReferenceName`` so the decider can ask "what comes after this one?".

Registration refuses what Conductor's bean validation refuses, with the same messages and
the same answer (400, ``validationErrors`` of ``{path, message, invalidValue}``):

* ``common/.../metadata/workflow/WorkflowDef.java``: a name, at least one task,
  ``schemaVersion`` 2 only;
* ``common/.../metadata/workflow/WorkflowTask.java``: every task has a name and a
  ``taskReferenceName``;
* ``common/.../constraints/TaskReferenceNameUniqueConstraint.java``: reference names are
  unique; a top-level task's ``${ref...}`` expressions name a task of the workflow;
* ``core/.../validations/WorkflowTaskTypeConstraint.java``: SWITCH needs ``evaluatorType``,
  ``expression`` and ``decisionCases``; DECISION needs ``caseValueParam`` (or
  ``caseExpression``) and ``decisionCases``; TERMINATE needs ``terminationStatus`` exactly
  COMPLETED, FAILED or TERMINATED and cannot be optional; FORK_JOIN_DYNAMIC needs its two
  parameter names;
* ``common/.../metadata/tasks/TaskDef.java`` and ``constraints/TaskTimeoutConstraint.java``:
  ``retryCount`` >= 0, ``responseTimeoutSeconds`` >= 1 and not above ``timeoutSeconds``,
  ``pollTimeoutSeconds`` >= 0, ``backoffScaleFactor`` >= 1.

Paths read as Hibernate Validator writes them for Conductor's service methods
(``registerWorkflowDef.arg0.tasks[0].name``): the core module is compiled without
``-parameters``, so arguments are ``arg0``, ``arg1``, ...

What the local engine cannot run (a task type it lacks, a SWITCH evaluated by JavaScript)
is refused too, with a plain message saying so: the engine is a subset of Conductor.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Iterator
from typing import Any

from ..errors import FdeError

#: task types the engine runs; anything else is refused at registration
SUPPORTED = ("SIMPLE", "FORK_JOIN", "FORK_JOIN_DYNAMIC", "JOIN", "SWITCH", "DECISION", "TERMINATE", "SET_VARIABLE")
TERMINATION_STATUSES = ("COMPLETED", "FAILED", "TERMINATED")
RETRY_LOGIC = ("FIXED", "EXPONENTIAL_BACKOFF", "LINEAR_BACKOFF")
TIMEOUT_POLICIES = ("RETRY", "TIME_OUT_WF", "ALERT_ONLY")
WORKFLOW_TIMEOUT_POLICIES = ("TIME_OUT_WF", "ALERT_ONLY")
VALIDATION_FAILED = "Validation failed, check below errors for detail."
_REQUIRED = "{} field is required for taskType: {} taskName: {}"


class DefinitionError(FdeError):
    """A workflow or task definition refused at registration.

    ``errors`` holds Conductor's validation errors (``{path, message, invalidValue}``);
    when it is empty, the message alone says why (the local engine's own limits).
    """

    status = 400

    def __init__(self, message: str, errors: list[dict] | None = None):
        super().__init__(message)
        self.errors = errors or []


@dataclasses.dataclass(frozen=True)
class Slot:
    task: dict[str, Any]  # the WorkflowTask JSON
    siblings: list[dict]  # the list it sits in
    index: int  # its position in that list
    container: str  # "root", "branch" (of a fork) or "case" (of a switch)
    owner: str | None  # the fork's or switch's reference name


class Plan:
    """Navigation over one (already checked) workflow definition."""

    def __init__(self, definition: dict[str, Any]):
        self.definition = definition
        self.slots: dict[str, Slot] = {}
        self._index(definition.get("tasks") or [], "root", None)

    def _index(self, tasks: list[dict], container: str, owner: str | None) -> None:
        for i, task in enumerate(tasks):
            ref = task.get("taskReferenceName")
            if ref and ref not in self.slots:
                self.slots[ref] = Slot(task, tasks, i, container, owner)
            for branch in task.get("forkTasks") or []:
                self._index(branch, "branch", ref)
            for case in (task.get("decisionCases") or {}).values():
                self._index(case or [], "case", ref)
            self._index(task.get("defaultCase") or [], "case", ref)

    def first(self) -> dict | None:
        tasks = self.definition.get("tasks") or []
        return tasks[0] if tasks else None

    def task(self, ref: str) -> dict[str, Any]:
        return self.slots[ref].task

    def after(self, ref: str) -> dict | None:
        """The task that follows ``ref`` once it is done, or None (WorkflowDef.getNextTask).

        The end of a switch case continues after the switch; the end of a fork branch
        continues nowhere (the JOIN after the fork waits for it); the end of the workflow
        is the end.
        """
        slot = self.slots.get(ref)
        if slot is None:  # a task a dynamic fork created: like the end of a branch
            return None
        if slot.index + 1 < len(slot.siblings):
            return slot.siblings[slot.index + 1]
        if slot.container == "case" and slot.owner is not None:
            return self.after(slot.owner)
        return None

    def __iter__(self) -> Iterator[str]:
        return iter(self.slots)


def task_type(task: dict[str, Any]) -> str:
    return task.get("type") or "SIMPLE"


def all_tasks(tasks: list[dict]) -> Iterator[tuple[str, dict]]:
    """Every task of a definition with its validation path, nested ones included
    (WorkflowDef.collectTasks)."""
    for i, task in enumerate(tasks or []):
        if not isinstance(task, dict):
            continue
        yield f"tasks[{i}]", task
        for b, branch in enumerate(task.get("forkTasks") or []):
            for path, inner in all_tasks(branch):
                yield f"tasks[{i}].forkTasks[{b}]{path[5:]}", inner
        for key, case in (task.get("decisionCases") or {}).items():
            for path, inner in all_tasks(case or []):
                yield f"tasks[{i}].decisionCases[{key}]{path[5:]}", inner
        for path, inner in all_tasks(task.get("defaultCase") or []):
            yield f"tasks[{i}].defaultCase{path[5:]}", inner


# --- workflow definitions --------------------------------------------------------------


def check_workflow(definition: Any, path: str = "registerWorkflowDef.arg0") -> dict[str, Any]:
    """``definition`` (with Conductor's defaults filled in) if Conductor would accept it and
    the local engine can run it; else a DefinitionError."""
    if not isinstance(definition, dict):
        raise DefinitionError("a workflow definition must be a JSON object")
    errors: list[dict] = []

    def error(where: str, message: str, value: Any = None) -> None:
        errors.append({"path": f"{path}{where}", "message": message, "invalidValue": _invalid(value)})

    name = definition.get("name")
    if not name:
        error(".name", "WorkflowDef name cannot be null or empty", name)
    tasks = definition.get("tasks")
    if not tasks:
        error(".tasks", "WorkflowTask list cannot be empty")
    schema = definition.get("schemaVersion", 2)
    if schema != 2:
        error(".schemaVersion", "workflowDef schemaVersion: 2 is only supported", schema)
    policy = definition.get("timeoutPolicy")
    if policy is not None and policy not in WORKFLOW_TIMEOUT_POLICIES:
        raise _enum_error(
            policy,
            "com.netflix.conductor.common.metadata.workflow.WorkflowDef$TimeoutPolicy",
            WORKFLOW_TIMEOUT_POLICIES,
        )
    refs: dict[str, int] = {}
    for where, task in all_tasks(tasks or []):
        _check_task(task, f".{where}", error)
        ref = task.get("taskReferenceName")
        if ref:
            if ref in refs:
                error(
                    "", f"taskReferenceName: {ref} should be unique across tasks for a given workflowDefinition: {name}"
                )
            refs[ref] = 1
    for task in tasks or []:  # Conductor checks the top-level tasks' expressions only
        if isinstance(task, dict):
            for message in _unknown_references(task.get("inputParameters") or {}, task.get("name"), refs):
                error("", message)
    if errors:
        raise DefinitionError(VALIDATION_FAILED, errors)
    _check_runnable(definition)
    checked = {"version": 1, "schemaVersion": 2, **definition}
    checked.setdefault("inputParameters", [])
    checked.setdefault("outputParameters", {})
    checked.setdefault("restartable", True)
    checked.setdefault("timeoutPolicy", "ALERT_ONLY")
    checked.setdefault("timeoutSeconds", 0)
    checked.setdefault("variables", {})
    checked.setdefault("inputTemplate", {})
    checked.setdefault("workflowStatusListenerEnabled", False)
    checked["tasks"] = copy.deepcopy(checked["tasks"])
    for _, task in all_tasks(checked["tasks"]):  # WorkflowTask.java's defaults, as Conductor stores them
        task.setdefault("inputParameters", {})
        task.setdefault("optional", False)
    return checked


def _check_task(task: dict, where: str, error) -> None:
    name, kind = task.get("name"), task_type(task)
    if not name:
        error(f"{where}.name", "WorkflowTask name cannot be empty or null", name)
    if not task.get("taskReferenceName"):
        error(
            f"{where}.taskReferenceName",
            "WorkflowTask taskReferenceName name cannot be empty or null",
            task.get("taskReferenceName"),
        )
    if kind == "SWITCH":
        if task.get("evaluatorType") is None:
            error(where, _REQUIRED.format("evaluatorType", "SWITCH", name))
        elif task.get("expression") is None:
            error(where, _REQUIRED.format("expression", "SWITCH", name))
        _check_cases(task, where, "SWITCH", error)
    elif kind == "DECISION":
        if task.get("caseValueParam") is None and task.get("caseExpression") is None:
            error(where, _REQUIRED.format("caseValueParam or caseExpression", "DECISION", name))
        _check_cases(task, where, "DECISION", error)
    elif kind == "FORK_JOIN":
        if task.get("forkTasks") is not None and len(task["forkTasks"]) == 0:
            error(where, f"forkTasks should have atleast one task for taskType: FORK_JOIN taskName: {name}")
    elif kind == "FORK_JOIN_DYNAMIC":
        if "forkTaskInputs" not in (task.get("inputParameters") or {}) and not task.get("dynamicForkJoinTasksParam"):
            for param in ("dynamicForkTasksParam", "dynamicForkTasksInputParamName"):
                if task.get(param) is None:
                    error(where, _REQUIRED.format(param, "FORK_JOIN_DYNAMIC", name))
    elif kind == "TERMINATE":
        if task.get("optional"):
            error(where, f"terminate task cannot be optional, taskName: {name}")
        status = (task.get("inputParameters") or {}).get("terminationStatus")
        if status is None or (status if isinstance(status, str) else str(status)) not in TERMINATION_STATUSES:
            error(
                where,
                "terminate task must have an terminationStatus parameter and must be set to "
                f"COMPLETED or FAILED, taskName: {name}",
            )
    start_delay = task.get("startDelay")
    if isinstance(start_delay, int) and start_delay < 0:
        error(f"{where}.startDelay", "must be greater than or equal to 0", start_delay)


def _check_cases(task: dict, where: str, kind: str, error) -> None:
    cases = task.get("decisionCases", {})  # WorkflowTask's default: an empty map
    if cases is None:
        error(where, _REQUIRED.format("decisionCases", kind, task.get("name")))
    elif len(cases) == 0:
        error(where, f"decisionCases should have atleast one task for taskType: {kind} taskName: {task.get('name')}")


_SPLIT = re.compile(r"(?=(?<!\$)\$\{)|(?<=\})")


def _unknown_references(params: Any, task_name: str | None, refs: dict[str, int]) -> Iterator[str]:
    """ConstraintParamUtil.validateInputParam: ``${x.…}`` must name the workflow or a task."""
    from .expressions import SYSTEM_PARAMETERS

    items = params.items() if isinstance(params, dict) else ((None, v) for v in params)
    for key, value in items:
        if isinstance(value, (dict, list)):
            yield from _unknown_references(value, task_name, refs)
            continue
        if not isinstance(value, str):
            continue
        for part in _SPLIT.split(value):
            if part.startswith("${") and part.endswith("}"):
                path = part[2:-1]
                if not path.strip():
                    yield f"key: {key} input parameter value: {path} is not valid"
                    continue
                first = path.split(".")[0]
                if path in SYSTEM_PARAMETERS or first == "workflow" or first in refs:
                    continue
                yield (
                    f"taskReferenceName: {first} for given task: {task_name} input value: {key} "
                    f"of input parameter: {value} is not defined in workflow definition."
                )


def _check_runnable(definition: dict) -> None:
    """What Conductor would accept but the local engine cannot run: refused, saying so."""
    plan = Plan(definition)
    for ref in plan:
        task = plan.task(ref)
        kind = task_type(task)
        if kind not in SUPPORTED:
            raise DefinitionError(
                f"task {ref!r} has type {kind}; the local engine runs "
                f"{', '.join(SUPPORTED)} (use the compose stack's Conductor for the others)"
            )
        if kind == "DECISION" and task.get("caseExpression"):
            raise DefinitionError(
                f"DECISION {ref!r} uses a caseExpression (JavaScript); the local engine evaluates caseValueParam only"
            )
        if kind == "SWITCH" and task.get("evaluatorType") != "value-param":
            raise DefinitionError(
                f"SWITCH {ref!r} uses evaluatorType {task.get('evaluatorType')!r}; "
                "the local engine evaluates 'value-param' only"
            )
        if kind == "JOIN":
            unknown = [r for r in task.get("joinOn") or [] if r not in plan.slots]
            if unknown:  # Conductor accepts it, and the JOIN then waits forever
                raise DefinitionError(
                    f"JOIN {ref!r} waits on unknown task(s) {', '.join(unknown)}; it would never complete"
                )


# --- task definitions -------------------------------------------------------------------


def check_task_def(task_def: Any, path: str = "registerTaskDef.arg0[0]") -> dict[str, Any]:
    """``task_def`` with Conductor's defaults filled in, or a DefinitionError."""
    if not isinstance(task_def, dict):
        raise DefinitionError("a task definition must be a JSON object")
    for key, allowed, java in (
        ("retryLogic", RETRY_LOGIC, "TaskDef$RetryLogic"),
        ("timeoutPolicy", TIMEOUT_POLICIES, "TaskDef$TimeoutPolicy"),
    ):
        value = task_def.get(key)
        if value is not None and value not in allowed:
            raise _enum_error(value, f"com.netflix.conductor.common.metadata.tasks.{java}", allowed)
    merged = {**TASK_DEF_DEFAULTS, **{k: v for k, v in task_def.items() if v is not None}}
    errors: list[dict] = []

    def error(where: str, message: str, value: Any = None) -> None:
        errors.append({"path": f"{path}{where}", "message": message, "invalidValue": _invalid(value)})

    name = merged.get("name")
    if not name:
        error(".name", "TaskDef name cannot be null or empty", name)
    for key, minimum, message in (
        ("retryCount", 0, "TaskDef retryCount: 0 must be >= 0"),  # Conductor writes the bound, not the value
        ("responseTimeoutSeconds", 1, "TaskDef responseTimeoutSeconds: {v} should be minimum 1 second"),
        ("pollTimeoutSeconds", 0, "TaskDef pollTimeoutSeconds: {v} must be >= 0"),
        ("backoffScaleFactor", 1, "Backoff scale factor. Applicable for LINEAR_BACKOFF"),
        ("totalTimeoutSeconds", 0, "TaskDef totalTimeoutSeconds: {v} must be >= 0"),
        ("maxRetryDelaySeconds", 0, "TaskDef maxRetryDelaySeconds: {v} must be >= 0"),
    ):
        value = merged.get(key)
        if value is not None and value < minimum:
            error(f".{key}", message.format(v=value), value)
    timeout, response = merged["timeoutSeconds"], merged["responseTimeoutSeconds"]
    if timeout > 0 and response > timeout:
        error("", f"TaskDef: {name} responseTimeoutSeconds: {response} must be less than timeoutSeconds: {timeout}")
    total = merged.get("totalTimeoutSeconds") or 0
    if timeout > 0 and total > 0 and timeout > total:
        error(
            "", f"TaskDef: {name} timeoutSeconds: {timeout} must be less than or equal to totalTimeoutSeconds: {total}"
        )
    if errors:
        raise DefinitionError(VALIDATION_FAILED, errors)
    for key in ("totalTimeoutSeconds", "backoffJitterMs", "concurrentExecLimit", "rateLimitPerFrequency"):
        if merged.get(key):
            raise DefinitionError(
                f"task {name!r}: the local engine does not implement {key}; use the compose stack's Conductor for it"
            )
    return merged


#: TaskDef.java's field defaults
TASK_DEF_DEFAULTS: dict[str, Any] = {
    "retryCount": 3,
    "timeoutSeconds": 0,
    "inputKeys": [],
    "outputKeys": [],
    "timeoutPolicy": "TIME_OUT_WF",
    "retryLogic": "FIXED",
    "retryDelaySeconds": 60,
    "responseTimeoutSeconds": 3600,
    "inputTemplate": {},
    "backoffScaleFactor": 1,
    "maxRetryDelaySeconds": 0,
    "backoffJitterMs": 0,
    "totalTimeoutSeconds": 0,
    "rateLimitPerFrequency": 0,
}


def ad_hoc_task_def(name: str, kind: str) -> dict[str, Any]:
    """MetadataMapperService.populateWorkflowTaskWithDefinition: the definition a task without a
    registered one gets (system tasks: no retries, no response timeout)."""
    task_def = {**TASK_DEF_DEFAULTS, "name": name}
    if kind != "SIMPLE":
        task_def.update(retryCount=0, responseTimeoutSeconds=0)
    return task_def


def _invalid(value: Any) -> str | None:
    """ValidationExceptionMapper.getViolationInvalidValue: primitives as text, else null."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class EnumError(DefinitionError):
    """Jackson could not read an enum value: Conductor answers 500 (ApplicationExceptionMapper
    maps HttpMessageNotReadableException to nothing, so INTERNAL_SERVER_ERROR)."""

    status = 500


def _enum_error(value: Any, java_type: str, allowed: tuple[str, ...]) -> EnumError:
    return EnumError(
        f"JSON parse error: Cannot deserialize value of type `{java_type}` from String "
        f'"{value}": not one of the values accepted for Enum class: [{", ".join(allowed)}]'
    )
