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
:mod:`.definitions`, :mod:`.history` (execution timelines). The engine answers as Conductor
OSS 3.32.1, the version docker-compose.yaml pins.
"""

from __future__ import annotations

from ..config import Settings, get_settings
from . import local


def server_url(settings: Settings | None = None) -> str:
    """``CONDUCTOR_SERVER_URL``, or the local engine's URL (started if needed)."""
    settings = settings or get_settings()
    return settings.conductor_server_url or local.start(settings)


def is_local(settings: Settings | None = None) -> bool:
    return not (settings or get_settings()).conductor_server_url


def configuration(settings: Settings | None = None, log_level: str = "WARNING"):
    """conductor-python's ``Configuration`` for the engine in use."""
    from conductor.client.configuration.configuration import Configuration

    return Configuration(server_api_url=server_url(settings), debug=False, log_level=log_level)


def clients(settings: Settings | None = None):
    """conductor-python's ``OrkesClients`` (workflow, task and metadata clients)."""
    from conductor.client.orkes_clients import OrkesClients

    return OrkesClients(configuration=configuration(settings))


def executor(settings: Settings | None = None):
    """conductor-python's ``WorkflowExecutor``, what ``ConductorWorkflow`` needs."""
    from conductor.client.workflow.executor.workflow_executor import WorkflowExecutor

    return WorkflowExecutor(configuration=configuration(settings))


__all__ = ["clients", "configuration", "executor", "is_local", "local", "server_url"]
