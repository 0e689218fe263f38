"""LSEG Open PermID record matching: find the PermID of organisations by name and country.

``POST /permid/match`` takes the records as CSV text (``LocalID,Standard Identifier,Name,
Country,Street,City,PostalCode,State,Website``) with headers ``x-ag-access-token``,
``x-openmatch-dataType: Organization`` and ``x-openmatch-numberOfMatchesPerRecord``, and
answers JSON: counts (``matched``: ``total``, ``excellent``, ``good``, ``possible``; ``unMatched``),
``errorCode``/``errorCodeMessage``, and ``outputContentResponse`` — one entry per input row, with
``Input_LocalID`` and ``Match Level`` (``Excellent``, ``Good``, ``Possible`` or ``No Match``) and,
for a match, ``Match OpenPermID`` (``https://permid.org/1-<id>``), ``Match OrgName`` and
``Match Score`` (``"87%"``). At most 1 000 records per request.

A match is a *proposal*: a ``Possible`` one scored 11% is often another organisation. The client
returns every match with its level and score; :func:`.store.load_permid_matches` links only those
at or above ``PERMID_MIN_LEVEL`` and ``PERMID_MIN_SCORE`` and keeps the rest as candidates.

PermID always needs an API key (``PERMID_API_KEY``, free from LSEG's developer portal), and its
quota is per key: an HTTP 429 that asks for a long wait (it may ask for hours) fails at once,
saying when the quota resets — more keys are not the answer (:mod:`fdelib.http`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import requests

from .. import http
from ..config import Settings, get_settings
from ..errors import FdeError

LIVE_URL = "https://api-eit.refinitiv.com"
HEADER = ["LocalID", "Standard Identifier", "Name", "Country", "Street", "City", "PostalCode", "State", "Website"]
BATCH = 1000
COLUMNS = ["local_id", "permid", "matched_name", "score", "level"]


class PermIdError(FdeError):
    pass


def score_of(text) -> float | None:
    """``"87%"`` → 87.0; None when there is no readable score."""
    try:
        return float(str(text).strip().rstrip("%"))
    except (TypeError, ValueError):
        return None


@dataclass
class PermId:
    base_url: str
    token: str
    sleep: Callable[[float], None] = time.sleep
    max_retries: int = 4
    session: requests.Session = field(default_factory=http.session)
    requests_sent: int = 0
    max_wait: float = 60.0  # FDE_API_MAX_WAIT

    def match(self, records: pd.DataFrame) -> pd.DataFrame:
        """The best PermID match per record (``LocalID``, ``Name``, ``Country`` columns at least),
        whatever its level: ``local_id, permid, matched_name, score`` (a number, percent) ``, level``.
        Records without a match (``No Match``) are left out."""
        rows = []
        for start in range(0, len(records), BATCH):
            answer = self._post(records.iloc[start : start + BATCH])
            if answer.get("errorCode") not in (None, 0, "0"):
                raise PermIdError(f"PermID match: error {answer.get('errorCode')}: {answer.get('errorCodeMessage')}")
            for item in http.dig(answer, "outputContentResponse", "PermID match", PermIdError, list):
                url = item.get("Match OpenPermID") if isinstance(item, dict) else None
                if not url:
                    continue
                rows.append(
                    {
                        "local_id": item.get("Input_LocalID"),
                        "permid": url.rsplit("-", 1)[-1],
                        "matched_name": item.get("Match OrgName"),
                        "score": score_of(item.get("Match Score")),
                        "level": item.get("Match Level"),
                    }
                )
        return pd.DataFrame(rows, columns=COLUMNS)

    def _count(self) -> None:
        self.requests_sent += 1

    def _post(self, chunk: pd.DataFrame) -> dict:
        label = "PermID match"
        text = chunk.reindex(columns=HEADER, fill_value="").fillna("").to_csv(index=False, lineterminator="\n")
        headers = {
            "x-ag-access-token": self.token,
            "x-openmatch-dataType": "Organization",
            "x-openmatch-numberOfMatchesPerRecord": "1",
            "Content-Type": "text/plain",
            "Accept": "application/json",
        }
        self.requests_sent += 1
        response = http.send(
            self.session,
            "POST",
            f"{self.base_url}/permid/match",
            api=label,
            error=PermIdError,
            quota="PermID's request quota for this API key",
            hint="requests resume when it resets (match fewer, larger batches: up to 1,000 records a request)",
            sleep=self.sleep,
            max_retries=self.max_retries,
            max_wait=self.max_wait,
            on_retry=self._count,
            data=text.encode(),
            headers=headers,
            timeout=60,
        )
        if response.status_code in (401, 403):
            raise PermIdError(
                f"PermID match: the access token was refused (HTTP {response.status_code}; check PERMID_API_KEY)"
            )
        if response.status_code != 200:
            raise PermIdError(f"PermID match: HTTP {response.status_code}: {http.first_bytes(response.content, 120)}")
        answer = http.json_of(response, label, PermIdError)
        if not isinstance(answer, dict):
            raise PermIdError(f"PermID match: expected a JSON object, got {type(answer).__name__}")
        return answer


def client(settings: Settings | None = None, **options) -> PermId:
    settings = settings or get_settings()
    options.setdefault("max_wait", settings.api_max_wait)
    key = http.api_key(
        settings,
        "PERMID_API_KEY",
        required=True,
        why="PermID record matching always needs a key (free from LSEG's developer portal)",
    )
    if settings.live:
        assert key is not None  # api_key refuses a missing required key in live mode
        return PermId(LIVE_URL, key, **options)
    from . import stub

    return PermId(http.base_url(settings, LIVE_URL, stub.serve), key or "offline", **options)
