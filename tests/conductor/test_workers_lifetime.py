"""Worker processes never outlive the process that started them, however it ends: forked from
the worker fork server (Linux's default) or spawned (FDE_FORK=0, the path macOS takes)."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

STARTER = """
import json, sys, time
from fdelib import conductor
from fdelib.conductor.workers import Workers
conductor.clients()  # the local engine, up
workers = Workers(["fdelib.workflows.wms"]).start()
print("PIDS", json.dumps(workers.pids()), flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("fork", ["1", "0"])
def test_workers_end_when_their_starter_is_killed(engine, fork, tmp_path):
    errors = open(tmp_path / "starter.err", "w")  # noqa: SIM115 (the starter writes to it while it runs)
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER],
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        # a fresh process, as a kernel is: not one of the workers an earlier test here started
        # (Workers.start leaves its FDE_WORKER_* marks in this process's environment)
        env={**{k: v for k, v in os.environ.items() if not k.startswith("FDE_WORKER")}, "FDE_FORK": fork},
    )
    try:
        line = ""
        for line in starter.stdout:  # the engine's start may print a line first
            if line.startswith("PIDS "):
                break
        assert line.startswith("PIDS "), (tmp_path / "starter.err").read_text()[-3000:]
        pids = json.loads(line.removeprefix("PIDS "))
        assert len(pids) == 5 and all(alive(p) for p in pids), line
        descendants = [  # (the local engine it started is a service: it stays until `fde down`)
            c.pid
            for c in psutil.Process(starter.pid).children(recursive=True)
            if "fdelib.conductor.server" not in c.cmdline()
        ]
        assert set(pids) <= set(descendants)  # the fork server's children, under the starter
        os.kill(starter.pid, signal.SIGKILL)  # as a kernel dies: no stop(), no atexit
        starter.wait(10)
        deadline = time.monotonic() + 20
        while any(alive(p) for p in descendants) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [p for p in descendants if alive(p)]
        assert not left, (
            f"still running after the starter was killed: {[(p, psutil.Process(p).cmdline()) for p in left]}"
        )
    finally:
        if starter.poll() is None:
            starter.kill()
