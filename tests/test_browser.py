"""The learner's JupyterLab, in a real browser.

`fde lab` serves a copy of the course notebooks on loopback; headless Chromium (Debian's,
driven by Playwright — never a downloaded browser) opens each one. The browser proves what only
a browser shows: every notebook's stored outputs render (its pictures, its tables, no error);
the notebooks with widgets run in JupyterLab's own kernel, and their widgets render and answer
a click, a choice or a slider. What a notebook computes is nbval's to compare (tests/ and
``pytest notebooks/``), so the browser does not run the others again.
A screenshot of each notebook goes to ``$FDE_RUNS_DIR/browser-<time>/``.
"""

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from fdelib import notebooks as nbs

CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "fde-browser-test"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDGET_CHECK = "zz_widget_check.ipynb"
SLOWEST = 10  # a loaded machine stretches the waits below at most this much


def load_factor() -> float:
    """How much slower than a quiet machine this one runs now: runnable processes per core."""
    return min(SLOWEST, max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1)))


def ms(seconds: float) -> float:
    """A Playwright timeout (ms) for what takes ``seconds`` on a quiet machine, at today's load."""
    return seconds * load_factor() * 1000


class Deadline:
    """A time limit counted in quiet-machine seconds: while the machine is loaded (other jobs,
    other test processes) its clock runs slower, so a wait fails for being stuck, not busy."""

    def __init__(self, seconds: float):
        self.seconds, self.left, self.waited = seconds, seconds, 0.0
        self._last = time.monotonic()

    def expired(self) -> bool:
        now = time.monotonic()
        self.left -= (now - self._last) / load_factor()
        self.waited += now - self._last
        self._last = now
        return self.left <= 0

    def __str__(self) -> str:
        return f"{self.waited:.0f} s ({self.seconds:.0f} s on a quiet machine; load now {os.getloadavg()[0]:.1f})"


pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Chromium is not installed (apt-get install chromium); .ci/run installs it"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_lab_settings(folder: Path) -> None:
    """No news pop-up; render every cell (windowing would hide off-screen cells)."""
    for plugin, values in {
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"},
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    }.items():
        path = folder / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def write_widget_check(path: Path) -> None:
    """A notebook whose slider drives a label: proves widgets round-trip to the kernel."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("as_of = '2026-01-02'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell(
            "import ipywidgets as w\n"
            "slider = w.IntSlider(value=3, min=0, max=10, description='n')\n"
            "label = w.Label(value='square: 9')\n"
            "slider.observe(lambda change: setattr(label, 'value', f\"square: {change['new'] ** 2}\"),"
            " names='value')\n"
            "w.VBox([slider, label])"
        ),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def lab(tmp_path_factory, settings):
    root = tmp_path_factory.mktemp("lab")
    workdir = root / "notebooks"  # a copy: Run All and autosave never touch the committed files
    shutil.copytree(nbs.notebooks_dir(settings), workdir, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    write_widget_check(workdir / WIDGET_CHECK)
    write_lab_settings(root / "settings")
    port = free_port()
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"),
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
    }
    log = open(root / "lab.log", "w")  # noqa: SIM115 (the server writes to it until the fixture ends)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fdelib.cli",
            "lab",
            "--port",
            str(port),
            "--notebook-dir",
            str(workdir),
            f"--IdentityProvider.token={TOKEN}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = Deadline(90)
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or deadline.expired():
                proc.kill()
                pytest.fail(f"fde lab did not start in {deadline}: {(root / 'lab.log').read_text()[-800:]}")
            time.sleep(0.5)
    yield base
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(settings) -> Path:
    folder = settings.runs_dir / f"browser-{dt.datetime.now():%Y%m%d-%H%M%S}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


NOTEBOOKS = [nbs.display_name(p) for p in nbs.discover()] + [WIDGET_CHECK]
# course notebooks whose lesson ends with a widget: it must render and answer a click
WIDGET_NOTEBOOKS = {
    nbs.display_name(p) for p in nbs.discover() if "application/vnd.jupyter.widget-view+json" in p.read_text()
}


def run_all(page, timeout: float = 120.0) -> list[str]:
    """Run → Run All Cells, then wait until every code cell shows an execution count (``timeout``
    in quiet-machine seconds: see :class:`Deadline`)."""
    page.click("li.lm-MenuBar-item:has-text('Run')")
    page.click("li.lm-Menu-item:has-text('Run All Cells')")
    selector = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt"
    deadline = Deadline(timeout)
    while not deadline.expired():
        prompts = [e.inner_text().strip() for e in page.query_selector_all(selector)]
        if prompts and all(p[1:-2].isdigit() for p in prompts):
            return prompts
        failures = error_outputs(page)  # Run All stops at a failing cell: say why, at once
        assert not failures, f"a cell failed: {failures[0][:800]}"
        time.sleep(0.5)
    raise AssertionError(f"cells still running or not run after {deadline}: {prompts}")


def error_outputs(page) -> list[str]:
    """Tracebacks shown in the notebook (cell errors, and errors inside widget outputs)."""
    texts = [
        e.inner_text()
        for e in page.query_selector_all(
            ".jp-NotebookPanel:not(.lm-mod-hidden) "
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
        )
    ]
    return [t for t in texts if "Traceback" in t or "Error" in t.split("\n")[0]]


def outputs_text(page) -> list[str]:
    """What the outputs show, pictures included (a redrawn plot changes its image)."""
    return [e.inner_html() for e in page.query_selector_all(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea")]


def wait_for_change(page, before: list[str], what: str, timeout: float) -> None:
    deadline = Deadline(timeout)
    while outputs_text(page) == before:
        assert not deadline.expired(), f"{what} (waited {deadline})"
        time.sleep(0.3)


def stored_outputs(name: str, settings) -> dict[str, int]:
    """What a committed notebook's stored outputs hold: pictures, HTML tables, errors."""
    nb = nbformat.read(nbs.notebooks_dir(settings) / name, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    data = [o.get("data", {}) for o in outputs]
    return {
        "pictures": sum(1 for d in data if "image/png" in d or "image/svg+xml" in d),
        "tables": sum(1 for d in data if "<table" in str(d.get("text/html", ""))),
        "errors": sum(1 for o in outputs if o.get("output_type") == "error"),
    }


def open_notebook(page, lab: str, name: str, shots: Path, kernel: bool = True) -> str:
    """Open ``name`` in its own workspace and (``kernel``) wait for its kernel; the workspace's name."""
    workspace = name.replace("/", "-").removesuffix(".ipynb")
    page.goto(f"{lab}/lab/workspaces/{workspace}/tree/{name}?reset&token={TOKEN}")
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook", timeout=ms(60))
    if not kernel:
        return workspace
    try:
        page.wait_for_function("document.body.innerText.includes('| Idle')", timeout=ms(60))
    except Exception:
        page.screenshot(path=str(shots / f"{workspace}-not-idle.png"))
        raise
    return workspace


STATIC_NOTEBOOKS = [n for n in NOTEBOOKS if n != WIDGET_CHECK and n not in WIDGET_NOTEBOOKS]


@pytest.mark.parametrize("name", STATIC_NOTEBOOKS)
def test_notebook_renders_its_outputs_in_jupyterlab(lab, browser, shots, settings, name):
    """A lesson as the learner first sees it: every stored picture and table drawn, no error."""
    stored = stored_outputs(name, settings)
    assert stored["errors"] == 0, f"{name}: a committed notebook holds an error output"
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        workspace = open_notebook(page, lab, name, shots, kernel=False)
        panel = ".jp-NotebookPanel:not(.lm-mod-hidden) "
        pictures = panel + ".jp-OutputArea-output img, " + panel + ".jp-OutputArea-output svg"
        page.wait_for_function(
            f"document.querySelectorAll({json.dumps(pictures)}).length >= {stored['pictures']}", timeout=ms(30)
        )
        drawn = page.eval_on_selector_all(
            panel + ".jp-OutputArea-output img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length"
        )
        assert drawn == 0, f"{name}: {drawn} stored picture(s) did not load"
        tables = len(page.query_selector_all(panel + ".jp-OutputArea-output table"))
        assert tables >= stored["tables"], f"{name}: {stored['tables']} stored tables, {tables} drawn"
        assert not error_outputs(page), f"{name}: {error_outputs(page)[0][:500]}"
        page.screenshot(path=str(shots / f"{workspace}.png"))
    finally:
        page.close()


@pytest.mark.parametrize("name", [*sorted(WIDGET_NOTEBOOKS), WIDGET_CHECK])
def test_notebook_runs_in_jupyterlab(lab, browser, shots, name):
    """A notebook whose lesson ends with a widget, run in JupyterLab's kernel: the widget renders
    and answers (a widget needs a live kernel, which nbval's stored outputs cannot show)."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        workspace = open_notebook(page, lab, name, shots)
        run_all(page)
        failures = error_outputs(page)
        assert not failures, f"{name}: {failures[0][:500]}"
        sliders = page.query_selector_all(".widget-slider .noUi-handle")
        buttons = page.query_selector_all(".jp-NotebookPanel:not(.lm-mod-hidden) button.jupyter-button")
        if name == WIDGET_CHECK:
            assert sliders, "the widget did not render"
        if name in WIDGET_NOTEBOOKS:
            assert sliders or buttons or page.query_selector(".widget-dropdown"), f"{name}: its widget did not render"
        dropdowns = page.query_selector_all(".jp-NotebookPanel:not(.lm-mod-hidden) .widget-dropdown select")
        if dropdowns and not buttons:  # a choice that redraws by itself: pick another option
            before = outputs_text(page)
            options = dropdowns[0].eval_on_selector_all("option", "os => os.map(o => o.value)")
            current = dropdowns[0].eval_on_selector("option:checked", "o => o.value")
            dropdowns[0].select_option(next(o for o in options if o != current))
            wait_for_change(page, before, f"{name}: choosing another option changed nothing", 60)
        if buttons:  # the course's widgets: a choice and a button that runs the lesson's function
            before = outputs_text(page)
            buttons[0].click()
            wait_for_change(page, before, f"{name}: pressing '{buttons[0].inner_text()}' changed nothing", 90)
            failures = error_outputs(page)
            assert not failures, f"{name}: the widget raised: {failures[0][:500]}"
        if sliders:
            before = outputs_text(page)
            sliders[0].focus()
            page.keyboard.press("ArrowRight")
            page.keyboard.press("ArrowRight")
            wait_for_change(page, before, f"{name}: moving the slider changed nothing", 15)
            if name == WIDGET_CHECK:  # the kernel answered: 5 squared, not just a moved handle
                page.wait_for_function(
                    "[...document.querySelectorAll('.widget-label')].some(e => e.innerText === 'square: 25')",
                    timeout=ms(15),
                )
        page.screenshot(path=str(shots / f"{workspace}.png"))
    finally:
        page.close()


# --- Mage's UI: project 2 on Mage --------------------------------------------------------------

MAGE_BLOCKS = {
    "fetch_intraday": "DATA LOADER",
    "export_raw": "DATA EXPORTER",
    "deduplicate": "TRANSFORMER",
    "aggregate_daily": "TRANSFORMER",
    "export_daily": "DATA EXPORTER",
}


@pytest.fixture(scope="module", autouse=True)
def mage_environment(settings):
    """Mage's environment (the ETL-on-Mage notebook above and Mage's UI below need it): created by
    the project's own files once, before JupyterLab's clock starts ticking."""
    from fdelib.mage import env

    return env.ensure(settings)


@pytest.fixture(scope="module")
def mage_ui(settings):
    from fdelib.mage import server

    url = server.start(settings, port=free_port())
    yield url
    server.stop(settings)


def test_mage_ui_shows_the_pipelines_five_blocks(mage_ui, browser, shots, settings):
    from fdelib.mage import server

    owner = server.login(settings)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(f"{mage_ui}/sign-in", timeout=180000)
        page.get_by_placeholder("Email").fill(owner["email"])
        page.get_by_placeholder("Password").fill(owner["password"])
        page.get_by_role("button", name="Sign into Mage").click()
        page.wait_for_url("**/overview**", timeout=120000)
        page.goto(f"{mage_ui}/pipelines/market_data_etl/edit", timeout=180000)
        for block in MAGE_BLOCKS:  # the editor's blocks and the dependency tree
            page.get_by_text(block, exact=True).first.wait_for(timeout=120000)
        for kind in set(MAGE_BLOCKS.values()):
            assert page.get_by_text(kind, exact=True).count() == list(MAGE_BLOCKS.values()).count(kind), kind
        page.screenshot(path=str(shots / "mage-market_data_etl.png"))
    finally:
        page.close()


def put_file(lab: str, path: str, content, kind: str = "notebook") -> None:
    """Save a file into the served folder through Jupyter's contents API."""
    body = (
        {"type": kind}
        if kind == "directory"
        else {"type": kind, "format": "json" if kind == "notebook" else "text", "content": content}
    )
    request = urllib.request.Request(
        f"{lab}/api/contents/{path}?token={TOKEN}",
        method="PUT",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=30)


def test_practice_copy_checks_what_the_learner_types(lab, browser, shots, tmp_path):
    """A learner's practice copy of 00_start_here: the blank answer gets its hint, a typed
    wrong query gets the hint for that mistake, a typed right one passes."""
    from fdelib.practice import copies, exercises

    [written] = copies.write(dest=tmp_path / "practice", lessons=copies.lessons_with_exercises(["00_start_here"]))
    put_file(lab, "practice", None, kind="directory")
    put_file(lab, "practice/00_start_here.ipynb", json.loads(written.path.read_text()))
    exercise = exercises.get("latest_close")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(
            f"{lab}/lab/workspaces/practice/tree/practice/00_start_here.ipynb?reset&token={TOKEN}", timeout=120000
        )
        page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook", timeout=60000)
        page.wait_for_function("document.body.innerText.includes('| Idle')", timeout=60000)
        run_all(page)
        page.wait_for_function("document.body.innerText.includes('latest_close: not answered yet.')", timeout=30000)

        def answer(text: str, expected: str) -> None:
            cell = (
                page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell")
                .filter(has_text="%%sql --save latest_close")
                .first
            )
            cell.locator(".cm-content").click()
            page.keyboard.press("Control+a")
            page.keyboard.insert_text(text)  # as pasted: no auto-closed brackets or indents
            page.keyboard.press("Shift+Enter")  # runs the answer, selects the check cell
            page.keyboard.press("Shift+Enter")  # runs the check
            try:
                page.wait_for_function(f"document.body.innerText.includes({json.dumps(expected)})", timeout=90000)
            except Exception:
                page.screenshot(path=str(shots / "practice-not-seen.png"))
                raise

        answer(exercise.wrong[0].answer.strip(), exercise.wrong[0].hint)
        answer(exercises.solution("latest_close").strip(), f"latest_close: passed. {exercise.passed}")
        page.screenshot(path=str(shots / "practice-00_start_here.png"))
        assert not error_outputs(page)
    finally:
        page.close()
