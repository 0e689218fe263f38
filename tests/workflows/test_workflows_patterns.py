"""SBP and ANBP replayed on a simulated clock: who waits, and in which order answers arrive."""

from fdelib.workflows import patterns


def test_sbp_answers_in_order_anbp_as_each_finishes():
    requests = patterns.quote_requests(seed=1, as_of="2026-01-02", latency_ms=10, count=4)
    assert sorted(requests["service_ms"]) == [10.0, 12.5, 15.0, 17.5]
    assert (requests["as_of"] == "2026-01-02").all()
    shown = patterns.timeline(requests, capacity=4)
    sbp = shown[shown["pattern"] == "SBP"].set_index("request")
    anbp = shown[shown["pattern"] == "ANBP"].set_index("request")
    assert sbp["answer_order"].tolist() == [1, 2, 3, 4]
    assert sbp["answered_ms"].iloc[-1] == requests["service_ms"].sum()
    assert anbp["answered_ms"].tolist() == requests["service_ms"].tolist()  # all at once
    assert anbp.sort_values("answered_ms")["answer_order"].tolist() == [1, 2, 3, 4]


def test_anbp_queues_beyond_the_services_capacity():
    requests = patterns.quote_requests(seed=1, as_of="2026-01-02", latency_ms=10, count=4)
    shown = patterns.timeline(requests, capacity=2).query("pattern == 'ANBP'").set_index("request")
    assert (shown["start_ms"] > 0).sum() == 2  # two waited for a free slot
    assert shown["answered_ms"].max() < requests["service_ms"].sum()


def test_answer_order_table_and_labels():
    requests = patterns.quote_requests(seed=1, as_of="2026-01-02", latency_ms=10, count=3)
    table = patterns.answer_order(patterns.timeline(requests, capacity=3))
    assert list(table.columns) == ["ANBP", "SBP"] and table.index.tolist() == [1, 2, 3]
    assert table.loc[1, "SBP"].startswith("ACME (#1) at ")
    labelled = patterns.labelled(patterns.model([1, 2], latency=0.01, capacity=2))
    assert set(labelled["pattern"]) == {"SBP", "ANBP"}
