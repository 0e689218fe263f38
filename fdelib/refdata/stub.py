"""Offline stand-ins for OpenFIGI, GLEIF and PermID, in their real request and answer formats.

* OpenFIGI v3 — ``POST /v3/mapping``: a JSON array of jobs (``idType``, ``idValue``, optional
  ``exchCode``), at most 10 per request without an API key and 100 with one
  (``X-OPENFIGI-APIKEY``; more is HTTP 413); one result per job: ``{"data": [...]}``,
  ``{"warning": "No identifier found."}`` or ``{"error": "..."}``. ``POST /v3/search``:
  ``{"query", "start"}`` → ``{"data": [...], "next": "..."}``. Too many requests: HTTP 429
  with a ``ratelimit-reset`` header (seconds).
* GLEIF API v1 — ``GET /api/v1/lei-records?filter[lei]=A,B&page[size]=&page[number]=``
  (JSON:API: ``data[].attributes.entity.legalName.name`` …, ``meta.pagination``) and
  ``GET /api/v1/lei-records/{lei}`` (404 with ``errors`` when unknown).
* LSEG Open PermID record matching — ``POST /permid/match`` with CSV records and the
  ``x-ag-access-token`` header (401 without it); matches by name and country.
* GLEIF's mapping files — ``GET /files/bic-lei.zip`` (``BIC,LEI``) and
  ``GET /files/isin-lei.zip`` (``LEI,ISIN``): zipped CSV, as published. Like real files they
  hold a few rows that fail validation (``corrupt_rows``), to be rejected by the loader.

``configure(version=2)`` serves the universe a few weeks later; ``rate_limited=N`` answers
the next N API requests (any of the three) with 429 in that API's own shape.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile

import pandas as pd

from ..localapi import LocalAPI, Request, Response, serve as serve_api
from .universe import build

NAME = "refdata"
ID_TYPES = {"ID_ISIN": "isin", "ID_CUSIP": "cusip", "TICKER": "ticker", "ID_BB_GLOBAL": "figi"}


class Sources:
    def __init__(self):
        self.seed, self.version, self.rate_limited, self.corrupt_rows = 42, 1, 0, True
        self.lock = threading.Lock()

    def configure(self, *, seed: int = 42, version: int = 1, rate_limited: int = 0, corrupt_rows: bool = True,
                  rows: int | None = None) -> None:
        with self.lock:
            self.seed, self.version, self.rate_limited, self.corrupt_rows = seed, version, rate_limited, corrupt_rows
            self.rows = rows

    rows: int | None = None

    @property
    def universe(self):
        return build(self.seed, version=self.version)

    def __call__(self, request: Request) -> Response:
        path = request.path
        if not path.startswith("/files/"):
            with self.lock:
                limited, self.rate_limited = self.rate_limited > 0, max(0, self.rate_limited - 1)
            if limited:
                return _too_many(path)
        if path.startswith("/v3/"):
            if path == "/v3/mapping" and request.method == "POST":
                return self.mapping(request)
            if path == "/v3/search" and request.method == "POST":
                return self.search(request)
        if path == "/permid/match" and request.method == "POST":
            return self.permid_match(request)
        if path == "/api/v1/lei-records":
            return self.lei_records(request)
        if path.startswith("/api/v1/lei-records/"):
            return self.lei_record(path.rsplit("/", 1)[1])
        if path in ("/files/bic-lei.zip", "/files/isin-lei.zip"):
            return Response(200, self.mapping_file(path), "application/zip")
        return Response.json({"error": f"no such endpoint {request.method} {path}"}, 404)

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
        results = []
        for job in jobs:
            column = ID_TYPES.get(job.get("idType"))
            if column is None:
                results.append({"error": f"Invalid idType: {job.get('idType')}"})
                continue
            found = listing[listing[column] == job.get("idValue")]
            if job.get("exchCode"):
                found = found[found["exch_code"] == job["exchCode"]]
            results.append({"data": [_figi_record(r) for r in found.itertuples()]} if len(found)
                           else {"warning": "No identifier found."})
        return Response.json(results)

    def search(self, request: Request) -> Response:
        body = request.json() or {}
        query = str(body.get("query", "")).upper()
        start = int(body.get("start") or 0)
        listing = self.universe.instruments
        found = listing[listing["name"].str.contains(query, regex=False) | (listing["ticker"] == query)]
        page = found.iloc[start:start + 20]
        answer = {"data": [_figi_record(r) for r in page.itertuples()]}
        if start + 20 < len(found):
            answer["next"] = str(start + 20)
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
        by_name = {(n.lower(), c): r for n, c, r in zip(entities["legal_name"], entities["country"],
                                                        entities.itertuples())}
        by_stem = {(" ".join(n.lower().split()[:2]), c): r for n, c, r in
                   zip(entities["legal_name"], entities["country"], entities.itertuples())}
        output, matched = [], 0
        for row in records.itertuples():
            key = (row.Name.lower(), getattr(row, "Country", ""))
            found, score, level = by_name.get(key), "100%", "Excellent"
            if found is None:
                found = by_stem.get((" ".join(row.Name.lower().split()[:2]), key[1]))
                score, level = "87%", "Good"
            item = {"ProcessingStatus": "OK", "Input_LocalID": row.LocalID, "Input_Name": row.Name}
            if found is not None:
                matched += 1
                item.update({"Match OpenPermID": f"https://permid.org/1-{found.permid}", "Match OrgName":
                             found.legal_name, "Match Score": score, "Match Level": level, "Match Ordinal": "1"})
            output.append(item)
        return Response.json({"unMatched": len(records) - matched, "matched": {"total": matched},
                              "numReceivedRecords": len(records), "numProcessedRecords": len(records),
                              "numErrorRecords": 0, "outputContentResponse": output})

    # --- GLEIF ------------------------------------------------------------------------
    def lei_records(self, request: Request) -> Response:
        q = request.query
        entities = self.universe.entities
        wanted = [x for x in (q.get("filter[lei]") or "").split(",") if x]
        if wanted:
            entities = entities[entities["lei"].isin(wanted)]
        size = max(1, min(int(q.get("page[size]") or 10), 200))
        number = max(1, int(q.get("page[number]") or 1))
        total = len(entities)
        last = max(1, -(-total // size))
        page = entities.iloc[(number - 1) * size:number * size]
        return Response.json({
            "meta": {"goldenCopy": {"publishDate": "2026-01-02T08:00:00Z"},
                     "pagination": {"currentPage": number, "perPage": size, "from": (number - 1) * size + 1,
                                    "to": (number - 1) * size + len(page), "total": total, "lastPage": last}},
            "links": _page_links(number, last, size),
            "data": [_lei_record(r) for r in page.itertuples()]})

    def lei_record(self, lei: str) -> Response:
        entities = self.universe.entities
        found = entities[entities["lei"] == lei]
        if found.empty:
            return Response.json({"errors": [{"status": "404", "title": "Not Found"}]}, 404)
        return Response.json({"data": _lei_record(next(found.itertuples()))})

    def mapping_file(self, path: str) -> bytes:
        u = self.universe
        if "bic" in path:
            frame = u.entities.dropna(subset=["bic"])[["bic", "lei"]].rename(columns={"bic": "BIC", "lei": "LEI"})
            bad = [{"BIC": "BANK1XXX", "LEI": u.entities["lei"].iloc[0]},            # BIC of the wrong shape
                   {"BIC": "ZZZZUS33", "LEI": u.entities["lei"].iloc[1][:-2] + "00"}]  # LEI check digits off
        else:
            frame = u.instruments[["issuer_lei", "isin"]].rename(columns={"issuer_lei": "LEI", "isin": "ISIN"})
            bad = [{"LEI": u.entities["lei"].iloc[2], "ISIN": u.instruments["isin"].iloc[0][:-1] + "0"
                    if not u.instruments["isin"].iloc[0].endswith("0") else u.instruments["isin"].iloc[0][:-1] + "1"}]
        if self.rows:
            frame = _grow(frame, self.rows)
        if self.corrupt_rows:
            frame = pd.concat([frame, pd.DataFrame(bad)], ignore_index=True)
        name = path.rsplit("/", 1)[1].replace(".zip", ".csv")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 2, 0, 0, 0))
            archive.writestr(info, frame.to_csv(index=False, lineterminator="\n"))
        return buffer.getvalue()


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


def _too_many(path: str) -> Response:
    """HTTP 429 as each API sends it: OpenFIGI in text with ``ratelimit-reset``, GLEIF as a
    JSON:API error and PermID as JSON, both with ``Retry-After``."""
    if path.startswith("/v3/"):
        return Response(429, b"Too many requests, please try again later.", "text/plain", {"ratelimit-reset": "1"})
    if path.startswith("/api/v1/"):
        answer = {"errors": [{"status": "429", "title": "Too Many Requests"}]}
    else:
        answer = {"error": "Too many requests: the rate limit was exceeded"}
    return Response(429, json.dumps(answer).encode(), "application/json", {"Retry-After": "1"})


def _grow(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """A mapping file of ``rows`` rows with valid identifiers (for benchmarks)."""
    from .identifiers import with_check
    import random
    import string
    rng = random.Random(rows)
    alnum = string.ascii_uppercase + string.digits
    extra = []
    for i in range(rows - len(frame)):
        lei = with_check("LEI", "5493" + "00" + "".join(rng.choice(alnum) for _ in range(12)))
        if "BIC" in frame.columns:
            extra.append({"BIC": "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + "US"
                          + "".join(rng.choice(alnum) for _ in range(2)), "LEI": lei})
        else:
            extra.append({"LEI": lei, "ISIN": with_check("ISIN", "US" + "".join(rng.choice(alnum) for _ in range(9)))})
    return pd.concat([frame, pd.DataFrame(extra)], ignore_index=True)


def _figi_record(r) -> dict:
    return {"figi": r.figi, "name": r.name, "ticker": r.ticker, "exchCode": r.exch_code,
            "compositeFIGI": r.composite_figi, "securityType": r.security_type, "marketSector": "Equity",
            "shareClassFIGI": r.share_class_figi, "securityType2": "Common Stock"
            if r.security_type == "Common Stock" else r.security_type, "securityDescription": r.ticker}


def _lei_record(r) -> dict:
    return {"type": "lei-records", "id": r.lei, "attributes": {
        "lei": r.lei,
        "entity": {"legalName": {"name": r.legal_name, "language": "en"},
                   "legalAddress": {"language": "en", "addressLines": [f"1 {r.legal_name.split()[0]} Square"],
                                    "city": r.city, "country": r.country, "postalCode": "10001"},
                   "jurisdiction": r.country, "status": "ACTIVE" if r.status == "ISSUED" else "INACTIVE"},
        "registration": {"initialRegistrationDate": f"{r.registered_on:%Y-%m-%d}T00:00:00Z",
                         "status": r.status, "managingLou": r.lei[:4] + "00" + "0" * 12 + "00"},
        "bic": [r.bic] if r.bic else []}}


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
