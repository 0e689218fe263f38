"""Every course notebook follows the conventions that keep nbval and papermill honest."""

import pytest

from fdelib import notebooks as nbs

NOTEBOOKS = nbs.discover()


def test_there_are_notebooks():
    assert any(p.name == "00_start_here.ipynb" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[nbs.display_name(p) for p in NOTEBOOKS])
def test_notebook_follows_conventions(path):
    assert nbs.problems(path) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[nbs.display_name(p) for p in NOTEBOOKS])
def test_notebook_declares_seed_and_clock(path):
    import papermill

    declared = papermill.inspect_notebook(path)
    assert "as_of" in declared, "notebooks take their clock as the `as_of` parameter"


def test_problems_catch_volatile_and_unexecuted_output(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python2"}
    cell = nbformat.v4.new_code_cell("object()", execution_count=1)
    cell.outputs = [
        nbformat.v4.new_output(
            "execute_result", data={"text/plain": "<object object at 0x7f3a2c1b4e90>"}, execution_count=1
        )
    ]
    nb.cells = [cell, nbformat.v4.new_code_cell("print(1)")]
    path = tmp_path / "bad.ipynb"
    nbformat.write(nb, path)
    found = " | ".join(nbs.problems(path))
    assert "no code cell tagged 'parameters'" in found
    assert "kernel is 'python2'" in found
    assert "memory address" in found
    assert "cell 1 has no stored execution" in found


def test_problems_catch_a_parameter_papermill_cannot_read(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('as_of = "2026-01-02"\nlookup = ""   # ("" = the first one)')
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "params.ipynb"
    nbformat.write(nb, path)
    assert any("cannot read parameter(s) lookup" in p for p in nbs.problems(path))


def test_drift_uses_nbvals_rules_and_sanitizers():
    import copy

    import nbformat

    committed = nbformat.v4.new_notebook()
    cells = [
        nbformat.v4.new_code_cell("print(run)", execution_count=1),
        nbformat.v4.new_code_cell("# NBVAL_IGNORE_OUTPUT\nprint(now)", execution_count=2),
        nbformat.v4.new_code_cell("object()", execution_count=3),
        nbformat.v4.new_code_cell("plot()", execution_count=4),
        nbformat.v4.new_code_cell("never_run()"),
    ]
    cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="COMPLETED\n")]
    cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="10:00\n")]
    cells[2].outputs = [
        nbformat.v4.new_output("execute_result", data={"text/plain": "<object at 0x7f00aa>"}, execution_count=3)
    ]
    cells[3].outputs = [nbformat.v4.new_output("display_data", data={"image/png": "AAAA"})]
    committed.cells = cells
    executed = copy.deepcopy(committed)
    executed.cells[1].outputs[0]["text"] = "10:01\n"  # marked: ignored
    executed.cells[2].outputs[0]["data"]["text/plain"] = "<object at 0x7fbbcc>"  # sanitized away
    executed.cells[3].outputs[0]["data"]["image/png"] = "BBBB"  # figures: not compared
    executed.cells[4].outputs = [nbformat.v4.new_output("stream", name="stdout", text="x\n")]  # unrun ref
    patterns = nbs.sanitize_patterns(nbs.notebooks_dir().parent / "nbval_sanitize.cfg")
    assert nbs.drift(executed, committed, patterns) == []
    executed.cells[0].outputs[0]["text"] = "RUNNING\n"
    found = nbs.drift(executed, committed, patterns)
    assert [(d["cell"], d["exec_count"], d["source"]) for d in found] == [(0, 1, "print(run)")]
    assert "-COMPLETED\n+RUNNING" in found[0]["diff"]
