"""01_workflows/03_coordination_patterns: SBP or ANBP for a workload, measured with the lesson's
simulation and model, and concept checks on the two patterns."""

from fdelib.practice import Catalog, Wrong

catalog = Catalog("01_workflows/03_coordination_patterns.ipynb")

LAST_ANSWER = """repricing = patterns.quote_requests(seed=7, as_of=as_of, latency_ms=30)
replayed = patterns.timeline(repricing, capacity=3)
last_answer_ms = float(replayed.loc[replayed["pattern"] == "ANBP", "answered_ms"].max())
last_answer_ms
"""

catalog.value(
    "anbp_last_answer",
    name="last_answer_ms",
    answer=172.5,
    tolerance=0.5,
    blank_hint="Replay the eight requests with patterns.timeline(requests, capacity=3) and take the "
    "latest answered_ms among the ANBP rows.",
    wrong=[
        Wrong(
            "last_answer_ms = 450.0\n",
            "450 ms is SBP's last answer: the sum of all eight service times. Under ANBP the requests "
            "overlap, three at a time: take the ANBP rows.",
        ),
        Wrong(
            "last_answer_ms = 82.5\n",
            "82.5 ms is the slowest request alone: what ANBP gives when the service takes all eight at "
            "once (the lesson's capacity of 8). This service handles 3 at a time: pass capacity=3.",
        ),
    ],
    passed="172.5 ms for ANBP against 450 ms for SBP: with three requests in flight the service is never "
    "idle, and the batch ends when the last of its busy slots does.",
)

catalog.choice(
    "bond_pricing_pattern",
    name="bond_pattern",
    options={"SBP": "synchronous blocking", "ANBP": "asynchronous non-blocking"},
    correct="ANBP",
    hints={
        "SBP": "Nothing here needs the answers in order, and one request at a time leaves 19 of the "
        "service's 20 slots idle: 200 round trips one after the other."
    },
    blank_hint='Answer "SBP" or "ANBP": does anything need the answers one at a time, in order? How '
    "many requests can the service take at once?",
    passed="Many independent requests and a service that takes 20 at once: send them all, match each "
    "answer to its bond by id.",
)

BOND_SECONDS = """bonds = patterns.model([200], latency=0.05, capacity=20)
anbp = bonds[bonds["pattern"] == "async"].iloc[0]
bond_seconds = float(200 / anbp["throughput_rps"])
bond_seconds
"""

catalog.value(
    "bond_pricing_seconds",
    name="bond_seconds",
    answer=0.5,
    tolerance=0.01,
    blank_hint="patterns.model([200], latency=0.05, capacity=20) gives each pattern's throughput at that "
    "load: the batch takes 200 requests / throughput seconds.",
    wrong=[
        Wrong(
            "bond_seconds = 10.0\n",
            "10 s is SBP's time: 200 requests one after the other at 50 ms each. Your choice of pattern "
            "sends them 20 at a time.",
        ),
        Wrong(
            "bond_seconds = 0.275\n",
            "0.275 s is the mean latency of one request under ANBP (some wait for a free slot). The "
            "batch is done when the last wave ends: 200 / throughput.",
        ),
        Wrong(
            "bond_seconds = 0.05\n",
            "That is one round trip: it would need the service to price all 200 bonds at once. It takes "
            "20 at a time, so the requests go through in waves.",
        ),
    ],
    passed="Ten waves of 20 requests, 50 ms each: half a second instead of SBP's ten — the service's "
    "capacity, not the caller, is now the limit.",
)

# --- concept checks --------------------------------------------------------------------

catalog.choice(
    "concept_anbp_answers",
    name="answer_anbp",
    options={
        "A": "in the order the requests were sent, so the caller matches them by position",
        "B": "in the order the service finishes them, so each carries its request's id",
        "C": "all at once, when the slowest request is done",
    },
    correct="B",
    hints={
        "A": "That is SBP: one request at a time, so the answers cannot overtake each other. Look at the "
        "ANBP column of the lesson's answer order.",
        "C": "Each answer arrives as soon as it is ready (TYRELL first in the lesson); only the batch as "
        "a whole waits for the slowest.",
    },
    blank_hint="Look at the lesson's table of the order answers arrive in, ANBP column.",
    passed="ANBP answers overtake each other: the id is what ties an answer to its request (the OMS "
    "project's order ids play that part).",
)

catalog.choice(
    "concept_execute_is_sbp",
    name="answer_client",
    options={
        "A": "workflow.execute(..., wait_for_seconds=60): it returns when the run has ended",
        "B": "start_workflow(...): it returns the run's id at once; the client looks the run up later",
    },
    correct="A",
    hints={
        "B": "start returns before the work is done and the client comes back for the result: that is the "
        "asynchronous, non-blocking pattern."
    },
    blank_hint="Which call makes the client wait, blocked, until the answer is in?",
    passed="execute blocks until the run ends (SBP); start hands back an id and the client is free (ANBP). "
    "The workers, for their part, always poll their queues asynchronously.",
)
