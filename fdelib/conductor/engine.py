"""The local engine: a thin facade over the decider, the store and the wire format.

Each call is one transaction: load the run (holding its row lock), let the pure
:mod:`.decider` apply the event, save, commit, then wake the workers whose queues got work
(only those re-query). The decider knows Conductor's semantics; :mod:`.store` knows SQL;
:mod:`.wire` knows the JSON; this module knows the order of things and the clock.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from .. import db
from . import decider, definitions, search, wire
from .decider import Conflict, Context, EngineError, NotFound, Run
from .definitions import DefinitionError
from .store import Store

MAX_POLL_TIMEOUT_MS = 5000
BULK_MAX = 1000  # WorkflowBulkService's MAX_REQUEST_ITEMS


def _java(value) -> str:
    """A value in a message as Java's string concatenation writes it (None as null)."""
    return "null" if value is None else str(value)


class ServerError(EngineError):
    """What Conductor answers 500 for (a RuntimeException its mapper does not know, e.g.
    deleting a definition that does not exist)."""

    status = 500


class ConversionError(EngineError):
    """A path variable Spring cannot convert: Conductor's mapper answers 500 for it."""

    status = 500


RESULT_STATUSES = ("IN_PROGRESS", "FAILED", "FAILED_WITH_TERMINAL_ERROR", "COMPLETED")  # TaskResult.Status


def now_ms() -> int:
    return int(time.time() * 1000)


def new_id() -> str:
    return str(uuid.uuid4())


# A long poll re-reads its queue this often when nothing was queued for it, for tasks whose
# delay (retry, callbackAfterSeconds) is up: nothing announces those. Queued work wakes it at
# once. (Every re-read is a transaction; idle workers long-poll ~10 times a second each.)
DELAY_CHECK_SECONDS = 0.1


class Engine:
    """Metadata, executions and queues of the local engine, all in schema ``conductor``."""

    def __init__(self, engine: sa.Engine | None = None, clock: Callable[[], int] = now_ms):
        self.sa_engine = engine or db.get_engine()
        self.store = Store(self.sa_engine)
        self.clock = clock
        self.wakeup = threading.Condition()
        self._queued: dict[str, int] = {}  # task type -> how often work was queued for it
        self._task_defs: dict[str, dict] | None = None
        self._task_defs_read = 0.0

    def setup(self) -> None:
        self.store.setup()

    def _tx(self):
        return self.store.transaction()

    def _context(
        self, cur=None, run: Run | None = None, definition: dict | None = None, task_defs: dict[str, dict] | None = None
    ) -> Context:
        """The decider's view of the world: now, ids, task definitions and the failure
        workflow the run may start. ``task_defs`` are read before the caller's transaction
        (reading them inside it would take a second pooled connection while holding a row
        lock: enough concurrent requests would wait for each other)."""
        workflow_defs = {}
        definition = definition or (run.workflow["definition"] if run else None) or {}
        failure = definition.get("failureWorkflow")
        if cur is not None and failure:
            name = failure
            if failure.startswith("$") and run is not None:
                parts = failure.split(".")
                name = run.workflow["input"].get(parts[2]) if len(parts) > 2 else None
            if name:
                found = self.store.workflow_def(cur, name, definition.get("failureWorkflowVersion"))
                if found is not None:
                    workflow_defs[name] = found
        return Context(self.clock(), new_id, self.task_defs() if task_defs is None else task_defs, workflow_defs)

    def _notify(self, kinds: set[str]) -> None:
        """After a commit: wake the pollers of the task types that got work, and anyone
        waiting for a workflow to end."""
        with self.wakeup:
            for kind in kinds:
                self._queued[kind] = self._queued.get(kind, 0) + 1
            self.wakeup.notify_all()

    def _change(self, workflow_id: str, action: Callable[[Run, Context], Any]) -> Any:
        """Load a run under its lock, apply ``action``, save, commit, notify."""
        task_defs = self.task_defs()
        with self._tx() as cur:
            run = self.store.load(cur, workflow_id)
            ctx = self._context(cur, run, task_defs=task_defs)
            result = action(run, ctx)
            kinds = self.store.save(cur, run, ctx.now)
        self._notify(kinds)
        return result

    # --- metadata -------------------------------------------------------------------
    def put_task_defs(self, task_defs: list[dict], path: str = "registerTaskDef.arg0") -> None:
        if not task_defs:
            raise DefinitionError(
                definitions.VALIDATION_FAILED, [{"path": path, "message": "TaskDefList is empty", "invalidValue": None}]
            )
        checked = [definitions.check_task_def(d, f"{path}[{i}]") for i, d in enumerate(task_defs)]
        with self._tx() as cur:
            for task_def in checked:
                self.store.put_task_def(cur, task_def, self.clock())
        self._task_defs = None

    def update_task_def(self, task_def: dict) -> None:
        checked = definitions.check_task_def(task_def, "updateTaskDef.arg0")
        with self._tx() as cur:
            if checked["name"] not in self.store.task_defs(cur):
                raise NotFound(f"No such task by name {checked['name']}")
            self.store.put_task_def(cur, checked, self.clock())
        self._task_defs = None

    def task_defs(self) -> dict[str, dict]:
        # re-read at most every second: another engine process may have registered some
        # read the attribute once: another thread may reset it to None meanwhile (a registration)
        known = self._task_defs
        if known is None or time.monotonic() - self._task_defs_read > 1.0:
            self._task_defs_read = time.monotonic()
            with self._tx() as cur:
                known = self._task_defs = self.store.task_defs(cur)
        return known

    def get_task_def(self, name: str) -> dict:
        found = self.task_defs().get(name)
        if found is None:
            with self._tx() as cur:
                found = self.store.task_defs(cur).get(name)
        if found is None:
            raise NotFound(f"No such taskType found by name: {name}")
        return found

    def delete_task_def(self, name: str) -> None:
        with self._tx() as cur:
            if not self.store.delete_task_def(cur, name):
                raise ServerError("No such task definition")
        self._task_defs = None

    def put_workflow_def(self, definition: dict, overwrite: bool = False) -> None:
        """POST /metadata/workflow (MetadataResource.create): register, replace with
        ``overwrite``, else 409."""
        with self._tx() as cur:
            name = definition.get("name") if isinstance(definition, dict) else None
            version = definition.get("version", 1) if isinstance(definition, dict) else 1
            exists = bool(name and self.store.workflow_def_exists(cur, name, version))
            if exists and not overwrite:
                raise Conflict(f"Workflow with {name}.{version} already exists!")
            method = "updateWorkflowDef" if exists else "registerWorkflowDef"
            checked = definitions.check_workflow(definition, f"{method}.arg0")
            self.store.put_workflow_def(cur, checked, self.clock())

    def update_workflow_defs(self, defs: list[dict]) -> dict:
        """PUT /metadata/workflow (MetadataServiceImpl.updateWorkflowDef(list)): create or
        replace each; the whole list is validated first."""
        if not defs:
            raise DefinitionError(
                definitions.VALIDATION_FAILED,
                [{"path": "updateWorkflowDef.arg0", "message": "WorkflowDefList is empty", "invalidValue": None}],
            )
        checked, errors = [], []
        for i, definition in enumerate(defs):
            try:
                checked.append(definitions.check_workflow(definition, f"updateWorkflowDef.arg0[{i}]"))
            except DefinitionError as exc:
                if not exc.errors:
                    raise
                errors += exc.errors
        if errors:
            raise DefinitionError(definitions.VALIDATION_FAILED, errors)
        with self._tx() as cur:
            for definition in checked:
                self.store.put_workflow_def(cur, definition, self.clock())
        return wire.bulk_response([d["name"] for d in checked], {})

    def get_workflow_def(self, name: str, version: int | None = None) -> dict:
        with self._tx() as cur:
            found = self.store.workflow_def(cur, name, version)
        if found is None:
            raise NotFound(f"No such workflow found by name: {name}, version: {_java(version)}")
        return found

    def workflow_defs(self) -> list[dict]:
        with self._tx() as cur:
            return self.store.workflow_defs(cur)

    def delete_workflow_def(self, name: str, version: int) -> None:
        with self._tx() as cur:
            if not self.store.delete_workflow_def(cur, name, version):
                raise ServerError(f"No such workflow definition: {name} version: {version}")

    # --- starting and reading workflows -----------------------------------------------
    def start(self, request: dict, path: str = "startWorkflow.arg0") -> str:
        priority = request.get("priority")
        if priority is not None and not 0 <= priority <= 99:
            bound = "maximum 99" if priority > 99 else "minimum 0"
            raise DefinitionError(
                definitions.VALIDATION_FAILED,
                [
                    {
                        "path": f"{path}.priority",
                        "message": f"priority: {priority} should be {bound}",
                        "invalidValue": str(priority),
                    }
                ],
            )
        if not request.get("name") and not request.get("workflowDef"):
            raise DefinitionError(
                definitions.VALIDATION_FAILED,
                [{"path": f"{path}.name", "message": "Workflow name cannot be null or empty"}],
            )
        task_defs = self.task_defs()
        with self._tx() as cur:
            definition = request.get("workflowDef")
            if definition:
                definition = definitions.check_workflow(definition, f"{path}.workflowDef")
            else:
                definition = self.store.workflow_def(cur, request["name"], request.get("version"))
                if definition is None:
                    raise NotFound(
                        f"No such workflow found by name: {request['name']}, version: {_java(request.get('version'))}"
                    )
            ctx = self._context(cur, definition=definition, task_defs=task_defs)
            run = decider.start(definition, request, ctx)
            self.store.insert(cur, run)
            kinds = {t["task_def_name"] for t in run.tasks if t["queued"]}
            for child in run.started:
                kinds |= {t["task_def_name"] for t in child.tasks if t["queued"]}
        self._notify(kinds)
        return run.id

    def run(self, workflow_id: str) -> Run:
        with self._tx() as cur:
            return self.store.load(cur, workflow_id, lock=False)

    def workflow(self, workflow_id: str, include_tasks: bool = True) -> dict:
        return self.run(workflow_id).render(include_tasks)

    def status(self, workflow_id: str, include_output: bool = False, include_variables: bool = False) -> dict:
        return wire.render_status(self.run(workflow_id).workflow, include_output, include_variables)

    def execute(self, request: dict, wait_until: list[str] | None = None, wait_seconds: float = 10) -> dict:
        """WorkflowResource.executeWorkflow: start, then look every 100 ms until the workflow
        ends, a ``wait_until`` task ends, or time is up (then the run as it is, signalTimeout)."""
        workflow_id = self.start(request)
        deadline = time.monotonic() + max(0.0, float(wait_seconds))
        while True:
            run = self.run(workflow_id)
            done = run.workflow["status"] in decider.TERMINAL_WORKFLOW or any(
                t["ref"] in (wait_until or []) and t["status"] in decider.TERMINAL_TASK for t in run.tasks
            )
            remaining = deadline - time.monotonic()
            if done or remaining <= 0:
                return wire.render_workflow_run(run.workflow, run.tasks, request.get("requestId"), timed_out=not done)
            with self.wakeup:
                self.wakeup.wait(min(remaining, 0.1))

    def workflow_ids(self, name: str | None = None, status: str | None = None, version: int | None = None) -> list[str]:
        with self._tx() as cur:
            return self.store.workflow_ids(cur, name, status, version)

    def search(
        self,
        query: str | None = None,
        free_text: str | None = "*",
        start: int = 0,
        size: int = 100,
        sort: str | None = None,
        classifier: str | None = None,
        top_level_only: bool = False,
    ) -> dict:
        """GET /workflow/search: one page of WorkflowSummary and the number of matches
        (Conductor's query forms, see :mod:`.search`)."""
        parsed = search.parse(query, free_text, start, size, sort, classifier, top_level_only)
        total, rows = self.store.search(parsed)
        return wire.render_search(total, rows)

    # --- operator actions -----------------------------------------------------------
    def terminate(self, workflow_id: str, reason: str | None = None) -> None:
        self._change(workflow_id, lambda run, ctx: decider.terminate(run, reason, ctx))

    def retry(self, workflow_id: str) -> None:
        self._change(workflow_id, decider.retry)

    def restart(self, workflow_id: str, use_latest_definitions: bool = False) -> None:
        latest = None
        if use_latest_definitions:
            with self._tx() as cur:
                name = self.store.load(cur, workflow_id, lock=False).workflow["name"]
                latest = self.store.workflow_def(cur, name)
            if latest is None:
                raise NotFound(f"Unable to find latest definition for {workflow_id}")
        self._change(workflow_id, lambda run, ctx: decider.restart(run, ctx, latest))

    def remove(self, workflow_id: str) -> None:
        """ExecutionDAOFacade.removeWorkflow: only a workflow that has ended (Conductor
        archives it first)."""
        status = self.status(workflow_id, False, False)["status"]
        if status not in ("COMPLETED", "FAILED", "TIMED_OUT", "TERMINATED"):
            raise EngineError(f"Cannot archive workflow: {workflow_id} with status: {status}")
        with self._tx() as cur:
            if not self.store.remove(cur, workflow_id):
                raise NotFound(f"No such workflow found by id: {workflow_id}")

    def bulk(self, actions: list[Callable[[str], None]], workflow_ids: list[str]) -> dict:
        """WorkflowBulkServiceImpl: each action on each id in turn; an id whose action raises
        goes to ``bulkErrorResults`` with the error's message, one that succeeds to
        ``bulkSuccessfulResults`` (once per action, as terminate-remove does). At most 1000."""
        if len(workflow_ids) > BULK_MAX:
            raise DefinitionError(
                definitions.VALIDATION_FAILED,
                [
                    {
                        "path": "arg0",
                        "message": f"Cannot process more than {BULK_MAX} workflows. Please use multiple requests.",
                    }
                ],
            )
        succeeded, failed = [], {}
        for workflow_id in workflow_ids:
            for action in actions:
                try:
                    action(workflow_id)
                    succeeded.append(workflow_id)
                except (EngineError, DefinitionError) as exc:
                    failed[workflow_id] = str(exc)
        return wire.bulk_response(succeeded, failed)

    # --- workers: poll and update -----------------------------------------------------
    def poll(self, task_type: str, worker_id: str | None, count: int = 1, timeout_ms: int = 0) -> list[dict]:
        """Up to ``count`` tasks of this type, now IN_PROGRESS for ``worker_id``; waits up to
        ``timeout_ms`` for work to arrive (a long poll, at most 5 s as in Conductor)."""
        if timeout_ms > MAX_POLL_TIMEOUT_MS:
            raise EngineError("Long Poll Timeout value cannot be more than 5 seconds")
        deadline = time.monotonic() + max(0, timeout_ms) / 1000
        while True:
            seen = self._queued.get(task_type, 0)
            with self._tx() as cur:
                claimed = self.store.claim(cur, task_type, worker_id, max(1, min(int(count), 1000)), self.clock())
            remaining = deadline - time.monotonic()
            if claimed or remaining <= 0:
                return [wire.render_task(row) for row in claimed]

            def queued(seen: int = seen) -> bool:  # work of this type was queued after `seen` was read
                return self._queued.get(task_type, 0) != seen

            with self.wakeup:  # sleep until work of this type is queued (or a delay is up)
                woken = self.wakeup.wait_for(queued, timeout=min(remaining, DELAY_CHECK_SECONDS))
            if not woken and time.monotonic() >= deadline:
                return []  # nothing queued meanwhile: the worker polls again at once anyway

    def update(self, result: dict) -> dict | None:
        """Apply a worker's TaskResult; returns the task as it is now (None for extendLease)."""
        errors = [
            {"path": f"updateTask.arg0.{key}", "message": message}
            for key, message in (
                ("workflowInstanceId", "Workflow Id cannot be null or empty"),
                ("taskId", "Task ID cannot be null or empty"),
            )
            if not result.get(key)
        ]
        if errors:
            raise DefinitionError(definitions.VALIDATION_FAILED, errors)
        status = result.get("status")
        if status not in ("IN_PROGRESS", "FAILED", "FAILED_WITH_TERMINAL_ERROR", "COMPLETED"):
            raise definitions.EnumError(
                "JSON parse error: Cannot deserialize value of type "
                "`com.netflix.conductor.common.metadata.tasks.TaskResult$Status` from String "
                f'"{status}": not one of the values accepted for Enum class: '
                "[IN_PROGRESS, FAILED, FAILED_WITH_TERMINAL_ERROR, COMPLETED]"
            )
        task_id = result["taskId"]
        if result.get("extendLease"):
            with self._tx() as cur:
                self.store.extend_lease(cur, task_id, self.clock())
            return None
        task_defs = self.task_defs()
        with self._tx() as cur:
            workflow_id = self.store.workflow_of(cur, task_id)
            run = self.store.load(cur, workflow_id)
            ctx = self._context(cur, run, task_defs=task_defs)
            self.store.add_logs(cur, task_id, result.get("logs"), ctx.now)
            task = decider.apply_result(run, task_id, result, ctx)
            kinds = self.store.save(cur, run, ctx.now)
        self._notify(kinds)
        return wire.render_task(task, run.workflow)

    def update_by_ref(
        self, workflow_id: str, ref: str, status: str, output: dict, worker_id: str | None = None
    ) -> str | None:
        """TaskServiceImpl.updateTask(workflowId, taskRefName, status, workerId, output): the
        workflow's first non-terminal task named ``ref`` gets ``status``, with ``output`` added
        to its output; its id, or None when the workflow has no such task (or does not exist)."""
        if status not in RESULT_STATUSES:
            raise ConversionError(
                "Method parameter 'status': Failed to convert value of type 'java.lang.String' to required type "
                "'com.netflix.conductor.common.metadata.tasks.TaskResult$Status'; Failed to convert from type "
                "[java.lang.String] to type [@org.springframework.web.bind.annotation.PathVariable "
                f"com.netflix.conductor.common.metadata.tasks.TaskResult$Status] for value [{status}]"
            )
        try:
            run = self.run(workflow_id)
        except NotFound:
            return None
        pending = next(
            (t for t in run.tasks if t["ref"] == ref and t["status"] not in decider.TERMINAL_TASK),
            None,
        )
        if pending is None:
            return None
        task = wire.render_task(pending, run.workflow)
        result = {  # new TaskResult(pending), then the new status, output and worker
            "workflowInstanceId": workflow_id,
            "taskId": task["taskId"],
            "reasonForIncompletion": task.get("reasonForIncompletion"),
            "callbackAfterSeconds": task.get("callbackAfterSeconds") or 0,
            "workerId": worker_id or task.get("workerId"),
            "outputData": {**(task.get("outputData") or {}), **output},
            "status": status,
        }
        self.update(result)
        return task["taskId"]

    def task(self, task_id: str) -> dict:
        with self._tx() as cur:
            row = self.store.task_row(cur, task_id)
        if row is None:
            raise NotFound(f"Task not found for taskId: {task_id}")
        return wire.render_task(row)

    def add_log(self, task_id: str, text: str) -> None:
        with self._tx() as cur:
            self.store.add_logs(cur, task_id, [{"log": text}], self.clock())

    def logs(self, task_id: str) -> list[dict]:
        with self._tx() as cur:
            return self.store.logs(cur, task_id)

    def queue_sizes(self, types: list[str] | None = None) -> dict[str, int]:
        with self._tx() as cur:
            sizes = self.store.queue_sizes(cur)
        return {t: sizes.get(t, 0) for t in types} if types else sizes

    # --- time: the sweeper ------------------------------------------------------------
    def sweep(self) -> int:
        """Decide every workflow a timeout may have fired in; returns how many changed."""
        with self._tx() as cur:
            overdue = self.store.overdue(cur, self.clock())
        changed = 0
        for workflow_id in overdue:
            kinds: set[str] = set()
            task_defs = self.task_defs()
            with self._tx() as cur:
                try:
                    run = self.store.load(cur, workflow_id)
                except NotFound:  # removed meanwhile
                    continue
                ctx = self._context(cur, run, task_defs=task_defs)
                if run.running and decider.time_out(run, ctx):
                    kinds = self.store.save(cur, run, ctx.now)
                    changed += 1
            self._notify(kinds)
        return changed


__all__ = ["Conflict", "DefinitionError", "Engine", "EngineError", "NotFound"]
