"""Run notebooks headlessly with papermill, in parallel where safe, and report the run.

Each run gets a folder ``$FDE_RUNS_DIR/<run id>/`` holding the executed notebooks (same
layout as ``notebooks/``), an HTML rendering of each, ``results.json`` and ``index.html``
(see :mod:`fdelib.report`). ``runs/latest`` points at the newest run.

What runs in parallel: notebooks of one course folder build on each other (the second
bank notebook queries the tables the first created), so a folder runs in order, and
different folders run side by side, ``jobs`` at a time.

Every notebook runs in its own child process (and process group), so a per-notebook
timeout can stop it and its kernel for sure, and one notebook's crash cannot take the
batch down. The children are forked from a fork server that has imported papermill and
nbconvert once, and so are their kernels, each a fresh one (:mod:`fdelib.execution`;
``FDE_FORK_KERNELS=0`` starts kernels as Jupyter does instead).

After a notebook passes with its default parameters, its outputs are compared with the
committed ones by nbval's rules (``drift`` in its result and the report): papermill only
says that every cell ran, not that it printed what the lesson shows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import yaml

from . import notebooks as nbs
from .config import Settings, get_settings
from .errors import ParameterError

DEFAULT_TIMEOUT = 600  # seconds per notebook


@dataclasses.dataclass
class NotebookResult:
    name: str  # relative to notebooks/, e.g. 02_bank_db/01_model.ipynb
    status: str  # "passed", "failed" or "timeout"
    duration: float
    parameters: dict[str, Any]
    output: str | None = None  # executed notebook, relative to the run folder
    html: str | None = None  # its HTML rendering, relative to the run folder
    thumbnail: str | None = None  # its first figure (PNG), relative to the run folder
    error: dict[str, Any] | None = None  # cell_index, exec_count, ename, evalue, source
    defaults: dict[str, Any] = dataclasses.field(default_factory=dict)  # the parameters cell's values
    drift: list[dict[str, Any]] | None = None  # cells whose outputs differ from the committed ones
    # (None: not compared, e.g. run with -p)

    @property
    def ok(self) -> bool:
        return self.status == "passed"

    def describe_drift(self) -> str:
        """One line naming the notebook and its differing cells, for the CLI."""
        cells = [d for d in self.drift or [] if d["cell"] is not None]
        where = ", ".join(f"cell {d['cell']} (In [{d['exec_count']}])" for d in cells[:4])
        more = f" and {len(cells) - 4} more" if len(cells) > 4 else ""
        return f"{self.name}: outputs differ from the committed ones in {where or 'its cell count'}{more}"

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

    @property
    def drifted(self) -> list[NotebookResult]:
        """Notebooks that passed but printed something else than their committed outputs."""
        return [r for r in self.results if r.ok and r.drift]


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
            raise ParameterError(f"bad parameter {pair!r}: write -p name=value (name a Python identifier)")
        try:
            params[key] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ParameterError(f"bad value for parameter {key!r}: {exc}") from exc
    return params


def declared_parameters(path: Path) -> dict[str, Any]:
    """Names and defaults of the notebook's ``parameters`` cell (papermill's inference)."""
    import papermill

    return {name: info.get("default") for name, info in papermill.inspect_notebook(path).items()}


def parameters_for(
    notebooks: list[Path], params: dict[str, Any], settings: Settings | None = None
) -> dict[Path, dict[str, Any]]:
    """Give each notebook the parameters it declares; reject names none declares."""
    if not params:
        return {path: {} for path in notebooks}
    declared = {path: declared_parameters(path) for path in notebooks}
    for key in params:
        if not any(key in names for names in declared.values()):
            names = sorted({n for d in declared.values() for n in d})
            raise ParameterError(
                f"parameter {key!r} is not declared by any selected notebook "
                f"(they declare: {', '.join(names) or 'nothing'})"
            )
    return {path: {k: v for k, v in params.items() if k in declared[path]} for path in notebooks}


# --- planning ------------------------------------------------------------------------


#: course folders that share database tables with another one run in its chain, after it:
#: 01_workflows' ML lesson loads prices through fdelib.etl into the ``etl`` schema, which 03_etl
#: resets (run side by side, a reset removed the ML lesson's run under it)
SHARES_TABLES_WITH = {"03_etl": "01_workflows"}


def plan(notebooks: list[Path], durations: dict[Path, float] | None = None) -> list[list[Path]]:
    """Group notebooks that must run in order (one course folder, and folders that share
    tables: :data:`SHARES_TABLES_WITH`) into chains.

    With ``durations`` (seconds each notebook took last time, see :func:`last_durations`) the
    longest chain comes first: ``jobs`` slots filled longest-first finish together instead of
    one long chain starting last. A notebook not timed yet counts as the average one.
    """
    chains: dict[Path, list[Path]] = {}
    for path in notebooks:
        # top-level notebooks have no siblings to wait for: each is its own chain
        key = path.parent if path.parent.name != "notebooks" else path
        if key.name in SHARES_TABLES_WITH:
            key = key.with_name(SHARES_TABLES_WITH[key.name])
        chains.setdefault(key, []).append(path)
    ordered = list(chains.values())
    if durations:
        typical = sum(durations.values()) / len(durations)
        ordered.sort(key=lambda chain: -sum(durations.get(p, typical) for p in chain))
    return ordered


def last_durations(notebooks: list[Path], settings: Settings) -> dict[Path, float]:
    """How long each notebook took in the newest run that ran it (``results.json``), if any."""
    names = {nbs.display_name(p, settings): p for p in notebooks}
    found: dict[Path, float] = {}
    try:
        runs = sorted(
            (d for d in settings.runs_dir.iterdir() if d.is_dir() and not d.is_symlink()),
            key=lambda d: d.name,
            reverse=True,
        )[:20]
    except OSError:
        return found
    for run_dir in runs:
        try:
            results = json.loads((run_dir / "results.json").read_text())["notebooks"]
        except (OSError, ValueError, KeyError):
            continue
        for row in results:
            path = names.get(row.get("name"))
            if path is not None and path not in found and row.get("status") == "passed":
                found[path] = float(row["duration"])
        if len(found) == len(names):
            break
    return found


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


def run(
    notebooks: list[Path],
    parameters: dict[str, Any] | None = None,
    *,
    jobs: int = 2,
    timeout: float = DEFAULT_TIMEOUT,
    update: bool = False,
    settings: Settings | None = None,
    on_done: Callable[[NotebookResult], None] | None = None,
) -> RunResult:
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
    compile_library()
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
        futures = [pool.submit(run_chain, chain) for chain in plan(notebooks, last_durations(notebooks, settings))]
        for future in as_completed(futures):
            results.extend(future.result())

    order = {path: i for i, path in enumerate(notebooks)}
    by_name = {nbs.display_name(p, settings): order[p] for p in notebooks}
    results.sort(key=lambda r: by_name.get(r.name, 0))
    outcome = RunResult(run_dir, started, time.perf_counter() - t0, results)
    report.write(outcome)
    return outcome


def _run_one(
    path: Path, params: dict[str, Any], run_dir: Path, timeout: float, update: bool, settings: Settings
) -> NotebookResult:
    name = nbs.display_name(path, settings)
    output = run_dir / "notebooks" / name
    output.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="fde-run-"))
    result_file, stderr_file = scratch / "result.json", scratch / "stderr.txt"
    environ = {k: v for k, v in os.environ.items() if k != _FORKSERVER_ENV}
    spec = {
        "input": str(path),
        "output": str(output),
        "parameters": params,
        "timeout": timeout,
        "update": update,
        "result": str(result_file),
        "stderr": str(stderr_file),
        "sanitize": str(settings.project_root / SANITIZE_FILE),
        "environ": environ,
        "cwd": os.getcwd(),
        "fork_kernel": settings.fork and os.environ.get("FDE_FORK_KERNELS", "1") != "0",
    }
    t0 = time.perf_counter()
    process = _fork_server(settings).Process(target=_child, args=(spec,), name=f"fde-run {name}")
    process.start()
    process.join(timeout + 60)
    if process.is_alive():  # papermill's own per-cell timeout did not fire: stop it all
        _kill_group(process.pid)
        process.join()
        child: dict[str, Any] = {"status": "timeout"}
    else:
        try:
            child = json.loads(result_file.read_text())
        except (ValueError, OSError):
            child = {}
    stderr = stderr_file.read_text(errors="replace") if stderr_file.exists() else ""
    shutil.rmtree(scratch, ignore_errors=True)
    duration = time.perf_counter() - t0
    if "status" not in child:
        tail = stderr.strip().splitlines()[-1:] or [f"runner died without a result (exit code {process.exitcode})"]
        child = {"status": "failed", "error": {"ename": "RunnerError", "evalue": tail[0]}}
    html, thumbnail = output.with_suffix(".html"), output.with_suffix(".png")
    return NotebookResult(
        name=name,
        status=child["status"],
        duration=duration,
        parameters=params,
        output=output.relative_to(run_dir).as_posix() if output.exists() else None,
        html=html.relative_to(run_dir).as_posix() if html.exists() else None,
        thumbnail=thumbnail.relative_to(run_dir).as_posix() if thumbnail.exists() else None,
        error=child.get("error"),
        defaults=_defaults(path),
        drift=child.get("drift"),
    )


def compile_library() -> None:
    """Bytecode for fdelib's own modules, up to date with their sources.

    Every kernel and worker process imports fdelib. Where ``PYTHONDONTWRITEBYTECODE`` is set,
    nothing caches a compiled module, and each process would compile every module it imports
    again; an edited module likewise. ``compileall`` rewrites only what is out of date.
    """
    import compileall

    with contextlib.suppress(OSError):  # read-only installation: processes compile in memory
        compileall.compile_dir(Path(__file__).parent, quiet=2, workers=1)


def _defaults(path: Path) -> dict[str, Any]:
    try:
        return declared_parameters(path)
    except Exception:  # a notebook papermill cannot inspect still gets its row in the report
        return {}


# --- the fork server: one process imports papermill and nbconvert, each notebook forks from it

_FORKSERVER_ENV = "FDE_RUNNER_FORKSERVER"
SANITIZE_FILE = "nbval_sanitize.cfg"


def _fork_server(settings: Settings | None = None):
    """multiprocessing's forkserver context, its server preloading :mod:`fdelib.execution`;
    with fork servers off (``FDE_FORK``: not on Linux, or ``FDE_FORK=0``), the ``spawn`` context:
    each notebook in a new interpreter, and its kernel started as Jupyter starts one.

    The server is started on first use and lives as long as this process. It inherits the
    environment of that moment; each child takes the runner's environment of its own moment
    from its spec.
    """
    import multiprocessing

    if not (settings or get_settings()).fork:
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    if os.environ.get(_FORKSERVER_ENV) != str(os.getpid()):
        os.environ[_FORKSERVER_ENV] = str(os.getpid())  # fdelib.execution warms up there
        context.set_forkserver_preload(["fdelib.execution"])
    return context


def _child(spec: dict[str, Any]) -> None:
    from . import execution  # already imported in the fork server

    execution.child(spec)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
