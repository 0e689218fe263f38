"""What a check found: the outcome shown under a check cell (and recorded for ``fde progress``).

It depends on nothing else in :mod:`fdelib.practice`.
"""

from __future__ import annotations

import dataclasses
import html
from typing import ClassVar


@dataclasses.dataclass
class Outcome:
    """What a check found; shown under the check cell (deterministic, for nbval)."""

    exercise: str
    status: str  # "passed", "blank", "wrong" (a catalogued mistake) or "failed"
    message: str

    ICONS: ClassVar[dict[str, str]] = {"passed": "✅", "blank": "✏️", "wrong": "💡", "failed": "❌"}
    TITLES: ClassVar[dict[str, str]] = {
        "passed": "passed",
        "blank": "not answered yet",
        "wrong": "not yet",
        "failed": "not yet",
    }
    COLOURS: ClassVar[dict[str, str]] = {
        "passed": "#17803d",
        "blank": "#8a6d00",
        "wrong": "#b54708",
        "failed": "#b42318",
    }

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def more(self) -> str:
        """Where to go next when it does not pass yet (hints on demand); empty when it passes."""
        return "" if self.passed else f'Stuck? hint("{self.exercise}") gives a hint.'

    def __repr__(self) -> str:
        more = f"\n{self.more}" if self.more else ""
        return f"{self.ICONS[self.status]} {self.exercise}: {self.TITLES[self.status]}. {self.message}{more}"

    def _repr_html_(self) -> str:
        colour = self.COLOURS[self.status]
        return (
            f'<div class="fde-check fde-check-{self.status}" style="border-left: 4px solid '
            f'{colour}; padding: .3rem .7rem; margin: .2rem 0"><strong style="color: {colour}">'
            f"{self.ICONS[self.status]} {html.escape(self.exercise)}: {self.TITLES[self.status]}."
            f"</strong> {html.escape(self.message)}"
            f"{f'<div><em>{html.escape(self.more)}</em></div>' if self.more else ''}</div>"
        )

    def to_dict(self) -> dict[str, str]:
        return {"exercise": self.exercise, "status": self.status, "message": self.message}
