"""OpenFIGI v3: map identifiers (ISIN, CUSIP, ticker) to FIGIs, and search.

Real HTTP, the real format: ``POST /v3/mapping`` takes a JSON array of jobs and answers one
result per job, in order — ``{"data": [...]}``, ``{"warning": "No identifier found."}`` or
``{"error": "Invalid idValue format."}`` (a job refused: its text is kept with the job, and
:func:`.store.load_figi_results` stores it in ``refdata.rejects``). Jobs are sent in batches of 10
(100 with an API key, ``X-OPENFIGI-APIKEY``). ``POST /v3/search`` answers
``{"data": [...], "next": "..."}`` or ``{"error": "..."}``, which raises (it is not "nothing found").

HTTP 429 is retried after the ``ratelimit-reset`` the server names, if that is short
(:mod:`fdelib.http`); OpenFIGI's limits are per minute (25 mapping requests a minute without a
key), and a key raises them — the one API of the three where "get a key" is the right advice.
An answer that is not JSON raises :class:`OpenFigiError` naming the call, status and first bytes.
Live: https://api.openfigi.com (no key needed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from .. import http
from ..config import Settings, get_settings
from ..errors import FdeError

LIVE_URL = "https://api.openfigi.com"


class OpenFigiError(FdeError):
    pass


@dataclass
class OpenFigi:
    base_url: str
    api_key: str | None = None
    sleep: Callable[[float], None] = time.sleep
    max_retries: int = 5
    session: requests.Session = field(default_factory=http.session)
    requests_sent: int = 0
    max_wait: float = 60.0  # FDE_API_MAX_WAIT

    @property
    def batch(self) -> int:
        return 100 if self.api_key else 10

    def _post(self, path: str, body) -> Any:
        label = f"OpenFIGI {path}"
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["X-OPENFIGI-APIKEY"] = self.api_key
        hint = (
            "wait a minute"
            if self.api_key
            else "wait a minute, or set OPENFIGI_API_KEY (free from openfigi.com) for higher limits"
        )
        self.requests_sent += 1
        response = http.send(
            self.session,
            "POST",
            self.base_url + path,
            api=label,
            error=OpenFigiError,
            quota="OpenFIGI's per-minute request limit",
            hint=hint,
            sleep=self.sleep,
            max_retries=self.max_retries,
            max_wait=self.max_wait,
            on_retry=self._count,
            json=body,
            headers=headers,
            timeout=30,
        )
        if response.status_code == 413:
            raise OpenFigiError(f"{label}: too many jobs in one request ({response.text.strip()[:120]})")
        if response.status_code != 200:
            raise OpenFigiError(f"{label}: HTTP {response.status_code}: {http.first_bytes(response.content, 120)}")
        return http.json_of(response, label, OpenFigiError)

    def _count(self) -> None:
        self.requests_sent += 1

    def map(self, jobs: list[dict]) -> list[dict]:
        """One result per job, in order (batched as the API requires): ``{"data": [...]}``,
        ``{"warning": ...}`` or ``{"error": ...}`` — a refused job keeps its error text."""
        results = []
        for start in range(0, len(jobs), self.batch):
            chunk = jobs[start : start + self.batch]
            answer = self._post("/v3/mapping", chunk)
            if not isinstance(answer, list) or len(answer) != len(chunk):
                raise OpenFigiError(f"OpenFIGI /v3/mapping: expected {len(chunk)} results, got {answer!r:.80}")
            for job, result in zip(chunk, answer, strict=False):
                if not isinstance(result, dict) or not {"data", "warning", "error"} & result.keys():
                    raise OpenFigiError(
                        f"OpenFIGI /v3/mapping: the result for {job} is not data, a warning or an error: {result!r:.80}"
                    )
            results.extend(answer)
        return results

    def search(self, query: str, limit: int = 200) -> list[dict]:
        """Every instrument matching ``query``, following ``next`` page tokens; an ``error``
        answer raises."""
        found: list[dict] = []
        start = None
        while len(found) < limit:
            body = {"query": query} | ({"start": start} if start else {})
            page = self._post("/v3/search", body)
            if isinstance(page, dict) and "error" in page:
                raise OpenFigiError(f"OpenFIGI /v3/search {query!r}: {page['error']}")
            found.extend(http.dig(page, "data", "OpenFIGI /v3/search", OpenFigiError, list))
            start = page.get("next")
            if not start:
                break
        return found[:limit]


def client(settings: Settings | None = None, **options) -> OpenFigi:
    settings = settings or get_settings()
    options.setdefault("max_wait", settings.api_max_wait)
    key = http.api_key(settings, "OPENFIGI_API_KEY", required=False)
    if settings.live:
        return OpenFigi(LIVE_URL, key, **options)
    from . import stub

    return OpenFigi(http.base_url(settings, LIVE_URL, stub.serve), key, **options)
