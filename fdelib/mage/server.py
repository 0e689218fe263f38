"""Mage's UI in the background: ``fde mage`` starts it, ``fde down`` stops it, ``fde status`` shows it.

``mage start mage`` serves the project on loopback only (Mage binds every interface unless given a
host), against the course database and the offline stand-in (:mod:`.process`; the stand-in is
served inside Mage's process, as the UI outlives the command that started it). Like the local
workflow engine it belongs to no notebook: its pid and address live in ``$FDE_HOME/mage.json``,
its output in ``$FDE_HOME/mage.log``; a dead pid there means "not running".

Mage asks for a sign-in (its UI has a code editor and a terminal: on a shared machine, loopback
alone is not enough). Its owner account is created on its first start from a password generated
for this ``$FDE_HOME`` and kept in ``$FDE_HOME/mage/login.json`` (readable by you only), as
JupyterLab's token is; ``fde mage`` prints it.

Mage moves to the next port when its port is taken: the address it really serves is read from its
log. It runs in a process group of its own (its scheduler and kernels with it), stopped together.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import requests

from ..config import DEFAULTS, Settings, get_settings
from ..errors import StackError
from . import PROJECT, env, process

STATE_FILE = "mage.json"
OWNER = {"email": "learner@fde.example.com", "username": "learner"}
DEFAULT_PORT = int(DEFAULTS.get("MAGE_PORT", "6789"))
_SERVING = re.compile(r"Mage is running at (http://\S+?)(?:/)? and serving project")


def _paths(settings: Settings) -> tuple[Path, Path]:
    return settings.home / STATE_FILE, settings.home / "mage.log"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"  # a zombie has exited
    except (OSError, IndexError):
        return False


def _is_mage(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            command = f.read().split(b"\0")
    except OSError:
        return False
    return b"mage_ai.cli.main" in command and b"start" in command


def running(settings: Settings | None = None) -> dict | None:
    """``{"pid", "url"}`` of the Mage UI serving this ``$FDE_HOME``, or None."""
    settings = settings or get_settings()
    try:
        state = json.loads(_paths(settings)[0].read_text())
    except (OSError, ValueError):
        return None
    if not (_alive(state.get("pid", -1)) and _is_mage(state["pid"])):
        return None
    try:
        requests.get(state["url"] + "/api/status", timeout=3).raise_for_status()
    except requests.RequestException:
        return None
    return state


def start(settings: Settings | None = None, port: int = DEFAULT_PORT, timeout: float = 300) -> str:
    """The UI's address, starting Mage first if it is not running (its environment too, if missing)."""
    from ..cli import port_is_free

    settings = settings or get_settings()
    state = running(settings)
    if state:
        return state["url"]
    if not port_is_free(port):
        raise StackError(f"port {port} is busy on 127.0.0.1; pick another with `fde mage --port N`")
    env.ensure(settings, echo=True)
    stop(settings)  # a dead one's state file
    state_file, log_file = _paths(settings)
    command = [
        *env.mage_command(settings),
        "start",
        str(settings.project_root / PROJECT),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    environ = process.environment(settings)
    owner = login(settings)
    environ.update(
        DEFAULT_OWNER_EMAIL=owner["email"],
        DEFAULT_OWNER_USERNAME=owner["username"],
        DEFAULT_OWNER_PASSWORD=owner["password"],
    )
    with process.open_private(log_file, append=True) as log:
        log.write(f"\n$ {' '.join(command)}\n".encode())
        log.flush()
        offset = log.tell()  # this start's lines come after
        proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=environ,
            cwd=process.mage_data_dir(settings),
            start_new_session=True,
            umask=process.UMASK,  # mage-ai.db and all Mage writes: 0600 from the start
        )
    deadline = time.monotonic() + timeout
    url = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"Mage exited at start (code {proc.returncode}); see {settings.display_path(log_file)}")
        if url is None:
            found = _SERVING.search(_tail(log_file, offset))
            url = found and found.group(1).rstrip("/")
        if url and _answers(url):
            with process.open_private(state_file) as state:
                state.write(json.dumps({"pid": proc.pid, "url": url}).encode())
            return url
        time.sleep(0.5)
    _stop_group(proc.pid)
    raise StackError(f"Mage did not answer within {timeout:.0f} s; see {settings.display_path(log_file)}")


def login(settings: Settings | None = None) -> dict[str, str]:
    """The UI's sign-in: ``{"email", "username", "password"}``, generated on first use.

    Mage creates its owner account from it on its first start. A Mage database whose owner was made
    from a sign-in since lost is set aside (``mage-ai.db.lost-login``: Mage's run history), so the
    next start creates the owner anew."""
    settings = settings or get_settings()
    path = process.private_data_dir(settings) / "login.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    database = process.mage_data_dir(settings) / PROJECT / "mage-ai.db"
    if _has_users(database):
        database.rename(database.with_name("mage-ai.db.lost-login"))
    owner = {**OWNER, "password": secrets.token_urlsafe(12)}
    path.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(owner, f)
    return owner


def _has_users(database: Path) -> bool:
    if not database.exists():
        return False
    try:
        with contextlib.closing(sqlite3.connect(database)) as conn:
            return conn.execute("SELECT count(*) FROM user").fetchone()[0] > 0
    except sqlite3.Error:
        return False


def stop(settings: Settings | None = None, timeout: float = 15) -> bool:
    """Stop the UI (Mage and its scheduler and kernels); True if it was running."""
    settings = settings or get_settings()
    state_file = _paths(settings)[0]
    try:
        pid = json.loads(state_file.read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return False
    was_running = _alive(pid) and _is_mage(pid)  # never signal a process that reused the pid
    if was_running:
        _stop_group(pid, timeout)
    state_file.unlink(missing_ok=True)
    return was_running


def _stop_group(pid: int, timeout: float = 15) -> None:
    """SIGTERM to Mage's process group (it leads it), SIGKILL to what is left after ``timeout``."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)  # the scheduler and kernels, if they lingered
    deadline = time.monotonic() + 10  # a killed process takes a moment to be gone
    while _group_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _group_alive(group: int) -> bool:
    """Whether a process of process group ``group`` still runs (zombies do not count)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            state, _, pgrp = (proc / "stat").read_text().split(") ", 1)[1].split()[:3]
        except (OSError, ValueError, IndexError):
            continue
        if int(pgrp) == group and state != "Z":
            return True
    return False


def _tail(path: Path, offset: int) -> str:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


def _answers(url: str) -> bool:
    try:
        return requests.get(url + "/api/status", timeout=3).ok
    except requests.RequestException:
        return False


def describe(settings: Settings | None = None) -> str:
    """One line for ``fde status``."""
    settings = settings or get_settings()
    state = running(settings)
    if state:
        return f"UI running: {state['url']} (pid {state['pid']})"
    return f"UI not running (fde mage starts it); environment {env.describe(settings)}"
