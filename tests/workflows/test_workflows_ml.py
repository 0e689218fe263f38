import pandas as pd
import pytest

from fdelib import etl
from fdelib.errors import FdeError
from fdelib.workflows import ml

AS_OF = "2025-12-31"


@pytest.fixture()
def registry(engine):
    ml.reset(engine)
    return engine


def test_the_workflow_reads_the_etls_daily_product_and_registers_once(registry):
    dag = ml.workflow(registry, seed=3, as_of=AS_OF, months=13)
    result = dag.run()
    assert [(e.task, e.status) for e in dag.log] == [
        ("load_daily", "done"), ("check_quality", "done"), ("build_features", "done"), ("train", "done"),
        ("evaluate", "done"), ("register", "done")]
    # the input is the ETL's data product: its runs succeeded, and the frame is the etl.daily table
    runs = etl.run_log(registry)
    assert set(ml.etl_months(AS_OF, 13)) <= set(runs[(runs["symbol"] == ml.SYMBOL)
                                                    & (runs["status"] == "succeeded")]["month"])
    product = etl.daily(ml.SYMBOL, engine=registry)
    product = product[pd.to_datetime(product["session"]) >= "2024-12-01"]
    loaded = result["load_daily"]
    assert loaded["day"].dt.date.tolist() == product["session"].tolist()
    assert loaded["close"].tolist() == product["close"].tolist()
    assert loaded["day"].min() == pd.Timestamp("2024-12-02") and loaded["day"].max() == pd.Timestamp(AS_OF)
    assert result["check_quality"]["passed"].all()
    assert result["register"] == 1
    # re-running the whole workflow (ETL included) gives the same data, so the same version
    assert ml.workflow(registry, seed=3, as_of=AS_OF, months=13).run()["register"] == 1
    table = ml.registry(registry)
    assert table[["version", "data"]].values.tolist() == [[1, "MLDEMO 2024-12-02 to 2025-12-31"]]
    assert table.loc[0, "beats_baseline"] == result["evaluate"]["beats_baseline"]


def test_etl_months_end_with_the_month_of_as_of():
    assert ml.etl_months("2025-02-14", 3) == ["2024-12", "2025-01", "2025-02"]


class Constant:
    """A fake model that always predicts ``value`` (or follows ``answers``)."""

    def __init__(self, value=1, answers=None):
        self.value, self.answers = value, answers

    def predict(self, frame):
        return self.answers if self.answers is not None else [self.value] * len(frame)


def test_evaluation_compares_with_the_training_majority_and_asks_for_more_than_luck():
    frame = pd.DataFrame({name: 0.0 for name in ml.FEATURES}, index=range(200))
    frame["target"] = [1] * 60 + [0] * 40 + [1] * 50 + [0] * 50   # training: mostly up; test: half up
    naive = ml.evaluate(Constant(1), frame, 100)
    assert (naive["accuracy"], naive["baseline_accuracy"], naive["min_edge"]) == (0.5, 0.5, 0.1)
    assert naive["beats_baseline"] is False
    lucky = ml.evaluate(Constant(answers=[1] * 50 + [0] * 5 + [1] * 45), frame, 100)   # 0.55: within luck
    assert lucky["accuracy"] == 0.55 and not lucky["beats_baseline"]
    skilled = ml.evaluate(Constant(answers=[1] * 50 + [0] * 15 + [1] * 35), frame, 100)  # 0.65
    assert skilled["accuracy"] == 0.65 and skilled["beats_baseline"]


def test_only_a_model_that_beats_the_baseline_is_served(registry):
    noise = ml.daily_prices(seed=42, as_of=AS_OF, momentum=0.0)        # a random walk: nothing to find
    first = ml.workflow(registry, noise, seed=42, as_of=AS_OF).run()
    assert first["register"] == 1 and not first["evaluate"]["beats_baseline"]
    assert ml.serving_version(registry) is None                        # registered, not served
    momentum = ml.daily_prices(seed=42, as_of=AS_OF)
    second = ml.workflow(registry, momentum, seed=42, as_of=AS_OF).run()
    assert second["register"] == 2 and second["evaluate"]["beats_baseline"]
    assert ml.serving_version(registry) == 2
    assert ml.registry(registry)["beats_baseline"].tolist() == [False, True]
    assert ml.workflow(registry, noise, seed=42, as_of=AS_OF).run()["register"] == 1   # idempotent
    assert ml.serving_version(registry) == 2


@pytest.mark.parametrize("fault,check", [("gap", "no missing sessions"),
                                         ("negative", "positive prices"),
                                         ("duplicate", "one row per day"),
                                         ("stale", "no stale prices")])
def test_each_quality_fault_blocks_registration(registry, fault, check):
    prices = ml.daily_prices(seed=3, as_of=AS_OF)
    dag = ml.workflow(registry, prices, seed=3, as_of=AS_OF, faults=(fault,))
    with pytest.raises(ml.DataQualityError, match=check):
        dag.run()
    assert [(e.task, e.status) for e in dag.log] == [("load_daily", "done"), ("check_quality", "failed")]
    assert ml.registry(registry).empty
    assert ml.outcome(ml.workflow(registry, prices, seed=3, as_of=AS_OF, faults=(fault,))).startswith(
        f"stopped: data quality gate failed: {check}")


def test_unknown_faults_are_refused():
    with pytest.raises(FdeError, match="unknown fault"):
        ml.with_faults(ml.daily_prices(seed=3, as_of=AS_OF, sessions=300), ("typo",))


def test_reset_empties_the_registry_so_versions_start_at_1(registry):
    prices = ml.daily_prices(seed=3, as_of=AS_OF)
    assert ml.workflow(registry, prices, seed=3, as_of=AS_OF).run()["register"] == 1
    assert ml.workflow(registry, prices, seed=4, as_of=AS_OF).run()["register"] == 2   # new params
    ml.reset(registry)
    assert ml.registry(registry).empty
    assert ml.workflow(registry, prices, seed=4, as_of=AS_OF).run()["register"] == 1
