"""Finding exercises in notebooks: no tags, no markers — the cells say it.

A **check cell** is a code cell whose code calls ``check("ID")``; its **answer cell** is the
code cell just before it. The lesson (the committed notebook) holds the solution in the
answer cell; a practice copy holds the catalogue's blank instead. This module only reads
notebooks (it imports nothing of the exercises): :mod:`.authoring` checks a notebook's
exercises against the catalogue.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from ..config import Settings, get_settings

CHECK_CALL = re.compile(r"""\bcheck\(\s*["']([A-Za-z_][A-Za-z0-9_]*)["']\s*\)""")


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
