"""One HTTP request to a reference-data API, retried while the API says "too many requests".

Each API names its wait differently: OpenFIGI sends ``ratelimit-reset`` (seconds), GLEIF and
PermID the standard ``Retry-After``. Without either, the wait doubles from one second.
Anything but a 429 is returned to the caller, whose job is to turn it into a clear error.
"""

from __future__ import annotations

from collections.abc import Callable

import requests

from ..errors import FdeError

WAIT_HEADERS = ("ratelimit-reset", "retry-after")


def wait_for(response: requests.Response, attempt: int) -> float:
    """Seconds to wait before asking again: the server's word, else 1, 2, 4 … seconds."""
    for name in WAIT_HEADERS:
        value = response.headers.get(name)
        try:
            return max(0.0, float(value))
        except (TypeError, ValueError):
            continue
    return float(2 ** attempt)


def send(session: requests.Session, method: str, url: str, *, label: str, error: type[FdeError],
         sleep: Callable[[float], None], max_retries: int, **options) -> requests.Response:
    """``session.request(...)``, retried up to ``max_retries`` times on HTTP 429."""
    for attempt in range(max_retries + 1):
        response = session.request(method, url, **options)
        if response.status_code != 429:
            return response
        if attempt == max_retries:
            break
        sleep(wait_for(response, attempt))
    raise error(f"{label}: still rate-limited (HTTP 429) after {max_retries} retries; "
                "wait a minute, or use an API key for higher limits")
