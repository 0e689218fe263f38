"""Real clients against the local engine: the official JavaScript SDK and conductor-python
used the way its own examples use it (written here, not copied)."""

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conductor.client.automator.task_handler import TaskHandler
from conductor.client.configuration.configuration import Configuration
from conductor.client.http.models import TaskDef
from conductor.client.orkes_clients import OrkesClients
from conductor.client.workflow.conductor_workflow import ConductorWorkflow
from conductor.client.workflow.executor.workflow_executor import WorkflowExecutor
from conductor.client.workflow.task.simple_task import SimpleTask
from conformance import behaves

JS = Path(__file__).resolve().parents[1] / "js"


def _node_ready() -> str | None:
    """Why the JavaScript SDK cannot run here, or None once it is installed."""
    if not shutil.which("node") or not shutil.which("npm"):
        return "node and npm are not installed (.ci/run installs Debian's nodejs and npm)"
    if not (JS / "node_modules" / "@io-orkes" / "conductor-javascript").exists():
        done = subprocess.run(["npm", "ci", "--loglevel=error"], cwd=JS, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.fail(f"npm ci in {JS} failed:\n{done.stderr[-2000:]}")
    return None


@behaves(
    "official JavaScript SDK 4.0.0",
    "registers, runs a TaskHandler worker, completes a workflow, no SDK errors",
    source="@io-orkes/conductor-javascript (tests/js/run_workflow.mjs)",
)
def test_javascript_sdk_runs_a_workflow_to_completion(local_server, name):
    reason = _node_ready()
    if reason:
        pytest.skip(reason)
    done = subprocess.run(
        ["node", "run_workflow.mjs"],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CONDUCTOR_SERVER_URL": local_server.url, "NAME": f"js_{name}"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["status"] == "COMPLETED", report
    assert report["output"] == {"result": "HELLO!", "polls": 1}
    assert report["tasks"] == [["first", "COMPLETED"], ["second", "COMPLETED"]]
    assert report["registeredTasks"] == ["first", "second"]
    assert report["errors"] == []  # e.g. a 204 with a JSON content type made the SDK log one


@behaves(
    "conductor-python 2.0.0, as its examples use it",
    "metadata client, @worker_task + TaskHandler, execute with an unregistered definition",
    source="conductor-python examples (helloworld, dynamic workflow, task definitions)",
)
def test_conductor_python_examples(local_server, name, tmp_path, monkeypatch, only_workers_of):
    config = Configuration(server_api_url=local_server.url, log_level="ERROR")
    clients = OrkesClients(configuration=config)
    metadata = clients.get_metadata_client()

    # task definitions: register, read, update, remove
    metadata.register_task_def(
        TaskDef(name=f"{name}_greet", retry_count=1, response_timeout_seconds=10, owner_email="learner@example.com")
    )
    assert metadata.get_task_def(f"{name}_greet").retry_count == 1
    metadata.update_task_def(TaskDef(name=f"{name}_greet", retry_count=2, response_timeout_seconds=10))
    assert metadata.get_task_def(f"{name}_greet").retry_count == 2
    metadata.register_task_def(TaskDef(name=f"{name}_gone"))
    metadata.unregister_task_def(f"{name}_gone")

    # hello world: a @worker_task function run by TaskHandler, a workflow executed synchronously
    module = tmp_path / f"{name}_hello.py"
    module.write_text(
        "from conductor.client.worker.worker_task import worker_task\n"
        f"@worker_task(task_definition_name='{name}_greet', poll_interval_millis=10)\n"
        "def greet(name: str) -> str:\n    return f'Hello {name}'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    importlib.invalidate_caches()
    importlib.import_module(f"{name}_hello")  # TaskHandler pickles the worker by module name
    executor = WorkflowExecutor(config)
    hello = ConductorWorkflow(executor=executor, name=f"{name}_hello", version=1)
    greet = SimpleTask(f"{name}_greet", "greet_ref")
    greet.input_parameters.update(name="${workflow.input.name}")
    hello >> greet
    hello.output_parameters({"greeting": "${greet_ref.output.result}"})
    hello.register(overwrite=True)
    hello.register(overwrite=True)  # again: overwrite, as the examples do
    only_workers_of(f"{name}_hello")  # TaskHandler scans every @worker_task this process has seen
    handler = TaskHandler(
        workers=[], configuration=config, scan_for_annotated_workers=True, import_modules=[f"{name}_hello"]
    )
    handler.start_processes()
    try:
        run = hello.execute(workflow_input={"name": "Orkes"}, wait_for_seconds=20)
        dynamic = ConductorWorkflow(executor=executor, name=f"{name}_dynamic", version=1)
        once = SimpleTask(f"{name}_greet", "once")
        once.input_parameters.update(name="${workflow.input.who}")
        dynamic >> once
        ad_hoc = dynamic.execute(workflow_input={"who": "you"}, wait_for_seconds=20)  # never registered
    finally:
        handler.stop_processes()
        sys.modules.pop(f"{name}_hello", None)
    assert run.status == "COMPLETED" and run.output == {"greeting": "Hello Orkes"}
    assert ad_hoc.status == "COMPLETED" and ad_hoc.output == {"result": "Hello you"}
    assert ad_hoc.input == {"who": "you", "_systemMetadata": {"dynamic": True}}  # markAsDynamicWorkflow
    workflow_client = clients.get_workflow_client()
    assert workflow_client.get_workflow(run.workflow_id, include_tasks=True).tasks[0].status == "COMPLETED"
