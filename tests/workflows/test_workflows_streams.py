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


@pytest.mark.parametrize("remember", [False, True])
def test_speed_layer_and_kappa_consumer_are_equally_right_with_the_same_memory(log, remember):
    engine, events, late = log
    streams.lambda_batch(engine)
    streams.kappa_consume(engine, remember)
    streams.append(engine, late)  # late trades and the correction arrive
    assert streams.lambda_speed(engine, remember) == len(late)
    assert streams.kappa_consume(engine, remember) == len(late)
    expected = streams.truth(engine)
    lambda_wrong = streams.compare(streams.lambda_serving(engine), expected)
    kappa_wrong = streams.compare(streams.kappa_view(engine), expected)
    # like for like: the same windows wrong (the corrected trade's) without memory, none with it
    assert len(lambda_wrong) == len(kappa_wrong) == (0 if remember else 1)
    assert lambda_wrong[["symbol", "minute"]].equals(kappa_wrong[["symbol", "minute"]])
    # what differs is recomputation: Lambda's batch repairs a memoryless speed layer...
    assert streams.lambda_batch(engine) == len(events)  # batch re-reads everything
    assert streams.compare(streams.lambda_serving(engine), expected).empty
    # ...while Kappa's replay runs the same consumer, mistakes included
    assert streams.kappa_replay(engine, remember) == len(events)
    assert len(streams.compare(streams.kappa_view(engine), expected)) == (0 if remember else 1)


def test_the_defaults_are_the_usual_designs(log):
    """Lambda's speed layer is usually written without memory (its batch fixes it); Kappa's
    consumer must have it (nothing fixes it)."""
    engine, _events, late = log
    streams.lambda_batch(engine)
    streams.kappa_consume(engine)
    streams.append(engine, late)
    streams.lambda_speed(engine)
    streams.kappa_consume(engine)
    expected = streams.truth(engine)
    assert len(streams.compare(streams.lambda_serving(engine), expected)) == 1
    assert streams.compare(streams.kappa_view(engine), expected).empty


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
    strict = streams.stream(events, watermark_delay_minutes=0)
    lenient = streams.stream(events, watermark_delay_minutes=10)
    assert strict.dropped > 0 and lenient.dropped == 0
    assert strict.processed == lenient.processed == len(events)
    assert not streams.compare(strict.flush(), streams.truth(engine)).empty
    # even with no drops, a stateless stream counts the correction as a new trade
    assert len(streams.compare(lenient.flush(), streams.truth(engine))) == 1


def test_allowed_lateness_is_a_second_setting_beside_the_watermark_delay(log):
    """Watermark delay 0: every window fires at once. An allowed lateness keeps fired windows,
    so late events update them (fired again) instead of being dropped; the result is the same as
    a long watermark delay's, while the first answers came without waiting."""
    engine, events, late = log
    streams.append(engine, late)
    eager = streams.stream(events, watermark_delay_minutes=0)
    kept = streams.stream(events, watermark_delay_minutes=0, allowed_lateness_minutes=10)
    patient = streams.stream(events, watermark_delay_minutes=10)
    assert eager.dropped > 0 and eager.late_kept == 0
    assert kept.dropped == 0 and kept.late_kept == eager.dropped
    assert patient.late_kept == 0  # nothing arrived behind a watermark 10 minutes back
    assert streams.compare(kept.flush(), patient.flush()).empty


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


def test_late_arrival_story_compares_like_with_like(engine):
    tasks.setup(engine)
    events = streams.make_events(seed=7, as_of="2026-01-02")
    early = int((events["arrival"] <= 4).sum())
    story = streams.late_arrival_story(engine, events, early_until=4)
    assert story["work"] == {
        "lambda batch": early + len(events),
        "kappa": len(events),
        "lambda speed": len(events) - early,
        "kappa replay": len(events),
    }
    assert story["wrong"].to_dict() == {
        "no memory of versions": {
            "Lambda: after the speed layer": 1,
            "Lambda: after its next batch": 0,
            "Kappa: after the consumer": 1,
            "Kappa: after a replay": 1,
        },
        "memory of versions": {
            "Lambda: after the speed layer": 0,
            "Lambda: after its next batch": 0,
            "Kappa: after the consumer": 0,
            "Kappa: after a replay": 0,
        },
    }
    errors = story["errors"]
    assert sorted(errors["variant"].unique()) == [
        "Kappa, no memory",
        "Kappa, with memory",
        "Lambda, no memory",
        "Lambda, with memory",
    ]
    wrong = errors[errors["volume_error"] != 0]
    corrected = events[events["is_correction"]].iloc[0]
    replaced = events[(events["trade_id"] == corrected["trade_id"]) & ~events["is_correction"]].iloc[0]
    # the memoryless views keep the replaced version's shares, in the corrected trade's minute only
    assert sorted(wrong["variant"]) == ["Kappa, no memory", "Lambda, no memory"]
    assert (wrong["volume_error"] == replaced["quantity"]).all()
    assert (wrong["window"] == f"{corrected['symbol']}\n{corrected['event_time']:%H:%M}").all()
    assert streams.compare(story["truth"], streams.truth(engine)).empty
    again = streams.late_arrival_story(engine, events, early_until=4)  # it resets the log first
    assert again["work"] == story["work"] and again["wrong"].equals(story["wrong"])
