import numpy as np
import pandas as pd
import pytest

from fdelib import db, etl
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
        ("load_daily", "done"),
        ("check_quality", "done"),
        ("build_features", "done"),
        ("train", "done"),
        ("evaluate", "done"),
        ("register", "done"),
    ]
    # the input is the ETL's data product: its runs succeeded, and the frame is the etl.daily table
    runs = etl.run_log(registry)
    assert set(ml.etl_months(AS_OF, 13)) <= set(
        runs[(runs["symbol"] == ml.SYMBOL) & (runs["status"] == "succeeded")]["month"]
    )
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
    frame = pd.DataFrame(dict.fromkeys(ml.FEATURES, 0.0), index=range(200))
    frame["target"] = [1] * 60 + [0] * 40 + [1] * 50 + [0] * 50  # training: mostly up; test: half up
    naive = ml.evaluate(Constant(1), frame, 100)
    assert (naive["accuracy"], naive["baseline_accuracy"], naive["min_edge"]) == (0.5, 0.5, 0.1)
    assert naive["beats_baseline"] is False
    lucky = ml.evaluate(Constant(answers=[1] * 50 + [0] * 5 + [1] * 45), frame, 100)  # 0.55: within luck
    assert lucky["accuracy"] == 0.55 and not lucky["beats_baseline"]
    skilled = ml.evaluate(Constant(answers=[1] * 50 + [0] * 15 + [1] * 35), frame, 100)  # 0.65
    assert skilled["accuracy"] == 0.65 and skilled["beats_baseline"]


def test_only_a_model_that_beats_the_baseline_is_served(registry):
    noise = ml.daily_prices(seed=42, as_of=AS_OF, momentum=0.0)  # a random walk: nothing to find
    first = ml.workflow(registry, noise, seed=42, as_of=AS_OF).run()
    assert first["register"] == 1 and not first["evaluate"]["beats_baseline"]
    assert ml.serving_version(registry) is None  # registered, not served
    momentum = ml.daily_prices(seed=42, as_of=AS_OF)
    second = ml.workflow(registry, momentum, seed=42, as_of=AS_OF).run()
    assert second["register"] == 2 and second["evaluate"]["beats_baseline"]
    assert ml.serving_version(registry) == 2
    assert ml.registry(registry)["beats_baseline"].tolist() == [False, True]
    assert ml.workflow(registry, noise, seed=42, as_of=AS_OF).run()["register"] == 1  # idempotent
    assert ml.serving_version(registry) == 2


@pytest.mark.parametrize(
    "fault,check",
    [
        ("gap", "no missing sessions"),
        ("negative", "positive prices"),
        ("duplicate", "one row per day"),
        ("stale", "no stale prices"),
    ],
)
def test_each_quality_fault_blocks_registration(registry, fault, check):
    prices = ml.daily_prices(seed=3, as_of=AS_OF)
    dag = ml.workflow(registry, prices, seed=3, as_of=AS_OF, faults=(fault,))
    with pytest.raises(ml.DataQualityError, match=check):
        dag.run()
    assert [(e.task, e.status) for e in dag.log] == [("load_daily", "done"), ("check_quality", "failed")]
    assert ml.registry(registry).empty
    assert ml.outcome(ml.workflow(registry, prices, seed=3, as_of=AS_OF, faults=(fault,))).startswith(
        f"stopped: data quality gate failed: {check}"
    )


def test_unknown_faults_are_refused():
    with pytest.raises(FdeError, match="unknown fault"):
        ml.with_faults(ml.daily_prices(seed=3, as_of=AS_OF, sessions=300), ("typo",))


def test_reset_empties_the_registry_so_versions_start_at_1(registry):
    prices = ml.daily_prices(seed=3, as_of=AS_OF)
    assert ml.workflow(registry, prices, seed=3, as_of=AS_OF).run()["register"] == 1
    assert ml.workflow(registry, prices, seed=4, as_of=AS_OF).run()["register"] == 2  # new params
    ml.reset(registry)
    assert ml.registry(registry).empty
    assert ml.workflow(registry, prices, seed=4, as_of=AS_OF).run()["register"] == 1


# --- the ETL stand-in's prices: one random walk, not a fresh start every month -------------------


def test_the_stand_ins_walk_continues_from_month_to_month():
    import json

    from fdelib.etl import stub

    def bars(month):
        body = json.loads(stub.render(ml.SYMBOL, month, "60min", 7, frozenset(), extended=True))
        series = body["Time Series (60min)"]
        times = sorted(series)
        return series[times[0]], series[times[-1]]

    opens = []
    for month, following in [("2025-09", "2025-10"), ("2025-10", "2025-11"), ("2025-11", "2025-12")]:
        _, last = bars(month)
        first, _ = bars(following)
        assert first["1. open"] == last["4. close"]  # a month opens where the last one closed
        opens.append(first["1. open"])
    assert len(set(opens)) == 3  # and so each month starts elsewhere


def test_the_daily_product_has_no_monthly_jumps(registry):
    prices = ml.workflow(registry, seed=3, as_of=AS_OF, months=13).run()["load_daily"]
    returns = np.log(prices["close"]).diff().dropna()
    month_starts = prices["day"].dt.month.diff().fillna(0).ne(0).to_numpy()[1:]
    # the first session of a month moves like any other day (no restart at a fixed price)
    assert returns[month_starts].abs().max() < 6 * returns.std()


# --- deployment: serving, monitoring, drift, retraining -------------------------------------------


@pytest.fixture()
def served_model(registry):
    history = ml.daily_prices(seed=42, as_of=AS_OF, sessions=1003)
    result = ml.workflow(registry, history, seed=42, as_of=AS_OF).run()
    assert ml.serving_version(registry) == 1
    return registry, history, result


def test_serving_from_stored_parameters_matches_the_fitted_model(served_model):
    engine, _history, result = served_model
    model, _ = result["train"]
    frame = result["build_features"]
    assert (ml.predict(ml.load_fitted(engine, 1), frame) == model.predict(frame[ml.FEATURES])).all()


def test_serve_records_each_prediction_once(served_model):
    engine, history, _ = served_model
    live = ml.live_prices(history, seed=42, sessions=30)
    served = ml.serve(engine, history, live)
    assert len(served) == 29  # the last day's outcome is not known yet
    assert served["day"].min() > history["day"].max()
    ml.serve(engine, history, live)  # again: the same rows, not twice as many
    stored = db.read_frame("SELECT day, predicted, actual FROM workflows.model_predictions ORDER BY day", engine=engine)
    assert len(stored) == 29 and stored["predicted"].tolist() == served["predicted"].tolist()


def test_psi_is_small_for_the_same_population_and_large_for_another():
    rng = np.random.default_rng(0)
    reference = pd.Series(rng.normal(0, 1, 1_000))
    assert ml.psi(reference, pd.Series(rng.normal(0, 1, 1_000))) < 0.05
    assert ml.psi(reference, pd.Series(rng.normal(0, 3, 60))) > ml.PSI_LIMIT


def test_drift_is_flagged_after_the_change_and_retires_the_served_model(served_model):
    engine, history, _ = served_model
    live = ml.live_prices(history, seed=42)  # the regime changes after 70 sessions
    report = ml.monitor(engine, ml.serve(engine, history, live), history)
    changed = live["day"].iloc[70]
    assert not report.loc[report["day"] < changed, "drifted"].any()
    first = report.loc[report["drifted"], "day"].min()
    assert changed < first
    outcome = ml.retrain_on_drift(engine, history, live, report, seed=42)
    assert outcome["drift flagged on"] == f"{first:%Y-%m-%d}" and outcome["retired version"] == 1
    table = ml.registry(engine).set_index("version")
    assert table.loc[1, "retired_on"] == first.date()
    assert table.loc[2, "data"].endswith(f"to {first:%Y-%m-%d}")  # retrained on the newest data
    assert outcome["serving version"] == (2 if table.loc[2, "beats_baseline"] else None)
    assert ml.serving_version(engine) != 1  # a retired model is never served


def test_without_a_served_model_the_naive_rule_is_deployed_and_watched(registry):
    history = ml.daily_prices(seed=42, as_of=AS_OF, sessions=300, momentum=0.0)
    ml.workflow(registry, history, seed=42, as_of=AS_OF).run()
    assert ml.serving_version(registry) is None
    live = ml.live_prices(history, seed=1, sessions=80)
    served = ml.serve(registry, history, live)
    assert (served["version"] == ml.NAIVE).all()
    assert served["predicted"].nunique() == 1 and served["predicted"].iloc[0] == ml.naive_direction(history)
    report = ml.monitor(registry, served, history)
    targets = ml.features(history)["target"]
    assert report["baseline"].iloc[0] == round(float((targets == ml.naive_direction(history)).mean()), 3)
    assert ml.retrain_on_drift(registry, history, live, report.assign(drifted=True), seed=1)["retired version"] is None


def test_quality_report_needs_no_calendar_beyond_the_data():
    prices = ml.daily_prices(seed=1, as_of="2014-06-30", sessions=300)  # 2,000 sessions back: before 2007
    assert ml.quality_report(prices, "2014-06-30")["passed"].all()
