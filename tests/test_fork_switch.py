"""FDE_FORK: fork servers where they are safe (Linux), new processes elsewhere or when asked.
The course must work both ways: macOS and Windows learners take the path FDE_FORK=0 takes here."""

import os
import subprocess
import sys

import pytest

from fdelib import config
from fdelib.errors import ConfigError


@pytest.mark.parametrize(("value", "expected"), [("0", False), ("no", False), ("1", True), ("on", True)])
def test_the_switch_is_read(value, expected):
    assert config.Settings.from_env(environ={"FDE_FORK": value, "FDE_ENV_FILE": "none"}).fork is expected


def test_auto_forks_on_linux_only():
    assert config.Settings.from_env(environ={"FDE_ENV_FILE": "none"}).fork is sys.platform.startswith("linux")


def test_a_bad_value_is_named():
    with pytest.raises(ConfigError, match=r"FDE_FORK='sometimes' is not one of auto, 1, 0"):
        config.Settings.from_env(environ={"FDE_FORK": "sometimes", "FDE_ENV_FILE": "none"})


def test_a_notebook_runs_without_fork_servers(settings, tmp_path):
    """The runner's notebook process is spawned, and its kernel is started as Jupyter starts one."""
    env = {**os.environ, "FDE_FORK": "0", "FDE_RUNS_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "fdelib.cli", "run", "00_start_here"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "1 passed, 0 failed" in done.stdout + done.stderr
