"""01_workflows/02_workflow_management: retry policies as numbers (Conductor's semantics), a SWITCH on
a task's output run on the engine, the scalability model read, and concept checks on the WMS."""

from fdelib.practice import Catalog, WorkflowRun, Wrong

catalog = Catalog("01_workflows/02_workflow_management.ipynb")

# --- retry policies ----------------------------------------------------------------------
# Conductor's semantics (its task definition documentation, and DeciderService.retry): the n-th
# retry starts retryDelaySeconds after the failure for FIXED, retryDelaySeconds * 2**(n-1) for
# EXPONENTIAL_BACKOFF; backoffScaleFactor only scales LINEAR_BACKOFF; retryCount caps the retries.
# Here every attempt fails at once: FIXED 7 s -> retries at 7, 14, ..., 56 s (8 in 60 s);
# EXPONENTIAL_BACKOFF 3 s -> retries at 3, 9, 21, 45 s, the next at 93 s (4 in 60 s).

catalog.value(
    "fixed_retries_60s",
    name="fixed_retries",
    answer=8,
    blank_hint="Lay the retries on a time line: with FIXED, each retry starts retryDelaySeconds after "
    "the attempt before it failed. Count those that start within the first 60 s.",
    wrong=[
        Wrong(
            "fixed_retries = 10\n",
            "retryCount = 10 is a cap, not a promise: 7 s apart, how many retries fit in 60 s before "
            "the cap is reached?",
        ),
        Wrong(
            "fixed_retries = 9\n",
            "9 counts the attempts, the first one included; the question asks for the retries after it.",
        ),
    ],
    passed="Retries at 7, 14, ..., 56 s: eight in the first minute, and the cap of ten is reached at 70 s.",
)

catalog.value(
    "backoff_retries_60s",
    name="backoff_retries",
    answer=4,
    blank_hint="With EXPONENTIAL_BACKOFF the n-th retry waits retryDelaySeconds * 2**(n-1): 3 s, then 6 s, "
    "then 12 s... Add the waits up and count the retries that start within 60 s.",
    wrong=[
        Wrong(
            "backoff_retries = 3\n",
            "backoffScaleFactor does not apply here: Conductor uses it for LINEAR_BACKOFF only. "
            "EXPONENTIAL_BACKOFF doubles retryDelaySeconds at each retry: waits of 3, 6, 12, 24 s...",
        ),
        Wrong(
            "backoff_retries = 19\n",
            "That is FIXED's count (a retry every 3 s). With EXPONENTIAL_BACKOFF each wait doubles.",
        ),
        Wrong(
            "backoff_retries = 5\n",
            "The fifth retry waits 48 s after the fourth, which started at 45 s: it starts at 93 s, "
            "after the first minute.",
        ),
    ],
    passed="Retries at 3, 9, 21 and 45 s; the fifth would wait 48 s more. Backoff gives a struggling feed "
    "room to recover instead of hammering it — the lesson's fetch waited 1 s, then 2 s.",
)

# --- a SWITCH on a task's output ----------------------------------------------------------

FEED_WATCH = """from conductor.client.workflow.conductor_workflow import ConductorWorkflow
from conductor.client.workflow.task.set_variable_task import SetVariableTask
from conductor.client.workflow.task.simple_task import SimpleTask
from conductor.client.workflow.task.switch_task import SwitchTask

fetch = SimpleTask("wms_fetch_prices", "fetch")
fetch.input_parameters.update(market="${workflow.input.market}", as_of="${workflow.input.as_of}",
                              days="${workflow.input.days}", seed="${workflow.input.seed}",
                              flaky="${workflow.input.flaky}")
on_time = SetVariableTask("feed_on_time")
on_time.input_parameters.update(feed="on time")
late = SetVariableTask("feed_late")
late.input_parameters.update(feed="late")
first_try = SwitchTask("first_try", case_expression="${fetch.output.attempts}")
first_try.switch_case("1", [on_time]).default_case([late])
feed_watch = ConductorWorkflow(executor=executor, name="feed_watch", version=1)
feed_watch.add(fetch).add(first_try)
feed_watch.output_parameters({"feed": "${workflow.variables.feed}", "rows": "${fetch.output.rows}"})
switch = feed_watch.to_workflow_def().tasks[1]
switch.type, switch.input_parameters, list(switch.decision_cases)   # what the engine will receive
"""

catalog.workflow(
    "feed_watch",
    name="feed_watch",
    runs=[
        WorkflowRun(
            {"market": "etfs", "as_of": "2026-01-02", "days": 5, "seed": 42, "flaky": 0},
            "COMPLETED",
            {"feed": "on time", "rows": 10},
            "a feed that answers at once",
        ),
        WorkflowRun(
            {"market": "etfs", "as_of": "2026-01-02", "days": 5, "seed": 42, "flaky": 1},
            "COMPLETED",
            {"feed": "late", "rows": 10},
            "a feed that times out once",
        ),
    ],
    blank="feed_watch = ...   # a ConductorWorkflow: fetch, then a SWITCH on ${fetch.output.attempts}\n",
    blank_hint="A SimpleTask of type wms_fetch_prices (reference name fetch) with its inputs from the workflow's "
    "input, then a SwitchTask on ${fetch.output.attempts} whose case and default case set the "
    "variable feed with a SetVariableTask; the output reads ${workflow.variables.feed} and "
    "${fetch.output.rows}.",
    wrong=[
        Wrong(
            FEED_WATCH.replace('switch_case("1", [on_time])', 'switch_case("0", [on_time])'),
            "Both runs came out late: attempts counts the attempts, from 1 (the first try is attempt 1). "
            "The history's attempt column counts retries from 0 — the fetch's output does not.",
        ),
        Wrong(
            FEED_WATCH.replace('"feed": "${workflow.variables.feed}"', '"feed": "${first_try.output.feed}"'),
            "feed is empty: a SWITCH's output is only the case it took. SET_VARIABLE writes to the "
            "workflow's variables: read ${workflow.variables.feed}.",
        ),
    ],
    passed="The retry is invisible in the workflow's result unless you ask: the SWITCH reads the task's "
    "output and flags the late feed, while the engine did the retrying — the definition decides, the "
    "worker only fetches.",
    timeout=30,
)

# --- the scalability model, read -----------------------------------------------------------

catalog.value(
    "scaling_makespan",
    name="makespan_s",
    answer=0.6,
    tolerance=0.001,
    blank_hint="scaling.model([5], tasks=12) gives the model's makespan (seconds) for 12 tasks of 200 ms "
    "with 5 workers per task type.",
    wrong=[
        Wrong(
            "makespan_s = 0.48\n",
            "12 / 5 x 200 ms assumes a worker can run part of a task: tasks run in whole waves of 5, "
            "and the last wave holds only 2 of them. ceil(12 / 5) waves.",
        ),
        Wrong(
            "makespan_s = 2.4\n",
            "2.4 s is one worker running the 12 tasks one after the other: with 5 workers, 5 run at once.",
        ),
    ],
    passed="Three waves (5, 5, then 2 tasks) of 200 ms: 0.6 s. A sixth worker would give two waves, 0.4 s; "
    "a seventh changes nothing — size the pool to the waves, not just to the task count.",
)

# --- concept checks --------------------------------------------------------------------

catalog.choice(
    "concept_configurability",
    name="answer_retries",
    options={
        "A": "the worker's code, redeployed",
        "B": "the task definition the engine stores (a metadata update); workers and workflow unchanged",
        "C": "the workflow definition, registered as a new version",
    },
    correct="B",
    hints={
        "A": "The worker never decides when it runs again: it fails, and the engine schedules the retry "
        "from the retry policy it stores.",
        "C": "Retries belong to the task type, which every workflow using it shares: the workflow "
        "definition only names the task.",
    },
    blank_hint="Look at where the lesson read the retry policy from (wms.retry_policy): who stores it?",
    passed="Configurability: retries, backoff and timeouts are settings stored by the engine, changed "
    "without touching the workers or the process.",
)

catalog.choice(
    "concept_wms_scalability",
    name="answer_property",
    options={"A": "flexibility", "B": "scalability", "C": "integration", "D": "dependency management"},
    correct="B",
    hints={
        "A": "Flexibility is the process changing (or decided at run time) without touching the workers; "
        "here the process is the same.",
        "C": "Integration is other systems taking part through the engine's API, like the plain-HTTP "
        "worker; here more of the same workers poll.",
        "D": "Dependency management is the engine running each task when its inputs are ready; the "
        "dependencies did not change.",
    },
    blank_hint="The definition did not change, the workers' code did not change; what grew, and what got faster?",
    passed="Scalability: more workers poll the same queue, the engine hands each task to one of them — "
    "until something shared becomes the bottleneck.",
)
