"""The ETL notebooks' parameters (fdelib.etl.lessons), the explorer with a symbol outside `symbols`,
and the exercises' sample tables (fdelib.etl.sample)."""

import pytest

from fdelib import db, etl, params
from fdelib.errors import ParameterError
from fdelib.etl import lessons, sample, stub, views


@pytest.mark.parametrize(
    "rule, value, problem",
    [
        (lessons.Symbol(), "msft", "not a ticker"),
        (lessons.Symbol(), "", "not a ticker"),
        (lessons.Month(), "2025-13", "not a month"),
        (lessons.Month(), "2025-1", "not a month"),
        (lessons.Month(), "2012-12", "out of range"),
    ],
)
def test_rules_refuse_what_they_should(rule, value, problem):
    with pytest.raises(params.Invalid, match=problem):
        rule(value)


def test_the_defaults_pass_and_a_ticker_with_a_dot_is_a_ticker():
    namespace = {
        "as_of": "2026-01-02",
        "seed": 7,
        "symbols": ["ACME", "BRK.B"],
        "month": "2025-11",
        "interval": "5min",
        "symbol": "MSFT",
        "faulty": "UMBRELLA",
        "faults": [],
    }
    params.check(namespace, lessons.MARKET_DATA_ETL)
    lessons.check_month(namespace["month"], namespace["as_of"])
    lessons.check_symbols("MSFT", ["ACME", "BRK.B"], "UMBRELLA")  # symbol outside symbols is fine


def test_a_month_not_over_by_as_of_is_refused():
    lessons.check_month("2025-12", "2026-01-01")
    with pytest.raises(ParameterError, match="month = '2025-12': not over by as_of = '2025-12-31'"):
        lessons.check_month("2025-12", "2025-12-31")


def test_the_faulty_symbol_must_be_loaded_nowhere_else():
    with pytest.raises(ParameterError, match="faulty = 'GLOBX': it is also loaded without faults"):
        lessons.check_symbols("ACME", ["GLOBX"], "GLOBX")


def test_the_explorer_offers_the_symbol_it_starts_on_even_outside_symbols(engine):
    etl.reset(engine)
    stub.configure(seed=7)
    for symbol in ("ACME", "GLOBX", "MSFT"):
        etl.run_month(symbol, "2025-11", "60min")
    widget = views.explorer(["ACME", "GLOBX"], "2025-11", "MSFT", engine=engine)
    assert widget.children[0].options == ("ACME", "GLOBX", "MSFT") and widget.children[0].value == "MSFT"
    assert repr(widget) == "explorer of 2025-11: ACME, GLOBX, MSFT (showing MSFT)"


def test_the_sample_tables_hold_extended_hours_a_half_day_and_a_corrected_bar(engine):
    stub.configure(seed=7)
    counts = sample.load(etl.client(), "ACME", "2025-11", engine=engine)
    assert counts.to_dict() == {"etl_bars": 540, "etl_sessions": 3, "etl_raw_bars": 600}
    assert sample.load(etl.client(), "ACME", "2025-11", engine=engine).equals(counts)  # rebuilt, not appended
    hours = db.read_frame(
        "SELECT min((bar_time AT TIME ZONE 'America/New_York')::time) AS first, "
        "max((bar_time AT TIME ZONE 'America/New_York')::time) AS last FROM etl_bars"
    ).iloc[0]
    assert str(hours["first"]) == "04:00:00" and str(hours["last"]) > "16:00:00"
    closes = db.read_frame(
        "SELECT r.close FROM etl_raw_bars r JOIN etl_sessions s ON r.bar_time = s.close "
        "WHERE s.session = '2025-11-28' ORDER BY r.ingested_at"
    )["close"].tolist()
    assert len(closes) == 2 and closes[1] == round(closes[0] * 0.99, 4)
