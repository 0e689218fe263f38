"""The code lists: countries and currencies (pycountry), markets (ISO 10383), and the foreign keys
that refuse an unknown code with a clear message."""

import pandas as pd
import pytest

from fdelib import db, refdata
from fdelib.refdata import codes, openfigi, stub, universe

AS_OF = "2026-01-02"


@pytest.fixture(autouse=True)
def fresh(engine):
    refdata.reset(engine)
    stub.configure()
    yield
    stub.configure()


def _instrument(**changes) -> pd.DataFrame:
    first = universe.build().instruments.iloc[0]
    row = {
        "figi": first["figi"],
        "ticker": first["ticker"],
        "exch_code": first["exch_code"],
        "name": first["name"],
        "security_type": "Common Stock",
        "mic": first["mic"],
        "currency": first["currency"],
        **changes,
    }
    return pd.DataFrame([row])


def test_the_code_lists_are_loaded_from_pycountry_and_the_mic_file(engine):
    counts = codes.load(engine)
    assert counts["countries"] >= 249 and counts["currencies"] >= 170
    assert counts["markets"] == len(codes.read_mic_file())
    segment = db.read_frame(
        "SELECT m.mic, m.kind, o.name AS operator, c.name AS country FROM refdata.markets m "
        "JOIN refdata.markets o ON o.mic = m.operating_mic "
        "JOIN refdata.countries c ON c.alpha_2 = m.country WHERE m.mic = 'XTKS'"
    )
    assert segment.iloc[0].to_dict() == {
        "mic": "XTKS",
        "kind": "SGMT",
        "operator": "JAPAN EXCHANGE GROUP",
        "country": "Japan",
    }
    assert db.read_scalar("SELECT name FROM refdata.currencies WHERE code = 'CHF'") == "Swiss Franc"
    assert codes.load(engine) == counts  # idempotent


def test_every_mic_of_the_universe_is_in_the_file_and_every_file_row_has_a_known_country():
    markets = codes.read_mic_file()
    assert set(universe.build().instruments["mic"]) <= set(markets["mic"])
    assert set(markets["country"]) <= set(codes.countries()["alpha_2"])
    assert set(markets.loc[markets["kind"] == "OPRT", "mic"]) >= set(markets["operating_mic"])


def test_an_instrument_on_an_unknown_mic_is_refused_whole_naming_the_code(engine):
    with pytest.raises(refdata.FdeError) as refused:
        refdata.upsert_instruments(_instrument(mic="XNYZ"), as_of=AS_OF)
    assert str(refused.value) == (
        "refdata.instruments.mic = 'XNYZ' is not a known MIC (ISO 10383): "
        "refdata.markets has no such code; nothing was loaded"
    )
    assert db.read_scalar("SELECT count(*) FROM refdata.instruments") == 0


def test_an_instrument_in_an_unknown_currency_is_refused(engine):
    message = refdata.refused(refdata.upsert_instruments, _instrument(currency="GBX"), as_of=AS_OF)
    assert "refdata.instruments.currency = 'GBX' is not a known currency code (ISO 4217)" in message
    assert refdata.refused(refdata.upsert_instruments, _instrument(), as_of=AS_OF) is None
    assert db.read_scalar("SELECT mic || ' ' || currency FROM refdata.instruments") == " ".join(
        _instrument()[["mic", "currency"]].iloc[0]
    )


def test_an_instrument_without_a_venue_is_allowed_and_counted(engine):
    refdata.upsert_instruments(_instrument().drop(columns=["mic", "currency"]), as_of=AS_OF)
    assert refdata.quality(engine).loc["instruments without a venue (MIC)", "value"] == 1


def test_a_mic_file_naming_an_unknown_country_is_refused(engine, tmp_path):
    text = codes.MIC_FILE.read_text()
    bad = tmp_path / "mic.csv"
    bad.write_text(
        text.replace(
            '"XWBO","XWBO","OPRT","WIENER BOERSE AG","WIENER BOERSE AG","315700ENWH1A81RCVZ91","NSPD","","AT"',
            '"XWBO","XWBO","OPRT","WIENER BOERSE AG","WIENER BOERSE AG","315700ENWH1A81RCVZ91","NSPD","","ZZ"',
        )
    )
    assert bad.read_text() != text
    with pytest.raises(refdata.FdeError, match=r"refdata\.markets\.country = 'ZZ' is not a known country code"):
        codes.load(engine, mic_file=bad)


def test_a_file_that_is_not_a_mic_file_is_refused(tmp_path):
    other = tmp_path / "other.csv"
    other.write_text("MIC,NAME\nXNYS,NYSE\n")
    with pytest.raises(refdata.FdeError, match="lacks the column"):
        codes.read_mic_file(other)


def test_openfigi_jobs_asking_for_a_venue_and_currency_record_them(engine):
    listing = universe.build().instruments.iloc[:12]
    jobs = [
        {"idType": "ID_ISIN", "idValue": r.isin, "micCode": r.mic, "currency": r.currency} for r in listing.itertuples()
    ]
    jobs.append({"idType": "ID_ISIN", "idValue": listing["isin"].iloc[0], "micCode": "XOSL"})  # not listed there
    results = openfigi.client(sleep=lambda s: None).map(jobs)
    assert results[-1] == {"warning": "No identifier found."}
    counts = refdata.load_figi_results(jobs, results, as_of=AS_OF)
    assert counts["new records"] == 12
    stored = db.read_frame("SELECT figi, mic, currency FROM refdata.instruments ORDER BY figi")
    expected = listing[["figi", "mic", "currency"]].sort_values("figi", ignore_index=True)
    assert stored.equals(expected)


def test_setup_upgrades_an_instruments_table_without_venue_or_currency(engine):
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE refdata.instruments DROP COLUMN mic, DROP COLUMN currency")
    refdata.setup(engine)
    constraints = db.read_frame(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'refdata.instruments'::regclass "
        "AND contype = 'f' ORDER BY conname"
    )
    assert list(constraints["conname"]) == ["instruments_currency_fkey", "instruments_mic_fkey"]
