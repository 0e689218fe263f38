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
