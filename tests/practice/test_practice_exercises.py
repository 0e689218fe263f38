"""Every exercise of the course (and the two pilots), tried in a real kernel on its practice
copy: the blank answer gets its hint, every catalogued wrong answer its own hint, and the
solution passes. Exercises are discovered in the notebooks, so new ones are covered as soon
as they are written."""

import os

import nbformat
import pytest

from fdelib.practice import authoring, copies, exercises, notebook, progress

LESSONS = copies.lessons_with_exercises()


@pytest.fixture(scope="module")
def pilot_lesson(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pilot-lesson")
    path = folder / "pilot.ipynb"
    os.environ["FDE_PILOT_NOTEBOOK"] = str(path)  # the pilot catalogue finds its notebook here
    import pilot

    pilot.catalog.notebook = str(path)
    for exercise in exercises.load_catalog().values():
        if exercise.id.startswith("pilot_"):
            exercise.notebook = str(path)
    nbformat.write(pilot.notebook(), path)
    return path


def test_the_course_has_exercises():
    assert any(p.name == "00_start_here.ipynb" for p in LESSONS)


def test_every_catalogued_exercise_is_in_its_notebook():
    catalog = exercises.load_catalog()
    in_notebooks = {f.id for path in LESSONS for f in notebook.find(notebook.read(path))}
    course = {i for i, e in catalog.items() if not os.path.isabs(e.notebook)}  # (tests use absolute paths)
    assert course - in_notebooks == set(), "catalogued exercises that no notebook checks"


@pytest.mark.parametrize("path", LESSONS, ids=[p.name for p in LESSONS])
def test_notebook_exercises_are_well_formed(path):
    assert authoring.problems(path) == []


def _try(lesson, name, tmp_path):
    from kernel import try_every_answer

    written = copies.write(dest=tmp_path / "practice", lessons=[lesson])
    tried = try_every_answer(written[0].path)
    assert tried, f"{name}: no exercise was tried"
    failures = [
        f"{t.exercise} [{t.variant}]: expected {t.expected_status} {t.expected_message!r}, got {t.outcome}"
        for t in tried
        if not t.ok
    ]
    assert failures == []
    # the checks recorded the learner's progress next to the copy: the solution ran last
    state = progress.load(tmp_path / "practice")
    assert {t.exercise for t in tried} <= {k for k, v in state.items() if v["status"] == "passed"}
    return tried


# Every course notebook's blank, catalogued wrong answers and solution are tried in a kernel by
# test_alternatives.py, with the alternatives the catalogue has never seen (one kernel each).


def test_pilot_function_and_workflow_exercises(pilot_lesson, tmp_path):
    assert authoring.problems(pilot_lesson) == []
    tried = _try(pilot_lesson, "pilot", tmp_path)
    assert {t.exercise for t in tried} == {"pilot_isin_check_digit", "pilot_route_order"}
