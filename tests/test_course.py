"""The course map: every notebook's lesson data, minutes, header and footer, and links."""

import itertools
import json

import nbformat
import pytest

from fdelib import course
from fdelib import notebooks as nbs

NOTEBOOKS = nbs.discover()
NAMES = [nbs.display_name(p) for p in NOTEBOOKS]


@pytest.fixture(scope="module")
def lessons():
    return course.lessons()


def test_lessons_follow_the_runners_order_with_neighbours(lessons):
    assert [lesson.path for lesson in lessons] == NAMES
    assert lessons[0].previous is None and lessons[-1].next is None
    for before, after in itertools.pairwise(lessons):
        assert before.next == after.path and after.previous == before.path
    assert lessons[0].folder == "" and lessons[-1].folder == NAMES[-1].split("/")[0]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_every_notebook_has_objectives_and_prerequisites(path):
    data = course.lesson_data(nbformat.read(path, as_version=4), nbs.display_name(path))
    assert 2 <= len(data["objectives"]) <= 4
    assert data["prerequisites"]["lessons"] or data["prerequisites"]["skills"]


def test_prerequisites_are_earlier_lessons(lessons):
    seen: set[str] = set()
    for lesson in lessons:
        assert set(lesson.prerequisites["lessons"]) <= seen, lesson.path
        seen.add(lesson.path)


def test_a_bad_metadata_is_refused_saying_what_to_fix():
    with pytest.raises(course.LessonError, match="objectives must be 2-4"):
        course.lesson_data(
            {"metadata": {"fde": {"lesson": {"title": "t", "objectives": ["one"], "prerequisites": {}}}}}, "x"
        )
    with pytest.raises(course.LessonError, match="is missing"):
        course.lesson_data({"metadata": {}}, "x")


def _stated_minutes(source: str) -> tuple[int, int, int]:
    import re

    found = re.search(r"about \*\*(\d+) min\*\*: (\d+) min reading and running the cells(?:, (\d+) min)?", source)
    assert found, source
    return int(found.group(2)), int(found.group(3) or 0), int(found.group(1))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_the_header_states_the_minutes_the_formula_gives(path, lessons):
    nb = json.loads(path.read_text())
    kinds = course.exercise_kinds(nb)
    minutes = course.minutes_of(nb, kinds)
    assert minutes == next(lesson.minutes for lesson in lessons if lesson.path == nbs.display_name(path))
    header = nb["cells"][0]
    assert course.HEADER in header["metadata"]["tags"]
    assert _stated_minutes("".join(header["source"])) == (minutes.reading, minutes.exercises, minutes.total)
    assert minutes.total == minutes.reading + minutes.exercises and minutes.reading > 0


def test_minutes_follow_the_formula_on_a_known_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("word " * 400),  # 2 min
        nbformat.v4.new_markdown_cell("| a | b |\n|---|---|"),  # 2 words: tables' rules are no words
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell(""),  # empty: not counted
        nbformat.v4.new_code_cell("answer = 3"),  # the exercise's answer cell: not counted as reading
        nbformat.v4.new_code_cell('check("some_value")'),
    ]
    header = nbformat.v4.new_markdown_cell("word " * 1000)
    header.metadata["tags"] = [course.HEADER]  # the generated cells are not counted
    nb.cells.insert(0, header)
    minutes = course.minutes_of(nb, ["compute", "write", "choose"])
    assert minutes == course.Minutes(reading=3, exercises=3 + 6 + 2, total=14)  # ceil(402/200 + 0.5)
    assert course.exercise_kinds(nb, {}) == ["write"]  # no catalogue entry: counted as write
    assert [course.exercise_kind(k) for k in ("choice", "value", "sql", "workflow")] == [
        "choose",
        "compute",
        "write",
        "write",
    ]


def test_the_course_takes_a_realistic_time(lessons):
    total = course.total_minutes(lessons)
    assert 8 * 60 <= total.total <= 12 * 60, f"{total.total} min"


def test_headers_and_footers_are_current():
    stale = course.write(check=True)
    assert stale == [], f"run `python -m fdelib.course --write` (stale: {', '.join(stale)})"


def test_the_generator_is_idempotent_and_places_its_cells(lessons):
    nb = nbformat.read(NOTEBOOKS[1], as_version=4)
    once = course.with_generated_cells(nb, lessons[1], lessons)
    text = nbformat.writes(once)
    twice = course.with_generated_cells(nbformat.reads(text, as_version=4), lessons[1], lessons)
    assert nbformat.writes(twice) == text
    assert [once.cells[0].id, once.cells[-1].id] == [course.HEADER, course.FOOTER]
    assert sum(course.FOOTER in c.metadata.get("tags", []) for c in once.cells) == 1
    footer = once.cells[-1].source
    assert f"[{lessons[0].title}](../00_start_here.ipynb)" in footer
    assert f"[{lessons[2].title}]({lessons[2].path.split('/')[-1]})" in footer


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_every_link_resolves(path):
    assert course.broken_links(path) == []


def test_links_stay_inside_the_course_so_practice_copies_keep_them(tmp_path):
    """Practice copies mirror the folders under practice/: a link that leaves notebooks/ (or
    points at a file that is not a lesson) would break there. Alone in tmp_path, every link of
    every lesson must still resolve."""
    for path in NOTEBOOKS:
        target = tmp_path / "notebooks" / nbs.display_name(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    assert [p for p in NAMES if course.broken_links(tmp_path / "notebooks" / p)] == []


def test_broken_links_and_anchors_are_found(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("## Two settings\n[ok](#Two-settings) [web](https://example.org)"),
        nbformat.v4.new_markdown_cell(
            "[gone](missing.ipynb) [bad anchor](#No-such-heading) [self](a.ipynb#Two-settings)"
        ),
    ]
    nbformat.write(nb, tmp_path / "a.ipynb")
    assert course.broken_links(tmp_path / "a.ipynb") == [
        "cell 1: missing.ipynb (no file missing.ipynb)",
        "cell 1: #No-such-heading (no heading #No-such-heading in a.ipynb)",
    ]


def test_the_map_lists_every_lesson_with_its_minutes(lessons):
    table = course.map_markdown(lessons, practice_prefix="../practice/")
    rows = [r for r in table.splitlines() if r.startswith("| [")]
    assert len(rows) == len(lessons)
    assert "(01_workflows/01_workflow_dags.ipynb)" in rows[1]
    assert "(../practice/01_workflows/01_workflow_dags.ipynb)" in rows[1]
    assert f"**{course.total_minutes(lessons).total} min**" in table


def test_the_home_shows_no_progress_outside_a_practice_folder(lessons, tmp_path):
    assert course.practice_root(tmp_path) is None
    text = course.progress_markdown(lessons, None)
    assert "[practice/00_start_here.ipynb](../practice/00_start_here.ipynb)" in text


def test_the_home_shows_progress_in_practice_copies_linked_to_each_copy(lessons, tmp_path):
    from fdelib.practice import Outcome, copies, progress

    root = tmp_path / "practice"
    copies.write(dest=root, lessons=[NOTEBOOKS[0], NOTEBOOKS[7]])
    progress.record(Outcome("latest_close", "passed", "ok"), root)
    assert course.practice_root(root / "02_bank_db") == root
    text = course.progress_markdown(lessons, course.practice_root(root))
    rows = {r.split("](")[1].split(")")[0]: r for r in text.splitlines() if r.startswith("| [")}
    assert rows["00_start_here.ipynb"].endswith("| 1 | 0 | 0 |")
    assert rows["02_bank_db/01_model.ipynb"].endswith("| 0 | 0 | 3 |")
    assert "no copy yet" in rows["03_etl/01_market_data_etl.ipynb"]
    assert "**1 of 4 exercises pass**" in text
    assert f"About {course.total_minutes(lessons).total - lessons[0].minutes.total} min" in text
    home = root / "00_start_here.ipynb"
    nb = nbformat.read(home, as_version=4)  # the copy's links (map, footer) open the copies
    map_cell = next(c for c in nb.cells if course.MAP in c.metadata.get("tags", []))
    assert "[your copy](../practice/02_bank_db/01_model.ipynb)" in map_cell.source
    assert (home.parent / "../practice/02_bank_db/01_model.ipynb").resolve().is_file()
