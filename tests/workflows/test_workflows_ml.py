import pytest

from fdelib.workflows import ml, tasks

AS_OF = "2026-01-02"


@pytest.fixture()
def registry(engine):
    tasks.setup(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE workflows.model_registry")
    return engine


def test_clean_data_registers_one_version_idempotently(registry):
    prices = ml.daily_prices(seed=3, as_of=AS_OF)
    for _ in range(2):
        dag = ml.workflow(registry, prices, seed=3, as_of=AS_OF)
        result = dag.run()
        assert result["register"] == 1
    table = ml.registry(registry)
    assert len(table) == 1 and 0 <= table.loc[0, "accuracy"] <= 1
    assert ml.registry(registry, version=1)["version"].tolist() == [1]
    other = ml.workflow(registry, ml.daily_prices(seed=4, as_of=AS_OF), seed=4, as_of=AS_OF)
    assert other.run()["register"] == 2  # new data → new version


@pytest.mark.parametrize("fault,check", [("gap", "no missing sessions"),
                                         ("negative", "positive prices"),
                                         ("duplicate", "one row per day"),
                                         ("stale", "no stale prices")])
def test_each_quality_fault_blocks_registration(registry, fault, check):
    prices = ml.daily_prices(seed=3, as_of=AS_OF, faults=(fault,))
    dag = ml.workflow(registry, prices, seed=3, as_of=AS_OF)
    with pytest.raises(ml.DataQualityError, match=check):
        dag.run()
    assert [(e.task, e.status) for e in dag.log] == [("check_quality", "failed")]
    assert ml.registry(registry).empty
