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
from collections.abc import Iterator, Sequence

from ..config import Settings, get_settings


LOG_ENV = "FDE_WORKER_LOG"


def redirect_worker_output() -> None:
    """In a worker process: send stdout and stderr to the workers' log, keep one idle
    database connection.

    Called when a worker module is imported. ``Workers`` names the log in the environment,
    which every worker process inherits — including those TaskHandler restarts after a
    crash, long after :meth:`Workers.start` returned.
    """
    path = os.environ.get(LOG_ENV)
    if not path or os.environ.get("FDE_WORKER_LOG_PID") == str(os.getpid()):
        return   # not a worker, or the process that started the workers
    os.environ.setdefault("FDE_DB_POOL_SIZE", "1")   # many worker processes, one server
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)


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


class Workers:
    """``with Workers(["fdelib.oms.workers"], processes=2): ...`` — workers polling while inside."""

    def __init__(self, modules: Sequence[str], processes: int = 1, settings: Settings | None = None,
                 log_level: str = "ERROR", restart_check_seconds: float = 0.5):
        self.modules = list(modules)
        self.processes = max(1, int(processes))
        self.settings = settings or get_settings()
        self.log_level = log_level
        self.restart_check_seconds = restart_check_seconds
        self.handlers: list = []

    @property
    def log_file(self):
        return self.settings.home / "logs" / "workers.log"

    def start(self) -> "Workers":
        import importlib

        from conductor.client.automator import task_handler
        from conductor.client.automator.task_handler import TaskHandler

        from . import configuration

        for module in self.modules:
            importlib.import_module(module)        # runs their @worker_task decorators
        # TaskHandler scans every @worker_task this process ever saw; keep it to our modules
        registry = task_handler._decorated_functions
        saved = dict(registry)
        registry.clear()
        registry.update({key: record for key, record in saved.items()
                         if record["func"].__module__ in self.modules})

        os.environ[LOG_ENV] = str(self.log_file)
        os.environ["FDE_WORKER_LOG_PID"] = str(os.getpid())
        with _stderr_to(self.log_file):
            for _ in range(self.processes):
                handler = TaskHandler(workers=[], configuration=configuration(self.settings, self.log_level),
                                      scan_for_annotated_workers=True, import_modules=self.modules,
                                      monitor_interval_seconds=self.restart_check_seconds,
                                      restart_backoff_seconds=0.2, restart_backoff_max_seconds=2)
                handler.start_processes()
                self.handlers.append(handler)
        registry.clear()
        registry.update(saved)
        return self

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
