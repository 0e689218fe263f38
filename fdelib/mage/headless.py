"""The pipeline run headless, through Mage's own CLI: ``mage run mage market_data_etl``.

:func:`run` starts ``mage run`` in Mage's environment (:mod:`.env`, created first if missing) with
the course's settings (:mod:`.process`) and the pipeline's variables, waits for it, and returns
the run's outcome — the counts the last block recorded in ``etl.runs`` and the exported files.
The run is Mage's CLI with those arguments, forked from an interpreter that has already imported
Mage (:mod:`.warm`): the imports are most of a ``mage run``'s time.
Offline, this process's Alpha Vantage stand-in serves the blocks: the seed and faults switched on
here (:func:`fdelib.etl.stub.configure`) are what Mage's blocks get.

A failed block fails Mage's run (``mage run`` exits non-zero): :func:`run` raises
:class:`MageRunFailed` with the block's name and fdelib's own message (the run is recorded as
``failed`` in ``etl.runs`` and its work rolled back, as with :func:`fdelib.etl.run_month`).
Mage's full output of the last run is kept in ``$FDE_HOME/mage/last-run.log``.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from ..config import Settings, get_settings
from ..errors import FdeError
from . import PIPELINE, PROJECT, env, process, warm
from .blocks import FAILED, RESULT


class MageRunFailed(FdeError):
    """``mage run`` failed: a block raised (its message), or Mage itself could not run the pipeline."""

    def __init__(self, message: str, block: str | None = None, error: str | None = None):
        super().__init__(message)
        self.block, self.error = block, error


def run(
    symbol: str,
    month: str,
    interval: str = "5min",
    *,
    seed: int = 7,
    pipeline: str = PIPELINE,
    stand_in: str | None = None,
    settings: Settings | None = None,
    timeout: float = 600,
) -> dict[str, Any]:
    """Run the pipeline for ``symbol`` and ``month`` through ``mage run``; the run's outcome.

    ``stand_in`` (offline): the Alpha Vantage stand-in's URL — by default this process's."""
    settings = settings or get_settings()
    env.ensure(settings)
    variables = {"symbol": symbol, "month": month, "interval": interval, "seed": seed}
    project = str(settings.project_root / PROJECT)
    arguments = ["run", project, pipeline, "--runtime-vars", json.dumps(variables)]
    command = [*env.mage_command(settings), *arguments]
    environ = process.environment(settings, stand_in_url=stand_in or _stand_in(settings))
    data = process.mage_data_dir(settings)
    log = data / "last-run.log"
    try:
        # Mage's CLI with these arguments, forked from an interpreter that has imported Mage (warm)
        done = warm.run_cli(
            command[0], project, arguments, env=environ, cwd=data, timeout=timeout, log=data / "warm.log"
        )
    except subprocess.TimeoutExpired as exc:
        raise MageRunFailed(f"mage run {pipeline} did not finish within {timeout:g} s") from exc
    except RuntimeError as exc:  # the warm interpreter failed under the run
        raise MageRunFailed(f"mage run {pipeline} failed: {exc}") from exc
    with process.open_private(log) as out:
        out.write(f"$ {' '.join(command)}\n{done.stdout}\n{done.stderr}".encode())
    return outcome(done.returncode, done.stdout, done.stderr, pipeline, settings.display_path(log))


def outcome(returncode: int, stdout: str, stderr: str, pipeline: str = PIPELINE, log: str = "") -> dict[str, Any]:
    """What ``mage run``'s exit code and output say: the outcome the last block printed, or the error."""
    lines = stdout.splitlines()
    failed = [json.loads(line[len(FAILED) :]) for line in lines if line.startswith(FAILED)]
    if failed:
        first = failed[0]
        raise MageRunFailed(
            f"Mage run of {pipeline} failed in block {first['block']}: {first['message']}",
            first["block"],
            first["error"],
        )
    if returncode != 0:
        last = next((line for line in reversed(stderr.splitlines()) if line and not line.startswith(" ")), "")
        raise MageRunFailed(
            f"mage run {pipeline} exited {returncode}: {last or 'no message'}" + (f" (see {log})" if log else ""),
            None,
            last.split(":")[0] or None,
        )
    results = [json.loads(line[len(RESULT) :]) for line in lines if line.startswith(RESULT)]
    if not results:
        raise MageRunFailed(
            f"mage run {pipeline} finished without the last block's outcome" + (f" (see {log})" if log else "")
        )
    return results[-1]


def _stand_in(settings: Settings) -> str | None:
    """Offline: this process's Alpha Vantage stand-in (started on first use)."""
    if settings.live:
        return None
    from ..etl import stub

    return stub.serve().url
