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


@pytest.mark.parametrize(
    "kind, value",
    [
        ("ISIN", "US0378331005"),
        ("CUSIP", "037833100"),
        ("LEI", "5493000IBP32UQZ0KL24"),
        ("FIGI", "BBG000B9XRY4"),
        ("BIC", "DEUTDEFF"),
        ("BIC", "DEUTDEFF500"),
        ("ISIN", "us 0378331005"),
        ("SEDOL", "0263494"),
        ("SEDOL", "B0YBKJ7"),
    ],
)
def test_known_public_identifiers_are_valid(kind, value):
    assert identifiers.validate(kind, value) == value.upper().replace(" ", "")


@pytest.mark.parametrize(
    "kind, value, rule",
    [
        ("ISIN", "US0378331006", "check digit does not match (expected 5)"),
        ("ISIN", "US037833100", "wrong length (11)"),
        ("CUSIP", "037833101", "check digit does not match (expected 0)"),
        ("LEI", "5493000IBP32UQZ0KL25", "check digit does not match (expected 24)"),
        ("FIGI", "BBG000B9XRY5", "check digit does not match (expected 4)"),
        ("FIGI", "BSG000B9XRY4", "a component is not allowed"),
        ("BIC", "DEUT1EFF", "wrong characters or shape"),
        ("SEDOL", "0263495", "check digit does not match (expected 4)"),
    ],
)
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
    jobs = [{"idType": "ID_ISIN", "idValue": i} for i in isins] + [
        {"idType": "ID_ISIN", "idValue": "US0000000000"},
        {"idType": "NOPE", "idValue": "x"},
    ]
    results = client.map(jobs)
    assert client.requests_sent == 3  # 25 jobs, 10 per request
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
    with pytest.raises(OpenFigiError, match=r"still rate-limited \(HTTP 429\) after 2 retries"):
        client.map([{"idType": "ID_ISIN", "idValue": "US0378331005"}])


def test_openfigi_refuses_an_oversized_batch():
    client = openfigi.client(sleep=lambda s: None)
    with pytest.raises(OpenFigiError, match="too many jobs"):
        client._post("/v3/mapping", [{"idType": "ID_ISIN", "idValue": "US0378331005"}] * 11)


def test_openfigi_search_follows_next_tokens():
    client = openfigi.client(sleep=lambda s: None)
    found = client.search("HOLDINGS")
    assert len(found) > 20 and client.requests_sent >= 2  # more than one page
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
    assert (
        versions["legal_name"].iloc[0] != versions["legal_name"].iloc[1]
        or versions["status"].iloc[0] != versions["status"].iloc[1]
    )


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
    assert loaded["linked"] == 29 and loaded["rejected"] == 0 and loaded["kept as candidates"] == 0
    lei = entities["lei"].iloc[2]
    found = matches.set_index("local_id").loc[lei, "permid"]
    assert (
        db.read_scalar("SELECT to_id FROM refdata.xref WHERE kind = 'PERMID-LEI' AND from_id = :p", {"p": found}) == lei
    )


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


# --- rate limits, bad input and history edges -----------------------------------------------


def test_gleif_waits_out_its_rate_limit_using_retry_after():
    stub.configure(rate_limited=2)
    waits = []
    client = gleif.client(sleep=waits.append)
    assert len(client.lei_records(page_size=200)) == 200
    assert waits == [1.0, 1.0]


def test_permid_waits_out_its_rate_limit_and_gives_up_clearly():
    from fdelib.refdata import permid

    records = pd.DataFrame({"LocalID": ["1"], "Name": ["X"], "Country": ["US"]})
    stub.configure(rate_limited=1)
    waits = []
    permid.client(sleep=waits.append).match(records)
    assert waits == [1.0]
    stub.configure(rate_limited=50)
    with pytest.raises(permid.PermIdError, match=r"still rate-limited \(HTTP 429\) after 1 retries"):
        permid.client(sleep=lambda s: None, max_retries=1).match(records)


def test_live_gleif_files_follow_the_latest_publication_unless_pinned(settings):
    from dataclasses import replace

    client = gleif.client(replace(settings, mode="live"))
    assert client.bic_lei_url is None and client.mapping_url == "https://mapping.gleif.org"
    pinned = gleif.client(replace(settings, mode="live", gleif_isin_lei_url="https://example.org/isin.zip"))
    assert pinned.isin_lei_url == "https://example.org/isin.zip"


def test_reloading_a_bad_file_keeps_one_reject_per_value(engine):
    file = gleif.client().mapping_file("bic-lei")
    refdata.load_mapping(file, "BIC-LEI", as_of=AS_OF, progress=False)
    refdata.load_mapping(file, "BIC-LEI", as_of="2026-01-03", progress=False)
    rejects = db.read_frame("SELECT value, as_of FROM refdata.rejects")
    assert len(rejects) == 2 and set(rejects["as_of"].astype(str)) == {"2026-01-03"}


def test_an_instrument_with_a_bad_composite_figi_is_rejected(engine):
    good = universe.build().instruments.iloc[:2]
    rows = pd.DataFrame(
        {
            "figi": good["figi"],
            "composite_figi": [good["figi"].iloc[0][:-1] + "0", None],
            "share_class_figi": [None, None],
            "ticker": good["ticker"],
            "exch_code": "US",
            "security_type": "Common Stock",
            "name": good["name"],
        }
    )
    if identifiers.is_valid("FIGI", rows["composite_figi"].iloc[0]):
        rows.loc[rows.index[0], "composite_figi"] = good["figi"].iloc[0][:-1] + "1"
    counts = refdata.upsert_instruments(rows, as_of=AS_OF)
    assert counts["new records"] == 1
    assert db.read_scalar("SELECT count(*) FROM refdata.rejects WHERE kind = 'FIGI'") == 1
    assert db.read_scalar("SELECT figi FROM refdata.instruments") == good["figi"].iloc[1]


def test_an_older_download_cannot_rewrite_history(engine):
    rows = gleif.entity_rows(gleif.client().lei_records(page_size=200))
    refdata.upsert_entities(rows, as_of="2026-02-02")
    older = rows.assign(legal_name=rows["legal_name"] + " (old name)")
    with pytest.raises(refdata.FdeError, match="after this load's as_of 2026-01-02"):
        refdata.upsert_entities(older, as_of=AS_OF)
    assert db.read_scalar("SELECT count(*) FROM refdata.entities WHERE legal_name LIKE '%(old name)'") == 0


def test_a_record_sent_twice_in_one_load_is_refused_whole(engine):
    rows = gleif.entity_rows(gleif.client().lei_records(page_size=200))
    with pytest.raises(refdata.FdeError, match="1 LEIs appear more than once"):
        refdata.upsert_entities(pd.concat([rows, rows.head(1)]), as_of=AS_OF)
    assert db.read_scalar("SELECT count(*) FROM refdata.entities") == 0


def test_a_same_day_correction_counts_as_a_change_not_a_new_record(engine):
    rows = gleif.entity_rows(gleif.client().lei_records(page_size=200))
    refdata.upsert_entities(rows, as_of=AS_OF)
    fixed = rows.copy()
    fixed.loc[fixed.index[0], "city"] = "Elsewhere"
    assert refdata.upsert_entities(fixed, as_of=AS_OF) == {"new records": 0, "changed": 1, "unchanged": 199}
    assert len(refdata.history(rows["lei"].iloc[0])) == 1


def test_an_instrument_keeps_its_history_too(engine):
    u = universe.build()
    jobs = [{"idType": "ID_ISIN", "idValue": i} for i in u.instruments["isin"][:20]]
    client = openfigi.client(sleep=lambda s: None)
    first = refdata.load_figi_results(jobs, client.map(jobs), as_of=AS_OF)
    assert first["jobs without a match (warning)"] == 0 and first["new records"] == 20
    renamed = [{"data": [dict(r["data"][0], name=r["data"][0]["name"] + " NEW")]} for r in client.map(jobs)]
    later = refdata.load_figi_results(jobs, renamed, as_of="2026-02-02")
    assert later["changed"] == 20
    versions = refdata.history(u.instruments["figi"].iloc[0])
    assert list(versions["name"].str.endswith(" NEW")) == [False, True]


def test_a_whole_file_reloaded_later_retires_the_links_it_dropped(engine):
    client = gleif.client()
    first = {
        k: refdata.load_mapping(client.mapping_file(k.lower()), k, as_of=AS_OF, progress=False, snapshot=True)
        for k in ("BIC-LEI", "ISIN-LEI")
    }
    assert first["BIC-LEI"]["retired"] == 0
    stub.configure(version=2)  # a BIC re-pointed to another entity, an instrument matured
    later = {
        k: refdata.load_mapping(client.mapping_file(k.lower()), k, as_of="2026-02-02", progress=False, snapshot=True)
        for k in ("BIC-LEI", "ISIN-LEI")
    }
    assert later["BIC-LEI"]["new"] == 1 and later["BIC-LEI"]["retired"] == 1
    assert later["ISIN-LEI"]["new"] == 0 and later["ISIN-LEI"]["retired"] == 1
    retired = refdata.retired_links("BIC-LEI")
    assert len(retired) == 1 and str(retired["retired_on"].iloc[0]) == "2026-02-02"
    bic = retired["from_id"].iloc[0]
    moved_to = db.read_scalar(
        "SELECT to_id FROM refdata.xref WHERE kind = 'BIC-LEI' AND from_id = :b AND retired_on IS NULL", {"b": bic}
    )
    assert moved_to and moved_to != retired["to_id"].iloc[0]
    refdata.upsert_entities(gleif.entity_rows(client.lei_records(page_size=200)), as_of="2026-02-02")
    assert refdata.security_master(bic)["entity"]["lei"].iloc[0] == moved_to  # the current link wins


def test_an_older_whole_file_is_refused(engine):
    file = gleif.client().mapping_file("bic-lei")
    refdata.load_mapping(file, "BIC-LEI", as_of="2026-02-02", progress=False, snapshot=True)
    with pytest.raises(refdata.FdeError, match="already loaded as of 2026-02-02"):
        refdata.load_mapping(file, "BIC-LEI", as_of=AS_OF, progress=False, snapshot=True)


def test_setup_upgrades_eight_character_bics_to_bic11(engine):
    lei = universe.build().entities["lei"].iloc[0]
    with engine.begin() as conn:  # as an earlier version stored them
        conn.exec_driver_sql(
            f"INSERT INTO refdata.xref (kind, from_id, to_id, source, first_seen, as_of) VALUES "
            f"('BIC-LEI', 'DEUTDEFF', '{lei}', 'GLEIF', '2026-01-01', '2026-01-01'), "
            f"('BIC-LEI', 'COBADEFF', '{lei}', 'GLEIF', '2026-01-01', '2026-01-01'), "
            f"('BIC-LEI', 'COBADEFFXXX', '{lei}', 'GLEIF', '2026-01-01', '2026-01-02')"
        )
    refdata.setup(engine)
    refdata.setup(engine)  # idempotent
    stored = db.read_frame("SELECT from_id, as_of FROM refdata.xref WHERE kind = 'BIC-LEI' ORDER BY from_id")
    assert stored["from_id"].tolist() == ["COBADEFFXXX", "DEUTDEFFXXX"]
    assert str(stored["as_of"].iloc[0]) == "2026-01-02"
