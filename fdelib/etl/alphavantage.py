"""A client for Alpha Vantage's ``TIME_SERIES_INTRADAY``: real HTTP, the real payload.

Alpha Vantage answers HTTP 200 for everything, so the body says what happened:

* ``{"Meta Data": {...}, "Time Series (5min)": {"2026-01-02 09:35:00": {"1. open": "...", ...}}}``
  — bars keyed by their time in US/Eastern;
* ``{"Error Message": "Invalid API call. ..."}`` — a bad symbol or parameter: :class:`ApiError`;
* ``{"Note": "..."}`` or ``{"Information": "..."}`` — a rate limit (or the premium-endpoint notice):
  retried with exponential backoff, then :class:`RateLimited`;
* anything else — :class:`MalformedPayload`, naming what is wrong.

Offline (the default), ``base_url`` is the local stand-in from :mod:`fdelib.etl.stub`; live,
it is ``https://www.alphavantage.co`` with ``ALPHAVANTAGE_API_KEY``, and calls are spaced by
``min_interval`` seconds (the free tier allows a few per minute).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from ..config import Settings, get_settings
from ..errors import FdeError

LIVE_URL = "https://www.alphavantage.co"
INTERVALS = ("1min", "5min", "15min", "30min", "60min")
FIELDS = ("1. open", "2. high", "3. low", "4. close", "5. volume")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


class AlphaVantageError(FdeError):
    """Base of the errors this client raises."""


class ApiError(AlphaVantageError):
    """The API refused the call (its ``Error Message``)."""


class RateLimited(AlphaVantageError):
    """Still rate-limited after every retry."""


class MalformedPayload(AlphaVantageError):
    """The answer is not the payload the API documents."""


@dataclass
class Client:
    base_url: str
    api_key: str
    max_retries: int = 4
    backoff: float = 1.0                 # seconds before the first retry; doubles each time
    min_interval: float = 0.0            # seconds between calls (live: respect the quota)
    sleep: Callable[[float], None] = time.sleep
    timeout: float = 30.0

    def __post_init__(self) -> None:
        self.session = requests.Session()
        self.calls = 0
        self.retries = 0
        self._last = 0.0
        self._lock = threading.Lock()

    def intraday(self, symbol: str, month: str, interval: str = "5min") -> dict[str, Any]:
        """The month's adjusted intraday bars of ``symbol``, as the API's JSON payload."""
        check_request(symbol, month, interval)
        params = {"function": "TIME_SERIES_INTRADAY", "symbol": symbol, "interval": interval,
                  "month": month, "adjusted": "true", "extended_hours": "false",
                  "outputsize": "full", "datatype": "json", "apikey": self.api_key}
        for attempt in range(self.max_retries + 1):
            payload = self._get(params)
            notice = payload.get("Note") or payload.get("Information") if isinstance(payload, dict) else None
            if notice and not any(k.startswith("Time Series") for k in payload):
                if attempt == self.max_retries:
                    raise RateLimited(f"{symbol} {month}: still rate-limited after {attempt} retries: {notice}")
                self.retries += 1
                self.sleep(self.backoff * 2 ** attempt)
                continue
            return validate(payload, symbol, interval)
        raise AssertionError("unreachable")

    def _get(self, params: dict) -> Any:
        with self._lock:
            wait = self._last + self.min_interval - time.monotonic()
            if wait > 0:
                self.sleep(wait)
            self._last = time.monotonic()
        self.calls += 1
        try:
            response = self.session.get(f"{self.base_url}/query", params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise AlphaVantageError(f"{params['symbol']} {params['month']}: no answer from "
                                    f"{self.base_url} ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise ApiError(f"{params['symbol']} {params['month']}: HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise MalformedPayload(f"{params['symbol']} {params['month']}: the answer is not JSON "
                                   f"({response.text[:60]!r}...)") from exc


def check_request(symbol: str, month: str, interval: str) -> None:
    if not symbol or not re.fullmatch(r"[A-Z0-9.\-]{1,12}", symbol):
        raise ApiError(f"symbol {symbol!r} is not a ticker (letters, digits, '.', '-')")
    if not _MONTH.match(month or ""):
        raise ApiError(f"month {month!r} is not YYYY-MM")
    if interval not in INTERVALS:
        raise ApiError(f"interval {interval!r} is not one of {', '.join(INTERVALS)}")


def validate(payload: Any, symbol: str, interval: str) -> dict[str, Any]:
    """``payload`` if it is a well-formed intraday answer for ``symbol``; else a clear error."""
    where = f"{symbol} {interval}"
    if not isinstance(payload, dict):
        raise MalformedPayload(f"{where}: expected a JSON object, got {type(payload).__name__}")
    if "Error Message" in payload:
        raise ApiError(f"{where}: {payload['Error Message']}")
    meta = payload.get("Meta Data")
    key = f"Time Series ({interval})"
    if not isinstance(meta, dict):
        raise MalformedPayload(f"{where}: no 'Meta Data' object")
    if meta.get("2. Symbol", "").upper() != symbol.upper():
        raise MalformedPayload(f"{where}: payload is for symbol {meta.get('2. Symbol')!r}")
    if key not in payload or not isinstance(payload[key], dict):
        raise MalformedPayload(f"{where}: no {key!r} object (keys: {', '.join(payload)})")
    fields = set(FIELDS)
    for stamp, bar in payload[key].items():
        if not isinstance(bar, dict) or not fields <= bar.keys():
            raise MalformedPayload(f"{where}: bar {stamp} lacks {', '.join(f for f in FIELDS if f not in (bar or {}))}")
        if not _STAMP.fullmatch(stamp):
            raise MalformedPayload(f"{where}: bar key {stamp!r} is not 'YYYY-MM-DD HH:MM:SS'")
    return payload


def client(settings: Settings | None = None, **options) -> Client:
    """A client for the configured mode: live API with a key, else the local stand-in."""
    settings = settings or get_settings()
    if settings.live:
        if not settings.alphavantage_api_key:
            raise FdeError("FDE_MODE=live needs ALPHAVANTAGE_API_KEY (free at alphavantage.co)")
        options.setdefault("min_interval", 12.0)
        options.setdefault("backoff", 20.0)
        return Client(LIVE_URL, settings.alphavantage_api_key, **options)
    from . import stub

    return Client(stub.serve().url, "demo", **options)
