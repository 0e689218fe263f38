"""conductor-python workers polling from threads of this process.

:class:`fdelib.conductor.workers.Workers` runs workers the way production does: conductor-python's
``TaskHandler`` spawns one process per task type. A spawn costs a fresh interpreter and its
imports — seconds — which a lesson that starts workers several times (1, then 2, then 4 per task
type) cannot afford. :class:`ThreadWorkers` runs the same SDK parts — its ``Worker`` (which maps a
task's input to the function's arguments) and its ``TaskRunner`` (batch poll, execute, update) —
in threads instead. For the engine nothing differs: every runner is one more worker polling the
task type's queue, exactly as one more process or machine would be.

The runners' log goes to the workers' log file (``$FDE_HOME/logs/workers.log``), not to the
notebook: a task failing on purpose must not print a traceback into a lesson.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from ..config import Settings, get_settings


class ThreadWorkers:
    """``with ThreadWorkers({"task_type": function}, per_type=2): ...`` — workers polling inside.

    ``per_type`` runners poll each task type, each running one task at a time (``thread_count=1``),
    so ``per_type`` is the number of tasks of that type in progress at once."""

    def __init__(
        self,
        functions: Mapping[str, Callable],
        per_type: int = 1,
        *,
        poll_interval: float = 0.01,
        settings: Settings | None = None,
    ):
        self.functions = dict(functions)
        self.per_type = max(1, int(per_type))
        self.poll_interval = poll_interval
        self.settings = settings or get_settings()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._workers: dict[str, list] = {}

    def start(self) -> ThreadWorkers:
        from conductor.client.automator.task_runner import TaskRunner
        from conductor.client.worker.worker import Worker

        from .. import conductor

        configuration = conductor.configuration(self.settings, log_level="ERROR")
        _quiet_sdk_loggers(self.settings)
        self._stop.clear()
        for task_type, function in self.functions.items():
            for index in range(self.per_type):
                worker = Worker(
                    task_type, function, poll_interval=self.poll_interval, worker_id=f"{task_type}-thread-{index}"
                )
                self._workers.setdefault(task_type, []).append(worker)
                runner = TaskRunner(worker, configuration)
                thread = threading.Thread(
                    target=self._loop, args=(runner,), daemon=True, name=f"worker-{task_type}-{index}"
                )
                thread.start()
                self._threads.append(thread)
        return self

    def _loop(self, runner) -> None:
        with runner:  # its exit closes the runner's HTTP client
            while not self._stop.is_set():
                runner.run_once()

    def scale(self, per_type: int) -> ThreadWorkers:
        """Let only ``per_type`` of the runners of each task type poll; the others pause (as an
        operator scaling a worker pool in would). Returns once a paused runner's poll still in
        flight (a long poll lasts up to 100 ms) has come back, so from then on exactly
        ``per_type`` runners take tasks."""
        import time

        for workers in self._workers.values():
            for index, worker in enumerate(workers):
                worker.paused = index >= per_type
        time.sleep(0.25)
        return self

    def stop(self) -> None:
        """Stop polling; tasks in progress finish first (a runner waits for its executor)."""
        self._stop.set()
        while self._threads:
            self._threads.pop().join(timeout=30)
        self._workers.clear()

    def __enter__(self) -> ThreadWorkers:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _quiet_sdk_loggers(settings: Settings) -> None:
    """Send conductor-python's loggers (named ``[pid] conductor.client...``) to the workers' log."""
    path = settings.home / "logs" / "workers.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = None
    for name in list(logging.root.manager.loggerDict):
        if "conductor.client" not in name:
            continue
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.FileHandler) and h.baseFilename == str(path) for h in logger.handlers):
            if handler is None:
                handler = logging.FileHandler(path)
                handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
            logger.addHandler(handler)
        logger.propagate = False
