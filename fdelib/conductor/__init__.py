"""A local, Conductor-compatible workflow engine, and the way to reach any Conductor.

conductor-python needs a Conductor server. With ``CONDUCTOR_SERVER_URL`` set (e.g. the
compose stack's ``http://localhost:8080/api``) that server is used; without it, fdelib's
own engine — the subset of Conductor's REST API and semantics the course uses, with its
state in PostgreSQL — is started in the background (``fde up`` does it too). Workflow and
worker code is the same either way:

    from fdelib import conductor
    clients = conductor.clients()            # conductor-python's OrkesClients
    executor = conductor.executor()          # a WorkflowExecutor for ConductorWorkflow

Modules: :mod:`.decider` (Conductor's state machine, pure), :mod:`.store` (its state in
PostgreSQL), :mod:`.wire` (Conductor's JSON), :mod:`.engine` (the facade over the three),
:mod:`.server` (the REST API), :mod:`.local` (the background process), :mod:`.expressions`,
:mod:`.definitions`, :mod:`.history` (execution timelines), :mod:`.search` (``/workflow/search``'s
queries), :mod:`.ui` (the executions explorer: ``explorer()``). The engine answers as Conductor
OSS 3.32.1, the version docker-compose.yaml pins.
"""

from __future__ import annotations

import functools

from ..config import Settings, get_settings
from ..errors import StillRunning
from . import local


def server_url(settings: Settings | None = None) -> str:
    """``CONDUCTOR_SERVER_URL``; else the URL of the engine ``FDE_ENGINE`` names, started if
    needed: the local engine, or the real Conductor OSS server (:mod:`.oss`)."""
    settings = settings or get_settings()
    if settings.conductor_server_url:
        return settings.conductor_server_url
    if settings.engine == "conductor-oss":
        from . import oss

        return oss.start(settings, progress=_stderr)
    return local.start(settings)


def _stderr(line: str) -> None:
    import sys

    print(line, file=sys.stderr, flush=True)


def engine_name(settings: Settings | None = None) -> str:
    """Which Conductor answers: ``local``, ``conductor-oss`` or ``CONDUCTOR_SERVER_URL``."""
    settings = settings or get_settings()
    return "CONDUCTOR_SERVER_URL" if settings.conductor_server_url else settings.engine


def server_version(settings: Settings | None = None) -> str:
    """The Conductor release the server in use answers as (``GET /api/version``): the same
    whichever engine serves, as the course's notebooks print it."""
    import requests

    answer = requests.get(f"{server_url(settings).rstrip('/')}/version", timeout=10)
    answer.raise_for_status()
    return answer.text.strip()


def is_local(settings: Settings | None = None) -> bool:
    """True when fdelib's own engine serves (no CONDUCTOR_SERVER_URL, FDE_ENGINE=local)."""
    return engine_name(settings) == "local"


def configuration(settings: Settings | None = None, log_level: str = "WARNING"):
    """conductor-python's ``Configuration`` for the engine in use."""
    from conductor.client.configuration.configuration import Configuration

    return Configuration(server_api_url=server_url(settings), debug=False, log_level=log_level)


def clients(settings: Settings | None = None):
    """conductor-python's ``OrkesClients`` (workflow, task and metadata clients)."""
    from conductor.client.orkes_clients import OrkesClients

    return OrkesClients(configuration=configuration(settings))


def executor(settings: Settings | None = None):
    """conductor-python's ``WorkflowExecutor``, what ``ConductorWorkflow`` needs.

    One difference: conductor-python's synchronous ``execute`` returns a workflow still
    ``RUNNING`` (with empty output) when ``wait_for_seconds`` run out. This one raises
    :class:`~fdelib.errors.StillRunning` then, naming the workflow and the tasks it waits on,
    so a lesson never shows a half-finished run as the result.
    """
    return _waiting_executor()(configuration=configuration(settings))


@functools.cache
def _waiting_executor():
    from conductor.client.workflow.executor.workflow_executor import WorkflowExecutor

    class Executor(WorkflowExecutor):
        def execute_workflow(self, request, wait_until_task_ref=None, wait_for_seconds=10, request_id=None):
            run = super().execute_workflow(request, wait_until_task_ref, wait_for_seconds, request_id)
            return _ended(run, request.name, wait_until_task_ref, wait_for_seconds)

        def execute(
            self,
            name,
            version=None,
            workflow_input=None,
            wait_until_task_ref=None,
            wait_for_seconds=10,
            request_id=None,
            correlation_id=None,
            domain=None,
        ):
            run = super().execute(
                name, version, workflow_input, wait_until_task_ref, wait_for_seconds, request_id, correlation_id, domain
            )
            return _ended(run, name, wait_until_task_ref, wait_for_seconds)

    return Executor


def explorer(workflow_id: str | None = None, settings: Settings | None = None):
    """The executions explorer on the engine in use: Conductor UI's Definitions, Executions
    and Run views as a JupyterLab widget (``workflow_id``: open that run). It talks only
    Conductor's REST API, so it works the same on the local engine and on a real Conductor."""
    from .ui.widget import Explorer

    return Explorer(server_url(settings), workflow_id)


def run_view(workflow, title: str | None = None):
    """The explorer's static view of one run (a ``Workflow`` or its JSON): its graph coloured by
    task status and its attempts, without ids or times, so a lesson's stored output stays the
    same; the live view is :func:`explorer`."""
    from .ui.views import RunView

    return RunView(workflow, title)


def _ended(run, name: str, wait_until_task_ref: str | None, seconds: float):
    """``run`` if it ended (or its ``wait_until_task_ref`` task did); else StillRunning."""
    tasks = run.tasks or []
    if wait_until_task_ref:
        done = any(
            t.reference_task_name == wait_until_task_ref and t.status not in ("SCHEDULED", "IN_PROGRESS") for t in tasks
        )
    else:
        done = run.status != "RUNNING"
    if done:
        return run
    waiting = [f"{t.reference_task_name} {t.status}" for t in tasks if t.status in ("SCHEDULED", "IN_PROGRESS")]
    raise StillRunning(
        f"workflow {name} ({run.workflow_id}) is still {run.status} after {seconds} s"
        + (f", waiting on {', '.join(waiting)}" if waiting else "")
        + ": are its workers running? (give execute() more wait_for_seconds if the machine is busy)"
    )


__all__ = [
    "clients",
    "configuration",
    "engine_name",
    "executor",
    "explorer",
    "is_local",
    "local",
    "run_view",
    "server_url",
    "server_version",
]
