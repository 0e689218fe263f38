"""A client for Alpha Vantage's ``TIME_SERIES_INTRADAY`` and ``TIME_SERIES_DAILY``: real HTTP, the real payloads.

Alpha Vantage answers HTTP 200 for everything, so the body says what happened:

* ``{"Meta Data": {...}, "Time Series (5min)": {"2026-01-02 09:35:00": {"1. open": "...", ...}}}``
  — bars keyed by their start time in US/Eastern, newest first, values as strings;
  ``{"Meta Data": {...}, "Time Series (Daily)": {"2026-01-02": {...}}}`` — the official daily bars;
* ``{"Error Message": "Invalid API call. ..."}`` — a bad symbol or parameter: :class:`ApiError`;
* ``{"Note": "..."}`` or ``{"Information": "..."}`` — a notice. A per-minute/per-second rate limit
  is retried with exponential backoff (then :class:`RateLimited`); the free tier's *daily* quota
  raises :class:`RateLimited` at once (waiting minutes will not help); a premium endpoint or
  parameter asked with a free key raises :class:`PremiumRequired`, saying what a free key can do;
  any other notice is an :class:`ApiError`;
* anything else — :class:`MalformedPayload`, naming what is wrong.

Every answer is checked whole before anything is written: the structure, and each bar's values
(numbers; prices positive with ``low <= open, close <= high``; a whole, non-negative volume).
A time the answer sends twice (a JSON object may repeat a key — a parser keeps the last; a CSV
row twice) is kept as it came: the bars as a :class:`Series`, the earlier copies in its
``repeats`` — loaded raw like any bar, and removed by deduplication. Copies that disagree are
refused: the answer contradicts itself.

``datatype="csv"`` asks for the CSV form (``timestamp,open,high,low,close,volume``) and returns it
converted to the JSON payload's shape, so the rest of the pipeline is the same. A leading UTF-8
byte-order mark (some answers and proxies add one) is dropped before anything looks at the text.

**What a free key can do** (Alpha Vantage's documentation and premium page): 25 requests a day,
and a burst of about one request a second; ``TIME_SERIES_DAILY`` with ``outputsize=compact`` (the
latest 100 sessions). ``TIME_SERIES_INTRADAY`` — the month-by-month history (``month=``) this ETL
loads — and ``outputsize=full`` of the daily series are marked premium: a free key gets a notice
instead of bars, raised here as :class:`PremiumRequired` with these words (:data:`FREE_TIER`).

This module is the format and the client only; which server it talks to (the live API with
``ALPHAVANTAGE_API_KEY`` or the local stand-in) is decided in :mod:`fdelib.etl.source`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import http
from ..errors import FdeError

LIVE_URL = "https://www.alphavantage.co"
INTERVALS = ("1min", "5min", "15min", "30min", "60min")
FIELDS = ("1. open", "2. high", "3. low", "4. close", "5. volume")
PRICES = FIELDS[:4]
CSV_HEADER = "timestamp,open,high,low,close,volume"
BOM = "\ufeff"
SYMBOL = re.compile(r"[A-Z0-9.\-]{1,12}")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
_STAMPS = re.compile(r"(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\n)*")
# notices worth waiting for (per-minute or per-second limits), and the daily quota (not worth it)
_RETRYABLE = re.compile(r"per minute|per second|call frequency|sparingly|spreading out", re.I)
_DAILY = re.compile(r"per day", re.I)


class AlphaVantageError(FdeError):
    """Base of the errors this client raises."""


class ApiError(AlphaVantageError):
    """The API refused the call (its ``Error Message``, or a notice that waiting will not fix)."""


class RateLimited(AlphaVantageError):
    """Still rate-limited after every retry, or the day's quota is used up."""


class PremiumRequired(ApiError):
    """The call needs a premium key (the API's notice, with what a free key can do)."""


class MalformedPayload(AlphaVantageError):
    """The answer is not the payload the API documents."""


FREE_TIER = (
    "a free Alpha Vantage key allows 25 requests a day and TIME_SERIES_DAILY's latest 100 sessions "
    "(outputsize=compact); intraday history by month (TIME_SERIES_INTRADAY with month=) and "
    "outputsize=full need a premium key (https://www.alphavantage.co/premium/)"
)
DAILY_KEY = "Time Series (Daily)"
_DAY = re.compile(r"\d{4}-\d\d-\d\d")
_PREMIUM = re.compile(r"premium (endpoint|feature|plan)|is a premium", re.I)


@dataclass
class Client:
    base_url: str
    api_key: str
    max_retries: int = 4
    backoff: float = 1.0  # seconds before the first retry; doubles each time
    min_interval: float = 0.0  # seconds between calls (live: respect the quota)
    sleep: Callable[[float], None] = time.sleep
    timeout: float = 30.0
    max_wait: float = 60.0  # the longest wait a rate limit may ask for (FDE_API_MAX_WAIT)

    def __post_init__(self) -> None:
        self.session = http.session()
        self.calls = 0
        self.retries = 0
        self._last = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the key
        return f"Client({self.base_url!r}, calls={self.calls}, retries={self.retries})"

    def intraday(
        self,
        symbol: str,
        month: str,
        interval: str = "5min",
        *,
        extended_hours: bool = False,
        adjusted: bool = False,
        datatype: str = "json",
        decode: bool = True,
    ) -> dict[str, Any] | Answer:
        """The month's intraday bars of ``symbol``, as the API's JSON payload.

        ``extended_hours``: also the pre- and post-market bars (04:00–20:00 ET; the API's default is
        true, ours false: the daily product is built from the regular session, 09:30 to the 16:00
        bar that holds the closing auction). ``adjusted``: split/dividend-adjusted prices (the API's
        default is true, ours false: as traded, like the official daily series the product is
        reconciled with — adjusted prices of a month before a dividend differ from it).
        ``decode=False``: a month of bars comes back as an :class:`Answer` (its text, parsed and
        validated by ``.decode()``), so a thread can download the next month while another parses
        and loads this one (a big parse holds Python's GIL). Notices and errors, small answers, are
        still handled here."""
        check_request(symbol, month, interval)
        if datatype not in ("json", "csv"):
            raise ApiError(f"datatype {datatype!r} is not json or csv")
        params = {
            "function": "TIME_SERIES_INTRADAY",
            "symbol": symbol,
            "interval": interval,
            "month": month,
            "adjusted": "true" if adjusted else "false",
            "extended_hours": "true" if extended_hours else "false",
            "outputsize": "full",
            "datatype": datatype,
            "apikey": self.api_key,
        }
        where = f"{symbol} {month}"
        for attempt in range(self.max_retries + 1):
            text = self._get(params, where)
            if datatype == "csv" and text.startswith(CSV_HEADER):  # errors and notices come as JSON
                answer = Answer(text, symbol, month, interval, "csv")
                return answer.decode() if decode else answer
            if not decode and len(text) > _SMALL:
                return Answer(text, symbol, month, interval)
            payload = parse_json(text, where)
            if self._notice(payload, where, attempt, f"Time Series ({interval})"):
                continue
            return validate(keep_repeats(payload, text, interval), symbol, interval)
        raise AssertionError("unreachable")

    def daily(self, symbol: str, outputsize: str = "compact") -> dict[str, Any]:
        """The official daily bars of ``symbol`` (``TIME_SERIES_DAILY``: as traded, the regular
        session's open, high, low, close and volume), as the API's JSON payload, validated.
        ``outputsize="compact"``: the latest 100 sessions (free keys); ``"full"``: 20+ years (premium)."""
        if not symbol or not SYMBOL.fullmatch(symbol):
            raise ApiError(f"symbol {symbol!r} is not a ticker (capital letters, digits, '.', '-')")
        if outputsize not in ("compact", "full"):
            raise ApiError(f"outputsize {outputsize!r} is not compact or full")
        params = {
            "function": "TIME_SERIES_DAILY",
            "symbol": symbol,
            "outputsize": outputsize,
            "datatype": "json",
            "apikey": self.api_key,
        }
        where = f"{symbol} daily"
        for attempt in range(self.max_retries + 1):
            payload = parse_json(self._get(params, where), where)
            if self._notice(payload, where, attempt, DAILY_KEY):
                continue
            return validate_daily(payload, symbol)
        raise AssertionError("unreachable")

    def _notice(self, payload: Any, where: str, attempt: int, key: str) -> bool:
        """True when ``payload`` is a rate-limit notice worth waiting for (after the wait); raises
        for a notice that waiting cannot fix; False for anything else (the caller validates it)."""
        notice = payload.get("Note") or payload.get("Information") if isinstance(payload, dict) else None
        if not notice or key in payload:
            return False
        notice = str(notice)
        if not _RETRYABLE.search(notice):
            if _DAILY.search(notice):
                raise RateLimited(
                    f"{where}: the API key's daily quota is used up (retry tomorrow, "
                    f"or with another key; {FREE_TIER}): {notice}"
                )
            if _PREMIUM.search(notice):
                raise PremiumRequired(f"{where}: premium only — {FREE_TIER}. The API said: {notice}")
            raise ApiError(f"{where}: {notice}")
        if attempt == self.max_retries:
            raise RateLimited(f"{where}: still rate-limited after {attempt} retries: {notice}")
        self.retries += 1
        self.sleep(min(http.backoff(attempt, self.backoff), self.max_wait))
        return True

    def _get(self, params: dict, where: str) -> str:
        """The answer's text (a leading byte-order mark dropped)."""
        with self._lock:
            wait = self._last + self.min_interval - time.monotonic()
            if wait > 0:
                self.sleep(wait)
            self._last = time.monotonic()
        self.calls += 1
        response = http.send(
            self.session,
            "GET",
            f"{self.base_url}/query",
            api=f"Alpha Vantage {where}",
            error=RateLimited,
            network_error=AlphaVantageError,
            quota="the API key's request limit",
            hint=FREE_TIER,
            max_wait=self.max_wait,
            max_retries=self.max_retries,
            sleep=self.sleep,
            params=params,
            timeout=self.timeout,
        )
        if response.status_code != 200:
            raise ApiError(f"{where}: HTTP {response.status_code} ({http.first_bytes(response.content)})")
        try:
            return response.content.decode("utf-8").removeprefix(BOM)
        except UnicodeDecodeError as exc:
            raise MalformedPayload(
                f"{where}: the answer is not UTF-8 text ({http.first_bytes(response.content)})"
            ) from exc


_SMALL = 64 * 1024  # notices and errors are small JSON objects; a month of bars is not


@dataclass(frozen=True)
class Answer:
    """A month's answer as downloaded, not parsed yet (see ``Client.intraday(decode=False)``)."""

    text: str
    symbol: str
    month: str
    interval: str
    datatype: str = "json"

    def __post_init__(self) -> None:
        if self.text.startswith(BOM):  # an answer saved or passed on with its BOM
            object.__setattr__(self, "text", self.text[len(BOM) :])

    def decode(self) -> dict[str, Any]:
        """The validated payload (raises like ``Client.intraday`` on an error or malformed answer)."""
        if self.datatype == "csv":
            return from_csv(self.text, self.symbol, self.interval)
        payload = parse_json(self.text, f"{self.symbol} {self.month}")
        return validate(keep_repeats(payload, self.text, self.interval), self.symbol, self.interval)

    def __repr__(self) -> str:
        return f"Answer({self.symbol} {self.month} {self.interval}, {len(self.text):,} characters)"


def parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise MalformedPayload(f"{where}: the answer is not JSON ({text[:60]!r}...)") from exc


class Series(dict):
    """An answer's bars by time, as a JSON parser reads them (a time sent twice: its last copy),
    and ``repeats``: the earlier copies of times the answer sent more than once, as
    ``(time, bar)`` pairs — a real feed's duplicates, kept so the raw table holds what came."""

    repeats: list[tuple[str, Any]]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.repeats = []

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, Any]]) -> Series:
        series = cls()
        for stamp, bar in pairs:
            if stamp in series:
                series.repeats.append((stamp, series[stamp]))
            series[stamp] = bar
        return series


def repeats(series: dict) -> list[tuple[str, Any]]:
    """The earlier copies of the times ``series`` holds more than once (none for a plain dict)."""
    return getattr(series, "repeats", [])


def keep_repeats(payload: Any, text: str, interval: str) -> Any:
    """``payload`` with its time series as a :class:`Series` that keeps the times ``text`` sends
    more than once (``json.loads`` keeps only the last copy of a repeated key). A cheap count
    finds them: every bar has one ``"1. open"``; only then is the text parsed again."""
    key = f"Time Series ({interval})"
    series = payload.get(key) if isinstance(payload, dict) else None
    if isinstance(series, dict) and text.count('"1. open"') > len(series):

        def pairs(items):
            return Series.from_pairs(items) if items and _STAMP.fullmatch(str(items[0][0])) else dict(items)

        payload[key] = json.loads(text, object_pairs_hook=pairs).get(key, series)
    return payload


def check_request(symbol: str, month: str, interval: str) -> None:
    if not symbol or not SYMBOL.fullmatch(symbol):
        raise ApiError(f"symbol {symbol!r} is not a ticker (capital letters, digits, '.', '-')")
    if not _MONTH.match(month or ""):
        raise ApiError(f"month {month!r} is not YYYY-MM")
    if interval not in INTERVALS:
        raise ApiError(f"interval {interval!r} is not one of {', '.join(INTERVALS)}")


def validate(payload: Any, symbol: str, interval: str) -> dict[str, Any]:
    """``payload`` if it is a well-formed intraday answer for ``symbol``; else a clear error.

    Checks the structure, that every bar (and every repeated copy of one) has exactly the five
    fields, that repeated copies agree, and the values (:func:`check_values`) — before anything is
    written. PostgreSQL checks them again when the load parses them (a time that is no date, the
    table's CHECK constraints): a bad one fails the load's transaction, reported as
    :class:`MalformedPayload` naming the bar."""
    where = f"{symbol} {interval}"
    if not isinstance(payload, dict):
        raise MalformedPayload(f"{where}: expected a JSON object, got {type(payload).__name__}")
    if "Error Message" in payload:
        raise ApiError(f"{where}: {payload['Error Message']}")
    meta = payload.get("Meta Data")
    key = f"Time Series ({interval})"
    if not isinstance(meta, dict):
        raise MalformedPayload(f"{where}: no 'Meta Data' object")
    if str(meta.get("2. Symbol", "")).upper() != symbol.upper():
        raise MalformedPayload(f"{where}: payload is for symbol {meta.get('2. Symbol')!r}")
    if meta.get("4. Interval") != interval:
        raise MalformedPayload(f"{where}: payload is for interval {meta.get('4. Interval')!r}")
    if key not in payload or not isinstance(payload[key], dict):
        raise MalformedPayload(f"{where}: no {key!r} object (keys: {', '.join(payload)})")
    series = payload[key]
    fields = set(FIELDS)
    copies = repeats(series)
    if not all(type(bar) is dict and bar.keys() == fields for bar in series.values()) or not all(
        type(bar) is dict and bar.keys() == fields for _, bar in copies
    ):  # fast path
        for stamp, bar in [*series.items(), *copies]:
            if not isinstance(bar, dict):
                raise MalformedPayload(f"{where}: bar {stamp} is a {type(bar).__name__}, not an object")
            if bar.keys() != fields:
                missing = [f for f in FIELDS if f not in bar]
                extra = sorted(set(bar) - fields)
                raise MalformedPayload(
                    f"{where}: bar {stamp} "
                    + (f"lacks {', '.join(missing)}" if missing else f"has unknown field(s) {', '.join(extra)}")
                )
    if series and not _STAMPS.fullmatch("\n".join(series) + "\n"):  # one pass over every key
        bad = next(stamp for stamp in series if not _STAMP.fullmatch(stamp))
        raise MalformedPayload(f"{where}: bar key {bad!r} is not 'YYYY-MM-DD HH:MM:SS'")
    for stamp, bar in repeats(series):
        if bar != series[stamp]:
            raise MalformedPayload(
                f"{where}: bar {stamp} is sent twice with different values ({bar} and {series[stamp]})"
            )
    check_values(series, where)
    return payload


def check_values(series: dict[str, dict], where: str) -> None:
    """Refuse the answer (naming the first bad bar) unless every bar's prices are finite numbers
    with ``0 < low <= open, close <= high`` and its volume a whole number ``>= 0``.

    Vectorised — one conversion of each column — as it runs on every bar of every answer; the
    same rules are CHECK constraints of ``etl.raw_intraday``, the last line of defence."""
    if not series:
        return
    bars = list(series.values())
    try:
        prices = np.array([[bar[field] for bar in bars] for field in PRICES], dtype=np.float64)
        volume = np.array([bar["5. volume"] for bar in bars], dtype=np.int64)
    except (ValueError, TypeError, OverflowError) as exc:
        for stamp, bar in series.items():
            for field in FIELDS:
                try:
                    int(bar[field]) if field == "5. volume" else float(bar[field])
                except (ValueError, TypeError, OverflowError):
                    kind = "a whole number" if field == "5. volume" else "a number"
                    raise MalformedPayload(f"{where}: bar {stamp}: {field} {bar[field]!r} is not {kind}") from None
        raise MalformedPayload(f"{where}: the bars' values cannot be read as numbers ({exc})") from None
    good = sane_bars(prices, volume)
    if good.all():
        return
    index = int(np.argmin(good))
    stamp = list(series)[index]
    raise MalformedPayload(f"{where}: bar {stamp}: {_what_is_wrong(bars[index])}")


def sane_bars(prices: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """Per bar, whether its values keep the rules: prices (rows open, high, low, close) finite with
    ``0 < low <= open, close <= high``, volume ``>= 0``. The JSON and the CSV path both ask this."""
    open_, high, low, close = prices
    with np.errstate(invalid="ignore"):
        return (
            np.isfinite(prices).all(axis=0)
            & (low > 0)
            & (low <= open_)
            & (open_ <= high)
            & (low <= close)
            & (close <= high)
            & (volume >= 0)
        )


def _what_is_wrong(bar: dict) -> str:
    o, h, low, c = (float(bar[f]) for f in PRICES)
    named = {"open": o, "high": h, "low": low, "close": c}
    for name, value in named.items():
        if not np.isfinite(value):
            return f"{name} is {bar[FIELDS[list(named).index(name)]]!r}, not a finite number"
    for name, value in named.items():
        if value <= 0:
            return f"{name} {value:g} is not a positive price"
    if low > h:
        return f"low {low:g} is above high {h:g}"
    for name, value in (("open", o), ("close", c)):
        if not low <= value <= h:
            return f"{name} {value:g} is outside the bar's range, low {low:g} to high {h:g}"
    return f"volume {bar['5. volume']} is negative"


def from_csv(text: str, symbol: str, interval: str) -> dict[str, Any]:
    """A ``datatype=csv`` answer in the JSON payload's shape (newest first, values as strings)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != CSV_HEADER:
        raise MalformedPayload(f"{symbol} {interval}: CSV answer without the header {CSV_HEADER!r}")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        cells = line.strip().split(",")
        if len(cells) != 6:
            raise MalformedPayload(f"{symbol} {interval}: CSV line {number} has {len(cells)} fields, not 6")
        rows.append((cells[0], dict(zip(FIELDS, cells[1:], strict=False))))
    series = Series.from_pairs(rows)  # a row sent twice stays twice (a repeat)
    last = next(iter(series), "")
    payload = {
        "Meta Data": {
            "1. Information": f"Intraday ({interval}) open, high, low, close prices and volume",
            "2. Symbol": symbol,
            "3. Last Refreshed": last,
            "4. Interval": interval,
            "5. Output Size": "Full size",
            "6. Time Zone": "US/Eastern",
        },
        f"Time Series ({interval})": series,
    }
    return validate(payload, symbol, interval)


def validate_daily(payload: Any, symbol: str) -> dict[str, Any]:
    """``payload`` if it is a well-formed ``TIME_SERIES_DAILY`` answer for ``symbol``; else a clear
    error (the same value rules as the intraday bars: :func:`check_values`)."""
    where = f"{symbol} daily"
    if not isinstance(payload, dict):
        raise MalformedPayload(f"{where}: expected a JSON object, got {type(payload).__name__}")
    if "Error Message" in payload:
        raise ApiError(f"{where}: {payload['Error Message']}")
    meta = payload.get("Meta Data")
    if not isinstance(meta, dict):
        raise MalformedPayload(f"{where}: no 'Meta Data' object")
    if str(meta.get("2. Symbol", "")).upper() != symbol.upper():
        raise MalformedPayload(f"{where}: payload is for symbol {meta.get('2. Symbol')!r}")
    series = payload.get(DAILY_KEY)
    if not isinstance(series, dict):
        raise MalformedPayload(f"{where}: no {DAILY_KEY!r} object (keys: {', '.join(payload)})")
    fields = set(FIELDS)
    for day, bar in series.items():
        if not _DAY.fullmatch(str(day)):
            raise MalformedPayload(f"{where}: key {day!r} is not 'YYYY-MM-DD'")
        if not isinstance(bar, dict) or bar.keys() != fields:
            raise MalformedPayload(f"{where}: day {day} has not exactly the fields {', '.join(FIELDS)}")
    check_values(series, where)
    return payload
