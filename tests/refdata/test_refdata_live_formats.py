"""The reference-data clients against the real services' answer formats (tests/refdata/fixtures,
written from their documentation): weak PermID matches, quota answers, bounded GLEIF listings,
answers that are not JSON, OpenFIGI's per-job errors, mapping zips, 8-character BICs."""

import io
import json
import zipfile
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from fdelib import db, refdata
from fdelib.localapi import LocalAPI, Response, Router
from fdelib.refdata import gleif, openfigi, permid, stub, universe
from fdelib.refdata.gleif import GleifError
from fdelib.refdata.openfigi import OpenFigiError
from fdelib.refdata.permid import PermIdError

FIXTURES = Path(__file__).with_name("fixtures")
AS_OF = "2026-01-02"
BANK, OTHER, ISSUER = "529900PUMABANK000144", "5299000THERBANK00173", "5299009ISINISSUER130"


def fixture(name):
    return json.loads((FIXTURES / name).read_text())


def zipped(members: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def fresh(engine):
    refdata.reset(engine)
    stub.configure()
    yield
    stub.configure()


@pytest.fixture
def recorded():
    """A server answering each path from a list of recorded responses (in turn, then the last again)."""
    answers: dict[str, list] = {}

    def app(request):
        bodies = answers.get(request.path)
        if not bodies:
            return Response.json({"errors": [{"status": "404", "title": "Not Found"}]}, 404)
        body = bodies.pop(0) if len(bodies) > 1 else bodies[0]
        return body if isinstance(body, Response) else Response.json(body)

    with LocalAPI(Router(not_found=app), "recorded-refdata") as api:
        yield api, answers


# --- 16.2 PermID weak matches are candidates, not identity links ------------------------------------


def test_a_weak_permid_match_is_kept_as_a_candidate_not_a_link(recorded, engine):
    api, answers = recorded
    answers["/permid/match"] = [fixture("permid_match_answer.json")]
    records = pd.DataFrame(
        {
            "LocalID": [BANK, OTHER, ISSUER, "5299000NOMATCH000161"],
            "Name": ["Puma Beispielbank AG", "Andere Beispielbank", "Beispiel Issuer GmbH", "Nobody"],
            "Country": ["DE"] * 4,
        }
    )
    matches = permid.PermId(api.url, "token").match(records)
    assert list(matches["level"]) == ["Excellent", "Good", "Possible"] and list(matches["score"]) == [100, 87, 11]
    loaded = refdata.load_permid_matches(matches, as_of=AS_OF)
    assert loaded["linked"] == 2 and loaded["kept as candidates"] == 1
    links = db.read_frame("SELECT from_id, to_id FROM refdata.xref WHERE kind = 'PERMID-LEI' ORDER BY to_id")
    assert set(links["to_id"]) == {BANK, OTHER}  # not the 11% "Possible"
    candidates = refdata.permid_candidates()
    assert candidates[["lei", "permid", "level"]].values.tolist() == [[ISSUER, "4295887083", "Possible"]]
    assert float(candidates["score"].iloc[0]) == 11 and candidates["below"].iloc[0] == "below Good, 80%"
    assert refdata.security_master("4295887083")["entity"].empty  # a candidate resolves nothing
    assert refdata.quality().loc["PermID matches kept as candidates (too weak to link)", "value"] == 1


def test_the_permid_thresholds_are_settings_and_a_link_that_weakens_is_retired(recorded, engine):
    api, answers = recorded
    answers["/permid/match"] = [fixture("permid_match_answer.json")]
    matches = permid.PermId(api.url, "token").match(pd.DataFrame({"LocalID": [BANK], "Name": ["x"]}))
    assert list(refdata.accepted(matches)) == [True, True, False]
    assert list(refdata.accepted(matches, min_level="Excellent")) == [True, False, False]
    assert list(refdata.accepted(matches, min_level="Possible", min_score=10)) == [True, True, True]
    assert list(refdata.accepted(matches.assign(level="Unheard-of"), min_level="Possible", min_score=0)) == [False] * 3
    refdata.load_permid_matches(matches, as_of=AS_OF, min_level="Possible", min_score=10)  # all three linked
    later = refdata.load_permid_matches(matches, as_of="2026-02-02")  # stricter defaults
    assert later["kept as candidates"] == 1 and later["retired"] == 1
    assert refdata.security_master("4295887083")["entity"].empty


# --- 16.3 quota answers: capped waits, fail fast, no "use an API key" for PermID --------------------


def test_a_permid_quota_answer_fails_at_once_saying_when_it_resets(recorded):
    api, answers = recorded
    answers["/permid/match"] = [
        Response(429, b'{"error": "quota exceeded"}', "application/json", {"Retry-After": "21854"})
    ]
    waits = []
    client = permid.PermId(api.url, "token", sleep=waits.append)
    with pytest.raises(PermIdError) as refused:
        client.match(pd.DataFrame({"LocalID": ["1"], "Name": ["X"], "Country": ["US"]}))
    message = str(refused.value)
    assert waits == [] and len(api.requests) == 1
    assert "PermID's request quota for this API key is used up (HTTP 429)" in message
    assert "resets in 21,854 s (6 h 4 min), at " in message and "FDE_API_MAX_WAIT=60 s" in message
    assert "use an API key" not in message and "get a key" not in message


@pytest.mark.parametrize(
    "make, path, call",
    [
        (
            lambda url: permid.PermId(url, "t", sleep=lambda s: None),
            "/permid/match",
            lambda c: c.match(pd.DataFrame({"LocalID": ["1"], "Name": ["X"]})),
        ),
        (
            lambda url: openfigi.OpenFigi(url, sleep=lambda s: None),
            "/v3/mapping",
            lambda c: c.map([{"idType": "ID_ISIN", "idValue": "US0378331005"}]),
        ),
        (lambda url: gleif.Gleif(url, sleep=lambda s: None), "/api/v1/lei-records", lambda c: c.lei_records([BANK])),
    ],
)
def test_every_client_waits_out_short_limits_and_refuses_long_ones(recorded, make, path, call):
    api, answers = recorded
    answers[path] = [Response(429, b"{}", "application/json", {"Retry-After": "86400", "ratelimit-reset": "86400"})]
    with pytest.raises(Exception, match=r"is used up \(HTTP 429\); it resets in 86,400 s \(24 h 0 min\)") as refused:
        call(make(api.url))
    assert len(api.requests) == 1
    if path == "/v3/mapping":
        assert "OPENFIGI_API_KEY" in str(refused.value)  # the one API where a key raises the limits
    else:
        assert "API_KEY" not in str(refused.value)


def test_the_stand_in_asks_for_long_waits_too():
    stub.configure(rate_limited=1, retry_after=21854)
    with pytest.raises(PermIdError, match="resets in 21,854 s"):
        permid.client(sleep=lambda s: None).match(pd.DataFrame({"LocalID": ["1"], "Name": ["X"]}))


# --- 16.4 GLEIF live calls are bounded ------------------------------------------------------------


def test_an_unfiltered_gleif_listing_is_refused_after_one_page(recorded):
    api, answers = recorded
    answers["/api/v1/lei-records"] = [fixture("gleif_lei_records_unfiltered_first_page.json")]
    client = gleif.Gleif(api.url, max_pages=20)
    with pytest.raises(
        GleifError,
        match=r"3,204,771 records match \(no filter: the whole register\); reading them "
        r"takes 32,048 pages of 100, more than max_pages=20 \(GLEIF_MAX_PAGES\)",
    ):
        client.lei_records(page_size=100)
    assert len(api.requests) == 1 and client.pages_read == 1


def test_the_golden_copy_needs_an_explicit_opt_in(recorded):
    api, answers = recorded
    answers["/api/v2/golden-copies/publishes"] = [fixture("gleif_golden_copy_publishes.json")]
    client = gleif.Gleif(api.url, golden_copy_url=api.url)
    with pytest.raises(GleifError, match=r"3,204,771 records, 491 MB zipped — pass full_download=True"):
        client.golden_copy()
    assert [r.path for r in api.requests] == ["/api/v2/golden-copies/publishes"]  # nothing downloaded


def test_the_stand_ins_golden_copy_loads_like_the_api(tmp_path, engine):
    client = gleif.client()
    bulk = client.golden_copy(full_download=True, folder=tmp_path)
    api = gleif.entity_rows(client.lei_records(universe.build().entities["lei"].tolist(), page_size=100))
    pd.testing.assert_frame_equal(
        bulk.sort_values("lei").reset_index(drop=True), api.sort_values("lei").reset_index(drop=True), check_dtype=False
    )
    assert not list(tmp_path.iterdir())  # the download is not kept


def test_a_listing_of_many_leis_is_asked_in_chunks_of_100():
    client = gleif.client()
    leis = universe.build().entities["lei"].tolist()
    assert len(client.lei_records(leis, page_size=100)) == 200 and client.pages_read == 2


# --- 16.5 a 200 answer that is not JSON -----------------------------------------------------------

BAD_BODIES = {
    "html": (FIXTURES / "html_error.html").read_bytes(),
    "empty": b"",
    "truncated": json.dumps(fixture("gleif_lei_records_bic_page.json")).encode()[:300],
}


@pytest.mark.parametrize("bad", sorted(BAD_BODIES))
@pytest.mark.parametrize(
    "api_name, path, call",
    [
        ("GLEIF lei-records", "/api/v1/lei-records", lambda url: gleif.Gleif(url).lei_records([BANK])),
        (
            "OpenFIGI /v3/mapping",
            "/v3/mapping",
            lambda url: openfigi.OpenFigi(url).map([{"idType": "ID_ISIN", "idValue": "US0378331005"}]),
        ),
        (
            "PermID match",
            "/permid/match",
            lambda url: permid.PermId(url, "t").match(pd.DataFrame({"LocalID": ["1"], "Name": ["X"]})),
        ),
    ],
)
def test_an_answer_that_is_not_json_raises_our_error_naming_api_status_and_first_bytes(
    recorded, bad, api_name, path, call, engine
):
    api, answers = recorded
    body = BAD_BODIES[bad]
    answers[path] = [Response(200, body, "text/html" if bad == "html" else "application/json")]
    with pytest.raises(refdata.FdeError) as refused:
        call(api.url)
    message = str(refused.value)
    assert message.startswith(f"{api_name}: the HTTP 200 answer is not JSON")
    assert (repr(body[:20].decode())[:-1] if body else "(empty)") in message
    assert type(refused.value).__name__ in ("GleifError", "OpenFigiError", "PermIdError")
    assert db.read_scalar("SELECT count(*) FROM refdata.xref") == 0  # nothing written


def test_json_of_the_wrong_shape_is_refused_too(recorded):
    api, answers = recorded
    answers["/api/v1/lei-records"] = [{"data": [], "meta": {"goldenCopy": {}}}]
    with pytest.raises(GleifError, match=r"has no 'meta.pagination'"):
        gleif.Gleif(api.url).lei_records([BANK])
    with pytest.raises(GleifError, match=r"GLEIF record X: the answer has no 'entity.legalName.name'"):
        gleif.entity_rows([{"id": "X", "attributes": {"lei": "X", "entity": {}}}])


# --- 16.6 OpenFIGI keeps its error texts --------------------------------------------------------------


def test_openfigi_per_job_errors_are_kept_with_the_job(recorded, engine):
    api, answers = recorded
    answers["/v3/mapping"] = [fixture("openfigi_mapping_results.json")]
    jobs = [
        {"idType": "ID_ISIN", "idValue": "US4592001014"},
        {"idType": "ID_ISIN", "idValue": "US0000000000"},
        {"idType": "ID_ISIN", "idValue": "US459200"},
    ]
    results = openfigi.OpenFigi(api.url).map(jobs)
    assert results[2] == {"error": "Invalid idValue format."}
    counts = refdata.load_figi_results(jobs, results, as_of=AS_OF)
    assert counts["jobs refused (error)"] == 1 and counts["jobs without a match (warning)"] == 1
    refused = refdata.refused_jobs()
    assert refused[["id_type", "id_value", "error"]].values.tolist() == [
        ["ID_ISIN", "US459200", "Invalid idValue format."]
    ]
    assert refdata.quality().loc["OpenFIGI jobs refused (error text kept)", "value"] == 1


def test_a_search_error_raises_instead_of_finding_nothing(recorded):
    api, answers = recorded
    answers["/v3/search"] = [fixture("openfigi_search_error.json")]
    with pytest.raises(OpenFigiError, match=r"OpenFIGI /v3/search 'IBM': Invalid start value."):
        openfigi.OpenFigi(api.url).search("IBM")


def test_the_stand_in_refuses_jobs_of_the_wrong_shape_with_openfigis_words():
    client = openfigi.client(sleep=lambda s: None)
    results = client.map([{"idType": "ID_ISIN", "idValue": "US459200"}, {"idType": "NOPE", "idValue": "x"}])
    assert results == [{"error": "Invalid idValue format."}, {"error": "Invalid idType."}]
    assert set(client._post("/v3/search", {"query": "X", "start": "not-a-token"})) == {"error"}


# --- 16.7 GLEIF mapping zips ---------------------------------------------------------------------------


def test_a_mapping_file_is_found_through_its_latest_link(recorded):
    api, answers = recorded
    latest = json.loads((FIXTURES / "gleif_mapping_bic_lei_latest.json").read_text().replace("{server}", api.url))
    csv = (FIXTURES / "lei-bic-20251226T000000.csv").read_text()
    answers["/api/v2/bic-lei/latest"] = [latest]
    answers["/api/v2/bic-lei/3f2b9c1e-8d7a-4f0e-9b1c-2a6d5e4f3c21/download"] = [
        Response(200, zipped({"lei-bic-20251226T000000.csv": csv}), "application/zip")
    ]
    frame = gleif.Gleif(api.url, mapping_url=api.url).mapping_file("bic-lei")
    assert list(frame.columns) == ["LEI", "BIC"] and frame["BIC"].tolist() == [
        "PUMADE77XXX",
        "PUMADE77MUC",
        "ANDRDEM1XXX",
    ]
    assert [r.path for r in api.requests] == [
        "/api/v2/bic-lei/latest",
        "/api/v2/bic-lei/3f2b9c1e-8d7a-4f0e-9b1c-2a6d5e4f3c21/download",
    ]
    assert api.requests[0].headers["accept"] == "*/*"  # mapping.gleif.org answers 406 to application/json


CSV = (FIXTURES / "lei-bic-20251226T000000.csv").read_text()


@pytest.mark.parametrize(
    "members, words",
    [
        ({"lei-bic-20251226T000000.csv": CSV, "lei-bic-20251225T000000.csv": CSV}, "found 2"),
        ({"readme.txt": "hello"}, "found 1: readme.txt"),
        ({"lei-isin-20251226T000000.csv": CSV}, "one file named lei-bic-<timestamp>.csv"),
        ({"lei-bic-20251226T000000.csv": CSV.replace("LEI,BIC", "lei,bic", 1)}, "header 'lei,bic', not 'LEI,BIC'"),
        ({"lei-bic-20251226T000000.csv": CSV.replace("LEI,BIC", "Lei,Bic", 1)}, "header 'Lei,Bic', not 'LEI,BIC'"),
        ({"lei-bic-20251226T000000.csv": CSV.replace("LEI,BIC", "BIC,LEI", 1)}, "header 'BIC,LEI'"),
        ({}, "found 0: none"),
    ],
)
def test_a_mapping_zip_of_another_shape_is_refused_clearly(members, words):
    with pytest.raises(GleifError, match=words):
        gleif.read_mapping_zip(zipped(members), "bic-lei")


def test_a_mapping_download_that_is_not_a_zip_is_refused(recorded):
    api, answers = recorded
    answers["/bic.zip"] = [Response(200, b"<html>moved</html>", "text/html")]
    with pytest.raises(GleifError, match=r"GLEIF bic-lei file: the HTTP 200 answer is not JSON"):
        gleif.Gleif(api.url, bic_lei_url=api.url + "/bic.zip").mapping_file("bic-lei")
    answers["/bic.zip"] = [Response(200, b"PK\x03\x04 cut short", "application/zip")]
    with pytest.raises(GleifError, match=r"GLEIF bic-lei file: not a zip"):
        gleif.Gleif(api.url, bic_lei_url=api.url + "/bic.zip").mapping_file("bic-lei")


def test_the_stand_in_publishes_its_mapping_files_as_gleif_does():
    client = gleif.client()
    for kind, stem in (("bic-lei", "lei-bic"), ("isin-lei", "lei-isin")):
        latest = client.session.get(f"{client.mapping_url}/api/v2/{kind}/latest").json()
        body = client.session.get(latest["data"]["attributes"]["downloadLink"]).content
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            (name,) = archive.namelist()
            assert (
                name.startswith(stem + "-")
                and archive.read(name).decode().split("\n", 1)[0] == "LEI," + kind.split("-")[0].upper()
            )
    assert client.mapping_file("bic-lei")["BIC"].str.len().eq(11).all()  # BIC11s, as GLEIF lists them


# --- 16.8 an 8-character BIC finds what its BIC11 finds -----------------------------------------------


def test_an_eight_character_bic_finds_what_its_bic11_finds(recorded, engine):
    api, answers = recorded
    answers["/api/v1/lei-records"] = [fixture("gleif_lei_records_bic_page.json")]
    client = gleif.Gleif(api.url)
    records = client.lei_records(bics=["PUMADE77"])
    assert api.requests[-1].query["filter[bic]"] == "PUMADE77XXX"
    refdata.upsert_entities(gleif.entity_rows(records), as_of=AS_OF)
    frame = pd.read_csv(FIXTURES / "lei-bic-20251226T000000.csv", dtype=str)
    refdata.load_mapping(frame, "BIC-LEI", as_of=AS_OF, progress=False, snapshot=True)
    short, long = refdata.security_master("PUMADE77"), refdata.security_master("PUMADE77XXX")
    assert short["entity"]["lei"].tolist() == long["entity"]["lei"].tolist() == [BANK]
    assert refdata.security_master("pumade77")["entity"]["lei"].tolist() == [BANK]
    refdata.load_mapping(pd.DataFrame({"LEI": [BANK], "BIC": ["PUMADE77"]}), "BIC-LEI", as_of=AS_OF, progress=False)
    assert db.read_scalar("SELECT count(*) FROM refdata.xref WHERE from_id LIKE 'PUMADE77%'") == 2  # stored as BIC11


def test_the_stand_ins_bic_filter_takes_an_eight_character_bic():
    u = universe.build()
    bank = u.entities[u.entities["bic"].str.len() == 8].iloc[0]
    found = gleif.client().lei_records(bics=[bank["bic"]])
    assert [r["id"] for r in found] == [bank["lei"]] and found[0]["attributes"]["bic"] == [bank["bic"] + "XXX"]


# --- the live addresses ----------------------------------------------------------------------------------


def test_live_clients_use_the_services_addresses_and_the_pinned_files(settings):
    live = replace(settings, mode="live", permid_api_key="k", gleif_bic_lei_url="https://example.org/bic.zip")
    client = gleif.client(live)
    assert (client.base_url, client.mapping_url, client.golden_copy_url) == (
        "https://api.gleif.org",
        "https://mapping.gleif.org",
        "https://goldencopy.gleif.org",
    )
    assert client.bic_lei_url == "https://example.org/bic.zip" and client.isin_lei_url is None  # None: the latest
    assert openfigi.client(live).base_url == "https://api.openfigi.com"
    assert permid.client(live).base_url == "https://api-eit.refinitiv.com"
    with pytest.raises(refdata.FdeError, match="PERMID_API_KEY: PermID record matching always needs a key"):
        permid.client(replace(live, permid_api_key=None))
