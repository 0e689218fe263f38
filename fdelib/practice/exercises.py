"""The exercises' names in one place (the code lives in the modules below).

The floor plan of :mod:`fdelib.practice`, from the bottom up (a module imports only those
above it in this list)::

    outcome.py        Outcome: what a check found (no imports from the package)
    notebook.py       reading notebooks: check cells, answer cells, the lesson's solution
    sqlcheck.py       the learner's SQL in a rolled-back transaction (learner.py: the role)
    base.py           the base check: Exercise, Wrong, ExerciseError, MISSING, answer_of, run_cell
    sqlkinds.py       SqlQuery, SqlScript, RefusedBy, sql_blank
    pykinds.py        FunctionCases (Case, Raises), Value, Choice
    workflowcheck.py  WorkflowRuns (WorkflowRun): workflows run on the engine
    registry.py       register, load_catalog, get, solution, Catalog
    authoring.py      problems(): a notebook's exercises checked against the catalogue
    hints.py          levelled hints and solutions on demand (``hint(ID, n)``)
    lab.py            what ``fde lab`` opens (readonly.py: the lessons, read-only)
    progress.py       what the learner checked, asked and saw (``fde progress``)
    copies.py         practice copies (``fde practice``, ``fde lab``)

``from fdelib.practice.exercises import SqlQuery`` keeps working; new code imports from the
module that holds the name.
"""

from __future__ import annotations

from .base import MISSING, Exercise, ExerciseError, Wrong, answer_of, run_cell
from .outcome import Outcome
from .pykinds import Case, Choice, FunctionCases, Raises, Value
from .registry import Catalog, get, load_catalog, register, solution
from .sqlkinds import RefusedBy, SqlQuery, SqlScript, sql_blank

__all__ = [
    "MISSING",
    "Case",
    "Catalog",
    "Choice",
    "Exercise",
    "ExerciseError",
    "FunctionCases",
    "Outcome",
    "Raises",
    "RefusedBy",
    "SqlQuery",
    "SqlScript",
    "Value",
    "Wrong",
    "answer_of",
    "get",
    "load_catalog",
    "register",
    "run_cell",
    "solution",
    "sql_blank",
]
