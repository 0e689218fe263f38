"""Executing one notebook, in a process of its own: papermill, then its HTML and first figure.

:mod:`fdelib.runner` plans a run and gives each notebook to :func:`child`, in a process
forked for that notebook alone from a *fork server* that imported this module once. Importing
papermill, nbclient and nbconvert costs about a second of CPU; rendering the first HTML page
compiles nbconvert's templates, another half second. Paying both once per run instead of
once per notebook is what the fork server is for.

The notebook's kernel comes from the same fork server (:class:`ForkedKernelManager`): a new
process, forked from the server's clean state, that becomes the kernel exactly as
``python -m ipykernel_launcher -f <connection file>`` would, with ipykernel, IPython, NumPy,
pandas and SQLAlchemy already imported (:data:`KERNEL_PRELOAD`) instead of imported again by
every notebook's first cells. Only modules are shared, read-only: every notebook still runs
in a fresh process, with an empty namespace, its own random state and the runner's
environment of that moment; nothing a notebook does is seen by the next.

The child leads its own session (process group), so a timeout stops it, and one notebook's
crash cannot take the batch down; its result is a small JSON file the runner reads back.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import nbformat
import papermill
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from nbconvert import HTMLExporter
from papermill.exceptions import PapermillExecutionError

from . import notebooks as nbs

#: What a kernel imports before (or in) almost every lesson's first cells; the fork server
#: imports it once. Not matplotlib: it reads MPLBACKEND, which ipykernel sets, at import.
KERNEL_PRELOAD = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "numpy",
    "pandas",
    "sqlalchemy",
    "sqlalchemy.dialects.postgresql.psycopg2",
    "psycopg2",
    "pyarrow",
)


def child(spec: dict[str, Any]) -> None:
    """Entry point of the forked process: run ``spec``, write its outcome to ``spec["result"]``."""
    os.setsid()  # a process group of its own (and its kernel's parent)
    os.environ.clear()  # the runner's environment now, not the fork server's
    os.environ.update(spec["environ"])
    os.chdir(spec["cwd"])
    _redirect(spec["stderr"])
    _STDERR[0] = spec["stderr"]
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
            str(source),
            str(output),
            parameters=spec["parameters"],
            kernel_name=nbs.KERNEL,
            cwd=str(source.parent),
            progress_bar=False,
            log_output=False,
            execution_timeout=spec["timeout"],
            request_save_on_cell_execute=False,
            kernel_manager_class=ForkedKernelManager if spec.get("fork_kernel", True) else AsyncKernelManager,
        )
    except PapermillExecutionError as exc:
        timed_out = "CellTimeoutError" in str(exc.ename) or "Timeout" in str(exc.ename)
        outcome = {
            "status": "timeout" if timed_out else "failed",
            "error": {
                "cell_index": source_index(exc.cell_index, committed, bool(spec["parameters"])),
                "exec_count": exc.exec_count,
                "ename": exc.ename,
                "evalue": str(exc.evalue)[:500],
                "source": exc.source,
                "traceback": _strip_ansi("\n".join(exc.traceback))[-4000:],
            },
        }
    except Exception as exc:  # kernel died, notebook unreadable, cell timeout...
        name = type(exc).__name__
        outcome = {
            "status": "timeout" if "Timeout" in name else "failed",
            "error": {"ename": name, "evalue": str(exc).strip()[:500]},
        }
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
    _EXPORTER = _EXPORTER or HTMLExporter()  # its compiled templates are reused
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


# --- kernels forked from the fork server ----------------------------------------------------

_STDERR = [os.devnull]  # where this notebook's kernel writes its stderr (set by child())


class _ForkedProcess:
    """The kernel process as jupyter_client's LocalProvisioner handles one (a ``Popen``): a
    :class:`multiprocessing.Process` the fork server started, seen from its requester."""

    stdin = stdout = stderr = None

    def __init__(self, process):
        self._process = process
        self.pid = process.pid

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int | None:
        self._process.join(timeout)
        return self._process.exitcode

    def send_signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def kill(self) -> None:
        self._process.kill()

    def terminate(self) -> None:
        self._process.terminate()


class ForkedProvisioner(LocalProvisioner):
    """LocalProvisioner whose ``launch_kernel`` has the fork server fork the kernel (see the
    module's docstring); any other command is started as LocalProvisioner starts it."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        process = _fork_kernel(cmd, kwargs)
        if process is None:
            return await super().launch_kernel(cmd, **kwargs)
        # a Popen stand-in: LocalProvisioner only uses pid, poll, wait, send_signal, kill, terminate
        self.process = process  # type: ignore[assignment]
        self.pid = self.pgid = process.pid  # the kernel leads its own process group
        self.cwd = kwargs.get("cwd") or os.getcwd()
        return self.connection_info


class ForkedKernelManager(AsyncKernelManager):
    """papermill's kernel manager for ``fde run``: kernels from the fork server."""

    async def _async_pre_start_kernel(self, **kw: Any):
        if self.provisioner is None:
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", None) or _new_id()
            self.provisioner = ForkedProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)


def _new_id() -> str:
    import uuid

    return str(uuid.uuid4())


def _fork_kernel(cmd: list[str], kwargs: dict[str, Any]) -> _ForkedProcess | None:
    """Ask the fork server (this process's parent) for a kernel running ``cmd``; None when
    ``cmd`` is not this Python's ipykernel, or this process was not forked by the server."""
    import multiprocessing
    from multiprocessing import forkserver

    if (
        len(cmd) < 3
        or cmd[1:3] != ["-m", "ipykernel_launcher"]
        or os.path.realpath(cmd[0]) != os.path.realpath(sys.executable)
    ):
        return None
    server = forkserver._forkserver
    # multiprocessing's ForkServer internals (private, not in typeshed)
    if getattr(server, "_forkserver_alive_fd", None) is None or not server._forkserver_address:  # type: ignore[attr-defined]
        return None
    # The server forked this process and runs until the runner ends; without this its
    # ensure_running() would start a second server (it only knows servers it started itself).
    server.ensure_running = lambda: None  # type: ignore[method-assign]
    env = dict(kwargs.get("env") or os.environ)
    process = multiprocessing.get_context("forkserver").Process(
        target=run_kernel,
        name="fde-kernel",
        args=(list(cmd[1:]), env, str(kwargs.get("cwd") or os.getcwd()), os.getpid(), _STDERR[0]),
    )
    process.start()
    return _ForkedProcess(process)


def run_kernel(argv: list[str], env: dict[str, str], cwd: str, owner: int, stderr_path: str) -> None:
    """In a process the fork server forked: become the kernel ``python <argv>`` would start."""
    import runpy

    os.setsid()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    _redirect(stderr_path)
    for name in [m for m in sys.modules if m == "fdelib" or m.startswith("fdelib.")]:
        del sys.modules[name]  # the runner's: the notebook imports fdelib afresh
    if "numpy" in sys.modules:  # random's state is reseeded at fork; NumPy's legacy one is not
        sys.modules["numpy"].random.seed()
    if "pandas" in sys.modules:
        # pandas decides display.max_columns when it is imported: 0 ("fit the terminal") outside
        # a Jupyter kernel, as in the fork server; 20 in one. A kernel's tables must look as they
        # do in any kernel (nbval's, JupyterLab's), so give it the kernel's value.
        sys.modules["pandas"].set_option("display.max_columns", 20)
    threading.Thread(target=_exit_without, args=(owner,), name="fde-kernel-owner", daemon=True).start()
    sys.argv = [argv[1], *argv[2:]]
    runpy.run_module(argv[1], run_name="__main__", alter_sys=True)


def _exit_without(owner: int) -> None:
    """A kernel outlives nothing: it ends when the notebook's process (its requester) ends,
    as a Popen kernel ends with its parent."""
    while True:
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:
            pass
        time.sleep(1)


def _warm() -> None:
    """Render a small notebook once, so forked children find nbconvert's templates compiled
    and the Python lexer loaded."""
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# warm *up*"), nbformat.v4.new_code_cell("x = [1, 2]\nprint(x)")]
    )
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    with contextlib.suppress(Exception):  # an optimisation: a child would render cold instead
        render_html(nb, Path(os.devnull))


if os.environ.get("FDE_RUNNER_FORKSERVER") == str(os.getppid()):
    # in the fork server only (tests importing this module do not pay for it)
    for _module in KERNEL_PRELOAD:
        with contextlib.suppress(ImportError):
            __import__(_module)
    _warm()
