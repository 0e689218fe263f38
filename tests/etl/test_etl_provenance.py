"""A month's provenance: a re-run of an unchanged month (same answer, same parameters, its
product still standing) writes nothing and is recorded ``unchanged``; anything else loads."""

import pytest

from fdelib import db, etl
from fdelib.etl import stub


@pytest.fixture(autouse=True)
def fresh(engine):
    etl.setup(engine)
    stub.configure()
    yield
    stub.configure()


@pytest.fixture
def client():
    return etl.client(sleep=lambda seconds: None)


def statuses(symbol):
    return list(db.read_frame("SELECT status FROM etl.runs WHERE symbol = :s ORDER BY run_id", {"s": symbol})["status"])


def raw_rows(symbol):
    return db.read_scalar("SELECT count(*) FROM etl.raw_intraday WHERE symbol = :s", {"s": symbol})


def product(symbol, month):
    return etl.daily(symbol, month).to_dict("records")


def test_an_unchanged_month_is_not_loaded_again(engine, client, tmp_path):
    first = etl.run_month("PROV", "2025-10", "60min", client=client, export_to=tmp_path, skip_unchanged=True)
    before, raw = product("PROV", "2025-10"), raw_rows("PROV")
    again = etl.run_month("PROV", "2025-10", "60min", client=client, export_to=tmp_path, skip_unchanged=True)
    assert again["unchanged_since"] == first["run_id"] and again["run_id"] != first["run_id"]
    assert statuses("PROV") == ["succeeded", "unchanged"]
    assert raw_rows("PROV") == raw and product("PROV", "2025-10") == before  # nothing written
    assert again["files"]["csv"].is_file()


def test_without_the_switch_every_run_loads(engine, client, tmp_path):
    etl.run_month("PROVB", "2025-10", "60min", client=client, export_to=tmp_path)
    raw = raw_rows("PROVB")
    etl.run_month("PROVB", "2025-10", "60min", client=client, export_to=tmp_path)
    assert statuses("PROVB") == ["succeeded", "succeeded"] and raw_rows("PROVB") == 2 * raw


@pytest.mark.parametrize("change", ["other interval", "deleted product", "missing file", "other answer"])
def test_a_changed_month_is_loaded(engine, client, tmp_path, change):
    symbol = "PROV" + str(abs(hash(change)) % 1000)
    etl.run_month(symbol, "2025-10", "60min", client=client, export_to=tmp_path, skip_unchanged=True)
    interval = "60min"
    if change == "other interval":
        interval = "30min"
    elif change == "deleted product":
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DELETE FROM etl.daily WHERE symbol = '{symbol}' AND session = '2025-10-01'")
    elif change == "missing file":
        etl.export_paths(symbol, "2025-10", tmp_path)["parquet"].unlink()
    elif change == "other answer":
        stub.configure(faults={"missing"})  # ten bars short: another answer
    result = etl.run_month(symbol, "2025-10", interval, client=client, export_to=tmp_path, skip_unchanged=True)
    assert "unchanged_since" not in result
    assert statuses(symbol) == ["succeeded", "succeeded"]
    assert len(product(symbol, "2025-10")) == 23  # October 2025's NYSE sessions, whole again
