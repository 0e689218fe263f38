"""An ML workflow where data quality decides the outcome.

check quality → build features → train → evaluate → register, run as a :class:`DAG`.
The model (a logistic regression on lagged returns, predicting tomorrow's direction) is
deliberately modest: the lesson is the workflow. The quality gate runs first and fails the
workflow on bad data, so nothing downstream — above all the registry — ever sees it.

Registration is idempotent: the same model trained on the same data with the same
parameters is the same version, so re-running the workflow does not mint version 2.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import sqlalchemy as sa

from .. import db
from ..errors import FdeError
from .dag import DAG

MODEL = "direction_logit"
FEATURES = ["ret_1", "ret_2", "ret_5", "vol_10"]


class DataQualityError(FdeError):
    """The input data failed a quality check; the message lists which."""


def daily_prices(seed: int, as_of: str, sessions: int = 500, symbol: str = "ACME",
                 faults: tuple[str, ...] = ()) -> pd.DataFrame:
    """Seeded daily OHLCV-style closes on NYSE sessions, optionally with data faults:
    ``"gap"`` (missing sessions), ``"negative"`` (a bad print), ``"duplicate"``, ``"stale"``
    (the same close repeated for days)."""
    from ..start import sessions as nyse_sessions

    rng = np.random.default_rng(seed)
    days = nyse_sessions(as_of, sessions)
    noise = rng.normal(0.0003, 0.012, size=sessions)
    returns = np.empty(sessions)
    returns[0] = noise[0]
    for t in range(1, sessions):  # a little momentum: something for the model to find
        returns[t] = 0.25 * returns[t - 1] + noise[t]
    close = 100 * np.exp(np.cumsum(returns))
    frame = pd.DataFrame({"symbol": symbol, "day": pd.to_datetime(days), "close": close.round(2),
                          "volume": rng.integers(1_000, 50_000, size=sessions) * 100})
    if "gap" in faults:
        frame = frame.drop(frame.index[100:110])
    if "negative" in faults:
        frame.loc[frame.index[200], "close"] = -frame.loc[frame.index[200], "close"]
    if "duplicate" in faults:
        frame = pd.concat([frame, frame.iloc[[300]]])
    if "stale" in faults:
        frame.loc[frame.index[350:356], "close"] = frame.loc[frame.index[350], "close"]
    return frame.sort_values("day", kind="stable").reset_index(drop=True)


def quality_report(prices: pd.DataFrame, as_of: str) -> pd.DataFrame:
    """One row per check: passed or not, and what was found."""
    from ..start import sessions as nyse_sessions

    expected = set(pd.to_datetime(nyse_sessions(as_of, 2_000)))
    expected = {d for d in expected if prices["day"].min() <= d <= prices["day"].max()}
    missing = len(expected - set(prices["day"]))
    stale = int((prices["close"].diff() == 0).rolling(4).sum().eq(4).sum())
    checks = [
        ("no missing sessions", missing == 0, f"{missing} missing"),
        ("positive prices", bool((prices["close"] > 0).all()), f"{int((prices['close'] <= 0).sum())} non-positive"),
        ("one row per day", not prices["day"].duplicated().any(), f"{int(prices['day'].duplicated().sum())} duplicates"),
        ("no stale prices (5+ equal closes)", stale == 0, f"{stale} stale runs"),
        ("enough history (>= 250 sessions)", len(prices) >= 250, f"{len(prices)} rows"),
    ]
    return pd.DataFrame(checks, columns=["check", "passed", "found"]).set_index("check")


def check_quality(prices: pd.DataFrame, as_of: str) -> pd.DataFrame:
    report = quality_report(prices, as_of)
    failed = report[~report["passed"]]
    if len(failed):
        raise DataQualityError("data quality gate failed: " + "; ".join(
            f"{name} ({row.found})" for name, row in failed.iterrows()))
    return report


def features(prices: pd.DataFrame) -> pd.DataFrame:
    ret = np.log(prices["close"]).diff()
    frame = pd.DataFrame({"day": prices["day"], "ret_1": ret, "ret_2": ret.shift(1),
                          "ret_5": ret.rolling(5).sum(), "vol_10": ret.rolling(10).std(),
                          "target": (ret.shift(-1) > 0).astype(int)})
    return frame.iloc[:-1].dropna().reset_index(drop=True)


def train(frame: pd.DataFrame, seed: int, test_share: float = 0.25):
    from sklearn.linear_model import LogisticRegression

    split = int(len(frame) * (1 - test_share))  # time order: train on the past only
    model = LogisticRegression(random_state=seed).fit(frame[FEATURES][:split], frame["target"][:split])
    return model, split


def evaluate(model, frame: pd.DataFrame, split: int) -> dict[str, float]:
    from sklearn.metrics import accuracy_score

    test = frame[split:]
    predicted = model.predict(test[FEATURES])
    majority = float(max(test["target"].mean(), 1 - test["target"].mean()))
    return {"accuracy": round(float(accuracy_score(test["target"], predicted)), 4),
            "baseline_accuracy": round(majority, 4), "test_rows": int(len(test))}


def register(engine: sa.Engine, prices: pd.DataFrame, metrics: dict, params: dict,
             as_of: str) -> int:
    """Store the model's metrics with the hash of its data; same inputs → same version."""
    data_hash = hashlib.sha256(prices.to_csv(index=False).encode()).hexdigest()[:16]
    with engine.begin() as conn:
        conn.exec_driver_sql("LOCK TABLE workflows.model_registry IN SHARE ROW EXCLUSIVE MODE")
        existing = conn.execute(sa.text("""
            SELECT version FROM workflows.model_registry
            WHERE model = :m AND data_hash = :h AND params = CAST(:p AS jsonb)
        """), {"m": MODEL, "h": data_hash, "p": json.dumps(params)}).scalar()
        if existing is not None:
            return existing
        version = conn.execute(sa.text("SELECT coalesce(max(version), 0) + 1 FROM "
                                       "workflows.model_registry WHERE model = :m"),
                               {"m": MODEL}).scalar()
        conn.execute(sa.text("""
            INSERT INTO workflows.model_registry VALUES
            (:m, :v, :as_of, :h, CAST(:metrics AS jsonb), CAST(:p AS jsonb))
        """), {"m": MODEL, "v": version, "as_of": as_of, "h": data_hash,
               "metrics": json.dumps(metrics), "p": json.dumps(params)})
    return version


def workflow(engine: sa.Engine, prices: pd.DataFrame, *, seed: int, as_of: str) -> DAG:
    """The ML workflow as a DAG; ``.run()`` it, then read ``.log``."""
    params = {"features": FEATURES, "model": "LogisticRegression", "seed": seed}
    dag = DAG("ml: next-day direction")
    dag.task("check_quality", lambda ctx: check_quality(prices, as_of))
    dag.task("build_features", lambda ctx: features(prices), after=["check_quality"])
    dag.task("train", lambda ctx: train(ctx["build_features"], seed), after=["build_features"])
    dag.task("evaluate", lambda ctx: evaluate(ctx["train"][0], ctx["build_features"], ctx["train"][1]),
             after=["train"])
    dag.task("register", lambda ctx: register(engine, prices, ctx["evaluate"], params, as_of),
             after=["evaluate"])
    return dag


def registry(engine: sa.Engine, version: int | None = None) -> pd.DataFrame:
    """Registered models (one version, or all), with their headline metrics."""
    return db.read_frame("""
        SELECT model, version, trained_as_of, data_hash,
               (metrics ->> 'accuracy')::float AS accuracy,
               (metrics ->> 'baseline_accuracy')::float AS baseline
        FROM workflows.model_registry
        WHERE model = :model AND (CAST(:version AS integer) IS NULL OR version = :version)
        ORDER BY version
    """, {"model": MODEL, "version": version}, engine=engine)
