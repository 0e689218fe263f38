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
    first = localapi.serve("once", lambda: lambda r: Response.text("hi"))
    second = localapi.serve("once", lambda: lambda r: Response.text("other"))
    try:
        assert first is second
        assert requests.get(first.url, timeout=5).text == "hi"
    finally:
        localapi.stop("once")


def test_a_router_routes_by_method_path_parameters_and_query_values():
    router = localapi.Router()
    router.add("GET", "/api/v1/lei-records/{lei}", lambda request, lei: Response.json({"lei": lei}))
    router.add(("GET", "POST"), "/query", lambda request: Response.json({"f": "daily"}), function="TIME_SERIES_DAILY")
    router.add("GET", "/query", lambda request: Response.json({"f": "intraday"}), function="TIME_SERIES_INTRADAY")

    @router.route("POST", "/v3/mapping")
    def mapping(request):
        return Response.json([{"jobs": len(request.json())}])

    with localapi.LocalAPI(router, "routed") as api:
        get = lambda path, **q: requests.get(api.url + path, params=q, timeout=5)  # noqa: E731
        assert get("/api/v1/lei-records/5493000IBP32UQZ0KL24").json() == {"lei": "5493000IBP32UQZ0KL24"}
        assert get("/query", function="TIME_SERIES_DAILY").json() == {"f": "daily"}
        assert get("/query", function="TIME_SERIES_INTRADAY", symbol="X").json() == {"f": "intraday"}
        assert requests.post(api.url + "/v3/mapping", json=[{}, {}], timeout=5).json() == [{"jobs": 2}]
        missing = [get("/query", function="NOPE"), get("/api/v1/lei-records"), requests.delete(api.url + "/query")]
    assert [r.status_code for r in missing] == [404, 404, 404]
    assert "no such endpoint: GET /query" in missing[0].json()["error"]


def test_a_router_lets_a_before_hook_answer_first():
    calls = []

    def limit(request):
        calls.append(request.path)
        return Response.json({"error": "slow down"}, 429) if len(calls) == 1 else None

    router = localapi.Router(before=limit, not_found=lambda request: Response.text("nothing here", 404))
    router.add("GET", "/x", lambda request: Response.text("x"))
    with localapi.LocalAPI(router, "limited") as api:
        first, second, third = (requests.get(api.url + path, timeout=5) for path in ("/x", "/x", "/y"))
    assert (first.status_code, second.text, third.text) == (429, "x", "nothing here")
    assert calls == ["/x", "/x", "/y"]
