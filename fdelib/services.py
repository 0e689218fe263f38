"""Background services: one way to start, find, check and stop a long-running server.

The course runs servers that belong to no notebook — the real Conductor OSS server today,
and (issue 28) the local workflow engine, Mage's UI and PostgreSQL later. Each is a
:class:`Service`: a command, a port on 127.0.0.1, a health check and a name. This module
keeps, for every one, the same rules:

* its state lives in ``$FDE_HOME/services/<name>.json`` (pid, the process's start time,
  url, port, what was started) and its output in ``$FDE_HOME/logs/<name>.log``;
* it is alive when that pid is a running, non-zombie process started at the recorded time
  whose command line still holds the service's marker (a reused pid is never taken for it,
  and never signalled); liveness comes from psutil, so it works wherever psutil does;
* it starts in a process group of its own (it survives the notebook, test or command that
  started it; its children are stopped with it), after a check that its port is free,
  and a start waits for its health check with progress shown;
* it stops with SIGTERM to its group, then SIGKILL to what is left after a bounded wait;
* ``status_line`` is its row in ``fde status``.

Starting and stopping one service is serialised across processes by a lock in ``$FDE_HOME``.
This module imports nothing from the command line (``fdelib.cli``) or from a service's own
package: services describe themselves, this module runs them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import fasteners
import psutil
import requests

from .errors import StackError

STATE_DIR = "services"
LOG_DIR = "logs"


@dataclasses.dataclass(frozen=True)
class Service:
    """What a background service is: how to run it and how to tell that it serves.

    ``marker`` is a string its command line holds (``fdelib.conductor.server``, a jar's
    name): with the recorded start time it guards against a pid the system gave to another
    program. ``health`` is a URL that answers 2xx when the service is ready, or a callable
    returning True then. ``port_setting`` names the setting to change when the port is taken.
    """

    name: str  # file names: services/<name>.json, logs/<name>.log
    label: str  # for people: "Conductor OSS 3.32.1"
    home: Path  # $FDE_HOME
    command: tuple[str, ...]
    marker: str
    url: str  # what clients use once it serves
    port: int | None = None
    health: str | Callable[[], bool] | None = None
    port_setting: str | None = None
    cwd: Path | None = None
    env: Mapping[str, str] | None = None  # the whole environment (None: this process's)
    start_timeout: float = 120.0
    stop_timeout: float = 15.0
    info: Mapping[str, object] = dataclasses.field(default_factory=dict)  # kept in the state file

    @property
    def state_file(self) -> Path:
        return self.home / STATE_DIR / f"{self.name}.json"

    @property
    def log_file(self) -> Path:
        return self.home / LOG_DIR / f"{self.name}.log"

    @property
    def lock_file(self) -> Path:
        return self.home / STATE_DIR / f"{self.name}.lock"


# --- liveness ----------------------------------------------------------------------------


def process_alive(pid: int, marker: str | None = None, started: float | None = None) -> bool:
    """Whether ``pid`` runs (a zombie has exited), holds ``marker`` in its command line and was
    started at ``started`` (psutil's create_time, within 2 s: a process reads the boot time anew)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if started is not None and abs(proc.create_time() - started) > 2:  # boot time jitters by ~1 s
            return False
        if marker is not None and not any(marker in part for part in proc.cmdline()):
            return False
    except psutil.AccessDenied:
        return marker is None  # another user's process: never ours to claim
    except (psutil.NoSuchProcess, psutil.ZombieProcess, ValueError):
        return False
    return True


def read_state(service: Service) -> dict | None:
    """The state file's content, or None when there is none (or it is unreadable)."""
    try:
        state = json.loads(service.state_file.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and isinstance(state.get("pid"), int) else None


def alive(service: Service) -> dict | None:
    """The state of the service's process if it runs (healthy or not yet), else None."""
    state = read_state(service)
    if state and process_alive(state["pid"], service.marker, state.get("started")):
        return state
    return None


def healthy(service: Service, timeout: float = 5.0) -> bool:
    """Whether the service answers its health check now."""
    check = service.health
    if check is None:
        return service.port is not None and port_open(service.port)
    if callable(check):
        try:
            return bool(check())
        except Exception:  # a health check that raises means "not healthy", whatever it raised
            return False
    try:
        return requests.get(check, timeout=timeout).ok
    except requests.RequestException:
        return False


def running(service: Service) -> dict | None:
    """The state of the service if its process runs and it answers its health check."""
    state = alive(service)
    return state if state and healthy(service) else None


# --- ports -------------------------------------------------------------------------------


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could bind ``host:port`` now (as servers bind: SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise StackError(f"port {port} on {host} cannot be used ({exc.strerror})") from None
    return True


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """Whether something accepts connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _port_taken(service: Service) -> StackError:
    fix = f"set {service.port_setting} to a free port (in .env or the environment), or " if service.port_setting else ""
    return StackError(
        f"{service.label} cannot listen on 127.0.0.1:{service.port}: another program listens there; "
        f"{fix}stop what holds it"
    )


# --- start and stop ----------------------------------------------------------------------


def start(service: Service, progress: Callable[[str], None] | None = None) -> dict:
    """The service's state, starting it first if it does not serve yet.

    ``progress`` receives a line now and then while the start waits (seconds so far); the
    start fails with a message naming the log when the process exits or the health check
    does not pass within ``start_timeout``.
    """
    service.state_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    service.log_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with fasteners.InterProcessLock(str(service.lock_file)):
        state = alive(service)
        if state and state.get("command") == list(service.command):
            return _wait_healthy(service, state, None, progress)
        if state:  # started with other settings (another port, another version): restart
            _note(service, f"stopping pid {state['pid']}: it was started with other settings")
            _stop_locked(service)
        service.state_file.unlink(missing_ok=True)
        if service.port is not None and not port_free(service.port):
            raise _port_taken(service)
        with open(service.log_file, "ab") as log:
            os.chmod(service.log_file, 0o600)
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {service.label}\n".encode())
            log.flush()
            process = subprocess.Popen(
                list(service.command),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=service.cwd,
                env=dict(service.env) if service.env is not None else None,
                start_new_session=True,  # its own process group: outlives us, stops with its children
            )
        try:
            started = psutil.Process(process.pid).create_time()
        except psutil.NoSuchProcess:
            started = None
        state = {
            "pid": process.pid,
            "started": started,
            "url": service.url,
            "port": service.port,
            "command": list(service.command),
            **service.info,
        }
        _write_state(service, state)
        return _wait_healthy(service, state, process, progress)


def _write_state(service: Service, state: dict) -> None:
    temp = service.state_file.with_suffix(".tmp")
    with os.fdopen(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(state, f)
    temp.replace(service.state_file)


def _wait_healthy(
    service: Service, state: dict, process: subprocess.Popen | None, progress: Callable[[str], None] | None
) -> dict:
    began = time.monotonic()
    deadline = began + service.start_timeout
    said = 0.0
    while time.monotonic() < deadline:
        if healthy(service):
            if progress and process is not None:
                progress(f"{service.label} ready after {time.monotonic() - began:.1f} s: {service.url}")
            return state
        # the process we started: its own exit status says (its command line may still be ours,
        # between fork and exec, so the marker is only for a process found from its state file)
        exited = process.poll() if process is not None else None
        gone = (
            exited is not None
            if process is not None
            else not process_alive(state["pid"], service.marker, state.get("started"))
        )
        if gone:
            service.state_file.unlink(missing_ok=True)
            if service.port is not None and not port_free(service.port):
                raise _port_taken(service)  # another process took the port between check and bind
            code = f" (code {exited})" if exited is not None else ""
            raise StackError(f"{service.label} exited at start{code}; see {service.log_file}")
        waited = time.monotonic() - began
        if progress and waited - said >= 10:
            said = waited
            progress(f"waiting for {service.label} to answer ... {waited:.0f} s")
        time.sleep(0.2)
    _note(service, f"stopping pid {state['pid']}: no answer within {service.start_timeout:.0f} s")
    _stop_locked(service)
    raise StackError(
        f"{service.label} did not answer within {service.start_timeout:.0f} s (the machine may be busy); "
        f"see {service.log_file}"
    )


def stop(service: Service) -> bool:
    """Stop the service and its process group; True if it was running."""
    if not service.state_file.exists():
        return False
    with fasteners.InterProcessLock(str(service.lock_file)):
        _note(service, f"stop requested by pid {os.getpid()}")
        return _stop_locked(service)


def _note(service: Service, line: str) -> None:
    """A line in the service's log: why it was stopped or restarted."""
    with contextlib.suppress(OSError), open(service.log_file, "a") as log:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")


def _stop_locked(service: Service) -> bool:
    state = read_state(service)
    was_running = state is not None and process_alive(state["pid"], service.marker, state.get("started"))
    if state is not None and was_running:
        stop_group(state["pid"], service.stop_timeout)
    service.state_file.unlink(missing_ok=True)
    return was_running


def stop_group(leader: int, timeout: float = 15.0) -> None:
    """SIGTERM to the process group ``leader`` leads, SIGKILL to what is left after ``timeout``.

    Returns once no process of the group runs (or 10 s after the SIGKILL)."""
    members = _group(leader)
    _signal_group(leader, signal.SIGTERM)
    _, left = psutil.wait_procs(members, timeout=timeout)
    if left or _group(leader):
        _signal_group(leader, getattr(signal, "SIGKILL", signal.SIGTERM))
        psutil.wait_procs(_group(leader) or left, timeout=10)


def _signal_group(leader: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if hasattr(os, "killpg"):
            os.killpg(leader, sig)
        else:  # pragma: no cover - Windows: no process groups to signal
            os.kill(leader, sig)


def _group(leader: int) -> list[psutil.Process]:
    """The running processes of process group ``leader`` (the leader first, if it runs)."""
    found = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if hasattr(os, "getpgid") and os.getpgid(proc.pid) == leader:
                found.append(proc)
        except (ProcessLookupError, psutil.Error, OSError):
            continue
    return sorted(found, key=lambda p: p.pid != leader)


# --- status ------------------------------------------------------------------------------


def memory_mb(pid: int) -> float | None:
    """Resident memory of ``pid`` in MB, or None if it cannot be read."""
    try:
        return psutil.Process(pid).memory_info().rss / 2**20
    except psutil.Error:
        return None


def status_line(service: Service, not_running: str = "not running") -> str:
    """One line for ``fde status``: serving (url, pid, memory), starting, or ``not_running``."""
    state = alive(service)
    if not state:
        return not_running
    rss = memory_mb(state["pid"])
    memory = f", {rss:.0f} MB" if rss is not None else ""
    if healthy(service):
        return f"{service.label} running: {state['url']} (pid {state['pid']}{memory})"
    return f"{service.label} starting or not answering (pid {state['pid']}{memory}); see {service.log_file}"


def echo(line: str) -> None:
    """A ``progress`` callback for commands: the line on stderr."""
    print(line, file=sys.stderr, flush=True)


__all__ = [
    "Service",
    "alive",
    "echo",
    "healthy",
    "memory_mb",
    "port_free",
    "port_open",
    "process_alive",
    "read_state",
    "running",
    "start",
    "status_line",
    "stop",
    "stop_group",
]
