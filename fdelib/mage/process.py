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
  database) — ``$FDE_HOME/mage``, never inside the repository.

``FDE_ENV_FILE=none``: the variables above are the whole truth; a ``.env`` must not contradict them.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..config import Settings, get_settings

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


def environment(settings: Settings | None = None, *, stand_in_url: str | None = None) -> dict[str, str]:
    """The environment of a Mage process (starts the embedded database if it is not running)."""
    from .. import stack

    settings = settings or get_settings()
    database_url = stack.up(settings)
    data = mage_data_dir(settings)
    data.mkdir(parents=True, exist_ok=True)
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
