"""Finding exercises in notebooks: no tags, no markers — the cells say it.

A **check cell** is a code cell whose code calls ``check("ID")``; its **answer cell** is the
code cell just before it. The lesson (the committed notebook) holds the solution in the
answer cell; a practice copy holds the catalogue's blank instead. :func:`problems` lists
what an author got wrong (an answer cell missing, a ``%%sql`` answer without
``--save ID``, an exercise with no catalogue entry, no ``## Recap`` after the exercises).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from ..config import Settings, get_settings
from . import sqlcheck

CHECK_CALL = re.compile(r"""\bcheck\(\s*["']([A-Za-z_][A-Za-z0-9_]*)["']\s*\)""")
RECAP = re.compile(r"^#{2,3}\s+Recap\b", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class Found:
    """An exercise as it sits in a notebook: its id and the indexes of its cells."""

    id: str
    answer: int  # index of the answer cell
    check: int  # index of the check cell


def read(path: Path) -> dict[str, Any]:
    """A notebook as plain JSON (a check runs in the learner's kernel: reading with json
    instead of nbformat spares it nbformat's validator imports, seconds on a busy machine)."""
    return json.loads(Path(path).read_text())


def source(cell: dict[str, Any]) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def find(nb: dict[str, Any]) -> list[Found]:
    """Every exercise of a notebook (JSON or nbformat's node), in order."""
    cells = nb["cells"]
    found = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        match = CHECK_CALL.search(source(cell))
        if not match:
            continue
        answer = next((i for i in range(index - 1, -1, -1) if cells[i]["cell_type"] == "code"), None)
        found.append(Found(match.group(1), -1 if answer is None else answer, index))
    return found


def path_of(exercise, settings: Settings | None = None) -> Path:
    """The lesson notebook an exercise belongs to."""
    path = Path(exercise.notebook)
    if path.is_absolute():
        return path
    return (settings or get_settings()).project_root / "notebooks" / path


def solution(exercise, settings: Settings | None = None) -> str:
    """The answer cell's text in the lesson."""
    path = path_of(exercise, settings)
    nb = read(path)
    for found in find(nb):
        if found.id == exercise.id and found.answer >= 0:
            return source(nb["cells"][found.answer])
    raise LookupError(f"exercise {exercise.id} has no answer cell in {path}")


def problems(path: Path) -> list[str]:
    """Authoring mistakes in a notebook's exercises (empty when fine)."""
    from . import exercises

    nb = read(path)
    cells = nb["cells"]
    found = find(nb)
    if not found:
        return []
    catalog = exercises.load_catalog()
    messages = []
    seen: set[str] = set()
    checks = {f.check for f in found}
    for item in found:
        where = f"exercise {item.id} (cell {item.check})"
        if item.id in seen:
            messages.append(f"{where}: checked twice in this notebook")
        seen.add(item.id)
        if item.answer < 0 or item.answer in checks:
            messages.append(f"{where}: no answer cell before its check cell")
            continue
        exercise = catalog.get(item.id)
        if exercise is None:
            messages.append(f"{where}: not in the catalogue (fdelib/practice/catalog/)")
            continue
        if path.resolve() != path_of(exercise).resolve():
            messages.append(f"{where}: the catalogue puts it in {exercise.notebook}")
        answer = source(cells[item.answer])
        if exercise.kind.startswith("sql") and sqlcheck.saved_name(answer) != item.id:
            messages.append(f"{where}: its answer cell must start with `%%sql --save {item.id}`")
        if exercise.kind.startswith("sql") and sqlcheck.saved_name(exercise.blank) != item.id:
            messages.append(f"{where}: its blank must start with `%%sql --save {item.id}`")
    last_check = max(f.check for f in found)
    if not any(c["cell_type"] == "markdown" and RECAP.search(source(c)) for c in cells[last_check:]):
        messages.append("a notebook with exercises has a `## Recap` markdown cell after its last check")
    return messages
