"""Hints and solutions on demand: levels before any check, recorded for `fde progress`."""

import json

import pytest

from fdelib import cli
from fdelib.practice import Outcome, copies, exercises, hint, hints, progress, solution


@pytest.fixture
def practice(tmp_path, monkeypatch):
    """A practice folder with the copy of 00_start_here, the kernel working in it."""
    copies.write(dest=tmp_path, lessons=copies.lessons_with_exercises(["00_start_here"]))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_levels_go_from_where_to_start_to_the_mistakes():
    exercise = exercises.get("latest_close")
    found = hints.levels(exercise)
    assert found[0].title == "where to start" and found[0].text == exercise.blank_hint
    assert [level.text for level in found[1:-1]] == list(exercise.hint_levels)
    assert found[-1].title == "mistakes to avoid"
    assert set(found[-1].points) == {w.hint for w in exercise.wrong}


def test_every_exercise_has_a_first_hint_and_a_choice_gives_no_answer_away():
    for exercise in exercises.load_catalog().values():
        found = hints.levels(exercise)
        assert found[0].text == exercise.blank_hint, exercise.id
        if exercise.kind == "choice":
            assert all(
                w.hint not in level.text and w.hint not in level.points for level in found for w in exercise.wrong
            )
        else:
            assert found[-1].points, exercise.id


def test_a_hint_says_its_level_and_what_comes_next():
    first = hint("latest_close")
    last = hint("latest_close", first.of)
    assert repr(first).startswith(f"💡 latest_close: hint 1 of {first.of} (where to start).")
    assert 'Next: hint("latest_close", 2).' in repr(first)
    assert 'solution("latest_close") shows the lesson\'s answer' in repr(last)
    assert "<li>" in last._repr_html_() and "<script" not in last._repr_html_()


@pytest.mark.parametrize("level", [0, 99, "2", True])
def test_a_level_out_of_range_says_which_exist(level):
    with pytest.raises(exercises.ExerciseError, match=r'has \d+ hint\(s\): ask for hint\("latest_close", 1\)'):
        hint("latest_close", level)


def test_an_unknown_exercise_names_close_matches():
    with pytest.raises(exercises.ExerciseError, match="did you mean latest_close"):
        hint("latest_closes")


def test_a_catalogue_declares_levels_between_the_first_and_the_mistakes():
    catalog = exercises.Catalog("/nonexistent/levels.ipynb")  # never in a notebook
    exercise = catalog.value(
        "unit_levels",
        name="answer",
        answer=42,
        blank_hint="Count the rows.",
        wrong=[exercises.Wrong("answer = 41\n", "Off by one: the header is not a row.")],
        passed="Yes.",
        hint_levels=["COUNT(*) counts rows.", "Count every row, the last one too."],
    )
    assert [level.text for level in hints.levels(exercise)] == [
        "Count the rows.",
        "COUNT(*) counts rows.",
        "Count every row, the last one too.",
        "What the check says when it recognises a common mistake:",
    ]
    assert hint("unit_levels", 3).text == "Count every row, the last one too."


def test_hints_and_solutions_are_recorded_in_a_practice_copy(practice, capsys):
    hint("latest_close")
    hint("latest_close", 2)
    hint("latest_close", 2)
    solution("latest_close")
    progress.record(Outcome("latest_close", "wrong", "a hint"))
    entry = json.loads((practice / progress.STATE).read_text())["latest_close"]
    assert entry["hints_asked"] == 3 and entry["hint_levels"] == [1, 2]
    assert entry["solutions_shown"] == 1 and entry["attempts"] == 1 and entry["status"] == "wrong"
    [row] = progress.table(practice).to_dict("records")
    assert row["hints"] == 2 and row["solution"] and row["attempts"] == 1
    assert cli.main(["progress", "--dir", str(practice)]) == 0
    out = capsys.readouterr().out
    assert "✗ latest_close (hint 2, solution)" in out
    assert "1 check(s) run, hints asked on 1 exercise(s)" in out and "1 solution(s) shown" in out
    html = progress.render_html(practice)
    assert "<th>hint level</th>" in html and "<td>2</td><td>shown</td>" in html


def test_a_hint_outside_a_practice_folder_records_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert hint("latest_close").level == 1
    assert progress.record_hint("latest_close", 1) is None
    assert progress.record_solution("latest_close") is None
    assert not (tmp_path / progress.STATE).exists()


def test_an_outcome_that_does_not_pass_points_to_the_hints():
    failing = Outcome("latest_close", "failed", "3 rows, expected 2.")
    assert repr(failing).endswith('\nStuck? hint("latest_close") gives a hint.')
    assert "Stuck? hint(&quot;latest_close&quot;) gives a hint." in failing._repr_html_()
    passing = Outcome("latest_close", "passed", "Right.")
    assert "hint(" not in repr(passing) and "hint(" not in passing._repr_html_()
    assert failing.to_dict()["message"] == "3 rows, expected 2."  # (what progress records)
