"""01_workflows/06_ml_workflow: a data-quality gate, the drift statistic (PSI) on bucket counts,
the serving decision from a registry's metrics; concept checks on the ML workflow's stages."""

from fdelib.practice import Case, Catalog, Wrong

catalog = Catalog("01_workflows/06_ml_workflow.ipynb")

catalog.function(
    "stale_prices",
    name="stale_run",
    cases=[
        Case(([100.0, 100.0, 100.0, 100.0, 100.0],), True),
        Case(([100.0, 100.0, 100.0, 100.0, 101.0],), False),
        Case(([99.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 101.0],), True),
        Case(([100.0, 100.0, 101.0, 100.0, 100.0, 100.0],), False),
        Case(([100.0, 100.0, 100.0, 100.0, 101.0, 101.0, 101.0, 101.0],), False),
        Case(([],), False),
    ],
    hidden=[Case(([1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0],), True), Case(([7.5, 7.5, 7.5, 7.5],), False)],
    blank='''def stale_run(closes):
    """True when 5 or more CONSECUTIVE closes are equal (a feed stuck on one price)."""
    ...
''',
    blank_hint="Walk the closes with the length of the current run of equal closes: it grows by one "
    "when a close equals the one before, and starts again at 1 otherwise; return True as "
    "soon as it reaches 5. Try stale_run([100.0] * 5) and stale_run([100.0] * 4 + [101.0]).",
    wrong=[
        Wrong(
            """def stale_run(closes):
    return max((closes.count(close) for close in closes), default=0) >= 5
""",
            "That counts equal closes anywhere in the series: a price the market comes back to is not "
            "stale. Only a run of 5 CONSECUTIVE equal closes is a stuck feed.",
        ),
        Wrong(
            """def stale_run(closes):
    unchanged = 0
    for previous, current in zip(closes, closes[1:]):
        unchanged = unchanged + 1 if current == previous else 0
        if unchanged >= 5:
            return True
    return False
""",
            "Off by one: you count unchanged DAYS (equal neighbours), and 5 equal closes are only 4 "
            "unchanged days. Count the closes in the run (start at 1), or stop at 4 unchanged days.",
        ),
    ],
    passed="A stuck feed is caught before training: the quality gate's 'no stale prices' check is "
    "this rule on the daily closes (4 unchanged days in a row = 5 equal closes).",
)

catalog.function(
    "psi_smoothed",
    name="psi",
    cases=[
        Case(([12, 12, 12, 12, 12], [12, 12, 12, 12, 12]), 0.0),
        Case(([12, 12, 12, 12, 12], [20, 15, 12, 8, 5]), 0.19027868578042312),
        Case(([12, 12, 12, 12, 12], [0, 0, 10, 20, 30]), 1.5618441794129154),
        Case(([100, 50], [50, 100]), 0.4557512524621299),
    ],
    hidden=[
        Case(([30, 10, 0], [10, 10, 20]), 2.3035775870622635),
        Case(([1, 2, 3, 4], [4, 3, 2, 1]), 0.6053848504375904),
    ],
    blank='''import math


def psi(expected, actual):
    """Population stability index of the bucket counts `actual` (now) against `expected`
    (the training data), bucket by bucket; half an observation added to every count."""
    ...
''',
    blank_hint="Add 0.5 to every count, turn each list into shares (divide by its own total), then "
    "sum (actual share - expected share) * ln(actual share / expected share) over the "
    "buckets. psi([12] * 5, [12] * 5) must be 0.0.",
    wrong=[
        Wrong(
            """import math


def psi(expected, actual):
    e = [count / sum(expected) for count in expected]
    a = [count / sum(actual) for count in actual]
    return sum((x - y) * math.log(x / y) for x, y in zip(a, e))
""",
            "Without smoothing an empty bucket has share 0 and ln(0) does not exist: the check's third "
            "vector has two empty buckets (a short window often does). Add half an observation (0.5) to "
            "every count before taking shares.",
        ),
        Wrong(
            """import numpy as np


def psi(expected, actual):
    e = np.array(expected) / np.sum(expected)
    a = np.array(actual) / np.sum(actual)
    return float(np.sum((a - e) * np.log(a / e)))
""",
            "Without smoothing an empty bucket has share 0: numpy's log(0) is -inf, and the PSI becomes "
            "infinite. Add half an observation (0.5) to every count before taking shares.",
        ),
        Wrong(
            """import math


def psi(expected, actual):
    e = [count + 0.5 for count in expected]
    a = [count + 0.5 for count in actual]
    e = [count / sum(e) for count in e]
    a = [count / sum(a) for count in a]
    return sum(x * math.log(x / y) for x, y in zip(a, e))
""",
            "That is the Kullback-Leibler divergence, one direction only. PSI weighs each log ratio by the "
            "DIFFERENCE of the shares: (actual - expected) * ln(actual / expected).",
        ),
        Wrong(
            """import math


def psi(expected, actual):
    e = [count + 0.5 for count in expected]
    a = [count + 0.5 for count in actual]
    return sum((x - y) * math.log(x / y) for x, y in zip(a, e))
""",
            "Those are counts, not shares: with more observations the same change would look bigger. "
            "Divide each list by its own total first.",
        ),
    ],
    passed="That is the drift statistic the monitor computes. Note that PSI is symmetric: swapping "
    "expected and actual gives the same number (each term is (a - e) * ln(a / e)); it is the "
    "smoothing that keeps an empty bucket finite.",
)

catalog.value(
    "serving_decision",
    name="serving",
    answer=3,
    blank_hint="For each version: does accuracy - baseline exceed min_edge (it beats the naive rule), "
    "and is it not retired? The newest such version is served; if there is none, answer 0 "
    "(the naive rule).",
    wrong=[
        Wrong(
            "serving = 4\n",
            "Version 4 is the newest, but 0.5600 - 0.5200 = 0.04 is less than its min_edge (0.0632): "
            "an edge that size is what luck gives over its test days. It is registered, not served.",
        ),
        Wrong(
            "serving = 2\n",
            "Version 2 has the best accuracy, but it was retired when its inputs drifted: a retired "
            "model is never served again.",
        ),
        Wrong(
            "serving = 0\n",
            "One model does beat its baseline by more than luck and is not retired: 0.5806 - 0.5121 = 0.0685 > 0.0635.",
        ),
    ],
    passed="Version 3: the newest model that beats its baseline by more than min_edge and is not "
    "retired — what ml.serving_version asks the registry.",
)

# --- concept checks (chapter 11: the ML workflow's stages) ----------------------------------

catalog.choice(
    "concept_quality_first",
    name="answer_gate",
    options={
        "A": "so that no model trained on bad data can be registered, and nothing downstream runs on it",
        "B": "because a model cannot be trained on data with gaps",
        "C": "because the evaluation would catch bad data anyway, later",
        "D": "it does not matter where it runs, as long as it runs",
    },
    correct="A",
    hints={
        "B": "A model trains happily on a series with gaps or a negative print — that is the danger: "
        "it learns the fault and nothing complains.",
        "C": "The evaluation scores a model on the same (bad) data: it can look fine. Bad data "
        "must be refused before anything is learned from it.",
        "D": "After training, a model built on bad data exists and could be registered and served: "
        "the gate's place is what makes it a gate.",
    },
    blank_hint="Why does the data-quality check run first, before features and training? Set answer_gate to a letter.",
    passed="A gate protects what comes after it: first in the DAG, it stops the workflow before a "
    "model built on bad data can exist, let alone be served.",
)

catalog.choice(
    "concept_drift_first",
    name="answer_signal",
    options={
        "A": "the hit rate, because it measures what matters: whether predictions are right",
        "B": "the drift statistic, because inputs are known the same day while outcomes arrive later",
        "C": "both at the same moment: drift and errors are the same thing",
    },
    correct="B",
    hints={
        "A": "The hit rate needs the outcome (tomorrow's direction), so it lags, and over 60 days "
        "it is noisy. It matters most, but it does not warn first.",
        "C": "Inputs can change before the model's errors show (and sometimes without): the "
        "notebook's PSI crossed its limit while the hit rate still wavered near the baseline.",
    },
    blank_hint="After the market changes, which monitored signal warns first, and why? Set answer_signal to a letter.",
    passed="Inputs are known at once; outcomes lag. Drift warns first, performance confirms — so "
    "production monitoring watches both.",
)

catalog.value(
    "concept_psi_band",
    name="psi_band",
    answer="watch",
    blank_hint="The rule of thumb: below 0.1 stable, 0.1 to 0.25 worth watching, above 0.25 a "
    'different population. A feature\'s PSI is 0.18: answer "stable", "watch" or "drifted".',
    wrong=[
        Wrong(
            'psi_band = "stable"\n',
            "0.18 is above 0.1: the distribution has moved enough to watch, though not enough to "
            "call it a different population.",
        ),
        Wrong(
            'psi_band = "drifted"\n', "0.18 is below the 0.25 limit the monitor uses: worth watching, not yet drift."
        ),
    ],
    passed="Between 0.1 and 0.25: watch it. The monitor retires a model only above 0.25.",
)
