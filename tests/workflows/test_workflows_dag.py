import pytest

from fdelib.start import sample_prices
from fdelib.workflows import DAG, CycleError, DependencyError, tasks


def diamond() -> DAG:
    dag = DAG("diamond")
    dag.task("fetch", lambda ctx: 2)
    dag.task("clean", lambda ctx: ctx["fetch"] + 1, after=["fetch"])
    dag.task("enrich", lambda ctx: ctx["fetch"] * 10, after=["fetch"])
    dag.task("load", lambda ctx: ctx["clean"] + ctx["enrich"], after=["clean", "enrich"])
    return dag


def test_order_levels_and_data_passing():
    dag = diamond()
    assert dag.levels() == [["fetch"], ["clean", "enrich"], ["load"]]
    assert dag.order() == ["fetch", "clean", "enrich", "load"]
    assert dag.run()["load"] == 23
    assert dag.run(parallel=True)["load"] == 23
    assert [e.task for e in dag.log] == ["fetch", "clean", "enrich", "load"]


def test_cycle_is_rejected_with_the_loop_named():
    dag = diamond()
    dag.task("audit", lambda ctx: None, after=["load"])
    dag._after["fetch"] = ("audit",)  # fetch now waits for audit, which waits for fetch
    with pytest.raises(CycleError, match=r"has a cycle: .*fetch.*audit|has a cycle: .*audit.*fetch"):
        dag.run()


def test_unknown_upstream_and_duplicate_task():
    dag = DAG("broken")
    dag.task("load", lambda ctx: None, after=["extract"])
    with pytest.raises(DependencyError, match=r"unknown upstream task.*extract"):
        dag.order()
    with pytest.raises(Exception, match="already in workflow"):
        dag.task("load", lambda ctx: None)


def test_failure_stops_downstream_and_is_logged():
    dag = diamond()
    dag._tasks["enrich"] = lambda ctx: 1 / 0
    with pytest.raises(ZeroDivisionError):
        dag.run()
    statuses = {e.task: e.status for e in dag.log}
    assert statuses["enrich"] == "failed" and "load" not in statuses


def test_rerun_of_idempotent_load_changes_nothing(engine):
    tasks.setup(engine)
    tasks.reset_prices(engine)
    prices = sample_prices(seed=1, as_of="2026-01-02", days=5)
    for _ in range(2):
        tasks.load_append(engine, prices)
        tasks.load_upsert(engine, prices)
    state = tasks.table_state(engine)
    assert state.loc["upsert (idempotent)", "rows"] == 10
    assert state.loc["append (not idempotent)", "rows"] == 20
    assert state.loc["append (not idempotent)", "total_close"] == pytest.approx(
        2 * state.loc["upsert (idempotent)", "total_close"]
    )


def test_run_both_loads_starts_empty_and_only_the_upsert_stays_put(engine):
    tasks.setup(engine)
    prices = sample_prices(seed=2, as_of="2026-01-02", days=3)
    tasks.load_append(engine, prices)  # left over from an earlier run: must be emptied first
    state = tasks.run_both_loads(engine, prices, runs=3)
    assert state["rows"].to_dict() == {"append (not idempotent)": 18, "upsert (idempotent)": 6}
    assert state.loc["upsert (idempotent)", "total_close"] == pytest.approx(prices["close"].sum())
