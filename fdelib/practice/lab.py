"""What ``fde lab`` opens: the learner's practice copies, or the lessons with their solutions.

* ``fde lab`` first creates or refreshes the practice copies (through :mod:`.copies`, which
  never overwrites an answer or a cell the learner added), then opens JupyterLab on them,
  at the course home (``00_start_here.ipynb``).
* ``fde lab --solutions`` opens the lessons under ``notebooks/`` — every answer filled in —
  **read-only**: :class:`.readonly.ReadOnlyLessons` tells JupyterLab the files are not writable (it
  shows "read-only" and disables Save) and refuses a save that gets through anyway, so the
  committed lessons that ``make run`` and nbval use stay as they are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from ..config import Settings, get_settings
from . import copies

HOME = "00_start_here.ipynb"
READ_ONLY_SUMMARY = (
    'the lessons with their solutions, read-only (JupyterLab shows "read-only" and will not save); '
    "practise in your copies: `fde lab`"
)
READ_ONLY_MANAGER = "fdelib.practice.readonly.ReadOnlyLessons"  # (imports jupyter_server: named, not imported)


@dataclasses.dataclass(frozen=True)
class Opening:
    """What JupyterLab opens: its root folder, the notebook it starts on, server options."""

    root: Path
    start: str | None  # a path relative to root, or None for the file browser
    options: tuple[str, ...] = ()
    summary: str = ""  # what was done first, for the terminal

    def arguments(self) -> list[str]:
        arguments = [f"--ServerApp.root_dir={self.root}", *self.options]
        if self.start:
            arguments.append(f"--LabApp.default_url=/lab/tree/{self.start}")
        return arguments


def practice(dest: Path | None = None, settings: Settings | None = None, say: Callable[[str], None] = print) -> Opening:
    """Create or refresh every practice copy in ``dest`` (default ``practice/``); open them."""
    settings = settings or get_settings()
    dest = Path(dest or copies.default_dir(settings))
    say(f"practice copies in {dest}: creating or refreshing them (your answers and cells are kept)")
    written = copies.write(dest=dest, settings=settings)
    counts: dict[str, int] = {}
    for item in written:
        counts[item.action] = counts.get(item.action, 0) + 1
        if item.action != "unchanged":
            kept = (
                f", your {item.kept_answers} answer(s) and {item.kept_cells} cell(s) kept"
                if item.kept_answers or item.kept_cells
                else ""
            )
            say(f"  {item.action:<9} {item.lesson}{kept}")
    summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))
    start = HOME if (dest / HOME).exists() else None
    return Opening(
        dest,
        start,
        summary=f'{len(written)} practice copies ({summary}); `hint("ID")` in a cell gives a hint, '
        "`fde progress` shows what passes, `fde lab --solutions` opens the lessons with their answers",
    )


def solutions(settings: Settings | None = None) -> Opening:
    """The lessons with their solutions, read-only."""
    settings = settings or get_settings()
    return Opening(
        settings.project_root / "notebooks",
        HOME,
        options=(f"--ServerApp.contents_manager_class={READ_ONLY_MANAGER}",),
        summary=READ_ONLY_SUMMARY,
    )


def folder(root: Path) -> Opening:
    """Any folder, opened as it is (``fde lab --notebook-dir``)."""
    return Opening(Path(root), None)
