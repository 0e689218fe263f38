"""Run conductor-python workers the way conductor-python runs them: ``TaskHandler``.

:class:`Workers` starts ``processes`` TaskHandlers over the ``@worker_task`` functions of
the given modules — each handler runs one process per task type — and stops them on exit.
The worker processes' log goes to ``$FDE_HOME/logs/workers.log`` instead of the terminal
or notebook that started them (their output would otherwise interleave with a lesson's).

conductor-python starts its processes with ``spawn``: each would start a new interpreter and
import the SDK and the worker module (pandas, SQLAlchemy...) again, a second or two of CPU
apiece. :class:`Workers` has them forked instead from a fork server that imported those once
(``forkserver``: its children are as isolated as spawned ones, and it never forks the kernel
itself), and :meth:`Workers.start` returns once every worker process has polled the engine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ..config import Settings, get_settings
from ..errors import StackError

LOG_ENV = "FDE_WORKER_LOG"
START_ENV = "FDE_WORKER_START"  # how Workers starts its processes: "forkserver" or "spawn"


def redirect_worker_output() -> None:
    """In a worker process: send stdout and stderr to the workers' log, keep one idle
    database connection.

    Called when a worker module is imported. ``Workers`` names the log in the environment,
    which every worker process inherits — including those TaskHandler restarts after a
    crash, long after :meth:`Workers.start` returned. It also opens the process's database
    connection, before the process's first poll (which :meth:`Workers.start` waits for):
    imports and connection are the slow part of starting a worker.
    """
    path = os.environ.get(LOG_ENV)
    if not path or os.environ.get("FDE_WORKER_LOG_PID") == str(os.getpid()):
        return  # not a worker, or the process that started the workers
    os.environ.setdefault("FDE_DB_POOL_SIZE", "1")  # many worker processes, one server
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    exit_with_starter()
    try:  # open the process's database connection now: its first task must not pay for it
        from .. import db

        with db.get_engine().connect():
            pass
    except Exception:  # the database may be down: the tasks will say so
        pass


def exit_with_starter() -> None:
    """In a worker process: end it when the process that started the workers is gone.

    A kernel killed outright (SIGKILL, a crash) cannot stop its workers: they would go on
    polling the engine — and holding whatever its output pipe was — forever. So each worker
    process has a thread that waits for its starter to go, however it goes, and then ends the
    worker. Forked from a fork server that imported the worker module (:func:`_fork_from_preloaded`),
    the process gets the thread from multiprocessing's after-fork hook and waits on the sentinel
    multiprocessing gives every process it starts (the connection to the process that asked for
    it, closed by the operating system when that process ends). Spawned (``FDE_FORK=0``, macOS,
    Windows), it imports the module itself and watches its parent — the starter — instead.
    """
    from multiprocessing import util

    if os.environ.get(START_ENV) == "spawn":  # a spawned process: its parent started it
        _watch_parent(os.getppid())
        return
    util.register_after_fork(_STARTER_WATCH, lambda _: _watch_sentinel())


class _StarterWatch:
    """The after-fork registration's anchor (multiprocessing keeps it by a weak reference)."""

    pid: int | None = None


_STARTER_WATCH = _StarterWatch()


def _start_watch(target: Callable[[], None]) -> None:
    import threading

    if _STARTER_WATCH.pid == os.getpid():
        return  # watching already
    _STARTER_WATCH.pid = os.getpid()
    threading.Thread(target=target, name="fde-exit-with-starter", daemon=True).start()


def _watch_sentinel() -> None:
    import multiprocessing

    starter = multiprocessing.parent_process()
    if starter is None:
        return

    def watch() -> None:
        starter.join()  # returns when the starter's sentinel closes: it is gone
        os._exit(0)

    _start_watch(watch)


def _watch_parent(parent: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:  # an orphan is adopted by another process
            time.sleep(0.5)
        os._exit(0)

    _start_watch(watch)


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


def module_workers(module: str) -> dict:
    """``{(task name, domain): record}`` of the @worker_task functions defined in ``module``."""
    import importlib

    from conductor.client.automator import task_handler

    if module not in _MODULE_WORKERS:
        registry = task_handler._decorated_functions
        before = dict(registry)
        if module in sys.modules:  # imported before we looked: run its decorators again to see them all
            importlib.reload(sys.modules[module])
        else:
            importlib.import_module(module)
        _MODULE_WORKERS[module] = {
            key: record for key, record in registry.items() if record["func"].__module__ == module
        }
        for key, record in before.items():  # a reload must not take another module's entry
            if record["func"].__module__ != module:
                registry[key] = record
    return _MODULE_WORKERS[module]


def _fork_from_preloaded(modules: Sequence[str]) -> None:
    """Worker processes (and their restarts after a crash) start from a fork server that has
    imported ``modules``: multiprocessing's ``forkserver`` method, in place of the ``spawn``
    conductor-python sets when it is imported. Both pickle what a process is given, so workers
    that run under one run under the other."""
    import multiprocessing
    from multiprocessing import forkserver

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return
    running = forkserver._forkserver._forkserver_pid is not None  # type: ignore[attr-defined]
    if running and _SERVER_ENVIRON.get("env") != _environment():
        # A fork server's children get the environment the server started with, not this
        # process's: after a change (another DATABASE_URL, FDE_HOME...) its workers would serve
        # the old database. Use a new server; the old one ends with this process (stopping it
        # waits for every process that inherited its pipe, which can be forever).
        _new_fork_server(forkserver)
    # (the preload list counts until this process's fork server starts)
    # (h2: conductor-python's HTTP client speaks HTTP/2 when it can, and imports h2 in each
    # worker process otherwise; a missing module is skipped by the server)
    multiprocessing.set_forkserver_preload(["conductor.client.automator.task_handler", "h2.connection", *modules])
    multiprocessing.set_start_method("forkserver", force=True)
    _SERVER_ENVIRON["env"] = _environment()


#: variables a worker does not read, set in a kernel between two starts of workers: the
#: practice magics switch jupysql's telemetry off (fdelib.practice.sqlcell). A change of one of
#: these alone does not cost a new fork server (about 2 s of CPU importing the worker modules).
NOT_FOR_WORKERS = frozenset({"PLOOMBER_STATS_ENABLED", "PLOOMBER_VERSION_CHECK_DISABLED"})


def _environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in NOT_FOR_WORKERS}


def _new_fork_server(forkserver) -> None:
    """Point multiprocessing's ``forkserver`` module (its singleton and the functions it
    exports from it, which process creation calls) at a new server, started on first use."""
    server = forkserver.ForkServer()
    forkserver._forkserver = server
    for name in ("ensure_running", "get_inherited_fds", "connect_to_new_process", "set_forkserver_preload"):
        setattr(forkserver, name, getattr(server, name))


#: the environment the fork server of :func:`_fork_from_preloaded` was (re)started with
_SERVER_ENVIRON: dict[str, dict[str, str]] = {}


class _Ready:
    """A conductor-python event listener (pickled into each worker process): the first poll
    a worker process completes leaves a file named after its task type and pid."""

    def __init__(self, folder: str):
        self.folder = folder
        self.seen = False

    def on_poll_completed(self, event) -> None:
        if not self.seen:
            self.seen = True
            with contextlib.suppress(OSError):  # a restart after Workers.stop removed the folder
                Path(self.folder, f"{event.task_type}.{os.getpid()}").touch()


class Workers:
    """``with Workers(["fdelib.oms.workers"], processes=2): ...`` — workers polling while inside.

    ``tasks`` keeps only the workers of those task types (e.g. one service's), so each service
    can be started, stopped and replaced on its own.
    """

    def __init__(
        self,
        modules: Sequence[str],
        processes: int = 1,
        settings: Settings | None = None,
        log_level: str = "ERROR",
        restart_check_seconds: float = 0.5,
        tasks: Sequence[str] | None = None,
        ready_timeout: float = 600,
    ):
        self._ready_dir: str | None = None
        self._reaper: subprocess.Popen | None = None
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

    def start(self) -> Workers:
        from conductor.client.automator import task_handler
        from conductor.client.automator.task_handler import TaskHandler

        from . import configuration

        chosen = {
            key: record
            for module in self.modules
            for key, record in module_workers(module).items()
            if self.tasks is None or key[0] in self.tasks
        }
        if not chosen:
            raise ValueError(
                f"no @worker_task in {', '.join(self.modules)}"
                + (f" for {', '.join(sorted(self.tasks))}" if self.tasks is not None else "")
            )
        # TaskHandler scans every @worker_task this process ever saw; keep it to ours
        registry = task_handler._decorated_functions
        saved = dict(registry)
        registry.clear()
        registry.update(chosen)

        os.environ[LOG_ENV] = str(self.log_file)
        os.environ["FDE_WORKER_LOG_PID"] = str(os.getpid())
        self._ready_dir = tempfile.mkdtemp(prefix="fde-workers-")
        os.environ[START_ENV] = "forkserver" if self.settings.fork else "spawn"
        if self.settings.fork:  # else conductor-python's own start method (spawn)
            _fork_from_preloaded(self.modules)
        with _stderr_to(self.log_file):
            for _ in range(self.processes):
                handler = TaskHandler(
                    workers=[],
                    configuration=configuration(self.settings, self.log_level),
                    scan_for_annotated_workers=True,
                    import_modules=None,
                    monitor_interval_seconds=self.restart_check_seconds,
                    restart_backoff_seconds=0.2,
                    restart_backoff_max_seconds=2,
                    event_listeners=[_Ready(self._ready_dir)],
                )
                handler.start_processes()
                self.handlers.append(handler)
        registry.clear()
        registry.update(saved)
        if not self.settings.fork:
            # spawned, conductor-python's log process imports no worker module, so it cannot
            # watch its starter itself (exit_with_starter): a reaper does it for it
            loggers = [str(h.logger_process.pid) for h in self.handlers if h.logger_process.pid]
            self._reaper = subprocess.Popen(
                [sys.executable, "-m", "fdelib.conductor.workers", "--reap", str(os.getpid()), *loggers],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        self._wait_until_polling()
        return self

    def _wait_until_polling(self) -> None:
        """Return once every worker process has completed a poll; fail (and stop them) if
        some have not within ``ready_timeout`` seconds."""
        expected = sum(len(handler.workers) for handler in self.handlers)
        deadline = time.monotonic() + self.ready_timeout
        while True:
            polled = os.listdir(self._ready_dir)
            if len(polled) >= expected:
                return
            if time.monotonic() > deadline:
                names = {w.get_task_definition_name() for h in self.handlers for w in h.workers}
                waiting = sorted(names - {name.rsplit(".", 1)[0] for name in polled})
                self.stop()
                raise StackError(
                    f"{expected - len(polled)} of {expected} worker processes did not poll "
                    f"the engine within {self.ready_timeout:.0f} s ({', '.join(waiting)}); "
                    f"see {self.settings.display_path(self.log_file)}"
                )
            time.sleep(0.02)

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
        if self._reaper is not None:
            self._reaper.kill()
            self._reaper.wait()
            self._reaper = None
        if self._ready_dir:
            shutil.rmtree(self._ready_dir, ignore_errors=True)
            self._ready_dir = None

    def pids(self, task_type: str | None = None) -> list[int]:
        """Process ids of the running worker processes (of one task type)."""
        found = []
        for handler in self.handlers:
            for status in handler.get_worker_process_status():
                ours = task_type is None or task_type in (status.get("worker"), status.get("task_type"))
                if ours and status.get("pid"):
                    found.append(status["pid"])
        return found

    def __enter__(self) -> Workers:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def reap(starter: int, pids: Sequence[int]) -> None:
    """Wait for ``starter`` to end, then end ``pids`` (those still running since before it ended)."""
    import psutil

    watched = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            watched.append(psutil.Process(pid))
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(starter).wait()
    for process in watched:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()  # psutil checks it is the same process (its start time)


if __name__ == "__main__" and sys.argv[1:2] == ["--reap"]:
    reap(int(sys.argv[2]), [int(pid) for pid in sys.argv[3:]])
