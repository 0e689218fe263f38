"""The market-data ETL against its offline stand-in: formats, faults, idempotency, backfill."""

import json
import time
from pathlib import Path

import pandas as pd
import pytest
import requests
import sqlalchemy as sa

from fdelib import db, etl, stack
from fdelib.etl import alphavantage, stub
from fdelib.etl.alphavantage import ApiError, Client, MalformedPayload, RateLimited


@pytest.fixture(autouse=True)
def clean_feed(engine):
    etl.setup(engine)
    stub.configure()  # no faults, counters reset
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
    assert stamps == sorted(stamps, reverse=True)  # newest first
    assert set(bars[stamps[0]]) == {"1. open", "2. high", "3. low", "4. close", "5. volume"}
    days = {s[:10] for s in stamps}
    assert "2025-11-27" not in days  # Thanksgiving: closed
    assert stamps[0] == "2025-11-28 13:00:00"  # half day: the closing auction at 13:00
    assert min(s[11:] for s in stamps) == "09:30:00"


def test_the_same_request_gives_the_same_bytes():
    assert stub.render("ACME", "2025-11", "5min", 7, frozenset()) == stub.render(
        "ACME", "2025-11", "5min", 7, frozenset()
    )


META = {
    "1. Information": "Intraday (5min) open, high, low, close prices and volume",
    "2. Symbol": "X",
    "3. Last Refreshed": "2025-11-03 09:30:00",
    "4. Interval": "5min",
    "5. Output Size": "Full size",
    "6. Time Zone": "US/Eastern",
}
BAR = {"1. open": "1.0000", "2. high": "1.5000", "3. low": "0.9000", "4. close": "1.2000", "5. volume": "100"}


@pytest.mark.parametrize(
    "payload, error, words",
    [
        ({"Error Message": "Invalid API call. Please retry or visit the documentation"}, ApiError, "Invalid API call"),
        ({"Meta Data": {**META, "2. Symbol": "OTHER"}, "Time Series (5min)": {}}, MalformedPayload, "'OTHER'"),
        ({"Meta Data": {**META, "4. Interval": "1min"}, "Time Series (5min)": {}}, MalformedPayload, "interval '1min'"),
        ({"Meta Data": META}, MalformedPayload, r"no 'Time Series \(5min\)'"),
        (
            {"Meta Data": META, "Time Series (5min)": {"2025-11-03 09:30:00": {"1. open": "1"}}},
            MalformedPayload,
            "lacks 2. high",
        ),
        (
            {"Meta Data": META, "Time Series (5min)": {"2025-11-03 09:30:00": {**BAR, "6. extra": "1"}}},
            MalformedPayload,
            "unknown field",
        ),
        ({"Meta Data": META, "Time Series (5min)": {"2025-11-03 09:30:00": [1, 2]}}, MalformedPayload, "is a list"),
        (
            {"Meta Data": META, "Time Series (5min)": {"2025-11-03 09:30:00": BAR, "03/11/2025 09:35": BAR}},
            MalformedPayload,
            "'03/11/2025 09:35' is not",
        ),
        ([1, 2], MalformedPayload, "expected a JSON object"),
    ],
)
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
    assert result["raw_rows"] == 18 * 79 + 43  # 19 sessions (09:30 … 16:00), one a half day (to 13:00)
    assert result["superseded"] == 0 and result["missing_bars"] == 0
    daily = etl.daily("FULL", "2025-11")
    assert len(daily) == 19 and daily["bars"].max() == 79 and daily["bars"].min() == 43
    intraday = db.read_frame(
        "SELECT bar_time, open, high, low, close, volume FROM etl.intraday WHERE symbol = 'FULL' ORDER BY bar_time"
    )
    first_day = intraday[intraday["bar_time"].dt.tz_convert("America/New_York").dt.date == daily["session"].iloc[0]]
    assert daily["open"].iloc[0] == first_day["open"].iloc[0]
    assert daily["close"].iloc[0] == first_day["close"].iloc[-1]
    assert daily["volume"].iloc[0] == first_day["volume"].sum()


def test_duplicates_within_one_answer_are_loaded_raw_and_removed_before_aggregation(client):
    clean_answer = client.intraday("DUPE", "2025-11")["Time Series (5min)"]
    first_day = {t: bar for t, bar in clean_answer.items() if t.startswith("2025-11-03")}
    stub.configure(["duplicates"])  # a single run, nothing loaded before
    payload = client.intraday("DUPE", "2025-11")
    assert len(alphavantage.repeats(payload["Time Series (5min)"])) == 12  # 09:30-10:25 sent twice
    result = etl.run_month("DUPE", "2025-11", client=client)
    assert result["raw_rows"] == 79 + 18 * 79 + 43 + 12  # Oct 31 (the overlap), November, the copies
    assert result["duplicates"] == 12 and result["superseded"] == 12 and result["clean"] == 18 * 79 + 43
    day = etl.daily("DUPE", "2025-11").iloc[0]
    assert day["bars"] == 79  # not 91: each bar counted once
    assert day["volume"] == sum(int(bar["5. volume"]) for bar in first_day.values())
    assert etl.run_log().iloc[-1]["duplicates"] == 12
    october = etl.run_month("DUPE", "2025-10", client=client)
    assert october["duplicates"] == 79 + 12  # Oct 31 came with November's answer; its own copies
    assert etl.daily("DUPE", "2025-10").iloc[-1]["bars"] == 79


def test_the_run_log_counts_each_runs_own_duplicates(client):
    for _ in range(3):
        etl.run_month("RERUN", "2025-11", "30min", client=client)
    log = etl.run_log()
    assert list(log.loc[log["symbol"] == "RERUN", "duplicates"]) == [0, 260, 260]  # not 0, 260, 520


def test_a_csv_answer_keeps_a_row_sent_twice(client):
    stub.configure(["duplicates"])
    as_csv = client.intraday("CSVD", "2025-11", "60min", datatype="csv")
    as_json = client.intraday("CSVD", "2025-11", "60min")
    assert alphavantage.repeats(as_csv["Time Series (60min)"]) == alphavantage.repeats(as_json["Time Series (60min)"])
    assert [t for t, _ in alphavantage.repeats(as_json["Time Series (60min)"])] == [
        "2025-11-03 10:00:00",
        "2025-11-03 09:00:00",
    ]


def test_copies_of_a_bar_that_disagree_are_refused(client):
    text = stub.render("TWICE", "2025-11", "60min", 7, frozenset(["duplicates"])).decode()
    last = text.rindex('"1. open": "')  # the last copy, sent again with another open
    text = text[:last] + '"1. open": "1' + text[last + len('"1. open": "') :]
    with pytest.raises(MalformedPayload, match="sent twice with different values"):
        alphavantage.Answer(text, "TWICE", "2025-11", "60min").decode()


def test_every_interval_gives_the_same_daily_product(client):
    """Alpha Vantage's bars are clock-aligned: 60-minute bars run 09:00 … 15:00 and 16:00, and the
    daily product must still hold the whole session — open at 09:30, the closing auction's close at
    16:00, all the volume — and equal the official daily bars."""
    products = {}
    for interval in alphavantage.INTERVALS:
        result = etl.run_month("EVERY", "2025-11", interval, client=client)
        assert result["missing_bars"] == 0, interval
        products[interval] = etl.daily("EVERY", "2025-11")
    bars = {interval: list(frame["bars"].unique()) for interval, frame in products.items()}
    assert bars == {"1min": [391, 211], "5min": [79, 43], "15min": [27, 15], "30min": [14, 8], "60min": [8, 5]}
    columns = ["session", "open", "high", "low", "close", "volume"]
    for interval, frame in products.items():
        assert frame[columns].equals(products["1min"][columns]), interval
    assert etl.reconcile("EVERY", "2025-11", client).agrees


def test_sixty_minute_bars_are_hour_aligned_like_the_api(client):
    regular = sorted(client.intraday("HOUR", "2025-11", "60min")["Time Series (60min)"])
    assert [t[11:16] for t in regular if t.startswith("2025-11-03")] == [
        "09:00",
        "10:00",
        "11:00",
        "12:00",
        "13:00",
        "14:00",
        "15:00",
        "16:00",
    ]  # 16:00: the closing auction
    assert [t[11:16] for t in regular if t.startswith("2025-11-28")] == ["09:00", "10:00", "11:00", "12:00", "13:00"]
    extended = client.intraday("HOUR", "2025-11", "60min", extended_hours=True)
    stamps = sorted(extended["Time Series (60min)"])
    day = [t[11:16] for t in stamps if t.startswith("2025-11-03")]
    assert day[0] == "04:00" and day[-1] == "19:00" and len(day) == 16  # as recorded answers: 04:00 … 19:00
    assert extended["Meta Data"]["3. Last Refreshed"] == "2025-11-28 16:00:00"  # half day: to 17:00
    # the 09:00 bar holds 09:30-10:00 in a regular-hours answer, also 09:00-09:30 with extended hours
    nine = "2025-11-03 09:00:00"
    plain, wide = (
        client.intraday("HOUR", "2025-11", "60min")["Time Series (60min)"][nine],
        extended["Time Series (60min)"][nine],
    )
    assert int(wide["5. volume"]) > int(plain["5. volume"])


def test_gaps_use_the_same_clock_aligned_bars(client):
    stub.configure(["missing"])  # 10:00-10:30 of the second session
    result = etl.run_month("HGAP", "2025-11", "60min", client=client)
    assert result["missing_bars"] == 1
    gaps = etl.gaps("HGAP", "2025-11", "60min")
    assert gaps[["first", "last", "bars"]].to_dict("records") == [{"first": "10:00", "last": "10:00", "bars": 1}]


def test_a_corrected_bar_wins_by_ingestion_time(client):
    stub.configure(["correction"])
    etl.run_month("CORR", "2025-11", client=client)
    before = etl.daily("CORR", "2025-11")
    etl.run_month("CORR", "2025-11", client=client)  # second fetch: one bar corrected
    after = etl.daily("CORR", "2025-11")
    changed = (before[["high", "low", "close"]] != after[["high", "low", "close"]]).any(axis=1)
    assert changed.sum() == 1
    versions = db.read_scalar(
        "SELECT count(DISTINCT close) FROM etl.raw_intraday r WHERE symbol = 'CORR' "
        "GROUP BY bar_time ORDER BY 1 DESC LIMIT 1"
    )
    assert versions == 2  # raw keeps both versions; clean keeps the latest
    from fdelib.etl import views

    shown = views.versions("CORR", "2025-11", "5min")
    assert list(shown["kept"]) == [False, True] and shown["close"].iloc[1] > shown["close"].iloc[0]
    assert views.versions("CORR", "2025-11", "60min").empty  # another interval: nothing to show


def test_missing_bars_are_reported_as_gaps(client):
    stub.configure(["missing"])
    result = etl.run_month("GAPS", "2025-11", client=client)
    assert result["missing_bars"] == 6
    gaps = etl.gaps("GAPS", "2025-11", "5min")
    assert gaps.to_dict("records") == [
        {"symbol": "GAPS", "session": gaps["session"].iloc[0], "first": "10:00", "last": "10:25", "bars": 6}
    ]
    assert str(gaps["session"].iloc[0]) == "2025-11-04"


def test_malformed_payload_writes_nothing_and_says_why(client, engine):
    etl.run_month("BAD", "2025-11", client=client)
    daily_before, raw_before = etl.daily("BAD"), raw_count("BAD")
    stub.configure(["malformed"])
    with pytest.raises(MalformedPayload, match=r"lacks 4. close"):
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
    assert raw_count("CRASH") == 0  # raw, clean and daily commit together
    monkeypatch.undo()
    assert etl.run_month("CRASH", "2025-11", client=client)["daily_rows"] == 19


def test_an_interrupted_run_is_recorded_as_failed_not_left_running(client, monkeypatch):
    from fdelib.etl import pipeline

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "deduplicate", interrupt)
    with pytest.raises(KeyboardInterrupt):
        etl.run_month("INTR", "2025-11", "60min", client=client)
    last = etl.run_log().iloc[-1]
    assert last["status"] == "failed" and last["error"].startswith("KeyboardInterrupt")
    assert raw_count("INTR") == 0


def status_of(run_id):
    return db.read_scalar("SELECT status FROM etl.runs WHERE run_id = :id", {"id": run_id})


def test_a_run_whose_process_died_is_marked_abandoned_by_the_next_run(client, engine):
    from fdelib.etl import pipeline

    # a run whose process is killed between steps: its work never commits, its record says 'running'
    dead = pipeline.Run.begin("DEAD", "2025-11", "60min", client=client, engine=engine)
    pipeline.load_raw(dead.conn, client.intraday("DEAD", "2025-11", "60min"), dead.run_id)
    backend = dead.conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    dead.conn.invalidate()  # the process is gone: PostgreSQL loses its session
    for _ in range(100):  # ... and ends it (asynchronously)
        if not db.read_scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = :p", {"p": backend}):
            break
        time.sleep(0.05)
    assert status_of(dead.run_id) == "running" and raw_count("DEAD") == 0
    result = etl.run_month("DEAD", "2025-11", "60min", client=client)
    assert status_of(dead.run_id) == "abandoned" and result["daily_rows"] == 19
    error = db.read_scalar("SELECT error FROM etl.runs WHERE run_id = :id", {"id": dead.run_id})
    assert "its process ended" in error and f"run {result['run_id']} started" in error


def test_a_committed_running_row_without_a_process_is_abandoned(client, engine):
    with engine.begin() as conn:  # a record left by a crashed process (or an older version)
        orphan = etl.start_run(conn, "ORPH", "2025-11", "60min")
    etl.run_month("ORPH", "2025-11", "60min", client=client)
    assert status_of(orphan) == "abandoned"


def test_a_live_run_is_not_abandoned_and_does_not_block_the_next(client, engine, settings):
    from fdelib.etl import pipeline

    live = pipeline.Run.begin("LIVE", "2025-11", "60min", client=client, engine=engine)
    pipeline.load_raw(live.conn, client.intraday("LIVE", "2025-11", "60min"), live.run_id)  # uncommitted writes
    impatient = sa.create_engine(db.database_url(settings), connect_args={"options": "-c lock_timeout=3000"})
    try:
        etl.run_month("OTHER", "2025-11", "60min", client=client, engine=impatient)  # set-up takes no table lock
    finally:
        impatient.dispose()
    assert status_of(live.run_id) == "running"  # its lock is held: alive, left alone
    pipeline.deduplicate(live.conn, "LIVE", "2025-11", "60min")
    pipeline.aggregate_daily(live.conn, "LIVE", "2025-11", "60min")
    counts = live.succeed()
    assert status_of(live.run_id) == "succeeded" and counts["daily_rows"] == 19 and counts["raw_rows"] == 149


def test_three_runs_export_identical_bytes(client, tmp_path):
    outputs = []
    for n in range(3):
        files = etl.run_month("IDEM", "2025-11", client=client, export_to=tmp_path / str(n))["files"]
        outputs.append((files["csv"].read_bytes(), files["parquet"].read_bytes()))
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0][0].startswith(b"symbol,session,open,high,low,close,volume,bars\nIDEM,2025-11-03,")


LATEST_WINS = """
    SELECT count(*) FROM etl.intraday i
    WHERE i.symbol = :s AND ROW(i.open, i.high, i.low, i.close, i.volume) IS DISTINCT FROM (
        SELECT ROW(r.open, r.high, r.low, r.close, r.volume) FROM etl.raw_intraday r
        WHERE r.symbol = i.symbol AND r.interval = i.interval AND r.bar_time = i.bar_time
        ORDER BY r.ingested_at DESC, r.run_id DESC LIMIT 1)
"""


def test_backfill_in_any_order_keeps_the_latest_load_of_every_bar(client, engine):
    # each answer also brings the previous month's last session, its closing bar revised:
    # which load of those bars is the latest depends on the order the months run in
    stub.configure(["duplicates"])
    october = client.intraday("ORDER", "2025-10")["Time Series (5min)"]
    original = float(october["2025-10-31 16:00:00"]["4. close"])  # the closing auction's bar
    revised = pytest.approx(original * 1.01, abs=1e-4)

    def backfill(months):
        with engine.begin() as conn:
            for table in ("raw_intraday", "intraday", "daily"):
                conn.exec_driver_sql(f"DELETE FROM etl.{table} WHERE symbol = 'ORDER'")
        for month in months:
            etl.run_month("ORDER", month, client=client)
        assert db.read_scalar(LATEST_WINS, {"s": "ORDER"}) == 0  # every clean bar: its latest load
        return etl.daily("ORDER").set_index("session")

    forward = backfill(["2025-09", "2025-10", "2025-11"])  # November's load of Oct 31 is the latest
    backward = backfill(["2025-11", "2025-09", "2025-10"])  # October's own load of Oct 31 is the latest
    oct31 = pd.Timestamp("2025-10-31").date()
    assert forward.loc[oct31, "close"] == revised and backward.loc[oct31, "close"] == original
    others = [d for d in forward.index if d != oct31]
    assert forward.loc[others].equals(backward.loc[others])
    assert len(forward) == 1 + 21 + 23 + 19 and forward.index[0] == pd.Timestamp("2025-08-29").date()


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


DAILY_QUOTA = {
    "Information": "We have detected your API key as DEMO123 and our standard API rate limit is 25 "
    "requests per day. Please subscribe to any of the premium plans at "
    "https://www.alphavantage.co/premium/ to instantly remove all daily rate limits."
}
PREMIUM = {
    "Information": "Thank you for using Alpha Vantage! This is a premium endpoint. You may subscribe to "
    "any of the premium plans at https://www.alphavantage.co/premium/ to instantly unlock "
    "all premium endpoints"
}


def test_per_minute_notices_of_both_shapes_are_retried(recorded):
    api, bodies = recorded
    bodies += [*stub.RATE_LIMIT_NOTES, good_payload()]  # a Note, then an Information, then bars
    waits = []
    patient = Client(api.url, "demo", sleep=waits.append, backoff=0.5)
    assert patient.intraday("X", "2025-11")["Meta Data"]["2. Symbol"] == "X"
    assert waits == [0.5, 1.0] and patient.calls == 3


@pytest.mark.parametrize(
    "body, error, words",
    [
        (DAILY_QUOTA, RateLimited, "daily quota is used up"),
        (PREMIUM, ApiError, "premium endpoint"),
        (
            {
                "Error Message": "Invalid API call. Please retry or visit the documentation "
                "(https://www.alphavantage.co/documentation/) for TIME_SERIES_INTRADAY."
            },
            ApiError,
            "Invalid API call",
        ),
    ],
)
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
    assert next(iter(as_csv["Time Series (30min)"])) == "2025-11-28 13:00:00"  # newest first: the close


def test_extended_hours_bars_are_kept_raw_but_only_regular_hours_give_the_official_close(client):
    """The pre- and post-market bars are loaded and kept; the product is still the regular session's
    bars, but an extended-hours answer's bar at the close also holds the first post-market trades
    (16:00-16:15 here): its close is a post-market price, not the closing auction's. The
    reconciliation with the daily series shows it; a regular-hours load puts it right again."""
    payload = client.intraday("EXTD", "2025-11", "15min", extended_hours=True)
    times = sorted(t[11:] for t in payload["Time Series (15min)"])
    assert times[0] == "04:00:00" and times[-1] == "19:45:00"
    assert max(t[11:] for t in payload["Time Series (15min)"] if t.startswith("2025-11-28")) == "16:45:00"
    regular = etl.run_month("EXTD", "2025-11", "15min", client=client)
    product = etl.daily("EXTD")
    assert product["bars"].max() == 27 and etl.reconcile("EXTD", "2025-11", client).agrees
    extended = etl.run_month("EXTD", "2025-11", "15min", client=client, extended_hours=True)
    assert extended["raw_rows"] == len(payload["Time Series (15min)"]) > regular["raw_rows"]
    assert extended["clean"] == extended["raw_rows"] and extended["missing_bars"] == 0
    mixed = etl.daily("EXTD")
    assert mixed[["session", "open", "bars"]].equals(product[["session", "open", "bars"]])
    assert (mixed["volume"] > product["volume"]).all()  # the closing bar also holds post-market trades
    check = etl.reconcile("EXTD", "2025-11", client)
    assert check.summary["differ"] == 19 and {"close", "volume"} <= set(check.differences["field"])
    etl.run_month("EXTD", "2025-11", "15min", client=client)  # regular hours again: the latest load wins
    assert etl.daily("EXTD").equals(product) and etl.reconcile("EXTD", "2025-11", client).agrees
    assert bool(etl.run_log()["status"].eq("succeeded").iloc[-1])


# --- bad values: refused whole before anything is written -------------------------------------


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("4. close", "n/a", r"bar 2025-11-2\d \d\d:00:00: 4\. close 'n/a' is not a number"),
        ("4. close", "NaN", r"close is 'NaN', not a finite number"),
        ("3. low", "-1.0", "low -1 is not a positive price"),
        ("1. open", "-1.0", "open -1 is not a positive price"),
        ("4. close", "-0.5", "close -0.5 is not a positive price"),
        ("1. open", "99999", r"open 99999 is outside the bar's range, low [\d.]+ to high [\d.]+"),
        ("4. close", "0.0001", r"close 0.0001 is outside the bar's range"),
        ("2. high", "0.0001", r"low [\d.]+ is above high 0.0001"),
        ("5. volume", "-3", "volume -3 is negative"),
        ("5. volume", "12,5", "5. volume '12,5' is not a whole number"),
        ("5. volume", "1,5min,2025-11-03 09:30:00-05:00,1,1,1,1,1,1\nX", "is not a whole number"),
    ],
)
def test_a_bad_value_is_refused_before_the_load_and_nothing_is_written(client, field, value, words):
    etl.run_month("VALS", "2025-11", "60min", client=client)
    before = (raw_count("VALS"), etl.daily("VALS"))
    payload = client.intraday("VALS", "2025-11", "60min")
    bars = payload["Time Series (60min)"]
    bars[list(bars)[5]][field] = value
    with pytest.raises(MalformedPayload, match=words):
        etl.run_month("VALS", "2025-11", "60min", client=client, payload=payload)
    assert raw_count("VALS") == before[0] and etl.daily("VALS").equals(before[1])
    assert etl.run_log().iloc[-1]["status"] == "failed"


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("1. open", "-1.0", "raw_intraday_open_close"),  # the table's own check, last line of defence
        ("4. close", "9999", "raw_intraday_open_close"),
        ("4. close", "NaN", "violates check constraint"),
        ("5. volume", "12,5", "has a comma or a line break"),  # would shift the CSV's columns
    ],
)
def test_the_table_refuses_what_a_hand_made_payload_slips_past(client, engine, field, value, words):
    from fdelib.etl import pipeline

    payload = client.intraday("HAND", "2025-11", "60min")
    bars = payload["Time Series (60min)"]
    bars[list(bars)[5]][field] = value
    with pytest.raises(MalformedPayload, match=words), engine.begin() as conn:
        pipeline.load_raw(conn, payload, etl.start_run(conn, "HAND", "2025-11", "60min"))
    assert raw_count("HAND") == 0


PREVIOUS_SCHEMA = Path(__file__).with_name("schema_previous.sql")  # fdelib/etl/schema.sql before this one


@pytest.mark.parametrize("start", ["fresh", "previous version"])
def test_schema_sets_up_a_fresh_database_and_upgrades_the_previous_version(settings, start):
    name = "etl_schema_" + start.replace(" ", "_")
    admin = sa.create_engine(stack.admin_url(settings), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine = sa.create_engine(sa.engine.make_url(stack.admin_url(settings)).set(database=name))
    bar = "'X', '60min', '2025-11-03 09:00-05', {}, 2, 1, {}, 10, {}"
    try:
        if start == "previous version":
            db.run_sql_file(PREVIOUS_SCHEMA, engine)
            with engine.begin() as conn:
                conn.exec_driver_sql(
                    "INSERT INTO etl.runs (symbol, month, interval, status) VALUES ('X', '2025-11', '60min', 'running')"
                )
                conn.exec_driver_sql(
                    f"INSERT INTO etl.raw_intraday (symbol, interval, bar_time, open, high, low, "
                    f"close, volume, run_id) VALUES ({bar.format(-1, 1.5, 1)})"
                )  # let in then
        etl.setup(engine)
        etl.setup(engine)  # idempotent
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE etl.runs SET status = 'abandoned'")  # the new status is allowed
            conn.exec_driver_sql(
                f"INSERT INTO etl.raw_intraday (symbol, interval, bar_time, open, high, low, "
                f"close, volume, run_id) VALUES ({bar.format(1.5, 1.5, 1)})"
            )
        for open_, close in ((-1, 1.5), (1.5, -1), (3, 1.5), (1.5, 0.5)):
            with pytest.raises(sa.exc.IntegrityError, match="raw_intraday_open_close"):  # noqa: SIM117 (the refusal ends the transaction)
                with engine.begin() as conn:
                    conn.exec_driver_sql(
                        f"INSERT INTO etl.raw_intraday (symbol, interval, bar_time, open, high, "
                        f"low, close, volume, run_id) VALUES ({bar.format(open_, close, 1)})"
                    )
        with engine.connect() as conn:
            kept = conn.exec_driver_sql("SELECT count(*) FROM etl.raw_intraday").scalar()
            constraints = (
                conn.exec_driver_sql(
                    "SELECT conname FROM pg_constraint WHERE conrelid = 'etl.raw_intraday'::regclass "
                    "AND contype = 'c' ORDER BY 1"
                )
                .scalars()
                .all()
            )
        assert kept == (2 if start == "previous version" else 1)  # data kept; old rows not rescanned
        assert constraints == ["raw_intraday_open_close", "raw_intraday_values", "raw_intraday_volume_check"]
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()


def test_setup_is_idempotent_and_keeps_data(client, engine):
    etl.run_month("KEEP", "2025-11", "60min", client=client)
    etl.setup(engine)
    etl.setup(engine)
    assert raw_count("KEEP") == 18 * 8 + 5  # 60-minute bars 09:00-16:00, to 13:00 on the half day
    indexes = db.read_frame(
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'etl' AND tablename = 'raw_intraday' ORDER BY 1"
    )
    assert list(indexes["indexname"]) == ["raw_intraday_run_idx"]


def test_the_explorer_shows_its_symbol_from_the_start_and_redraws_on_a_change(client):
    from fdelib.etl import views

    for name in ("VIEWA", "VIEWB"):
        etl.run_month(name, "2025-11", "60min", client=client)
    box = views.explorer(["VIEWA", "VIEWB"], "2025-11", "VIEWB")
    choice, out = box.children
    assert len(out.outputs) == 1 and "image/png" in out.outputs[0]["data"]
    assert out.outputs[0]["data"]["text/plain"].startswith("VIEWB 2025-11")
    assert repr(box) == "explorer of 2025-11: VIEWA, VIEWB (showing VIEWB)"  # the cell's stored text
    choice.value = "VIEWA"
    assert len(out.outputs) == 1 and out.outputs[0]["data"]["text/plain"].startswith("VIEWA 2025-11")


# --- the vectorised CSV path (fdelib.etl.csvbars) --------------------------------------------


def _without(symbol):
    with db.get_engine().begin() as conn:
        for table in ("raw_intraday", "intraday", "daily", "runs"):
            conn.execute(sa.text(f"DELETE FROM etl.{table} WHERE symbol = :s"), {"s": symbol})


def _loaded(symbol):
    """What a load left: raw rows (with repeats), clean bars, daily product, the run's record."""
    return {
        "raw": db.read_frame(
            "SELECT interval, bar_time, open, high, low, close, volume FROM etl.raw_intraday "
            "WHERE symbol = :s ORDER BY 1, 2, 3, 4, 5, 6, 7",
            {"s": symbol},
        ),
        "intraday": db.read_frame(
            "SELECT interval, bar_time, open, high, low, close, volume FROM etl.intraday "
            "WHERE symbol = :s ORDER BY 1, 2",
            {"s": symbol},
        ),
        "daily": etl.daily(symbol),
        "runs": db.read_frame(
            "SELECT month, status, raw_rows, duplicates, daily_rows, gaps, first_bar, last_bar "
            "FROM etl.runs WHERE symbol = :s ORDER BY run_id",
            {"s": symbol},
        ),
    }


@pytest.mark.parametrize("interval", ["1min", "60min"])
def test_a_csv_month_loads_the_same_rows_as_json(client, interval):
    stub.configure(["duplicates", "missing"])  # repeats in the answer, an overlap, a gap
    results = {}
    for datatype in ("json", "csv"):
        _without("BOTH")
        results[datatype] = etl.run_month("BOTH", "2025-11", interval, client=client, datatype=datatype)
        results[datatype]["loaded"] = _loaded("BOTH")
    json_run, csv_run = results["json"], results["csv"]
    assert csv_run["raw_rows"] > csv_run["clean"] > 0 and csv_run["duplicates"] > 0
    for key in ("raw_rows", "clean", "superseded", "daily_rows", "duplicates", "missing_bars"):
        assert csv_run[key] == json_run[key], key
    for name, frame in json_run["loaded"].items():
        pd.testing.assert_frame_equal(csv_run["loaded"][name], frame, obj=name)


def test_a_csv_backfill_gives_the_same_product_as_json(client):
    products = {}
    for datatype in ("json", "csv"):
        _without("BACKCSV")
        outcome = etl.backfill(
            ["BACKCSV"], ["2025-11", "2025-10"], "30min", client=client, progress=False, datatype=datatype
        )
        assert list(outcome["status"]) == ["succeeded", "succeeded"]
        products[datatype] = etl.daily("BACKCSV")
    pd.testing.assert_frame_equal(products["csv"], products["json"])


def _rows(symbol, interval):
    """The stand-in's CSV answer (with a repeated stretch) as rows, in the order sent."""
    stub.configure(["duplicates"])
    text = stub.to_csv(stub.render(symbol, "2025-11", interval, 7, frozenset(["duplicates"])), interval).decode()
    return [line.split(",") for line in text.splitlines()[1:]]


def _conflict(rows):
    seen = set()
    for row in rows:
        if row[0] in seen:
            row[1] = "1"  # a later copy of a bar, sent with another open
            return
        seen.add(row[0])


def _set(column, value):
    def mutate(rows):
        rows[5][column] = value(rows[5]) if callable(value) else value

    return mutate


@pytest.mark.parametrize(
    "mutate, words",
    [
        (_set(0, "2025-11-28T12:00"), r"bar key '2025-11-28T12:00' is not 'YYYY-MM-DD HH:MM:SS'"),
        (_set(3, "-1.0"), r"bar 2025-11-2\d \d\d:00:00: low -1 is not a positive price"),
        (
            _set(4, lambda row: str(float(row[2]) * 2)),
            r"bar 2025-11-2\d \d\d:00:00: close [\d.]+ is outside the bar's range",
        ),
        (_set(5, "12x"), r"bar 2025-11-2\d \d\d:00:00: 5\. volume '12x' is not a whole number"),
        (_conflict, r"bar 2025-11-03 \d\d:00:00 is sent twice with different values"),
    ],
)
def test_a_bad_csv_answer_is_refused_like_json_and_nothing_is_written(client, mutate, words):
    from fdelib.etl import csvbars

    etl.run_month("CSVBAD", "2025-11", "60min", client=client, datatype="csv")
    before = (raw_count("CSVBAD"), etl.daily("CSVBAD"))
    rows = _rows("CSVBAD", "60min")
    mutate(rows)
    text = "\r\n".join([alphavantage.CSV_HEADER] + [",".join(row) for row in rows]) + "\r\n"
    payload = {
        "Meta Data": {**META, "2. Symbol": "CSVBAD", "4. Interval": "60min"},
        "Time Series (60min)": alphavantage.Series.from_pairs(
            [(row[0], dict(zip(alphavantage.FIELDS, row[1:], strict=False))) for row in rows]
        ),
    }
    with pytest.raises(MalformedPayload, match=words) as as_json:
        alphavantage.validate(payload, "CSVBAD", "60min")
    answer = alphavantage.Answer(text, "CSVBAD", "2025-11", "60min", "csv")
    with pytest.raises(MalformedPayload) as as_csv:
        csvbars.parse(answer)
    assert str(as_csv.value) == str(as_json.value)  # the same bar, the same words
    with pytest.raises(MalformedPayload, match=words):
        etl.run_month("CSVBAD", "2025-11", "60min", client=client, payload=answer)
    assert raw_count("CSVBAD") == before[0] and etl.daily("CSVBAD").equals(before[1])
    assert etl.run_log().iloc[-1]["status"] == "failed"


def test_a_csv_value_the_table_refuses_names_the_bar(client, engine):
    from fdelib.etl import csvbars, pipeline

    rows = _rows("CSVHAND", "60min")
    rows[7][4] = "9999"  # a close above high: made by hand, unchecked
    table = csvbars.pa.table({name: [row[i] for row in rows] for i, name in enumerate(csvbars.COLUMNS)})
    with pytest.raises(MalformedPayload, match=rf"bar {rows[7][0]}: .*raw_intraday_open_close"):  # noqa: SIM117
        with engine.begin() as conn:
            pipeline.load_raw(
                conn, csvbars.bars_of("CSVHAND", "60min", table), etl.start_run(conn, "CSVHAND", "2025-11", "60min")
            )
    assert raw_count("CSVHAND") == 0
