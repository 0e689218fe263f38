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


META = {"1. Information": "Intraday (5min) open, high, low, close prices and volume", "2. Symbol": "X",
        "3. Last Refreshed": "2025-11-03 09:30:00", "4. Interval": "5min", "5. Output Size": "Full size",
        "6. Time Zone": "US/Eastern"}
BAR = {"1. open": "1.0000", "2. high": "1.5000", "3. low": "0.9000", "4. close": "1.2000", "5. volume": "100"}


@pytest.mark.parametrize("payload, error, words", [
    ({"Error Message": "Invalid API call. Please retry or visit the documentation"}, ApiError, "Invalid API call"),
    ({"Meta Data": {**META, "2. Symbol": "OTHER"}, "Time Series (5min)": {}}, MalformedPayload, "'OTHER'"),
    ({"Meta Data": {**META, "4. Interval": "1min"}, "Time Series (5min)": {}}, MalformedPayload, "interval '1min'"),
    ({"Meta Data": META}, MalformedPayload, r"no 'Time Series \(5min\)'"),
    ({"Meta Data": META, "Time Series (5min)": {"2025-11-03 09:30:00": {"1. open": "1"}}},
     MalformedPayload, "lacks 2. high"),
    ({"Meta Data": META, "Time Series (5min)": {"2025-11-03 09:30:00": {**BAR, "6. extra": "1"}}},
     MalformedPayload, "unknown field"),
    ({"Meta Data": META, "Time Series (5min)": {"2025-11-03 09:30:00": [1, 2]}}, MalformedPayload, "is a list"),
    ({"Meta Data": META, "Time Series (5min)": {"2025-11-03 09:30:00": BAR, "03/11/2025 09:35": BAR}},
     MalformedPayload, "'03/11/2025 09:35' is not"),
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


# --- notices, errors and formats the real API sends -------------------------------------------

@pytest.fixture
def recorded():
    """A server answering with recorded Alpha Vantage bodies, in order (then the last one again)."""
    from fdelib.localapi import LocalAPI, Response

    bodies = []

    def app(request):
        body = bodies.pop(0) if len(bodies) > 1 else bodies[0]
        return body if isinstance(body, Response) else Response.json(body)

    with LocalAPI(app, "recorded-alphavantage") as api:
        yield api, bodies


def good_payload(symbol="X", interval="5min"):
    return json.loads(stub.render(symbol, "2025-11", interval, 7, frozenset()))


DAILY_QUOTA = {"Information": "We have detected your API key as DEMO123 and our standard API rate limit is 25 "
                              "requests per day. Please subscribe to any of the premium plans at "
                              "https://www.alphavantage.co/premium/ to instantly remove all daily rate limits."}
PREMIUM = {"Information": "Thank you for using Alpha Vantage! This is a premium endpoint. You may subscribe to "
                          "any of the premium plans at https://www.alphavantage.co/premium/ to instantly unlock "
                          "all premium endpoints"}


def test_per_minute_notices_of_both_shapes_are_retried(recorded):
    api, bodies = recorded
    bodies += [*stub.RATE_LIMIT_NOTES, good_payload()]        # a Note, then an Information, then bars
    waits = []
    patient = Client(api.url, "demo", sleep=waits.append, backoff=0.5)
    assert patient.intraday("X", "2025-11")["Meta Data"]["2. Symbol"] == "X"
    assert waits == [0.5, 1.0] and patient.calls == 3


@pytest.mark.parametrize("body, error, words", [
    (DAILY_QUOTA, RateLimited, "daily quota is used up"),
    (PREMIUM, ApiError, "premium endpoint"),
    ({"Error Message": "Invalid API call. Please retry or visit the documentation "
                       "(https://www.alphavantage.co/documentation/) for TIME_SERIES_INTRADAY."}, ApiError,
     "Invalid API call"),
])
def test_notices_that_waiting_cannot_fix_fail_at_once(recorded, body, error, words):
    api, bodies = recorded
    bodies.append(body)
    waits = []
    impatient = Client(api.url, "demo", sleep=waits.append)
    with pytest.raises(error, match=words):
        impatient.intraday("X", "2025-11")
    assert impatient.calls == 1 and waits == []


def test_an_answer_that_is_not_json_or_not_ok_is_refused(recorded):
    from fdelib.localapi import Response

    api, bodies = recorded
    bodies += [Response.text("<html>Bad Gateway</html>"), Response.text("oops", status=500)]
    client = Client(api.url, "demo", sleep=lambda s: None)
    with pytest.raises(MalformedPayload, match="not JSON"):
        client.intraday("X", "2025-11")
    with pytest.raises(ApiError, match="HTTP 500"):
        client.intraday("X", "2025-11")


def test_the_key_never_shows_in_the_client_repr():
    assert "s3cret" not in repr(Client("https://www.alphavantage.co", "s3cret"))


def test_csv_answers_give_the_same_payload_as_json(client):
    as_json = client.intraday("CSVS", "2025-11", "30min")
    as_csv = client.intraday("CSVS", "2025-11", "30min", datatype="csv")
    assert as_csv["Time Series (30min)"] == as_json["Time Series (30min)"]
    assert list(as_csv["Time Series (30min)"])[0] == "2025-11-28 12:30:00"       # newest first


def test_extended_hours_bars_are_kept_raw_but_the_product_is_the_regular_session(client):
    payload = client.intraday("EXTD", "2025-11", "15min", extended_hours=True)
    times = sorted(t[11:] for t in payload["Time Series (15min)"])
    assert times[0] == "04:00:00" and times[-1] == "19:45:00"
    assert max(t[11:] for t in payload["Time Series (15min)"] if t.startswith("2025-11-28")) == "16:45:00"
    regular = etl.run_month("EXTD", "2025-11", "15min", client=client)
    product = etl.daily("EXTD")
    extended = etl.run_month("EXTD", "2025-11", "15min", client=client, extended_hours=True)
    assert extended["raw_rows"] == len(payload["Time Series (15min)"]) > regular["raw_rows"]
    assert extended["clean"] == extended["raw_rows"] and extended["missing_bars"] == 0
    assert etl.daily("EXTD").equals(product) and product["bars"].max() == 26
    assert bool(etl.run_log()["status"].eq("succeeded").iloc[-1])


# --- bad values: refused by the load, nothing written ------------------------------------------

@pytest.mark.parametrize("field, value, words", [
    ("4. close", "n/a", r"bar 2025-11-2\d \d\d:\d\d:00: invalid input syntax for type numeric"),
    ("4. close", "NaN", "raw_intraday_values"),
    ("3. low", "-1.0", "raw_intraday_values"),
    ("5. volume", "12,5", "has a comma or a line break"),
    ("5. volume", "1,5min,2025-11-03 09:30:00-05:00,1,1,1,1,1,1\nX", "has a comma or a line break"),
])
def test_a_bad_value_fails_the_load_and_writes_nothing(client, field, value, words):
    etl.run_month("VALS", "2025-11", "60min", client=client)
    before = (raw_count("VALS"), etl.daily("VALS"))
    payload = client.intraday("VALS", "2025-11", "60min")
    bars = payload["Time Series (60min)"]
    bars[list(bars)[5]][field] = value
    with pytest.raises(MalformedPayload, match=words):
        etl.run_month("VALS", "2025-11", "60min", client=client, payload=payload)
    assert raw_count("VALS") == before[0] and etl.daily("VALS").equals(before[1])
    assert etl.run_log().iloc[-1]["status"] == "failed"


def test_setup_is_idempotent_and_keeps_data(client, engine):
    etl.run_month("KEEP", "2025-11", "60min", client=client)
    etl.setup(engine)
    etl.setup(engine)
    assert raw_count("KEEP") == 18 * 6 + 3        # 60-minute bars 09:30-14:30, to 11:30 on the half day
    indexes = db.read_frame("SELECT indexname FROM pg_indexes WHERE schemaname = 'etl' "
                            "AND tablename = 'raw_intraday' ORDER BY 1")
    assert list(indexes["indexname"]) == ["raw_intraday_run_idx"]
