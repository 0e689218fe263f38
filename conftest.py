"""Test session set-up: a private embedded PostgreSQL, never the learner's.

This runs before any test module imports fdelib settings, and before nbval starts a
kernel (kernels inherit the environment), so unit tests and notebooks share one
temporary server for the whole session. A learner's ``.env`` and ``DATABASE_URL`` are
ignored; the server is stopped and its folder deleted at the end.
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
    # the session's workflow engine on a free port: never the learner's (or another checkout's) fixed one
    with socket.socket() as _probe:
        _probe.bind(("127.0.0.1", 0))
        os.environ["FDE_ENGINE_PORT"] = str(_probe.getsockname()[1])
HOME = Path(os.environ["FDE_TEST_HOME"])
os.environ["FDE_HOME"] = str(HOME)
os.environ["FDE_DATA_DIR"] = str(HOME / "data")
os.environ["FDE_ENV_FILE"] = "none"
os.environ["FDE_MODE"] = "offline"
for name in ("DATABASE_URL", "CONDUCTOR_SERVER_URL", "ALPHAVANTAGE_API_KEY",
             "OPENFIGI_API_KEY", "PERMID_API_KEY", "GLEIF_BIC_LEI_URL", "GLEIF_ISIN_LEI_URL"):
    os.environ.pop(name, None)

from fdelib import config, db, stack  # noqa: E402  (after the environment is set)


@pytest.fixture(scope="session")
def settings() -> config.Settings:
    return config.reload()


@pytest.fixture(scope="session")
def engine(settings):
    return db.get_engine(settings)


def pytest_sessionfinish(session, exitstatus):
    if not _OWN_HOME or hasattr(session.config, "workerinput"):
        return
    db.dispose_engines()
    try:
        stack.down(config.reload())
    finally:
        shutil.rmtree(HOME, ignore_errors=True)
