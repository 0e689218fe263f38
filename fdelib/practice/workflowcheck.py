"""Workflow exercises: the learner's definition, run on the engine with known inputs.

The answer is a variable holding a ``ConductorWorkflow`` (conductor-python), a
``WorkflowDef`` or the definition's JSON as a dict. The check registers it under its own
name (``practice_<exercise>_<hash of the definition>``, so it never replaces a lesson's
workflow), starts one run per :class:`WorkflowRun` and compares each run's status and the
output keys the exercise names. Workers the workflow needs must be polling (the
notebook's own cells start them); a run that does not end in time is terminated and
reported as such.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

import requests

from .base import MISSING, Exercise, ExerciseError, answer_of, run_cell

TERMINAL = ("COMPLETED", "FAILED", "TIMED_OUT", "TERMINATED")


@dataclasses.dataclass(frozen=True)
class WorkflowRun:
    """One run of a workflow exercise: its input, and the status and output it must end with."""

    input: Mapping[str, Any]
    status: str = "COMPLETED"
    output: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # keys that must match
    label: str = ""
    # what tasks must receive (task reference -> input -> value; None: that task must not run),
    # and pairs (earlier, later) of task references: later is scheduled after earlier ended
    receives: Mapping[str, Mapping[str, Any] | None] = dataclasses.field(default_factory=dict)
    after: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        return self.label or f"input {json.dumps(dict(self.input), sort_keys=True)}"

    def facts(self, tasks: list[dict] | None = None) -> tuple[str, ...]:
        """What the run's tasks show, in sentences (from the spec itself when ``tasks`` is None)."""
        said: list[str] = []
        by_ref = {t.get("referenceTaskName"): t for t in tasks or []}
        for ref, inputs in sorted(self.receives.items()):
            task = by_ref.get(ref)
            if inputs is None:
                said.append(f"{ref} did not run" if tasks is None or task is None else f"{ref} ran")
                continue
            for key, value in sorted(inputs.items()):
                if tasks is None:
                    said.append(f"{ref} received {key} = {value!r}")
                elif task is None:
                    said.append(f"{ref} did not run")
                else:
                    said.append(f"{ref} received {key} = {(task.get('inputData') or {}).get(key)!r}")
        for earlier, later in self.after:
            first, then = by_ref.get(earlier), by_ref.get(later)
            if tasks is None or (first and then and then.get("scheduledTime", 0) >= first.get("endTime", 0) > 0):
                said.append(f"{later} started after {earlier} had ended")
            elif not first or not then:
                said.append(f"{earlier if not first else later} did not run")
            else:
                said.append(f"{later} started before {earlier} had ended")
        return tuple(said)


def definition_of(answer: Any) -> dict[str, Any] | None:
    """The workflow definition as JSON, from what a learner may hold; None if not one."""
    if isinstance(answer, Mapping):
        return json.loads(json.dumps(answer))
    to_def = getattr(answer, "to_workflow_def", None)
    model = to_def() if callable(to_def) else answer
    if type(model).__name__ != "WorkflowDef":
        return None
    from conductor.client.http.api_client import ApiClient

    return ApiClient().sanitize_for_serialization(model)


@dataclasses.dataclass
class WorkflowRuns(Exercise):
    """A workflow definition, checked by running it on the engine."""

    name: str = ""  # the variable the answer cell assigns
    runs: tuple[WorkflowRun, ...] = ()
    timeout: float = 30

    def __post_init__(self) -> None:
        super().__post_init__()
        self.kind = "workflow"
        if not self.name or not self.runs:
            raise ExerciseError(f"exercise {self.id}: give the answer variable and the runs")

    def read(self, namespace):
        return answer_of(namespace.get(self.name, MISSING))

    def from_text(self, text, namespace):
        # the notebook's names (an executor, imported task classes) are visible, as in a cell
        return answer_of(run_cell(text, namespace).get(self.name, MISSING))

    def behaviour(self, answer):
        definition = definition_of(answer)
        if definition is None:
            return ("not a workflow", type(answer).__name__)
        from .. import conductor

        server = conductor.server_url().rstrip("/")
        body = json.dumps(definition, sort_keys=True)
        definition["name"] = f"practice_{self.id}_{hashlib.sha256(body.encode()).hexdigest()[:8]}"
        definition["version"] = 1
        definition.setdefault("ownerEmail", "learner@fde.example.com")
        definition.setdefault("schemaVersion", 2)
        response = requests.put(f"{server}/metadata/workflow", json=[definition], timeout=10)
        if response.status_code >= 400:
            return ("refused", engine_message(response))
        return tuple(self._run(server, definition["name"], run) for run in self.runs)

    def _run(self, server: str, name: str, run: WorkflowRun) -> tuple:
        response = requests.post(
            f"{server}/workflow", timeout=10, json={"name": name, "version": 1, "input": dict(run.input)}
        )
        if response.status_code >= 400:
            return ("refused", engine_message(response))
        workflow_id = response.text.strip().strip('"')
        deadline = time.monotonic() + self.timeout
        inspect = bool(run.receives or run.after)
        while True:
            found = requests.get(
                f"{server}/workflow/{workflow_id}", params={"includeTasks": str(inspect).lower()}, timeout=10
            ).json()
            if found.get("status") in TERMINAL:
                break
            if time.monotonic() > deadline:
                requests.delete(f"{server}/workflow/{workflow_id}", params={"reason": "check timed out"}, timeout=10)
                return ("timeout", found.get("status"))
            time.sleep(0.05)
        output = found.get("output") or {}
        facts = run.facts(found.get("tasks") or []) if inspect else ()
        return (found["status"], {key: output.get(key) for key in sorted(run.output)}, facts)

    def expected(self):
        return tuple((run.status, {k: run.output[k] for k in sorted(run.output)}, run.facts()) for run in self.runs)

    def difference(self, got, expected):
        if got and got[0] == "not a workflow":
            return f"{self.name} holds a {got[1]}, not a workflow (a ConductorWorkflow or its JSON)."
        if got and got[0] == "refused":
            return f"The engine refused the definition: {got[1]}"
        for run, mine, theirs in zip(self.runs, got, expected, strict=False):
            if mine[0] == "timeout":
                return (
                    f"{run.describe()}: the run had not ended after {self.timeout:.0f} s "
                    f"(still {mine[1]}): is a task waiting for a worker that is not running?"
                )
            if mine[0] == "refused":
                return f"{run.describe()}: the engine refused to start it: {mine[1]}"
            if mine[0] != theirs[0]:
                return f"{run.describe()}: the run ended {mine[0]}; it should end {theirs[0]}."
            if mine[1] != theirs[1]:
                return f"{run.describe()}: the output is {mine[1]}; expected {theirs[1]}."
            for said, wanted in zip(mine[2], theirs[2], strict=False):
                if said != wanted:
                    return f"{run.describe()}: {said}; it should be: {wanted}."
        return None


def engine_message(response: requests.Response) -> str:
    """The engine's reason for refusing a request, short enough to show a learner."""
    try:
        payload = response.json()
        return str(payload.get("message") or payload)[:300]
    except ValueError:
        return response.text[:300]
