"""The local engine's HTTP face: the part of Conductor's REST API conductor-python uses.

Every route below answers as Conductor does (paths under ``/api``, JSON bodies in
Conductor's field names, workflow and task ids as plain text, errors as
``{"status", "message"}``), so ``OrkesClients``, ``WorkflowExecutor``, ``ConductorWorkflow``
and ``TaskHandler`` work unchanged against it. A sweeper thread enforces timeouts.

Run it in the foreground with ``python -m fdelib.conductor.server --port 8127``; ``fde up``
starts it in the background (see :mod:`fdelib.conductor.local`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..localapi import LocalAPI, Request, Response
from .definitions import DefinitionError
from .engine import Engine, EngineError

Route = tuple[str, re.Pattern, Callable[..., Response]]


def _ok(payload) -> Response:
    return Response.json(payload)


def _text(value: str) -> Response:
    return Response.text(value)


def _flag(value: str | None, default: bool) -> bool:
    return default if value is None else value.lower() in ("true", "1", "yes")


class App:
    """Routes requests to an :class:`Engine`."""

    def __init__(self, engine: Engine):
        self.engine = engine
        e = engine
        self.routes: list[Route] = []
        add = self._add
        add("GET", r"/health", lambda r: _ok({"healthy": True, "engine": "fdelib"}))
        # metadata
        add("POST", r"/metadata/taskdefs", lambda r: (e.put_task_defs(_list(r.json())), _ok({}))[1])
        add("PUT", r"/metadata/taskdefs", lambda r: (e.put_task_defs([r.json()]), _ok({}))[1])
        add("GET", r"/metadata/taskdefs", lambda r: _ok(list(e.task_defs().values())))
        add("GET", r"/metadata/taskdefs/(?P<name>[^/]+)", lambda r, name: _ok(e.get_task_def(name)))
        add("DELETE", r"/metadata/taskdefs/(?P<name>[^/]+)",
            lambda r, name: (e.delete_task_def(name), _ok({}))[1])
        add("POST", r"/metadata/workflow", lambda r: self._put_workflows([r.json()], r, False))
        add("PUT", r"/metadata/workflow", lambda r: self._put_workflows(_list(r.json()), r, True))
        add("GET", r"/metadata/workflow", lambda r: _ok(e.workflow_defs()))
        add("GET", r"/metadata/workflow/(?P<name>[^/]+)",
            lambda r, name: _ok(e.get_workflow_def(name, _int(r.query.get("version")))))
        add("DELETE", r"/metadata/workflow/(?P<name>[^/]+)/(?P<version>\d+)",
            lambda r, name, version: (e.delete_workflow_def(name, int(version)), _ok({}))[1])
        # workflows
        add("POST", r"/workflow", lambda r: _text(e.start(r.json() or {})))
        add("POST", r"/workflow/execute/(?P<name>[^/]+)/(?P<version>\d+)", self._execute)
        add("POST", r"/workflow/execute/(?P<name>[^/]+)", self._execute)
        add("GET", r"/workflow/running/(?P<name>[^/]+)",
            lambda r, name: _ok(e.workflow_ids(name, "RUNNING")))
        add("POST", r"/workflow/(?P<wid>[^/]+)/retry", lambda r, wid: (e.retry(wid), _ok({}))[1])
        add("POST", r"/workflow/(?P<wid>[^/]+)/restart", lambda r, wid: (e.restart(wid), _ok({}))[1])
        add("DELETE", r"/workflow/(?P<wid>[^/]+)/remove", lambda r, wid: (e.remove(wid), _ok({}))[1])
        add("GET", r"/workflow/(?P<wid>[^/]+)",
            lambda r, wid: _ok(e.workflow(wid, _flag(r.query.get("includeTasks"), True))))
        add("DELETE", r"/workflow/(?P<wid>[^/]+)", lambda r, wid: (e.terminate(
            wid, r.query.get("reason"), _flag(r.query.get("triggerFailureWorkflow"), False)), _ok({}))[1])
        add("POST", r"/workflow/(?P<name>[^/]+)", self._start_by_name)
        # tasks
        add("GET", r"/tasks/poll/batch/(?P<kind>[^/]+)", self._batch_poll)
        add("GET", r"/tasks/poll/(?P<kind>[^/]+)", self._poll_one)
        add("POST", r"/tasks", lambda r: self._update(r, v2=False))
        add("POST", r"/tasks/update-v2", lambda r: self._update(r, v2=True))
        add("GET", r"/tasks/queue/sizes",
            lambda r: _ok(e.queue_sizes([r.query["taskType"]] if r.query.get("taskType") else None)))
        add("GET", r"/tasks/(?P<tid>[^/]+)/log", lambda r, tid: _ok(e.logs(tid)))
        add("POST", r"/tasks/(?P<tid>[^/]+)/log", lambda r, tid: (e.add_log(tid, _log_text(r)), _ok({}))[1])
        add("GET", r"/tasks/(?P<tid>[^/]+)", lambda r, tid: _ok(e.task(tid)))

    def _add(self, method: str, pattern: str, handler) -> None:
        self.routes.append((method, re.compile(r"(?:/api)?" + pattern + r"/?"), handler))

    def __call__(self, request: Request) -> Response:
        for method, pattern, handler in self.routes:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                try:
                    return handler(request, **match.groupdict())
                except (EngineError, DefinitionError) as exc:
                    status = getattr(exc, "status", 400)
                    return Response.json({"status": status, "message": str(exc),
                                          "retryable": False}, status)
                except (ValueError, KeyError, TypeError) as exc:
                    return Response.json({"status": 400, "message": f"bad request: {exc}"}, 400)
        return Response.json({"status": 404, "message": f"{request.method} {request.path} is not "
                              "part of the API the local engine serves"}, 404)

    # --- handlers with more to say ----------------------------------------------------
    def _put_workflows(self, defs: list[dict], request: Request, default_overwrite: bool) -> Response:
        overwrite = _flag(request.query.get("overwrite"), default_overwrite)
        for definition in defs:
            self.engine.put_workflow_def(definition, overwrite=overwrite)
        return _ok({})

    def _execute(self, request: Request, name: str, version: str | None = None) -> Response:
        body = request.json() or {}
        body = {**body, "name": body.get("name") or name,
                "version": body.get("version") or _int(version),
                "requestId": request.query.get("requestId") or body.get("requestId")}
        run = self.engine.execute(body, wait_until=request.query.get("waitUntilTaskRef") or None,
                                  wait_seconds=float(request.query.get("waitForSeconds") or 10))
        return _ok(run)

    def _start_by_name(self, request: Request, name: str) -> Response:
        q = request.query
        return _text(self.engine.start({"name": name, "version": _int(q.get("version")),
                                        "correlationId": q.get("correlationId"),
                                        "priority": _int(q.get("priority")), "input": request.json() or {}}))

    def _batch_poll(self, request: Request, kind: str) -> Response:
        q = request.query
        tasks = self.engine.poll(kind, q.get("workerid"), _int(q.get("count")) or 1,
                                 min(_int(q.get("timeout")) or 0, 5000))
        return _ok(tasks)

    def _poll_one(self, request: Request, kind: str) -> Response:
        tasks = self.engine.poll(kind, request.query.get("workerid"), 1, 0)
        return _ok(tasks[0]) if tasks else Response(204, b"")

    def _update(self, request: Request, v2: bool) -> Response:
        result = request.json() or {}
        task = self.engine.update(result)
        if not v2:
            return _text(result.get("taskId") or "")
        # v2 hands the worker its next task of the same type straight away (saves a poll)
        kind = (task or {}).get("taskDefName") or result.get("taskDefName")
        if not kind:
            return Response(204, b"")
        following = self.engine.poll(kind, result.get("workerId"), 1, 0)
        return _ok(following[0]) if following else Response(204, b"")


def _list(value) -> list:
    return value if isinstance(value, list) else [value]


def _int(value) -> int | None:
    return int(value) if value not in (None, "", "null") else None


def _log_text(request: Request) -> str:
    """The log line as sent: a JSON string is unquoted, anything else (conductor-python sends
    the bare text) is kept as it is — "1.50" stays "1.50"."""
    text = request.body.decode()
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, str) else text


class Server:
    """An :class:`App` on a port, plus the sweeper that enforces timeouts."""

    def __init__(self, engine: Engine, port: int = 0, sweep_every: float = 0.2):
        self.engine = engine
        self.api = LocalAPI(App(engine), "conductor", port=port, keep_requests=False)
        self._stop = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep, args=(sweep_every,),
                                         name="conductor-sweeper", daemon=True)
        self._sweeper.start()

    @property
    def url(self) -> str:
        return self.api.url + "/api"

    def _sweep(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.engine.sweep()
            except Exception:   # the database may be restarting: try again next round
                time.sleep(every)

    def stop(self) -> None:
        self._stop.set()
        self.api.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="fdelib's local Conductor-compatible engine")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--state", type=Path, help="write {pid, url} here once serving")
    args = parser.parse_args(argv)
    engine = Engine()
    engine.setup()
    server = Server(engine, port=args.port)
    if args.state:
        tmp = args.state.with_suffix(".tmp")
        from .local import code_version

        tmp.write_text(json.dumps({"pid": os.getpid(), "url": server.url, "version": code_version()}))
        tmp.replace(args.state)
    print(f"local Conductor-compatible engine serving {server.url}", flush=True)
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    server.stop()


if __name__ == "__main__":
    main()
