"""Start, find and stop the local engine: a background process like the embedded database.

``fde up`` starts it; it survives the notebook or test that started it and is stopped by
``fde down``. Its pid and address live in ``$FDE_HOME/conductor.json``; a dead pid there
means "not running" (and it is started again on next use).

It always listens on the same address, ``http://127.0.0.1:$FDE_ENGINE_PORT/api`` (8127 by
default): an engine that was killed comes back where workers and notebooks already point,
and their next poll or request reaches it. A port taken by another program is an error that
names the setting — never a silent move to another port.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import fasteners
import requests

from ..config import Settings, get_settings
from ..errors import StackError

STATE_FILE = "conductor.json"


def code_version() -> str:
    """A fingerprint of the engine's code: an engine started from older code is restarted."""
    import hashlib

    digest = hashlib.sha256()
    for path in [*sorted(Path(__file__).parent.glob("*.py")), Path(__file__).with_name("schema.sql")]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _paths(settings: Settings) -> tuple[Path, Path, Path]:
    home = settings.home
    return home / STATE_FILE, home / "conductor.log", home / "conductor.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def _is_engine(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"fdelib.conductor.server" in f.read()
    except OSError:
        return False


def url(settings: Settings | None = None) -> str:
    """The local engine's API address: the same before and after any restart."""
    return f"http://127.0.0.1:{(settings or get_settings()).engine_port}/api"


def port_holder(port: int) -> str | None:
    """Why ``port`` on 127.0.0.1 cannot be ours, or None if it is free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind(("127.0.0.1", port))
            return None
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return f"it cannot be used ({exc.strerror})"
    from .server import ENGINE_HEADER

    try:
        engine = requests.get(f"http://127.0.0.1:{port}/api/health", timeout=2).headers.get(ENGINE_HEADER)
    except requests.RequestException:
        engine = None
    if engine == "fdelib":
        return "another fdelib workflow engine serves it (another project folder or FDE_HOME)"
    return "another program listens on it"


def _port_taken(settings: Settings, holder: str) -> StackError:
    return StackError(
        f"the local workflow engine cannot listen on 127.0.0.1:{settings.engine_port}: "
        f"{holder}. Set FDE_ENGINE_PORT to a free port (in .env or the environment), "
        "or stop what holds it"
    )


def running(settings: Settings | None = None) -> dict | None:
    """``{"pid", "url"}`` of the engine serving this ``$FDE_HOME``, or None."""
    settings = settings or get_settings()
    state_file = _paths(settings)[0]
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return None
    if not _alive(state.get("pid", -1)) or state.get("version") != code_version():
        return None
    try:
        requests.get(state["url"] + "/health", timeout=2).raise_for_status()
    except requests.RequestException:
        return None
    return state


def start(settings: Settings | None = None, timeout: float = 120) -> str:
    """The engine's API URL, starting it first if it is not running.

    A killed engine (its state file names a dead pid) is started again at the same
    address; one serving another port (``FDE_ENGINE_PORT`` changed) is moved to the new one.
    """
    settings = settings or get_settings()
    state_file, log_file, lock_file = _paths(settings)
    settings.home.mkdir(parents=True, exist_ok=True)
    with fasteners.InterProcessLock(str(lock_file)):
        state = running(settings)
        if state and urlsplit(state["url"]).port == settings.engine_port:
            return state["url"]
        stop(settings)  # an engine from older code or on another port, or a dead one's state file
        state_file.unlink(missing_ok=True)
        holder = port_holder(settings.engine_port)
        if holder:
            raise _port_taken(settings, holder)
        with open(log_file, "ab") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "fdelib.conductor.server",
                    "--port",
                    str(settings.engine_port),
                    "--state",
                    str(state_file),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=settings.project_root,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                holder = port_holder(settings.engine_port)
                if holder:  # another process took the port between the check and the bind
                    raise _port_taken(settings, holder)
                raise StackError(
                    f"the local workflow engine exited at start (code {process.returncode}); "
                    f"see {settings.display_path(log_file)}"
                )
            state = running(settings)
            if state:
                return state["url"]
            time.sleep(0.05)
        process.terminate()
        raise StackError(
            f"the local workflow engine did not answer within {timeout:.0f} s; see {settings.display_path(log_file)}"
        )


def stop(settings: Settings | None = None, timeout: float = 10) -> bool:
    """Stop the engine; True if one was running."""
    settings = settings or get_settings()
    state_file = _paths(settings)[0]
    try:
        pid = json.loads(state_file.read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return False
    was_running = _alive(pid) and _is_engine(pid)  # never signal a process that reused the pid
    if was_running:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    state_file.unlink(missing_ok=True)
    return was_running
