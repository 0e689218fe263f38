"""Test session set-up: a private embedded PostgreSQL, never the learner's.

This runs before any test module imports fdelib settings, and before nbval starts a
kernel (kernels inherit the environment), so unit tests and notebooks share one
temporary server for the whole session. A learner's ``.env`` and ``DATABASE_URL`` are
ignored; the server is stopped and its folder deleted at the end.

With pytest-xdist (``make test`` runs ``-n 2 --dist loadfile``) every worker process gets a
home of its own under the session's, ``$FDE_TEST_HOME/gw0`` ...: its own embedded server,
local workflow engine, workers and kernels. Two notebooks (or tests) on different workers
cannot see each other's tables, queues or workflows; on one worker they run one after the
other, as in a serial run.
"""

import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

_OWN_HOME = "FDE_TEST_HOME" not in os.environ
if _OWN_HOME:
    # /tmp, not the project folder: no spaces, short socket path, and never the learner's data.
    os.environ["FDE_TEST_HOME"] = tempfile.mkdtemp(prefix="fde-test-", dir="/tmp")
    os.environ["FDE_TEST_HOME_OWNED"] = os.environ["FDE_TEST_HOME"]  # xdist workers inherit it
SESSION_HOME = Path(os.environ["FDE_TEST_HOME"])
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # set by xdist before this file is imported
HOME = SESSION_HOME / WORKER if WORKER else SESSION_HOME
HOME.mkdir(parents=True, exist_ok=True)
if _OWN_HOME or WORKER:
    # this process's workflow engine on a free port: never the learner's (or another checkout's,
    # or another xdist worker's) fixed one
    with socket.socket() as _probe:
        _probe.bind(("127.0.0.1", 0))
        os.environ["FDE_ENGINE_PORT"] = str(_probe.getsockname()[1])
os.environ["FDE_HOME"] = str(HOME)
os.environ["FDE_DATA_DIR"] = str(HOME / "data")
os.environ["FDE_ENV_FILE"] = "none"
os.environ["FDE_MODE"] = "offline"
for name in (
    "DATABASE_URL",
    "CONDUCTOR_SERVER_URL",
    "ALPHAVANTAGE_API_KEY",
    "OPENFIGI_API_KEY",
    "PERMID_API_KEY",
    "GLEIF_BIC_LEI_URL",
    "GLEIF_ISIN_LEI_URL",
):
    os.environ.pop(name, None)

from fdelib import config, db, runner, stack  # noqa: E402  (after the environment is set)

# Kernels and worker processes import fdelib; with PYTHONDONTWRITEBYTECODE set they would
# compile every module they import again (the controller does it once for the session).
if not WORKER:
    runner.compile_library()


@pytest.fixture(scope="session")
def settings() -> config.Settings:
    return config.reload()


@pytest.fixture(scope="session")
def engine(settings):
    return db.get_engine(settings)


def pytest_sessionfinish(session, exitstatus):
    """Stop this process's server and engine and delete its home — when this session made it
    (a worker always owns its own home under a session home the controller made)."""
    owned = os.environ.get("FDE_TEST_HOME_OWNED") == str(SESSION_HOME)
    if not owned:
        return
    db.dispose_engines()
    try:
        stack.down(config.reload())
    finally:
        shutil.rmtree(HOME, ignore_errors=True)


# --- `make check`: the edit-test loop (lint, types and the fast tests, well under a minute) -------
# The slow parts of the suite are marked here, in one place, so `pytest -m "not slow"` leaves them
# out: every notebook (nbval), the notebook runs with other parameters and as practice copies, the
# browser, Mage's runs, the benchmarks' smoke runs, the concurrency storms and the SDK clients.
# A test may also carry @pytest.mark.slow itself. `make test` runs everything.
SLOW_MODULES = (
    "tests/test_browser",  # every test_browser*.py
    "tests/test_notebooks.py",
    "tests/test_notebook_parameters.py",
    "tests/test_mage.py",
    "tests/test_benchmarks.py",
    "tests/test_external_db.py",
    "tests/bank/test_bank_concurrency.py",
    "tests/bank/test_bank_upgrade.py",
    "tests/conductor/test_clients.py",
    "tests/conductor/test_oss",
    "tests/etl/test_etl_concurrency.py",
    "tests/practice/test_practice_copies.py",
    "tests/practice/test_alternatives.py",
    "tests/test_site.py",
)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: left out of `make check` (runs in `make test`)")


def pytest_collection_modifyitems(config, items):
    root = Path(str(config.rootpath))
    for item in items:
        where = Path(str(item.path)).resolve()
        try:
            relative = where.relative_to(root).as_posix()
        except ValueError:
            continue
        if where.suffix == ".ipynb" or relative.startswith(SLOW_MODULES):
            item.add_marker(pytest.mark.slow)
