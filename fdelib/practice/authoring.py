"""Authoring checks: what a notebook's author got wrong in its exercises — an answer cell
missing, a ``%%sql`` answer without ``--save ID``, an exercise with no catalogue entry,
no ``## Recap`` after the exercises. (It joins the notebook, read by :mod:`.notebook`, with
the catalogue of :mod:`.registry`.)
"""

from __future__ import annotations

import re
from pathlib import Path

from . import notebook, registry, sqlcheck

RECAP = re.compile(r"^#{2,3}\s+Recap\b", re.MULTILINE)


def problems(path: Path) -> list[str]:
    """Authoring mistakes in a notebook's exercises (empty when fine)."""
    nb = notebook.read(path)
    cells = nb["cells"]
    found = notebook.find(nb)
    if not found:
        return []
    catalog = registry.load_catalog()
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
        if path.resolve() != notebook.path_of(exercise).resolve():
            messages.append(f"{where}: the catalogue puts it in {exercise.notebook}")
        answer = notebook.source(cells[item.answer])
        if exercise.kind.startswith("sql") and sqlcheck.saved_name(answer) != item.id:
            messages.append(f"{where}: its answer cell must start with `%%sql --save {item.id}`")
        if exercise.kind.startswith("sql") and sqlcheck.saved_name(exercise.blank) != item.id:
            messages.append(f"{where}: its blank must start with `%%sql --save {item.id}`")
    last_check = max(f.check for f in found)
    if not any(c["cell_type"] == "markdown" and RECAP.search(notebook.source(c)) for c in cells[last_check:]):
        messages.append("a notebook with exercises has a `## Recap` markdown cell after its last check")
    return messages
