"""Run conductor-python workers the way conductor-python runs them: ``TaskHandler``.

:class:`Workers` starts ``processes`` TaskHandlers over the ``@worker_task`` functions of
the given modules — each handler runs one process per task type — and stops them on exit.
The worker processes' log goes to ``$FDE_HOME/logs/workers.log`` instead of the terminal
or notebook that started them (their output would otherwise interleave with a lesson's).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..config import Settings, get_settings


LOG_ENV = "FDE_WORKER_LOG"
READY_ENV = "FDE_WORKER_READY"


def redirect_worker_output() -> None:
    """In a worker process: send stdout and stderr to the workers' log, keep one idle
    database connection.

    Called when a worker module is imported. ``Workers`` names the log in the environment,
    which every worker process inherits — including those TaskHandler restarts after a
    crash, long after :meth:`Workers.start` returned. It also opens the process's database
    connection and then leaves a mark that the process is ready (imports and connection are
    the slow part of starting a worker), which :meth:`Workers.start` waits for.
    """
    path = os.environ.get(LOG_ENV)
    if not path or os.environ.get("FDE_WORKER_LOG_PID") == str(os.getpid()):
        return   # not a worker, or the process that started the workers
    os.environ.setdefault("FDE_DB_POOL_SIZE", "1")   # many worker processes, one server
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:   # open the process's database connection now: its first task must not pay for it
        from .. import db

        with db.get_engine().connect():
            pass
    except Exception:   # the database may be down: the tasks will say so
        pass
    token = os.environ.get(READY_ENV)
    if token:
        marks = _ready_dir(path)
        marks.mkdir(parents=True, exist_ok=True)
        (marks / str(os.getpid())).write_text(token)


def _ready_dir(log_file) -> Path:
    return Path(log_file).with_name("workers.ready")


@contextlib.contextmanager
def _stderr_to(path) -> Iterator[None]:
    """Point file descriptor 2 at ``path`` while child processes are created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


#: each module's @worker_task records, as its first import registered them: conductor-python
#: keeps one registry keyed by task name, so a later module serving the same task type (a
#: new version of a service) replaces an earlier one's entry there, not here
_MODULE_WORKERS: dict[str, dict] = {}


def _marks_ready(module: str) -> bool:
    """True if the worker module calls :func:`redirect_worker_output` (which marks readiness)."""
    return getattr(sys.modules.get(module), "redirect_worker_output", None) is redirect_worker_output


def _has_mark(path: Path, token: str) -> bool:
    try:
        return path.read_text() == token
    except OSError:
        return False


def module_workers(module: str) -> dict:
    """``{(task name, domain): record}`` of the @worker_task functions defined in ``module``."""
    import importlib

    from conductor.client.automator import task_handler

    if module not in _MODULE_WORKERS:
        registry = task_handler._decorated_functions
        before = dict(registry)
        if module in sys.modules:   # imported before we looked: run its decorators again to see them all
            importlib.reload(sys.modules[module])
        else:
            importlib.import_module(module)
        _MODULE_WORKERS[module] = {key: record for key, record in registry.items()
                                   if record["func"].__module__ == module}
        for key, record in before.items():   # a reload must not take another module's entry
            if record["func"].__module__ != module:
                registry[key] = record
    return _MODULE_WORKERS[module]


class Workers:
    """``with Workers(["fdelib.oms.workers"], processes=2): ...`` — workers polling while inside.

    ``tasks`` keeps only the workers of those task types (e.g. one service's), so each service
    can be started, stopped and replaced on its own.
    """

    def __init__(self, modules: Sequence[str], processes: int = 1, settings: Settings | None = None,
                 log_level: str = "ERROR", restart_check_seconds: float = 0.5, tasks: Sequence[str] | None = None,
                 ready_timeout: float = 600):
        self.modules = list(modules)
        self.tasks = None if tasks is None else set(tasks)
        self.ready_timeout = ready_timeout
        self.processes = max(1, int(processes))
        self.settings = settings or get_settings()
        self.log_level = log_level
        self.restart_check_seconds = restart_check_seconds
        self.handlers: list = []

    @property
    def log_file(self):
        return self.settings.home / "logs" / "workers.log"

    def start(self) -> "Workers":
        from conductor.client.automator import task_handler
        from conductor.client.automator.task_handler import TaskHandler

        from . import configuration

        chosen = {key: record for module in self.modules for key, record in module_workers(module).items()
                  if self.tasks is None or key[0] in self.tasks}
        if not chosen:
            raise ValueError(f"no @worker_task in {', '.join(self.modules)}"
                             + (f" for {', '.join(sorted(self.tasks))}" if self.tasks is not None else ""))
        # TaskHandler scans every @worker_task this process ever saw; keep it to ours
        registry = task_handler._decorated_functions
        saved = dict(registry)
        registry.clear()
        registry.update(chosen)

        os.environ[LOG_ENV] = str(self.log_file)
        os.environ["FDE_WORKER_LOG_PID"] = str(os.getpid())
        token = os.environ[READY_ENV] = uuid.uuid4().hex
        with _stderr_to(self.log_file):
            for _ in range(self.processes):
                handler = TaskHandler(workers=[], configuration=configuration(self.settings, self.log_level),
                                      scan_for_annotated_workers=True, import_modules=None,
                                      monitor_interval_seconds=self.restart_check_seconds,
                                      restart_backoff_seconds=0.2, restart_backoff_max_seconds=2)
                handler.start_processes()
                self.handlers.append(handler)
        registry.clear()
        registry.update(saved)
        if all(_marks_ready(module) for module in self.modules):
            self._wait_ready(token)
        return self

    def _wait_ready(self, token: str) -> None:
        """Return once every worker process has imported its workers (it polls right after),
        or one has died, or ``ready_timeout`` has passed: a task queued before then would only
        wait longer, on a busy machine for minutes."""
        marks = _ready_dir(self.log_file)
        processes = [p for handler in self.handlers for p in handler.task_runner_processes]
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            waiting = [p for p in processes if p.is_alive() and not _has_mark(marks / str(p.pid), token)]
            if not waiting:
                return
            time.sleep(0.05)

    def stop(self) -> None:
        # TaskHandler stops its processes one by one (terminate, then wait for each); signal
        # them all first so they exit together. Its restart monitor is told to stop first,
        # or it would restart what we just stopped.
        for handler in self.handlers:
            handler._monitor_stop_event.set()
            for process in handler.task_runner_processes:
                if process.is_alive():
                    process.terminate()
        while self.handlers:
            self.handlers.pop().stop_processes()

    def pids(self, task_type: str | None = None) -> list[int]:
        """Process ids of the running worker processes (of one task type)."""
        found = []
        for handler in self.handlers:
            for status in handler.get_worker_process_status():
                if task_type is None or status.get("worker") == task_type or status.get("task_type") == task_type:
                    if status.get("pid"):
                        found.append(status["pid"])
        return found

    def __enter__(self) -> "Workers":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
