"""GLEIF: LEI records from its API, the BIC-to-LEI and ISIN-to-LEI mapping files, and the golden copy.

Three services, no key needed (GLEIF allows about 60 requests a minute; HTTP 429 is waited out
if short, see :mod:`fdelib.http`):

* ``api.gleif.org`` — ``GET /api/v1/lei-records`` speaks JSON:API: records under ``data``, each
  with ``attributes.entity`` (legal name, address, status) and ``attributes.registration``, and
  ``meta.pagination`` to walk the pages (at most 200 records a page). The register holds over
  three million records: a listing here is **bounded** — narrowed by filters (``leis``, ``bics``,
  ``filters={"entity.legalAddress.country": "DE"}``) and capped at ``max_pages`` pages
  (``GLEIF_MAX_PAGES``, 20): a listing that would need more is refused after its first page, naming
  how many records matched. Raising ``max_pages`` is the explicit opt-in; the whole register is
  the golden copy's business.
* ``mapping.gleif.org`` — ``GET /api/v2/{bic-lei,isin-lei}/latest`` answers JSON whose
  ``data.attributes.downloadLink`` is the current publication's zip; each zip holds exactly one CSV
  (``lei-bic-<timestamp>.csv`` with header ``LEI,BIC``; ``lei-isin-<timestamp>.csv`` with
  ``LEI,ISIN``). Anything else is refused, naming what the archive holds. ``GLEIF_BIC_LEI_URL`` /
  ``GLEIF_ISIN_LEI_URL`` pin a publication (a zip, or a JSON answer of that shape).
* ``goldencopy.gleif.org`` — ``GET /api/v2/golden-copies/publishes`` lists the golden copies,
  newest first; ``lei2.full_file.csv`` is the whole register as one zipped CSV (hundreds of MB):
  :meth:`Gleif.golden_copy` downloads it only with ``full_download=True`` and reads the columns of
  ``refdata.entities``.

BICs: GLEIF lists 11-character BICs. An 8-character BIC is the institution's head office, the
same as its BIC11 with branch ``XXX`` (``PUMADE77`` is ``PUMADE77XXX``): filters and lookups
extend it (:func:`.identifiers.bic11`).

Every answer is parsed with :func:`fdelib.http.json_of` — an HTML page, an empty body or a cut
answer raises :class:`GleifError` naming the call, the status and the first bytes, before anything
is written.
"""

from __future__ import annotations

import io
import re
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import requests

from .. import http
from ..config import Settings, get_settings
from ..errors import FdeError
from .identifiers import bic11

LIVE_URL = "https://api.gleif.org"
MAPPING_URL = "https://mapping.gleif.org"
GOLDEN_COPY_URL = "https://goldencopy.gleif.org"
PAGE_SIZE_MAX = 200
LEIS_PER_REQUEST = 100
MAPPING_FILES = {"bic-lei": ("lei-bic", ["LEI", "BIC"]), "isin-lei": ("lei-isin", ["LEI", "ISIN"])}
# the golden copy's columns (its lei2 CSV has 200+) that refdata.entities keeps
GOLDEN_COLUMNS = {
    "LEI": "lei",
    "Entity.LegalName": "legal_name",
    "Entity.LegalAddress.Country": "country",
    "Entity.LegalAddress.City": "city",
    "Registration.RegistrationStatus": "status",
    "Registration.InitialRegistrationDate": "registered_on",
}
QUOTA = "GLEIF's request limit (about 60 requests a minute)"
HINT = "GLEIF needs no key; wait a minute, and narrow the listing (filters) or use the golden copy"


class GleifError(FdeError):
    pass


@dataclass
class Gleif:
    base_url: str
    bic_lei_url: str | None = None  # GLEIF_BIC_LEI_URL, else the mapping service's latest publication
    isin_lei_url: str | None = None  # GLEIF_ISIN_LEI_URL
    sleep: Callable[[float], None] = time.sleep
    max_retries: int = 4
    session: requests.Session = field(default_factory=http.session)
    pages_read: int = 0
    mapping_url: str = MAPPING_URL
    golden_copy_url: str = GOLDEN_COPY_URL
    max_pages: int = 20  # GLEIF_MAX_PAGES
    max_wait: float = 60.0  # FDE_API_MAX_WAIT

    def _get(self, url: str, label: str, **options) -> requests.Response:
        options.setdefault("headers", {"Accept": "*/*"})  # mapping.gleif.org answers 406 to application/json
        return http.send(
            self.session,
            "GET",
            url,
            api=label,
            error=GleifError,
            quota=QUOTA,
            hint=HINT,
            sleep=self.sleep,
            max_retries=self.max_retries,
            max_wait=self.max_wait,
            **options,
        )

    def _json(self, url: str, label: str, **options) -> Any:
        response = self._get(url, label, **options)
        if response.status_code != 200:
            raise GleifError(f"{label}: HTTP {response.status_code}: {http.first_bytes(response.content, 120)}")
        return http.json_of(response, label, GleifError)

    # --- the API: LEI records ------------------------------------------------------------
    def lei_records(
        self,
        leis: list[str] | None = None,
        page_size: int = 100,
        *,
        bics: list[str] | None = None,
        filters: dict[str, str] | None = None,
        max_pages: int | None = None,
    ) -> list[dict]:
        """The records of ``leis`` (asked 100 at a time), of ``bics``, or matching ``filters``
        (GLEIF's ``filter[...]`` names), page by page — at most ``max_pages`` pages
        (default: ``GLEIF_MAX_PAGES``) per listing: a listing that needs more is refused after its
        first page, naming the number of records. Without any filter the listing is the whole
        register (three million records): it is refused unless ``max_pages`` allows it."""
        if not 1 <= page_size <= PAGE_SIZE_MAX:
            raise GleifError(f"page_size {page_size} is not 1 to {PAGE_SIZE_MAX} (GLEIF's largest page)")
        cap = self.max_pages if max_pages is None else max_pages
        wanted = {f"filter[{k}]": str(v) for k, v in (filters or {}).items()}
        if bics:
            wanted["filter[bic]"] = ",".join(bic11(b) for b in bics)
        if leis:
            records = []
            for start in range(0, len(leis), LEIS_PER_REQUEST):
                chunk = {**wanted, "filter[lei]": ",".join(leis[start : start + LEIS_PER_REQUEST])}
                records += self._listing(chunk, page_size, cap)
            return records
        return self._listing(wanted, page_size, cap)

    def _listing(self, params: dict[str, str], page_size: int, cap: int) -> list[dict]:
        label = "GLEIF lei-records"
        records, number = [], 1
        while True:
            page = self._json(
                f"{self.base_url}/api/v1/lei-records",
                label,
                params={**params, "page[size]": page_size, "page[number]": number},
                timeout=30,
            )
            data = http.dig(page, "data", label, GleifError, list)
            pagination = http.dig(page, "meta.pagination", label, GleifError, dict)
            last, total = pagination.get("lastPage"), pagination.get("total")
            if not isinstance(last, int) or not isinstance(total, int):
                raise GleifError(f"{label}: meta.pagination has no whole lastPage and total ({pagination})")
            self.pages_read += 1
            if number == 1 and last > cap:
                what = ", ".join(f"{k[7:-1]}={v[:40]}" for k, v in params.items()) or "no filter: the whole register"
                raise GleifError(
                    f"{label}: {total:,} records match ({what}); reading them takes {last:,} pages "
                    f"of {page_size}, more than max_pages={cap} (GLEIF_MAX_PAGES). Narrow the listing "
                    "(leis=, bics=, filters={'entity.legalAddress.country': ...}), pass a larger "
                    "max_pages on purpose, or load the whole register from the golden copy "
                    "(golden_copy(full_download=True))"
                )
            records.extend(data)
            if number >= last:
                return records
            number += 1

    def count(
        self, *, bics: list[str] | None = None, filters: dict[str, str] | None = None, page_size: int = 100
    ) -> dict[str, int]:
        """How many records a listing would return, and how many pages of ``page_size`` that is —
        one request for one record, before deciding how to load them."""
        params = {f"filter[{k}]": str(v) for k, v in (filters or {}).items()}
        if bics:
            params["filter[bic]"] = ",".join(bic11(b) for b in bics)
        label = "GLEIF lei-records"
        page = self._json(
            f"{self.base_url}/api/v1/lei-records",
            label,
            params={**params, "page[size]": 1, "page[number]": 1},
            timeout=30,
        )
        total = http.dig(page, "meta.pagination.total", label, GleifError, int)
        return {"records": total, f"pages of {page_size}": -(-total // page_size), "page cap": self.max_pages}

    def lei_record(self, lei: str) -> dict | None:
        label = f"GLEIF lei-records/{lei}"
        response = self._get(f"{self.base_url}/api/v1/lei-records/{lei}", label, timeout=30)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise GleifError(f"{label}: HTTP {response.status_code}: {http.first_bytes(response.content, 120)}")
        return http.dig(http.json_of(response, label, GleifError), "data", label, GleifError, dict)

    # --- the mapping files -------------------------------------------------------------------
    def mapping_file(self, kind: str) -> pd.DataFrame:
        """The ``bic-lei`` or ``isin-lei`` file of the latest publication (or the pinned one),
        unzipped and checked, as text columns ``LEI`` and ``BIC``/``ISIN``."""
        if kind not in MAPPING_FILES:
            raise GleifError(f"unknown mapping file {kind!r}; bic-lei or isin-lei")
        label = f"GLEIF {kind} file"
        url = (
            self.bic_lei_url if kind == "bic-lei" else self.isin_lei_url
        ) or f"{self.mapping_url}/api/v2/{kind}/latest"
        response = self._get(url, label, timeout=120)
        if response.status_code == 200 and not response.content.startswith(b"PK"):  # the "latest" JSON
            answer = http.json_of(response, label, GleifError)
            link = http.dig(answer, "data.attributes.downloadLink", label, GleifError, str)
            response = self._get(link, label, timeout=600)
        if response.status_code != 200:
            raise GleifError(f"{label}: HTTP {response.status_code}: {http.first_bytes(response.content, 120)}")
        return read_mapping_zip(response.content, kind)

    # --- the golden copy -----------------------------------------------------------------------
    def golden_copy_info(self) -> dict[str, Any]:
        """The latest golden copy's ``lei2`` CSV: ``published``, ``records``, ``bytes`` (zipped), ``url``
        — one small request, nothing downloaded."""
        label = "GLEIF golden copy"
        index = self._json(
            f"{self.golden_copy_url}/api/v2/golden-copies/publishes", label, params={"page[size]": 1}, timeout=30
        )
        latest = http.dig(index, "data", label, GleifError, list)
        if not latest:
            raise GleifError(f"{label}: no publication listed")
        csv = http.dig(latest[0], "lei2.full_file.csv", label, GleifError, dict)
        if not isinstance(csv.get("url"), str):
            raise GleifError(f"{label}: the publication has no lei2 CSV address")
        return {
            "published": latest[0].get("publish_date", "?"),
            "records": csv.get("record_count"),
            "bytes": csv.get("size"),
            "url": csv["url"],
        }

    def golden_copy(
        self, *, full_download: bool = False, leis: list[str] | None = None, folder: Path | None = None
    ) -> pd.DataFrame:
        """The whole register from the latest golden copy (its ``lei2`` CSV), as the columns of
        ``refdata.entities`` (``leis``: keep only these). The file is large: without
        ``full_download=True`` this only says how large, and downloads nothing. It is streamed to
        a temporary file in ``folder`` (default: the data folder), then read in chunks."""
        label = "GLEIF golden copy"
        info = self.golden_copy_info()
        if not full_download:
            records = f"{info['records']:,} records" if isinstance(info["records"], int) else "the whole register"
            size = info["bytes"]
            megabytes = (
                f", {size / 1e6:,.0f} MB zipped"
                if isinstance(size, (int, float)) and size >= 1e6
                else f", {size / 1e3:,.0f} kB zipped"
                if isinstance(size, (int, float))
                else ""
            )
            raise GleifError(
                f"{label} of {info['published']}: {records}{megabytes} — pass "
                "full_download=True to download it (or read a few records through the API with filters)"
            )
        url = info["url"]
        folder = Path(folder or get_settings().data_dir / "gleif")
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".zip") as part:
            with self._get(url, label, timeout=600, stream=True) as response:
                if response.status_code != 200:
                    raise GleifError(f"{label}: HTTP {response.status_code}")
                for block in response.iter_content(chunk_size=1 << 20):
                    part.write(block)
            part.flush()
            return read_golden_copy(Path(part.name), leis)


def read_mapping_zip(content: bytes, kind: str) -> pd.DataFrame:
    """The one CSV of a GLEIF mapping zip, checked: exactly one member, named as GLEIF names it
    (``lei-bic-…csv`` / ``lei-isin-…csv``), with exactly the header ``LEI,BIC`` / ``LEI,ISIN``."""
    stem, header = MAPPING_FILES[kind]
    label = f"GLEIF {kind} file"
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile:
        raise GleifError(f"{label}: not a zip ({len(content):,} bytes: {http.first_bytes(content)})") from None
    with archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        if len(names) != 1 or not re.fullmatch(rf"{stem}-[0-9T]+\.csv", names[0].rsplit("/", 1)[-1]):
            raise GleifError(
                f"{label}: expected one file named {stem}-<timestamp>.csv in the zip, found "
                f"{len(names)}: {', '.join(names[:5]) or 'none'}"
            )
        with archive.open(names[0]) as member:
            first = member.readline().decode("utf-8-sig").strip()
            if first.split(",") != header:
                raise GleifError(
                    f"{label}: {names[0]} starts with the header {first[:60]!r}, not {','.join(header)!r} "
                    "(GLEIF's columns, in this case): refused rather than guessed"
                )
            frame = pd.read_csv(member, names=header, header=None, dtype=str, keep_default_na=False)
    return frame


def read_golden_copy(path: Path, leis: list[str] | None = None) -> pd.DataFrame:
    """The golden copy's ``lei2`` CSV (zipped) as the columns of ``refdata.entities``."""
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
        if len(names) != 1:
            raise GleifError(f"GLEIF golden copy: expected one CSV in the zip, found {len(names)}")
        wanted = set(leis or [])
        parts = []
        with archive.open(names[0]) as member:
            try:
                chunks = pd.read_csv(
                    member, usecols=list(GOLDEN_COLUMNS), dtype=str, keep_default_na=False, chunksize=200_000
                )
                for chunk in chunks:
                    parts.append(chunk[chunk["LEI"].isin(wanted)] if wanted else chunk)
            except ValueError as exc:
                raise GleifError(f"GLEIF golden copy: {names[0]} lacks a column refdata needs ({exc})") from None
    frame = pd.concat(parts, ignore_index=True).rename(columns=GOLDEN_COLUMNS)
    frame["registered_on"] = frame["registered_on"].str[:10]
    return frame[list(GOLDEN_COLUMNS.values())]


def entity_rows(records: list[dict]) -> pd.DataFrame:
    """LEI records flattened to the columns of ``refdata.entities`` (a record without them is
    refused, naming its LEI and the missing field)."""
    rows = []
    for record in records:
        where = f"GLEIF record {record.get('id', '?') if isinstance(record, dict) else '?'}"
        a = http.dig(record, "attributes", where, GleifError, dict)
        rows.append(
            {
                "lei": http.dig(a, "lei", where, GleifError, str),
                "legal_name": http.dig(a, "entity.legalName.name", where, GleifError, str),
                "country": http.dig(a, "entity.legalAddress.country", where, GleifError, str),
                "city": http.dig(a, "entity.legalAddress.city", where, GleifError),
                "status": http.dig(a, "registration.status", where, GleifError, str),
                "registered_on": http.dig(a, "registration.initialRegistrationDate", where, GleifError, str)[:10],
            }
        )
    return pd.DataFrame(rows, columns=["lei", "legal_name", "country", "city", "status", "registered_on"])


def client(settings: Settings | None = None, **options) -> Gleif:
    """GLEIF's services live, or the stand-in's (offline): the API, the mapping files, the golden copy."""
    settings = settings or get_settings()
    options.setdefault("max_pages", settings.gleif_max_pages)
    options.setdefault("max_wait", settings.api_max_wait)
    if settings.live:
        return Gleif(LIVE_URL, settings.gleif_bic_lei_url, settings.gleif_isin_lei_url, **options)
    from . import stub

    url = http.base_url(settings, LIVE_URL, stub.serve)
    return Gleif(url, mapping_url=url, golden_copy_url=url, **options)
