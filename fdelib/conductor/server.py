"""The local engine's HTTP face: Conductor 3.32.1's REST API, the part the course uses.

Routes, status codes and bodies follow Conductor's controllers (``rest/.../controllers/
WorkflowResource``, ``TaskResource``, ``MetadataResource``, ``HealthCheckResource``) and its
error mappers (``ApplicationExceptionMapper``: ``{status, message, instance, retryable}``;
``ValidationExceptionMapper``: 400 with ``validationErrors``). A controller method that
returns nothing answers 200 with an empty body; ``@ResponseStatus(NO_CONTENT)`` ones 204. A
path Conductor does not serve answers 404 "No static resource …", a known path with
another method 405, as Spring does. conductor-python's ``OrkesClients``,
``WorkflowExecutor``, ``ConductorWorkflow`` and ``TaskHandler`` and the JavaScript SDK work
unchanged against it. A sweeper thread enforces timeouts.

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
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec

from ..localapi import LocalAPI, Request, Response
from . import definitions, release, wire
from .definitions import DefinitionError
from .engine import Engine, EngineError

Route = tuple[str, re.Pattern, Callable[..., Response]]
#: the Conductor release the local engine answers as (docker-compose.yaml pins its image)
CONDUCTOR_VERSION = release.VERSION


#: a response header of the local engine's health answer: `fde up` tells its own engine on a port
#: (another project's) from another program there; Conductor's body stays as Conductor sends it
ENGINE_HEADER = "X-Fde-Engine"


def _ok(payload) -> Response:
    return Response.json(payload)


def _text(value: str) -> Response:
    return Response.text(value)


def _empty(status: int = 200) -> Response:
    """A void controller method's answer: no body, so no content type."""
    return Response(status, b"", None)


_P = ParamSpec("_P")


def _void(status: int, action: Callable[_P, None], *args: _P.args, **kwargs: _P.kwargs) -> Response:
    """Run an engine action that returns nothing; answer as a void controller method does."""
    action(*args, **kwargs)
    return _empty(status)


def _flag(value: str | None, default: bool) -> bool:
    return default if value is None else value.lower() in ("true", "1", "yes")


class App:
    """Routes requests to an :class:`Engine`."""

    def __init__(self, engine: Engine):
        self.engine = engine
        e = engine
        self.routes: list[Route] = []
        add = self._add
        health = {"healthResults": [], "suppressedHealthResults": [], "healthy": True}

        def healthy(r: Request) -> Response:  # Conductor's body; a header says which engine answered
            answer = Response.json(health)
            answer.headers[ENGINE_HEADER] = "fdelib"
            return answer

        self.routes.append(("GET", re.compile(r"/health/?"), healthy))
        add("GET", r"/health", healthy)
        add("GET", r"/version", lambda r: _text(CONDUCTOR_VERSION))
        # metadata
        add("POST", r"/metadata/taskdefs", lambda r: _void(200, e.put_task_defs, _list(r.json())))
        add("PUT", r"/metadata/taskdefs", lambda r: _void(200, e.update_task_def, r.json()))
        add("GET", r"/metadata/taskdefs", lambda r: _ok(list(e.task_defs().values())))
        add("GET", r"/metadata/taskdefs/(?P<name>[^/]+)", lambda r, name: _ok(e.get_task_def(name)))
        add("DELETE", r"/metadata/taskdefs/(?P<name>[^/]+)", lambda r, name: _void(200, e.delete_task_def, name))
        add(
            "POST",
            r"/metadata/workflow",
            lambda r: _void(200, e.put_workflow_def, r.json(), overwrite=_flag(r.query.get("overwrite"), False)),
        )
        add("PUT", r"/metadata/workflow", lambda r: _ok(e.update_workflow_defs(_list(r.json()))))
        add("GET", r"/metadata/workflow", lambda r: _ok(e.workflow_defs()))
        add(
            "GET",
            r"/metadata/workflow/(?P<name>[^/]+)",
            lambda r, name: _ok(e.get_workflow_def(name, _int(r.query.get("version")))),
        )
        add(
            "DELETE",
            r"/metadata/workflow/(?P<name>[^/]+)/(?P<version>[^/]+)",
            lambda r, name, version: _void(200, e.delete_workflow_def, name, int(version)),
        )
        # workflows
        add("POST", r"/workflow", lambda r: _text(e.start(r.json() or {})))
        add("POST", r"/workflow/execute/(?P<name>[^/]+)/(?P<version>[^/]+)", self._execute)
        add(
            "GET",
            r"/workflow/running/(?P<name>[^/]+)",
            lambda r, name: _ok(e.workflow_ids(name, "RUNNING", _int(r.query.get("version")) or 1)),
        )
        add("GET", r"/workflow/search", self._search)
        # bulk operations (WorkflowBulkResource), before the routes /workflow/{id}/... would take
        # "bulk" for a workflow id
        bulk_routes: list[tuple[str, str, Callable[[Request], list[Callable[[str], None]]]]] = [
            ("POST", "terminate", lambda r: [lambda wid: e.terminate(wid, r.query.get("reason"))]),
            ("POST", "retry", lambda r: [e.retry]),
            (
                "POST",
                "restart",
                lambda r: [lambda wid: e.restart(wid, _flag(r.query.get("useLatestDefinitions"), False))],
            ),
            ("DELETE", "remove", lambda r: [e.remove]),
            (
                "DELETE",
                "terminate-remove",
                lambda r: [lambda wid: e.terminate(wid, r.query.get("reason")), e.remove],
            ),
        ]
        for method, action, actions in bulk_routes:
            add(method, rf"/workflow/bulk/{action}", lambda r, actions=actions: _ok(e.bulk(actions(r), _ids(r))))
        add("POST", r"/workflow/(?P<wid>[^/]+)/retry", lambda r, wid: _void(204, e.retry, wid))
        add(
            "POST",
            r"/workflow/(?P<wid>[^/]+)/restart",
            lambda r, wid: _void(204, e.restart, wid, _flag(r.query.get("useLatestDefinitions"), False)),
        )
        add("DELETE", r"/workflow/(?P<wid>[^/]+)/remove", lambda r, wid: _void(200, e.remove, wid))
        add(
            "GET",
            r"/workflow/(?P<wid>[^/]+)/status",
            lambda r, wid: _ok(
                e.status(wid, _flag(r.query.get("includeOutput"), False), _flag(r.query.get("includeVariables"), False))
            ),
        )
        add(
            "GET",
            r"/workflow/(?P<wid>[^/]+)",
            lambda r, wid: _ok(e.workflow(wid, _flag(r.query.get("includeTasks"), True))),
        )
        # DELETE /workflow/{id} has no triggerFailureWorkflow in Conductor OSS (Orkes' server
        # has it): the parameter is ignored, as Spring ignores unknown parameters
        add("DELETE", r"/workflow/(?P<wid>[^/]+)", lambda r, wid: _void(200, e.terminate, wid, r.query.get("reason")))
        add("POST", r"/workflow/(?P<name>[^/]+)", self._start_by_name)
        # tasks
        add("GET", r"/tasks/poll/batch/(?P<kind>[^/]+)", self._batch_poll)
        add("GET", r"/tasks/poll/(?P<kind>[^/]+)", self._poll_one)
        add("POST", r"/tasks", lambda r: self._update(r, v2=False))
        add("POST", r"/tasks/update-v2", lambda r: self._update(r, v2=True))
        add(
            "GET",
            r"/tasks/queue/sizes",
            lambda r: _ok(e.queue_sizes([r.query["taskType"]] if r.query.get("taskType") else None)),
        )
        add("POST", r"/tasks/(?P<wid>[^/]+)/(?P<ref>[^/]+)/(?P<status>[^/]+)", self._update_by_ref)
        add("GET", r"/tasks/(?P<tid>[^/]+)/log", self._logs)
        add("POST", r"/tasks/(?P<tid>[^/]+)/log", lambda r, tid: _void(200, e.add_log, tid, r.body.decode()))
        add("GET", r"/tasks/(?P<tid>[^/]+)", lambda r, tid: _ok(e.task(tid)))

    def _add(self, method: str, pattern: str, handler) -> None:
        self.routes.append((method, re.compile(r"/api" + pattern + r"/?"), handler))

    def __call__(self, request: Request) -> Response:
        methods = set()
        for method, pattern, handler in self.routes:
            match = pattern.fullmatch(request.path)
            if not match:
                continue
            if method != request.method:
                methods.add(method)
                continue
            try:
                return handler(request, **match.groupdict())
            except DefinitionError as exc:
                if exc.errors:
                    return Response.json(wire.validation_body(exc.errors), 400)
                return Response.json(wire.error_body(exc.status, str(exc)), exc.status)
            except EngineError as exc:
                return Response.json(wire.error_body(exc.status, str(exc)), exc.status)
            except (json.JSONDecodeError, UnreadableBody) as exc:  # Jackson's failure: Conductor answers 500
                return Response.json(wire.error_body(500, f"JSON parse error: {exc}"), 500)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                return Response.json(wire.error_body(400, f"bad request: {exc}"), 400)
        if methods:
            return Response.json(wire.error_body(405, f"Request method '{request.method}' is not supported"), 405)
        return Response.json(wire.error_body(404, f"No static resource {request.path.lstrip('/')}."), 404)

    # --- handlers with more to say ----------------------------------------------------
    def _execute(self, request: Request, name: str, version: str) -> Response:
        """WorkflowResource.executeWorkflow (Conductor 3.21.23 and later)."""
        body = request.json() or {}
        q = request.query
        version_number = int(version)
        wait = _int(q.get("waitForSeconds")) or 10
        request_id = q.get("requestId") or str(uuid.uuid4())
        definition = body.get("workflowDef")
        body = {
            **body,
            "name": name,
            "version": version_number or None,
            "requestId": request_id,
            "input": dict(body.get("input") or {}),
        }
        if definition and definition.get("tasks"):  # markAsDynamicWorkflow
            body["input"]["_systemMetadata"] = {**(body["input"].get("_systemMetadata") or {}), "dynamic": True}
        wait_until = [ref.strip() for ref in (q.get("waitUntilTaskRef") or "").split(",") if ref.strip()]
        return _ok(self.engine.execute(body, wait_until=wait_until, wait_seconds=wait))

    def _search(self, request: Request) -> Response:
        """WorkflowResource.search: start, size, sort, freeText, query, classifier, topLevelOnly."""
        q = request.query
        return _ok(
            self.engine.search(
                query=q.get("query"),
                free_text=q.get("freeText", "*"),
                start=_int(q.get("start")) or 0,
                size=100 if _int(q.get("size")) is None else int(q["size"]),
                sort=q.get("sort"),
                classifier=q.get("classifier"),
                top_level_only=_flag(q.get("topLevelOnly"), False),
            )
        )

    def _start_by_name(self, request: Request, name: str) -> Response:
        q = request.query
        priority = _int(q.get("priority")) or 0
        if not 0 <= priority <= 99:
            message = "99 is the maximum priority value" if priority > 99 else "0 is the minimum priority value"
            raise DefinitionError(
                definitions.VALIDATION_FAILED,
                [{"path": "startWorkflow.arg3", "message": message, "invalidValue": str(priority)}],
            )
        return _text(
            self.engine.start(
                {
                    "name": name,
                    "version": _int(q.get("version")),
                    "correlationId": q.get("correlationId"),
                    "priority": priority,
                    "input": request.json() or {},
                }
            )
        )

    def _batch_poll(self, request: Request, kind: str) -> Response:
        q = request.query
        count = _int(q.get("count"))
        timeout = _int(q.get("timeout"))
        return _ok(
            self.engine.poll(
                kind, q.get("workerid"), 1 if count is None else count, 100 if timeout is None else timeout
            )
        )

    def _poll_one(self, request: Request, kind: str) -> Response:
        tasks = self.engine.poll(kind, request.query.get("workerid"), 1, 100)
        return _ok(tasks[0]) if tasks else _empty(204)

    def _update(self, request: Request, v2: bool) -> Response:
        result = request.json() or {}
        task = self.engine.update(result)
        if not v2:
            return _text(result.get("taskId") or "")
        # v2 hands the worker its next task of the same type straight away (saves a poll)
        if task is None or task["status"] not in (
            "COMPLETED",
            "COMPLETED_WITH_ERRORS",
            "FAILED",
            "FAILED_WITH_TERMINAL_ERROR",
            "TIMED_OUT",
            "CANCELED",
            "SKIPPED",
        ):
            return _empty(204)
        following = self.engine.poll(task["taskType"], result.get("workerId"), 1, 100)
        return _ok(following[0]) if following else _empty(204)

    def _update_by_ref(self, request: Request, wid: str, ref: str, status: str) -> Response:
        """TaskResource.updateTask(workflowId, taskRefName, status): the workflow's first
        non-terminal task with that reference gets ``status`` and the body as more output;
        answers its id as text, or nothing when there is no such task (or workflow)."""
        output = request.json()
        if not isinstance(output, dict):
            raise ValueError("the body must be a JSON object (the task's output)")
        task_id = self.engine.update_by_ref(wid, ref, status, output, request.query.get("workerid"))
        return _text(task_id) if task_id else _empty(200)

    def _logs(self, request: Request, tid: str) -> Response:
        logs = self.engine.logs(tid)
        return _ok(logs) if logs else _empty(204)


class UnreadableBody(ValueError):
    """A body Jackson could not read into the controller's parameter type."""


def _list(value) -> list:
    return value if isinstance(value, list) else [value]


def _ids(request: Request) -> list[str]:
    """A bulk request's body: a JSON list of workflow ids."""
    ids = request.json()
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise UnreadableBody("the body must be a JSON list of workflow ids")
    return ids


def _int(value) -> int | None:
    return int(value) if value not in (None, "", "null") else None


class Server:
    """An :class:`App` on a port, plus the sweeper that enforces timeouts."""

    def __init__(self, engine: Engine, port: int = 0, sweep_every: float = 0.2):
        self.engine = engine
        self.api = LocalAPI(App(engine), "conductor", port=port, keep_requests=False)
        self._stop = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep, args=(sweep_every,), name="conductor-sweeper", daemon=True)
        self._sweeper.start()

    @property
    def url(self) -> str:
        return self.api.url + "/api"

    def _sweep(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.engine.sweep()
            except Exception:  # the database may be restarting: try again next round
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
