"""The explorer's only way to the server: Conductor's REST API (metadata, workflow, search and
task endpoints), as Conductor OSS 3.32.1 serves it. The local engine, a real Conductor OSS
server and the compose stack's answer alike, so the explorer works on each."""

from __future__ import annotations

from typing import Any

import requests

from ...errors import FdeError


class ConductorError(FdeError):
    """What the server refused, in its own words (Conductor's ``message``)."""


class ConductorAPI:
    """A session on one server's ``…/api`` address."""

    def __init__(self, url: str, timeout: float = 15):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()

    def _call(self, method: str, path: str, **kwargs) -> requests.Response:
        try:
            answer = self.http.request(method, self.url + path, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise ConductorError(f"the Conductor server at {self.url} does not answer ({exc}): is it running?") from exc
        if answer.status_code >= 400:
            try:
                message = answer.json().get("message") or answer.text
            except ValueError:
                message = answer.text[:200]
            raise ConductorError(f"{method} {path}: {answer.status_code} {message}")
        return answer

    def _json(self, method: str, path: str, **kwargs) -> Any:
        answer = self._call(method, path, **kwargs)
        return answer.json() if answer.content else None

    # --- metadata ---------------------------------------------------------------------
    def workflow_defs(self) -> list[dict]:
        """GET /metadata/workflow: every version of every definition."""
        return self._json("GET", "/metadata/workflow") or []

    def workflow_def(self, name: str, version: int | None = None) -> dict:
        params = {"version": version} if version is not None else {}
        return self._json("GET", f"/metadata/workflow/{name}", params=params)

    # --- executions -------------------------------------------------------------------
    def search(self, **params) -> dict:
        """GET /workflow/search: ``{"totalHits", "results": [WorkflowSummary]}``."""
        return self._json("GET", "/workflow/search", params={k: v for k, v in params.items() if v is not None})

    def workflow(self, workflow_id: str, include_tasks: bool = True) -> dict:
        return self._json("GET", f"/workflow/{workflow_id}", params={"includeTasks": str(include_tasks).lower()})

    def task_logs(self, task_id: str) -> list[dict]:
        return self._json("GET", f"/tasks/{task_id}/log") or []

    # --- Conductor UI's actions ---------------------------------------------------------
    def terminate(self, workflow_id: str, reason: str = "terminated from the explorer") -> None:
        self._call("DELETE", f"/workflow/{workflow_id}", params={"reason": reason})

    def retry(self, workflow_id: str) -> None:
        self._call("POST", f"/workflow/{workflow_id}/retry", params={"resumeSubworkflowTasks": "false"})

    def restart(self, workflow_id: str, use_latest_definitions: bool = False) -> None:
        self._call(
            "POST",
            f"/workflow/{workflow_id}/restart",
            params={"useLatestDefinitions": str(use_latest_definitions).lower()},
        )

    def rerun(self, workflow: dict) -> str:
        """Conductor UI's "Re-run workflow": a new execution of the same workflow and version
        with the same input and correlation id; returns its id."""
        body = {
            "name": workflow["workflowName"],
            "version": workflow.get("workflowVersion"),
            "input": workflow.get("input") or {},
            "correlationId": workflow.get("correlationId"),
            "priority": workflow.get("priority") or 0,
        }
        return self._call("POST", "/workflow", json={k: v for k, v in body.items() if v is not None}).text.strip('"')


__all__ = ["ConductorAPI", "ConductorError"]
