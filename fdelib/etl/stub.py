"""The offline stand-in for Alpha Vantage: recorded-format payloads, generated, with faults.

Bars are generated — a seeded random walk per symbol and month — for the **real NYSE
sessions** of the month (exchange-calendars' XNYS: holidays skipped, half days closing at
13:00), labelled by their start time in US/Eastern as Alpha Vantage does, newest first.
``extended_hours=true`` (the API's default) adds thin pre-market (04:00 to the open) and
post-market (the close plus four hours) bars; the regular session's bars are the same either
way. ``datatype=csv`` answers ``timestamp,open,high,low,close,volume`` rows. Same request and
seed: same bytes.

The faults a real feed has, switched on with :func:`configure`:

* ``duplicates`` — each month's answer also repeats the previous month's last session
  (overlapping windows: the same bars arrive twice);
* ``correction`` — from the second fetch of a month on, one session's closing bar is
  corrected (its close 1% higher);
* ``missing`` — the bars between 10:00 and 10:30 of the month's second session are missing;
* ``rate_limit`` — the first ``rate_limited_calls`` calls get a rate-limit answer (alternately the
  ``Note`` and the ``Information`` shape the API has used);
* ``malformed`` — one bar in the middle of the answer has no close.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import zlib
from functools import lru_cache

import numpy as np
import pandas as pd

from ..localapi import LocalAPI, Request, Response, serve as serve_api
from .alphavantage import CSV_HEADER, INTERVALS, SYMBOL
from .sessions import bar_times, extended_bar_times

RATE_LIMIT_NOTES = (
    {"Note": "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per minute "
             "and 500 calls per day. Please visit https://www.alphavantage.co/premium/ if you would like "
             "to target a higher API call frequency."},
    {"Information": "Thank you for using Alpha Vantage! Please consider spreading out your free API "
                    "requests more sparingly (1 request per second). You may subscribe to any of the "
                    "premium plans at https://www.alphavantage.co/premium/ to lift the free key rate limit "
                    "(20 requests per minute) and instantly remove all daily rate limits."},
)

FAULTS = ("duplicates", "correction", "missing", "rate_limit", "malformed")
NAME = "alphavantage"


class Feed:
    """The stub's state: faults switched on, and what it has been asked so far."""

    def __init__(self, seed: int = 7):
        self.seed = seed
        self.faults: set[str] = set()
        self.rate_limited_calls = 2
        self.calls = 0
        self.fetches: dict[tuple[str, str, str], int] = {}
        self.lock = threading.Lock()

    def configure(self, faults=(), *, rate_limited_calls: int = 2, seed: int | None = None) -> None:
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault(s) {', '.join(sorted(unknown))}; choose from {', '.join(FAULTS)}")
        with self.lock:
            self.faults = set(faults)
            self.rate_limited_calls = rate_limited_calls
            self.calls = 0
            self.fetches = {}
            if seed is not None:
                self.seed = seed

    def __call__(self, request: Request) -> Response:
        if request.path != "/query":
            return Response.json({"Error Message": "This API function does not exist."}, 200)
        q = request.query
        with self.lock:
            self.calls += 1
            if "rate_limit" in self.faults and self.calls <= self.rate_limited_calls:
                return Response.json(RATE_LIMIT_NOTES[(self.calls - 1) % 2])
        if q.get("function") != "TIME_SERIES_INTRADAY":
            return Response.json({"Error Message": "This API function ("
                                  f"{q.get('function')}) does not exist."})
        if not q.get("apikey"):
            return Response.json({"Error Message": "the parameter apikey is invalid or missing."})
        symbol, month, interval = q.get("symbol", ""), q.get("month", ""), q.get("interval", "")
        if interval not in INTERVALS or not SYMBOL.fullmatch(symbol) or len(month) != 7:
            return Response.json({"Error Message": "Invalid API call. Please retry or visit the "
                                  "documentation (https://www.alphavantage.co/documentation/) for "
                                  "TIME_SERIES_INTRADAY."})
        with self.lock:
            key = (symbol, month, interval)
            self.fetches[key] = self.fetches.get(key, 0) + 1
            fetch = self.fetches[key]
        extended = q.get("extended_hours", "true").lower() != "false"     # the API's default: true
        body = render(symbol, month, interval, self.seed, frozenset(self.faults), fetch, extended)
        if q.get("datatype") == "csv":
            return Response(200, to_csv(body, interval), "application/x-download")
        return Response(200, body, "application/json")


_FEED: Feed | None = None


def feed() -> Feed:
    global _FEED
    if _FEED is None:
        _FEED = Feed()
    return _FEED


def serve() -> LocalAPI:
    """This process's stub server (started on first use)."""
    return serve_api(NAME, feed)


def configure(faults=(), **options) -> None:
    """Switch faults on (and reset the stub's counters); ``configure()`` switches them off."""
    feed().configure(faults, **options)


def _previous_month(month: str) -> str:
    first = dt.date.fromisoformat(f"{month}-01")
    return (first - dt.timedelta(days=1)).strftime("%Y-%m")


@lru_cache(maxsize=256)
def _walk(symbol: str, month: str, interval: str, seed: int) -> tuple[tuple, np.ndarray]:
    times = tuple(bar_times(month, interval))
    rng = np.random.default_rng([seed, zlib.crc32(symbol.encode()), zlib.crc32(month.encode())])
    start = 20 + zlib.crc32(symbol.encode()) % 400
    close = start * np.exp(np.cumsum(rng.normal(0, 0.0015, len(times))))
    opens = np.concatenate([[start], close[:-1]])
    spread = np.abs(rng.normal(0, 0.001, len(times))) * close
    high = np.maximum(opens, close) + spread
    low = np.minimum(opens, close) - spread
    volume = rng.integers(1_000, 50_000, len(times))
    return times, np.column_stack([opens, high, low, close, volume])


@lru_cache(maxsize=64)
def _extended_walk(symbol: str, month: str, interval: str, seed: int) -> tuple[tuple, np.ndarray]:
    """Pre- and post-market bars: small moves around the session's open and close, thin volume."""
    times, values = _walk(symbol, month, interval, seed)
    anchor = {}                                         # per day: the first open, the last close
    for t, row in zip(times, values):
        anchor.setdefault(t.date(), [row[0], row[3]])[1] = row[3]
    extra = tuple(extended_bar_times(month, interval))
    rng = np.random.default_rng([seed, zlib.crc32(symbol.encode()), zlib.crc32(month.encode()), 1])
    base = np.array([anchor[t.date()][0 if t.hour < 12 else 1] for t in extra])
    close = base * np.exp(rng.normal(0, 0.0008, len(extra)))
    opens = base * np.exp(rng.normal(0, 0.0008, len(extra)))
    spread = np.abs(rng.normal(0, 0.0005, len(extra))) * close
    high = np.maximum(opens, close) + spread
    low = np.minimum(opens, close) - spread
    volume = rng.integers(10, 2_000, len(extra))
    return extra, np.column_stack([opens, high, low, close, volume])


def render(symbol: str, month: str, interval: str, seed: int, faults: frozenset, fetch: int = 1,
           extended: bool = False) -> bytes:
    """The JSON answer for one call, byte for byte."""
    times, values = _walk(symbol, month, interval, seed)
    bars = list(zip(times, values.tolist()))
    if "duplicates" in faults:
        prev_times, prev_values = _walk(symbol, _previous_month(month), interval, seed)
        last_day = prev_times[-1].date()
        bars = [(t, v) for t, v in zip(prev_times, prev_values.tolist()) if t.date() == last_day] + bars
    if "missing" in faults:
        second = sorted({t.date() for t in times})[1]
        bars = [(t, v) for t, v in bars
                if not (t.date() == second and dt.time(10, 0) <= t.time() < dt.time(10, 30))]
    if "correction" in faults and fetch > 1:
        index = len(bars) // 3      # the last bar of a session: the day's close changes
        while index + 1 < len(bars) and bars[index + 1][0].date() == bars[index][0].date():
            index += 1
        t, (o, h, low, c, vol) = bars[index]
        corrected = round(c * 1.01, 4)
        bars[index] = (t, [o, max(h, corrected), min(low, corrected), corrected, vol])
    if extended:
        extra_times, extra_values = _extended_walk(symbol, month, interval, seed)
        bars = sorted(bars + list(zip(extra_times, extra_values.tolist())), key=lambda bar: bar[0])
    series = {}
    for t, (o, h, low, c, vol) in reversed(bars):      # newest first, as the API answers
        series[t.strftime("%Y-%m-%d %H:%M:%S")] = {
            "1. open": f"{o:.4f}", "2. high": f"{h:.4f}", "3. low": f"{low:.4f}",
            "4. close": f"{c:.4f}", "5. volume": str(int(vol))}
    if "malformed" in faults:
        middle = list(series)[len(series) // 2]
        del series[middle]["4. close"]
    last = max(t for t, _ in bars)
    payload = {
        "Meta Data": {"1. Information": f"Intraday ({interval}) open, high, low, close prices and volume",
                      "2. Symbol": symbol, "3. Last Refreshed": last.strftime("%Y-%m-%d %H:%M:%S"),
                      "4. Interval": interval, "5. Output Size": "Full size", "6. Time Zone": "US/Eastern"},
        f"Time Series ({interval})": series}
    return json.dumps(payload, indent=4).encode()


def to_csv(body: bytes, interval: str) -> bytes:
    """The same answer as ``datatype=csv`` renders it."""
    series = json.loads(body)[f"Time Series ({interval})"]
    lines = [CSV_HEADER] + [",".join([stamp, *bar.values()]) for stamp, bar in series.items()]
    return ("\r\n".join(lines) + "\r\n").encode()
