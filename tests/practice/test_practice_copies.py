"""Practice copies: answers blanked, and a learner's work never lost when they are rewritten."""

import json

import nbformat
import pytest

from fdelib import cli
from fdelib.practice import authoring, copies, exercises, notebook, progress

START = copies.lessons_with_exercises(["00_start_here"])[0]


def answer_cell(nb, exercise_id):
    found = next(f for f in notebook.find(nb) if f.id == exercise_id)
    return nb.cells[found.answer], nb.cells[found.check]


def test_a_practice_copy_blanks_the_answers_and_keeps_the_lesson(tmp_path):
    [written] = copies.write(dest=tmp_path, lessons=[START])
    assert written.action == "created" and written.path == tmp_path / "00_start_here.ipynb"
    nb = nbformat.read(written.path, as_version=4)
    answer, check = answer_cell(nb, "latest_close")
    assert answer.source == exercises.get("latest_close").blank
    assert answer.outputs == [] and check.outputs == [] and answer.execution_count is None
    lesson = nbformat.read(START, as_version=4)
    assert [c.source for c in nb.cells[1:] if "fde" not in c.metadata] == [
        c.source
        for c in lesson.cells
        if c.source
        not in (answer_cell(lesson, "latest_close")[0].source, answer_cell(lesson, "latest_close")[1].source)
    ]
    assert "Practice copy" in nb.cells[0].source
    assert (tmp_path / copies.MARKER).is_file()


def test_running_it_again_keeps_answers_and_own_cells(tmp_path):
    copies.write(dest=tmp_path, lessons=[START])
    path = tmp_path / "00_start_here.ipynb"
    nb = nbformat.read(path, as_version=4)
    answer, check = answer_cell(nb, "latest_close")
    answer.source = "%%sql --save latest_close\nSELECT 1 -- my attempt"
    answer.outputs = [nbformat.v4.new_output("stream", text="mine")]
    check.outputs = [nbformat.v4.new_output("stream", text="my check")]
    mine = nbformat.v4.new_markdown_cell("my notes on the round trip")
    at = next(i for i, c in enumerate(nb.cells) if c.source.startswith("returns.dtypes"))
    nb.cells.insert(at + 1, mine)
    nbformat.write(nb, path)

    # unchanged lesson: the file is not even rewritten
    before = path.read_bytes()
    assert copies.write(dest=tmp_path, lessons=[START])[0].action == "unchanged"
    assert path.read_bytes() == before

    # the lesson changes (a new cell, a new exercise): rebuilt, the learner's work carried over
    lesson = nbformat.read(START, as_version=4)
    lesson.cells.insert(2, nbformat.v4.new_markdown_cell("A new paragraph of the lesson."))
    extra_answer = nbformat.v4.new_code_cell("retries = 5")
    extra_check = nbformat.v4.new_code_cell('check("copies_retries")')
    lesson.cells[-1:-1] = [extra_answer, extra_check]
    changed = tmp_path / "lesson" / "00_start_here.ipynb"
    changed.parent.mkdir()
    nbformat.write(lesson, changed)
    from fdelib.practice import Catalog, Wrong

    Catalog(str(changed)).value(
        "copies_retries",
        name="retries",
        answer=5,
        blank_hint="how many?",
        wrong=[Wrong("retries = 6", "no")],
        passed="yes",
    )
    [written] = copies.write(dest=tmp_path, lessons=[changed])
    assert (written.action, written.kept_answers, written.kept_cells) == ("updated", 1, 1)
    nb = nbformat.read(path, as_version=4)
    answer, check = answer_cell(nb, "latest_close")
    assert answer.source == "%%sql --save latest_close\nSELECT 1 -- my attempt"
    assert answer.outputs[0]["text"] == "mine" and check.outputs[0]["text"] == "my check"
    sources = [c.source for c in nb.cells]
    assert sources[sources.index("my notes on the round trip") - 1].startswith("returns.dtypes")
    assert "A new paragraph of the lesson." in sources
    assert answer_cell(nb, "copies_retries")[0].source == "retries = ...\n"
    assert len(list((tmp_path / ".backup").glob("00_start_here.*.ipynb"))) == 1


def test_an_answer_to_a_dropped_exercise_is_kept(tmp_path):
    copies.write(dest=tmp_path, lessons=[START])
    path = tmp_path / "00_start_here.ipynb"
    nb = nbformat.read(path, as_version=4)
    answer_cell(nb, "latest_close")[0].source = "%%sql --save latest_close\nSELECT 42"
    nbformat.write(nb, path)
    lesson = nbformat.read(START, as_version=4)
    found = next(f for f in notebook.find(lesson) if f.id == "latest_close")
    del lesson.cells[found.answer : found.check + 1]
    lesson.cells[found.answer : found.answer] = [
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell('check("copies_dropped_probe")'),
    ]
    changed = tmp_path / "lesson" / "00_start_here.ipynb"
    changed.parent.mkdir()
    nbformat.write(lesson, changed)
    from fdelib.practice import Catalog, Wrong

    Catalog(str(changed)).value(
        "copies_dropped_probe", name="x", answer=1, blank_hint="?", wrong=[Wrong("x = 2", "no")], passed="yes"
    )
    [written] = copies.write(dest=tmp_path, lessons=[changed])
    assert (written.action, written.kept_answers, written.kept_cells) == ("updated", 0, 1)
    sources = [c.source for c in nbformat.read(path, as_version=4).cells]
    assert "%%sql --save latest_close\nSELECT 42" in sources  # the learner's answer stays
    assert 'check("latest_close")' not in sources  # its check is gone
    assert "x = ...\n" in sources  # the new exercise, blank


def test_cli_practice_solution_and_progress(tmp_path, capsys):
    assert cli.main(["practice", "--dir", str(tmp_path), "00_start_here"]) == 0
    assert "created" in capsys.readouterr().out
    assert cli.main(["practice", "--solution", "latest_close"]) == 0
    assert capsys.readouterr().out.startswith("%%sql --save latest_close\nSELECT DISTINCT ON (symbol)")
    assert cli.main(["practice", "--list"]) == 0
    assert "00_start_here.ipynb: latest_close" in capsys.readouterr().out
    assert cli.main(["progress", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "0/1" in out and "· latest_close" in out
    from fdelib.practice import Outcome

    progress.record(Outcome("latest_close", "wrong", "a hint"), root=tmp_path)
    progress.record(Outcome("latest_close", "passed", "yes"), root=tmp_path)
    assert cli.main(["progress", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "00_start_here.ipynb   1/1   ✔ latest_close" in out
    state = json.loads((tmp_path / progress.STATE).read_text())
    assert state["latest_close"]["attempts"] == 2 and state["latest_close"]["status"] == "passed"
    assert cli.main(["practice", "--solution", "no_such_exercise"]) == 2


def test_checks_outside_a_practice_folder_record_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from fdelib.practice import Outcome

    assert progress.record(Outcome("latest_close", "passed", "yes")) is None
    assert not (tmp_path / progress.STATE).exists()


def test_authoring_problems_are_named(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell('check("latest_close")'),
        nbformat.v4.new_code_cell("SELECT 1"),
        nbformat.v4.new_code_cell('check("latest_close")'),
        nbformat.v4.new_code_cell("x"),
        nbformat.v4.new_code_cell('check("nobody_knows")'),
    ]
    path = tmp_path / "bad.ipynb"
    nbformat.write(nb, path)
    found = " | ".join(authoring.problems(path))
    assert "no answer cell before its check cell" in found
    assert "checked twice" in found
    assert "must start with `%%sql --save latest_close`" in found
    assert "nobody_knows (cell 4): not in the catalogue" in found
    assert "`## Recap` markdown cell after its last check" in found
    with pytest.raises(exercises.ExerciseError):
        copies.write(dest=tmp_path / "out", lessons=[path])


def test_a_solution_can_be_revealed_in_the_notebook():
    from fdelib.practice import solution

    shown = solution("latest_close")._repr_markdown_()
    assert shown.startswith("Solution of `latest_close`:\n\n```sql\n%%sql --save latest_close\nSELECT DISTINCT ON")
