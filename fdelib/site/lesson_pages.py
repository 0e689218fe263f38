"""A lesson notebook made ready for the website: exercises as exercises, widgets as their
static view, nothing of the machine it ran on.

The notebook keeps its cells and stored outputs (the site never executes anything). What
changes:

* each exercise (found as :mod:`fdelib.practice.notebook` finds them: a ``check("ID")`` cell
  and the answer cell before it) becomes the question in an exercise box, with the command
  to practise it, and the answer and check cells in a solution that starts folded;
* an output that needs a kernel (an ipywidget) keeps its stored static view, with a line
  saying the live one is in JupyterLab;
* papermill's injected-parameters cell is dropped (the ``parameters`` cell stays);
* every text is scrubbed: secrets (as fdelib redacts them) and the machine's absolute paths.
"""

from __future__ import annotations

import copy
import hashlib
import posixpath
import re
from collections.abc import Callable
from typing import Any

from ..practice import notebook

WIDGET = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = (
    '<p class="fde-widget-note">An interactive widget: it needs a running kernel, so the site shows '
    "its stored static view. The live one is in JupyterLab: <code>fde lab</code>, then open this "
    "notebook and run it.</p>"
)
EXERCISE_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\(\s*<?(?P<target>[^)\s>]+)>?\s*\)")


def outside_links(text: str, lesson_path: str) -> str:
    """Markdown links that leave ``notebooks/`` (the practice copies, the library's files) as
    their text and the path, in code: the site holds the lessons only, and such a link would
    be broken there. Links between lessons and to anchors stay links (and are checked)."""

    def replace(match: re.Match[str]) -> str:
        target = match["target"]
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", target):
            return match[0]
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(lesson_path), target.split("#")[0]))
        if not resolved.startswith("../"):
            return match[0]
        return f"{match['text']} (`{resolved.removeprefix('../')}`)"

    return LINK.sub(replace, text)


def _cell_id(*parts: str) -> str:
    return hashlib.sha1("/".join(parts).encode()).hexdigest()[:12]


def markdown(text: str, key: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "id": _cell_id("fde-site", key), "metadata": {}, "source": text}


def practise_line(lesson_path: str, exercise_id: str) -> str:
    """How to practise one exercise: the command and the practice copy's name."""
    return (
        f"**Practise it:** `fde practice {lesson_path.removesuffix('.ipynb')}` writes your copy "
        f"`practice/{lesson_path}`; open it with `fde lab --notebook-dir practice`, answer, then run "
        f'`check("{exercise_id}")`. Stuck? `fde practice --solution {exercise_id}`.'
    )


def scrub_outputs(cell: dict[str, Any], scrub: Callable[[str], str], lesson_path: str) -> None:
    for output in cell.get("outputs", []):
        if "text" in output:
            output["text"] = scrub(notebook.source({"source": output["text"]}))
        for key in ("evalue",):
            if key in output:
                output[key] = scrub(output[key])
        if "traceback" in output:
            output["traceback"] = [scrub(line) for line in output["traceback"]]
        data = output.get("data", {})
        for mime, value in list(data.items()):
            if mime.startswith("text/") or mime in ("image/svg+xml", "application/javascript"):
                data[mime] = scrub(notebook.source({"source": value}))
            if mime == "text/markdown":
                data[mime] = outside_links(data[mime], lesson_path)


def static_widgets(cell: dict[str, Any]) -> bool:
    """Replace widget views by their stored static view and a note; True when there was one."""
    outputs = []
    changed = False
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if WIDGET in data:
            changed = True
            data.pop(WIDGET)
            if not data:
                data["text/plain"] = "(an interactive widget)"
            outputs.append(output)
            outputs.append({"output_type": "display_data", "metadata": {}, "data": {"text/html": WIDGET_NOTE}})
        else:
            outputs.append(output)
    cell["outputs"] = outputs
    return changed


def prepare(nb: dict[str, Any], lesson_path: str, scrub: Callable[[str], str]) -> tuple[dict[str, Any], list[str]]:
    """The site's version of a lesson notebook and the ids of its exercises."""
    nb = copy.deepcopy(nb)
    nb.get("metadata", {}).pop("widgets", None)
    nb.get("metadata", {}).pop("papermill", None)
    cells = nb["cells"]
    for cell in cells:  # timings: they change on every run, the page does not
        for key in ("papermill", "execution"):
            cell.get("metadata", {}).pop(key, None)
    found = {f.answer: f for f in notebook.find(nb) if f.answer >= 0}
    checks = {f.check for f in found.values()}
    out: list[dict[str, Any]] = []
    ids = []
    index = 0
    while index < len(cells):
        cell = cells[index]
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags:
            index += 1
            continue
        cell["source"] = scrub(notebook.source(cell))
        if cell["cell_type"] == "markdown":
            cell["source"] = outside_links(cell["source"], lesson_path)
        if cell["cell_type"] == "code":
            scrub_outputs(cell, scrub, lesson_path)
            static_widgets(cell)
        exercise = found.get(index + 1) if cell["cell_type"] == "markdown" else None
        if exercise is not None and index + 1 not in checks:
            out.extend(exercise_cells(cell, cells, exercise, lesson_path, scrub))
            ids.append(exercise.id)
            index = exercise.check + 1
            continue
        if index in found:  # an answer cell with no question before it: still an exercise
            out.extend(exercise_cells(None, cells, found[index], lesson_path, scrub))
            ids.append(found[index].id)
            index = found[index].check + 1
            continue
        out.append(cell)
        index += 1
    nb["cells"] = out
    return nb, ids


def exercise_cells(
    question: dict[str, Any] | None,
    cells: list[dict[str, Any]],
    found: notebook.Found,
    lesson_path: str,
    scrub: Callable[[str], str],
) -> list[dict[str, Any]]:
    """Question (in an exercise box), then answer and check cells in a folded solution."""
    label = f"ex-{found.id}"
    heading, title, body = "", f"`{found.id}`", ""
    if question is not None:
        # the question is what follows the cell's last heading; the heading and any prose
        # before it stay outside the box (a heading cannot sit inside one)
        lines = notebook.source(question).splitlines()
        last = max((i for i, line in enumerate(lines) if EXERCISE_HEADING.match(line)), default=None)
        if last is not None:
            match = EXERCISE_HEADING.match(lines[last])
            assert match is not None
            heading = outside_links("\n".join(lines[: last + 1]), lesson_path)
            title = match.group(2).strip()
            lines = lines[last + 1 :]
        body = outside_links("\n".join(lines).strip(), lesson_path)
    title = re.sub(r"^Exercise\s*[:\-—]?\s*", "", title) or f"`{found.id}`"
    box = (
        f":::{{exercise-start}} {title}\n:label: {label}\n:::\n\n"
        f"{body}\n\n{practise_line(lesson_path, found.id)}\n\n:::{{exercise-end}}\n:::\n"
    )
    result = []
    if heading:
        result.append(markdown(heading, f"{lesson_path}/{found.id}/heading"))
    result.append(markdown(box, f"{lesson_path}/{found.id}/question"))
    result.append(markdown(f":::{{solution-start}} {label}\n:class: dropdown\n:::\n", f"{found.id}/solution-start"))
    for index in range(found.answer, found.check + 1):
        cell = cells[index]
        if index > found.answer and cell["cell_type"] == "markdown":
            cell["source"] = outside_links(scrub(notebook.source(cell)), lesson_path)
        elif cell["cell_type"] == "code":
            cell["source"] = scrub(notebook.source(cell))
            scrub_outputs(cell, scrub, lesson_path)
            static_widgets(cell)
        result.append(cell)
    result.append(markdown(":::{solution-end}\n:::\n", f"{found.id}/solution-end"))
    return result
