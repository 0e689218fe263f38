"""Workflow concepts of chapter 11 as small, tested pieces.

* :mod:`.dag` — a workflow as a DAG of tasks: cycle check, order, parallel levels, runs;
* :mod:`.daily_prices` — lesson 1's example DAG (fetch, clean, enrich, validate, load) and a looped one;
* :mod:`.tasks` — idempotent and non-idempotent tasks on PostgreSQL;
* :mod:`.patterns` — synchronous blocking vs asynchronous non-blocking coordination;
* :mod:`.streams` — batch ETL vs stream processing; Lambda vs Kappa on PostgreSQL;
* :mod:`.sagas` — a trade saga, orchestrated and choreographed, with compensations;
* :mod:`.ml` — an ML workflow whose data-quality gate decides whether a model is registered.
"""

from .dag import DAG, CycleError, DependencyError  # noqa: F401
