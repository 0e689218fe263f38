"""``fde site --serve``: the built site over HTTP on loopback (the file system works as well)."""

from __future__ import annotations

import functools
import http.server
from collections.abc import Callable
from pathlib import Path


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:
        pass


def server(root: Path, port: int = 0, host: str = "127.0.0.1") -> http.server.ThreadingHTTPServer:
    """An HTTP server for the folder ``root`` on ``host:port`` (0: a free port), not yet serving."""
    handler = functools.partial(_Quiet, directory=str(root))
    return http.server.ThreadingHTTPServer((host, port), handler)


def serve(root: Path, port: int = 0, echo: Callable[[str], None] = print) -> None:
    """Serve ``root`` on loopback until interrupted."""
    httpd = server(root, port)
    try:
        echo(f"fde site: serving on http://127.0.0.1:{httpd.server_address[1]}/ (Ctrl-C stops)")
        httpd.serve_forever()
    finally:
        httpd.server_close()
