"""The course's notebooks: finding them, their conventions, and keeping them clean.

Conventions every notebook under ``notebooks/`` follows (``tests/test_notebooks.py``
enforces them):

* a code cell tagged ``parameters`` (papermill injects ``-p`` values after it);
* the kernel is ``python3``;
* every code cell has been executed and stored with its output, so ``pytest --nbval``
  compares something (nbval skips cells without an execution count);
* no volatile output: no memory addresses, uuids or wall-clock times. Notebooks take a
  ``seed`` and an ``as_of`` parameter instead of calling ``now()``;
* no error outputs.

``fde run --update`` re-executes notebooks in place and strips papermill's timing
metadata with :func:`clean`, so a re-run changes only what really changed. Every ``fde run``
compares what it executed with the committed outputs the way ``pytest --nbval`` does
(:func:`drift`), so a notebook that ran but printed something else is reported.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import nbformat

from .config import Settings, get_settings
from .errors import NotebookNotFound

KERNEL = "python3"

# Output patterns that differ from run to run. Keep in step with nbval_sanitize.cfg.
VOLATILE = {
    "memory address": re.compile(r"\bat 0x[0-9a-fA-F]{6,}\b"),
    "uuid": re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\b"),
    "pandas Styler id": re.compile(r"#T_[0-9a-f]{5}_"),
}


def notebooks_dir(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).project_root / "notebooks"


def discover(settings: Settings | None = None) -> list[Path]:
    """Every course notebook, in course order (folder and file names start with 00, 01...)."""
    root = notebooks_dir(settings)
    return sorted(
        p for p in root.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and not p.name.startswith("_")
    )


def resolve(names: list[str], settings: Settings | None = None) -> list[Path]:
    """Turn command-line names into notebook paths.

    Accepts a path, a name with or without ``.ipynb`` relative to ``notebooks/``, or a
    course folder (``02_bank_db``) meaning all of its notebooks. Unknown names raise
    :class:`NotebookNotFound` with the closest matches.
    """
    settings = settings or get_settings()
    every = discover(settings)
    if not names:
        return every
    root = notebooks_dir(settings)
    chosen: list[Path] = []
    for name in names:
        matches = _match(name, root, every)
        if not matches:
            known = [p.relative_to(root).with_suffix("").as_posix() for p in every]
            close = difflib.get_close_matches(name.removesuffix(".ipynb"), known, n=3, cutoff=0.4)
            hint = (
                f"; did you mean {', '.join(close)}?"
                if close
                else f"; `fde run --list` shows the {len(known)} notebooks"
            )
            raise NotebookNotFound(f"no notebook named {name!r} under notebooks/{hint}")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def _match(name: str, root: Path, every: list[Path]) -> list[Path]:
    path = Path(name)
    for candidate in (path, root / path, root / f"{name}.ipynb"):
        candidate = candidate.resolve() if candidate.exists() else candidate
        if candidate.is_dir():
            return [p for p in every if candidate in p.resolve().parents]
        if candidate.is_file() and candidate.suffix == ".ipynb":
            return [candidate]
    stem = path.name.removesuffix(".ipynb")
    return [p for p in every if p.stem == stem]


def display_name(path: Path, settings: Settings | None = None) -> str:
    """``02_bank_db/01_model.ipynb`` style name, relative to ``notebooks/``."""
    try:
        return Path(path).resolve().relative_to(notebooks_dir(settings).resolve()).as_posix()
    except ValueError:
        return Path(path).name


def parameters_cell(nb: nbformat.NotebookNode) -> int | None:
    """Index of the cell tagged ``parameters``, or None."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return index
    return None


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip what changes on every execution (papermill timings, cell execution times)."""
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)  # widget state holds random model ids
    language = nb.metadata.get("language_info")
    if language:
        nb.metadata["language_info"] = {k: v for k, v in language.items() if k != "version"}
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": KERNEL}
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        tags = [t for t in cell.metadata.get("tags", []) if not t.startswith("papermill-")]
        if tags:
            cell.metadata["tags"] = tags
        else:
            cell.metadata.pop("tags", None)
    return nb


def problems(path: Path) -> list[str]:
    """Every way the notebook at ``path`` breaks the conventions (empty when fine)."""
    nb = nbformat.read(path, as_version=4)
    found = []
    if parameters_cell(nb) is None:
        found.append("no code cell tagged 'parameters'")
    unread = unreadable_parameters(path, nb)
    if unread:
        found.append(
            f"papermill cannot read parameter(s) {', '.join(unread)} (fde run -p would refuse "
            "them): write `name = value  # comment` with no quotes or '=' in the comment"
        )
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    if kernel != KERNEL:
        found.append(f"kernel is {kernel!r}, not {KERNEL!r}")
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        if cell.get("execution_count") is None:
            found.append(f"cell {index} has no stored execution (nbval would skip it)")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append(f"cell {index} stores an error: {output.get('ename')}")
            text = _output_text(output)
            for what, pattern in VOLATILE.items():
                if pattern.search(text):
                    found.append(f"cell {index} output contains a {what}")
    return found


def unreadable_parameters(path: Path, nb: nbformat.NotebookNode) -> list[str]:
    """Names the parameters cell assigns that papermill's inference does not see."""
    import ast

    import papermill

    at = parameters_cell(nb)
    if at is None:
        return []
    try:
        body = ast.parse(nb.cells[at].source).body
    except SyntaxError:
        return ["(the parameters cell is not plain Python)"]
    assigned = {
        target.id
        for node in body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    try:
        seen = papermill.inspect_notebook(str(path))
    except ValueError as exc:  # e.g. no kernel language: papermill cannot run it either
        return [f"(papermill cannot inspect the notebook: {exc})"]
    return sorted(assigned - set(seen))


def _output_text(output: dict) -> str:
    if "text" in output:
        return "".join(output["text"])
    data = output.get("data", {})
    return "".join("".join(v) if isinstance(v, list) else str(v) for k, v in data.items() if k.startswith("text/"))


# --- drift: executed outputs against the committed ones, as nbval compares them ----------------


def sanitize_patterns(path: str | Path | None) -> list[tuple[str, str]]:
    """nbval's (regex, replacement) pairs from a sanitize file such as ``nbval_sanitize.cfg``."""
    from nbval.plugin import get_sanitize_patterns

    if not path or not Path(path).exists():
        return []
    return get_sanitize_patterns(Path(path).read_text())


def drift(
    executed: nbformat.NotebookNode, committed: nbformat.NotebookNode, patterns: list[tuple[str, str]]
) -> list[dict]:
    """The code cells whose executed outputs differ from the committed ones, by nbval's rules.

    What ``pytest --nbval`` would flag, without a second execution: the same sanitizers
    (``patterns``), the same cells (those with a stored execution and no ``NBVAL_SKIP`` or
    ``NBVAL_IGNORE_OUTPUT`` marker), the same output keys compared (figures and widget ids
    are not). Each difference: ``{"cell", "exec_count", "source", "diff"}`` (``cell`` as
    ``fde run`` counts cells: the index in the notebook). Both notebooks must have the same
    cells (papermill run without parameters).
    """
    from nbval.plugin import coalesce_streams, find_comment_markers, find_metadata_tags

    found = []
    comparison = _Comparison(patterns)
    pairs = zip(executed.cells, committed.cells, strict=False)  # a differing count is reported below
    for index, (ran, ref) in enumerate(pairs):
        if ref.cell_type != "code" or ran.cell_type != "code":
            continue
        options = {"check": True, **dict(find_metadata_tags(ref.metadata)), **dict(find_comment_markers(ref.source))}
        if options.get("skip") or not options.get("check") or ref.get("execution_count") is None:
            continue
        test = coalesce_streams([nbformat.from_dict(o) for o in ran.get("outputs", [])])
        reference = coalesce_streams([nbformat.from_dict(o) for o in ref.get("outputs", [])])
        if not comparison.compare_outputs(test, reference):
            first = (ref.source.strip().splitlines() or [""])[0]
            found.append(
                {
                    "cell": index,
                    "exec_count": ref.get("execution_count"),
                    "source": first[:80],
                    "diff": "\n".join(comparison.comparison_traceback)[-3000:],
                }
            )
    if len(executed.cells) != len(committed.cells):
        found.append(
            {
                "cell": None,
                "exec_count": None,
                "source": "",
                "diff": f"{len(executed.cells)} cells ran, {len(committed.cells)} are committed",
            }
        )
    return found


class _Comparison:
    """nbval's own output comparison (``IPyNbCell.compare_outputs``), outside pytest: the few
    attributes it reads from its test item, and a plain-text diff where nbval asks pytest."""

    SKIP = (
        "metadata",
        "traceback",
        "prompt_number",
        "output_type",
        "name",
        "execution_count",
        "application/vnd.jupyter.widget-view+json",
        "image/png",
        "image/jpeg",
    )  # nbval's defaults

    def __init__(self, patterns: list[tuple[str, str]]):
        import types

        from nbval.plugin import nocolors

        self.colors = nocolors
        self.parent = types.SimpleNamespace(skip_compare=self.SKIP, sanitize_patterns=dict(patterns))
        self.patterns = [(re.compile(regex), replace) for regex, replace in patterns]
        self.comparison_traceback: list[str] = []

    def compare_outputs(self, test: list, reference: list) -> bool:
        from nbval.plugin import IPyNbCell

        return IPyNbCell.compare_outputs(self, test, reference)

    def sanitize(self, value):
        if not isinstance(value, str):
            return value
        for regex, replace in self.patterns:
            value = regex.sub(replace, value)
        return value

    def format_output_compare(self, key: str, left, right) -> None:
        lines = difflib.unified_diff(
            str(left).splitlines(), str(right).splitlines(), "committed", "this run", lineterm="", n=1
        )
        self.comparison_traceback.append(f"{key}:\n" + "\n".join(list(lines)[2:40]))
