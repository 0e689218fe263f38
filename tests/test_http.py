"""fdelib.http: the plumbing every API client shares (429 waits, not-JSON answers, live or stand-in)."""

import datetime as dt
from dataclasses import replace

import pytest
import requests

from fdelib import http
from fdelib.errors import FdeError
from fdelib.localapi import LocalAPI, Response

NOW = dt.datetime(2026, 1, 2, 12, 0, tzinfo=dt.UTC)


class QuotaError(FdeError):
    pass


@pytest.fixture
def server():
    answers = []

    def app(request):
        return answers.pop(0) if len(answers) > 1 else answers[0]

    with LocalAPI(app, "http-test") as api:
        yield api, answers


def answer(server, *responses):
    api, answers = server
    answers += responses
    return api.url


@pytest.mark.parametrize(
    "headers, seconds",
    [
        ({"Retry-After": "30"}, 30.0),
        ({"Retry-After": "Fri, 02 Jan 2026 12:01:30 GMT"}, 90.0),  # an HTTP date
        ({"ratelimit-reset": "7"}, 7.0),  # OpenFIGI
        ({"X-RateLimit-Reset": str(int(NOW.timestamp()) + 45)}, 45.0),  # a Unix time
        ({}, None),
    ],
)
def test_the_wait_a_server_asks_for(server, headers, seconds):
    url = answer(server, Response(429, b"", "text/plain", headers))
    assert http.requested_wait(requests.get(url, timeout=5), NOW) == seconds


def test_short_waits_are_obeyed_then_the_answer_returned(server):
    url = answer(
        server, Response(429, b"", "text/plain", {"Retry-After": "2"}), Response(429, b""), Response.json({"ok": True})
    )
    waits, retries = [], []
    response = http.send(
        requests.Session(),
        "GET",
        url,
        api="Test API",
        error=QuotaError,
        quota="the quota",
        sleep=waits.append,
        on_retry=lambda: retries.append(1),
        now=lambda: NOW,
    )
    assert response.json() == {"ok": True} and waits == [2.0, 2.0] and len(retries) == 2  # 2nd: backoff 2**1


def test_a_long_wait_fails_at_once_naming_the_quota_and_when_it_resets(server):
    url = answer(server, Response(429, b"{}", "application/json", {"Retry-After": "21854"}))
    waits = []
    with pytest.raises(QuotaError) as refused:
        http.send(
            requests.Session(),
            "POST",
            url,
            api="PermID match",
            error=QuotaError,
            quota="PermID's request quota for this API key",
            max_wait=60,
            sleep=waits.append,
            now=lambda: NOW,
        )
    message = str(refused.value)
    assert waits == []
    assert "PermID's request quota for this API key is used up (HTTP 429)" in message
    assert "resets in 21,854 s (6 h 4 min), at 2026-01-02 18:04 UTC" in message
    assert "FDE_API_MAX_WAIT=60 s" in message and "API key" not in message.replace("for this API key", "")


def test_retries_end_with_the_callers_hint(server):
    url = answer(server, Response(429, b"", "text/plain", {"Retry-After": "1"}))
    with pytest.raises(
        QuotaError,
        match=r"still rate-limited \(HTTP 429\) after 2 retries \(2 s of waiting\): "
        r"the quota is used up; wait a minute",
    ):
        http.send(
            requests.Session(),
            "GET",
            url,
            api="X",
            error=QuotaError,
            quota="the quota",
            hint="wait a minute",
            max_retries=2,
            sleep=lambda s: None,
        )


def test_no_answer_names_the_host_not_the_key():
    with pytest.raises(QuotaError, match=r"X: no answer from 127.0.0.1:9 \(ConnectionError\)") as refused:
        http.send(
            requests.Session(),
            "GET",
            "http://127.0.0.1:9/q?apikey=s3cret",
            api="X",
            error=QuotaError,
            quota="q",
            timeout=2,
        )
    assert "s3cret" not in str(refused.value)


@pytest.mark.parametrize(
    "body, shown",
    [
        (b"<!DOCTYPE html><html><body>Service Unavailable</body></html>", "'<!DOCTYPE html><html><body>Service"),
        (b"", "(empty)"),
        (b'{"data": [{"id": "5493', '\'{"data": [{"id": "5493\''),
    ],
)
def test_an_answer_that_is_not_json_is_refused_naming_api_status_and_first_bytes(server, body, shown):
    url = answer(server, Response(200, body, "text/html"))
    with pytest.raises(QuotaError) as refused:
        http.json_of(requests.get(url, timeout=5), "GLEIF lei-records", QuotaError)
    message = str(refused.value)
    assert message.startswith("GLEIF lei-records: the HTTP 200 answer is not JSON (text/html,")
    assert shown in message


def test_a_json_answer_may_start_with_a_byte_order_mark(server):
    url = answer(server, Response(200, b'\xef\xbb\xbf{"a": 1}'))
    assert http.json_of(requests.get(url, timeout=5), "X", QuotaError) == {"a": 1}


def test_dig_names_what_an_answer_lacks():
    assert http.dig({"meta": {"pagination": {"lastPage": 3}}}, "meta.pagination.lastPage", "GLEIF", QuotaError) == 3
    with pytest.raises(QuotaError, match=r"GLEIF: the answer has no 'meta.pagination' \(found: goldenCopy\)"):
        http.dig({"meta": {"goldenCopy": {}}}, "meta.pagination", "GLEIF", QuotaError)
    with pytest.raises(QuotaError, match=r"'data' is a dict, not what the API documents"):
        http.dig({"data": {}}, "data", "GLEIF", QuotaError, list)


def test_live_or_stand_in_and_keys(settings):
    class StandIn:
        url = "http://127.0.0.1:1"

    live = replace(settings, mode="live")
    assert http.base_url(settings, "https://api.example", lambda: StandIn) == "http://127.0.0.1:1"
    assert http.base_url(live, "https://api.example", lambda: StandIn) == "https://api.example"
    with pytest.raises(FdeError, match="FDE_MODE=live needs PERMID_API_KEY: a key from LSEG"):
        http.api_key(live, "PERMID_API_KEY", required=True, why="a key from LSEG")
    assert http.api_key(settings, "PERMID_API_KEY", required=True) is None  # offline: no key needed
    assert http.api_key(replace(live, openfigi_api_key="k"), "OPENFIGI_API_KEY", required=False) == "k"


def test_the_api_settings_have_defaults_and_refuse_nonsense(tmp_path):
    from fdelib.config import ConfigError, Settings

    s = Settings.from_env(environ={}, env_file=tmp_path / "none", project_root=tmp_path)
    assert (s.api_max_wait, s.permid_min_level, s.permid_min_score, s.gleif_max_pages) == (60.0, "Good", 80.0, 20)
    s = Settings.from_env(
        environ={
            "FDE_API_MAX_WAIT": "5",
            "PERMID_MIN_LEVEL": "excellent",
            "PERMID_MIN_SCORE": "95",
            "GLEIF_MAX_PAGES": "3",
        },
        env_file=tmp_path / "none",
        project_root=tmp_path,
    )
    assert (s.api_max_wait, s.permid_min_level, s.permid_min_score, s.gleif_max_pages) == (5.0, "Excellent", 95.0, 3)
    for name, value in (
        ("FDE_API_MAX_WAIT", "soon"),
        ("PERMID_MIN_LEVEL", "Great"),
        ("PERMID_MIN_SCORE", "120"),
        ("GLEIF_MAX_PAGES", "2.5"),
    ):
        with pytest.raises(ConfigError, match=name):
            Settings.from_env(environ={name: value}, env_file=tmp_path / "none", project_root=tmp_path)
