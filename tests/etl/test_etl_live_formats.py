"""The ETL against Alpha Vantage's real answer formats (tests/etl/fixtures, written from its
documentation): the closing auction's bar, the daily series, a CSV with a byte-order mark, the
notices of a free key. The stand-in is checked against the same shapes."""

import json
from pathlib import Path

import pytest

from fdelib import etl, http
from fdelib.errors import FdeError
from fdelib.etl import alphavantage, stub
from fdelib.etl.alphavantage import Client, PremiumRequired, RateLimited
from fdelib.localapi import LocalAPI, Response, Router

FIXTURES = Path(__file__).with_name("fixtures")
INTRADAY = json.loads((FIXTURES / "intraday_ibm_2025-11_5min_regular.json").read_text())
DAILY = json.loads((FIXTURES / "daily_ibm_compact.json").read_text())
NOTICES = json.loads((FIXTURES / "notices.json").read_text())
SESSION = "2025-11-14"


@pytest.fixture(autouse=True)
def clean(engine):
    etl.setup(engine)
    with engine.begin() as conn:
        for table in ("raw_intraday", "intraday", "daily", "runs"):
            conn.exec_driver_sql(f"DELETE FROM etl.{table} WHERE symbol = 'IBM'")
    stub.configure()
    yield
    stub.configure()


@pytest.fixture
def recorded():
    """A server answering Alpha Vantage's ``/query`` by ``function``, from lists of recorded bodies
    (each answered in turn, the last one again)."""
    answers = {"TIME_SERIES_INTRADAY": [], "TIME_SERIES_DAILY": []}

    def next_of(function):
        def answer(request):
            bodies = answers[function]
            body = bodies.pop(0) if len(bodies) > 1 else bodies[0]
            return body if isinstance(body, Response) else Response.json(body)

        return answer

    router = Router()
    for function in answers:
        router.add("GET", "/query", next_of(function), function=function)
    with LocalAPI(router, "recorded-alphavantage") as api:
        yield api, answers


def closing_bar(payload):
    return payload["Time Series (5min)"][f"{SESSION} 16:00:00"]


def test_the_daily_product_equals_the_official_daily_bar(recorded, engine):
    """The closing auction is the 16:00 bar: its close is the official close, and it carries about
    a tenth of the day's volume. The product keeps it, so it equals TIME_SERIES_DAILY."""
    api, answers = recorded
    answers["TIME_SERIES_INTRADAY"].append(INTRADAY)
    answers["TIME_SERIES_DAILY"].append(DAILY)
    client = Client(api.url, "demo", sleep=lambda s: None)
    official = DAILY["Time Series (Daily)"][SESSION]
    bars = INTRADAY["Time Series (5min)"]
    assert closing_bar(INTRADAY)["4. close"] == official["4. close"]
    share = int(closing_bar(INTRADAY)["5. volume"]) / int(official["5. volume"])
    assert 0.08 < share < 0.12  # the closing auction: about a tenth of the volume of an NYSE-listed stock

    result = etl.run_month("IBM", "2025-11", client=client)
    assert result["raw_rows"] == 79 and result["daily_rows"] == 1
    day = etl.daily("IBM", "2025-11").iloc[0]
    assert f"{day['close']:.4f}" == official["4. close"] and f"{day['open']:.4f}" == official["1. open"]
    assert int(day["volume"]) == int(official["5. volume"]) == sum(int(b["5. volume"]) for b in bars.values())
    assert f"{day['high']:.4f}" == official["2. high"] and f"{day['low']:.4f}" == official["3. low"]

    check = etl.reconcile("IBM", "2025-11", client)
    assert check.summary["compared"] == 1 and check.summary["agree"] == 1 and check.summary["differ"] == 0
    # the other sessions of the daily series have no bars here: reported, not hidden
    assert check.summary["only in the daily series"] == 2
    assert list(check.differences["session"]) == ["2025-11-13", "2025-11-17"]
    assert set(check.differences["status"]) == {"only in the daily series"}
    assert [r.query["function"] for r in api.requests] == ["TIME_SERIES_INTRADAY", "TIME_SERIES_DAILY"]
    sent = api.requests[0].query
    assert sent["extended_hours"] == "false" and sent["adjusted"] == "false" and sent["month"] == "2025-11"


def test_a_product_without_the_closing_bar_is_reported_as_different(recorded, engine):
    """What the old session boundary did — bars before 16:00 only — loses the close and a tenth
    of the volume; the reconciliation names both."""
    api, answers = recorded
    truncated = json.loads(json.dumps(INTRADAY))
    del truncated["Time Series (5min)"][f"{SESSION} 16:00:00"]
    answers["TIME_SERIES_INTRADAY"].append(truncated)
    answers["TIME_SERIES_DAILY"].append(DAILY)
    client = Client(api.url, "demo", sleep=lambda s: None)
    result = etl.run_month("IBM", "2025-11", client=client, reconcile_daily=True)
    gaps = etl.gaps("IBM", "2025-11", "5min")
    gaps = gaps[gaps["session"].astype(str) == SESSION]
    assert gaps[["first", "last", "bars"]].to_dict("records") == [{"first": "16:00", "last": "16:00", "bars": 1}]
    check = result["reconciliation"]
    assert check.summary["differ"] == 1
    differs = check.differences[check.differences["status"] == "differs"].set_index("field")
    assert set(differs.index) == {"close", "volume"}
    assert differs.loc["volume", "difference"] == -int(closing_bar(INTRADAY)["5. volume"])
    assert "1 differ" in repr(check)


def test_a_csv_answer_with_a_byte_order_mark_is_accepted(recorded, engine):
    api, answers = recorded
    body = (FIXTURES / "intraday_ibm_2025-11_5min_regular_bom.csv").read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")
    answers["TIME_SERIES_INTRADAY"].append(Response(200, body, "application/x-download"))
    client = Client(api.url, "demo", sleep=lambda s: None)
    as_csv = client.intraday("IBM", "2025-11", "5min", datatype="csv")
    assert as_csv["Time Series (5min)"] == INTRADAY["Time Series (5min)"]
    result = etl.run_month("IBM", "2025-11", client=client, datatype="csv")  # the Arrow path too
    assert result["raw_rows"] == 79
    answer = alphavantage.Answer(body.decode("utf-8"), "IBM", "2025-11", "5min", "csv")  # passed on with its BOM
    assert answer.decode()["Time Series (5min)"] == INTRADAY["Time Series (5min)"]


def test_a_json_answer_with_a_byte_order_mark_is_accepted(recorded):
    api, answers = recorded
    answers["TIME_SERIES_DAILY"].append(Response(200, b"\xef\xbb\xbf" + json.dumps(DAILY).encode()))
    assert Client(api.url, "demo").daily("IBM")["Time Series (Daily)"] == DAILY["Time Series (Daily)"]


def test_a_premium_endpoint_says_what_a_free_key_can_do(recorded):
    api, answers = recorded
    answers["TIME_SERIES_INTRADAY"].append(NOTICES["premium_endpoint"])
    waits = []
    client = Client(api.url, "free-key", sleep=waits.append)
    with pytest.raises(PremiumRequired) as refused:
        client.intraday("IBM", "2025-11")
    message = str(refused.value)
    assert "25 requests a day" in message and "latest 100 sessions" in message
    assert "TIME_SERIES_INTRADAY with month=" in message and "This is a premium endpoint" in message
    assert client.calls == 1 and waits == []  # no retry: waiting cannot fix it


def test_the_burst_limit_is_waited_out_briefly_and_the_daily_quota_is_not(recorded):
    api, answers = recorded
    answers["TIME_SERIES_INTRADAY"] += [NOTICES["burst_limit"], INTRADAY]
    waits = []
    client = Client(api.url, "free-key", sleep=waits.append, backoff=90.0, max_wait=60.0)
    assert client.intraday("IBM", "2025-11")["Meta Data"]["2. Symbol"] == "IBM"
    assert waits == [60.0]  # capped by max_wait (FDE_API_MAX_WAIT)
    answers["TIME_SERIES_INTRADAY"][:] = [NOTICES["daily_quota"]]
    with pytest.raises(RateLimited, match=r"daily quota is used up.*25 requests a day"):
        client.intraday("IBM", "2025-11")


def test_an_http_429_with_a_long_wait_fails_at_once(recorded):
    api, answers = recorded
    answers["TIME_SERIES_DAILY"].append(Response(429, b"Too Many Requests", "text/plain", {"Retry-After": "21854"}))
    waits = []
    with pytest.raises(RateLimited, match=r"resets in 21,854 s \(6 h 4 min\), at .* UTC") as refused:
        Client(api.url, "free-key", sleep=waits.append).daily("IBM")
    assert waits == [] and "FDE_API_MAX_WAIT=60 s" in str(refused.value)


def test_reconciling_an_old_month_with_a_free_key_uses_the_compact_series(recorded, engine):
    """compact holds the latest 100 sessions; the full history is premium: an older month is
    compared where the series reaches, and the note says why the rest is not."""
    api, answers = recorded
    answers["TIME_SERIES_INTRADAY"].append(INTRADAY)
    days = [d.strftime("%Y-%m-%d") for d in __import__("pandas").bdate_range("2025-11-14", periods=100)]
    bar = DAILY["Time Series (Daily)"][SESSION]
    compact = {"Meta Data": DAILY["Meta Data"], "Time Series (Daily)": dict.fromkeys(reversed(days), bar)}
    answers["TIME_SERIES_DAILY"] += [compact, NOTICES["outputsize_full_premium"]]
    client = Client(api.url, "free-key", sleep=lambda s: None)
    etl.run_month("IBM", "2025-11", client=client)
    check = etl.reconcile("IBM", "2025-11", client)
    assert [r.query.get("outputsize") for r in api.requests[1:]] == ["compact", "full"]
    assert "outputsize=full" in check.note and "premium" in check.note
    assert check.summary["compared"] == 1 and check.summary["agree"] == 1


def test_the_stand_in_serves_the_same_shapes():
    """The stand-in's answers have the fixtures' keys, and its own daily series is its intraday
    bars' regular session, closing auction included."""
    client = etl.client(sleep=lambda s: None)
    intraday, daily = client.intraday("SHAPE", "2025-11"), client.daily("SHAPE")
    assert intraday["Meta Data"].keys() == INTRADAY["Meta Data"].keys()
    assert daily["Meta Data"].keys() == DAILY["Meta Data"].keys() and daily["Meta Data"]["4. Output Size"] == "Compact"
    assert len(daily["Time Series (Daily)"]) == 100
    bars = {t: b for t, b in intraday["Time Series (5min)"].items() if t.startswith("2025-11-03")}
    last = bars["2025-11-03 16:00:00"]
    official = daily["Time Series (Daily)"]["2025-11-03"]
    assert last["4. close"] == official["4. close"] and bars["2025-11-03 09:30:00"]["1. open"] == official["1. open"]
    assert sum(int(b["5. volume"]) for b in bars.values()) == int(official["5. volume"])
    assert 0.07 < int(last["5. volume"]) / int(official["5. volume"]) < 0.13
    assert len(client.daily("SHAPE", "full")["Time Series (Daily)"]) > 100


def test_a_missing_key_in_live_mode_says_what_a_free_key_can_do(settings):
    from dataclasses import replace

    live = replace(settings, mode="live")
    with pytest.raises(FdeError, match=r"ALPHAVANTAGE_API_KEY.*25 requests a day"):
        etl.client(live)
    assert etl.client(replace(live, alphavantage_api_key="k")).base_url == alphavantage.LIVE_URL
    assert http.base_url(settings, alphavantage.LIVE_URL, stub.serve) == stub.serve().url
