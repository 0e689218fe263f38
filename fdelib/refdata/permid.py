"""LSEG Open PermID record matching: find the PermID of organisations by name and country.

``POST /permid/match`` takes the records as CSV text (``LocalID,Standard Identifier,Name,
Country,Street,City,PostalCode,State,Website``) with headers ``x-ag-access-token``,
``x-openmatch-dataType: Organization`` and ``x-openmatch-numberOfMatchesPerRecord``, and
answers JSON: counts, and ``outputContentResponse`` — one entry per match with
``Input_LocalID``, ``Match OpenPermID`` (``https://permid.org/1-<id>``), ``Match OrgName``,
``Match Score`` and ``Match Level``. At most 1 000 records per request. Live mode needs
``PERMID_API_KEY`` (free from LSEG's developer portal).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import requests

from ..config import Settings, get_settings
from ..errors import FdeError
from .http import send

LIVE_URL = "https://api-eit.refinitiv.com"
HEADER = ["LocalID", "Standard Identifier", "Name", "Country", "Street", "City", "PostalCode", "State", "Website"]
BATCH = 1000


class PermIdError(FdeError):
    pass


@dataclass
class PermId:
    base_url: str
    token: str
    sleep: Callable[[float], None] = time.sleep
    max_retries: int = 4
    session: requests.Session = field(default_factory=requests.Session)
    requests_sent: int = 0

    def match(self, records: pd.DataFrame) -> pd.DataFrame:
        """Best PermID match per record (``LocalID``, ``Name``, ``Country`` columns at least)."""
        rows = []
        for start in range(0, len(records), BATCH):
            answer = self._post(records.iloc[start:start + BATCH])
            for item in answer.get("outputContentResponse", []):
                url = item.get("Match OpenPermID")
                if not url:
                    continue
                rows.append({"local_id": item.get("Input_LocalID"), "permid": url.rsplit("-", 1)[-1],
                             "matched_name": item.get("Match OrgName"), "score": item.get("Match Score"),
                             "level": item.get("Match Level")})
        return pd.DataFrame(rows, columns=["local_id", "permid", "matched_name", "score", "level"])

    def _count_and_sleep(self, seconds: float) -> None:
        self.requests_sent += 1
        self.sleep(seconds)

    def _post(self, chunk: pd.DataFrame) -> dict:
        text = chunk.reindex(columns=HEADER, fill_value="").fillna("").to_csv(index=False, lineterminator="\n")
        headers = {"x-ag-access-token": self.token, "x-openmatch-dataType": "Organization",
                   "x-openmatch-numberOfMatchesPerRecord": "1", "Content-Type": "text/plain",
                   "Accept": "application/json"}
        self.requests_sent += 1
        response = send(self.session, "POST", f"{self.base_url}/permid/match", label="PermID match",
                        error=PermIdError, sleep=self._count_and_sleep, max_retries=self.max_retries,
                        data=text.encode(), headers=headers, timeout=60)
        if response.status_code in (401, 403):
            raise PermIdError("PermID match: the access token was refused (set PERMID_API_KEY)")
        if response.status_code != 200:
            raise PermIdError(f"PermID match: HTTP {response.status_code}: {response.text[:120]}")
        return response.json()


def client(settings: Settings | None = None, **options) -> PermId:
    settings = settings or get_settings()
    if settings.live:
        if not settings.permid_api_key:
            raise FdeError("FDE_MODE=live needs PERMID_API_KEY for PermID record matching")
        return PermId(LIVE_URL, settings.permid_api_key, **options)
    from . import stub

    return PermId(stub.serve().url, settings.permid_api_key or "offline", **options)
