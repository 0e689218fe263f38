import requests

from fdelib import localapi
from fdelib.localapi import Response


def test_serves_real_http_and_records_requests():
    def app(request):
        if request.path == "/echo":
            return Response.json({"q": dict(request.query), "body": request.json()})
        return Response.json({"error": "not found"}, 404)

    with localapi.LocalAPI(app, "echo") as api:
        ok = requests.post(api.url + "/echo?a=1", json={"x": 2}, timeout=5)
        missing = requests.get(api.url + "/nope", timeout=5)
    assert ok.json() == {"q": {"a": "1"}, "body": {"x": 2}}
    assert missing.status_code == 404
    assert [r.path for r in api.requests] == ["/echo", "/nope"]


def test_a_crashing_app_answers_500_not_a_hang():
    def app(request):
        raise ValueError("boom")

    with localapi.LocalAPI(app) as api:
        response = requests.get(api.url + "/", timeout=5)
    assert response.status_code == 500
    assert "ValueError: boom" in response.json()["error"]


def test_serve_starts_once_per_name():
    first = localapi.serve("once", lambda: (lambda r: Response.text("hi")))
    second = localapi.serve("once", lambda: (lambda r: Response.text("other")))
    try:
        assert first is second
        assert requests.get(first.url, timeout=5).text == "hi"
    finally:
        localapi.stop("once")
