"""Start, find and stop the local engine: a background process like the embedded database.

``fde up`` starts it; it survives the notebook or test that started it and is stopped by
``fde down``. Its pid and address live in ``$FDE_HOME/conductor.json``; a dead pid there
means "not running" (and it is started again on next use).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import fasteners
import requests

from ..config import Settings, get_settings
from ..errors import StackError

STATE_FILE = "conductor.json"


def code_version() -> str:
    """A fingerprint of the engine's code: an engine started from older code is restarted."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")) + [Path(__file__).with_name("schema.sql")]:
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
    try:   # a zombie (exited, not yet reaped) is not alive
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


def start(settings: Settings | None = None, timeout: float = 30) -> str:
    """The engine's API URL, starting it first if it is not running."""
    settings = settings or get_settings()
    state_file, log_file, lock_file = _paths(settings)
    settings.home.mkdir(parents=True, exist_ok=True)
    with fasteners.InterProcessLock(str(lock_file)):
        state = running(settings)
        if state:
            return state["url"]
        stop(settings)   # an engine from older code, or a dead one's state file
        state_file.unlink(missing_ok=True)
        with open(log_file, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "fdelib.conductor.server", "--state", str(state_file)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=settings.project_root)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StackError(f"the local workflow engine exited at start (code {process.returncode}); "
                                 f"see {settings.display_path(log_file)}")
            state = running(settings)
            if state:
                return state["url"]
            time.sleep(0.05)
        process.terminate()
        raise StackError(f"the local workflow engine did not answer within {timeout:.0f} s; "
                         f"see {settings.display_path(log_file)}")


def stop(settings: Settings | None = None, timeout: float = 10) -> bool:
    """Stop the engine; True if one was running."""
    settings = settings or get_settings()
    state_file = _paths(settings)[0]
    try:
        pid = json.loads(state_file.read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return False
    was_running = _alive(pid) and _is_engine(pid)   # never signal a process that reused the pid
    if was_running:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    state_file.unlink(missing_ok=True)
    return was_running
