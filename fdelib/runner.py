"""Run notebooks headlessly with papermill, in parallel where safe, and report the run.

Each run gets a folder ``$FDE_RUNS_DIR/<run id>/`` holding the executed notebooks (same
layout as ``notebooks/``), an HTML rendering of each, ``results.json`` and ``index.html``
(see :mod:`fdelib.report`). ``runs/latest`` points at the newest run.

What runs in parallel: notebooks of one course folder build on each other (the second
bank notebook queries the tables the first created), so a folder runs in order, and
different folders run side by side, ``jobs`` at a time.

Every notebook runs in its own child process (and process group), so a per-notebook
timeout can stop it and its kernel for sure, and one notebook's crash cannot take the
batch down.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable

import yaml

from . import notebooks as nbs
from .config import Settings, get_settings
from .errors import ParameterError

DEFAULT_TIMEOUT = 600  # seconds per notebook


@dataclasses.dataclass
class NotebookResult:
    name: str                          # relative to notebooks/, e.g. 02_bank_db/01_model.ipynb
    status: str                        # "passed", "failed" or "timeout"
    duration: float
    parameters: dict[str, Any]
    output: str | None = None          # executed notebook, relative to the run folder
    html: str | None = None            # its HTML rendering, relative to the run folder
    thumbnail: str | None = None       # its first figure (PNG), relative to the run folder
    error: dict[str, Any] | None = None  # cell_index, exec_count, ename, evalue, source
    defaults: dict[str, Any] = dataclasses.field(default_factory=dict)  # the parameters cell's values

    @property
    def ok(self) -> bool:
        return self.status == "passed"

    def describe_failure(self) -> str:
        """One line naming the notebook and the cell, for the CLI."""
        if self.ok:
            return ""
        err = self.error or {}
        if self.status == "timeout":
            return f"{self.name} timed out after {self.duration:.0f}s"
        if err.get("cell_index") is None:
            return f"{self.name} failed: {err.get('ename', 'error')}: {err.get('evalue', '')}"
        first_line = (err.get("source") or "").strip().splitlines()[:1]
        where = f"cell {err['cell_index']} (In [{err.get('exec_count')}])"
        code = f" `{first_line[0][:60]}`" if first_line else ""
        return f"{self.name} failed in {where}{code}: {err.get('ename')}: {err.get('evalue')}"


@dataclasses.dataclass
class RunResult:
    run_dir: Path
    started: str
    duration: float
    results: list[NotebookResult]

    @property
    def failed(self) -> list[NotebookResult]:
        return [r for r in self.results if not r.ok]


# --- parameters ----------------------------------------------------------------------

def parse_parameters(pairs: list[str]) -> dict[str, Any]:
    """``["seed=7", "symbols=[IBM, MSFT]"]`` -> ``{"seed": 7, "symbols": ["IBM", "MSFT"]}``.

    Values are read as YAML, as papermill's ``-y`` does: numbers, booleans, lists.
    """
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ParameterError(f"bad parameter {pair!r}: write -p name=value "
                                 "(name a Python identifier)")
        try:
            params[key] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ParameterError(f"bad value for parameter {key!r}: {exc}") from exc
    return params


def declared_parameters(path: Path) -> dict[str, Any]:
    """Names and defaults of the notebook's ``parameters`` cell (papermill's inference)."""
    import papermill

    return {name: info.get("default") for name, info in papermill.inspect_notebook(path).items()}


def parameters_for(notebooks: list[Path], params: dict[str, Any],
                   settings: Settings | None = None) -> dict[Path, dict[str, Any]]:
    """Give each notebook the parameters it declares; reject names none declares."""
    if not params:
        return {path: {} for path in notebooks}
    declared = {path: declared_parameters(path) for path in notebooks}
    for key in params:
        if not any(key in names for names in declared.values()):
            names = sorted({n for d in declared.values() for n in d})
            raise ParameterError(f"parameter {key!r} is not declared by any selected notebook "
                                 f"(they declare: {', '.join(names) or 'nothing'})")
    return {path: {k: v for k, v in params.items() if k in declared[path]} for path in notebooks}


# --- planning ------------------------------------------------------------------------

def plan(notebooks: list[Path]) -> list[list[Path]]:
    """Group notebooks that must run in order (one course folder) into chains."""
    chains: dict[Path, list[Path]] = {}
    for path in notebooks:
        # top-level notebooks have no siblings to wait for: each is its own chain
        key = path.parent if path.parent.name != "notebooks" else path
        chains.setdefault(key, []).append(path)
    return list(chains.values())


# --- running -------------------------------------------------------------------------

def new_run_dir(settings: Settings) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = settings.runs_dir / stamp
    suffix = 1
    while run_dir.exists():
        suffix += 1
        run_dir = settings.runs_dir / f"{stamp}-{suffix}"
    run_dir.mkdir(parents=True)
    latest = settings.runs_dir / "latest"
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(run_dir.name)
    except OSError:
        pass  # filesystems without symlinks: the run folder is still there
    return run_dir


def run(notebooks: list[Path], parameters: dict[str, Any] | None = None, *,
        jobs: int = 2, timeout: float = DEFAULT_TIMEOUT, update: bool = False,
        settings: Settings | None = None,
        on_done: Callable[[NotebookResult], None] | None = None) -> RunResult:
    """Execute ``notebooks``; return their results (never raises for a failing notebook).

    ``update=True`` re-executes them in place for committing: the source notebook is
    overwritten, cleaned of volatile metadata, only when it passed; parameters are not
    allowed then (committed outputs must come from the defaults).
    """
    from . import report

    settings = settings or get_settings()
    if update and parameters:
        raise ParameterError("--update stores default outputs; drop the -p parameters")
    per_notebook = parameters_for(notebooks, parameters or {}, settings)
    run_dir = new_run_dir(settings)
    started = dt.datetime.now().isoformat(timespec="seconds")
    t0 = time.perf_counter()
    results: list[NotebookResult] = []

    def run_chain(chain: list[Path]) -> list[NotebookResult]:
        done = []
        for path in chain:
            result = _run_one(path, per_notebook[path], run_dir, timeout, update, settings)
            done.append(result)
            if on_done:
                on_done(result)
        return done

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(run_chain, chain) for chain in plan(notebooks)]
        for future in as_completed(futures):
            results.extend(future.result())

    order = {path: i for i, path in enumerate(notebooks)}
    by_name = {nbs.display_name(p, settings): order[p] for p in notebooks}
    results.sort(key=lambda r: by_name.get(r.name, 0))
    outcome = RunResult(run_dir, started, time.perf_counter() - t0, results)
    report.write(outcome)
    return outcome


def _run_one(path: Path, params: dict[str, Any], run_dir: Path, timeout: float,
             update: bool, settings: Settings) -> NotebookResult:
    name = nbs.display_name(path, settings)
    output = run_dir / "notebooks" / name
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        result_file = Path(handle.name)
        json.dump({"input": str(path), "output": str(output), "parameters": params,
                   "timeout": timeout, "update": update, "result": str(result_file)}, handle)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "fdelib.runner", str(result_file)],
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = proc.communicate(timeout=timeout + 60)
        child = json.loads(result_file.read_text()) if result_file.stat().st_size else {}
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        stderr, child = "", {"status": "timeout"}
    except (ValueError, OSError):
        child = {}
    finally:
        result_file.unlink(missing_ok=True)
    duration = time.perf_counter() - t0
    if "status" not in child:
        tail = (stderr or "").strip().splitlines()[-1:] or ["runner died without a result"]
        child = {"status": "failed", "error": {"ename": "RunnerError", "evalue": tail[0]}}
    html, thumbnail = output.with_suffix(".html"), output.with_suffix(".png")
    return NotebookResult(
        name=name, status=child["status"], duration=duration, parameters=params,
        output=output.relative_to(run_dir).as_posix() if output.exists() else None,
        html=html.relative_to(run_dir).as_posix() if html.exists() else None,
        thumbnail=thumbnail.relative_to(run_dir).as_posix() if thumbnail.exists() else None,
        error=child.get("error"), defaults=_defaults(path))


def _defaults(path: Path) -> dict[str, Any]:
    try:
        return declared_parameters(path)
    except Exception:   # a notebook papermill cannot inspect still gets its row in the report
        return {}


def _execute(spec: dict[str, Any]) -> dict[str, Any]:
    """Child process: run one notebook with papermill and render it to HTML."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source, output = Path(spec["input"]), Path(spec["output"])
    outcome: dict[str, Any] = {"status": "passed"}
    try:
        papermill.execute_notebook(
            str(source), str(output), parameters=spec["parameters"], kernel_name=nbs.KERNEL,
            cwd=str(source.parent), progress_bar=False, log_output=False,
            execution_timeout=spec["timeout"], request_save_on_cell_execute=False)
    except PapermillExecutionError as exc:
        timed_out = "CellTimeoutError" in str(exc.ename) or "Timeout" in str(exc.ename)
        outcome = {"status": "timeout" if timed_out else "failed",
                   "error": {"cell_index": _source_index(exc.cell_index, source,
                                                                 bool(spec["parameters"])),
                             "exec_count": exc.exec_count, "ename": exc.ename,
                             "evalue": str(exc.evalue)[:500], "source": exc.source,
                             "traceback": _strip_ansi("\n".join(exc.traceback))[-4000:]}}
    except Exception as exc:  # kernel died, notebook unreadable, cell timeout...
        name = type(exc).__name__
        outcome = {"status": "timeout" if "Timeout" in name else "failed",
                   "error": {"ename": name, "evalue": str(exc).strip()[:500]}}
    if output.exists():
        nb = nbformat.read(output, as_version=4)
        if spec.get("update") and outcome["status"] == "passed":
            nbformat.write(nbs.clean(nb), source)
        _render_html(nb, output.with_suffix(".html"))
        _save_thumbnail(nb, output.with_suffix(".png"))
    return outcome


def _source_index(index: int | None, source: Path, injected: bool) -> int | None:
    """Papermill counts cells of the executed notebook, which has an extra
    injected-parameters cell (right after the parameters cell) when parameters were
    given; report the index in the learner's notebook instead."""
    if index is None or not injected:
        return index
    import nbformat

    parameters_at = nbs.parameters_cell(nbformat.read(source, as_version=4))
    return index - 1 if parameters_at is not None and index > parameters_at else index


def _render_html(nb, target: Path) -> None:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    target.write_text(body)


def _save_thumbnail(nb, target: Path) -> None:
    """The notebook's first figure, for the run report's index."""
    import base64

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png:
                target.write_bytes(base64.b64decode(png))
                return


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def main(argv: list[str]) -> int:
    spec_file = Path(argv[0])
    spec = json.loads(spec_file.read_text())
    outcome = _execute(spec)
    Path(spec["result"]).write_text(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
