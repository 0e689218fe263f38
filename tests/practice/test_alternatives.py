"""Every exercise of the course, judged right on answers its catalogue has never seen.

For each notebook with exercises, one kernel runs its practice copy (the same cells, the same
``check()`` a learner runs) and tries, at each exercise: the blank, every catalogued wrong
answer, the alternatives of :mod:`alternatives` (at least two right answers and two wrong ones
per exercise, written as learners write them and kept here, outside fdelib, so the catalogue
cannot be tuned to them) and the solution. Right answers must pass, wrong ones must not; the
blank and the catalogued ones get their own hints. Around every check the database is read
for what a check could leave behind: roles, schemas, advisory locks, open transactions.
"""

from __future__ import annotations

import os
import time

import pytest
import sqlalchemy as sa
from alternatives import ALTERNATIVES, counted, variants  # (tests/practice is on sys.path)

from fdelib import db
from fdelib.practice import copies, exercises, notebook, progress

LESSONS = copies.lessons_with_exercises()
MINIMUM = 2  # right and wrong alternatives per exercise

# what a check may leave behind, read with the application's role
STATE = {
    "roles": "SELECT rolname FROM pg_roles",
    "schemas": "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%temp\\_%'",
    "advisory locks": "SELECT l.pid || ':' || l.classid || ':' || l.objid || ':' || l.mode "
    "FROM pg_locks l WHERE l.locktype = 'advisory'",
    "open transactions": "SELECT pid || ':' || usename FROM pg_stat_activity "
    "WHERE state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()",
    "learner sessions at work": "SELECT pid || ':' || coalesce(state, '') FROM pg_stat_activity "
    "WHERE usename = 'learner' AND state NOT IN ('idle') AND pid <> pg_backend_pid()",
}


class Snapshot:
    """``snapshot()`` reads the state; ``left_behind(before)`` says what differs, after a few
    short re-reads (another process's statement in flight is not a check's leftover)."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def __call__(self) -> dict[str, frozenset[str]]:
        with self.engine.connect() as conn:
            return {name: frozenset(conn.execute(sa.text(sql)).scalars()) for name, sql in STATE.items()}

    def left_behind(self, before: dict[str, frozenset[str]]) -> str:
        for _ in range(10):
            after = self()
            said = [f"{name}: {sorted(after[name] - before[name])}" for name in STATE if after[name] - before[name]]
            if not said:
                return ""
            time.sleep(0.3)
        return "; ".join(said)


def test_every_exercise_has_alternatives():
    catalog = exercises.load_catalog()
    course = {i for i, e in catalog.items() if not os.path.isabs(e.notebook)}
    numbers = counted()
    assert set(numbers) == course
    assert {i: n for i, n in numbers.items() if min(n) < MINIMUM} == {}
    assert set(ALTERNATIVES) - course == set(), "alternatives for exercises the catalogue does not have"


def test_no_alternative_is_catalogued():
    """An alternative the catalogue knows would prove nothing about answers it does not know."""
    catalog = exercises.load_catalog()
    known = []
    for exercise_id in counted():
        exercise = catalog[exercise_id]
        texts = {exercise.blank.strip(), exercises.solution(exercise_id).strip()}
        texts |= {w.answer.strip() for w in exercise.wrong}
        known += [(exercise_id, v.text) for v in variants(exercise_id) if v.text.strip() in texts]
    assert known == []


@pytest.mark.parametrize("path", LESSONS, ids=[p.name for p in LESSONS])
def test_every_answer_is_judged_right_and_leaves_nothing(path, tmp_path, engine):
    from kernel import try_every_answer

    written = copies.write(dest=tmp_path / "practice", lessons=[path])
    tried = try_every_answer(written[0].path, extra=variants, snapshot=Snapshot(engine))
    catalog = exercises.load_catalog()
    found = {f.id for f in notebook.find(notebook.read(path))}
    expected = sum(len(catalog[i].wrong) + 2 + len(list(variants(i))) for i in found)
    assert len(tried) == expected
    misjudged = [
        f"{t.exercise} [{t.variant}]: expected {t.expected_status}"
        + (f" {t.expected_message!r}" if t.expected_message else "")
        + f", got {t.outcome}"
        + (f"; left behind: {t.left_behind}" if t.left_behind else "")
        for t in tried
        if not t.ok
    ]
    assert not misjudged, f"{len(misjudged)} misjudged:\n" + "\n".join(misjudged)
    # the checks recorded the learner's progress next to the copy: the solution ran last
    state = progress.load(tmp_path / "practice")
    assert found <= {k for k, v in state.items() if v["status"] == "passed"}
    # and nothing of the checks' scratch work is left in the database
    assert (
        db.read_scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'practice\\_check\\_%'", engine=engine)
        == 0
    )
