"""``%%sql`` cells (jupysql) against the course database, logged in as the ``learner`` role.

``%load_ext fdelib.practice`` calls :func:`load`: it switches off ploomber-core's telemetry
and version check (jupysql's dependency; there is no network, and a course should not
report on its learners), loads jupysql, connects it as ``learner`` and quietens its
connection banners so stored outputs are the same on every machine (settings are made
here, not in a ``[tool.jupysql]`` section, whose loading prints machine-specific paths). Before each ``%%sql``
cell, read grants on tables created since are refreshed (one catalog query when nothing
changed).

An exercise's answer cell starts with ``%%sql --save ID``: jupysql keeps the text under
``ID`` and the check reads it back with :func:`saved`.
"""

from __future__ import annotations

import logging
import os
from typing import Any

# Telemetry and the "new version available" check of ploomber-core: off, before jupysql
# (or anything else) imports it. CI sets CI=true, which also turns telemetry off.
TELEMETRY_OFF = {"PLOOMBER_STATS_ENABLED": "false", "PLOOMBER_VERSION_CHECK_DISABLED": "true"}
ALIAS = "learner"
SETTINGS = {  # jupysql options (``%config SqlMagic.<name> = <value>``)
    "displaycon": False,  # no "Running query in postgresql://..." banner (machine-specific)
    "feedback": 0,  # nor "N rows affected"
    "displaylimit": 20,
    "short_errors": True,  # a SQL error as one message, not a Python traceback
}


def switch_off_telemetry() -> None:
    os.environ.update(TELEMETRY_OFF)


def load(shell) -> None:
    """Load jupysql into ``shell`` and connect it as the learner."""
    switch_off_telemetry()
    # jupysql parses each cell with sqlglot, which warns that a PL/pgSQL body ($$ ... $$) is
    # "unsupported syntax" and falls back to sending it as is (which is right): not for learners.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    from . import learner

    why_not = learner.unavailable()
    from IPython.utils.capture import capture_output

    # jupysql looks for a [tool.jupysql] section in the nearest pyproject.toml (ours, which
    # has none) and, lacking the `toml` package, prints an install tip: not for learners.
    with capture_output(display=True):
        shell.run_line_magic("load_ext", "sql")
    for name, value in SETTINGS.items():
        shell.run_line_magic("config", f"SqlMagic.{name} = {value!r}")
    connect(shell, learner.sql_engine())
    if why_not:
        print(
            f"practice: %%sql cells and checks run as the application role: {why_not} "
            "(set DATABASE_ADMIN_URL to a role with CREATEROLE for the learner's sandbox)"
        )
    if _before_cell not in shell.events.callbacks["pre_run_cell"]:
        shell.events.register("pre_run_cell", _before_cell)


def connect(shell, engine) -> None:
    from sql.connection import ConnectionManager

    magic = shell.magics_manager.registry["SqlMagic"]
    ConnectionManager.set(engine, displaycon=False, alias=ALIAS, config=magic)


def _before_cell(info: Any) -> None:
    source = (getattr(info, "raw_cell", "") or "").lstrip()
    if source.startswith("%%sql") or source.startswith("%sql"):
        from . import learner

        learner.refresh()


def saved(name: str) -> str | None:
    """The text of the ``%%sql --save NAME`` cell as last run (None if never run)."""
    from sql.store import store

    if name not in store._data:  # (its __contains__ raises UsageError for a missing key)
        return None
    return str(store[name])
