"""An ML workflow on the ETL's daily data, where data quality and evaluation decide.

    load_daily ─► check_quality ─► build_features ─► train ─► evaluate ─► register

run as a :class:`DAG`. ``load_daily`` runs the market-data ETL of project 2 (:mod:`fdelib.etl`,
through its public ``run_month`` and ``daily``) for the months up to ``as_of`` on its offline
stand-in, and reads the daily data product. The model (a logistic regression on lagged
returns, predicting tomorrow's direction) is deliberately modest: the lesson is the workflow.

Two gates:

* the **quality gate** runs first and fails the workflow on bad data, so nothing downstream —
  above all the registry — ever sees it;
* the **evaluation** compares the model with the naive baseline (always predict the direction
  that was more frequent in the training data) and says whether it beats it by more than luck
  would (two standard errors of the baseline's hit rate over the test days). The model is
  registered either way, with its metrics and that verdict: the registry is the record of what
  was tried on checked data. What is *used* is :func:`serving_version` — the newest model that
  beats its baseline, or none (keep the naive rule).

Registration is idempotent: the same model trained on the same data with the same
parameters is the same version, so re-running the workflow does not mint version 2.

After the workflow, **deployment**: :func:`serve` loads the serving version's fitted parameters
from the registry (JSON, not a pickle) and predicts each new day; :func:`monitor` follows a
performance metric (the hit rate over the last ``WINDOW`` served days, against the model's
baseline) and a data-drift statistic (the population stability index of a feature against its
training distribution); :func:`retrain_on_drift` retires a drifted model and runs the workflow
again on the newest data — whose evaluation decides, as before, whether anything is served.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math

import numpy as np
import pandas as pd
import sqlalchemy as sa

from .. import calendars, db, params
from ..errors import FdeError
from .dag import DAG

MODEL = "direction_logit"
#: population stability index above which a feature has drifted (rule of thumb: below 0.1 stable,
#: 0.1 to 0.25 worth watching, above 0.25 a different population)
PSI_LIMIT = 0.25
WINDOW = 60  # served days the monitor looks back over
DRIFT_FEATURE = "ret_1"  # daily returns: independent from day to day, so 60 days are 60 observations
PSI_BINS = 5  # quintiles of the training distribution: 12 days per bucket when nothing changed
FEATURES = ["ret_1", "ret_2", "ret_5", "vol_10"]
SYMBOL = "MLDEMO"  # the ETL symbol this lesson owns (the ETL lesson's symbols are left alone)
INTERVAL = "30min"  # bars the ETL fetches; the daily product is the same kind of data at any interval


FAULTS = ("gap", "negative", "duplicate", "stale")

#: The parameters of lesson 6 (06_ml_workflow), checked at its top by :func:`fdelib.params.check`.
PARAMETERS = {
    "seed": params.Integer(0),
    "as_of": params.Date("2013-01-01"),
    "months": params.Integer(13, 60, why="the quality gate asks for 250 sessions: 12 full months"),
    "faults": params.ListOf(params.Choice(FAULTS)),
}


class DataQualityError(FdeError):
    """The input data failed a quality check; the message lists which."""


def reset(engine: sa.Engine) -> None:
    """Create the lessons' tables (idempotent) and empty the model registry: a lesson's fresh
    start, so version numbers are the same on a fresh and on a used database."""
    from . import tasks

    tasks.setup(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE workflows.model_registry, workflows.model_predictions")


# --- the data -------------------------------------------------------------------------------


def etl_months(as_of: str, months: int) -> list[str]:
    """The ``months`` calendar months up to and including the month of ``as_of``, oldest first."""
    last = pd.Period(as_of[:7], freq="M")
    return [str(last - back) for back in range(months - 1, -1, -1)]


def etl_daily(
    engine: sa.Engine, as_of: str, months: int = 24, symbol: str = SYMBOL, interval: str = INTERVAL
) -> pd.DataFrame:
    """The ETL's daily data product for ``symbol``: run the pipeline (``fdelib.etl.run_month``:
    fetch → load raw → deduplicate → aggregate daily → export) for each month up to ``as_of``,
    then read the ``etl.daily`` table. The fetch goes to the ETL's offline stand-in whatever
    ``FDE_MODE`` says (a seeded random walk on real NYSE sessions: same data every run, and no
    API quota spent). Each month is idempotent; a month whose product still stands from the same
    answer is not loaded again (``skip_unchanged``: the run is recorded ``unchanged``).

    Returns ``symbol, day, close, volume``, one row per session of the months, up to ``as_of``."""
    from .. import etl
    from ..config import get_settings

    settings = dataclasses.replace(get_settings(), mode="offline")
    client = etl.client(settings)
    chosen = etl_months(as_of, months)
    for month in chosen:
        etl.run_month(
            symbol,
            month,
            interval,
            client=client,
            engine=engine,
            export_to=settings.data_dir / "workflows" / "ml_etl",
            skip_unchanged=True,
        )
    product = etl.daily(symbol, engine=engine)
    day = pd.to_datetime(product["session"])
    keep = (day >= pd.Timestamp(f"{chosen[0]}-01")) & (day <= pd.Timestamp(as_of))
    return pd.DataFrame(
        {
            "symbol": product["symbol"],
            "day": day,
            "close": product["close"],
            "volume": product["volume"].astype("int64"),
        }
    )[keep].reset_index(drop=True)


def with_faults(prices: pd.DataFrame, faults: tuple[str, ...] | list[str] = ()) -> pd.DataFrame:
    """``prices`` damaged the way a broken upstream would: ``"gap"`` (ten sessions missing),
    ``"negative"`` (a bad print), ``"duplicate"`` (a session twice), ``"stale"`` (the same close
    repeated for six days). Positions are fixed fractions of the history: same faults every run."""
    unknown = set(faults) - set(FAULTS)
    if unknown:
        raise FdeError(f"unknown fault(s) {', '.join(sorted(unknown))}; choose from gap, negative, duplicate, stale")
    frame = prices.copy()
    n = len(frame)
    if "gap" in faults:
        frame = frame.drop(frame.index[n // 5 : n // 5 + 10])
    if "negative" in faults:
        frame.loc[frame.index[len(frame) * 2 // 5], "close"] *= -1
    if "duplicate" in faults:
        frame = pd.concat([frame, frame.iloc[[len(frame) * 3 // 5]]])
    if "stale" in faults:
        run = frame.index[len(frame) * 7 // 10 : len(frame) * 7 // 10 + 6]
        frame.loc[run, "close"] = frame.loc[run[0], "close"]
    return frame.sort_values("day", kind="stable").reset_index(drop=True)


def daily_prices(
    seed: int,
    as_of: str,
    sessions: int = 1_000,
    symbol: str = "SYNTH",
    faults: tuple[str, ...] = (),
    momentum: float = 0.25,
) -> pd.DataFrame:
    """*Synthetic* daily closes on NYSE sessions with some ``momentum`` (each day's return leans
    on the day before's): a series a model *can* partly predict, for contrast with the ETL's
    random walk (``momentum=0`` is a random walk too). ``faults`` as in :func:`with_faults`."""
    rng = np.random.default_rng(seed)
    days = calendars.last_sessions(as_of, sessions)
    noise = rng.normal(0.0003, 0.012, size=sessions)
    returns = np.empty(sessions)
    returns[0] = noise[0]
    for t in range(1, sessions):  # momentum: something for the model to find
        returns[t] = momentum * returns[t - 1] + noise[t]
    close = 100 * np.exp(np.cumsum(returns))
    frame = pd.DataFrame(
        {
            "symbol": symbol,
            "day": pd.to_datetime(days),
            "close": close.round(2),
            "volume": rng.integers(1_000, 50_000, size=sessions) * 100,
        }
    )
    return with_faults(frame, faults)


# --- the steps --------------------------------------------------------------------------------


def quality_report(prices: pd.DataFrame, as_of: str) -> pd.DataFrame:
    """One row per check: passed or not, and what was found."""
    expected = set(calendars.between(prices["day"].min(), prices["day"].max()))
    missing = len(expected - set(prices["day"]))
    stale = int((prices["close"].diff() == 0).rolling(4).sum().eq(4).sum())
    checks = [
        ("no missing sessions", missing == 0, f"{missing} missing"),
        ("positive prices", bool((prices["close"] > 0).all()), f"{int((prices['close'] <= 0).sum())} non-positive"),
        (
            "one row per day",
            not prices["day"].duplicated().any(),
            f"{int(prices['day'].duplicated().sum())} duplicates",
        ),
        ("no stale prices (5+ equal closes)", stale == 0, f"{stale} stale runs"),
        ("enough history (>= 250 sessions)", len(prices) >= 250, f"{len(prices)} rows"),
    ]
    return pd.DataFrame(checks, columns=["check", "passed", "found"]).set_index("check")


def check_quality(prices: pd.DataFrame, as_of: str) -> pd.DataFrame:
    report = quality_report(prices, as_of)
    failed = report[~report["passed"]]
    if len(failed):
        raise DataQualityError(
            "data quality gate failed: " + "; ".join(f"{name} ({row.found})" for name, row in failed.iterrows())
        )
    return report


def features(prices: pd.DataFrame) -> pd.DataFrame:
    ret = np.log(prices["close"]).diff()
    frame = pd.DataFrame(
        {
            "day": prices["day"],
            "ret_1": ret,
            "ret_2": ret.shift(1),
            "ret_5": ret.rolling(5).sum(),
            "vol_10": ret.rolling(10).std(),
            "target": (ret.shift(-1) > 0).astype(int),
        }
    )
    return frame.iloc[:-1].dropna().reset_index(drop=True)


def train(frame: pd.DataFrame, seed: int, test_share: float = 0.25):
    """Fit on the first ``1 - test_share`` of the days (the past only); the model and the split.
    Features are standardised first: daily returns are tiny numbers, and unscaled the
    regularisation would flatten the model into a constant guess."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    split = int(len(frame) * (1 - test_share))
    model = make_pipeline(StandardScaler(), LogisticRegression(random_state=seed))
    model.fit(frame[FEATURES][:split], frame["target"][:split])
    return model, split


def evaluate(model, frame: pd.DataFrame, split: int) -> dict:
    """Accuracy on the test days against the naive baseline, and whether the model beats it.

    The baseline predicts, every day, the direction that was more frequent in the training days
    (a rule anyone could deploy without a model). The model beats it when its accuracy is higher
    by more than ``min_edge``: two standard errors of the baseline's hit rate over the test days —
    a smaller edge is what luck gives on that many days."""
    from sklearn.metrics import accuracy_score

    test = frame[split:]
    predicted = model.predict(test[FEATURES])
    accuracy = float(accuracy_score(test["target"], predicted))
    naive = int(frame["target"][:split].mean() >= 0.5)
    baseline = float((test["target"] == naive).mean())
    min_edge = 2 * math.sqrt(baseline * (1 - baseline) / len(test))
    return {
        "accuracy": round(accuracy, 4),
        "baseline_accuracy": round(baseline, 4),
        "min_edge": round(min_edge, 4),
        "beats_baseline": bool(accuracy - baseline > min_edge),
        "test_rows": len(test),
    }


def register(engine: sa.Engine, prices: pd.DataFrame, metrics: dict, params: dict, as_of: str, model=None) -> int:
    """Store the model (its fitted parameters), its metrics, its verdict and the hash of its data;
    same inputs → same version."""
    data_hash = hashlib.sha256(prices.to_csv(index=False).encode()).hexdigest()[:16]
    params = {
        **params,
        "data": f"{prices['symbol'].iloc[0]} {prices['day'].min():%Y-%m-%d} to {prices['day'].max():%Y-%m-%d}",
    }
    with engine.begin() as conn:
        conn.exec_driver_sql("LOCK TABLE workflows.model_registry IN SHARE ROW EXCLUSIVE MODE")
        existing = conn.execute(
            sa.text("""
            SELECT version FROM workflows.model_registry
            WHERE model = :m AND data_hash = :h AND params = CAST(:p AS jsonb)
        """),
            {"m": MODEL, "h": data_hash, "p": json.dumps(params)},
        ).scalar()
        if existing is not None:
            return existing
        version = conn.execute(
            sa.text("SELECT coalesce(max(version), 0) + 1 FROM workflows.model_registry WHERE model = :m"), {"m": MODEL}
        ).scalar_one()
        conn.execute(
            sa.text("""
            INSERT INTO workflows.model_registry
                (model, version, trained_as_of, data_hash, metrics, params, beats_baseline, model_json)
            VALUES (:m, :v, :as_of, :h, CAST(:metrics AS jsonb), CAST(:p AS jsonb), :beats,
                    CAST(:fitted AS jsonb))
        """),
            {
                "m": MODEL,
                "v": version,
                "as_of": as_of,
                "h": data_hash,
                "metrics": json.dumps(metrics),
                "p": json.dumps(params),
                "beats": bool(metrics["beats_baseline"]),
                "fitted": json.dumps(fitted(model)) if model is not None else None,
            },
        )
    return version


# --- the workflow -------------------------------------------------------------------------------


def workflow(
    engine: sa.Engine,
    prices: pd.DataFrame | None = None,
    *,
    seed: int,
    as_of: str,
    months: int = 24,
    symbol: str = SYMBOL,
    faults: tuple[str, ...] | list[str] = (),
) -> DAG:
    """The ML workflow as a DAG; ``.run()`` it, then read ``.log``.

    Its input is the ETL's daily product for ``symbol`` over ``months`` months up to ``as_of``
    (:func:`etl_daily`), or ``prices`` when given. ``faults`` damage the input on its way in
    (:func:`with_faults`), as a broken upstream would."""
    params = {"features": FEATURES, "model": "StandardScaler+LogisticRegression", "seed": seed}
    dag = DAG("ml: next-day direction")
    load = (lambda: prices) if prices is not None else (lambda: etl_daily(engine, as_of, months, symbol))
    dag.task("load_daily", lambda ctx: with_faults(load(), faults))
    dag.task("check_quality", lambda ctx: check_quality(ctx["load_daily"], as_of), after=["load_daily"])
    dag.task("build_features", lambda ctx: features(ctx["load_daily"]), after=["check_quality"])
    dag.task("train", lambda ctx: train(ctx["build_features"], seed), after=["build_features"])
    dag.task("evaluate", lambda ctx: evaluate(ctx["train"][0], ctx["build_features"], ctx["train"][1]), after=["train"])
    dag.task(
        "register",
        lambda ctx: register(engine, ctx["load_daily"], ctx["evaluate"], params, as_of, ctx["train"][0]),
        after=["evaluate"],
    )
    return dag


def outcome(dag: DAG) -> str:
    """Run the workflow; one line saying what happened: the version registered and whether it
    beats the baseline, or why the quality gate stopped it."""
    try:
        result = dag.run()
    except DataQualityError as error:
        return f"stopped: {error}"
    verdict = "beats" if result["evaluate"]["beats_baseline"] else "does not beat"
    return f"registered version {result['register']}: it {verdict} the naive baseline"


# --- the registry -------------------------------------------------------------------------------


def registry(engine: sa.Engine, version: int | None = None) -> pd.DataFrame:
    """Registered models (one version, or all), with their data and headline metrics."""
    return db.read_frame(
        """
        SELECT model, version, params ->> 'data' AS data,
               (metrics ->> 'accuracy')::float AS accuracy,
               (metrics ->> 'baseline_accuracy')::float AS baseline,
               (metrics ->> 'min_edge')::float AS min_edge, beats_baseline, retired_on
        FROM workflows.model_registry
        WHERE model = :model AND (CAST(:version AS integer) IS NULL OR version = :version)
        ORDER BY version
    """,
        {"model": MODEL, "version": version},
        engine=engine,
    )


def serving_version(engine: sa.Engine) -> int | None:
    """The version a consumer should load: the newest that beats its baseline and has not been
    retired (None: no model does — keep the naive rule)."""
    return db.read_scalar(
        "SELECT max(version) FROM workflows.model_registry WHERE model = :m AND beats_baseline AND retired_on IS NULL",
        {"m": MODEL},
        engine=engine,
    )


# --- deployment: serve, monitor, detect drift, retrain ------------------------------------------


def fitted(model) -> dict:
    """The fitted pipeline's parameters as JSON-ready numbers: what serving needs, readable."""
    scaler, logit = model.named_steps["standardscaler"], model.named_steps["logisticregression"]
    return {
        "features": FEATURES,
        "mean": scaler.mean_.tolist(),
        "scale": scaler.scale_.tolist(),
        "coef": logit.coef_[0].tolist(),
        "intercept": float(logit.intercept_[0]),
    }


def load_fitted(engine: sa.Engine, version: int) -> dict:
    found = db.read_scalar(
        "SELECT model_json FROM workflows.model_registry WHERE model = :m AND version = :v",
        {"m": MODEL, "v": version},
        engine=engine,
    )
    if found is None:
        raise FdeError(f"{MODEL} version {version} has no stored parameters; register it again")
    return found if isinstance(found, dict) else json.loads(found)


def predict(params: dict, frame: pd.DataFrame) -> np.ndarray:
    """Up (1) or down (0) for each row: the logistic regression's decision, from stored parameters
    (the same answer as the fitted pipeline's ``predict``)."""
    x = (frame[params["features"]].to_numpy() - np.array(params["mean"])) / np.array(params["scale"])
    return (x @ np.array(params["coef"]) + params["intercept"] > 0).astype(int)


def live_prices(
    history: pd.DataFrame,
    seed: int,
    sessions: int = 140,
    change_after: int = 70,
    momentum: float = 0.25,
    momentum_after: float = -0.5,
    vol_after: float = 3.0,
) -> pd.DataFrame:
    """What follows the training data: the same synthetic series for ``sessions`` more NYSE
    sessions. For the first ``change_after`` the market behaves as before; then the regime changes —
    volatility times ``vol_after`` (a shock such as March 2020's) and momentum turned into mean
    reversion (``momentum_after``) — the kind of change that makes a model trained on the past wrong."""
    rng = np.random.default_rng([seed, 1])
    days = calendars.after(history["day"].max(), sessions)
    last = np.log(history["close"].to_numpy()[-2:])
    previous, returns = last[1] - last[0], np.empty(sessions)
    for t in range(sessions):
        changed = t >= change_after
        previous = (momentum_after if changed else momentum) * previous + rng.normal(
            0.0003, 0.012 * (vol_after if changed else 1.0)
        )
        returns[t] = previous
    close = history["close"].iloc[-1] * np.exp(np.cumsum(returns))
    return pd.DataFrame(
        {
            "symbol": history["symbol"].iloc[0],
            "day": days,
            "close": close.round(2),
            "volume": rng.integers(1_000, 50_000, size=sessions) * 100,
        }
    )


NAIVE = 0  # the "version" recorded for the naive rule, deployed when no model is served


def naive_direction(history: pd.DataFrame) -> int:
    """The naive rule: the direction (1 up, 0 down) more frequent over ``history``'s days."""
    return int(features(history)["target"].mean() >= 0.5)


def serve(engine: sa.Engine, history: pd.DataFrame, live: pd.DataFrame, version: int | None = None) -> pd.DataFrame:
    """Predict each live day with the serving version (loaded from the registry) and record the
    predictions with what happened the next day. When no model is served, the naive rule is what
    is deployed (recorded as version ``NAIVE``, 0), and it is monitored the same way. One row per
    served day: the features the model saw, its prediction, the outcome and whether it was a hit."""
    version = version if version is not None else (serving_version(engine) or NAIVE)
    frame = features(pd.concat([history, live], ignore_index=True))
    frame = frame[frame["day"].isin(live["day"])].reset_index(drop=True)
    if version == NAIVE:
        frame["predicted"] = naive_direction(history)
    else:
        frame["predicted"] = predict(load_fitted(engine, version), frame)
    served = frame.rename(columns={"target": "actual"})[["day", *FEATURES, "predicted", "actual"]]
    with engine.begin() as conn:
        conn.execute(
            sa.text("""
            INSERT INTO workflows.model_predictions (model, version, day, predicted, actual)
            VALUES (:model, :version, :day, :predicted, :actual)
            ON CONFLICT (model, version, day) DO UPDATE
            SET predicted = EXCLUDED.predicted, actual = EXCLUDED.actual
        """),
            [
                {
                    "model": MODEL,
                    "version": version,
                    "day": row.day.date(),
                    "predicted": int(row.predicted),
                    "actual": int(row.actual),
                }
                for row in served.itertuples()
            ],
        )
    return served.assign(version=version, hit=served["predicted"] == served["actual"])


def psi(reference: pd.Series, current: pd.Series, bins: int = PSI_BINS) -> float:
    """Population stability index of ``current`` against ``reference``: ``bins`` buckets of equal
    share in the reference; sum over buckets of (share now - share then) * ln(share now / share then).
    Each bucket's count gets half an observation added (Laplace smoothing), so an empty bucket in a
    short window is a large term, not an infinite one."""
    edges = np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1])

    def shares(values) -> np.ndarray:
        counts = np.bincount(np.searchsorted(edges, values), minlength=bins) + 0.5
        return counts / counts.sum()

    expected, actual = shares(reference), shares(current)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def monitor(engine: sa.Engine, served: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """Each served day, once ``WINDOW`` days are in: the monitored metric — the hit rate over the
    last ``WINDOW`` days, against the model's baseline accuracy (for the naive rule: its own hit
    rate over ``history``) — and the drift statistic — the PSI of ``DRIFT_FEATURE`` over the same
    days against its training distribution (``history``)."""
    version = int(served["version"].iloc[0])
    reference = features(history)
    if version == NAIVE:  # the naive rule's own record: how often the majority direction was right
        baseline = float((reference["target"] == naive_direction(history)).mean())
    else:
        baseline = db.read_scalar(
            "SELECT (metrics ->> 'baseline_accuracy')::float FROM workflows.model_registry "
            "WHERE model = :m AND version = :v",
            {"m": MODEL, "v": version},
            engine=engine,
        )
    reference = reference[DRIFT_FEATURE]
    rows = []
    for end in range(WINDOW, len(served) + 1):
        window = served.iloc[end - WINDOW : end]
        rows.append(
            {
                "day": window["day"].iloc[-1],
                "hit_rate": round(float(window["hit"].mean()), 3),
                "baseline": round(baseline, 3),
                "psi": round(psi(reference, window[DRIFT_FEATURE]), 3),
            }
        )
    report = pd.DataFrame(rows)
    report["drifted"] = report["psi"] > PSI_LIMIT
    report["below_baseline"] = report["hit_rate"] < report["baseline"]
    return report


def checkpoints(report: pd.DataFrame, every: int = 10) -> pd.DataFrame:
    """Every ``every``-th monitored day, and the first day drift was flagged (what an on-call
    dashboard would list)."""
    first = report.index[report["drifted"]][:1].tolist()
    keep = sorted(set(report.index[::every].tolist() + first))
    return report.loc[keep].set_index("day")


def retire(engine: sa.Engine, version: int, day, reason: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE workflows.model_registry SET retired_on = :d, retired_reason = :r "
                "WHERE model = :m AND version = :v AND retired_on IS NULL"
            ),
            {"d": pd.Timestamp(day).date(), "r": reason, "m": MODEL, "v": version},
        )


def retrain_on_drift(
    engine: sa.Engine, history: pd.DataFrame, live: pd.DataFrame, report: pd.DataFrame, seed: int
) -> dict:
    """The drift check's action: on the first day ``report`` flags drift, retire the serving version
    and run the workflow again on the newest data (as many sessions as ``history``, up to that day).
    Its evaluation decides, as always, whether the new version is served."""
    flagged = report[report["drifted"]]
    if flagged.empty:
        return {"drift": "none flagged", "serving version": serving_version(engine)}
    row = flagged.iloc[0]
    day = pd.Timestamp(row["day"])
    retired = serving_version(engine)  # None: the naive rule was deployed, nothing to retire
    if retired is not None:
        retire(engine, retired, day, f"{DRIFT_FEATURE} drifted: PSI {row['psi']:.2f} > {PSI_LIMIT}")
    recent = pd.concat([history, live[live["day"] <= day]], ignore_index=True).tail(len(history))
    retrained = outcome(workflow(engine, recent.reset_index(drop=True), seed=seed, as_of=f"{day:%Y-%m-%d}"))
    return {
        "drift flagged on": f"{day:%Y-%m-%d}",
        f"{DRIFT_FEATURE} PSI": float(row["psi"]),
        "retired version": retired,
        "retrained": retrained,
        "serving version": serving_version(engine),
    }


def draw_monitor(report: pd.DataFrame) -> None:
    """The two monitored series, each against its limit: the hit rate over the last ``WINDOW``
    served days (against the model's baseline accuracy) and the drift statistic (against
    ``PSI_LIMIT``)."""
    from .. import viz

    viz.lines(
        report.assign(series=f"model's hit rate, last {WINDOW} days"),
        x="day",
        y="hit_rate",
        by="series",
        hline=(float(report["baseline"].iloc[0]), "baseline accuracy (naive rule)"),
        markers=False,
        title="Monitored metric: is the served model still right?",
        xlabel="served day",
        ylabel="hit rate (share of days)",
    )
    viz.lines(
        report.assign(series=f"PSI of {DRIFT_FEATURE}, last {WINDOW} days"),
        x="day",
        y="psi",
        by="series",
        hline=(PSI_LIMIT, f"drift limit ({PSI_LIMIT})"),
        markers=False,
        title="Drift check: do today's inputs look like the training data?",
        xlabel="served day",
        ylabel="population stability index",
    )
