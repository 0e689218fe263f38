"""Practice copies: the lessons with their answers blanked, in a folder git ignores.

``fde practice`` writes ``practice/<folder>/<notebook>.ipynb`` for every lesson that has
exercises: the lesson as it is, except that each answer cell holds the catalogue's blank and
answer and check cells have no outputs. A banner cell at the top says what the copy is.

Running it again never loses a learner's work:

* a copy whose lesson has not changed is left alone (not even rewritten);
* otherwise it is rebuilt from the new lesson and the learner's work is carried over: every
  answer the learner edited (with its outputs), every cell the learner added (placed after
  the same lesson cell as before), and answers to exercises the lesson no longer has; new
  exercises arrive blank. The previous file is kept in ``practice/.backup/`` first.

The folder holds a marker, ``.fde-practice``, by which checks know they run in a practice
copy (and record progress, see :mod:`.progress`).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path

import nbformat

from .. import notebooks as nbs
from ..config import Settings, get_settings
from . import exercises, notebook, progress

MARKER = progress.MARKER
BANNER_ID = "fde-practice-banner"
FORMAT = 1


def default_dir(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).project_root / "practice"  # (.gitignore lists it)


@dataclasses.dataclass
class Written:
    """What :func:`write` did to one notebook's copy."""

    lesson: str  # e.g. 02_bank_db/01_model.ipynb
    path: Path
    action: str  # "created", "updated" (rebuilt, learner's work kept) or "unchanged"
    exercises: int
    kept_answers: int = 0
    kept_cells: int = 0


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def lesson_fingerprint(
    nb: nbformat.NotebookNode, found: list[notebook.Found], catalog: dict[str, exercises.Exercise]
) -> str:
    """Changes when the lesson's cells or an exercise's blank change."""
    parts = [c.cell_type + "\0" + c.source for c in nb.cells]
    parts += [f"{f.id}\0{catalog[f.id].blank}" for f in found if f.id in catalog]
    return _sha("\1".join(parts))


def blank_copy(lesson_path: Path, name: str, catalog: dict[str, exercises.Exercise]) -> nbformat.NotebookNode:
    """The practice copy of one lesson, before any learner work."""
    lesson = nbformat.read(lesson_path, as_version=4)
    found = notebook.find(lesson)
    nb = copy.deepcopy(lesson)
    for item in found:
        exercise = catalog.get(item.id)
        if exercise is None or item.answer < 0:
            raise exercises.ExerciseError(
                f"{name}: exercise {item.id} has no catalogue entry or "
                "no answer cell (`pytest tests/practice` lists the problems)"
            )
        answer, check = nb.cells[item.answer], nb.cells[item.check]
        answer.source = exercise.blank
        answer.metadata["fde"] = {"exercise": item.id, "role": "answer", "blank": _sha(exercise.blank)}
        check.metadata["fde"] = {"exercise": item.id, "role": "check"}
        for cell in (answer, check):
            cell.outputs, cell.execution_count = [], None
    ids = [item.id for item in found]
    banner = nbformat.v4.new_markdown_cell(
        f"> **Practice copy** of `notebooks/{name}` — {len(ids)} exercise(s): "
        f"{', '.join(f'`{i}`' for i in ids)}.\n"
        "> Write your answers in the cells before each `check(...)` and run both. "
        "Your answers are kept when `fde practice` runs again; "
        '`fde practice --solution ID` (or `solution("ID")` from `fdelib.practice` in a cell) shows a '
        "solution; `fde progress` shows what passes."
    )
    banner.id = BANNER_ID
    nb.cells.insert(0, banner)
    nb.metadata["fde_practice"] = {
        "format": FORMAT,
        "lesson": name,
        "fingerprint": lesson_fingerprint(lesson, found, catalog),
        "lesson_cells": [c.id for c in nb.cells],
    }
    return nb


def merge(new: nbformat.NotebookNode, old: nbformat.NotebookNode) -> tuple[int, int]:
    """Carry the learner's answers and own cells from ``old`` into ``new`` (in place);
    return (answers kept, cells kept)."""
    lesson_ids = set(old.metadata.get("fde_practice", {}).get("lesson_cells", []))
    new_ids = {c.id for c in new.cells}
    by_role = {(c.metadata["fde"]["exercise"], c.metadata["fde"]["role"]): c for c in new.cells if "fde" in c.metadata}
    old_checks = {
        c.metadata["fde"]["exercise"]: c for c in old.cells if c.metadata.get("fde", {}).get("role") == "check"
    }
    kept_answers, anchor = 0, None
    carried: dict[str | None, list] = {}  # lesson cell id -> learner cells that followed it
    for cell in old.cells:
        meta = cell.metadata.get("fde", {})
        role, exercise_id = meta.get("role"), meta.get("exercise")
        edited = role == "answer" and _sha(cell.source) != meta.get("blank")
        target = by_role.get((exercise_id, role))
        if target is not None:  # an exercise the lesson still has
            if edited:
                _take(target, cell)
                if old_checks.get(exercise_id) is not None:
                    _take(by_role[(exercise_id, "check")], old_checks[exercise_id], outputs_only=True)
                kept_answers += 1
            anchor = target.id
        elif role is None and cell.id in lesson_ids:
            anchor = cell.id if cell.id in new_ids else anchor
        elif role == "check" or (role == "answer" and not edited):
            continue  # what is left of a dropped exercise
        else:  # the learner's own cell, or their answer
            carried.setdefault(anchor, []).append(cell)  # to an exercise the lesson dropped
    cells = list(carried.pop(None, []))
    for cell in new.cells:
        cells.append(cell)
        cells.extend(carried.pop(cell.id, []))
    new.cells = cells + [c for rest in carried.values() for c in rest]
    return kept_answers, sum(1 for c in new.cells if c.id not in new_ids)


def _take(target: nbformat.NotebookNode, cell: nbformat.NotebookNode, outputs_only: bool = False) -> None:
    if not outputs_only:
        target.source = cell.source
    target.outputs = cell.get("outputs", [])
    target.execution_count = cell.get("execution_count")


def lessons_with_exercises(names: list[str] | None = None, settings: Settings | None = None) -> list[Path]:
    settings = settings or get_settings()
    return [p for p in nbs.resolve(names or [], settings) if notebook.find(nbformat.read(p, as_version=4))]


def write(
    names: list[str] | None = None,
    dest: Path | None = None,
    settings: Settings | None = None,
    lessons: list[Path] | None = None,
) -> list[Written]:
    """Write or update the practice copies; never loses a learner's answer."""
    settings = settings or get_settings()
    dest = Path(dest or default_dir(settings))
    catalog = exercises.load_catalog()
    dest.mkdir(parents=True, exist_ok=True)
    (dest / MARKER).write_text(json.dumps({"format": FORMAT, "project": str(settings.project_root)}))
    done = []
    for lesson_path in lessons if lessons is not None else lessons_with_exercises(names, settings):
        name = nbs.display_name(lesson_path, settings)
        target = dest / name
        new = blank_copy(lesson_path, name, catalog)
        count = len(notebook.find(new))
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(new, target)
            done.append(Written(name, target, "created", count))
            continue
        old = nbformat.read(target, as_version=4)
        same = old.metadata.get("fde_practice", {}).get("fingerprint") == new.metadata["fde_practice"]["fingerprint"]
        if same:
            done.append(Written(name, target, "unchanged", count))
            continue
        backup = dest / ".backup" / f"{target.stem}.{dt.datetime.now():%Y%m%d-%H%M%S-%f}.ipynb"
        backup.parent.mkdir(parents=True, exist_ok=True)
        backup.write_bytes(target.read_bytes())
        kept_answers, kept_cells = merge(new, old)
        nbformat.write(new, target)
        done.append(Written(name, target, "updated", count, kept_answers, kept_cells))
    return done


def solution_text(exercise_id: str) -> str:
    """The solution of an exercise, as the lesson's answer cell has it."""
    return exercises.solution(exercise_id)


find_root = progress.find_root
