import itertools

import pytest
from conductor.client.configuration.configuration import Configuration
from conductor.client.orkes_clients import OrkesClients

from fdelib.conductor.engine import Engine
from fdelib.conductor.server import Server

_names = itertools.count(1)


@pytest.fixture(scope="package")
def local_server(engine):
    core = Engine(engine)
    core.setup()
    server = Server(core, sweep_every=0.05)
    yield server
    server.stop()


@pytest.fixture(scope="package")
def clients(local_server):
    return OrkesClients(configuration=Configuration(server_api_url=local_server.url, log_level="ERROR"))


@pytest.fixture
def name():
    """A fresh task/workflow name per test, so tests never see each other's queues."""
    return f"t{next(_names)}"


@pytest.fixture(autouse=True)
def _worker_registry_restored():
    """conductor-python keeps one registry of @worker_task functions per process: a test's
    temporary worker module must not stay in it (a later TaskHandler would try to pickle its
    functions by a module name that no longer imports)."""
    from conductor.client.automator import task_handler

    saved = dict(task_handler._decorated_functions)
    yield
    task_handler._decorated_functions.clear()
    task_handler._decorated_functions.update(saved)


@pytest.fixture
def only_workers_of():
    """``only_workers_of(module)`` keeps only that module's @worker_task functions in
    conductor-python's registry, for a TaskHandler that scans it (the autouse fixture above
    puts the others back after the test): other test modules' workers, re-imported meanwhile,
    would not pickle by name."""
    from conductor.client.automator import task_handler

    def keep(module: str) -> None:
        registry = task_handler._decorated_functions
        own = {key: record for key, record in registry.items() if record["func"].__module__ == module}
        registry.clear()
        registry.update(own)

    return keep


# --- the real Conductor OSS server (FDE_ENGINE=conductor-oss) ------------------------------


class OSSServer:
    """The real Conductor OSS server one test session runs: ``url`` (…/api), ``home`` (its
    $FDE_HOME: a kernel or pytest given FDE_TEST_HOME=home and FDE_ENGINE=conductor-oss finds
    it there) and ``port``."""

    def __init__(self, settings, url: str):
        self.settings = settings
        self.url = url
        self.home = settings.home
        self.port = settings.conductor_oss_port

    def environment(self) -> dict[str, str]:
        """Environment variables that point fdelib (a notebook, a subprocess) at this server."""
        import os

        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PYTEST_", "FDE_TEST_HOME_OWNED")) and k != "CONDUCTOR_SERVER_URL"
        }
        return {
            **inherited,
            "FDE_ENGINE": "conductor-oss",
            "FDE_CONDUCTOR_OSS_PORT": str(self.port),
            "FDE_TEST_HOME": str(self.home),
            "FDE_HOME": str(self.home),
        }


@pytest.fixture(scope="session")
def oss_server(settings):
    """The real Conductor OSS server, started once per session (its jar fetched once per
    machine into Maven's repository); skipped with the reason where no Java 21+ or no Maven
    Central can be had."""
    import dataclasses
    import socket

    from fdelib import stack
    from fdelib.conductor import oss
    from fdelib.errors import StackError

    try:
        oss.find_java()
    except StackError as exc:
        pytest.skip(str(exc))
    home = settings.home / "oss"
    home.mkdir(parents=True, exist_ok=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    own = dataclasses.replace(settings, home=home, conductor_oss_port=port)
    try:
        oss.fetch(log_file=home / "logs" / "conductor-oss-fetch.log")
    except StackError as exc:
        pytest.skip(str(exc))
    url = oss.start(own)
    yield OSSServer(own, url)
    oss.stop(own)
    stack.down(own)  # the embedded PostgreSQL of the notebooks run against it, if any
