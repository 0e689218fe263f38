"""The executions explorer: Conductor UI's three views as ipywidgets, inside JupyterLab.

``fdelib.conductor.explorer()`` opens it on the engine in use. **Definitions** lists every
workflow and version (the course's first, the learner's exercise answers after), draws the
chosen one and shows its JSON on a click. **Executions** pages through ``/workflow/search``,
newest first, filtered by workflow, status, start time, correlation id and free text, and
refreshes itself while a listed run is live. **Run** shows one execution: its graph coloured by
task status, every attempt (retries, timeouts, polls, worker), the chosen attempt's reason,
input, output and logs, the timeline, and Conductor UI's actions, each asking to confirm.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import ipywidgets as widgets

from . import graph, views
from .api import ConductorAPI, ConductorError

STYLE = """<style>
.fde-explorer-list select { font-family: monospace; font-size: 11px; }
.fde-explorer .fde-mono { font-family: monospace; font-size: 11px; white-space: pre; padding-left: 3px; }
.fde-explorer table td, .fde-explorer table th { line-height: 1.3; }
</style>"""
ACTION_LABELS = {
    "terminate": "Terminate",
    "retry": "Retry",
    "restart": "Restart",
    "restart with latest definitions": "Restart (latest definitions)",
    "rerun": "Re-run",
}


class Explorer(widgets.VBox):
    """Conductor's UI views on the server at ``url`` (its ``…/api`` address)."""

    def __init__(self, url: str, workflow_id: str | None = None, refresh_seconds: float = 2.0):
        super().__init__()
        self.api = ConductorAPI(url)
        self.refresh_seconds = refresh_seconds
        self.filter = views.Filter()
        self.page = views.Page(0, [])
        self.page_number = 0
        self.run: dict | None = None
        self._pending: Callable[[], None] | None = None
        self._stop = threading.Event()
        self.add_class("fde-explorer")
        self.message = widgets.HTML()
        self.tabs = widgets.Tab(children=[self._definitions_view(), self._executions_view(), self._run_view()])
        for i, title in enumerate(("Definitions", "Executions", "Run")):
            self.tabs.set_title(i, title)
        self.children = [
            widgets.HTML(STYLE + f"<b>Conductor</b> at <code>{self.api.url}</code>"),
            self.tabs,
            self.message,
        ]
        self.load_definitions()
        self.search()
        if workflow_id:
            self.open_run(workflow_id)
        self._refresher = threading.Thread(target=self._refresh_loop, name="explorer-refresh", daemon=True)
        self._refresher.start()

    def __repr__(self) -> str:  # the stored output's text: the same on every run
        return "Executions explorer (Definitions, Executions, Run) on the Conductor server in use"

    def close(self) -> None:
        self._stop.set()
        super().close()

    def _say(self, text: str, error: bool = False) -> None:
        color = "#990000" if error else "#1c4587"
        self.message.value = f'<span style="color:{color}">{text}</span>' if text else ""

    def _guard(self, action: Callable[[], None]) -> None:
        try:
            action()
        except ConductorError as exc:
            self._say(str(exc), error=True)

    # --- Definitions ----------------------------------------------------------------------
    def _definitions_view(self) -> widgets.Widget:
        self.def_list = widgets.Select(options=[], rows=14, layout=widgets.Layout(width="360px"))
        self.def_version = widgets.Dropdown(options=[], description="version", layout=widgets.Layout(width="180px"))
        self.def_graph = widgets.HTML()
        self.def_json_button = widgets.ToggleButton(description="JSON", tooltip="the definition as Conductor stores it")
        self.def_json = widgets.HTML()
        self.def_runs = widgets.Button(description="Its executions", tooltip="list this workflow's runs")
        self.def_list.observe(lambda _: self._guard(self._show_versions), names="value")
        self.def_version.observe(lambda _: self._guard(self.show_definition), names="value")
        self.def_json_button.observe(lambda _: self._guard(self.show_definition), names="value")
        self.def_runs.on_click(lambda _: self._guard(self._runs_of_definition))
        controls = widgets.VBox([self.def_list, widgets.HBox([self.def_version, self.def_json_button]), self.def_runs])
        return widgets.HBox([controls, widgets.VBox([self.def_graph, self.def_json])])

    def load_definitions(self) -> None:
        self.definitions = views.definitions(self.api.workflow_defs())
        self.versions = dict(self.definitions)
        self.def_list.options = [(views.definition_label(n, v), n) for n, v in self.definitions]
        self.workflow_choice.options = [
            ("all workflows", ""),
            ("your exercise answers (practice_*)", views.PRACTICE),
            *[(n, n) for n, _ in self.definitions],
        ]

    def _show_versions(self) -> None:
        name = self.def_list.value
        if name:
            versions = self.versions.get(name, [])
            self.def_version.options = versions
            self.def_version.value = max(versions) if versions else None
            self.show_definition()

    def show_definition(self) -> None:
        name, version = self.def_list.value, self.def_version.value
        if not name or version is None:
            return
        definition = self.api.workflow_def(name, version)
        self.def_graph.value = graph.svg(definition)
        self.def_json.value = views.json_block(definition) if self.def_json_button.value else ""

    def _runs_of_definition(self) -> None:
        if self.def_list.value:
            self.workflow_choice.value = self.def_list.value
            self.search()
            self.tabs.selected_index = 1

    # --- Executions -----------------------------------------------------------------------
    def _executions_view(self) -> widgets.Widget:
        self.workflow_choice = widgets.Dropdown(options=[("all workflows", "")], description="workflow")
        self.status_choice = widgets.Dropdown(
            options=[
                ("any status", ()),
                ("failed, timed out or terminated", views.FAILED),
                *[(s, (s,)) for s in views.STATUSES],
            ],
            description="status",
        )
        self.time_choice = widgets.Dropdown(options=list(views.TIME_RANGES), description="started")
        self.correlation = widgets.Text(placeholder="correlation id", layout=widgets.Layout(width="200px"))
        self.free_text = widgets.Text(placeholder="free text: an id, a value", layout=widgets.Layout(width="200px"))
        self.search_button = widgets.Button(description="Search", button_style="primary")
        self.previous_button = widgets.Button(description="◀ newer", layout=widgets.Layout(width="90px"))
        self.next_button = widgets.Button(description="older ▶", layout=widgets.Layout(width="90px"))
        self.page_label = widgets.HTML()
        self.live = widgets.Checkbox(value=True, description="refresh while runs are live", indent=False)
        self.results = widgets.Select(options=[], rows=views.PAGE_SIZE, layout=widgets.Layout(width="100%"))
        self.results.add_class("fde-explorer-list")
        self.open_button = widgets.Button(description="Open the run", tooltip="the selected execution")
        self.search_button.on_click(lambda _: self._guard(self._new_search))
        self.previous_button.on_click(lambda _: self._guard(lambda: self.search(self.page_number - 1)))
        self.next_button.on_click(lambda _: self._guard(lambda: self.search(self.page_number + 1)))
        self.open_button.on_click(lambda _: self._guard(self._open_selected))
        self.results.observe(lambda _: self._guard(self._open_selected), names="value")
        for choice in (self.workflow_choice, self.status_choice, self.time_choice):
            choice.observe(lambda _: self._guard(self._new_search), names="value")
        return widgets.VBox(
            [
                widgets.HBox([self.workflow_choice, self.status_choice, self.time_choice]),
                widgets.HBox([self.correlation, self.free_text, self.search_button, self.live]),
                widgets.HBox([self.previous_button, self.next_button, self.page_label]),
                widgets.HTML(f'<div class="fde-mono">{views.LIST_HEADER}</div>'),
                self.results,
                self.open_button,
            ]
        )

    def _read_filter(self) -> views.Filter:
        seconds = views.TIME_RANGES.get(self.time_choice.value)
        return views.Filter(
            workflow=self.workflow_choice.value or None,
            statuses=tuple(self.status_choice.value),
            since_ms=int((time.time() - seconds) * 1000) if seconds else None,
            correlation_id=self.correlation.value or None,
            free_text=self.free_text.value or None,
        )

    def _new_search(self) -> None:
        self.search(0)

    def search(self, page: int | None = None) -> None:
        """Fetch one page of the list (``page`` 0 is the newest)."""
        if page is not None:
            self.filter = self._read_filter()
            self.page_number = max(0, page)
        answer = self.api.search(**self.filter.params(self.page_number))
        self.page = views.Page.of(answer, self.page_number)
        selected = self.results.value
        options = [(views.row_label(s), s["workflowId"]) for s in self.page.rows]
        self._quiet = True  # new options clear the selection: that opens nothing
        try:
            self.results.options = options
            if selected in {o[1] for o in options}:
                self.results.value = selected
        finally:
            self._quiet = False
        self.page_label.value = f"&nbsp;{self.page.label}" + (" · live" if self.page.live else "")
        self.previous_button.disabled = not self.page.has_previous
        self.next_button.disabled = not self.page.has_next

    def _open_selected(self) -> None:
        if getattr(self, "_quiet", False) or not self.results.value:
            return
        self.open_run(self.results.value)

    # --- A run ----------------------------------------------------------------------------
    def _run_view(self) -> widgets.Widget:
        self.run_header = widgets.HTML("<i>open a run from the Executions list</i>")
        self.action_buttons = widgets.HBox()
        self.confirm_text = widgets.HTML()
        self.confirm_button = widgets.Button(description="Confirm", button_style="danger")
        self.cancel_button = widgets.Button(description="Cancel")
        self.confirm_box = widgets.HBox([self.confirm_text, self.confirm_button, self.cancel_button])
        self.confirm_box.layout.display = "none"
        self.confirm_button.on_click(lambda _: self._guard(self._confirmed))
        self.cancel_button.on_click(lambda _: self._ask(None, ""))
        self.refresh_button = widgets.Button(description="Refresh", tooltip="read the run again")
        self.refresh_button.on_click(lambda _: self._guard(self.refresh_run))
        self.run_graph = widgets.HTML()
        self.task_choice = widgets.Dropdown(options=[], description="attempt", layout=widgets.Layout(width="520px"))
        self.task_choice.observe(lambda _: self._guard(self._show_task), names="value")
        self.task_detail = widgets.HTML()
        self.task_list = widgets.HTML()
        self.run_timeline = widgets.HTML()
        details = widgets.Accordion(children=[self.task_list, self.run_timeline])
        details.set_title(0, "Tasks: every attempt")
        details.set_title(1, "Timeline")
        details.selected_index = 0
        return widgets.VBox(
            [
                widgets.HBox([self.run_header, widgets.VBox([self.action_buttons, self.refresh_button])]),
                self.confirm_box,
                widgets.HBox([self.run_graph, widgets.VBox([self.task_choice, self.task_detail])]),
                details,
            ]
        )

    def open_run(self, workflow_id: str) -> None:
        self.run = self.api.workflow(workflow_id)
        self._render_run(select_failed=True)
        self.tabs.selected_index = 2

    def refresh_run(self) -> None:
        if self.run:
            self.run = self.api.workflow(self.run["workflowId"])
            self._render_run(select_failed=False)

    def _render_run(self, select_failed: bool) -> None:
        run = self.run or {}
        self.run_header.value = views.run_header(run)
        self.run_graph.value = views.run_graph(run)
        rows = views.task_rows(run)
        self.task_list.value = views.task_table(rows, views.LIVE_COLUMNS)
        self.run_timeline.value = views.timeline(run)
        buttons = []
        for action in views.actions(run):
            button = widgets.Button(
                description=ACTION_LABELS[action], button_style="warning" if action == "terminate" else ""
            )
            button.on_click(lambda _, a=action: self._ask(a, self._question(a)))
            buttons.append(button)
        self.action_buttons.children = buttons
        tasks = sorted(run.get("tasks") or [], key=lambda t: t.get("seq") or 0)
        previous = self.task_choice.value
        self.task_choice.options = [
            (f"{t['referenceTaskName']} · attempt {t.get('retryCount') or 0} · {t.get('status')}", t["taskId"])
            for t in tasks
        ]
        ids = [t["taskId"] for t in tasks]
        failed = views.failed_tasks(run)
        if select_failed or previous not in ids:
            choice = failed[-1]["taskId"] if failed else (ids[0] if ids else None)
        else:
            choice = previous
        self.task_choice.value = choice
        self._show_task()

    def _show_task(self) -> None:
        task = next((t for t in (self.run or {}).get("tasks") or [] if t["taskId"] == self.task_choice.value), None)
        if task is None:
            self.task_detail.value = ""
            return
        try:
            logs = self.api.task_logs(task["taskId"])
        except ConductorError:
            logs = []
        self.task_detail.value = views.task_detail(task, logs)

    def _question(self, action: str) -> str:
        run = self.run or {}
        what = f"{run.get('workflowName')} {run.get('workflowId')}"
        return {
            "terminate": f"Terminate {what}? Its running tasks are canceled.",
            "retry": f"Retry {what} from its failed task?",
            "restart": f"Restart {what} from its first task, with the definition it ran?",
            "restart with latest definitions": f"Restart {what} from its first task, with the latest definition?",
            "rerun": f"Start a new run of {run.get('workflowName')} with this run's input?",
        }[action]

    def _ask(self, action: str | None, question: str) -> None:
        self._pending = (lambda: self._act(action)) if action else None
        self.confirm_text.value = f"<b>{question}</b>&nbsp;"
        self.confirm_box.layout.display = "flex" if action else "none"

    def _confirmed(self) -> None:
        pending, self._pending = self._pending, None
        self.confirm_box.layout.display = "none"
        if pending:
            pending()

    def _act(self, action: str | None) -> None:
        run = self.run or {}
        workflow_id = run["workflowId"]
        if action == "terminate":
            self.api.terminate(workflow_id)
        elif action == "retry":
            self.api.retry(workflow_id)
        elif action == "restart":
            self.api.restart(workflow_id)
        elif action == "restart with latest definitions":
            self.api.restart(workflow_id, use_latest_definitions=True)
        elif action == "rerun":
            new_id = self.api.rerun(run)
            self._say(f"started {new_id}")
            self.open_run(new_id)
            self.search()
            return
        self._say(f"{ACTION_LABELS.get(action or '', action)}: sent for {workflow_id}")
        self.refresh_run()
        self.search()

    # --- refreshing while runs are live -----------------------------------------------------
    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            try:
                if self.live.value and self.page.live:
                    self.search()
                if self.live.value and self.run and self.run.get("status") in ("RUNNING", "PAUSED"):
                    self.refresh_run()
            except Exception:  # the server may be restarting: try again next round
                continue


__all__ = ["Explorer"]
