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
    cell.outputs = [nbformat.v4.new_output("execute_result", data={
        "text/plain": "<object object at 0x7f3a2c1b4e90>"}, execution_count=1)]
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
