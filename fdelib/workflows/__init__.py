"""Workflow concepts of chapter 11 as small, tested pieces.

* :mod:`.payments` — WOSA: a card payment as a structured workflow on the engine;
* :mod:`.dag` — a workflow as a DAG of tasks: cycle check, order, parallel levels, runs;
* :mod:`.daily_prices` — lesson 1's example DAG (fetch, clean, enrich, validate, load) and a looped one;
* :mod:`.tasks` — idempotent and non-idempotent tasks on PostgreSQL;
* :mod:`.sizing` — right-sized tasks: what a retry costs an oversized task, what tiny tasks cost;
* :mod:`.wms` — the daily-prices DAG on a Conductor engine: fan-out, switch, retries, operators;
* :mod:`.scaling` — scalability measured: 1, 2, 4 workers per task type;
* :mod:`.integration` — a worker written with plain HTTP;
* :mod:`.threads` — conductor-python task runners in threads (workers that start in milliseconds);
* :mod:`.patterns` — SBP and ANBP: synchronous blocking vs asynchronous non-blocking coordination;
* :mod:`.streams` — batch ETL vs stream processing; Lambda vs Kappa on PostgreSQL, like for like;
* :mod:`.sagas` — a trade saga, orchestrated and choreographed, with compensations;
* :mod:`.ml` — an ML workflow whose gates decide what is registered and served, then monitoring,
  drift and retraining;
* :mod:`.calendar` — NYSE sessions: settlement dates, expected sessions.

Each lesson's module declares its notebook's ``PARAMETERS`` (rules of :mod:`fdelib.params`).
"""

from .dag import DAG, CycleError, DependencyError  # noqa: F401
