"""HTTP for the external APIs (Alpha Vantage, OpenFIGI, PermID, GLEIF): what all their clients share.

Each client knows its own API — paths, formats, notices. What is the same for all of them lives here:

* :func:`base_url` — the one switch between a live service and its local stand-in
  (``FDE_MODE=live``: the service's address; offline: the stand-in's, started on first use);
  :func:`api_key` — a key from the settings, or a refusal that says where to get one;
* :func:`session` — a ``requests.Session`` that names the project in its ``User-Agent``;
* :func:`send` — one request, retried while the server answers HTTP 429 *and* asks for a short
  wait: the server's ``Retry-After`` (seconds or an HTTP date) or ``ratelimit-reset`` (seconds),
  else 1, 2, 4 … seconds. A wait longer than ``FDE_API_MAX_WAIT`` (60 s by default) is not
  waited for: a quota that resets in hours fails at once, naming the quota and when it resets;
* :func:`json_of` — the answer's body as JSON, or an error naming the API, the HTTP status and
  the first bytes (an HTML error page, an empty body, a truncated answer), raised before
  anything is written.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import time
from collections.abc import Callable
from typing import Any

import requests

from .config import Settings
from .errors import FdeError

USER_AGENT = "fde-workbench/0.1 (fdelib; a financial data engineering course)"
WAIT_HEADERS = ("retry-after", "ratelimit-reset", "x-ratelimit-reset")


def base_url(settings: Settings, live_url: str, stand_in: Callable[[], Any]) -> str:
    """``live_url`` in live mode; else the URL of the local stand-in ``stand_in()`` serves
    (a :class:`fdelib.localapi.LocalAPI`, started on first use)."""
    return live_url if settings.live else stand_in().url


def api_key(settings: Settings, variable: str, *, required: bool, why: str = "") -> str | None:
    """The key ``variable`` names (e.g. ``PERMID_API_KEY``) from the settings; in live mode a
    ``required`` key that is missing is refused with ``why`` (what the key is for, where to get it)."""
    value = getattr(settings, variable.lower(), None)
    if settings.live and required and not value:
        raise FdeError(f"FDE_MODE=live needs {variable}" + (f": {why}" if why else ""))
    return value


def session() -> requests.Session:
    """A session (one connection pool per client) that names the project to the server."""
    s = requests.Session()
    s.headers["User-Agent"] = USER_AGENT
    return s


def requested_wait(response: requests.Response, now: dt.datetime | None = None) -> float | None:
    """Seconds the server asks to wait before the next request, if it says: ``Retry-After``
    (seconds, or an HTTP date), OpenFIGI's ``ratelimit-reset`` (seconds), ``X-RateLimit-Reset``
    (seconds, or a Unix time when it is larger than a year in seconds)."""
    now = now or dt.datetime.now(dt.UTC)
    for name in WAIT_HEADERS:
        value = (response.headers.get(name) or "").strip()
        if not value:
            continue
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                continue
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            return max(0.0, (when - now).total_seconds())
        if seconds > 365 * 86400:  # an epoch time, not a duration
            seconds -= now.timestamp()
        return max(0.0, seconds)
    return None


def backoff(attempt: int, first: float = 1.0) -> float:
    """The wait before retry ``attempt`` (0, 1, …) when the server names none: first, 2×, 4× …"""
    return first * 2**attempt


def duration(seconds: float) -> str:
    """``21854`` → ``'21,854 s (6 h 4 min)'``: a wait a person can picture."""
    text = f"{seconds:,.0f} s"
    if seconds >= 3600:
        return f"{text} ({int(seconds // 3600)} h {int(seconds % 3600 // 60)} min)"
    if seconds >= 120:
        return f"{text} ({seconds / 60:.0f} min)"
    return text


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    api: str,
    error: type[FdeError],
    quota: str,
    hint: str = "",
    max_wait: float = 60.0,
    max_retries: int = 4,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[], None] | None = None,
    now: Callable[[], dt.datetime] | None = None,
    network_error: type[FdeError] | None = None,
    **options,
) -> requests.Response:
    """``session.request(method, url, **options)``, retried on HTTP 429 as the server asks.

    ``api`` names the call in messages (``"PermID match"``), ``quota`` the limit that was hit
    (``"PermID's request quota for this API key"``), ``hint`` what the user can do about it — the
    caller's to word: only a client for which a key raises the limit suggests one. A wait longer
    than ``max_wait`` seconds, or still 429 after ``max_retries`` retries, raises ``error``.
    A connection that fails raises ``network_error`` (default ``error``), naming the host, never
    the key. Any other
    status is returned: the caller turns it into its own clear error."""
    clock = now or (lambda: dt.datetime.now(dt.UTC))
    waited = 0.0
    for attempt in range(max_retries + 1):
        try:
            response = session.request(method, url, **options)
        except requests.RequestException as exc:
            host = requests.utils.urlparse(url).netloc
            raise (network_error or error)(f"{api}: no answer from {host} ({type(exc).__name__})") from exc
        if response.status_code != 429:
            return response
        asked = requested_wait(response, clock())
        wait = backoff(attempt) if asked is None else asked
        if wait > max_wait:
            resets = (clock() + dt.timedelta(seconds=wait)).strftime("%Y-%m-%d %H:%M UTC")
            raise error(
                f"{api}: {quota} is used up (HTTP 429); it resets in {duration(wait)}, at {resets}. "
                f"Not waiting that long (FDE_API_MAX_WAIT={max_wait:g} s)" + (f"; {hint}" if hint else "")
            )
        if attempt == max_retries:
            break
        if on_retry is not None:
            on_retry()
        sleep(wait)
        waited += wait
    raise error(
        f"{api}: still rate-limited (HTTP 429) after {max_retries} retries ({waited:g} s of waiting): "
        f"{quota} is used up" + (f"; {hint}" if hint else "")
    )


def first_bytes(body: bytes | str, limit: int = 80) -> str:
    """The start of a body, as a short readable literal (``'<!DOCTYPE html><html>…'`` or ``'(empty)'``)."""
    if not body:
        return "(empty)"
    head = body[:limit]
    text = head.decode("utf-8", "replace") if isinstance(head, bytes) else head
    return repr(text) + ("…" if len(body) > limit else "")


def json_of(response: requests.Response, api: str, error: type[FdeError]) -> Any:
    """The body of ``response`` as JSON (a leading UTF-8 byte-order mark is allowed), or
    ``error`` naming the API, the status and the first bytes."""
    body = response.content
    try:
        return json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        kind = response.headers.get("Content-Type", "").split(";")[0] or "no content type"
        raise error(
            f"{api}: the HTTP {response.status_code} answer is not JSON ({kind}, "
            f"{len(body):,} bytes: {first_bytes(body)})"
        ) from None


def dig(payload: Any, path: str, api: str, error: type[FdeError], kind: type | tuple = object) -> Any:
    """``payload[a][b]…`` for ``path = "a.b"``, or ``error`` naming what the answer lacks (an
    answer of the right syntax but the wrong shape: a proxy's JSON, a changed API)."""
    value = payload
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            shown = ", ".join(map(str, value)) if isinstance(value, dict) else type(value).__name__
            raise error(f"{api}: the answer has no {path!r} (found: {shown[:120] or 'nothing'})")
        value = value[part]
    if not isinstance(value, kind):
        raise error(f"{api}: {path!r} is a {type(value).__name__}, not what the API documents")
    return value
