"""Practice copies: the lessons with their answers blanked, in a folder git ignores.

``fde practice`` writes ``practice/<folder>/<notebook>.ipynb`` for every lesson that has
exercises: the lesson as it is, except that each answer cell holds the catalogue's blank and
answer and check cells have no outputs. A banner cell at the top says what the copy is.

Running it again never loses a learner's work:

* a copy whose lesson has not changed is left alone (not even rewritten);
* otherwise it is rebuilt from the new lesson and the learner's work is carried over: every
  answer the learner edited (with its outputs), every cell the learner added or duplicated
  (placed after the same lesson cell as before, with its outputs), every lesson cell the
  learner edited, and answers to exercises the lesson no longer has; new exercises arrive
  blank. The previous file is kept in ``practice/.backup/<folder>/`` first.

Writing cannot lose a copy either: the backup and the new copy are each written to a
temporary file in the same folder, flushed to disk (fsync) and renamed over their target,
so a copy is always either the previous one or the new one, whole, wherever the writer is
killed. A copy found unreadable (0 bytes, truncated JSON — e.g. left by an older version,
or by a full disk) is moved to ``.backup/`` as it is and rebuilt from its newest readable
backup, and :func:`write` says so. Two ``fde practice`` at once take turns (a file lock in
the practice folder).

The folder holds a marker, ``.fde-practice``, by which checks know they run in a practice
copy (and record progress, see :mod:`.progress`).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import fasteners
import nbformat

from .. import notebooks as nbs
from ..config import Settings, get_settings
from . import exercises, notebook, progress

MARKER = progress.MARKER
BANNER_ID = "fde-practice-banner"
FORMAT = 2  # 2: lesson_cells_sha records each lesson cell as written, to tell the learner's edits
LOCK = ".fde-practice.lock"
BACKUP_DIR = ".backup"
PAUSE_ENV = "FDE_PRACTICE_PAUSE_AT"  # tests only: the writer stops at this named point


def default_dir(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).project_root / "practice"  # (.gitignore lists it)


@dataclasses.dataclass
class Written:
    """What :func:`write` did to one notebook's copy."""

    lesson: str  # e.g. 02_bank_db/01_model.ipynb
    path: Path
    action: str  # "created", "updated" (rebuilt, learner's work kept), "unchanged" or "recovered"
    exercises: int
    kept_answers: int = 0
    kept_cells: int = 0
    recovered_from: Path | None = None  # the backup an unreadable copy was rebuilt from
    unreadable_kept: Path | None = None  # where the unreadable copy was moved, as it was


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
        "lesson_cells_sha": {c.id: _sha(c.source) for c in nb.cells},
        "lesson_outputs_sha": {c.id: _outputs_sha(c) for c in nb.cells if c.cell_type == "code"},
    }
    return nb


def _outputs_sha(cell: nbformat.NotebookNode) -> str:
    return _sha(json.dumps(cell.get("outputs", []), sort_keys=True))


def _primaries(old: nbformat.NotebookNode) -> set[int]:
    """Indexes of the cells that are an exercise's answer or check cell in ``old``.

    JupyterLab copies a cell's metadata with the cell, so a duplicated answer carries the same
    exercise id: the answer is the one nearest above the exercise's (first) check cell, the
    check that first check cell; every other cell marked with the exercise is the learner's.
    """
    cells = old.cells
    primary: set[int] = set()
    seen: set[str] = set()
    for index, cell in enumerate(cells):
        meta = cell.metadata.get("fde", {})
        if meta.get("role") != "check" or meta.get("exercise") in seen:
            continue
        seen.add(meta.get("exercise"))
        primary.add(index)
        above = [
            i
            for i in range(index)
            if cells[i].metadata.get("fde", {}).get("role") == "answer"
            and cells[i].metadata["fde"].get("exercise") == meta.get("exercise")
        ]
        if above:
            primary.add(above[-1])
    for index, cell in enumerate(cells):  # an answer whose check cell the learner deleted
        meta = cell.metadata.get("fde", {})
        if meta.get("role") == "answer" and meta.get("exercise") not in seen:
            seen.add(meta.get("exercise"))
            primary.add(index)
    return primary


def merge(new: nbformat.NotebookNode, old: nbformat.NotebookNode) -> tuple[int, int]:
    """Carry the learner's answers and own cells from ``old`` into ``new`` (in place);
    return (answers kept, cells kept)."""
    written = old.metadata.get("fde_practice", {})
    lesson_ids = set(written.get("lesson_cells", []))
    lesson_sha = written.get("lesson_cells_sha")  # None in copies of format 1
    outputs_sha = written.get("lesson_outputs_sha", {})
    new_ids = {c.id for c in new.cells}
    new_by_id = {c.id: c for c in new.cells}
    by_role = {(c.metadata["fde"]["exercise"], c.metadata["fde"]["role"]): c for c in new.cells if "fde" in c.metadata}
    primary = _primaries(old)
    old_checks = {
        c.metadata["fde"]["exercise"]: c
        for i, c in enumerate(old.cells)
        if i in primary and c.metadata.get("fde", {}).get("role") == "check"
    }
    kept_answers, anchor = 0, None
    carried: dict[str | None, list] = {}  # lesson cell id -> learner cells that followed it
    for index, cell in enumerate(old.cells):
        meta = cell.metadata.get("fde", {})
        role, exercise_id = meta.get("role"), meta.get("exercise")
        edited = role == "answer" and _sha(cell.source) != meta.get("blank")
        target = by_role.get((exercise_id, role))
        if role is not None and index not in primary:  # a cell the learner duplicated: theirs
            carried.setdefault(anchor, []).append(_as_own(cell))
        elif target is not None:  # an exercise the lesson still has
            if edited:
                _take(target, cell)
                if old_checks.get(exercise_id) is not None:
                    _take(by_role[(exercise_id, "check")], old_checks[exercise_id], outputs_only=True)
                kept_answers += 1
            anchor = target.id
        elif role is None and cell.id in lesson_ids:
            now = new_by_id.get(cell.id)
            if lesson_sha is not None and lesson_sha.get(cell.id, _sha(cell.source)) != _sha(cell.source):
                carried.setdefault(cell.id if now is not None else anchor, []).append(_as_own(cell))  # edited
            elif (
                now is not None
                and now.cell_type == "code"
                and now.source == cell.source
                and cell.id in outputs_sha
                and outputs_sha[cell.id] != _outputs_sha(cell)
            ):  # the learner ran this lesson cell: their outputs stay
                _take(now, cell, outputs_only=True)
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
    _unique_ids(new)
    return kept_answers, sum(1 for c in new.cells if c.id not in new_ids)


def _as_own(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of a learner's cell that no longer claims to be part of the lesson."""
    mine = copy.deepcopy(cell)
    mine.metadata.pop("fde", None)
    mine.id = "mine-" + _sha(f"{cell.id}\0{cell.source}")[:8]
    return mine


def _unique_ids(nb: nbformat.NotebookNode) -> None:
    seen: set[str] = set()
    for cell in nb.cells:
        base, n = cell.id, 1
        while cell.id in seen:
            cell.id, n = f"{base[:56]}-{n}", n + 1
        seen.add(cell.id)


def _take(target: nbformat.NotebookNode, cell: nbformat.NotebookNode, outputs_only: bool = False) -> None:
    if not outputs_only:
        target.source = cell.source
    target.outputs = cell.get("outputs", [])
    target.execution_count = cell.get("execution_count")


def lessons_with_exercises(names: list[str] | None = None, settings: Settings | None = None) -> list[Path]:
    settings = settings or get_settings()
    return [p for p in nbs.resolve(names or [], settings) if notebook.find(nbformat.read(p, as_version=4))]


def _pause(point: str) -> None:
    """Tests only: with FDE_PRACTICE_PAUSE_AT=<point>, the writer says so on stderr at that
    point and waits there (to be killed), so a test can kill it at a known moment."""
    if os.environ.get(PAUSE_ENV) == point:
        print(f"paused at {point}", file=sys.stderr, flush=True)
        while True:
            time.sleep(60)


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, step: str = "copy") -> None:
    """Write ``data`` to ``path`` so that ``path`` is the old file or the new one, whole,
    wherever the process stops: a temporary file in the same folder, fsync, rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    half = len(data) // 2
    with open(tmp, "wb") as f:
        f.write(data[:half])
        f.flush()
        _pause(f"{step}-partial")
        f.write(data[half:])
        f.flush()
        os.fsync(f.fileno())
    _pause(f"{step}-written")
    os.replace(tmp, path)
    _pause(f"{step}-renamed")
    _fsync_dir(path.parent)


def read_copy(path: Path) -> nbformat.NotebookNode | None:
    """A practice copy, or None when it cannot be read as a notebook (empty, truncated, ...)."""
    try:
        nb = nbformat.reads(path.read_text(encoding="utf-8", errors="replace"), as_version=4)
    except OSError:
        raise
    except Exception:  # NotJSONError, a schema error, not a notebook at all: all unreadable
        return None
    return nb if isinstance(nb.get("cells"), list) else None


def _backups(dest: Path, name: str) -> list[Path]:
    """The backups of one copy, newest first (also the flat layout of earlier versions)."""
    stem = Path(name).stem
    found = list((dest / BACKUP_DIR / Path(name).parent).glob(f"{stem}.*.ipynb"))
    if Path(name).parent != Path("."):
        found += list((dest / BACKUP_DIR).glob(f"{stem}.*.ipynb"))
    found = [p for p in found if not p.name.endswith(".unreadable.ipynb")]
    return sorted(set(found), key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)


def _backup_path(dest: Path, name: str, suffix: str = "") -> Path:
    folder = dest / BACKUP_DIR / Path(name).parent
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{Path(name).stem}.{dt.datetime.now():%Y%m%d-%H%M%S-%f}{suffix}.ipynb"


def _recover(dest: Path, name: str, target: Path) -> tuple[nbformat.NotebookNode | None, Path | None, Path]:
    """Move an unreadable copy aside (kept as it was) and read its newest readable backup."""
    aside = _backup_path(dest, name, ".unreadable")
    os.replace(target, aside)
    _fsync_dir(aside.parent)
    for backup in _backups(dest, name):
        old = read_copy(backup)
        if old is not None and old.metadata.get("fde_practice", {}).get("lesson") in (None, name):
            return old, backup, aside
    return None, None, aside


def _write_one(dest: Path, name: str, lesson_path: Path, catalog: dict[str, exercises.Exercise]) -> Written:
    target = dest / name
    new = blank_copy(lesson_path, name, catalog)
    count = len(notebook.find(new))
    target.parent.mkdir(parents=True, exist_ok=True)
    stale = list(target.parent.glob(f".{target.name}.*.tmp"))  # left by a writer that was killed
    stale += (dest / BACKUP_DIR / Path(name).parent).glob(f".{target.stem}.*.tmp")
    for path in stale:  # (the lock is held: no other writer is using them)
        path.unlink()
    recovered_from = unreadable_kept = None
    if not target.exists():
        write_atomically(target, nbformat.writes(new).encode(), "copy")
        return Written(name, target, "created", count)
    old = read_copy(target)
    if old is None:
        old, recovered_from, unreadable_kept = _recover(dest, name, target)
        if old is None:  # nothing to recover from: a fresh copy, the unreadable one kept aside
            write_atomically(target, nbformat.writes(new).encode(), "copy")
            return Written(name, target, "recovered", count, unreadable_kept=unreadable_kept)
    else:
        same = old.metadata.get("fde_practice", {}).get("fingerprint") == new.metadata["fde_practice"]["fingerprint"]
        if same:
            return Written(name, target, "unchanged", count)
        write_atomically(_backup_path(dest, name), target.read_bytes(), "backup")
    kept_answers, kept_cells = merge(new, old)
    write_atomically(target, nbformat.writes(new).encode(), "copy")
    action = "updated" if unreadable_kept is None else "recovered"
    return Written(name, target, action, count, kept_answers, kept_cells, recovered_from, unreadable_kept)


def write(
    names: list[str] | None = None,
    dest: Path | None = None,
    settings: Settings | None = None,
    lessons: list[Path] | None = None,
) -> list[Written]:
    """Write or update the practice copies; never loses a learner's answer (see the module's doc)."""
    settings = settings or get_settings()
    dest = Path(dest or default_dir(settings))
    catalog = exercises.load_catalog()
    dest.mkdir(parents=True, exist_ok=True)
    with fasteners.InterProcessLock(str(dest / LOCK)):  # two `fde practice` at once take turns
        marker = json.dumps({"format": FORMAT, "project": str(settings.project_root)}).encode()
        if not (dest / MARKER).is_file() or (dest / MARKER).read_bytes() != marker:
            write_atomically(dest / MARKER, marker, "marker")
        done = []
        for lesson_path in lessons if lessons is not None else lessons_with_exercises(names, settings):
            done.append(_write_one(dest, nbs.display_name(lesson_path, settings), lesson_path, catalog))
    return done


def solution_text(exercise_id: str) -> str:
    """The solution of an exercise, as the lesson's answer cell has it."""
    return exercises.solution(exercise_id)


find_root = progress.find_root
