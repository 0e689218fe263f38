"""OpenFIGI v3: map identifiers (ISIN, CUSIP, ticker) to FIGIs, and search.

Real HTTP, the real format: ``POST /v3/mapping`` takes a JSON array of jobs and answers one
result per job, in order — ``{"data": [...]}``, ``{"warning": ...}`` or ``{"error": ...}``.
Jobs are sent in batches of 10 (100 with an API key, ``X-OPENFIGI-APIKEY``); HTTP 429 is
retried after the ``ratelimit-reset`` the server names. Live: https://api.openfigi.com
(an API key raises the limits; none is needed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from ..config import Settings, get_settings
from ..errors import FdeError
from .http import send

LIVE_URL = "https://api.openfigi.com"


class OpenFigiError(FdeError):
    pass


@dataclass
class OpenFigi:
    base_url: str
    api_key: str | None = None
    sleep: Callable[[float], None] = time.sleep
    max_retries: int = 5
    session: requests.Session = field(default_factory=requests.Session)
    requests_sent: int = 0

    @property
    def batch(self) -> int:
        return 100 if self.api_key else 10

    def _post(self, path: str, body) -> requests.Response:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["X-OPENFIGI-APIKEY"] = self.api_key
        self.requests_sent += 1
        response = send(self.session, "POST", self.base_url + path, label=f"OpenFIGI {path}",
                        error=OpenFigiError, sleep=self._count_and_sleep, max_retries=self.max_retries,
                        json=body, headers=headers, timeout=30)
        if response.status_code == 413:
            raise OpenFigiError(f"OpenFIGI {path}: too many jobs in one request ({response.text.strip()})")
        if response.status_code != 200:
            raise OpenFigiError(f"OpenFIGI {path}: HTTP {response.status_code}: {response.text.strip()[:120]}")
        return response

    def _count_and_sleep(self, seconds: float) -> None:
        self.requests_sent += 1
        self.sleep(seconds)

    def map(self, jobs: list[dict]) -> list[dict]:
        """One result per job, in order (batched as the API requires)."""
        results = []
        for start in range(0, len(jobs), self.batch):
            chunk = jobs[start:start + self.batch]
            answer = self._post("/v3/mapping", chunk).json()
            if not isinstance(answer, list) or len(answer) != len(chunk):
                raise OpenFigiError(f"OpenFIGI /v3/mapping: expected {len(chunk)} results, got {answer!r:.80}")
            results.extend(answer)
        return results

    def search(self, query: str, limit: int = 200) -> list[dict]:
        """Every instrument matching ``query``, following ``next`` page tokens."""
        found, start = [], None
        while len(found) < limit:
            body = {"query": query} | ({"start": start} if start else {})
            page = self._post("/v3/search", body).json()
            found.extend(page.get("data", []))
            start = page.get("next")
            if not start:
                break
        return found[:limit]


def client(settings: Settings | None = None, **options) -> OpenFigi:
    settings = settings or get_settings()
    if settings.live:
        return OpenFigi(LIVE_URL, settings.openfigi_api_key, **options)
    from . import stub

    return OpenFigi(stub.serve().url, settings.openfigi_api_key, **options)
