"""GET /workflow/search on the local engine, over HTTP: Conductor 3.32.1's query forms and
SearchResult<WorkflowSummary>, against the real engine and PostgreSQL."""

import re
import time

import pytest
import requests
from conformance import behaves

from fdelib.conductor import search, wire

SUMMARY_KEYS = {
    "workflowType",
    "version",
    "workflowId",
    "startTime",
    "updateTime",
    "status",
    "input",
    "output",
    "executionTime",
    "failedReferenceTaskNames",
    "priority",
    "failedTaskNames",
    "taskToDomain",
    "parentWorkflowId",
    "classifier",
    "inputSize",
    "outputSize",
}
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture(scope="module")
def runs(local_server):
    """Three workflow types; runs that complete, fail and keep running, with correlation ids."""
    api = local_server.url
    tag = f"s{time.monotonic_ns()}"
    done, fail, wait = f"{tag}_done", f"{tag}_fail", f"{tag}_wait"
    terminate = {"name": "end", "taskReferenceName": "end", "type": "TERMINATE"}
    defs = [
        {
            "name": done,
            "version": 1,
            "tasks": [{**terminate, "inputParameters": {"terminationStatus": "COMPLETED"}}],
            "outputParameters": {"echo": "${workflow.input.n}"},
            "schemaVersion": 2,
        },
        {
            "name": fail,
            "version": 1,
            "tasks": [
                {
                    **terminate,
                    "taskReferenceName": "stop_here",
                    "inputParameters": {"terminationStatus": "FAILED", "terminationReason": "card declined"},
                }
            ],
            "schemaVersion": 2,
        },
        {
            "name": wait,
            "version": 1,
            "tasks": [{"name": f"{tag}_never", "taskReferenceName": "never", "type": "SIMPLE"}],
            "schemaVersion": 2,
        },
    ]
    requests.post(f"{api}/metadata/taskdefs", json=[{"name": f"{tag}_never"}], timeout=10).raise_for_status()
    requests.put(f"{api}/metadata/workflow", json=defs, timeout=10).raise_for_status()
    ids: dict[str, list[str]] = {done: [], fail: [], wait: []}
    for i in range(4):
        for name in (done, fail, wait):
            body = {"name": name, "version": 1, "input": {"n": i, "order": {"sku": "A", "qty": 2}}}
            body["correlationId"] = f"{tag}-order-{i}"
            ids[name].append(requests.post(f"{api}/workflow", json=body, timeout=10).text)
            time.sleep(0.002)  # distinct start times
    return {"api": api, "tag": tag, "done": done, "fail": fail, "wait": wait, "ids": ids}


def find(runs, **params):
    answer = requests.get(f"{runs['api']}/workflow/search", params=params, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


@behaves(
    "GET /workflow/search answer",
    "SearchResult: totalHits and WorkflowSummary rows (times as UTC text, input/output as Java's Map.toString)",
    source="rest/WorkflowResource.java search; common/run/WorkflowSummary.java; SummaryUtil.serializeInputOutput",
)
def test_a_summary_has_conductors_fields_and_formats(runs):
    found = find(runs, query=f"workflowType IN ({runs['fail']})", size=1, sort="startTime:ASC")
    assert found["totalHits"] == 4
    [summary] = found["results"]
    assert set(summary) >= SUMMARY_KEYS
    assert summary["workflowId"] == runs["ids"][runs["fail"]][0]
    assert summary["status"] == "FAILED" and summary["reasonForIncompletion"] == "card declined"
    assert TIME.fullmatch(summary["startTime"]) and TIME.fullmatch(summary["endTime"])
    assert summary["input"] == "{n=0, order={qty=2, sku=A}}"  # Java's Map.toString, jsonb's key order
    assert summary["inputSize"] == len(summary["input"])
    assert summary["correlationId"] == f"{runs['tag']}-order-0"
    assert summary["classifier"] == "workflow" and summary["parentWorkflowId"] == ""
    assert summary["executionTime"] >= 0


def test_a_running_workflow_has_no_end_time(runs):
    [summary] = find(runs, query=f"workflowType = {runs['wait']}", size=1)["results"]
    assert summary["status"] == "RUNNING"
    assert "endTime" not in summary and summary["executionTime"] == 0
    assert summary["output"] == "{}" and summary["failedReferenceTaskNames"] == ""


@behaves(
    "GET /workflow/search query",
    "`field = v`, `field IN (a,b)`, `startTime > ms`, joined by ` AND `; `=` with `*` is a wildcard; "
    "unindexed fields ignored",
    source="sqlite-persistence/../util/SqliteIndexQueryBuilder.java Condition, parseQuery",
)
def test_filters_combine_with_and(runs):
    both = f"workflowType IN ({runs['fail']},{runs['done']})"
    assert find(runs, query=both)["totalHits"] == 8
    failed = find(runs, query=f"{both} AND status IN (FAILED,TIMED_OUT)")
    assert failed["totalHits"] == 4 and {s["status"] for s in failed["results"]} == {"FAILED"}
    one = find(runs, query=f"{both} AND correlationId = '{runs['tag']}-order-2'")
    assert sorted(s["workflowType"] for s in one["results"]) == sorted([runs["done"], runs["fail"]])


def test_start_time_bounds_in_epoch_milliseconds(runs):
    everything = find(runs, query=f"workflowType = {runs['done']}", sort="startTime:ASC")["results"]
    second = requests.get(f"{runs['api']}/workflow/{everything[1]['workflowId']}", timeout=10).json()
    later = find(runs, query=f"workflowType = {runs['done']} AND startTime > {second['createTime']}")
    assert later["totalHits"] == 2
    earlier = find(runs, query=f"workflowType = {runs['done']} AND startTime < {second['createTime']}")
    assert [s["workflowId"] for s in earlier["results"]] == [everything[0]["workflowId"]]


@behaves(
    "GET /workflow/search sort and paging",
    "`sort=startTime:DESC` (several joined by a vertical bar), start/size paged in SQL; no sort: creation order",
    source="sqlite-persistence/../util/SqliteIndexQueryBuilder.java getSort; core/utils/Utils.convertStringToList",
)
def test_sort_newest_first_and_pages(runs):
    query = f"workflowType = {runs['wait']}"
    newest = find(runs, query=query, sort="startTime:DESC", size=2)
    assert newest["totalHits"] == 4
    assert [s["workflowId"] for s in newest["results"]] == runs["ids"][runs["wait"]][::-1][:2]
    rest = find(runs, query=query, sort="startTime:DESC", size=2, start=2)
    assert [s["workflowId"] for s in rest["results"]] == runs["ids"][runs["wait"]][::-1][2:]
    # no sort: the order runs were created in, as Conductor's index (rowid order)
    assert [s["workflowId"] for s in find(runs, query=query)["results"]] == runs["ids"][runs["wait"]]


def test_free_text_finds_ids_correlation_ids_and_reasons(runs):
    workflow_id = runs["ids"][runs["done"]][3]
    assert [s["workflowId"] for s in find(runs, freeText=workflow_id)["results"]] == [workflow_id]
    by_correlation = find(runs, freeText=f"{runs['tag']}-ORDER-1")  # any case
    assert by_correlation["totalHits"] == 3
    assert find(runs, freeText="card declined", query=f"workflowType = {runs['fail']}")["totalHits"] == 4


def test_a_wildcard_matches_the_workflow_type(runs):
    assert find(runs, query=f"workflowType = {runs['tag']}_*")["totalHits"] == 12
    assert find(runs, query=f"workflowType = {runs['tag'].upper()}_F*")["totalHits"] == 4


def test_what_conductor_ignores_is_ignored(runs):
    query = f"workflowType = {runs['done']}"
    assert find(runs, query=f"{query} AND colour = blue")["totalHits"] == 4  # not an indexed field
    plain = [s["workflowId"] for s in find(runs, query=query)["results"]]
    assert [s["workflowId"] for s in find(runs, query=query, sort="startTime")["results"]] == plain


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status != FAILED", "Incorrectly formatted query string: status != FAILED"),
        ("startTime > yesterday", "startTime takes epoch milliseconds"),
        ("taskType = SIMPLE", "taskType is a task field"),
    ],
)
@behaves(
    "GET /workflow/search with a query it cannot read",
    "400 Incorrectly formatted query string; a time that is not epoch ms or a task field: 400 saying so",
    "400 Incorrectly formatted query string; a time that is not a number or a task field: 500",
    "sqlite-persistence/../util/SqliteIndexQueryBuilder.java Condition (Long.parseLong; no such column)",
)
def test_what_the_engine_cannot_read_is_refused_in_conductors_shape(runs, query, message):
    answer = requests.get(f"{runs['api']}/workflow/search", params={"query": query}, timeout=10)
    assert answer.status_code == 400
    body = answer.json()
    assert set(body) == {"status", "message", "instance", "retryable"} and body["status"] == 400
    assert message in body["message"]


def test_conductor_python_reads_the_answer(runs, clients):
    found = clients.get_workflow_client().search(query=f"workflowType = {runs['fail']}", size=2)
    assert len(found.results) == 2  # (its ScrollableSearchResult model has no totalHits)
    assert found.results[0].status == "FAILED" and found.results[0].workflow_type == runs["fail"]


def test_a_page_is_read_in_sql_not_all_rows(runs, local_server, monkeypatch):
    """The scaling property behind "10,000 runs list in well under a second": the store
    fetches one page of rows, whatever the number of matches."""
    store = local_server.engine.store
    fetched = []
    original = store.search

    def counting(parsed):
        total, rows = original(parsed)
        fetched.append(len(rows))
        return total, rows

    monkeypatch.setattr(store, "search", counting)
    answer = find(runs, query=f"workflowType = {runs['tag']}_*", size=5)
    assert answer["totalHits"] == 12 and fetched == [5]


def test_parse_follows_conductors_sqlite_index():
    parsed = search.parse(
        "workflowType IN (a,b) AND status IN (FAILED) AND startTime > 17 AND correlationId = 'x'",
        free_text="Order*7",
        sort="startTime:DESC|workflowId:asc|nonsense|taskId:DESC",
    )
    assert parsed.conditions == (
        search.Condition("workflow_type", "IN", ("a", "b")),
        search.Condition("status", "=", ("FAILED",)),
        search.Condition("start_time", ">", ("17",)),
        search.Condition("correlation_id", "=", ("x",)),
    )
    assert parsed.free_text == "%order%7%"
    assert parsed.sort == (("start_time", "DESC"), ("workflow_id", "ASC"))
    assert search.parse(top_level_only=True).conditions == (search.Condition("parent_workflow_id", "=", ("",)),)
    assert search.parse(classifier=" agent , ").conditions == (search.Condition("classifier", "=", ("agent",)),)
    assert search.parse("status IN (A, B)").conditions[0].values == ("A", " B")  # spaces kept, as Conductor


def test_java_text_is_what_conductors_summary_holds():
    nested = {"a": [1, 2.5, None], "b": {"c": True}, "d": "x y"}
    assert wire.java_text(nested) == "{a=[1, 2.5, null], b={c=true}, d=x y}"
    assert wire.java_text({"big": 12345678.0, "small": 0.0001}) == "{big=1.2345678E7, small=1.0E-4}"
    assert wire.java_time(1700000000123) == "2023-11-14T22:13:20.123Z"
