"""Coordination patterns: synchronous blocking vs asynchronous non-blocking.

The same work — N requests to a pricing service that takes ``latency`` seconds per
request and can serve ``capacity`` requests at once — coordinated two ways:

* **synchronous blocking**: the caller sends a request and waits for its answer before
  sending the next. Simple, ordered, and the caller is idle while it waits: throughput is
  one request per latency, whatever the load.
* **asynchronous non-blocking**: the caller sends every request and handles answers as
  they arrive. Throughput grows with load until the service's capacity is reached; after
  that requests queue and their latency grows instead.

:func:`model` gives the textbook numbers; :func:`measure` times the real thing (asyncio
and a semaphore standing in for the service's capacity).
"""

from __future__ import annotations

import asyncio
import math
import time

import pandas as pd


async def _service(gate: asyncio.Semaphore, latency: float) -> float:
    async with gate:
        await asyncio.sleep(latency)
    return time.perf_counter()


async def _run(pattern: str, requests: int, latency: float, capacity: int
               ) -> tuple[list[float], float]:
    """Per-request latencies and the elapsed time, timed inside the event loop (so the
    loop's own start-up is not charged to either pattern)."""
    gate = asyncio.Semaphore(capacity)
    latencies = []
    t0 = time.perf_counter()
    if pattern == "sync":
        for _ in range(requests):
            sent = time.perf_counter()
            latencies.append(await _service(gate, latency) - sent)
    else:
        sent = time.perf_counter()
        done = await asyncio.gather(*(_service(gate, latency) for _ in range(requests)))
        latencies = [t - sent for t in done]
    return latencies, time.perf_counter() - t0


def _run_in_own_loop(coroutine):
    """asyncio.run in a thread: a notebook's kernel already runs an event loop."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def measure(loads: list[int], latency: float = 0.02, capacity: int = 8,
            repeats: int = 3) -> pd.DataFrame:
    """Time both patterns at each load: mean latency (ms) and throughput (requests/s).

    Each point is the best of ``repeats`` runs: noise from a busy machine only ever slows a
    run down, so the fastest run is the closest to what the pattern itself costs."""
    rows = []
    for pattern in ("sync", "async"):
        for n in loads:
            runs = [_run_in_own_loop(_run(pattern, n, latency, capacity)) for _ in range(repeats)]
            latencies, elapsed = min(runs, key=lambda run: run[1])
            rows.append({"pattern": pattern, "requests": n,
                         "mean_latency_ms": 1000 * sum(latencies) / n,
                         "throughput_rps": n / elapsed})
    return pd.DataFrame(rows)


def model(loads: list[int], latency: float = 0.02, capacity: int = 8) -> pd.DataFrame:
    """The same quantities from first principles (no timing noise)."""
    rows = []
    for n in loads:
        rows.append({"pattern": "sync", "requests": n, "mean_latency_ms": 1000 * latency,
                     "throughput_rps": 1 / latency})
        waves = math.ceil(n / capacity)
        # requests finish in waves of `capacity`; wave k (1-based) ends at k * latency
        mean_wave = sum(min(capacity, n - (k - 1) * capacity) * k for k in range(1, waves + 1)) / n
        rows.append({"pattern": "async", "requests": n, "mean_latency_ms": 1000 * latency * mean_wave,
                     "throughput_rps": n / (waves * latency)})
    return pd.DataFrame(rows)


def verdict(measured: pd.DataFrame, modelled: pd.DataFrame) -> pd.DataFrame:
    """Per load: the model's async speed-up, and whether the measurement shows at least half
    of it.

    A fact, not a timing: it is what a reader should take away, and it stays the same from
    run to run (and on a busy machine) where raw milliseconds do not."""
    def speedup(frame: pd.DataFrame) -> pd.Series:
        wide = frame.pivot(index="requests", columns="pattern", values="throughput_rps")
        return wide["async"] / wide["sync"]

    model_speedup = speedup(modelled)
    return pd.DataFrame({
        "model: async speed-up": model_speedup.round(1),
        "measured >= half of it": speedup(measured) >= 0.5 * model_speedup,
    })
