"""The local engine's decisions: Conductor's execution semantics on PostgreSQL.

Every change to a workflow happens in one database transaction that holds the workflow's
row lock (and its tasks'): load the run, apply the event (start, a worker's result, a
timeout, terminate, retry), let :func:`decide` schedule whatever follows, save. Workers
poll with ``FOR UPDATE SKIP LOCKED``, so any number of them — and of engine threads — can
share the queues safely.

Semantics follow Conductor's documentation for what the course uses:

* SIMPLE tasks go through SCHEDULED → IN_PROGRESS (polled) → COMPLETED / FAILED /
  FAILED_WITH_TERMINAL_ERROR. A FAILED or TIMED_OUT task is retried as a new attempt
  (``retryCount`` from the task definition or the workflow task, ``retryLogic`` FIXED,
  EXPONENTIAL_BACKOFF or LINEAR_BACKOFF, ``retryDelaySeconds``); FAILED_WITH_TERMINAL_ERROR
  is never retried. An ``optional`` task that runs out of retries is COMPLETED_WITH_ERRORS.
* A task IN_PROGRESS that is not updated within ``responseTimeoutSeconds`` (its worker died)
  is TIMED_OUT and retried; a late result from the dead worker is ignored.
* A task still IN_PROGRESS (even waiting for its callback) ``timeoutSeconds`` after it was first
  polled is TIMED_OUT: ``timeoutPolicy`` TIME_OUT_WF times the workflow out (optional or not),
  RETRY retries it, ALERT_ONLY lets it run on. A retry waits ``retryDelaySeconds`` (FIXED),
  times ``2^retryCount`` (EXPONENTIAL_BACKOFF) or ``backoffScaleFactor * (retryCount + 1)``
  (LINEAR_BACKOFF), shown as its ``callbackAfterSeconds``.
* A worker answering IN_PROGRESS puts the task back in the queue after
  ``callbackAfterSeconds``; ``extendLease`` only resets the response timeout.
* FORK_JOIN starts the first task of every branch; the JOIN that follows waits for its
  ``joinOn`` tasks and outputs theirs by reference name. FORK_JOIN_DYNAMIC forks the tasks
  listed at run time in its ``dynamicForkTasksParam`` input (with inputs from
  ``dynamicForkTasksInputParamName``); its JOIN waits for all of them. SWITCH (``value-param``) and its
  legacy form DECISION (``caseValueParam``) pick a case by value, else ``defaultCase``; their
  outputs are ``evaluationResult`` and ``caseOutput``. TERMINATE ends the
  workflow with its ``terminationStatus``. SET_VARIABLE writes ``workflow.variables``.
* A workflow's ``timeoutSeconds`` count from its start, or from its last retry
  (``lastRetriedTime``); a restart starts the count afresh.
* A workflow that FAILS or TIMES OUT starts its ``failureWorkflow``; its input is the failed
  workflow's input plus ``workflowId``, ``reason``, ``failureStatus``, ``failureTaskId`` (when a
  task failed) and ``failedWorkflow`` — these win over input keys of the same name.
  Terminating a workflow through the API cancels its tasks and starts the failure workflow
  only when asked (``triggerFailureWorkflow=true``).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extras
import sqlalchemy as sa

from .. import db
from ..errors import FdeError
from . import definitions, expressions
from .definitions import DefinitionError, Plan, task_type

SCHEMA_SQL = Path(__file__).with_name("schema.sql")

TERMINAL_TASK = frozenset({"COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED",
                           "FAILED_WITH_TERMINAL_ERROR", "TIMED_OUT", "CANCELED", "SKIPPED"})
SUCCESSFUL = frozenset({"COMPLETED", "COMPLETED_WITH_ERRORS", "SKIPPED"})
TERMINAL_WORKFLOW = frozenset({"COMPLETED", "FAILED", "TIMED_OUT", "TERMINATED"})
#: what a task definition says when none was registered (Conductor's defaults)
TASK_DEFAULTS = {"retryCount": 3, "retryLogic": "FIXED", "retryDelaySeconds": 60,
                 "responseTimeoutSeconds": 3600, "timeoutSeconds": 0, "timeoutPolicy": "TIME_OUT_WF",
                 "backoffScaleFactor": 1}

TASK_COLUMNS = ("task_id", "workflow_id", "seq", "ref", "task_type", "task_def_name", "status",
                "workflow_task", "input", "output", "retry_count", "retried", "executed",
                "retried_task_id", "poll_count", "worker_id", "reason", "callback_after_seconds",
                "response_timeout_seconds", "timeout_seconds", "queued", "visible_at",
                "scheduled_time", "start_time", "end_time", "update_time")
JSON_COLUMNS = frozenset({"workflow_task", "input", "output", "definition", "variables", "failed_refs"})


class EngineError(FdeError):
    status = 400


class NotFound(EngineError):
    status = 404


class Conflict(EngineError):
    status = 409


def now_ms() -> int:
    return int(time.time() * 1000)


class Run:
    """One workflow and its tasks, loaded for a decision; remembers what changed."""

    def __init__(self, workflow: dict, tasks: list[dict], plan: Plan):
        self.workflow = workflow
        self.tasks = tasks
        self.plan = plan
        self.dirty: dict[str, dict] = {}
        self.started: list[str] = []          # failure workflows started by this decision
        self.reset = False                    # restart: delete the old tasks on save

    @property
    def id(self) -> str:
        return self.workflow["workflow_id"]

    @property
    def running(self) -> bool:
        return self.workflow["status"] == "RUNNING"

    def touch(self, task: dict) -> None:
        self.dirty[task["task_id"]] = task

    def latest(self, ref: str) -> dict | None:
        attempts = [t for t in self.tasks if t["ref"] == ref]
        return max(attempts, key=lambda t: t["seq"]) if attempts else None

    def task(self, task_id: str) -> dict:
        for task in self.tasks:
            if task["task_id"] == task_id:
                return task
        raise NotFound(f"task {task_id} is not part of workflow {self.id}")

    def document(self) -> dict[str, Any]:
        """What ``${...}`` expressions read: the workflow, and each task's latest attempt."""
        wf = self.workflow
        doc: dict[str, Any] = {"workflow": {
            "input": wf["input"], "output": wf["output"], "variables": wf["variables"],
            "workflowId": wf["workflow_id"], "workflowType": wf["name"], "version": wf["version"],
            "correlationId": wf["correlation_id"], "status": wf["status"],
            "parentWorkflowId": wf["parent_workflow_id"]}}
        for ref in {t["ref"] for t in self.tasks}:
            t = self.latest(ref)
            doc[ref] = {"input": t["input"], "output": t["output"], "status": t["status"],
                        "taskId": t["task_id"], "referenceTaskName": ref,
                        "retryCount": t["retry_count"], "reasonForIncompletion": t["reason"]}
        return doc


# A long poll re-reads its queue this often when nothing was queued for it, for tasks whose
# delay (retry, callbackAfterSeconds) is up: nothing announces those. Queued work wakes it at
# once. (Every re-read is a transaction; idle workers long-poll ~10 times a second each.)
DELAY_CHECK_SECONDS = 0.1


class Engine:
    """The local engine: metadata, executions and queues, all in schema ``conductor``."""

    def __init__(self, engine: sa.Engine | None = None, clock: Callable[[], int] = now_ms):
        self.sa_engine = engine or db.get_engine()
        self.clock = clock
        self.wakeup = threading.Condition()
        self._queued: dict[str, int] = {}    # task type -> how often work was queued for it
        self._pending: set[str] = set()      # task types queued by transactions being committed
        self._task_defs: dict[str, dict] | None = None
        self._task_defs_read = 0.0

    # --- plumbing -------------------------------------------------------------------
    def setup(self) -> None:
        db.run_sql_file(SCHEMA_SQL, self.sa_engine)

    def _tx(self):
        return _Transaction(self.sa_engine)

    def _notify(self) -> None:
        """After a commit: wake the pollers of the task types that got work (only those
        re-query), and anyone waiting for a workflow to end."""
        with self.wakeup:
            while self._pending:
                kind = self._pending.pop()
                self._queued[kind] = self._queued.get(kind, 0) + 1
            self.wakeup.notify_all()

    # --- metadata -------------------------------------------------------------------
    def put_task_defs(self, task_defs: list[dict]) -> None:
        checked = [definitions.check_task_def(d) for d in task_defs]
        with self._tx() as cur:
            for d in checked:
                cur.execute("""INSERT INTO conductor.task_defs (name, body, update_time)
                               VALUES (%s, %s, %s) ON CONFLICT (name) DO UPDATE
                               SET body = EXCLUDED.body, update_time = EXCLUDED.update_time""",
                            (d["name"], json.dumps(d), self.clock()))
        self._task_defs = None

    def task_defs(self) -> dict[str, dict]:
        # re-read at most every second: another engine process may have registered some
        if self._task_defs is None or time.monotonic() - self._task_defs_read > 1.0:
            self._task_defs_read = time.monotonic()
            with self._tx() as cur:
                cur.execute("SELECT name, body FROM conductor.task_defs")
                self._task_defs = {r["name"]: r["body"] for r in cur.fetchall()}
        return self._task_defs

    def get_task_def(self, name: str) -> dict:
        found = self.task_defs().get(name)
        if found is None:
            raise NotFound(f"no task definition named {name!r}")
        return found

    def delete_task_def(self, name: str) -> None:
        with self._tx() as cur:
            cur.execute("DELETE FROM conductor.task_defs WHERE name = %s", (name,))
        self._task_defs = None

    def put_workflow_def(self, definition: dict, overwrite: bool = True) -> None:
        definition = definitions.check_workflow(definition)
        with self._tx() as cur:
            cur.execute("""INSERT INTO conductor.workflow_defs (name, version, body, update_time)
                           VALUES (%s, %s, %s, %s) ON CONFLICT (name, version) DO
                           """ + ("UPDATE SET body = EXCLUDED.body, update_time = EXCLUDED.update_time"
                                  if overwrite else "NOTHING") + " RETURNING 1",
                        (definition["name"], definition["version"], json.dumps(definition), self.clock()))
            if cur.fetchone() is None:
                raise Conflict(f"workflow {definition['name']} version {definition['version']} "
                               "already exists (register with overwrite=true to replace it)")

    def get_workflow_def(self, name: str, version: int | None = None) -> dict:
        with self._tx() as cur:
            cur.execute("""SELECT body FROM conductor.workflow_defs WHERE name = %s
                           AND (%s::int IS NULL OR version = %s) ORDER BY version DESC LIMIT 1""",
                        (name, version, version))
            row = cur.fetchone()
        if row is None:
            raise NotFound(f"no workflow definition named {name!r}"
                           + (f" with version {version}" if version else ""))
        return row["body"]

    def workflow_defs(self) -> list[dict]:
        with self._tx() as cur:
            cur.execute("SELECT body FROM conductor.workflow_defs ORDER BY name, version")
            return [r["body"] for r in cur.fetchall()]

    def delete_workflow_def(self, name: str, version: int) -> None:
        with self._tx() as cur:
            cur.execute("DELETE FROM conductor.workflow_defs WHERE name = %s AND version = %s",
                        (name, version))

    # --- starting and reading workflows -----------------------------------------------
    def start(self, request: dict) -> str:
        name = request.get("name")
        definition = request.get("workflowDef") or self.get_workflow_def(name, request.get("version"))
        definition = definitions.check_workflow(definition)
        with self._tx() as cur:
            workflow_id = self._start(cur, definition, request)
        self._notify()
        return workflow_id

    def _start(self, cur, definition: dict, request: dict, parent: str | None = None) -> str:
        now = self.clock()
        policy = definition.get("timeoutPolicy") or "TIME_OUT_WF"
        workflow = {
            "workflow_id": str(uuid.uuid4()), "name": definition["name"],
            "version": definition["version"], "status": "RUNNING", "definition": definition,
            "input": request.get("input") or {}, "output": {},
            "variables": dict(definition.get("variables") or {}),
            "correlation_id": request.get("correlationId"), "request_id": request.get("requestId"),
            "priority": request.get("priority") or 0, "reason": None, "failed_refs": [],
            "failed_task_id": None, "parent_workflow_id": parent,
            "timeout_seconds": (definition.get("timeoutSeconds") or 0) if policy == "TIME_OUT_WF" else 0,
            "create_time": now, "update_time": now, "end_time": None, "last_retried_time": 0}
        columns = list(workflow)
        cur.execute(f"INSERT INTO conductor.workflows ({', '.join(columns)}) VALUES "
                    f"({', '.join(['%s'] * len(columns))})", [_db_value(c, workflow[c]) for c in columns])
        run = Run(workflow, [], Plan(definition))
        self._schedule(run, run.plan.first())
        self._decide(cur, run)
        self._save(cur, run)
        return run.id

    def workflow(self, workflow_id: str, include_tasks: bool = True) -> dict:
        with self._tx() as cur:
            run = self._load(cur, workflow_id, lock=False)
        return render_workflow(run, include_tasks)

    def execute(self, request: dict, wait_until: str | None = None, wait_seconds: float = 10) -> dict:
        """Start a workflow and wait until it ends, ``wait_until`` completes, or time is up."""
        workflow_id = self.start(request)
        deadline = time.monotonic() + max(0.0, float(wait_seconds))
        while True:
            run = self._peek(workflow_id)
            done = run.workflow["status"] in TERMINAL_WORKFLOW
            if wait_until and not done:
                task = run.latest(wait_until)
                done = task is not None and task["status"] in TERMINAL_TASK
            remaining = deadline - time.monotonic()
            if done or remaining <= 0:
                return render_run(run, request.get("requestId"))
            with self.wakeup:
                self.wakeup.wait(min(remaining, 0.05))

    def _peek(self, workflow_id: str) -> Run:
        with self._tx() as cur:
            return self._load(cur, workflow_id, lock=False)

    def workflow_ids(self, name: str | None = None, status: str | None = None) -> list[str]:
        with self._tx() as cur:
            cur.execute("""SELECT workflow_id FROM conductor.workflows
                           WHERE (%s::text IS NULL OR name = %s) AND (%s::text IS NULL OR status = %s)
                           ORDER BY create_time, workflow_id""", (name, name, status, status))
            return [r["workflow_id"] for r in cur.fetchall()]

    # --- operator actions -----------------------------------------------------------
    def terminate(self, workflow_id: str, reason: str | None = None,
                  trigger_failure_workflow: bool = False) -> None:
        with self._tx() as cur:
            run = self._load(cur, workflow_id)
            if not run.running:
                raise Conflict(f"workflow {workflow_id} is {run.workflow['status']}, not RUNNING")
            self._finish(cur, run, "TERMINATED", reason or "terminated through the API",
                         start_failure_workflow=trigger_failure_workflow)
            self._save(cur, run)
        self._notify()

    def retry(self, workflow_id: str) -> None:
        """Run the failed tasks of an ended workflow again, from where it stopped."""
        with self._tx() as cur:
            run = self._load(cur, workflow_id)
            if run.workflow["status"] not in ("FAILED", "TIMED_OUT", "TERMINATED"):
                raise Conflict(f"workflow {workflow_id} is {run.workflow['status']}; only a FAILED, "
                               "TIMED_OUT or TERMINATED workflow can be retried")
            again = 0
            for ref in dict.fromkeys(t["ref"] for t in run.tasks):   # in scheduling order
                task = run.latest(ref)
                if task["status"] in SUCCESSFUL or task["status"] not in TERMINAL_TASK | {"SCHEDULED"}:
                    continue
                if task["task_type"] == "JOIN":
                    task.update(status="IN_PROGRESS", end_time=None, executed=False)
                    run.touch(task)
                elif task["task_type"] == "SIMPLE":
                    self._retry(run, task, delay_ms=0)
                again += 1
            if not again:
                raise Conflict(f"workflow {workflow_id} has no failed task to retry")
            output = {k: v for k, v in run.workflow["output"].items() if k != "conductor.failure_workflow"}
            run.workflow.update(status="RUNNING", reason=None, end_time=None, failed_refs=[],
                                failed_task_id=None, output=output, last_retried_time=self.clock())
            self._decide(cur, run)
            self._save(cur, run)
        self._notify()

    def restart(self, workflow_id: str) -> None:
        """Run an ended workflow again from its first task, with the same input."""
        with self._tx() as cur:
            run = self._load(cur, workflow_id)
            if run.running:
                raise Conflict(f"workflow {workflow_id} is still RUNNING; terminate it first")
            run.tasks, run.dirty, run.reset = [], {}, True
            run.workflow.update(status="RUNNING", reason=None, end_time=None, output={},
                                failed_refs=[], failed_task_id=None, create_time=self.clock(),
                                last_retried_time=0)
            self._schedule(run, run.plan.first())
            self._decide(cur, run)
            self._save(cur, run)
        self._notify()

    def remove(self, workflow_id: str) -> None:
        with self._tx() as cur:
            cur.execute("DELETE FROM conductor.workflows WHERE workflow_id = %s RETURNING 1", (workflow_id,))
            if cur.fetchone() is None:
                raise NotFound(f"no workflow {workflow_id}")

    # --- workers: poll and update -----------------------------------------------------
    def poll(self, task_type_name: str, worker_id: str | None, count: int = 1,
             timeout_ms: int = 0) -> list[dict]:
        """Up to ``count`` tasks of this type, now IN_PROGRESS for ``worker_id``.

        Waits up to ``timeout_ms`` for work to arrive (a long poll), as Conductor does.
        """
        deadline = time.monotonic() + max(0, timeout_ms) / 1000
        while True:
            seen = self._queued.get(task_type_name, 0)
            claimed = self._claim(task_type_name, worker_id, max(1, min(int(count), 1000)))
            remaining = deadline - time.monotonic()
            if claimed or remaining <= 0:
                return claimed
            with self.wakeup:   # sleep until work of this type is queued (or a delay is up)
                woken = self.wakeup.wait_for(lambda: self._queued.get(task_type_name, 0) != seen,
                                             timeout=min(remaining, DELAY_CHECK_SECONDS))
            if not woken and time.monotonic() >= deadline:
                return []       # nothing queued meanwhile: the worker polls again at once anyway

    def _claim(self, task_type_name: str, worker_id: str | None, count: int) -> list[dict]:
        now = self.clock()
        with self._tx() as cur:
            cur.execute("""
                WITH claimed AS (
                    UPDATE conductor.tasks t SET queued = false, status = 'IN_PROGRESS',
                           poll_count = t.poll_count + 1, worker_id = %(worker)s,
                           start_time = coalesce(t.start_time, %(now)s), update_time = %(now)s
                    FROM (SELECT task_id FROM conductor.tasks
                          WHERE queued AND task_def_name = %(type)s AND visible_at <= %(now)s
                          ORDER BY visible_at, scheduled_time, seq LIMIT %(n)s
                          FOR UPDATE SKIP LOCKED) c
                    WHERE t.task_id = c.task_id RETURNING t.*)
                SELECT claimed.*, w.name AS workflow_type, w.priority AS workflow_priority,
                       w.correlation_id
                FROM claimed JOIN conductor.workflows w USING (workflow_id)
                ORDER BY claimed.scheduled_time, claimed.seq""",
                        {"worker": worker_id, "now": now, "type": task_type_name, "n": count})
            rows = cur.fetchall()
        return [render_task(row) for row in rows]

    def update(self, result: dict) -> dict | None:
        """Apply a worker's TaskResult; returns the task as it is now (None if ignored)."""
        task_id = result.get("taskId")
        if not task_id:
            raise EngineError("a task result needs a taskId")
        status = (result.get("status") or "").upper()
        if status not in ("IN_PROGRESS", "COMPLETED", "FAILED", "FAILED_WITH_TERMINAL_ERROR"):
            raise EngineError(f"task {task_id}: status {result.get('status')!r} is not one of "
                              "IN_PROGRESS, COMPLETED, FAILED, FAILED_WITH_TERMINAL_ERROR")
        with self._tx() as cur:
            workflow_id = result.get("workflowInstanceId") or self._workflow_of(cur, task_id)
            run = self._load(cur, workflow_id)
            task = run.task(task_id)
            self._log(cur, task_id, result.get("logs"))
            if task["status"] in TERMINAL_TASK or not run.running:
                return None   # e.g. the late answer of a worker whose task timed out: ignored
            now = self.clock()
            task["update_time"] = now
            task["worker_id"] = result.get("workerId") or task["worker_id"]
            if result.get("extendLease") and status == "IN_PROGRESS":
                run.touch(task)
            elif status == "IN_PROGRESS":
                wait = int(result.get("callbackAfterSeconds") or 0)
                task.update(output=result.get("outputData") or task["output"], queued=True,
                            callback_after_seconds=wait, visible_at=now + wait * 1000)
                run.touch(task)
            else:
                task.update(status=status, output=result.get("outputData") or {}, end_time=now,
                            reason=result.get("reasonForIncompletion"), queued=False)
                run.touch(task)
                self._decide(cur, run)
            self._save(cur, run)
        self._notify()
        return render_task({**task, "workflow_type": run.workflow["name"],
                            "workflow_priority": run.workflow["priority"],
                            "correlation_id": run.workflow["correlation_id"]})

    def _workflow_of(self, cur, task_id: str) -> str:
        cur.execute("SELECT workflow_id FROM conductor.tasks WHERE task_id = %s", (task_id,))
        row = cur.fetchone()
        if row is None:
            raise NotFound(f"no task {task_id}")
        return row["workflow_id"]

    def task(self, task_id: str) -> dict:
        with self._tx() as cur:
            cur.execute("""SELECT t.*, w.name AS workflow_type, w.priority AS workflow_priority,
                                  w.correlation_id
                           FROM conductor.tasks t JOIN conductor.workflows w USING (workflow_id)
                           WHERE task_id = %s""", (task_id,))
            row = cur.fetchone()
        if row is None:
            raise NotFound(f"no task {task_id}")
        return render_task(row)

    def add_log(self, task_id: str, text: str) -> None:
        with self._tx() as cur:
            self._log(cur, task_id, [{"log": text}])

    def _log(self, cur, task_id: str, logs) -> None:
        for entry in logs or []:
            text = entry.get("log") if isinstance(entry, dict) else str(entry)
            created = entry.get("createdTime") if isinstance(entry, dict) else None
            cur.execute("INSERT INTO conductor.task_logs (task_id, log, created_time) VALUES (%s, %s, %s)",
                        (task_id, text or "", created or self.clock()))

    def logs(self, task_id: str) -> list[dict]:
        with self._tx() as cur:
            cur.execute("""SELECT log, task_id AS "taskId", created_time AS "createdTime"
                           FROM conductor.task_logs WHERE task_id = %s ORDER BY created_time""", (task_id,))
            return [dict(r) for r in cur.fetchall()]

    def queue_sizes(self, types: list[str] | None = None) -> dict[str, int]:
        with self._tx() as cur:
            cur.execute("""SELECT task_def_name, count(*) AS n FROM conductor.tasks
                           WHERE queued GROUP BY 1""")
            sizes = {r["task_def_name"]: r["n"] for r in cur.fetchall()}
        return {t: sizes.get(t, 0) for t in types} if types else sizes

    # --- time: timeouts and delayed retries --------------------------------------------
    def sweep(self) -> int:
        """Time out silent tasks and overdue workflows; returns how many were changed."""
        now = self.clock()
        with self._tx() as cur:
            cur.execute("""
                SELECT workflow_id FROM conductor.tasks
                WHERE status = 'IN_PROGRESS' AND NOT queued AND response_timeout_seconds > 0
                  AND update_time + response_timeout_seconds * 1000 < %(now)s
                UNION
                SELECT workflow_id FROM conductor.tasks   -- queued too: waiting for its callback
                WHERE status = 'IN_PROGRESS' AND timeout_seconds > 0
                  AND start_time + timeout_seconds * 1000 < %(now)s
                UNION
                SELECT workflow_id FROM conductor.workflows
                WHERE status = 'RUNNING' AND timeout_seconds > 0
                  AND CASE WHEN last_retried_time > 0 THEN last_retried_time ELSE create_time END
                      + timeout_seconds * 1000 < %(now)s""", {"now": now})
            overdue = [r["workflow_id"] for r in cur.fetchall()]
        changed = 0
        for workflow_id in overdue:
            with self._tx() as cur:
                run = self._load(cur, workflow_id)
                if run.running and self._time_out(cur, run, self.clock()):
                    self._save(cur, run)
                    changed += 1
        if changed:
            self._notify()
        return changed

    def _time_out(self, cur, run: Run, now: int) -> bool:
        wf = run.workflow
        if wf["timeout_seconds"] and _timeout_origin(wf) + wf["timeout_seconds"] * 1000 < now:
            self._finish(cur, run, "TIMED_OUT",
                         f"workflow timed out after {wf['timeout_seconds']} s (timeoutSeconds)")
            return True
        changed = False
        for task in run.tasks:
            if task["status"] != "IN_PROGRESS" or task["task_type"] != "SIMPLE":
                continue
            # a task waiting for its callback has no response timeout, but its timeoutSeconds run on
            silent = not task["queued"] and task["response_timeout_seconds"] and \
                task["update_time"] + task["response_timeout_seconds"] * 1000 < now
            too_long = task["timeout_seconds"] and task["start_time"] + task["timeout_seconds"] * 1000 < now
            if silent or too_long:
                what = (f"responseTimeoutSeconds: {task['response_timeout_seconds']} exceeded (no word "
                        "from the worker that polled it)" if silent
                        else f"timeoutSeconds: {task['timeout_seconds']} exceeded")
                task.update(status="TIMED_OUT", reason=what, end_time=now, queued=False)
                run.touch(task)
                changed = True
        if changed:
            self._decide(cur, run)
        return changed

    # --- the decider --------------------------------------------------------------------
    def _decide(self, cur, run: Run) -> None:
        progress = True
        while progress and run.running:
            progress = False
            for task in list(run.tasks):
                if task["executed"] or task["status"] not in TERMINAL_TASK or not run.running \
                        or task["task_type"] == "TERMINATE":   # _run_terminates ends the workflow
                    continue
                task["executed"] = True
                run.touch(task)
                progress = True
                if task["status"] in SUCCESSFUL:
                    for following in self._successors(run, task):
                        self._schedule(run, following)
                elif task["status"] == "CANCELED":
                    continue
                elif self._can_retry(task):
                    self._retry(run, task, self._retry_delay_ms(task))
                elif task["workflow_task"].get("optional") and not self._times_out_workflow(task):
                    task["status"] = "COMPLETED_WITH_ERRORS"
                    for following in self._successors(run, task):
                        self._schedule(run, following)
                else:
                    reason = (f"Task '{task['ref']}' failed with status {task['status']}"
                              f" and reason: '{task['reason'] or ''}'")
                    self._finish(cur, run, "FAILED" if task["status"] != "TIMED_OUT" else "TIMED_OUT",
                                 reason, failed=task)
            if run.running:
                progress = self._check_joins(run) or progress
                progress = self._run_terminates(cur, run) or progress
        if run.running and all(t["status"] in TERMINAL_TASK and t["executed"] for t in run.tasks):
            self._finish(cur, run, "COMPLETED", None)

    def _successors(self, run: Run, task: dict) -> list[dict]:
        kind, ref = task["task_type"], task["ref"]
        if kind == "FORK_JOIN":
            firsts = [branch[0] for branch in task["workflow_task"].get("forkTasks") or [] if branch]
            return firsts + [run.plan.after(ref)]
        if kind == "FORK_JOIN_DYNAMIC":
            inputs = task["output"].get("forkedTasksInputs") or {}
            forked = [{**wt, "inputParameters": inputs.get(wt["taskReferenceName"], {})}
                      for wt in task["output"].get("forkedTaskDefs") or []]
            return forked + [run.plan.after(ref)]
        if kind in ("SWITCH", "DECISION"):
            key = (task["output"].get("evaluationResult") or task["output"].get("caseOutput") or [None])[0]
            chosen = (task["workflow_task"].get("decisionCases") or {}).get(key)
            if chosen is None:
                chosen = task["workflow_task"].get("defaultCase") or []
            if chosen:
                return [chosen[0]]
        following = run.plan.after(ref)
        return [following] if following else []

    def _schedule(self, run: Run, workflow_task: dict | None) -> None:
        if workflow_task is None:
            return
        kind = task_type(workflow_task)
        now = self.clock()
        task_input = expressions.resolve(workflow_task.get("inputParameters") or {}, run.document())
        task = self._new_task(run, workflow_task, kind, task_input, now)
        if kind == "SIMPLE":
            task_def = {**TASK_DEFAULTS, **self.task_defs().get(task["task_def_name"], {})}
            alert_only = task_def.get("timeoutPolicy") == "ALERT_ONLY"   # Conductor only alerts then
            task.update(status="SCHEDULED", queued=True, visible_at=now,
                        response_timeout_seconds=task_def["responseTimeoutSeconds"] or 0,
                        timeout_seconds=0 if alert_only else task_def["timeoutSeconds"] or 0)
        elif kind == "JOIN":
            task.update(status="IN_PROGRESS", start_time=now)
        elif kind in ("SWITCH", "DECISION"):
            key = _case_key(_switch_value(workflow_task, task_input))
            if kind == "DECISION":   # the legacy form says it its own way
                task.update(input={**task_input, "case": key}, output={"caseOutput": [key]})
            else:
                task["output"] = {"evaluationResult": [key]}
            task.update(status="COMPLETED", start_time=now, end_time=now)
        elif kind == "SET_VARIABLE":
            run.workflow["variables"] = {**run.workflow["variables"], **task_input}
            task.update(status="COMPLETED", start_time=now, end_time=now)
        elif kind == "FORK_JOIN_DYNAMIC":
            self._dynamic_fork(run, task, workflow_task, task_input, now)
        else:   # FORK_JOIN and TERMINATE complete as they are scheduled
            task.update(status="COMPLETED", start_time=now, end_time=now,
                        output=dict(task_input) if kind == "TERMINATE" else {})
        run.tasks.append(task)
        run.touch(task)

    def _dynamic_fork(self, run: Run, task: dict, workflow_task: dict, task_input: dict, now: int) -> None:
        """Check the run-time list of tasks to fork; fail the fork task if it is unusable."""
        tasks_param = workflow_task.get("dynamicForkTasksParam") or "dynamicTasks"
        inputs_param = workflow_task.get("dynamicForkTasksInputParamName") or "dynamicTasksInput"
        forked, inputs = task_input.get(tasks_param), task_input.get(inputs_param) or {}
        problem = None
        if not isinstance(forked, list) or not all(isinstance(t, dict) and t.get("taskReferenceName")
                                                   for t in forked):
            problem = f"input {tasks_param!r} must be a list of tasks with a taskReferenceName"
        elif not isinstance(inputs, dict):
            problem = f"input {inputs_param!r} must map each reference name to its input"
        else:
            clash = [t["taskReferenceName"] for t in forked
                     if t["taskReferenceName"] in run.plan.slots or any(x["ref"] == t["taskReferenceName"]
                                                                         for x in run.tasks)]
            kinds = {task_type(t) for t in forked} - {"SIMPLE"}
            if clash:
                problem = f"forked reference name(s) {', '.join(clash)} already used in this workflow"
            elif kinds:
                problem = f"only SIMPLE tasks can be forked dynamically here, not {', '.join(sorted(kinds))}"
        if problem:
            task.update(status="FAILED", reason=f"FORK_JOIN_DYNAMIC {task['ref']}: {problem}",
                        start_time=now, end_time=now)
            return
        task.update(status="COMPLETED", start_time=now, end_time=now, output={
            "forkedTasks": [t["taskReferenceName"] for t in forked], "forkedTasksInputs": inputs,
            "forkedTaskDefs": [{**t, "type": "SIMPLE"} for t in forked]})

    def _new_task(self, run: Run, workflow_task: dict, kind: str, task_input: dict, now: int,
                  retry_count: int = 0) -> dict:
        seq = max((t["seq"] for t in run.tasks), default=0) + 1
        return {"task_id": str(uuid.uuid4()), "workflow_id": run.id, "seq": seq,
                "ref": workflow_task["taskReferenceName"], "task_type": kind,
                "task_def_name": workflow_task.get("name") or workflow_task["taskReferenceName"],
                "status": "SCHEDULED", "workflow_task": workflow_task, "input": task_input,
                "output": {}, "retry_count": retry_count, "retried": False, "executed": False,
                "retried_task_id": None, "poll_count": 0, "worker_id": None, "reason": None,
                "callback_after_seconds": 0, "response_timeout_seconds": 0, "timeout_seconds": 0,
                "queued": False, "visible_at": None, "scheduled_time": now, "start_time": None,
                "end_time": None, "update_time": now}

    def _task_def(self, task: dict) -> dict:
        merged = {**TASK_DEFAULTS, **self.task_defs().get(task["task_def_name"], {})}
        if task["workflow_task"].get("retryCount") is not None:
            merged["retryCount"] = task["workflow_task"]["retryCount"]
        return merged

    def _times_out_workflow(self, task: dict) -> bool:
        """A task past its timeoutSeconds under TIME_OUT_WF: no retry, no optional, the workflow times out."""
        return task["status"] == "TIMED_OUT" and (task["reason"] or "").startswith("timeoutSeconds") \
            and self._task_def(task).get("timeoutPolicy") != "RETRY"

    def _can_retry(self, task: dict) -> bool:
        if task["task_type"] != "SIMPLE" or task["status"] not in ("FAILED", "TIMED_OUT") \
                or self._times_out_workflow(task):
            return False
        return task["retry_count"] < (self._task_def(task)["retryCount"] or 0)

    def _retry_delay_ms(self, task: dict) -> int:
        task_def = self._task_def(task)
        base = task_def["retryDelaySeconds"] or 0
        logic = task_def.get("retryLogic") or "FIXED"
        if logic == "EXPONENTIAL_BACKOFF":
            seconds = base * 2 ** task["retry_count"]
        elif logic == "LINEAR_BACKOFF":
            seconds = base * (task_def.get("backoffScaleFactor") or 1) * (task["retry_count"] + 1)
        else:
            seconds = base
        return int(seconds * 1000)

    def _retry(self, run: Run, failed: dict, delay_ms: int) -> None:
        now = self.clock()
        task = self._new_task(run, failed["workflow_task"], failed["task_type"], failed["input"], now,
                              retry_count=failed["retry_count"] + 1)
        task.update(status="SCHEDULED", queued=True, visible_at=now + delay_ms,
                    callback_after_seconds=delay_ms // 1000, retried_task_id=failed["task_id"],
                    response_timeout_seconds=failed["response_timeout_seconds"],
                    timeout_seconds=failed["timeout_seconds"])
        failed["retried"] = True
        failed["executed"] = True
        run.touch(failed)
        run.tasks.append(task)
        run.touch(task)

    def _check_joins(self, run: Run) -> bool:
        progress = False
        for join in [t for t in run.tasks if t["task_type"] == "JOIN" and t["status"] == "IN_PROGRESS"]:
            refs = join["workflow_task"].get("joinOn") or self._forked_before(run, join)
            latest = {ref: run.latest(ref) for ref in refs}
            if all(t is not None and t["status"] in SUCCESSFUL for t in latest.values()):
                join.update(status="COMPLETED", end_time=self.clock(),
                            output={ref: t["output"] for ref, t in latest.items()})
                run.touch(join)
                progress = True
        return progress

    def _forked_before(self, run: Run, join: dict) -> list[str]:
        """The tasks a dynamic fork created, for the JOIN that follows it."""
        for task in run.tasks:
            if task["task_type"] == "FORK_JOIN_DYNAMIC" and task["status"] == "COMPLETED":
                following = run.plan.after(task["ref"])
                if following and following["taskReferenceName"] == join["ref"]:
                    return task["output"].get("forkedTasks") or []
        return []

    def _run_terminates(self, cur, run: Run) -> bool:
        for task in run.tasks:
            if task["task_type"] == "TERMINATE" and not task["executed"]:
                task["executed"] = True
                run.touch(task)
                status = (task["input"].get("terminationStatus") or "COMPLETED").upper()
                if status not in ("COMPLETED", "FAILED", "TERMINATED"):
                    status = "FAILED"
                reason = task["input"].get("terminationReason")
                output = task["input"].get("workflowOutput")
                self._finish(cur, run, status, reason, output=output,
                             failed=task if status == "FAILED" else None,
                             start_failure_workflow=status == "FAILED")
                return True
        return False

    def _finish(self, cur, run: Run, status: str, reason: str | None, *, output: Any = None,
                failed: dict | None = None, start_failure_workflow: bool = True) -> None:
        now = self.clock()
        wf = run.workflow
        for task in run.tasks:
            if task["status"] not in TERMINAL_TASK:
                task.update(status="CANCELED", queued=False, end_time=now, executed=True)
                run.touch(task)
        if output is None:
            template = wf["definition"].get("outputParameters") or {}
            if template:
                output = expressions.resolve(template, run.document())
            else:
                done = [t for t in run.tasks if t["status"] in SUCCESSFUL and t["task_type"] == "SIMPLE"]
                output = max(done, key=lambda t: t["seq"])["output"] if done else {}
        wf.update(status=status, reason=reason, end_time=now, update_time=now,
                  output=output if isinstance(output, dict) else {"result": output})
        if failed is not None:
            wf.update(failed_refs=[failed["ref"]], failed_task_id=failed["task_id"])
        failure_workflow = wf["definition"].get("failureWorkflow")
        if start_failure_workflow and status in ("FAILED", "TIMED_OUT", "TERMINATED") and failure_workflow:
            try:
                definition = self._definition_in(cur, failure_workflow)
            except NotFound as exc:
                wf["reason"] = f"{reason}; failure workflow not started: {exc}"
                return
            child = self._start(cur, definition, {"input": _failure_input(run, reason, status),
                                                  "correlationId": wf["correlation_id"]}, parent=run.id)
            wf["output"] = {**wf["output"], "conductor.failure_workflow": child}
            run.started.append(child)

    def _definition_in(self, cur, name: str) -> dict:
        cur.execute("SELECT body FROM conductor.workflow_defs WHERE name = %s ORDER BY version DESC LIMIT 1",
                    (name,))
        row = cur.fetchone()
        if row is None:
            raise NotFound(f"no workflow definition named {name!r}")
        return row["body"]

    # --- load and save --------------------------------------------------------------
    def _load(self, cur, workflow_id: str, lock: bool = True) -> Run:
        suffix = " FOR UPDATE" if lock else ""
        cur.execute("SELECT * FROM conductor.workflows WHERE workflow_id = %s" + suffix, (workflow_id,))
        workflow = cur.fetchone()
        if workflow is None:
            raise NotFound(f"no workflow {workflow_id}")
        cur.execute("SELECT * FROM conductor.tasks WHERE workflow_id = %s ORDER BY seq" + suffix,
                    (workflow_id,))
        tasks = [dict(r) for r in cur.fetchall()]
        return Run(dict(workflow), tasks, Plan(workflow["definition"]))

    def _save(self, cur, run: Run) -> None:
        wf = run.workflow
        wf["update_time"] = self.clock()
        cur.execute("""UPDATE conductor.workflows SET status = %s, output = %s, variables = %s,
                       reason = %s, failed_refs = %s, failed_task_id = %s, create_time = %s,
                       last_retried_time = %s, update_time = %s, end_time = %s WHERE workflow_id = %s""",
                    (wf["status"], json.dumps(wf["output"]), json.dumps(wf["variables"]), wf["reason"],
                     json.dumps(wf["failed_refs"]), wf["failed_task_id"], wf["create_time"],
                     wf["last_retried_time"], wf["update_time"], wf["end_time"], run.id))
        if run.reset:
            cur.execute("DELETE FROM conductor.tasks WHERE workflow_id = %s", (run.id,))
        if run.dirty:
            with self.wakeup:
                self._pending.update(t["task_def_name"] for t in run.dirty.values() if t["queued"])
            rows = [[_db_value(c, task[c]) for c in TASK_COLUMNS] for task in run.dirty.values()]
            updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in TASK_COLUMNS if c != "task_id")
            psycopg2.extras.execute_values(
                cur, f"INSERT INTO conductor.tasks ({', '.join(TASK_COLUMNS)}) VALUES %s "
                     f"ON CONFLICT (task_id) DO UPDATE SET {updates}", rows)
        run.dirty = {}


class _Transaction:
    """A pooled psycopg2 connection, one transaction, dict rows."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def __enter__(self):
        self.conn = self.engine.raw_connection()
        self.cur = self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor)
        return self.cur

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            self.cur.close()
            self.conn.close()     # back to the pool


def _timeout_origin(workflow: dict) -> int:
    """When a workflow's timeout started counting: its last retry, else its start."""
    return workflow["last_retried_time"] or workflow["create_time"]


def _failure_input(run: Run, reason: str | None, status: str) -> dict:
    """The failure workflow's input, as Conductor builds it: the failed workflow's input,
    then what failed (these keys win over input keys of the same name)."""
    wf = run.workflow
    failure = {"workflowId": run.id, "reason": reason, "failureStatus": status,
               "failedWorkflow": render_workflow(run, include_tasks=True)}
    if wf["failed_task_id"] is not None:
        failure["failureTaskId"] = wf["failed_task_id"]
    return {**wf["input"], **failure}


def _db_value(column: str, value: Any) -> Any:
    return json.dumps(value) if column in JSON_COLUMNS else value


def _switch_value(workflow_task: dict, task_input: dict) -> Any:
    if task_type(workflow_task) == "DECISION":
        return task_input.get(workflow_task.get("caseValueParam") or "case")
    return task_input.get(workflow_task.get("expression") or "switchCaseValue")


def _case_key(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


# --- Conductor's JSON -----------------------------------------------------------------

def render_task(row: dict) -> dict:
    return {
        "taskId": row["task_id"], "taskType": row["task_def_name"] if row["task_type"] == "SIMPLE"
        else row["task_type"], "status": row["status"], "inputData": row["input"],
        "outputData": row["output"], "referenceTaskName": row["ref"], "retryCount": row["retry_count"],
        "seq": row["seq"], "pollCount": row["poll_count"], "taskDefName": row["task_def_name"],
        "scheduledTime": row["scheduled_time"], "startTime": row["start_time"] or 0,
        "endTime": row["end_time"] or 0, "updateTime": row["update_time"],
        "retriedTaskId": row["retried_task_id"], "retried": row["retried"], "executed": row["executed"],
        "callbackFromWorker": True, "responseTimeoutSeconds": row["response_timeout_seconds"],
        "workflowInstanceId": row["workflow_id"], "workflowType": row.get("workflow_type"),
        "correlationId": row.get("correlation_id"), "reasonForIncompletion": row["reason"],
        "callbackAfterSeconds": row["callback_after_seconds"], "workerId": row["worker_id"],
        "workflowTask": row["workflow_task"], "workflowPriority": row.get("workflow_priority") or 0,
        "queueWaitTime": max(0, (row["start_time"] or 0) - row["scheduled_time"]) if row["start_time"] else 0,
    }


def render_workflow(run: Run, include_tasks: bool = True) -> dict:
    wf = run.workflow
    meta = {"workflow_type": wf["name"], "workflow_priority": wf["priority"],
            "correlation_id": wf["correlation_id"]}
    return {
        "workflowId": wf["workflow_id"], "workflowName": wf["name"], "workflowVersion": wf["version"],
        "status": wf["status"], "input": wf["input"], "output": wf["output"],
        "variables": wf["variables"], "correlationId": wf["correlation_id"],
        "reasonForIncompletion": wf["reason"], "failedReferenceTaskNames": wf["failed_refs"],
        "failedTaskId": wf["failed_task_id"], "parentWorkflowId": wf["parent_workflow_id"],
        "priority": wf["priority"], "createTime": wf["create_time"], "startTime": wf["create_time"],
        "updateTime": wf["update_time"], "endTime": wf["end_time"] or 0,
        "lastRetriedTime": wf["last_retried_time"], "workflowDefinition": wf["definition"],
        "tasks": [render_task({**t, **meta}) for t in run.tasks] if include_tasks else [],
    }


def render_run(run: Run, request_id: str | None) -> dict:
    full = render_workflow(run)
    return {"workflowId": full["workflowId"], "requestId": request_id,
            "correlationId": full["correlationId"], "input": full["input"], "output": full["output"],
            "status": full["status"], "createTime": full["createTime"], "updateTime": full["updateTime"],
            "tasks": full["tasks"], "priority": full["priority"], "variables": full["variables"]}


__all__ = ["Engine", "EngineError", "NotFound", "Conflict", "DefinitionError",
           "render_task", "render_workflow"]
