import pytest

from fdelib.workflows import patterns, streams, tasks


@pytest.fixture()
def log(engine):
    tasks.setup(engine)
    streams.reset(engine)
    events = streams.make_events(seed=7, as_of="2026-01-02")
    early, late = events[events["arrival"] <= 4], events[events["arrival"] > 4]
    streams.append(engine, early)
    return engine, events, late


def test_events_have_late_arrivals_and_a_correction():
    events = streams.make_events(seed=7, as_of="2026-01-02")
    assert events["is_correction"].sum() == 1
    late = events["arrival"] > events["event_time"].dt.minute - 30 + 1
    assert late.any()
    corrected = events.loc[events["is_correction"], "trade_id"].iloc[0]
    assert (events["trade_id"] == corrected).sum() == 2


def test_lambda_is_wrong_until_its_next_batch_and_kappa_is_right_throughout(log):
    engine, events, late = log
    streams.lambda_batch(engine)
    streams.kappa_consume(engine)
    streams.append(engine, late)  # late trades and the correction arrive
    assert streams.lambda_speed(engine) == len(late)
    assert streams.kappa_consume(engine) == len(late)
    expected = streams.truth(engine)
    assert len(streams.compare(streams.lambda_serving(engine), expected)) >= 1  # speed layer approximates
    assert streams.compare(streams.kappa_view(engine), expected).empty
    assert streams.lambda_batch(engine) == len(events)  # batch re-reads everything
    assert streams.compare(streams.lambda_serving(engine), expected).empty


def test_lambda_and_kappa_agree_after_replay(log):
    engine, events, late = log
    streams.append(engine, late)
    streams.lambda_batch(engine)
    assert streams.kappa_replay(engine) == len(events)
    assert streams.compare(streams.kappa_view(engine), streams.lambda_serving(engine)).empty
    assert streams.kappa_replay(engine) == len(events)  # replay is repeatable
    assert streams.compare(streams.kappa_view(engine), streams.truth(engine)).empty


def test_stream_windows_drop_late_events_that_batch_keeps(log):
    engine, events, late = log
    streams.append(engine, late)
    strict = streams.stream(events, allowed_lateness_minutes=0)
    lenient = streams.stream(events, allowed_lateness_minutes=10)
    assert strict.dropped > 0 and lenient.dropped == 0
    assert strict.processed == lenient.processed == len(events)
    assert not streams.compare(strict.flush(), streams.truth(engine)).empty
    # even with no drops, a stateless stream counts the correction as a new trade
    assert len(streams.compare(lenient.flush(), streams.truth(engine))) == 1


def test_async_beats_sync_as_load_grows():
    loads = [1, 4, 16]
    measured = patterns.measure(loads, latency=0.03, capacity=4)
    verdict = patterns.verdict(measured, patterns.model(loads, latency=0.03, capacity=4))
    assert verdict["measured >= half of it"].all()
    assert verdict["model: ANBP speed-up over SBP"].tolist() == [1.0, 4.0, 4.0]
    sync = measured[measured["pattern"] == "sync"].set_index("requests")["throughput_rps"]
    asyn = measured[measured["pattern"] == "async"].set_index("requests")["throughput_rps"]
    assert asyn[16] > 2 * sync[16]  # capacity 4 → up to 4x; well clear of timing noise
    modelled = patterns.model([16], latency=0.01, capacity=4).set_index("pattern")
    assert modelled.loc["async", "mean_latency_ms"] == pytest.approx(25.0)  # waves of 4: 10..40 ms


def test_late_arrival_story_counts_work_and_wrong_windows(engine):
    tasks.setup(engine)
    events = streams.make_events(seed=7, as_of="2026-01-02")
    early = int((events["arrival"] <= 4).sum())
    story = streams.late_arrival_story(engine, events, early_until=4)
    assert story["work"] == {"lambda batch": early, "kappa": len(events), "lambda speed": len(events) - early}
    assert story["wrong"] == {"Lambda (batch + speed) windows wrong": 1, "Kappa windows wrong": 0}
    assert streams.compare(story["truth"], streams.truth(engine)).empty
    again = streams.late_arrival_story(engine, events, early_until=4)       # it resets the log first
    assert again["work"] == story["work"] and again["wrong"] == story["wrong"]
