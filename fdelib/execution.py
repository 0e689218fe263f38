"""Executing one notebook, in a process of its own: papermill, then its HTML and first figure.

:mod:`fdelib.runner` plans a run and gives each notebook to :func:`child`, in a process
forked for that notebook alone from a *fork server* that imported this module once. Importing
papermill, nbclient and nbconvert costs about a second of CPU; rendering the first HTML page
compiles nbconvert's templates, another half second. Paying both once per run instead of
once per notebook is what the fork server is for. Every notebook still gets a fresh process
and a fresh kernel: nothing a notebook does is seen by the next.

The child leads its own session (process group), so a timeout stops it, and one notebook's
crash cannot take the batch down; its result is a small JSON file the runner reads back.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import nbformat
import papermill
from nbconvert import HTMLExporter
from papermill.exceptions import PapermillExecutionError

from . import notebooks as nbs


def child(spec: dict[str, Any]) -> None:
    """Entry point of the forked process: run ``spec``, write its outcome to ``spec["result"]``."""
    os.setsid()                               # a process group of its own (and its kernel's parent)
    os.environ.clear()                        # the runner's environment now, not the fork server's
    os.environ.update(spec["environ"])
    os.chdir(spec["cwd"])
    _redirect(spec["stderr"])
    outcome = execute(spec)
    Path(spec["result"]).write_text(json.dumps(outcome))


def _redirect(stderr_path: str) -> None:
    """Nothing on the terminal: stdout to /dev/null, stderr (the kernel's too) to a file the
    runner shows if the process dies without a result."""
    with open(os.devnull, "wb") as null, open(stderr_path, "ab") as err:
        os.dup2(null.fileno(), 1)
        os.dup2(err.fileno(), 2)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115  (the process's streams, for its life)
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115


def execute(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one notebook with papermill and render it to HTML; the outcome as a dict.

    ``spec``: ``input``, ``output`` (paths), ``parameters``, ``timeout`` (per cell), ``update``
    (write the cleaned result over the input when it passed) and ``sanitize`` (nbval's
    sanitize file, for the drift check against the committed outputs).
    """
    source, output = Path(spec["input"]), Path(spec["output"])
    committed = nbformat.read(source, as_version=4)
    outcome: dict[str, Any] = {"status": "passed"}
    try:
        papermill.execute_notebook(
            str(source), str(output), parameters=spec["parameters"], kernel_name=nbs.KERNEL,
            cwd=str(source.parent), progress_bar=False, log_output=False,
            execution_timeout=spec["timeout"], request_save_on_cell_execute=False)
    except PapermillExecutionError as exc:
        timed_out = "CellTimeoutError" in str(exc.ename) or "Timeout" in str(exc.ename)
        outcome = {"status": "timeout" if timed_out else "failed",
                   "error": {"cell_index": source_index(exc.cell_index, committed, bool(spec["parameters"])),
                             "exec_count": exc.exec_count, "ename": exc.ename,
                             "evalue": str(exc.evalue)[:500], "source": exc.source,
                             "traceback": _strip_ansi("\n".join(exc.traceback))[-4000:]}}
    except Exception as exc:  # kernel died, notebook unreadable, cell timeout...
        name = type(exc).__name__
        outcome = {"status": "timeout" if "Timeout" in name else "failed",
                   "error": {"ename": name, "evalue": str(exc).strip()[:500]}}
    if output.exists():
        nb = nbformat.read(output, as_version=4)
        if outcome["status"] == "passed" and not spec["parameters"]:
            outcome["drift"] = nbs.drift(nb, committed, nbs.sanitize_patterns(spec.get("sanitize")))
        if spec.get("update") and outcome["status"] == "passed":
            nbformat.write(nbs.clean(nb), source)
        render_html(nb, output.with_suffix(".html"))
        save_thumbnail(nb, output.with_suffix(".png"))
    return outcome


def source_index(index: int | None, committed: nbformat.NotebookNode, injected: bool) -> int | None:
    """Papermill counts cells of the executed notebook, which has an extra
    injected-parameters cell (right after the parameters cell) when parameters were
    given; report the index in the learner's notebook instead."""
    if index is None or not injected:
        return index
    parameters_at = nbs.parameters_cell(committed)
    return index - 1 if parameters_at is not None and index > parameters_at else index


_EXPORTER: HTMLExporter | None = None


def render_html(nb: nbformat.NotebookNode, target: Path) -> None:
    global _EXPORTER
    _EXPORTER = _EXPORTER or HTMLExporter()     # its compiled templates are reused
    body, _ = _EXPORTER.from_notebook_node(nb)
    target.write_text(body)


def save_thumbnail(nb: nbformat.NotebookNode, target: Path) -> None:
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


def _warm() -> None:
    """Render a small notebook once, so forked children find nbconvert's templates compiled
    and the Python lexer loaded."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# warm *up*"),
                                         nbformat.v4.new_code_cell("x = [1, 2]\nprint(x)")])
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    with contextlib.suppress(Exception):   # an optimisation: a child would render cold instead
        render_html(nb, Path(os.devnull))


if os.environ.get("FDE_RUNNER_FORKSERVER") == str(os.getppid()):
    _warm()   # in the fork server only (tests importing this module do not pay for it)
