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


def write() -> None:
    text = README.read_text()
    new = f"{BEGIN}\n{table()}\n{END}"
    if BEGIN in text:
        text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: new, text, flags=re.S)
    else:
        raise SystemExit(f"{README} has no {BEGIN} marker")
    README.write_text(text)


if __name__ == "__main__":
    write()
    print(f"conformance table written to {README}")
