"""Workflow definitions: check them on registration, and find one's way around them.

A definition is the JSON Conductor stores (what conductor-python's ``to_workflow_def``
sends): ``tasks`` is a list; FORK_JOIN holds ``forkTasks`` (lists of lists), SWITCH holds
``decisionCases`` (lists by value) and ``defaultCase``. :class:`Plan` indexes every task
by its ``taskReferenceName`` so the engine can ask "what comes after this one?".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from ..errors import FdeError

#: task types the engine runs; anything else is refused at registration
SUPPORTED = ("SIMPLE", "FORK_JOIN", "FORK_JOIN_DYNAMIC", "JOIN", "SWITCH", "DECISION", "TERMINATE",
             "SET_VARIABLE")


class DefinitionError(FdeError):
    """A workflow or task definition the engine cannot run."""


@dataclasses.dataclass(frozen=True)
class Slot:
    task: dict[str, Any]          # the WorkflowTask JSON
    siblings: list[dict]          # the list it sits in
    index: int                    # its position in that list
    container: str                # "root", "branch" (of a fork) or "case" (of a switch)
    owner: str | None             # the fork's or switch's reference name


class Plan:
    """Navigation over one workflow definition."""

    def __init__(self, definition: dict[str, Any]):
        self.definition = definition
        self.slots: dict[str, Slot] = {}
        self._index(definition.get("tasks") or [], "root", None)

    def _index(self, tasks: list[dict], container: str, owner: str | None) -> None:
        for i, task in enumerate(tasks):
            ref = task.get("taskReferenceName")
            kind = task_type(task)
            if not ref:
                raise DefinitionError(f"task {task.get('name')!r} has no taskReferenceName")
            if ref in self.slots:
                raise DefinitionError(f"taskReferenceName {ref!r} is used twice; each must be unique")
            if kind not in SUPPORTED:
                raise DefinitionError(f"task {ref!r} has type {kind}; the local engine runs "
                                      f"{', '.join(SUPPORTED)} (use the compose stack's Conductor "
                                      "for the others)")
            self.slots[ref] = Slot(task, tasks, i, container, owner)
            for branch in task.get("forkTasks") or []:
                self._index(branch, "branch", ref)
            for case in (task.get("decisionCases") or {}).values():
                self._index(case, "case", ref)
            self._index(task.get("defaultCase") or [], "case", ref)

    def first(self) -> dict | None:
        tasks = self.definition.get("tasks") or []
        return tasks[0] if tasks else None

    def task(self, ref: str) -> dict[str, Any]:
        return self.slots[ref].task

    def after(self, ref: str) -> dict | None:
        """The task that follows ``ref`` once it is done, or None.

        The end of a switch case continues after the switch; the end of a fork branch
        continues nowhere (the JOIN after the fork waits for it); the end of the workflow
        is the end.
        """
        slot = self.slots.get(ref)
        if slot is None:           # a task a dynamic fork created: like the end of a branch
            return None
        if slot.index + 1 < len(slot.siblings):
            return slot.siblings[slot.index + 1]
        if slot.container == "case":
            return self.after(slot.owner)
        return None

    def __iter__(self) -> Iterator[str]:
        return iter(self.slots)


def task_type(task: dict[str, Any]) -> str:
    return (task.get("type") or "SIMPLE").upper()


def check_workflow(definition: Any) -> dict[str, Any]:
    """``definition`` if the engine can run it, else a DefinitionError saying why."""
    if not isinstance(definition, dict):
        raise DefinitionError("a workflow definition must be a JSON object")
    name = definition.get("name")
    if not name or not isinstance(name, str):
        raise DefinitionError("a workflow definition needs a name")
    if not definition.get("tasks"):
        raise DefinitionError(f"workflow {name!r} has no tasks")
    plan = Plan(definition)
    for ref in plan:
        task = plan.task(ref)
        kind = task_type(task)
        if kind == "FORK_JOIN" and not task.get("forkTasks"):
            raise DefinitionError(f"FORK_JOIN {ref!r} has no forkTasks")
        if kind in ("FORK_JOIN", "FORK_JOIN_DYNAMIC"):
            following = plan.after(ref)
            if following is None or task_type(following) != "JOIN":
                raise DefinitionError(f"{kind} {ref!r} must be followed by a JOIN")
        if kind == "JOIN":
            unknown = [r for r in task.get("joinOn") or [] if r not in plan.slots]
            if unknown:
                raise DefinitionError(f"JOIN {ref!r} waits on unknown task(s) {', '.join(unknown)}")
        if kind == "DECISION" and task.get("caseExpression"):
            raise DefinitionError(f"DECISION {ref!r} uses a caseExpression (JavaScript); the local "
                                  "engine evaluates caseValueParam only")
        if kind in ("SWITCH", "DECISION"):
            evaluator = task.get("evaluatorType") or "value-param"
            if evaluator != "value-param":
                raise DefinitionError(f"SWITCH {ref!r} uses evaluatorType {evaluator!r}; the local "
                                      "engine evaluates 'value-param' only")
    definition.setdefault("version", 1)
    return definition


def check_task_def(task_def: Any) -> dict[str, Any]:
    if not isinstance(task_def, dict) or not task_def.get("name"):
        raise DefinitionError("a task definition must be a JSON object with a name")
    logic = task_def.get("retryLogic") or "FIXED"
    if logic not in ("FIXED", "EXPONENTIAL_BACKOFF", "LINEAR_BACKOFF"):
        raise DefinitionError(f"task {task_def['name']!r}: unknown retryLogic {logic!r}")
    policy = task_def.get("timeoutPolicy") or "TIME_OUT_WF"
    if policy not in ("TIME_OUT_WF", "RETRY", "ALERT_ONLY"):
        raise DefinitionError(f"task {task_def['name']!r}: unknown timeoutPolicy {policy!r}")
    for key in ("retryCount", "retryDelaySeconds", "responseTimeoutSeconds", "timeoutSeconds"):
        value = task_def.get(key)
        if value is not None and (not isinstance(value, int) or value < 0):
            raise DefinitionError(f"task {task_def['name']!r}: {key} must be a whole number >= 0")
    return task_def
