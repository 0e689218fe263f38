"""The offline stand-in for Alpha Vantage: recorded-format payloads, generated, with faults.

Prices are generated minute by minute — one seeded random walk per symbol, each month starting
at the previous month's last close (see ``ANCHOR_MONTH``) — over
the **real NYSE sessions** of the month (exchange-calendars' XNYS: holidays skipped, half days
closing at 13:00) and their extended hours (thin trading from 04:00 to the open and from the
close for four hours). Each session also has its two **auctions**, as on the exchange: the
opening cross is the first print at 09:30 (the open of the 09:30 bar, with a burst of volume), and
the **closing cross** is one print at the close (16:00, 13:00 on a half day) carrying about a
tenth of the day's volume (the closing auction's share of volume in NYSE-listed stocks) — the
day's official close.

An answer's bars are those prints aggregated as Alpha Vantage does (see :mod:`.sessions`): on a
clock-aligned grid, labelled by their start time in US/Eastern, newest first — 60-minute bars are
hour-aligned. With ``extended_hours=false`` (regular hours, "9:30am to 4:00pm") a session's bars
run 09:30 … 15:55 and **16:00**, the closing print's own bar; with ``extended_hours=true`` (the
API's default) the pre- and post-market minutes are added — the 16:00 bar then also holds the
first post-market minutes, and the 60-minute 09:00 bar also 09:00–09:30. So every interval of a
regular-hours answer tells the same day: the daily OHLCV built from 1-, 5-, 15-, 30- or 60-minute
bars is identical, and equal to the stand-in's ``TIME_SERIES_DAILY`` answer (the official daily
bars: the regular session with both auctions). ``datatype=csv`` answers
``timestamp,open,high,low,close,volume`` rows. Same request and seed: same bytes.

The daily series runs from ``history_start`` (default 2024-01) to the stand-in's ``today``
(default 2026-01-02; ``configure(today=...)``): ``outputsize=compact`` is its latest 100 sessions,
``full`` all of them. It is built from the bars as the exchange printed them — the faults below
are faults of the intraday feed, which the pipeline's reconciliation with the daily series finds.

The faults a real feed has, switched on with :func:`configure`:

* ``duplicates`` — bars arrive more than once: within one answer (the first session's bars
  before 10:30 are sent a second time, the same time key twice in the JSON object — one CSV row
  twice), and across answers (each month's answer also brings the previous month's last
  session — with that session's closing bar revised: its close 1% higher — so which load is the
  latest decides which version wins);
* ``correction`` — from the second fetch of a month on, one session's closing bar (the bar at the
  close) is re-sent with its close 1% higher;
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

from ..localapi import LocalAPI, Request, Response, Router
from ..localapi import serve as serve_api
from .alphavantage import CSV_HEADER, DAILY_KEY, INTERVALS, SYMBOL
from .sessions import months_between, session_minutes, sessions

RATE_LIMIT_NOTES = (
    {
        "Note": "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per minute "
        "and 500 calls per day. Please visit https://www.alphavantage.co/premium/ if you would like "
        "to target a higher API call frequency."
    },
    {
        "Information": "Thank you for using Alpha Vantage! Please consider spreading out your free API "
        "requests more sparingly (1 request per second). You may subscribe to any of the "
        "premium plans at https://www.alphavantage.co/premium/ to lift the free key rate limit "
        "(20 requests per minute) and instantly remove all daily rate limits."
    },
)

MISSING_KEY = {
    "Error Message": "the parameter apikey is invalid or missing. Please claim your free API key on "
    "(https://www.alphavantage.co/support/#api-key). It should take less than 20 "
    "seconds."
}
FAULTS = ("duplicates", "correction", "missing", "rate_limit", "malformed")
NAME = "alphavantage"
TODAY = "2026-01-02"  # the stand-in's clock: its daily series ends here
HISTORY_START = "2024-01"  # ... and starts here (outputsize=full)


class Feed:
    """The stub's state: faults switched on, its clock, and what it has been asked so far."""

    def __init__(self, seed: int = 7):
        self.seed = seed
        self.faults: set[str] = set()
        self.rate_limited_calls = 2
        self.today = TODAY
        self.calls = 0
        self.fetches: dict[tuple[str, str, str], int] = {}
        self.lock = threading.Lock()
        self.router = Router(not_found=self.unknown, before=self.rate_limit)
        self.router.add("GET", "/query", self.intraday, function="TIME_SERIES_INTRADAY")
        self.router.add("GET", "/query", self.daily, function="TIME_SERIES_DAILY")

    def configure(
        self, faults=(), *, rate_limited_calls: int = 2, seed: int | None = None, today: str | None = None
    ) -> None:
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
            self.today = dt.date.fromisoformat(today).isoformat() if today else TODAY

    def __call__(self, request: Request) -> Response:
        return self.router(request)

    def rate_limit(self, request: Request) -> Response | None:
        """Every call counts; the first ``rate_limited_calls`` get a notice with the ``rate_limit`` fault."""
        if request.path != "/query":
            return None
        with self.lock:
            self.calls += 1
            if "rate_limit" in self.faults and self.calls <= self.rate_limited_calls:
                return Response.json(RATE_LIMIT_NOTES[(self.calls - 1) % 2])
        return None

    @staticmethod
    def unknown(request: Request) -> Response:
        if request.path != "/query":
            return Response.json({"Error Message": "This API function does not exist."}, 200)
        return Response.json({"Error Message": f"This API function ({request.query.get('function')}) does not exist."})

    def intraday(self, request: Request) -> Response:
        q = request.query
        if not q.get("apikey"):
            return Response.json(MISSING_KEY)
        symbol, month, interval = q.get("symbol", ""), q.get("month", ""), q.get("interval", "")
        if interval not in INTERVALS or not SYMBOL.fullmatch(symbol) or len(month) != 7:
            return Response.json(
                {
                    "Error Message": "Invalid API call. Please retry or visit the "
                    "documentation (https://www.alphavantage.co/documentation/) for "
                    "TIME_SERIES_INTRADAY."
                }
            )
        with self.lock:
            key = (symbol, month, interval)
            self.fetches[key] = self.fetches.get(key, 0) + 1
            fetch = self.fetches[key]
        extended = q.get("extended_hours", "true").lower() != "false"  # the API's default: true
        body = render(symbol, month, interval, self.seed, frozenset(self.faults), fetch, extended)
        if q.get("datatype") == "csv":
            return Response(200, to_csv(body, f"Time Series ({interval})"), "application/x-download")
        return Response(200, body, "application/json")

    def daily(self, request: Request) -> Response:
        q = request.query
        if not q.get("apikey"):
            return Response.json(MISSING_KEY)
        symbol, size = q.get("symbol", ""), q.get("outputsize", "compact")
        if not SYMBOL.fullmatch(symbol) or size not in ("compact", "full"):
            return Response.json(
                {
                    "Error Message": "Invalid API call. Please retry or visit the "
                    "documentation (https://www.alphavantage.co/documentation/) for "
                    "TIME_SERIES_DAILY."
                }
            )
        body = render_daily(symbol, self.seed, self.today, size == "full")
        if q.get("datatype") == "csv":
            return Response(200, to_csv(body, DAILY_KEY), "application/x-download")
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


#: One random walk per symbol runs through all months: ANCHOR_MONTH starts at the symbol's base
#: price and every other month starts at its neighbour's last close (a month before the anchor ends
#: where the next one starts). The anchor is the ETL lesson's month, whose bars this leaves as they were.
ANCHOR_MONTH = "2025-11"


@lru_cache(maxsize=256)
def _session_minutes(month: str) -> tuple[np.ndarray, np.ndarray]:
    return session_minutes(month)


def _walk(symbol: str, month: str, seed: int) -> tuple[np.random.Generator, np.ndarray]:
    """The month's generator and its per-minute log-returns (drawn first, so every later draw —
    spreads, volumes — is the same whatever the start price)."""
    _, regular = _session_minutes(month)
    rng = np.random.default_rng([seed, zlib.crc32(symbol.encode()), zlib.crc32(month.encode())])
    sigma = np.where(regular, 0.0015 / np.sqrt(5), 0.0003)  # ~0.15% per 5 minutes in the session
    return rng, rng.normal(0, 1, len(regular)) * sigma


@lru_cache(maxsize=1024)
def _month_log_return(symbol: str, month: str, seed: int) -> float:
    return float(_walk(symbol, month, seed)[1].sum())


def _next_month(month: str) -> str:
    first = dt.date.fromisoformat(f"{month}-01")
    return (first + dt.timedelta(days=32)).strftime("%Y-%m")


@lru_cache(maxsize=1024)
def _start_price(symbol: str, month: str, seed: int) -> float:
    """The price the month's walk starts from: the previous month's last close."""
    price = float(20 + zlib.crc32(symbol.encode()) % 400)
    step = ANCHOR_MONTH
    while step < month:  # forward from the anchor
        price *= np.exp(_month_log_return(symbol, step, seed))
        step = _next_month(step)
    while step > month:  # backward: a month ends where the next one starts
        step = _previous_month(step)
        price /= np.exp(_month_log_return(symbol, step, seed))
    return price


@lru_cache(maxsize=32)
def _minutes(symbol: str, month: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every print of the month's sessions with extended hours: start times (minutes), whether in
    the regular session, and open/high/low/close/volume — the month's stretch of the symbol's
    random walk, minute by minute, plus each session's closing auction: one print at the close (listed before
    the post-market minute that starts then), about a tenth of the day's volume. The opening
    auction is the first regular minute's first print (its open), with a burst of volume."""
    times, regular = _session_minutes(month)
    n = len(times)
    rng, steps = _walk(symbol, month, seed)
    start = _start_price(symbol, month, seed)
    close = start * np.exp(np.cumsum(steps))
    opens = np.concatenate([[start], close[:-1]])
    spread = np.abs(rng.normal(0, 1, n)) * np.where(regular, 0.0004, 0.0002) * close
    high = np.maximum(opens, close) + spread
    low = np.minimum(opens, close) - spread
    volume = np.where(regular, rng.integers(200, 10_000, n), rng.integers(1, 400, n))
    values = np.column_stack([opens, high, low, close, volume])
    if not n:
        return times, regular, values
    flags = regular.astype(np.int8)
    first = np.flatnonzero(np.diff(np.concatenate([[0], flags])) == 1)  # each session's 09:30
    last = np.flatnonzero(np.diff(np.concatenate([flags, [0]])) == -1)  # ... and its last minute
    auctions = np.random.default_rng([seed, zlib.crc32(symbol.encode()), zlib.crc32(month.encode()), 1])
    day_volume = np.add.reduceat(np.where(regular, volume, 0), first)[: len(first)]
    k = len(first)
    values[first, 4] += np.round(day_volume * auctions.uniform(0.01, 0.03, k))  # the opening cross
    price = np.round(close[last] * np.exp(auctions.normal(0, 0.0005, k)), 4)  # the closing cross
    closing = np.column_stack([price, price, price, price, np.round(day_volume * auctions.uniform(0.09, 0.13, k))])
    at = last + 1
    return (
        np.insert(times, at, times[last] + np.timedelta64(1, "m")),
        np.insert(regular, at, True),
        np.insert(values, at, closing, axis=0),
    )


@lru_cache(maxsize=64)
def _bars(symbol: str, month: str, interval: str, seed: int, extended: bool) -> tuple[tuple, np.ndarray]:
    """The month's bars of ``interval``, oldest first: the minutes (regular hours only unless
    ``extended``) aggregated on the clock-aligned grid — first open, highest high, lowest low,
    last close, summed volume."""
    times, regular, values = _minutes(symbol, month, seed)
    if not extended:
        times, values = times[regular], values[regular]
    if not len(times):
        return (), np.empty((0, 5))
    k = int(interval.removesuffix("min"))
    grid = times.astype("int64") // k * k  # minutes since 1970: a multiple of k
    starts = np.flatnonzero(np.concatenate([[True], grid[1:] != grid[:-1]]))
    ends = np.concatenate([starts[1:], [len(times)]]) - 1
    bars = np.column_stack(
        [
            values[starts, 0],
            np.maximum.reduceat(values[:, 1], starts),
            np.minimum.reduceat(values[:, 2], starts),
            values[ends, 3],
            np.add.reduceat(values[:, 4], starts),
        ]
    )
    stamps = np.datetime_as_string(grid[starts].astype("datetime64[m]"), unit="s")
    return tuple(str(s).replace("T", " ") for s in stamps), bars


@lru_cache(maxsize=512)
def _daily_month(symbol: str, month: str, seed: int) -> tuple[tuple[str, tuple[float, ...]], ...]:
    """The month's official daily bars: each session's regular prints with both auctions — open
    (the opening cross), high, low, close (the closing cross), volume — as ``(day, values)``."""
    times, regular, values = _minutes(symbol, month, seed)
    times, values = times[regular], values[regular]
    if not len(times):
        return ()
    days = times.astype("datetime64[D]")
    starts = np.flatnonzero(np.concatenate([[True], days[1:] != days[:-1]]))
    ends = np.concatenate([starts[1:], [len(times)]]) - 1
    bars = np.column_stack(
        [
            values[starts, 0],
            np.maximum.reduceat(values[:, 1], starts),
            np.minimum.reduceat(values[:, 2], starts),
            values[ends, 3],
            np.add.reduceat(values[:, 4], starts),
        ]
    )
    return tuple((str(day), tuple(bar)) for day, bar in zip(days[starts], bars.tolist(), strict=False))


def _values(o: float, h: float, low: float, c: float, vol: float) -> dict[str, str]:
    """One bar's values as Alpha Vantage writes them: prices with four decimals, volume whole."""
    return {
        "1. open": f"{o:.4f}",
        "2. high": f"{h:.4f}",
        "3. low": f"{low:.4f}",
        "4. close": f"{c:.4f}",
        "5. volume": str(int(vol)),
    }


def render_daily(symbol: str, seed: int, today: str = TODAY, full: bool = False) -> bytes:
    """The ``TIME_SERIES_DAILY`` answer (newest first): every session from ``HISTORY_START`` to
    ``today`` (``full``), or the latest 100 of them (compact)."""
    days = [
        bar
        for month in months_between(HISTORY_START, today[:7])
        for bar in _daily_month(symbol, month, seed)
        if bar[0] <= today
    ]
    if not full:
        days = days[-100:]
    meta = {
        "1. Information": "Daily Prices (open, high, low, close) and Volumes",
        "2. Symbol": symbol,
        "3. Last Refreshed": days[-1][0] if days else today,
        "4. Output Size": "Full size" if full else "Compact",
        "5. Time Zone": "US/Eastern",
    }
    items = [(day, _values(*bar)) for day, bar in reversed(days)]
    return _json(meta, DAILY_KEY, items).encode()


@lru_cache(maxsize=64)
def _closes(month: str) -> dict[str, str]:
    """Each session's close, ``{"YYYY-MM-DD": "HH:MM:SS"}`` (US/Eastern)."""
    return {str(row.session): row.close.strftime("%H:%M:%S") for row in sessions(month).itertuples()}


def _last_session_with_revision(
    symbol: str, month: str, interval: str, seed: int, extended: bool
) -> list[tuple[str, list]]:
    """The month's last session as a later answer brings it: its closing bar revised (close 1% up)."""
    stamps, values = _bars(symbol, month, interval, seed, extended)
    if not stamps:
        return []
    day, closed = max(_closes(month).items())
    bars = [(t, list(v)) for t, v in zip(stamps, values.tolist(), strict=False) if t.startswith(day)]
    index = max(i for i, (t, _) in enumerate(bars) if t[11:] <= closed)  # the bar at the close
    t, (o, h, low, c, vol) = bars[index]
    revised = round(c * 1.01, 4)
    bars[index] = (t, [o, max(h, revised), low, revised, vol])
    return bars


def render(
    symbol: str, month: str, interval: str, seed: int, faults: frozenset, fetch: int = 1, extended: bool = False
) -> bytes:
    """The JSON answer for one call, byte for byte."""
    stamps, values = _bars(symbol, month, interval, seed, extended)
    bars = list(zip(stamps, values.tolist(), strict=False))
    if "duplicates" in faults:  # the previous month's last session comes along, revised
        bars = _last_session_with_revision(symbol, _previous_month(month), interval, seed, extended) + bars
    if "missing" in faults:
        second = sorted({t[:10] for t in stamps})[1]
        bars = [(t, v) for t, v in bars if not (t.startswith(second) and "10:00:00" <= t[11:] < "10:30:00")]
    if "correction" in faults and fetch > 1:
        # a session a third into the month: its bar at the close (the closing auction's), so the day's close changes
        day = bars[len(bars) // 3][0][:10]
        closed = _closes(month).get(day, "24:00:00")
        index = max(i for i, (t, _) in enumerate(bars) if t[:10] == day and t[11:] <= closed)
        t, (o, h, low, c, vol) = bars[index]
        corrected = round(c * 1.01, 4)
        bars[index] = (t, [o, max(h, corrected), min(low, corrected), corrected, vol])
    items = [(t, _values(*bar)) for t, bar in reversed(bars)]  # newest first, as the API answers
    if "duplicates" in faults and stamps:  # the feed sends a stretch of bars a second time
        first = stamps[0][:10]
        replayed = [(t, dict(bar)) for t, bar in items if t.startswith(first) and "09:00:00" <= t[11:] < "10:30:00"]
        items += replayed
    if "malformed" in faults:
        del items[len(items) // 2][1]["4. close"]
    last = max(t for t, _ in bars)
    meta = {
        "1. Information": f"Intraday ({interval}) open, high, low, close prices and volume",
        "2. Symbol": symbol,
        "3. Last Refreshed": last,
        "4. Interval": interval,
        "5. Output Size": "Full size",
        "6. Time Zone": "US/Eastern",
    }
    return _json(meta, f"Time Series ({interval})", items).encode()


def _json(meta: dict, key: str, items: list[tuple[str, dict]]) -> str:
    """``json.dumps({"Meta Data": meta, key: dict(items)}, indent=4)``, except that a time sent twice
    stays twice (a JSON object may repeat a key; a parser keeps the last)."""
    bars = ",\n".join(
        f'        "{t}": {{\n'
        + ",\n".join(f'            "{k}": {json.dumps(v)}' for k, v in bar.items())
        + "\n        }"
        for t, bar in items
    )
    body = json.dumps({"Meta Data": meta, key: "\0"}, indent=4)
    return body.replace('"\\u0000"', "{\n" + bars + "\n    }" if items else "{}")


def to_csv(body: bytes, key: str) -> bytes:
    """The same answer as ``datatype=csv`` renders it (a time sent twice: its row twice); ``key``:
    the series' key (``"Time Series (5min)"``, or an interval such as ``"5min"``)."""
    key = key if key.startswith("Time Series") else f"Time Series ({key})"
    payload = json.loads(body, object_pairs_hook=lambda pairs: pairs)
    series = dict(payload)[key]
    lines = [CSV_HEADER] + [",".join([stamp, *(v for _, v in bar)]) for stamp, bar in series]
    return ("\r\n".join(lines) + "\r\n").encode()
