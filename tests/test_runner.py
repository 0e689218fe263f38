"""fde run: parameters, notebook names, planning, failures that name the cell, the report."""

import json
from pathlib import Path

import nbformat
import pytest

from fdelib import config, runner
from fdelib import notebooks as nbs
from fdelib.errors import NotebookNotFound, ParameterError


def write_notebook(path: Path, *sources: str, params: str = "x = 1") -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# test"), cell, *(nbformat.v4.new_code_cell(s) for s in sources)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture()
def project(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    root = tmp_path / "notebooks"
    write_notebook(
        root / "00_intro.ipynb", "print(x * 2)", "import matplotlib.pyplot as plt; plt.plot([1, 2]); plt.show()"
    )
    write_notebook(root / "02_bank_db" / "01_model.ipynb", "y = x + 1", "print(y)")
    write_notebook(root / "02_bank_db" / "02_query.ipynb", "print('fine')")
    write_notebook(
        root / "03_etl" / "01_fetch.ipynb",
        "print(x)",
        "raise ValueError('bad bar at 10:35')",
        params="x = 1\nsymbol = 'IBM'",
    )
    return config.Settings.from_env(
        environ={"FDE_HOME": str(tmp_path / "home")}, env_file=Path("/nonexistent"), project_root=tmp_path
    )


def test_parse_parameters_reads_yaml_values():
    assert runner.parse_parameters(["seed=7", "symbols=[IBM, MSFT]", "live=true", "name=x=y"]) == {
        "seed": 7,
        "symbols": ["IBM", "MSFT"],
        "live": True,
        "name": "x=y",
    }
    for bad in ("seed", "=3", "two words=1"):
        with pytest.raises(ParameterError, match="bad parameter"):
            runner.parse_parameters([bad])


def test_resolve_names_paths_and_folders(project):
    every = nbs.discover(project)
    assert [nbs.display_name(p, project) for p in every] == [
        "00_intro.ipynb",
        "02_bank_db/01_model.ipynb",
        "02_bank_db/02_query.ipynb",
        "03_etl/01_fetch.ipynb",
    ]
    assert nbs.resolve(["00_intro"], project) == every[:1]
    assert nbs.resolve(["02_bank_db"], project) == every[1:3]
    assert nbs.resolve(["02_bank_db/02_query.ipynb"], project) == every[2:3]
    with pytest.raises(NotebookNotFound, match=r"no notebook named '02_bank'.*did you mean"):
        nbs.resolve(["02_bank"], project)


def test_plan_keeps_a_folder_in_order_and_separates_folders(project):
    chains = runner.plan(nbs.discover(project))
    names = [[p.name for p in chain] for chain in chains]
    assert names == [["00_intro.ipynb"], ["01_model.ipynb", "02_query.ipynb"], ["01_fetch.ipynb"]]


def test_plan_runs_folders_that_share_tables_in_one_chain():
    """01_workflows' ML lesson loads through fdelib.etl into the etl schema that 03_etl resets."""
    root = Path("/course/notebooks")
    paths = [root / "01_workflows/06_ml.ipynb", root / "02_bank_db/01_model.ipynb", root / "03_etl/01_etl.ipynb"]
    names = [[p.name for p in chain] for chain in runner.plan(paths)]
    assert names == [["06_ml.ipynb", "01_etl.ipynb"], ["01_model.ipynb"]]


def test_plan_starts_the_longest_chain_first_when_durations_are_known(project):
    every = nbs.discover(project)
    last = {every[0]: 5.0, every[1]: 30.0, every[2]: 20.0}  # 03_etl not timed: the average, 18.3
    assert [[p.name for p in c] for c in runner.plan(every, last)] == [
        ["01_model.ipynb", "02_query.ipynb"],
        ["01_fetch.ipynb"],
        ["00_intro.ipynb"],
    ]


def test_last_durations_come_from_the_newest_run_that_passed_each_notebook(project):
    every = nbs.discover(project)
    for stamp, rows in (
        ("20260101-000000", [("00_intro.ipynb", "passed", 9.0), ("03_etl/01_fetch.ipynb", "passed", 7.0)]),
        ("20260102-000000", [("00_intro.ipynb", "passed", 3.0), ("03_etl/01_fetch.ipynb", "failed", 1.0)]),
    ):
        run_dir = project.runs_dir / stamp
        run_dir.mkdir(parents=True)
        (run_dir / "results.json").write_text(
            json.dumps({"notebooks": [{"name": n, "status": st, "duration": d} for n, st, d in rows]})
        )
    assert runner.last_durations(every, project) == {every[0]: 3.0, every[3]: 7.0}


def test_unknown_parameter_is_refused_by_name(project):
    with pytest.raises(ParameterError, match=r"'seeed' is not declared.*x"):
        runner.parameters_for(nbs.discover(project), {"seeed": 1}, project)
    per = runner.parameters_for(nbs.discover(project), {"symbol": "MSFT"}, project)
    assert [v for v in per.values() if v] == [{"symbol": "MSFT"}]


def test_run_reports_passes_failures_and_the_failing_cell(project):
    every = nbs.discover(project)
    outcome = runner.run(every, {"x": 5}, jobs=2, timeout=120, settings=project)
    by_name = {r.name: r for r in outcome.results}
    assert [r.name for r in outcome.results] == [nbs.display_name(p, project) for p in every]
    assert by_name["00_intro.ipynb"].ok and by_name["02_bank_db/02_query.ipynb"].ok
    failed = by_name["03_etl/01_fetch.ipynb"]
    assert failed.status == "failed"
    assert failed.error["cell_index"] == 3  # index in the learner's notebook, not papermill's
    assert "03_etl/01_fetch.ipynb failed in cell 3" in failed.describe_failure()
    assert "ValueError: bad bar at 10:35" in failed.describe_failure()
    # parameters reached the kernel
    executed = nbformat.read(outcome.run_dir / by_name["00_intro.ipynb"].output, 4)
    printed = next(c for c in executed.cells if c.source == "print(x * 2)")
    assert printed.outputs[0]["text"] == "10\n"
    # the report
    index = (outcome.run_dir / "index.html").read_text()
    assert index.index("03_etl/01_fetch.ipynb") < index.index("00_intro.ipynb")  # failures first
    assert "bad bar at 10:35" in index and "3 passed, 1 failed" in index
    assert "<b><code>x=5</code></b>" in index  # a -p value, in bold, with the defaults
    assert by_name["00_intro.ipynb"].defaults == {"x": "1"}
    assert (outcome.run_dir / by_name["00_intro.ipynb"].html).is_file()
    thumb = by_name["00_intro.ipynb"].thumbnail
    assert thumb and (outcome.run_dir / thumb).read_bytes().startswith(b"\x89PNG")
    assert f'src="{thumb}"' in index
    results = json.loads((outcome.run_dir / "results.json").read_text())
    assert results["failed"] == 1 and results["passed"] == 3
    assert (project.runs_dir / "latest").resolve() == outcome.run_dir.resolve()


def test_timeout_stops_the_notebook(project):
    slow = write_notebook(project.project_root / "notebooks" / "slow.ipynb", "import time; time.sleep(30)")
    outcome = runner.run([slow], timeout=3, settings=project)
    assert outcome.results[0].status == "timeout"
    assert outcome.results[0].duration < 25


def test_update_rewrites_in_place_without_volatile_metadata(project):
    path = nbs.resolve(["00_intro"], project)[0]
    outcome = runner.run([path], update=True, settings=project)
    assert outcome.results[0].ok
    nb = nbformat.read(path, 4)
    assert "papermill" not in nb.metadata
    assert all("papermill" not in c.metadata and "execution" not in c.metadata for c in nb.cells)
    assert nb.cells[2].execution_count == 2 and nb.cells[2].outputs[0]["text"] == "2\n"
    assert nbs.problems(path) == []
    with pytest.raises(ParameterError, match="--update"):
        runner.run([path], {"x": 2}, update=True, settings=project)


def test_drift_marks_the_cells_whose_outputs_differ_from_the_committed_ones(project):
    path = write_notebook(
        project.project_root / "notebooks" / "04_drift" / "01_drift.ipynb",
        "print('COMPLETED')",
        "print('same')",
        "{'order': x}",
    )
    nb = nbformat.read(path, 4)
    for index, text in ((2, "COMPLETED\n"), (3, "same\n")):  # committed outputs: one still true...
        nb.cells[index].execution_count = index
        nb.cells[index].outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    nb.cells[2].outputs[0]["text"] = "RUNNING\n"  # ...one that this run will not print
    nb.cells[4].execution_count = 4
    nb.cells[4].outputs = [
        nbformat.v4.new_output("execute_result", data={"text/plain": "{'order': 1}"}, execution_count=4)
    ]
    nbformat.write(nb, path)
    outcome = runner.run([path], settings=project)
    result = outcome.results[0]
    assert result.ok and outcome.failed == [] and outcome.drifted == [result]
    assert [d["cell"] for d in result.drift] == [2]
    assert "-RUNNING" in result.drift[0]["diff"] and "+COMPLETED" in result.drift[0]["diff"]
    assert result.describe_drift() == (
        "04_drift/01_drift.ipynb: outputs differ from the committed ones in cell 2 (In [2])"
    )
    index = (outcome.run_dir / "index.html").read_text()
    assert "1 passed, 0 failed, 1 differ from their committed outputs" in index
    assert "differs: cell 2" in index and "+COMPLETED" in index
    assert json.loads((outcome.run_dir / "results.json").read_text())["drifted"] == 1
    # with -p parameters the outputs are expected to differ: not compared
    again = runner.run([path], {"x": 2}, settings=project).results[0]
    assert again.ok and again.drift is None


def test_notebooks_run_in_fresh_processes_from_the_fork_server(project):
    first = write_notebook(
        project.project_root / "notebooks" / "05_fresh" / "01_set.ipynb",
        "import os, sys; print(os.getppid() != 1, 'fdelib.execution' in sys.modules, 'pandas' in sys.modules)",
        "import numpy; print(numpy.random.randint(10**9))",
        "GLOBAL_STATE = 42",
    )
    second = write_notebook(
        project.project_root / "notebooks" / "05_fresh" / "02_get.ipynb",
        "print('GLOBAL_STATE' in globals())",
        "import numpy; print(numpy.random.randint(10**9))",
    )
    outcome = runner.run([first, second], settings=project)
    assert [r.ok for r in outcome.results] == [True, True]
    out = {r.name: nbformat.read(outcome.run_dir / r.output, 4) for r in outcome.results}
    # a fresh kernel per notebook (the kernel is a process of its own, not the fork server's child)
    assert out["05_fresh/02_get.ipynb"].cells[2].outputs[0]["text"] == "False\n"
    # forked from the fork server: pandas already imported, the runner's own modules not there
    assert out["05_fresh/01_set.ipynb"].cells[2].outputs[0]["text"] == "True False True\n"
    # each kernel's own random state (NumPy's legacy global one included)
    assert (
        out["05_fresh/01_set.ipynb"].cells[3].outputs[0]["text"]
        != out["05_fresh/02_get.ipynb"].cells[3].outputs[0]["text"]
    )
