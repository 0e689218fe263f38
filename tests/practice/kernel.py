"""Run a practice copy in a real kernel, trying every exercise's blank, catalogued wrong
answers and solution in its answer cell, as a learner would type them.

One kernel per notebook: cells run in order; at each exercise the answer cell is replaced
by each variant in turn and the check cell runs after it; the solution goes last, so the
cells after it see a right answer (as in the lesson).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import nbformat
from jupyter_client.manager import start_new_kernel

from fdelib.practice import exercises, notebook


@dataclasses.dataclass
class Tried:
    exercise: str
    variant: str  # "blank", "wrong 1", ..., "solution", "right alternative 1", "wrong alternative 1"
    expected_status: str  # "not passed": any verdict but "passed" and "blank" (an uncatalogued mistake)
    expected_message: str | None  # None: any message
    outcome: dict | None  # what the check said (fdelib.practice.last_outcome)
    left_behind: str = ""  # what the check left in the database (see ``snapshot``), if anything

    @property
    def ok(self) -> bool:
        if self.outcome is None or self.left_behind:
            return False
        if self.expected_status == "not passed":
            return self.outcome["status"] in ("wrong", "failed") and bool(self.outcome["message"])
        return self.outcome["status"] == self.expected_status and self.expected_message in (
            None,
            self.outcome["message"],
        )


class CellFailed(AssertionError):
    pass


class Kernel:
    def __init__(self, cwd: Path, timeout: float = 180):
        self.manager, self.client = start_new_kernel(kernel_name="python3", cwd=str(cwd))
        self.timeout = timeout

    def run(self, code: str, allow_error: bool = False) -> list[str]:
        """Execute ``code``; its text outputs. Raises CellFailed with the error, unless
        ``allow_error`` (a wrong answer may fail: the learner sees why, then checks)."""
        texts: list[str] = []

        def hook(msg):
            content = msg["content"]
            if msg["msg_type"] == "stream":
                texts.append(content["text"])
            elif msg["msg_type"] in ("execute_result", "display_data"):
                texts.append(content["data"].get("text/plain", ""))
            elif msg["msg_type"] == "error":
                texts.append(f"{content['ename']}: {content['evalue']}")

        reply = self.client.execute_interactive(code, timeout=self.timeout, output_hook=hook)
        self.last_ok = reply["content"]["status"] == "ok"
        if reply["content"]["status"] != "ok" and not allow_error:
            raise CellFailed(
                f"{reply['content'].get('ename')}: {reply['content'].get('evalue')}\nin cell:\n{code[:400]}"
            )
        return texts

    def value(self, expression: str):
        out = self.run(f"import json as _json\nprint(_json.dumps({expression}))")
        return json.loads("".join(out).strip().splitlines()[-1])

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@dataclasses.dataclass(frozen=True)
class Variant:
    """An answer to try that the catalogue does not know: right (must pass) or not."""

    text: str
    right: bool


def try_every_answer(copy: Path, extra=None, snapshot=None) -> list[Tried]:
    """Run the practice copy at ``copy``; what each exercise's check said to each variant.

    ``extra(exercise_id)`` gives more variants (:class:`Variant`) to try after the catalogued
    ones; ``snapshot()`` reads what a check could leave behind (roles, schemas, locks,
    sessions), before and after each check cell: a difference is a failure of that variant."""
    nb = nbformat.read(copy, as_version=4)
    found = notebook.find(nb)
    by_answer = {f.answer: f for f in found}
    checks = {f.check for f in found}
    catalog = exercises.load_catalog()
    kernel = Kernel(copy.parent)
    tried: list[Tried] = []
    try:
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or index in checks:
                continue
            if index not in by_answer:
                kernel.run(cell.source)
                continue
            item = by_answer[index]
            exercise = catalog[item.id]
            assert cell.source == exercise.blank, f"{item.id}: the practice copy's answer is not the blank"
            variants = [("blank", cell.source, "blank", exercise.blank_hint)]
            variants += [(f"wrong {n}", w.answer, "wrong", w.hint) for n, w in enumerate(exercise.wrong, 1)]
            more = list(extra(item.id)) if extra else []
            right, wrong = [v for v in more if v.right], [v for v in more if not v.right]
            variants += [(f"right alternative {n}", v.text, "passed", None) for n, v in enumerate(right, 1)]
            variants += [(f"wrong alternative {n}", v.text, "not passed", None) for n, v in enumerate(wrong, 1)]
            variants.append(("solution", exercises.solution(item.id), "passed", exercise.passed))
            for variant, text, status, message in variants:
                kernel.run(text, allow_error=variant != "solution")
                before = snapshot() if snapshot else None
                said = kernel.run(nb.cells[item.check].source, allow_error=True)
                checked = kernel.last_ok
                left = snapshot.left_behind(before) if snapshot else ""
                outcome = kernel.value(f"__import__('fdelib.practice').practice.last_outcome({item.id!r})")
                if not checked:  # the check itself raised: never a verdict
                    outcome = {"status": "error", "message": "".join(said)[-500:]}
                tried.append(Tried(item.id, variant, status, message, outcome, left))
    finally:
        kernel.close()
    return tried
