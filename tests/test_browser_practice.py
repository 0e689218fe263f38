"""The learner's path in a real browser: `fde lab` opens a practice copy (written by `fde lab`
itself), the learner asks `hint()` before any answer, then types a wrong answer and a right
one and sees each check's verdict; `fde lab --solutions` opens the lessons read-only.

Helpers and fixtures (the browser, screenshots, deadlines) come from tests/test_browser.py.
"""

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from test_browser import (  # noqa: F401 (browser and shots are fixtures)
    CHROMIUM,
    TOKEN,
    Deadline,
    browser,
    error_outputs,
    free_port,
    ms,
    run_all,
    shots,
    write_lab_settings,
)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Chromium is not installed (apt-get install chromium); .ci/run installs it"
)

NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def start_lab(root: Path, *arguments: str):
    """`fde lab ARGUMENTS` on a free port with its own settings and workspaces; (url, process)."""
    write_lab_settings(root / "settings")
    port = free_port()
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces"),
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
            *arguments,
            f"--IdentityProvider.token={TOKEN}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = Deadline(120)  # (fde lab writes the practice copies first)
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2)
            return base, proc, log
        except OSError:
            if proc.poll() is not None or deadline.expired():
                proc.kill()
                pytest.fail(f"fde lab did not start in {deadline}: {(root / 'lab.log').read_text()[-800:]}")
            time.sleep(0.5)


def stop_lab(proc, log) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def practice_lab(tmp_path_factory):
    """`fde lab --dir <tmp>/practice`: the default path, with the copies somewhere of the test's."""
    root = tmp_path_factory.mktemp("practice-lab")
    base, proc, log = start_lab(root, "--dir", str(root / "practice"))
    yield base, root / "practice"
    stop_lab(proc, log)


def wait_for_text(page, text: str, shots: Path, name: str, seconds: float = 90) -> None:
    try:
        page.wait_for_function(f"document.body.innerText.includes({json.dumps(text)})", timeout=ms(seconds))
    except Exception:
        page.screenshot(path=str(shots / f"{name}-not-seen.png"))
        raise


def code_cell(page, text: str):
    """The first code cell whose code (not its output: a hint may quote the code) holds ``text``."""
    return page.locator(f"{NOTEBOOK} .jp-CodeCell").filter(has=page.locator(".jp-InputArea", has_text=text)).first


def test_fde_lab_opens_a_practice_copy_where_hint_then_a_wrong_then_a_right_answer_are_judged(
    practice_lab, browser, shots
):
    from fdelib.practice import exercises, hints, progress

    base, practice = practice_lab
    assert (practice / "00_start_here.ipynb").exists()  # fde lab wrote the copies itself
    exercise = exercises.get("latest_close")
    first = hints.hint("latest_close")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(f"{base}/?token={TOKEN}", timeout=ms(120))  # where `fde lab` starts: the course home
        page.wait_for_selector(f"{NOTEBOOK} .jp-Notebook", timeout=ms(60))
        assert "/lab/tree/00_start_here.ipynb" in page.url
        page.wait_for_function("document.body.innerText.includes('| Idle')", timeout=ms(60))
        run_all(page)
        wait_for_text(page, "latest_close: not answered yet.", shots, "practice-blank")  # a practice copy
        assert not error_outputs(page)

        # a hint before any answer: a new cell above the answer cell
        code_cell(page, "%%sql --save latest_close").locator(".jp-InputPrompt").click()
        page.keyboard.press("Escape")
        page.keyboard.press("a")
        page.keyboard.press("Enter")
        page.keyboard.insert_text('hint("latest_close")')
        page.keyboard.press("Shift+Enter")
        wait_for_text(page, f"latest_close: hint 1 of {first.of} (where to start).", shots, "practice-hint")
        wait_for_text(page, 'Next: hint("latest_close", 2).', shots, "practice-hint-next")

        def answer(text: str, expected: str, name: str) -> None:
            code_cell(page, "%%sql --save latest_close").locator(".cm-content").click()
            page.keyboard.press("Control+a")
            page.keyboard.insert_text(text)  # as pasted: no auto-closed brackets or indents
            page.keyboard.press("Shift+Enter")  # runs the answer, selects the check cell
            page.keyboard.press("Shift+Enter")  # runs the check
            wait_for_text(page, expected, shots, name)

        wrong = exercise.wrong[0]
        answer(wrong.answer.strip(), wrong.hint, "practice-wrong")
        wait_for_text(page, 'Stuck? hint("latest_close") gives a hint.', shots, "practice-wrong-stuck")
        answer(exercises.solution("latest_close").strip(), f"latest_close: passed. {exercise.passed}", "practice-right")
        page.screenshot(path=str(shots / "practice-hint-wrong-right.png"))
        assert not error_outputs(page)
    finally:
        page.close()
    entry = progress.load(practice)["latest_close"]  # the kernel worked in the practice folder
    assert entry["status"] == "passed" and entry["hint_levels"] == [1]
    assert entry["attempts"] >= 3  # blank (Run All), wrong, right
    row = progress.table(practice).set_index("exercise").loc["latest_close"]
    assert row["hints"] == 1 and row["status"] == "passed"


def test_fde_lab_solutions_opens_the_lessons_read_only(tmp_path, browser, shots, settings):
    lesson = settings.project_root / "notebooks" / "00_start_here.ipynb"
    before = lesson.read_bytes()
    base, proc, log = start_lab(tmp_path, "--solutions")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(f"{base}/?token={TOKEN}", timeout=ms(120))
        page.wait_for_selector(f"{NOTEBOOK} .jp-Notebook", timeout=ms(60))
        assert "/lab/tree/00_start_here.ipynb" in page.url
        wait_for_text(page, "notebook is read-only", shots, "solutions-read-only", 60)
        code_cell(page, "%%sql --save latest_close").locator(".cm-content").click()
        page.keyboard.press("End")
        page.keyboard.insert_text(" -- edited")
        page.keyboard.press("Control+s")  # refused: JupyterLab says "read-only"
        wait_for_text(page, "is read-only", shots, "solutions-save-refused", 30)
        page.screenshot(path=str(shots / "solutions-read-only.png"))
    finally:
        page.close()
        stop_lab(proc, log)
    assert lesson.read_bytes() == before
