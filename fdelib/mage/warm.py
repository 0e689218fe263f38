"""A warm ``mage run``: Mage's imports paid once per process, not once per run.

A ``mage run`` spends most of its time before the pipeline's first block: about 9 s of CPU
importing Mage (its executors pull in scikit-learn and SciPy), against about 1.5 s for the five
blocks. :func:`run_cli` keeps, per calling process, one interpreter in Mage's environment that
has done those imports (:mod:`.warm_server`) and forks it for each run. The forked process runs
Mage's own CLI entry point, ``mage_ai.cli.main.app``, with the arguments, environment and working
folder ``python -m mage_ai.cli.main <arguments>`` would get, and its exit code and output are the
run's: what runs is what ``mage run`` runs.

The warm interpreter ends with the process that started it. It is started again when Mage's
interpreter or the environment changes (the per-run ``FDE_ALPHAVANTAGE_URL`` aside: Mage reads
its settings at import, the blocks read the stand-in's address when they run). Where it cannot
start, or with ``FDE_MAGE_WARM=0``, each run is a new ``mage run`` process, as before.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from .process import STAND_IN_URL, UMASK, open_private

SERVER = Path(__file__).with_name("warm_server.py")
#: read by the blocks when they run, so a change does not need a new warm interpreter
PER_RUN = frozenset({STAND_IN_URL})
#: how long the warm interpreter may take to import Mage
START_TIMEOUT = 300.0


class _Server:
    def __init__(self, python: str, project: str, env: dict[str, str], log: Path):
        self.key = (python, project, _shared(env))
        self.log = log
        requests_r, self._requests = os.pipe()
        self._answers, answers_w = os.pipe()
        with open_private(log, append=True) as out:
            self.process = subprocess.Popen(
                [python, "-P", str(SERVER), project, str(requests_r), str(answers_w)],
                env=_shared(env),
                cwd=env.get("MAGE_DATA_DIR") or None,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                pass_fds=(requests_r, answers_w),
                umask=UMASK,  # the runs it forks write Mage's data 0600
            )
        os.close(requests_r)
        os.close(answers_w)
        self._buffer = b""
        self.ended = False
        ready = self._read(START_TIMEOUT)
        if not (ready and ready.get("ready")):
            self.close()
            raise RuntimeError(f"the warm Mage interpreter did not start (see {log})")

    def alive(self) -> bool:
        return not self.ended and self.process.poll() is None

    def run(self, request: dict, timeout: float) -> int:
        os.write(self._requests, (json.dumps(request) + "\n").encode())
        started = self._read(30)
        if not started or "pid" not in started:
            raise RuntimeError("the warm Mage interpreter did not start the run")
        try:
            done = self._read(timeout)
        except BaseException:  # interrupted (a kernel's interrupt): the run stops too
            self._stop_run(started["pid"])
            raise
        if done is None and self.ended:
            self._stop_run(started["pid"])
            raise RuntimeError(f"the warm Mage interpreter ended during the run (see {self.log})")
        if done is None:  # time is up: stop the run and everything it started
            self._stop_run(started["pid"])
            raise subprocess.TimeoutExpired(request["argv"], timeout)
        return int(done["returncode"])

    def _stop_run(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # the run leads its own process group
        self._read(30)  # the server's answer for it, so the next request reads its own

    def _read(self, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self._answers], [], [], min(remaining, 1.0))
            if ready:
                chunk = os.read(self._answers, 65536)
                if not chunk:
                    self.ended = True  # the server closed its answers: it is gone
                    return None
                self._buffer += chunk
            elif not self.alive():
                self.ended = True
                return None
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def close(self) -> None:
        for fd in (self._requests, self._answers):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.alive():
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
            if self.alive():
                self.process.kill()


_LOCK = threading.Lock()
_SERVERS: dict[int, _Server] = {}  # by the pid that started it: a forked process starts its own


def _shared(env: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if key not in PER_RUN}


def enabled() -> bool:
    """Warm runs fork: only where fork servers are safe (``FDE_FORK``), and not with ``FDE_MAGE_WARM=0``."""
    from ..config import get_settings

    return get_settings().fork and os.environ.get("FDE_MAGE_WARM", "1") != "0"


def run_cli(
    python: str, project: str, argv: list[str], *, env: dict[str, str], cwd: Path, timeout: float, log: Path
) -> subprocess.CompletedProcess:
    """``python -m mage_ai.cli.main <argv>`` in ``cwd`` with ``env``, through the warm interpreter;
    its exit code, stdout and stderr. Raises ``subprocess.TimeoutExpired`` after ``timeout``."""
    if not enabled():
        return _cold(python, argv, env=env, cwd=cwd, timeout=timeout)
    with _LOCK:
        try:
            server = _server(python, project, env, log)
        except (OSError, RuntimeError):
            return _cold(python, argv, env=env, cwd=cwd, timeout=timeout)
        with tempfile.TemporaryDirectory(prefix="fde-mage-run-") as scratch:
            out, err = Path(scratch, "stdout"), Path(scratch, "stderr")
            request = {"argv": argv, "env": env, "cwd": str(cwd), "stdout": str(out), "stderr": str(err)}
            try:
                returncode = server.run(request, timeout)
            except RuntimeError:  # the interpreter is gone or confused: the next run starts a new one
                _SERVERS.pop(os.getpid(), None)
                server.close()
                raise
            return subprocess.CompletedProcess(
                [python, "-m", "mage_ai.cli.main", *argv],
                returncode,
                out.read_text(errors="replace") if out.exists() else "",
                err.read_text(errors="replace") if err.exists() else "",
            )


def _server(python: str, project: str, env: dict[str, str], log: Path) -> _Server:
    server = _SERVERS.get(os.getpid())
    if server is not None and (not server.alive() or server.key != (python, project, _shared(env))):
        server.close()
        server = None
    if server is None:
        log.parent.mkdir(parents=True, exist_ok=True)
        server = _SERVERS[os.getpid()] = _Server(python, project, env, log)
    return server


def _cold(python: str, argv: list[str], *, env: dict[str, str], cwd: Path, timeout: float):
    return subprocess.run(
        [python, "-m", "mage_ai.cli.main", *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        umask=UMASK,
    )


def stop() -> None:
    """End this process's warm interpreter, if any."""
    with _LOCK:
        server = _SERVERS.pop(os.getpid(), None)
        if server is not None:
            server.close()


atexit.register(stop)
