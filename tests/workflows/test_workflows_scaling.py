"""Scalability measured on the local engine: n workers per task type run n tasks at once."""

import pytest

from fdelib import conductor
from fdelib.workflows import integration, scaling


@pytest.fixture(scope="module")
def clients(engine):
    found = conductor.clients()
    executor = conductor.executor()
    scaling.register(executor, found.get_metadata_client())
    integration.register(executor, found.get_metadata_client())
    return found


def test_n_workers_run_n_tasks_at_once_and_finish_sooner(clients):
    measured = scaling.measure(clients.get_workflow_client(), [1, 3], tasks=6, task_ms=150)
    assert measured["tasks"].tolist() == [6, 6]
    assert measured["peak_in_progress"].tolist() == [1, 3]  # the engine gave each worker one task
    assert measured["throughput"].iloc[1] > measured["throughput"].iloc[0]
    verdict = scaling.verdict(measured, scaling.model([1, 3], tasks=6, task_ms=150))
    assert verdict["model: speed-up over 1 worker"].tolist() == [1.0, 3.0]
    assert verdict["tasks in progress at once (measured)"].tolist() == [1, 3]


def test_the_model_runs_tasks_in_waves():
    modelled = scaling.model([1, 2, 3, 8, 16], tasks=8, task_ms=200).set_index("workers")
    assert modelled["makespan_s"].tolist() == [1.6, 0.8, 0.6, 0.2, 0.2]  # ceil(8 / n) waves of 0.2 s
    assert modelled.loc[16, "throughput"] == modelled.loc[8, "throughput"] == 40


def test_peak_counts_overlaps_and_not_touching_ends():
    import pandas as pd

    frame = pd.DataFrame({"start_ms": [0, 10, 20, 100], "end_ms": [50, 60, 100, 150]})
    assert scaling.peak_in_progress(frame) == 3  # 20..50 has three; 100 ends one and starts one


def test_a_worker_in_plain_http_completes_its_task(clients):
    status, made, output = integration.run(clients.get_workflow_client(), conductor.server_url(), "2026-01-02")
    assert status == "COMPLETED"
    assert output == {"delivered": "to rates desk: prices of 2026-01-02 are published"}
    assert made[0].startswith("GET /tasks/poll/wms_notify_desk?workerid=desk-notifier -> 200")
    assert made[1].startswith("POST /tasks {status: COMPLETED") and made[1].endswith("-> 200")
