"""Progress: which exercises pass in the learner's practice copies.

Every check run inside a practice folder records its outcome in ``<practice>/.progress.json``,
and so does every hint asked (with its level) and every solution shown
(a small file next to the copies, written atomically under a lock, so two kernels can check
at once). Checks run anywhere else (the lessons under ``notebooks/``, ``fde run``, the test
suite) record nothing. :func:`table` joins that state with the exercises found in the
practice copies, so ``fde progress`` and the run report show, per notebook, what passes,
what was tried and what is still untouched — without re-running anything.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import tempfile
from pathlib import Path

import fasteners
import pandas as pd

from . import notebook

MARKER = ".fde-practice"  # (copies.MARKER; not imported here: copies needs nbformat)

STATE = ".progress.json"


def record(outcome, root: Path | None = None) -> Path | None:
    """Store a check's ``outcome`` if the kernel works in a practice folder; the state file or None."""

    def change(entry: dict, now: str) -> None:
        entry.update(status=outcome.status, message=outcome.message, last=now, attempts=entry.get("attempts", 0) + 1)
        if outcome.passed:
            entry.setdefault("first_passed", now)

    return update(outcome.exercise, change, root)


def record_hint(exercise_id: str, level: int, root: Path | None = None) -> Path | None:
    """Store that hint ``level`` of an exercise was asked for (in a practice folder)."""

    def change(entry: dict, now: str) -> None:
        entry["hints_asked"] = entry.get("hints_asked", 0) + 1
        entry["hint_levels"] = sorted({*entry.get("hint_levels", []), level})
        entry.setdefault("first_hint", now)

    return update(exercise_id, change, root)


def record_solution(exercise_id: str, root: Path | None = None) -> Path | None:
    """Store that an exercise's solution was shown (in a practice folder)."""

    def change(entry: dict, now: str) -> None:
        entry["solutions_shown"] = entry.get("solutions_shown", 0) + 1
        entry.setdefault("first_solution", now)

    return update(exercise_id, change, root)


def update(exercise_id: str, change, root: Path | None = None) -> Path | None:
    """Apply ``change(entry, now)`` to an exercise's entry, under the lock, written atomically."""
    root = root or find_root()
    if root is None:
        return None
    path = root / STATE
    now = dt.datetime.now().isoformat(timespec="seconds")
    with fasteners.InterProcessLock(str(root / ".progress.lock")):
        state = load(root)
        entry = state.setdefault(exercise_id, {"attempts": 0})
        change(entry, now)
        handle, temporary = tempfile.mkstemp(dir=root, prefix=".progress-", suffix=".tmp")
        with os.fdopen(handle, "w") as out:
            json.dump(state, out, indent=1, sort_keys=True)
        os.replace(temporary, path)
    return path


def find_root(start: Path | None = None) -> Path | None:
    """The practice folder holding ``start`` (default: the working directory), or None."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / MARKER).is_file():
            return folder
    return None


def default_dir() -> Path:
    from ..config import get_settings

    return get_settings().project_root / "practice"


def load(root: Path) -> dict:
    try:
        return json.loads((root / STATE).read_text())
    except (FileNotFoundError, ValueError):
        return {}


COLUMNS = ["notebook", "exercise", "status", "attempts", "hints", "solution"]


def table(root: Path | None = None) -> pd.DataFrame:
    """One row per exercise of every practice copy: notebook, exercise, status, checks run
    (``attempts``), the highest hint level asked (``hints``, 0 for none), whether the
    solution was shown (``solution``)."""
    root = root or default_dir()
    state = load(root)
    rows = []
    for path in sorted(root.rglob("*.ipynb")):
        if ".backup" in path.parts or ".ipynb_checkpoints" in path.parts:
            continue
        name = path.relative_to(root).as_posix()
        for found in notebook.find(notebook.read(path)):
            entry = state.get(found.id, {})
            rows.append(
                {
                    "notebook": name,
                    "exercise": found.id,
                    "status": entry.get("status", "not tried"),
                    "attempts": entry.get("attempts", 0),
                    "hints": max(entry.get("hint_levels", [0])),
                    "solution": entry.get("solutions_shown", 0) > 0,
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def helped(hints: int, solution: bool) -> str:
    """`` (hint 2)``, `` (hint 3, solution)``, `` (solution)`` or nothing."""
    said = [f"hint {hints}"] if hints else []
    said += ["solution"] if solution else []
    return f" ({', '.join(said)})" if said else ""


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per notebook: exercises, passed, and which pass or not."""
    if frame.empty:
        return pd.DataFrame(columns=["notebook", "passed", "exercises", "detail"])
    marks = {"passed": "✔", "not tried": "·"}
    rows = []
    for name, group in frame.groupby("notebook", sort=True):
        detail = " ".join(
            f"{marks.get(r.status, '✗')} {r.exercise}{helped(r.hints, r.solution)}" for r in group.itertuples()
        )
        rows.append(
            {
                "notebook": name,
                "passed": int((group["status"] == "passed").sum()),
                "exercises": len(group),
                "detail": detail,
            }
        )
    return pd.DataFrame(rows)


def render_text(root: Path | None = None) -> str:
    root = root or default_dir()
    if not (root / MARKER).exists():
        return f"no practice copies in {root}: run `fde practice` first"
    frame = table(root)
    per_notebook = summary(frame)
    if per_notebook.empty:
        return f"the practice copies in {root} have no exercises"
    width = max(len(n) for n in per_notebook["notebook"])
    lines = [f"{r.notebook:<{width}}  {r.passed:>2}/{r.exercises:<2}  {r.detail}" for r in per_notebook.itertuples()]
    passed = int((frame["status"] == "passed").sum())
    lines.append(
        f"{'total':<{width}}  {passed:>2}/{len(frame):<2}  (✔ passes, ✗ tried and not passing yet, · not tried)"
    )
    hinted, shown = int((frame["hints"] > 0).sum()), int(frame["solution"].sum())
    checks = int(frame["attempts"].sum())
    lines.append(
        f"{'':<{width}}  {checks} check(s) run, hints asked on {hinted} exercise(s) (the highest level "
        f"in brackets), {shown} solution(s) shown"
    )
    return "\n".join(lines)


LOAD_CELL = "%load_ext fdelib.practice"


def check_seconds(executed: Path) -> tuple[int, float]:
    """(exercises, seconds) an executed notebook spent in the practice machinery: loading
    the extension, answer cells and check cells (papermill's per-cell durations)."""
    nb = notebook.read(executed)
    found = notebook.find(nb)
    cells = {f.answer for f in found} | {f.check for f in found}
    cells |= {i for i, c in enumerate(nb["cells"]) if LOAD_CELL in notebook.source(c)}
    seconds = sum((nb["cells"][i].get("metadata", {}).get("papermill", {}).get("duration") or 0.0) for i in cells)
    return len(found), seconds


def timing_html(run_dir: Path) -> str:
    esc = html.escape
    rows, total = [], 0.0
    for path in sorted((run_dir / "notebooks").rglob("*.ipynb")):
        count, seconds = check_seconds(path)
        if count:
            total += seconds
            rows.append(
                f"<tr><td>{esc(path.relative_to(run_dir / 'notebooks').as_posix())}</td>"
                f"<td>{count}</td><td>{seconds:.2f} s</td></tr>"
            )
    if not rows:
        return "<p>No notebook of this run has exercises.</p>"
    return (
        "<h2>Exercises in this run</h2><p>Time spent loading <code>fdelib.practice</code>, in "
        f"answer cells and in checks: {total:.2f} s in all.</p><table><thead><tr><th>notebook"
        f"</th><th>exercises</th><th>seconds</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def render_html(root: Path | None = None, run_dir: Path | None = None) -> str:
    """The practice page of the run report: the checks' cost in the run, the learner's progress."""
    root = root or default_dir()
    esc = html.escape
    if not (root / MARKER).exists():
        body = f"<p>No practice copies in <code>{esc(str(root))}</code>: run <code>fde practice</code>.</p>"
    else:
        frame = table(root)
        rows = "".join(
            f"<tr><td>{esc(r.notebook)}</td><td>{esc(r.exercise)}</td>"
            f"<td class='{esc(r.status.replace(' ', '-'))}'>{esc(r.status)}</td><td>{r.attempts}</td>"
            f"<td>{r.hints or ''}</td><td>{'shown' if r.solution else ''}</td></tr>"
            for r in frame.itertuples()
        )
        passed = int((frame["status"] == "passed").sum()) if not frame.empty else 0
        body = (
            f"<p>{passed} of {len(frame)} exercises pass in <code>{esc(str(root))}</code>.</p>"
            "<table><thead><tr><th>notebook</th><th>exercise</th><th>status</th>"
            f"<th>checks</th><th>hint level</th><th>solution</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>exercises</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2rem}td,th{padding:.3rem .6rem;"
        "border-bottom:1px solid #ddd;text-align:left}.passed{color:#17803d;font-weight:600}"
        ".wrong,.failed{color:#b42318}.blank{color:#8a6d00}</style></head><body>"
        f"<h1>Exercises</h1>{timing_html(run_dir) if run_dir else ''}"
        f"<h2>Practice progress</h2>{body}</body></html>"
    )
