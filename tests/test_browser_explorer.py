"""The executions explorer in a real JupyterLab (headless Chromium, as tests/test_browser.py):
a learner opens it, filters to failed runs, opens one, reads why its task failed and what the
task was given, and retries it — against the local engine. Screenshots of the three views go
to the browser run's folder under ``$FDE_RUNS_DIR``."""

import threading
import time

import nbformat
import pytest
import requests
from test_browser import (  # the browser suite's helpers (tests/ is on sys.path, as for conftest)
    CHROMIUM,
    TOKEN,
    browser,
    error_outputs,
    lab,
    ms,
    put_file,
    run_all,
    shots,
)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Chromium is not installed (apt-get install chromium); .ci/run installs it"
)
__all__ = ["browser", "lab", "shots"]  # fixtures, used by name
FLOW, TASK = "xb_card_payment", "xb_charge"
REASON = "card declined: insufficient funds"


@pytest.fixture(scope="module")
def engine_api(settings):
    from fdelib import conductor
    from fdelib.oms import workflow

    api = conductor.server_url(settings)
    clients = conductor.clients(settings)
    workflow.register(conductor.executor(settings), clients.get_metadata_client())  # a graph with forks
    requests.post(f"{api}/metadata/taskdefs", json=[{"name": TASK, "retryCount": 0}], timeout=10).raise_for_status()
    definition = {
        "name": FLOW,
        "version": 1,
        "schemaVersion": 2,
        "tasks": [
            {
                "name": TASK,
                "taskReferenceName": "charge",
                "type": "SIMPLE",
                "inputParameters": {"card": "${workflow.input.card}", "amount": "${workflow.input.amount}"},
            }
        ],
    }
    requests.put(f"{api}/metadata/workflow", json=[definition], timeout=10).raise_for_status()
    return api


def poll_and_answer(api: str, status: str, reason: str = "") -> str | None:
    answer = requests.get(f"{api}/tasks/poll/{TASK}", params={"workerid": "browser-test-worker"}, timeout=10)
    if answer.status_code != 200 or not answer.content:
        return None
    task = answer.json()
    result = {
        "workflowInstanceId": task["workflowInstanceId"],
        "taskId": task["taskId"],
        "status": status,
        "workerId": "browser-test-worker",
        "reasonForIncompletion": reason or None,
    }
    requests.post(f"{api}/tasks", json=result, timeout=10).raise_for_status()
    return task["workflowInstanceId"]


def test_explorer_filters_opens_and_retries_a_failed_run(lab, browser, shots, engine_api):
    api = engine_api
    started = [
        requests.post(
            f"{api}/workflow",
            json={
                "name": FLOW,
                "version": 1,
                "correlationId": f"PAY-{i}",
                "input": {"card": "4000-0000-0000-0002", "amount": 10 + i},
            },
            timeout=10,
        ).text
        for i in range(3)
    ]
    answered = [poll_and_answer(api, "FAILED", REASON), poll_and_answer(api, "FAILED", REASON)]
    assert sorted(answered) == sorted(started[:2])  # two failed runs, one waiting for its worker
    stop = threading.Event()

    def worker() -> None:  # the payment service is back: later attempts succeed
        while not stop.is_set():
            if poll_and_answer(api, "COMPLETED") is None:
                time.sleep(0.2)

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("from fdelib import conductor\n\nconductor.explorer()")]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    put_file(lab, "explorer_check.ipynb", nbformat.from_dict(notebook))
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    thread = threading.Thread(target=worker, daemon=True)
    try:
        page.goto(f"{lab}/lab/workspaces/explorer/tree/explorer_check.ipynb?reset&token={TOKEN}", timeout=ms(120))
        page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook", timeout=ms(60))
        page.wait_for_function("document.body.innerText.includes('| Idle')", timeout=ms(60))
        run_all(page)
        page.wait_for_selector(".fde-explorer", timeout=ms(60))
        assert not error_outputs(page)

        # Definitions: the course's order workflow, drawn
        page.click(".fde-explorer .lm-TabBar-tab:has-text('Definitions')")
        definitions = page.locator(".fde-explorer select").first
        definitions.select_option(label="oms_order v1")
        page.wait_for_selector(".fde-explorer svg.fde-graph g[data-ref='pay_and_book']", timeout=ms(30))
        page.screenshot(path=str(shots / "explorer-definitions.png"))

        # Executions: this workflow's failed runs, newest first
        page.click(".fde-explorer .lm-TabBar-tab:has-text('Executions')")
        page.locator(".fde-explorer .widget-dropdown:has(label:text-is('workflow')) select").select_option(label=FLOW)
        page.locator(".fde-explorer .widget-dropdown:has(label:text-is('status')) select").select_option(label="FAILED")
        page.wait_for_function(
            "() => { const o = [...document.querySelectorAll('.fde-explorer-list select option')];"
            " return o.length === 2 && o.every(x => x.textContent.includes('FAILED')); }",
            timeout=ms(30),
        )
        assert "2 of 2 executions" in page.inner_text(".fde-explorer")
        page.screenshot(path=str(shots / "explorer-executions.png"))
        page.locator(".fde-explorer-list select").select_option(index=0)

        # A run: the failed task's reason and input, then Retry (confirmed)
        page.wait_for_selector(".fde-task-detail .fde-reason", timeout=ms(30))
        detail = page.inner_text(".fde-task-detail")
        assert REASON in detail and "4000-0000-0000-0002" in detail
        header = page.inner_text(".fde-run-header")
        workflow_id = next(w for w in answered if w in header)
        assert workflow_id == started[1]  # the newest failed run is listed first
        page.screenshot(path=str(shots / "explorer-run-failed.png"), full_page=True)
        thread.start()
        page.click(".fde-explorer button:text-is('Retry')")
        page.wait_for_selector(".fde-explorer button:text-is('Confirm')", timeout=ms(15))
        assert requests.get(f"{api}/workflow/{workflow_id}", timeout=10).json()["status"] == "FAILED"  # asked first
        page.click(".fde-explorer button:text-is('Confirm')")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.fde-run-status')].some(e => e.innerText === 'COMPLETED')",
            timeout=ms(60),
        )
        page.screenshot(path=str(shots / "explorer-run-retried.png"), full_page=True)
        run = requests.get(f"{api}/workflow/{workflow_id}", timeout=10).json()
        assert run["status"] == "COMPLETED"
        assert [t["status"] for t in run["tasks"]] == ["FAILED", "COMPLETED"]
        assert not error_outputs(page)
    finally:
        stop.set()
        page.close()
        for workflow_id in started:
            requests.delete(f"{api}/workflow/{workflow_id}", params={"reason": "test over"}, timeout=10)
