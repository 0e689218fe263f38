"""The check kinds, one by one, in-process: what passes, what is blank, which catalogued
wrong answer is recognised, and the hint for an uncatalogued one."""

import pandas as pd
import pytest

from fdelib.practice import Case, Catalog, Probe, Raises, Wrong, exercises, sqlcheck

catalog = Catalog("/nonexistent/unit.ipynb")  # these exercises are never in a notebook

LUHN = catalog.function(
    "unit_double",
    name="double",
    cases=[Case((2,), 4), Case((0.5,), 1.0), Case((None,), Raises(TypeError))],
    blank="def double(x):\n    ...\n",
    blank_hint="write double",
    wrong=[Wrong("def double(x):\n    return x + x if isinstance(x, int) else 1.0\n", "only ints")],
    passed="ok",
)

VALUE = catalog.value(
    "unit_retries",
    name="retries",
    answer=5,
    tolerance=0,
    blank_hint="how many?",
    wrong=[Wrong("retries = 6\n", "the first try is not a retry")],
    passed="five",
)

CHOICE = catalog.choice(
    "unit_kappa",
    name="architecture",
    options={"A": "Lambda", "B": "Kappa"},
    correct="B",
    hints={"A": "Lambda keeps two code paths"},
    blank_hint="pick one",
    passed="one path",
)

QUERY = catalog.sql_query(
    "unit_top",
    fixture="CREATE TABLE t (k text, v int); INSERT INTO t VALUES ('a', 1), ('b', 3), ('c', 2);",
    reference="SELECT k, v FROM t ORDER BY v DESC LIMIT 2",
    blank_hint="query t",
    wrong=[Wrong("%%sql --save unit_top\nSELECT k, v FROM t ORDER BY v LIMIT 2", "DESC")],
    passed="top two",
)

SCRIPT = catalog.sql_script(
    "unit_positive",
    probes=[
        Probe("INSERT INTO amounts VALUES (5)", "accepted", "a positive amount"),
        Probe("INSERT INTO amounts VALUES (-5)", "refused", "a negative amount"),
        Probe("INSERT INTO amounts VALUES (NULL)", "refused", "a missing amount"),
        Probe("SELECT count(*) AS n FROM amounts", "accepted", "the rows kept"),
    ],
    reference="CREATE TABLE amounts (amount numeric NOT NULL CHECK (amount > 0))",
    blank_hint="create the table",
    wrong=[
        Wrong(
            "%%sql --save unit_positive\nCREATE TABLE amounts (amount numeric CHECK (amount > 0))",
            "CHECK lets NULL through: add NOT NULL",
        )
    ],
    passed="refused",
)


def test_function_on_test_vectors():
    assert LUHN.check({"double": lambda x: x * 2}).status == "passed"
    assert LUHN.check({}).status == "blank"
    exec(LUHN.blank, ns := {})
    assert LUHN.check(ns).message == "write double"
    exec(LUHN.wrong[0].answer, ns := {})
    assert (LUHN.check(ns).status, LUHN.check(ns).message) == ("wrong", "only ints")
    outcome = LUHN.check({"double": lambda x: x * 3})
    assert outcome.status == "failed" and outcome.message == "double(2) returned 6; expected 4."
    outcome = LUHN.check({"double": lambda x: "4"})
    assert outcome.message == "double(2) returned '4'; expected 4."


def test_value_and_choice():
    assert VALUE.check({"retries": 5}).passed
    assert VALUE.check({"retries": ...}).status == "blank"
    assert VALUE.check({"retries": 6}).message == "the first try is not a retry"
    assert VALUE.check({"retries": 9}).status == "failed"
    assert CHOICE.check({"architecture": "b"}).passed
    assert CHOICE.check({"architecture": "Kappa"}).passed
    assert CHOICE.check({"architecture": "A"}).message == "Lambda keeps two code paths"
    assert CHOICE.check({"architecture": "Z"}).message == "'Z' is not one of the options (A, B)."
    assert CHOICE.check({}).status == "blank"


def test_a_choice_needs_a_hint_for_every_wrong_option():
    with pytest.raises(exercises.ExerciseError, match="missing: C"):
        Catalog("x.ipynb").choice(
            "unit_bad",
            name="a",
            options={"A": "1", "B": "2", "C": "3"},
            correct="A",
            hints={"B": "no"},
            blank_hint="",
            passed="",
        )


def test_every_exercise_catalogues_a_wrong_answer():
    with pytest.raises(exercises.ExerciseError, match="at least one plausible wrong answer"):
        Catalog("x.ipynb").value("unit_none", name="a", answer=1, blank_hint="", wrong=[], passed="")


def test_sql_query_on_its_fixture(engine, monkeypatch):
    saved = {}
    monkeypatch.setattr("fdelib.practice.sqlcell.saved", lambda name: saved.get(name))
    assert QUERY.check({}).status == "blank"
    saved["unit_top"] = "SELECT k, v FROM t ORDER BY v DESC LIMIT 2"
    assert QUERY.check({}).passed
    saved["unit_top"] = "SELECT k, v FROM t ORDER BY v LIMIT 2"
    assert QUERY.check({}).message == "DESC"
    saved["unit_top"] = "SELECT k FROM t"
    assert QUERY.check({}).message == "Your result has columns (k): missing column(s) v (name them with AS)."
    saved["unit_top"] = "SELECT k, v FROM t ORDER BY k LIMIT 2"
    assert QUERY.check({}).message == "Row 1 differs: your query gives ('a', 1), expected ('b', 3)."
    saved["unit_top"] = "SELECT k, v FROM t ORDER BY k DESC LIMIT 2"
    assert QUERY.check({}).message == "Right rows, wrong order: check your ORDER BY."
    saved["unit_top"] = sqlcheck.strip_magic(exercises.sql_blank("unit_top"))
    assert QUERY.check({}).status == "blank"


def test_sql_script_by_what_it_accepts_and_refuses(engine, monkeypatch):
    saved = {}
    monkeypatch.setattr("fdelib.practice.sqlcell.saved", lambda name: saved.get(name))
    saved["unit_positive"] = "CREATE TABLE amounts (amount numeric NOT NULL, CHECK (amount > 0))"
    assert SCRIPT.check({}).passed
    saved["unit_positive"] = "CREATE TABLE amounts (amount numeric CHECK (amount > 0))"
    assert SCRIPT.check({}).message == "CHECK lets NULL through: add NOT NULL"
    saved["unit_positive"] = "CREATE TABLE amounts (amount numeric)"
    assert SCRIPT.check({}).message == "a negative amount: your SQL accepted it; it should be refused."
    saved["unit_positive"] = (
        "CREATE TABLE amounts (amount numeric NOT NULL CHECK (amount > 0)); INSERT INTO amounts VALUES (1)"
    )
    assert SCRIPT.check({}).message == ("the rows kept: accepted, but it returned ((2,),), expected ((1,),).")


def test_frames_compare_with_a_sentence():
    a = pd.DataFrame({"x": [1, 2], "y": ["p", "q"]})
    assert sqlcheck.compare_frames(a, a.copy()) is None
    assert sqlcheck.compare_frames(a[::-1].reset_index(drop=True), a) == "Right rows, wrong order: check your ORDER BY."
    assert sqlcheck.compare_frames(a[::-1].reset_index(drop=True), a, ordered=False) is None
    assert sqlcheck.compare_frames(a[["y", "x"]], a).startswith("Right columns, wrong order")
    assert sqlcheck.compare_frames(a.head(1), a) == "Your query returns 1 row(s); expected 2."


def test_sql_helpers():
    assert sqlcheck.saved_name("%%sql --save latest_close\nSELECT 1") == "latest_close"
    assert sqlcheck.saved_name("%%sql -S q1") == "q1"
    assert sqlcheck.saved_name("SELECT 1") is None
    assert sqlcheck.strip_magic("%%sql --save a\nSELECT 1\n") == "SELECT 1"
    assert sqlcheck.is_blank("-- nothing yet\n")
    assert not sqlcheck.is_blank("SELECT 1")


@pytest.mark.parametrize(
    "sql",
    [
        "COMMIT",
        "rollback; select 1",
        "RESET ROLE",
        "SET ROLE fde",
        "select 1; set session authorization fde",
        "BEGIN; SELECT 1",
        "SET LOCAL ROLE fde",
    ],
)
def test_an_answer_cannot_leave_the_checks_transaction_or_role(sql):
    assert sqlcheck.forbidden(sql) is not None


def test_plpgsql_bodies_are_not_transaction_control():
    body = (
        "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$; "
        "SET LOCAL search_path = practice"
    )
    assert sqlcheck.forbidden(body) is None


def test_unknown_exercise_names_close_matches():
    with pytest.raises(exercises.ExerciseError, match="did you mean latest_close"):
        exercises.get("latest_closes")
