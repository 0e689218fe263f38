"""What the Mage blocks call, inside Mage's process: the run they share.

The five blocks are fdelib.etl's steps called one by one, as notebook 01 calls them: the data
loader begins an :class:`fdelib.etl.Run` — its record in ``etl.runs`` and the one transaction the
raw load, deduplication and aggregation write in — and the daily exporter commits it with the
run's outcome. A block that raises fails the run as :func:`fdelib.etl.run_month` would: its work
rolled back, the error recorded in ``etl.runs``, and re-raised, so Mage's run fails with it.

Mage hands a block its upstream block's output through its variable store (written to disk as
JSON or Parquet), where an open transaction cannot go. So the outputs carry the run's id, and the
run stays in this process (:data:`_OPEN`): Mage runs a pipeline's blocks in one process — ``mage
run``, a trigger (the pipeline sets ``run_pipeline_in_one_process``), the editor's kernel.

Only this module and fdelib.etl's public names are imported here: it runs in Mage's environment,
which has fdelib.etl's dependencies, not the course's.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import Any

from .. import etl
from ..config import get_settings
from ..errors import FdeError
from ..etl import alphavantage, stub
from .process import STAND_IN_URL

RESULT = "[fde] result "  # the line fdelib.mage.headless reads a run's outcome from
FAILED = "[fde] failed "  # ... and a failed block's message

_OPEN: dict[int, BlockRun] = {}  # the runs begun in this process and not finished


class BlockRun:
    """An :class:`fdelib.etl.Run` as the blocks share it: the run, its client, the fetched answer."""

    def __init__(self, run: etl.Run, client: alphavantage.Client):
        self.run, self.client = run, client
        self.payload: Any = None

    symbol = property(lambda self: self.run.symbol)
    month = property(lambda self: self.run.month)
    interval = property(lambda self: self.run.interval)
    run_id = property(lambda self: self.run.run_id)
    conn = property(lambda self: self.run.conn)

    def __repr__(self) -> str:
        return f"BlockRun({self.run!r})"

    def output(self, **facts: Any) -> dict[str, Any]:
        """A block's output: the run's id and parameters (how the next block finds the run), and ``facts``."""
        return {"run_id": self.run_id, "symbol": self.symbol, "month": self.month, "interval": self.interval, **facts}

    def bars(self) -> int:
        """How many bars the fetched answer holds (a time sent twice counted twice, as the raw load does)."""
        series = self.payload[f"Time Series ({self.interval})"]
        return len(series) + len(alphavantage.repeats(series))

    def months(self) -> list[str]:
        """The months the answer's bars fall in, with the run's month — an answer may overlap the month
        before; each is deduplicated and aggregated, as run_month does (fdelib.etl has no public name
        for its ``months_of``: the same rule, from the bars' keys)."""
        keys = self.payload[f"Time Series ({self.interval})"]
        first = min([self.month, *(k[:7] for k in keys)])
        last = max([self.month, *(k[:7] for k in keys)])
        months, (year, month) = [], map(int, first.split("-"))
        while f"{year:04d}-{month:02d}" <= last:
            months.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return months

    def succeed(self) -> dict[str, int]:
        """Record the outcome and commit it with the steps' work (:meth:`fdelib.etl.Run.succeed`)."""
        counts = self.run.succeed()
        _OPEN.pop(self.run_id, None)
        return counts

    def fail(self, block: str, error: BaseException) -> None:
        """Roll the steps' work back, record the error in ``etl.runs`` and say which block failed."""
        _OPEN.pop(self.run_id, None)
        try:
            self.run.fail(error)
        finally:
            print(
                FAILED
                + json.dumps(
                    {"block": block, "run_id": self.run_id, "error": type(error).__name__, "message": str(error)}
                ),
                flush=True,
            )


@contextlib.contextmanager
def step(kwargs: dict[str, Any], upstream: dict[str, Any] | None = None) -> Iterator[BlockRun]:
    """The run a block works in: begun here for the first block (no ``upstream``), else the one its
    upstream block's output names. An exception inside fails the run and goes on to Mage."""
    block = kwargs.get("block_uuid", "?")
    run = begin(kwargs) if upstream is None else current(upstream, block)
    try:
        yield run
    except BaseException as error:
        run.fail(block, error)
        raise


def begin(variables: dict[str, Any]) -> BlockRun:
    """Record a run of the pipeline's variables (``symbol``, ``month``, ``interval``, ``seed``) and hold it."""
    missing = [name for name in ("symbol", "month") if not variables.get(name)]
    if missing:
        raise FdeError(f"the pipeline needs the variable(s) {', '.join(missing)} (e.g. symbol=ACME, month=2025-11)")
    client = client_for(int(variables.get("seed") or 7))
    run = etl.Run.begin(
        str(variables["symbol"]), str(variables["month"]), str(variables.get("interval") or "5min"), client=client
    )
    _OPEN[run.run_id] = opened = BlockRun(run, client)
    print(f"[fde] run {run.run_id}: {run.symbol} {run.month} {run.interval}", flush=True)
    return opened


def current(upstream: dict[str, Any], block: str) -> BlockRun:
    """The open run an upstream block's output names."""
    run_id = upstream.get("run_id") if isinstance(upstream, dict) else None
    if run_id in _OPEN:
        return _OPEN[run_id]
    raise FdeError(
        f"block {block}: run {run_id} is not open in this process — the block ran without the blocks "
        "before it; run the whole pipeline (`fde mage run`, a trigger, or the editor's "
        "'Execute with all upstream blocks')"
    )


def client_for(seed: int) -> alphavantage.Client:
    """Live: Alpha Vantage with the key. Offline: the stand-in ``FDE_ALPHAVANTAGE_URL`` names (the process
    that started Mage serves it), else the same stand-in served here, seeded with ``seed``."""
    settings = get_settings()
    url = os.environ.get(STAND_IN_URL, "").strip()
    if settings.live:
        return etl.client(settings)
    if url:
        return alphavantage.Client(url, "demo")
    stub.configure(seed=seed)
    return etl.client(settings)


def result(run: BlockRun, counts: dict[str, int], files: dict[str, Any]):
    """Print the run's outcome for whoever started Mage, and return the product Mage shows."""
    outcome = {"run_id": run.run_id, **counts, "files": {kind: str(path) for kind, path in files.items()}}
    print(f"{RESULT}{json.dumps(outcome)}", flush=True)
    return etl.daily(run.symbol, run.month)
