"""What a Mage process is told: the course's settings, made explicit in its environment.

Mage runs in its own interpreter (:mod:`.env`), so it cannot ask this process for anything: the
settings travel as environment variables, the same names fdelib reads everywhere —

* ``DATABASE_URL``: the course database. The embedded PostgreSQL listens on a Unix socket only,
  so its URL names the socket's folder (``postgresql+psycopg2://fde@/fde?host=/…``); a Mage
  process on this machine connects to it like any client, and never starts or stops it;
* ``FDE_MODE``, ``ALPHAVANTAGE_API_KEY``: offline or live, and the key;
* ``FDE_ALPHAVANTAGE_URL`` (offline): the Alpha Vantage stand-in to call — this process's, so the
  seed and faults a lesson or a test switches on reach Mage's blocks. Without it (Mage's UI, which
  outlives the process that started it) the blocks serve the same stand-in in Mage's process,
  seeded by the pipeline's ``seed`` variable: same seed, same bytes;
* ``FDE_HOME``, ``FDE_DATA_DIR``, ``FDE_PROJECT_ROOT``: where the exports go;
* ``MAGE_DATA_DIR``: where Mage keeps its own state (run history, block outputs, logs, its SQLite
  database) — ``$FDE_HOME/mage``, never inside the repository. It is private from its first
  creation, like the rest of ``$FDE_HOME``: :func:`private_data_dir` makes it (and the project's
  folder in it) 0700 before Mage starts, and every Mage process runs with :data:`UMASK`, so what
  Mage writes there — ``mage-ai.db`` with the owner's password hash and session tokens, its
  journal, logs — is 0600 from the moment it exists.

``FDE_ENV_FILE=none``: the variables above are the whole truth; a ``.env`` must not contradict them.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..config import Settings, get_settings
from . import PROJECT

#: the umask of every Mage process (``subprocess``'s ``umask=``): its files 0600, its folders 0700
UMASK = 0o077

STAND_IN_URL = "FDE_ALPHAVANTAGE_URL"
# the course's environment that must not leak into Mage's interpreter
_DROP = (
    "PYTHONPATH",
    "PYTHONHOME",
    "VIRTUAL_ENV",
    "DATABASE_URL",
    "ALPHAVANTAGE_API_KEY",
    STAND_IN_URL,
    "JPY_PARENT_PID",
    "JPY_SESSION_NAME",
    "MPLBACKEND",
)


def mage_data_dir(settings: Settings | None = None) -> Path:
    """Where Mage keeps its state (``MAGE_DATA_DIR``)."""
    return (settings or get_settings()).home / "mage"


def private_data_dir(settings: Settings | None = None) -> Path:
    """Mage's data folder, made private (0700, the project's folder in it too) before Mage writes;
    files an earlier version left open to others are closed (0600)."""
    data = mage_data_dir(settings)
    for folder in (data, data / PROJECT):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    me = os.geteuid()
    for path in (data, *data.rglob("*")):
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        if info.st_uid == me and not stat.S_ISLNK(info.st_mode) and stat.S_IMODE(info.st_mode) & 0o077:
            path.chmod(0o700 if stat.S_ISDIR(info.st_mode) else 0o600)
    return data


def open_private(path: Path, append: bool = False):
    """A file of Mage's data or logs, opened for writing, readable by its owner only."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab" if append else "wb")


def environment(settings: Settings | None = None, *, stand_in_url: str | None = None) -> dict[str, str]:
    """The environment of a Mage process (starts the embedded database if it is not running)."""
    from .. import stack

    settings = settings or get_settings()
    database_url = stack.up(settings)
    data = private_data_dir(settings)
    environ = {k: v for k, v in os.environ.items() if k not in _DROP}
    environ.update(
        {
            "DATABASE_URL": database_url,
            "FDE_MODE": settings.mode,
            "FDE_HOME": str(settings.home),
            "FDE_DATA_DIR": str(settings.data_dir),
            "FDE_RUNS_DIR": str(settings.runs_dir),
            "FDE_PROJECT_ROOT": str(settings.project_root),
            "FDE_ENV_FILE": "none",
            "MAGE_DATA_DIR": str(data),
            "DISABLE_AUTO_BROWSER_OPEN": "true",  # Mage would open a browser tab
            "_TYPER_STANDARD_TRACEBACK": "1",  # plain tracebacks from `mage run`: the error on one line
            "COLUMNS": "200",
        }
    )
    if settings.alphavantage_api_key:
        environ["ALPHAVANTAGE_API_KEY"] = settings.alphavantage_api_key
    if stand_in_url and not settings.live:
        environ[STAND_IN_URL] = stand_in_url
    return environ
