"""The course map the website shows: each lesson's folder, title, objectives, minutes and
prerequisites, in course order.

``fdelib.course`` owns the map (each notebook's ``metadata.fde.lesson``: title, objectives,
prerequisites; minutes estimated from its text and exercises). Where that module is not there
yet, the same facts are read here, defensively, from the notebooks themselves, so the site
never depends on more than the notebooks hold.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from ..practice import notebook

READING_WORDS_PER_MINUTE = 200
MINUTES_PER_EXERCISE = 5
HEADING = re.compile(r"^#\s+(.+)$", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class Lesson:
    path: str  # relative to notebooks/, e.g. 05_refdata/01_security_master.ipynb
    folder: str  # 05_refdata ("" for a notebook at the top)
    title: str
    objectives: list[str]
    prerequisite_lessons: list[str]
    prerequisite_skills: list[str]
    minutes: dict[str, int]  # reading, exercises, total

    @property
    def docname(self) -> str:
        """The page's name on the site: the path without ``.ipynb``."""
        return self.path.removesuffix(".ipynb")


def course_lessons(names: list[str]) -> list[Lesson]:
    """The lessons of ``names`` (paths relative to notebooks/) in course order, from
    ``fdelib.course`` when it is there and knows them, else from the notebooks."""
    try:
        from .. import course

        found = {_rel(getattr(item, "path", "")): item for item in course.lessons()}
    except (ImportError, AttributeError):
        found = {}
    return [_from_course(found[name]) if name in found else None for name in names]  # type: ignore[misc]


def _rel(path: Any) -> str:
    text = Path(str(path)).as_posix()
    return text.split("notebooks/", 1)[1] if "notebooks/" in text else text


def _from_course(item: Any) -> Lesson:
    prereq = getattr(item, "prerequisites", None) or {}
    if not isinstance(prereq, dict):
        prereq = {"lessons": getattr(prereq, "lessons", []), "skills": getattr(prereq, "skills", [])}
    minutes = getattr(item, "minutes", None) or {}
    if not isinstance(minutes, dict):
        minutes = {k: getattr(minutes, k, 0) for k in ("reading", "exercises", "total")}
    path = _rel(item.path)
    return Lesson(
        path=path,
        folder=str(getattr(item, "folder", "") or (path.split("/")[0] if "/" in path else "")),
        title=str(getattr(item, "title", "") or path),
        objectives=[str(o) for o in getattr(item, "objectives", None) or []],
        prerequisite_lessons=[_rel(p) for p in prereq.get("lessons", []) or []],
        prerequisite_skills=[str(s) for s in prereq.get("skills", []) or []],
        minutes={k: int(minutes.get(k, 0) or 0) for k in ("reading", "exercises", "total")},
    )


def from_notebook(path: str, nb: dict[str, Any]) -> Lesson:
    """A lesson's map entry read from its notebook (``metadata.fde.lesson`` where present)."""
    meta = (nb.get("metadata", {}).get("fde") or {}).get("lesson") or {}
    prereq = meta.get("prerequisites") or {}
    title = meta.get("title")
    words = 0
    for cell in nb["cells"]:
        text = notebook.source(cell)
        if cell["cell_type"] == "markdown":
            words += len(text.split())
            if not title and (match := HEADING.search(text)):
                title = match.group(1).strip()
    exercises = len(notebook.find(nb))
    reading = max(1, round(words / READING_WORDS_PER_MINUTE))
    minutes = meta.get("minutes") or {
        "reading": reading,
        "exercises": exercises * MINUTES_PER_EXERCISE,
        "total": reading + exercises * MINUTES_PER_EXERCISE,
    }
    return Lesson(
        path=path,
        folder=path.split("/")[0] if "/" in path else "",
        title=str(title or path),
        objectives=[str(o) for o in meta.get("objectives") or []],
        prerequisite_lessons=[_rel(p) for p in prereq.get("lessons") or []],
        prerequisite_skills=[str(s) for s in prereq.get("skills") or []],
        minutes={k: int(minutes.get(k, 0) or 0) for k in ("reading", "exercises", "total")},
    )


def lessons(notebooks: dict[str, dict[str, Any]]) -> list[Lesson]:
    """The map of ``notebooks`` (``{path relative to notebooks/: notebook JSON}``), in course order."""
    names = sorted(notebooks)
    known = course_lessons(names)
    return [k if k is not None else from_notebook(n, notebooks[n]) for n, k in zip(names, known, strict=True)]
