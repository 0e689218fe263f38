"""Coordination patterns: the synchronous blocking pattern (SBP) and the asynchronous
non-blocking pattern (ANBP).

The same work — N requests to a pricing service that takes ``latency`` seconds per
request and can serve ``capacity`` requests at once — coordinated two ways:

* **SBP, synchronous blocking**: the caller sends a request and waits for its answer before
  sending the next. Simple, ordered, and the caller is idle while it waits: throughput is
  one request per latency, whatever the load.
* **ANBP, asynchronous non-blocking**: the caller sends every request and handles answers as
  they arrive. Throughput grows with load until the service's capacity is reached; after
  that requests queue and their latency grows instead. Answers come back in the order they
  finish, not the order they were sent: each carries its request's id.

:func:`model` gives the textbook numbers; :func:`measure` times the real thing (asyncio
and a semaphore standing in for the service's capacity); :func:`timeline` replays one day's
quote requests under both patterns on a simulated clock (no timing noise), to show who waits
for whom and in which order the answers arrive.
"""

from __future__ import annotations

import asyncio
import math
import time

import pandas as pd

from .. import params

#: The parameters of lesson 3 (03_coordination_patterns), checked at its top by :func:`fdelib.params.check`.
PARAMETERS = {
    "as_of": params.Date(),
    "seed": params.Integer(0),
    "latency_ms": params.Integer(5, 100),
    "capacity": params.Integer(1, 64),
    "loads": params.ListOf(params.Integer(1, 64), min_items=2, max_items=8),
}


async def _service(gate: asyncio.Semaphore, latency: float) -> float:
    async with gate:
        await asyncio.sleep(latency)
    return time.perf_counter()


async def _run(pattern: str, requests: int, latency: float, capacity: int) -> tuple[list[float], float]:
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


def measure(loads: list[int], latency: float = 0.02, capacity: int = 8, repeats: int = 3) -> pd.DataFrame:
    """Time both patterns at each load: mean latency (ms) and throughput (requests/s).

    Each point is the best of ``repeats`` runs: noise from a busy machine only ever slows a
    run down, so the fastest run is the closest to what the pattern itself costs."""
    rows = []
    for pattern in ("sync", "async"):
        for n in loads:
            runs = [_run_in_own_loop(_run(pattern, n, latency, capacity)) for _ in range(repeats)]
            latencies, elapsed = min(runs, key=lambda run: run[1])
            rows.append(
                {
                    "pattern": pattern,
                    "requests": n,
                    "mean_latency_ms": 1000 * sum(latencies) / n,
                    "throughput_rps": n / elapsed,
                }
            )
    return pd.DataFrame(rows)


def model(loads: list[int], latency: float = 0.02, capacity: int = 8) -> pd.DataFrame:
    """The same quantities from first principles (no timing noise)."""
    rows = []
    for n in loads:
        rows.append(
            {"pattern": "sync", "requests": n, "mean_latency_ms": 1000 * latency, "throughput_rps": 1 / latency}
        )
        waves = math.ceil(n / capacity)
        # requests finish in waves of `capacity`; wave k (1-based) ends at k * latency
        mean_wave = sum(min(capacity, n - (k - 1) * capacity) * k for k in range(1, waves + 1)) / n
        rows.append(
            {
                "pattern": "async",
                "requests": n,
                "mean_latency_ms": 1000 * latency * mean_wave,
                "throughput_rps": n / (waves * latency),
            }
        )
    return pd.DataFrame(rows)


#: the book's names: SBP, the synchronous blocking pattern; ANBP, the asynchronous non-blocking pattern
PATTERNS = {"sync": "SBP", "async": "ANBP"}
INSTRUMENTS = ("ACME", "GLOBX", "INITECH", "UMBRELLA", "HOOLI", "STARK", "WAYNE", "TYRELL")


def quote_requests(seed: int, as_of: str, latency_ms: int, count: int = 8) -> pd.DataFrame:
    """``count`` requests for instruments' closing prices on ``as_of``, each with the time the
    pricing service will take to answer it: a seeded shuffle of 1 to 2.75 times ``latency_ms``
    in steps of a quarter (some instruments are slower to price)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    factors = rng.permutation(np.arange(count)) * 0.25 + 1
    return pd.DataFrame(
        {
            "request": range(1, count + 1),
            "instrument": INSTRUMENTS[:count],
            "as_of": as_of,
            "service_ms": (factors * latency_ms).round(1),
        }
    )


def timeline(requests: pd.DataFrame, capacity: int) -> pd.DataFrame:
    """Both patterns on a simulated clock (ms): SBP sends each request when the previous answer is
    in; ANBP sends them all at once and the service works on up to ``capacity`` at a time, in the
    order they arrived. One row per pattern and request: when it was wanted (all at 0), sent,
    started, answered, and its place in the order answers arrived."""
    import heapq

    rows = []
    clock = 0.0
    for r in requests.itertuples():  # SBP: one after the other
        rows.append(("sync", r.request, r.instrument, clock, clock, clock + r.service_ms))
        clock += r.service_ms
    free = [0.0] * capacity  # ANBP: all sent at t = 0
    for r in requests.itertuples():
        start = heapq.heappop(free)
        heapq.heappush(free, start + r.service_ms)
        rows.append(("async", r.request, r.instrument, 0.0, start, start + r.service_ms))
    frame = pd.DataFrame(rows, columns=["pattern", "request", "instrument", "sent_ms", "start_ms", "answered_ms"])
    frame.insert(3, "ready_ms", 0.0)  # every request is wanted from the start
    frame["answer_order"] = frame.groupby("pattern")["answered_ms"].rank(method="first").astype(int)
    frame["pattern"] = frame["pattern"].map(PATTERNS)
    return frame


def answer_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Which request's answer arrived 1st, 2nd, ... under each pattern, and when (ms)."""
    table = frame.sort_values("answered_ms").assign(
        answer=lambda f: (
            f["instrument"]
            + " (#"
            + f["request"].astype(str)
            + ") at "
            + f["answered_ms"].round().astype(int).astype(str)
            + " ms"
        )
    )
    return table.pivot(index="answer_order", columns="pattern", values="answer").rename_axis(
        index="answer arrives", columns=None
    )


def verdict(measured: pd.DataFrame, modelled: pd.DataFrame) -> pd.DataFrame:
    """Per load: the model's async speed-up, and whether the measurement shows at least half
    of it.

    A fact, not a timing: it is what a reader should take away, and it stays the same from
    run to run (and on a busy machine) where raw milliseconds do not."""

    def speedup(frame: pd.DataFrame) -> pd.Series:
        wide = frame.pivot(index="requests", columns="pattern", values="throughput_rps")
        return wide["async"] / wide["sync"]

    model_speedup = speedup(modelled)
    return pd.DataFrame(
        {
            "model: ANBP speed-up over SBP": model_speedup.round(1),
            "measured >= half of it": speedup(measured) >= 0.5 * model_speedup,
        }
    )


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its patterns named SBP and ANBP (for tables and plots)."""
    return frame.assign(pattern=frame["pattern"].map(PATTERNS))
