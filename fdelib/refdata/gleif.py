"""GLEIF: LEI records from its API, and the BIC-to-LEI and ISIN-to-LEI mapping files.

``GET /api/v1/lei-records`` speaks JSON:API — records under ``data``, each with
``attributes.entity`` (legal name, address, status) and ``attributes.registration``, and
``meta.pagination`` to walk the pages. The mapping files are zipped CSV (``BIC,LEI`` and
``LEI,ISIN``). No key needed. Live: https://api.gleif.org (files from GLEIF's download
pages, set with ``GLEIF_BIC_LEI_URL`` / ``GLEIF_ISIN_LEI_URL``). HTTP 429 (GLEIF allows about
60 requests a minute) is retried after its ``Retry-After``.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
import zipfile
from dataclasses import dataclass, field

import pandas as pd
import requests

from ..config import Settings, get_settings
from ..errors import FdeError
from .http import send

LIVE_URL = "https://api.gleif.org"


class GleifError(FdeError):
    pass


@dataclass
class Gleif:
    base_url: str
    bic_lei_url: str | None = None     # live: GLEIF_BIC_LEI_URL (offline: the stand-in's file)
    isin_lei_url: str | None = None    # live: GLEIF_ISIN_LEI_URL
    sleep: Callable[[float], None] = time.sleep
    max_retries: int = 4
    session: requests.Session = field(default_factory=requests.Session)
    pages_read: int = 0

    def _get(self, url: str, label: str, **options) -> requests.Response:
        return send(self.session, "GET", url, label=label, error=GleifError, sleep=self.sleep,
                    max_retries=self.max_retries, **options)

    def lei_records(self, leis: list[str] | None = None, page_size: int = 100) -> list[dict]:
        """Every record (or those of ``leis``), page by page."""
        records, number = [], 1
        params = {"page[size]": page_size}
        if leis:
            params["filter[lei]"] = ",".join(leis)
        while True:
            response = self._get(f"{self.base_url}/api/v1/lei-records", "GLEIF lei-records",
                                 params={**params, "page[number]": number}, timeout=30)
            if response.status_code != 200:
                raise GleifError(f"GLEIF lei-records: HTTP {response.status_code}: {response.text[:120]}")
            page = response.json()
            self.pages_read += 1
            records.extend(page.get("data", []))
            if number >= page["meta"]["pagination"]["lastPage"]:
                return records
            number += 1

    def lei_record(self, lei: str) -> dict | None:
        response = self._get(f"{self.base_url}/api/v1/lei-records/{lei}", f"GLEIF lei-records/{lei}", timeout=30)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise GleifError(f"GLEIF lei-records/{lei}: HTTP {response.status_code}")
        return response.json()["data"]

    def mapping_file(self, kind: str) -> pd.DataFrame:
        """The ``bic-lei`` or ``isin-lei`` file, unzipped, as text columns."""
        if kind not in ("bic-lei", "isin-lei"):
            raise GleifError(f"unknown mapping file {kind!r}; bic-lei or isin-lei")
        url = self.bic_lei_url if kind == "bic-lei" else self.isin_lei_url
        if not url:
            variable = "GLEIF_BIC_LEI_URL" if kind == "bic-lei" else "GLEIF_ISIN_LEI_URL"
            raise GleifError(f"no download address for GLEIF's {kind} file: set {variable} to the current "
                             "link on GLEIF's 'LEI mapping' download page")
        response = self._get(url, f"GLEIF {kind} file", timeout=120)
        if response.status_code != 200:
            raise GleifError(f"GLEIF {kind} file: HTTP {response.status_code}")
        try:
            with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
                name = next(n for n in archive.namelist() if n.lower().endswith(".csv"))
                return pd.read_csv(archive.open(name), dtype=str, keep_default_na=False)
        except (zipfile.BadZipFile, StopIteration) as exc:
            raise GleifError(f"GLEIF {kind} file: not a zip holding a CSV ({exc})") from exc


def entity_rows(records: list[dict]) -> pd.DataFrame:
    """LEI records flattened to the columns of ``refdata.entities``."""
    rows = []
    for record in records:
        a = record["attributes"]
        rows.append({"lei": a["lei"], "legal_name": a["entity"]["legalName"]["name"],
                     "country": a["entity"]["legalAddress"]["country"],
                     "city": a["entity"]["legalAddress"]["city"],
                     "status": a["registration"]["status"],
                     "registered_on": a["registration"]["initialRegistrationDate"][:10]})
    return pd.DataFrame(rows, columns=["lei", "legal_name", "country", "city", "status", "registered_on"])


def client(settings: Settings | None = None, **options) -> Gleif:
    settings = settings or get_settings()
    if settings.live:
        return Gleif(LIVE_URL, settings.gleif_bic_lei_url, settings.gleif_isin_lei_url, **options)
    from . import stub

    url = stub.serve().url
    return Gleif(url, f"{url}/files/bic-lei.zip", f"{url}/files/isin-lei.zip", **options)
