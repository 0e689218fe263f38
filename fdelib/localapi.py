"""Local HTTP servers that stand in for external APIs in offline mode.

An offline API client is still a real HTTP client: it talks to a real server on
127.0.0.1 that answers in the real API's format. This module is that server's plumbing —
a threaded ``http.server`` in a daemon thread of the current process, wrapping a plain
Python function ``app(Request) -> Response``. Each project writes its own ``app`` (the
recorded-format payloads and the faults it can inject) and calls :func:`serve`.

    api = localapi.serve("alphavantage", make_app)   # started once per process
    requests.get(api.url + "/query", params=...)
"""

from __future__ import annotations

import dataclasses
import json
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query string
    query: Mapping[str, str]  # last value wins for repeated keys
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclasses.dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"  # None: an empty body has no media type
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, **headers: str) -> Response:
        return cls(status, json.dumps(payload, indent=4).encode(), "application/json", headers)

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain") -> Response:
        return cls(status, text.encode(), content_type)


App = Callable[[Request], Response]
_HOST = "127.0.0.1"  # local only: nothing outside this machine reaches a stand-in


class LocalAPI:
    """One app served on 127.0.0.1:<port> (a free one by default) until :meth:`stop`."""

    def __init__(self, app: App, name: str = "api", *, port: int = 0, keep_requests: bool = True):
        self.name = name
        self.app = app
        self.keep_requests = keep_requests
        self.requests: list[Request] = []  # every request received, for lessons and tests
        self._server = _Server((_HOST, port), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"localapi-{name}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{_HOST}:{self._server.server_port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalAPI:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<LocalAPI {self.name}>"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many workers may connect at once

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hung up: not news
            super().handle_error(request, client_address)


_RUNNING: dict[str, LocalAPI] = {}
_LOCK = threading.Lock()


def serve(name: str, make_app: Callable[[], App]) -> LocalAPI:
    """The process's server for ``name``, started on first use."""
    with _LOCK:
        if name not in _RUNNING:
            _RUNNING[name] = LocalAPI(make_app(), name)
        return _RUNNING[name]


def stop(name: str) -> None:
    with _LOCK:
        api = _RUNNING.pop(name, None)
    if api is not None:
        api.stop()


def _handler_for(api: LocalAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body leave in one segment: without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every keep-alive request
        disable_nagle_algorithm = True
        wbufsize = 64 * 1024

        def _handle(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            request = Request(
                method=self.command,
                path=parts.path,
                query=dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self._body(),
            )
            if api.keep_requests:
                api.requests.append(request)
            try:
                response = api.app(request)
            except Exception as exc:  # the stub's own bug: answer like a server would
                response = Response.json({"error": f"{type(exc).__name__}: {exc}"}, 500)
            self.send_response(response.status)
            no_content = response.status in (204, 304)  # RFC 9110: no body, no length
            if response.content_type and not no_content:
                self.send_header("Content-Type", response.content_type)
            if not no_content:
                self.send_header("Content-Length", str(len(response.body)))
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.end_headers()
            if not no_content:
                self.wfile.write(response.body)
            self.wfile.flush()

        def _body(self) -> bytes:
            """The request body: Content-Length bytes, or the chunks of a chunked body
            (RFC 9112 section 7.1; HTTP/1.1 servers must accept it, and undici sends it)."""
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline(65537).split(b";", 1)[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                            pass  # trailer fields, then the blank line
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline(65537)  # the CRLF after each chunk
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        def log_message(self, *args) -> None:  # quiet: notebooks and tests show what matters
            pass

    return Handler


class Router:
    """A stand-in's routing table: ``(method, path pattern, query values) → handler``.

    Patterns are paths whose ``{name}`` segments match any one segment and reach the handler as
    keyword arguments (``/api/v1/lei-records/{lei}``); ``**query`` adds required query values, for
    APIs that route by a parameter (Alpha Vantage's ``/query?function=TIME_SERIES_DAILY``).
    The first route that matches answers; ``before`` (if given) sees every request first and may
    answer instead (a rate limit); no route: ``not_found(request)``.

        router = Router(not_found=lambda r: Response.json({"error": "no such endpoint"}, 404))
        router.add("GET", "/api/v1/lei-records/{lei}", lambda request, lei: ...)
        serve("gleif", lambda: router)
    """

    def __init__(self, not_found: App | None = None, before: Callable[[Request], Response | None] | None = None):
        self.routes: list[tuple[str, tuple[str, ...], dict[str, str], Callable[..., Response]]] = []
        self.not_found = not_found or (
            lambda request: Response.json({"error": f"no such endpoint: {request.method} {request.path}"}, 404)
        )
        self.before = before

    def add(
        self, methods: str | tuple[str, ...], pattern: str, handler: Callable[..., Response], **query: str
    ) -> Router:
        for method in (methods,) if isinstance(methods, str) else methods:
            self.routes.append((method.upper(), tuple(pattern.strip("/").split("/")), query, handler))
        return self

    def route(self, methods: str | tuple[str, ...], pattern: str, **query: str):
        """:meth:`add` as a decorator."""

        def register(handler):
            self.add(methods, pattern, handler, **query)
            return handler

        return register

    def match(self, request: Request) -> tuple[Callable[..., Response], dict[str, str]] | None:
        parts = tuple(request.path.strip("/").split("/"))
        for method, pattern, query, handler in self.routes:
            if method != request.method or len(pattern) != len(parts):
                continue
            if any(request.query.get(k) != v for k, v in query.items()):
                continue
            params = {}
            for want, got in zip(pattern, parts, strict=False):
                if want.startswith("{") and want.endswith("}"):
                    params[want[1:-1]] = urllib.parse.unquote(got)
                elif want != got:
                    break
            else:
                return handler, params
        return None

    def __call__(self, request: Request) -> Response:
        if self.before is not None:
            early = self.before(request)
            if early is not None:
                return early
        found = self.match(request)
        if found is None:
            return self.not_found(request)
        handler, params = found
        return handler(request, **params)
