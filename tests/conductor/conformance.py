"""The conformance table: which Conductor behaviour each test pins, and where the local engine
differs on purpose.

A test says what it checks with ``@behaves(feature, local, conductor, source)``; the README's
table (between the ``conformance`` markers) is :func:`table` of every test that says so.
``python -m tests.conductor.conformance`` rewrites it; ``test_readme_table_is_current``
fails when it is stale.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

TARGET = "3.32.1"
ROWS: dict[str, tuple[str, str, str, str]] = {}
MODULES = ("test_decider", "test_expressions", "test_conformance_http", "test_clients", "test_search")
README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN, END = "<!-- conformance:begin -->", "<!-- conformance:end -->"


def behaves(feature: str, local: str, conductor: str = "same", source: str = ""):
    """Register the test's row: ``conductor`` "same" (optionally "same (older versions: …)")
    means the local engine matches the targeted version; anything else is a difference."""

    def mark(test):
        same = conductor.startswith("same")
        ROWS[test.__name__] = (feature, local, local + conductor[4:] if same else conductor, source, not same)
        test.conformance = ROWS[test.__name__]
        return test

    return mark


def table() -> str:
    here = str(Path(__file__).parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    for module in MODULES:
        importlib.import_module(module)
    rows = importlib.import_module("conformance").ROWS  # the registry the tests filled (not __main__'s)
    lines = [f"| feature | local engine | Conductor {TARGET} | test follows |", "| --- | --- | --- | --- |"]
    for feature, local, conductor, source, differs in sorted(rows.values(), key=lambda r: r[0].lower()):
        mark = " ≠" if differs else ""
        lines.append(f"| {feature} | {local}{mark} | {conductor} | {source} |")
    return "\n".join(lines)


def readme_table(text: str) -> str:
    found = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), text, re.S)
    return found.group(1) if found else ""


DIFF_BEGIN, DIFF_END = "<!-- differential:begin -->", "<!-- differential:end -->"


def differential_table() -> str:
    """The differential suite's table (tests/conductor/differential.py)."""
    here = str(Path(__file__).parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    return importlib.import_module("differential").table()


def readme_differential_table(text: str) -> str:
    found = re.search(re.escape(DIFF_BEGIN) + r"\n(.*?)\n" + re.escape(DIFF_END), text, re.S)
    return found.group(1) if found else ""


def write() -> None:
    text = README.read_text()
    for begin, end, made in ((BEGIN, END, table()), (DIFF_BEGIN, DIFF_END, differential_table())):
        if begin not in text:
            raise SystemExit(f"{README} has no {begin} marker")
        new = f"{begin}\n{made}\n{end}"
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _, new=new: new, text, flags=re.S)
    README.write_text(text)


if __name__ == "__main__":
    write()
    print(f"conformance tables written to {README}")
