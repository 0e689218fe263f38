"""Reference data: validators, both clients against their stand-ins, idempotent loads, history."""

import pandas as pd
import pytest

from fdelib import db, refdata
from fdelib.refdata import gleif, identifiers, openfigi, stub, universe
from fdelib.refdata.openfigi import OpenFigiError

AS_OF = "2026-01-02"


@pytest.fixture(autouse=True)
def fresh(engine):
    refdata.reset(engine)
    stub.configure()
    yield
    stub.configure()


# --- identifiers ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, value", [
    ("ISIN", "US0378331005"), ("CUSIP", "037833100"), ("LEI", "5493000IBP32UQZ0KL24"),
    ("FIGI", "BBG000B9XRY4"), ("BIC", "DEUTDEFF"), ("BIC", "DEUTDEFF500"), ("ISIN", "us 0378331005"),
])
def test_known_public_identifiers_are_valid(kind, value):
    assert identifiers.validate(kind, value) == value.upper().replace(" ", "")


@pytest.mark.parametrize("kind, value, rule", [
    ("ISIN", "US0378331006", "check digit does not match (expected 5)"),
    ("ISIN", "US037833100", "wrong length (11)"),
    ("CUSIP", "037833101", "check digit does not match (expected 0)"),
    ("LEI", "5493000IBP32UQZ0KL25", "check digit does not match (expected 24)"),
    ("FIGI", "BBG000B9XRY5", "check digit does not match (expected 4)"),
    ("FIGI", "BSG000B9XRY4", "a component is not allowed"),
    ("BIC", "DEUT1EFF", "wrong characters or shape"),
])
def test_corrupted_identifiers_say_which_rule_failed(kind, value, rule):
    with pytest.raises(identifiers.InvalidIdentifier) as error:
        identifiers.validate(kind, value)
    assert rule in str(error.value) and value in str(error.value)


def test_check_digits_by_hand_agree_with_the_library():
    assert identifiers.lei_steps("5493000IBP32UQZ0KL24")[2][1].startswith("1 ")
    assert identifiers.isin_steps("US0378331005")[-1][1].startswith("5 ")


def test_the_generated_universe_is_valid_throughout():
    u = universe.build()
    assert all(identifiers.is_valid("LEI", x) for x in u.entities["lei"])
    assert all(identifiers.is_valid("ISIN", x) for x in u.instruments["isin"])
    assert all(identifiers.is_valid("FIGI", x) for x in u.instruments["figi"])
    assert all(identifiers.is_valid("CUSIP", x) for x in u.instruments["cusip"].dropna())
    assert all(identifiers.is_valid("BIC", x) for x in u.entities["bic"].dropna())
    assert u.entities["lei"].is_unique and u.instruments["isin"].is_unique


# --- clients ---------------------------------------------------------------------------------

def test_openfigi_batches_ten_jobs_without_a_key_and_answers_in_order():
    client = openfigi.client(sleep=lambda s: None)
    isins = list(universe.build().instruments["isin"][:23])
    jobs = [{"idType": "ID_ISIN", "idValue": i} for i in isins] + [{"idType": "ID_ISIN", "idValue": "US0000000000"},
                                                                   {"idType": "NOPE", "idValue": "x"}]
    results = client.map(jobs)
    assert client.requests_sent == 3                          # 25 jobs, 10 per request
    assert [len(r["data"]) for r in results[:23]] == [1] * 23
    assert results[23] == {"warning": "No identifier found."}
    assert "Invalid idType" in results[24]["error"]


def test_openfigi_waits_out_the_rate_limit():
    stub.configure(rate_limited=2)
    waits = []
    client = openfigi.client(sleep=waits.append)
    client.map([{"idType": "ID_ISIN", "idValue": universe.build().instruments["isin"][0]}])
    assert waits == [1.0, 1.0] and client.requests_sent == 3


def test_openfigi_gives_up_and_says_so():
    stub.configure(rate_limited=50)
    client = openfigi.client(sleep=lambda s: None, max_retries=2)
    with pytest.raises(OpenFigiError, match="still rate-limited after 2 retries"):
        client.map([{"idType": "ID_ISIN", "idValue": "US0378331005"}])


def test_openfigi_refuses_an_oversized_batch():
    client = openfigi.client(sleep=lambda s: None)
    with pytest.raises(OpenFigiError, match="too many jobs"):
        client._post("/v3/mapping", [{"idType": "ID_ISIN", "idValue": "US0378331005"}] * 11)


def test_openfigi_search_follows_next_tokens():
    client = openfigi.client(sleep=lambda s: None)
    found = client.search("HOLDINGS")
    assert len(found) > 20 and client.requests_sent >= 2      # more than one page
    assert len({r["figi"] for r in found}) == len(found)


def test_gleif_pages_through_lei_records_and_404s_clearly():
    client = gleif.client()
    records = client.lei_records(page_size=30)
    assert len(records) == 200 and client.pages_read == 7
    first = records[0]["attributes"]
    assert set(first["entity"]) >= {"legalName", "legalAddress", "status"}
    assert client.lei_record("5493000IBP32UQZ0KL24") is None
    assert client.lei_record(first["lei"])["id"] == first["lei"]


def test_gleif_mapping_files_arrive_as_zipped_csv():
    frame = gleif.client().mapping_file("isin-lei")
    assert list(frame.columns) == ["LEI", "ISIN"] and len(frame) == 301


# --- loads ------------------------------------------------------------------------------------

def test_invalid_rows_are_rejected_with_their_rule_and_nothing_invalid_is_stored(engine):
    counts = refdata.load_mapping(gleif.client().mapping_file("bic-lei"), "BIC-LEI", as_of=AS_OF, progress=False)
    assert counts["rejected"] == 2
    rejects = db.read_frame("SELECT kind, value, rule FROM refdata.rejects ORDER BY value")
    assert set(rejects["kind"]) == {"BIC", "LEI"}
    assert rejects["rule"].str.contains("shape|check digit").all()
    stored = db.read_frame("SELECT from_id, to_id FROM refdata.xref WHERE kind = 'BIC-LEI'")
    assert stored["from_id"].map(lambda x: identifiers.is_valid("BIC", x)).all()
    assert stored["to_id"].map(lambda x: identifiers.is_valid("LEI", x)).all()


def test_reloading_the_same_data_changes_nothing(engine):
    rows = gleif.entity_rows(gleif.client().lei_records(page_size=200))
    assert refdata.upsert_entities(rows, as_of=AS_OF)["new records"] == 200
    again = refdata.upsert_entities(rows, as_of=AS_OF)
    assert again == {"new records": 0, "changed": 0, "unchanged": 200}
    file = gleif.client().mapping_file("isin-lei")
    refdata.load_mapping(file, "ISIN-LEI", as_of=AS_OF, progress=False)
    assert refdata.load_mapping(file, "ISIN-LEI", as_of=AS_OF, progress=False)["new"] == 0
    assert db.read_scalar("SELECT count(*) FROM refdata.entities") == 200


def test_a_changed_record_keeps_its_history(engine):
    client = gleif.client()
    refdata.upsert_entities(gleif.entity_rows(client.lei_records(page_size=200)), as_of=AS_OF)
    stub.configure(version=2)
    later = refdata.upsert_entities(gleif.entity_rows(client.lei_records(page_size=200)), as_of="2026-02-02")
    assert later["changed"] > 0 and later["new records"] == 0
    changed = db.read_scalar("SELECT lei FROM refdata.entities WHERE valid_to IS NOT NULL ORDER BY lei LIMIT 1")
    versions = refdata.history(changed)
    assert len(versions) == 2
    assert str(versions["valid_to"].iloc[0]) == "2026-02-02" and pd.isna(versions["valid_to"].iloc[1])
    assert versions["legal_name"].iloc[0] != versions["legal_name"].iloc[1] or \
        versions["status"].iloc[0] != versions["status"].iloc[1]


def test_security_master_answers_from_any_identifier(engine):
    u = universe.build()
    g, f = gleif.client(), openfigi.client(sleep=lambda s: None)
    refdata.upsert_entities(gleif.entity_rows(g.lei_records(page_size=200)), as_of=AS_OF)
    jobs = [{"idType": "ID_ISIN", "idValue": i} for i in u.instruments["isin"]]
    refdata.load_figi_results(jobs, f.map(jobs), as_of=AS_OF)
    refdata.load_mapping(g.mapping_file("isin-lei"), "ISIN-LEI", as_of=AS_OF, progress=False)
    listing = u.instruments.iloc[0]
    by_isin = refdata.security_master(listing["isin"])
    by_figi = refdata.security_master(listing["figi"])
    assert by_isin["entity"]["lei"].iloc[0] == listing["issuer_lei"]
    assert by_figi["entity"]["lei"].iloc[0] == listing["issuer_lei"]
    assert listing["figi"] in set(by_isin["instruments"]["figi"])


def test_permid_matching_links_permids_to_leis(engine):
    from fdelib.refdata import permid
    entities = universe.build().entities.head(30)
    records = pd.DataFrame({"LocalID": entities["lei"], "Name": entities["legal_name"], "Country": entities["country"]})
    records.loc[records.index[0], "Name"] = "Nobody Known Ltd"
    records.loc[records.index[1], "Name"] = " ".join(entities["legal_name"].iloc[1].split()[:2]) + " Limited"
    client = permid.client()
    matches = client.match(records)
    assert len(matches) == 29 and client.requests_sent == 1
    assert matches.set_index("local_id").loc[entities["lei"].iloc[1], "level"] == "Good"
    loaded = refdata.load_permid_matches(matches, as_of=AS_OF)
    assert loaded["valid"] == 29 and loaded["rejected"] == 0
    lei = entities["lei"].iloc[2]
    found = matches.set_index("local_id").loc[lei, "permid"]
    assert db.read_scalar("SELECT to_id FROM refdata.xref WHERE kind = 'PERMID-LEI' AND from_id = :p",
                          {"p": found}) == lei


def test_permid_without_a_token_is_refused_clearly():
    from fdelib.refdata import permid
    client = permid.client()
    client.token = ""
    with pytest.raises(permid.PermIdError, match="access token was refused"):
        client.match(pd.DataFrame({"LocalID": ["1"], "Name": ["X"], "Country": ["US"]}))


def test_a_permid_must_be_a_whole_number():
    assert identifiers.validate("PERMID", "4295905573") == "4295905573"
    with pytest.raises(identifiers.InvalidIdentifier, match="positive whole number"):
        identifiers.validate("PERMID", "1-4295905573")
