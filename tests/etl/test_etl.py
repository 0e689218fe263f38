"""The market-data ETL against its offline stand-in: formats, faults, idempotency, backfill."""

import json

import pytest
import requests

from fdelib import db, etl
from fdelib.etl import alphavantage, stub
from fdelib.etl.alphavantage import ApiError, Client, MalformedPayload, RateLimited


@pytest.fixture(autouse=True)
def clean_feed(engine):
    etl.setup(engine)
    stub.configure()          # no faults, counters reset
    yield
    stub.configure()


@pytest.fixture
def client():
    return etl.client(sleep=lambda seconds: None)


def raw_count(symbol):
    return db.read_scalar("SELECT count(*) FROM etl.raw_intraday WHERE symbol = :s", {"s": symbol})


# --- the client and the payload format -------------------------------------------------------

def test_payload_has_alpha_vantages_shape_and_real_sessions(client):
    payload = client.intraday("SHAPE", "2025-11", "15min")
    meta = payload["Meta Data"]
    assert meta["2. Symbol"] == "SHAPE" and meta["6. Time Zone"] == "US/Eastern"
    bars = payload["Time Series (15min)"]
    stamps = list(bars)
    assert stamps == sorted(stamps, reverse=True)                       # newest first
    assert set(bars[stamps[0]]) == {"1. open", "2. high", "3. low", "4. close", "5. volume"}
    days = {s[:10] for s in stamps}
    assert "2025-11-27" not in days                                     # Thanksgiving: closed
    assert stamps[0] == "2025-11-28 12:45:00"                           # half day: last bar before 13:00
    assert min(s[11:] for s in stamps) == "09:30:00"


def test_the_same_request_gives_the_same_bytes():
    assert stub.render("ACME", "2025-11", "5min", 7, frozenset()) == \
        stub.render("ACME", "2025-11", "5min", 7, frozenset())


@pytest.mark.parametrize("payload, error, words", [
    ({"Error Message": "Invalid API call. Please retry or visit the documentation"}, ApiError, "Invalid API call"),
    ({"Meta Data": {"2. Symbol": "OTHER"}, "Time Series (5min)": {}}, MalformedPayload, "'OTHER'"),
    ({"Meta Data": {"2. Symbol": "X"}}, MalformedPayload, r"no 'Time Series \(5min\)'"),
    ({"Meta Data": {"2. Symbol": "X"}, "Time Series (5min)": {"2025-11-03 09:30:00": {"1. open": "1"}}},
     MalformedPayload, "lacks 2. high"),
    ([1, 2], MalformedPayload, "expected a JSON object"),
])
def test_recorded_error_payloads_raise_clear_errors(payload, error, words):
    with pytest.raises(error, match=words):
        alphavantage.validate(payload, "X", "5min")


def test_rate_limit_is_retried_with_backoff(client):
    stub.configure(["rate_limit"], rate_limited_calls=2)
    waits = []
    patient = Client(client.base_url, "demo", sleep=waits.append, backoff=1.0)
    payload = patient.intraday("RATE", "2025-11", "60min")
    assert "Time Series (60min)" in payload
    assert waits == [1.0, 2.0] and patient.calls == 3


def test_rate_limit_that_never_ends_gives_up_clearly(client):
    stub.configure(["rate_limit"], rate_limited_calls=100)
    impatient = Client(client.base_url, "demo", sleep=lambda s: None, max_retries=2)
    with pytest.raises(RateLimited, match="still rate-limited after 2 retries"):
        impatient.intraday("RATE", "2025-11", "60min")


def test_bad_requests_are_refused_before_any_call(client):
    with pytest.raises(ApiError, match="not YYYY-MM"):
        client.intraday("ACME", "2025-13", "5min")
    with pytest.raises(ApiError, match="interval '2min'"):
        client.intraday("ACME", "2025-11", "2min")
    assert client.calls == 0


def test_the_stub_answers_a_bad_call_like_the_api(client):
    answer = requests.get(client.base_url + "/query", params={"function": "NOPE", "apikey": "demo"}, timeout=5)
    assert answer.status_code == 200 and "Error Message" in answer.json()


# --- the pipeline and each fault -------------------------------------------------------------

def test_a_month_end_to_end(client, engine):
    result = etl.run_month("FULL", "2025-11", client=client)
    assert result["raw_rows"] == 18 * 78 + 42          # 19 sessions, one a half day (42 bars, not 78)
    assert result["superseded"] == 0 and result["missing_bars"] == 0
    daily = etl.daily("FULL", "2025-11")
    assert len(daily) == 19 and daily["bars"].max() == 78 and daily["bars"].min() == 42
    intraday = db.read_frame("SELECT bar_time, open, high, low, close, volume FROM etl.intraday "
                             "WHERE symbol = 'FULL' ORDER BY bar_time")
    first_day = intraday[intraday["bar_time"].dt.tz_convert("America/New_York").dt.date
                         == daily["session"].iloc[0]]
    assert daily["open"].iloc[0] == first_day["open"].iloc[0]
    assert daily["close"].iloc[0] == first_day["close"].iloc[-1]
    assert daily["volume"].iloc[0] == first_day["volume"].sum()


def test_duplicates_are_removed_before_aggregation(client):
    etl.run_month("DUPE", "2025-10", client=client)
    stub.configure(["duplicates"])                     # November's answer repeats Oct 31st
    result = etl.run_month("DUPE", "2025-11", client=client)
    assert result["raw_rows"] == result["clean"] + 78  # the extra session is outside November's window
    october = etl.run_month("DUPE", "2025-10", client=client)
    assert october["superseded"] > 0
    last = etl.daily("DUPE", "2025-10").iloc[-1]
    assert last["bars"] == 78                          # not 156: each bar counted once


def test_a_corrected_bar_wins_by_ingestion_time(client):
    stub.configure(["correction"])
    etl.run_month("CORR", "2025-11", client=client)
    before = etl.daily("CORR", "2025-11")
    etl.run_month("CORR", "2025-11", client=client)    # second fetch: one bar corrected
    after = etl.daily("CORR", "2025-11")
    changed = (before[["high", "low", "close"]] != after[["high", "low", "close"]]).any(axis=1)
    assert changed.sum() == 1
    versions = db.read_scalar("SELECT count(DISTINCT close) FROM etl.raw_intraday r WHERE symbol = 'CORR' "
                              "GROUP BY bar_time ORDER BY 1 DESC LIMIT 1")
    assert versions == 2                               # raw keeps both versions; clean keeps the latest


def test_missing_bars_are_reported_as_gaps(client):
    stub.configure(["missing"])
    result = etl.run_month("GAPS", "2025-11", client=client)
    assert result["missing_bars"] == 6
    gaps = etl.gaps("GAPS", "2025-11", "5min")
    assert gaps.to_dict("records") == [{"symbol": "GAPS", "session": gaps["session"].iloc[0],
                                        "first": "10:00", "last": "10:25", "bars": 6}]
    assert str(gaps["session"].iloc[0]) == "2025-11-04"


def test_malformed_payload_writes_nothing_and_says_why(client, engine):
    etl.run_month("BAD", "2025-11", client=client)
    daily_before, raw_before = etl.daily("BAD"), raw_count("BAD")
    stub.configure(["malformed"])
    with pytest.raises(MalformedPayload, match="lacks 4. close"):
        etl.run_month("BAD", "2025-11", client=client)
    assert raw_count("BAD") == raw_before
    assert etl.daily("BAD").equals(daily_before)
    last = etl.run_log().iloc[-1]
    assert last["status"] == "failed" and "MalformedPayload" in last["error"]


def test_a_crash_between_steps_is_recovered_by_rerunning(client, engine, monkeypatch):
    from fdelib.etl import pipeline

    def crash(*args, **kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(pipeline, "aggregate_daily", crash)
    with pytest.raises(RuntimeError):
        etl.run_month("CRASH", "2025-11", client=client)
    assert raw_count("CRASH") == 0                     # raw, clean and daily commit together
    monkeypatch.undo()
    assert etl.run_month("CRASH", "2025-11", client=client)["daily_rows"] == 19


def test_three_runs_export_identical_bytes(client, tmp_path):
    outputs = []
    for n in range(3):
        files = etl.run_month("IDEM", "2025-11", client=client, export_to=tmp_path / str(n))["files"]
        outputs.append((files["csv"].read_bytes(), files["parquet"].read_bytes()))
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0][0].startswith(b"symbol,session,open,high,low,close,volume,bars\nIDEM,2025-11-03,")


def test_backfill_in_any_order_gives_the_same_product(client, engine):
    stub.configure(["duplicates"])                     # overlapping months: order could matter
    for month in ("2025-09", "2025-10", "2025-11"):
        etl.run_month("ORDER", month, client=client)
    forward = etl.daily("ORDER")
    with engine.begin() as conn:
        for table in ("raw_intraday", "intraday", "daily"):
            conn.exec_driver_sql(f"DELETE FROM etl.{table} WHERE symbol = 'ORDER'")
    for month in ("2025-11", "2025-09", "2025-10"):
        etl.run_month("ORDER", month, client=client)
    backward = etl.daily("ORDER")
    assert len(forward) == 19 + 23 + 21 - 0 and forward.equals(backward)


def test_backfill_runs_every_month_and_records_a_failed_one(client, engine):
    stub.configure(["malformed"])
    failing = etl.backfill(["BACKA"], ["2025-10"], client=client, progress=False)
    assert list(failing["status"]) == ["failed"] and "lacks 4. close" in failing["error"].iloc[0]
    stub.configure()
    result = etl.backfill(["BACKA", "BACKB"], ["2025-10", "2025-11"], client=client, progress=False)
    assert list(result["status"]) == ["succeeded"] * 4
    assert list(result["daily_rows"]) == [23, 19, 23, 19]
    log = etl.run_log()
    assert ((log["symbol"] == "BACKA") & (log["status"] == "failed")).sum() == 1
