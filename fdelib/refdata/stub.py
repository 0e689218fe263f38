"""Offline stand-ins for OpenFIGI, GLEIF and PermID, in their real request and answer formats.

One local server answers for all of them (routes: :class:`fdelib.localapi.Router`):

* OpenFIGI v3 — ``POST /v3/mapping``: a JSON array of jobs (``idType``, ``idValue``, optional
  ``exchCode``, ``micCode``, ``currency``), at most 10 per request without an API key and 100 with one
  (``X-OPENFIGI-APIKEY``; more is HTTP 413); one result per job: ``{"data": [...]}``,
  ``{"warning": "No identifier found."}`` or ``{"error": "Invalid idValue format."}`` (an ISIN,
  CUSIP or FIGI of the wrong shape) / ``{"error": "Invalid idType."}``. ``POST /v3/search``:
  ``{"query", "start"}`` → ``{"data": [...], "next": "..."}``; a ``start`` it never issued →
  ``{"error": ...}``. Too many requests: HTTP 429 with a ``ratelimit-reset`` header (seconds).
* GLEIF API v1 — ``GET /api/v1/lei-records`` with ``filter[lei]=A,B``, ``filter[bic]=`` (BIC11s),
  ``filter[entity.legalAddress.country]=``, ``page[size]`` (at most 200) and ``page[number]``
  (JSON:API: ``data[].attributes.entity.legalName.name`` …, ``meta.pagination``, ``links``) and
  ``GET /api/v1/lei-records/{lei}`` (404 with ``errors`` when unknown). Records list their BICs
  in the 11-character form, as GLEIF does.
* GLEIF's mapping files — ``GET /api/v2/{bic-lei,isin-lei}/latest`` (JSON: the publication, with
  ``data.attributes.downloadLink``), ``/api/v2/{kind}`` (the publications, newest first) and
  ``/api/v2/{kind}/{id}/download`` or ``/latest/download``: a zip holding one CSV,
  ``lei-bic-<timestamp>.csv`` (``LEI,BIC``) or ``lei-isin-<timestamp>.csv`` (``LEI,ISIN``), as
  published. Like real files they hold a few rows that fail validation (``corrupt_rows``).
* GLEIF's golden copy — ``GET /api/v2/golden-copies/publishes`` (the latest first; ``lei2``'s
  ``full_file.csv`` with ``url``, ``size`` and ``record_count``) and its zipped CSV, with the real
  golden copy's column names (a subset of its 200+ columns).
* LSEG Open PermID record matching — ``POST /permid/match`` with CSV records and the
  ``x-ag-access-token`` header (401 without it); the real answer's counts and one entry per row:
  the exact name and country ``Excellent`` (100%), the same first two words ``Good`` (87%), only
  the first word ``Possible`` (a low score — often another organisation), else ``No Match``.

``configure(version=2)`` serves the universe a few weeks later; ``rate_limited=N`` answers the
next N API requests (any of the three) with 429 in that API's own shape, asking to wait
``retry_after`` seconds (1; a PermID quota can ask for hours).
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from typing import Any

import pandas as pd

from ..localapi import LocalAPI, Request, Response, Router
from ..localapi import serve as serve_api
from .identifiers import bic11
from .universe import build

NAME = "refdata"
ID_TYPES = {"ID_ISIN": "isin", "ID_CUSIP": "cusip", "TICKER": "ticker", "ID_BB_GLOBAL": "figi"}
SHAPES = {"ID_ISIN": 12, "ID_CUSIP": 9, "ID_BB_GLOBAL": 12}  # idValue lengths OpenFIGI checks
PUBLISHED = {1: "20260102", 2: "20260202"}  # the stand-in's publication dates
LEVELS = ("Excellent", "Good", "Possible")
GOLDEN_COLUMNS = [
    "LEI",
    "Entity.LegalName",
    "Entity.LegalAddress.FirstAddressLine",
    "Entity.LegalAddress.City",
    "Entity.LegalAddress.Country",
    "Entity.LegalAddress.PostalCode",
    "Entity.LegalJurisdiction",
    "Entity.EntityStatus",
    "Registration.InitialRegistrationDate",
    "Registration.RegistrationStatus",
    "Registration.ManagingLOU",
]


class Sources:
    def __init__(self):
        self.seed, self.version, self.rate_limited, self.corrupt_rows = 42, 1, 0, True
        self.retry_after, self.rows = 1, None
        self.lock = threading.Lock()
        self.router = Router(
            before=self.limit,
            not_found=lambda r: Response.json({"error": f"no such endpoint {r.method} {r.path}"}, 404),
        )
        add = self.router.add
        add("POST", "/v3/mapping", self.mapping)
        add("POST", "/v3/search", self.search)
        add("POST", "/permid/match", self.permid_match)
        add("GET", "/api/v1/lei-records", self.lei_records)
        add("GET", "/api/v1/lei-records/{lei}", self.lei_record)
        add("GET", "/api/v2/golden-copies/publishes", self.golden_copies)
        add("GET", "/golden-copy/{name}", self.golden_copy_file)
        for kind in ("bic-lei", "isin-lei"):
            add("GET", f"/api/v2/{kind}", self.publications)
            add("GET", f"/api/v2/{kind}/latest", self.latest)
            add("GET", f"/api/v2/{kind}/latest/download", self.download)
            add("GET", f"/api/v2/{kind}/{{publication}}/download", self.download)

    def configure(
        self,
        *,
        seed: int = 42,
        version: int = 1,
        rate_limited: int = 0,
        corrupt_rows: bool = True,
        rows: int | None = None,
        retry_after: int = 1,
    ) -> None:
        with self.lock:
            self.seed, self.version, self.rate_limited, self.corrupt_rows = seed, version, rate_limited, corrupt_rows
            self.rows, self.retry_after = rows, retry_after

    @property
    def universe(self):
        return build(self.seed, version=self.version)

    def __call__(self, request: Request) -> Response:
        return self.router(request)

    def limit(self, request: Request) -> Response | None:
        """The next ``rate_limited`` API requests (not file downloads) get HTTP 429."""
        if request.path.endswith("/download") or request.path.startswith("/golden-copy/"):
            return None
        with self.lock:
            limited, self.rate_limited = self.rate_limited > 0, max(0, self.rate_limited - 1)
        return _too_many(request.path, self.retry_after) if limited else None

    # --- OpenFIGI ---------------------------------------------------------------------
    def mapping(self, request: Request) -> Response:
        try:
            jobs = request.json()
        except ValueError:
            return Response.text("Request body must be a JSON array.", 400)
        if not isinstance(jobs, list):
            return Response.text("Request body must be a JSON array.", 400)
        limit = 100 if request.headers.get("x-openfigi-apikey") else 10
        if len(jobs) > limit:
            return Response.text(f"Too many mapping jobs per request (max {limit}).", 413)
        listing = self.universe.instruments
        results: list[dict[str, Any]] = []
        for job in jobs:
            kind, value = job.get("idType"), str(job.get("idValue", ""))
            column = ID_TYPES.get(kind)
            if column is None:
                results.append({"error": "Invalid idType."})
                continue
            if kind in SHAPES and (len(value) != SHAPES[kind] or not value.isalnum()):
                results.append({"error": "Invalid idValue format."})
                continue
            found = listing[listing[column] == value]
            if job.get("exchCode"):
                found = found[found["exch_code"] == job["exchCode"]]
            if job.get("micCode"):  # the venue (ISO 10383) and currency filters
                found = found[found["mic"] == job["micCode"]]
            if job.get("currency"):
                found = found[found["currency"] == job["currency"]]
            results.append(
                {"data": [_figi_record(r) for r in found.itertuples()]}
                if len(found)
                else {"warning": "No identifier found."}
            )
        return Response.json(results)

    def search(self, request: Request) -> Response:
        body = request.json() or {}
        query = str(body.get("query", "")).upper()
        start = str(body.get("start") or "0")
        if not start.isdigit():
            return Response.json({"error": f"Invalid start value: {start[:40]}"})
        listing = self.universe.instruments
        found = listing[listing["name"].str.contains(query, regex=False) | (listing["ticker"] == query)]
        page = found.iloc[int(start) : int(start) + 20]
        answer: dict[str, Any] = {"data": [_figi_record(r) for r in page.itertuples()]}
        if int(start) + 20 < len(found):
            answer["next"] = str(int(start) + 20)
        return Response.json(answer)

    # --- PermID -----------------------------------------------------------------------
    def permid_match(self, request: Request) -> Response:
        if not request.headers.get("x-ag-access-token"):
            return Response.json({"error": "Missing or invalid access token"}, 401)
        try:
            records = pd.read_csv(io.BytesIO(request.body), dtype=str, keep_default_na=False)
        except Exception:
            return Response.json({"error": "The request body is not CSV"}, 400)
        if "Name" not in records.columns or "LocalID" not in records.columns:
            return Response.json({"error": "CSV header must name LocalID and Name"}, 400)
        if len(records) > 1000:
            return Response.json({"error": "Too many records: at most 1000 per request"}, 400)
        entities = self.universe.entities
        output, levels = [], dict.fromkeys(LEVELS, 0)
        for number, row in enumerate(records.itertuples(), start=2):
            found, score, level = _permid_match(entities, row.Name, getattr(row, "Country", ""))
            item = {
                "ProcessingStatus": "OK",
                "Match Level": level or "No Match",
                "Original Row Number": str(number),
                "Input_LocalID": row.LocalID,
                "Input_Name": row.Name,
                "Input_Country": getattr(row, "Country", ""),
            }
            if found is not None:
                levels[level] += 1
                item.update(
                    {
                        "Match OpenPermID": f"https://permid.org/1-{found.permid}",
                        "Match OrgName": found.legal_name,
                        "Match Score": f"{score}%",
                        "Match Level": level,
                        "Match Ordinal": "1",
                    }
                )
            output.append(item)
        matched = sum(levels.values())
        sent = [c.lower() for c in records.columns]
        return Response.json(
            {
                "ignore": "      ",
                "unMatched": len(records) - matched,
                "matched": {"total": matched, **{k.lower(): v for k, v in levels.items() if v}},
                "numReceivedRecords": len(records),
                "numProcessedRecords": len(records),
                "numErrorRecords": 0,
                "headersIdentifiedSuccessfully": sent,
                "headersNotIdentified": [],
                "headersSupportedWereNotSent": [
                    c.lower()
                    for c in ("Standard Identifier", "Street", "City", "PostalCode", "State", "Website")
                    if c.lower() not in sent
                ],
                "errorCode": 0,
                "errorCodeMessage": "Success",
                "resolvingTimeInMs": 12,
                "requestTimeInMs": 12,
                "outputContentResponse": output,
            }
        )

    # --- GLEIF API ----------------------------------------------------------------------
    def lei_records(self, request: Request) -> Response:
        q = request.query
        entities = self.universe.entities.assign(
            bic=lambda f: f["bic"].map(lambda b: bic11(b) if pd.notna(b) else None)
        )
        filters = {k[7:-1]: v for k, v in q.items() if k.startswith("filter[")}
        columns = {"lei": "lei", "bic": "bic", "entity.legalAddress.country": "country"}
        unknown = set(filters) - set(columns)
        if unknown:
            return _gleif_error(400, f"Unsupported filter: {', '.join(sorted(unknown))}")
        for name, value in filters.items():
            entities = entities[entities[columns[name]].isin([x for x in value.split(",") if x])]
        try:
            size, number = int(q.get("page[size]") or 10), int(q.get("page[number]") or 1)
        except ValueError:
            return _gleif_error(400, "page[size] and page[number] must be whole numbers")
        if not 1 <= size <= 200 or number < 1:
            return _gleif_error(400, "page[size] must be 1 to 200, page[number] at least 1")
        total = len(entities)
        last = max(1, -(-total // size))
        page = entities.iloc[(number - 1) * size : number * size]
        return Response.json(
            {
                "meta": {
                    "goldenCopy": {"publishDate": "2026-01-02T08:00:00Z"},
                    "pagination": {
                        "currentPage": number,
                        "perPage": size,
                        "from": (number - 1) * size + 1,
                        "to": (number - 1) * size + len(page),
                        "total": total,
                        "lastPage": last,
                    },
                },
                "links": _page_links(number, last, size),
                "data": [_lei_record(r) for r in page.itertuples()],
            }
        )

    def lei_record(self, request: Request, lei: str) -> Response:
        entities = self.universe.entities
        found = entities[entities["lei"] == lei]
        if found.empty:
            return _gleif_error(404, "Not Found")
        return Response.json({"data": _lei_record(next(found.itertuples()))})

    # --- GLEIF's mapping files -----------------------------------------------------------
    def _publication(self, request: Request, kind: str) -> dict:
        date = PUBLISHED.get(self.version, PUBLISHED[1])
        ident = f"6f1c1f2e-0000-4000-8000-{self.version:012d}"
        name = f"LEI-BIC-{date}.zip" if kind == "bic-lei" else f"isin-lei-{date}T070000.zip"
        host = request.headers.get("host", "127.0.0.1")
        return {
            "type": kind,
            "id": ident,
            "attributes": {
                "fileName": name,
                "uploadedAt": f"{date[:4]}-{date[4:6]}-{date[6:]}T07:00:00Z",
                "downloadLink": f"http://{host}/api/v2/{kind}/{ident}/download",
                "processed": True,
                "valid": True,
            },
        }

    def latest(self, request: Request) -> Response:
        kind = request.path.split("/")[3]
        return Response.json({"data": self._publication(request, kind)})

    def publications(self, request: Request) -> Response:
        kind = request.path.split("/")[3]
        return Response.json(
            {
                "meta": {"pagination": {"currentPage": 1, "perPage": 15, "total": 1, "lastPage": 1}},
                "data": [self._publication(request, kind)],
            }
        )

    def download(self, request: Request, publication: str = "latest") -> Response:
        return Response(200, self.mapping_file(request.path.split("/")[3]), "application/zip")

    def mapping_file(self, kind: str) -> bytes:
        u = self.universe
        date = PUBLISHED.get(self.version, PUBLISHED[1])
        if kind == "bic-lei":
            frame = u.entities.dropna(subset=["bic"])[["lei", "bic"]].set_axis(["LEI", "BIC"], axis=1)
            frame["BIC"] = frame["BIC"].map(bic11)  # GLEIF lists BIC11s
            bad = [
                {"LEI": u.entities["lei"].iloc[0], "BIC": "BANK1XXXXXX"},  # a BIC of the wrong shape
                {"LEI": u.entities["lei"].iloc[1][:-2] + "00", "BIC": "ZZZZUS33XXX"},
            ]  # LEI check digits off
            name = f"lei-bic-{date}T000000.csv"
        else:
            frame = u.instruments[["issuer_lei", "isin"]].set_axis(["LEI", "ISIN"], axis=1)
            isin = u.instruments["isin"].iloc[0]
            bad = [{"LEI": u.entities["lei"].iloc[2], "ISIN": isin[:-1] + ("1" if isin.endswith("0") else "0")}]
            name = f"lei-isin-{date}T070000.csv"
        if self.rows:
            frame = _grow(frame, self.rows)
        if self.corrupt_rows:
            frame = pd.concat([frame, pd.DataFrame(bad)], ignore_index=True)
        return _zip(name, frame.to_csv(index=False, lineterminator="\n"))

    # --- GLEIF's golden copy -------------------------------------------------------------
    def golden_copies(self, request: Request) -> Response:
        date = PUBLISHED.get(self.version, PUBLISHED[1])
        body = self.golden_copy_zip()
        name = f"{date}-0800-gleif-goldencopy-lei2-golden-copy.csv.zip"
        csv = {
            "url": f"http://{request.headers.get('host', '127.0.0.1')}/golden-copy/{name}",
            "size": len(body),
            "size_human_readable": f"{len(body) / 1e3:.1f} kB",
            "record_count": len(self.universe.entities),
        }
        return Response.json(
            {
                "data": [
                    {"publish_date": f"{date[:4]}-{date[4:6]}-{date[6:]} 08:00:00", "lei2": {"full_file": {"csv": csv}}}
                ],
                "meta": {"pagination": {"current_page": 1, "per_page": 1, "total": 1, "last_page": 1}},
            }
        )

    def golden_copy_file(self, request: Request, name: str) -> Response:
        return Response(200, self.golden_copy_zip(), "application/zip")

    def golden_copy_zip(self) -> bytes:
        e = self.universe.entities
        frame = pd.DataFrame(
            {
                "LEI": e["lei"],
                "Entity.LegalName": e["legal_name"],
                "Entity.LegalAddress.FirstAddressLine": e["legal_name"].str.split().str[0] + " Square 1",
                "Entity.LegalAddress.City": e["city"],
                "Entity.LegalAddress.Country": e["country"],
                "Entity.LegalAddress.PostalCode": "10001",
                "Entity.LegalJurisdiction": e["country"],
                "Entity.EntityStatus": e["status"].map(lambda s: "ACTIVE" if s == "ISSUED" else "INACTIVE"),
                "Registration.InitialRegistrationDate": e["registered_on"].dt.strftime("%Y-%m-%dT00:00:00Z"),
                "Registration.RegistrationStatus": e["status"],
                "Registration.ManagingLOU": e["lei"].str[:4] + "00" + "0" * 12 + "00",
            }
        )[GOLDEN_COLUMNS]
        date = PUBLISHED.get(self.version, PUBLISHED[1])
        return _zip(f"{date}-0800-gleif-goldencopy-lei2-golden-copy.csv", frame.to_csv(index=False))


def _permid_match(entities: pd.DataFrame, name: str, country: str):
    """The universe's best match for ``name`` in ``country``: (entity row, score, level), or Nones."""
    words = name.lower().split()
    same_country = entities[entities["country"] == country] if country else entities
    for row in same_country.itertuples():
        if row.legal_name.lower() == name.lower():
            return row, 100, "Excellent"
    for row in same_country.itertuples():
        if row.legal_name.lower().split()[:2] == words[:2]:
            return row, 87, "Good"
    for row in same_country.itertuples():
        theirs = row.legal_name.lower().split()
        if words and theirs[0] == words[0]:
            shared = len(set(theirs) & set(words))
            return row, max(5, round(100 * shared / (len(theirs) + len(words)) / 2)), "Possible"
    return None, None, None


def _zip(name: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 2, 0, 0, 0)), text)
    return buffer.getvalue()


def _gleif_error(status: int, title: str) -> Response:
    """An error as GLEIF's JSON:API sends it."""
    return Response.json({"errors": [{"status": str(status), "title": title}]}, status)


def _page_links(number: int, last: int, size: int) -> dict:
    """JSON:API ``links`` as GLEIF sends them: first, prev (if any), next (if any), last."""

    def page(n: int) -> str:
        return f"/api/v1/lei-records?page[number]={n}&page[size]={size}"

    links = {"first": page(1)}
    if number > 1:
        links["prev"] = page(number - 1)
    if number < last:
        links["next"] = page(number + 1)
    links["last"] = page(last)
    return links


def _too_many(path: str, retry_after: int) -> Response:
    """HTTP 429 as each API sends it: OpenFIGI in text with ``ratelimit-reset``, GLEIF as a
    JSON:API error and PermID as JSON, both with ``Retry-After``."""
    if path.startswith("/v3/"):
        return Response(
            429, b"Too many requests, please try again later.", "text/plain", {"ratelimit-reset": str(retry_after)}
        )
    answer: dict[str, Any]
    if path.startswith("/api/"):
        answer = {"errors": [{"status": "429", "title": "Too Many Requests"}]}
    else:
        answer = {"error": "Too many requests: the rate limit was exceeded"}
    return Response(429, json.dumps(answer).encode(), "application/json", {"Retry-After": str(retry_after)})


def _grow(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """A mapping file of ``rows`` rows with valid identifiers (for benchmarks)."""
    import random
    import string

    from .identifiers import with_check

    rng = random.Random(rows)
    alnum = string.ascii_uppercase + string.digits
    extra = []
    for _ in range(rows - len(frame)):
        lei = with_check("LEI", "5493" + "00" + "".join(rng.choice(alnum) for _ in range(12)))
        if "BIC" in frame.columns:
            extra.append(
                {
                    "LEI": lei,
                    "BIC": "".join(rng.choice(string.ascii_uppercase) for _ in range(4))
                    + "US"
                    + "".join(rng.choice(alnum) for _ in range(2))
                    + "XXX",
                }
            )
        else:
            extra.append({"LEI": lei, "ISIN": with_check("ISIN", "US" + "".join(rng.choice(alnum) for _ in range(9)))})
    return pd.concat([frame, pd.DataFrame(extra)], ignore_index=True)


def _figi_record(r) -> dict:
    return {
        "figi": r.figi,
        "name": r.name,
        "ticker": r.ticker,
        "exchCode": r.exch_code,
        "compositeFIGI": r.composite_figi,
        "securityType": r.security_type,
        "marketSector": "Equity",
        "shareClassFIGI": r.share_class_figi,
        "securityType2": "Common Stock" if r.security_type == "Common Stock" else r.security_type,
        "securityDescription": r.ticker,
    }


def _lei_record(r) -> dict:
    return {
        "type": "lei-records",
        "id": r.lei,
        "attributes": {
            "lei": r.lei,
            "entity": {
                "legalName": {"name": r.legal_name, "language": "en"},
                "legalAddress": {
                    "language": "en",
                    "addressLines": [f"1 {r.legal_name.split()[0]} Square"],
                    "city": r.city,
                    "country": r.country,
                    "postalCode": "10001",
                },
                "jurisdiction": r.country,
                "status": "ACTIVE" if r.status == "ISSUED" else "INACTIVE",
            },
            "registration": {
                "initialRegistrationDate": f"{r.registered_on:%Y-%m-%d}T00:00:00Z",
                "status": r.status,
                "managingLou": r.lei[:4] + "00" + "0" * 12 + "00",
            },
            "bic": [bic11(r.bic)] if pd.notna(r.bic) and r.bic else [],
        },
    }  # GLEIF lists BIC11s


_SOURCES: Sources | None = None


def sources() -> Sources:
    global _SOURCES
    if _SOURCES is None:
        _SOURCES = Sources()
    return _SOURCES


def serve() -> LocalAPI:
    return serve_api(NAME, sources)


def configure(**options) -> None:
    sources().configure(**options)
