"""WOSA's example: a card payment as a workflow on the local engine, its steps run by
conductor-python runners in threads."""

import pytest

from fdelib import conductor
from fdelib.workflows import payments
from fdelib.workflows.threads import ThreadWorkers


@pytest.fixture(scope="module")
def engine_clients(engine):
    clients = conductor.clients()
    payments.register(conductor.executor(), clients.get_metadata_client())
    with ThreadWorkers(payments.WORKERS):
        yield clients


def test_the_data_decides_the_path_and_the_engine_records_it(engine_clients):
    table = payments.run(engine_clients.get_workflow_client(), payments.examples(120.0, "2026-01-02"))
    assert table["status"].to_dict() == {"PAY-1": "COMPLETED", "PAY-2": "COMPLETED", "PAY-3": "FAILED"}
    assert table["path"].to_dict() == {
        "PAY-1": "validate_card → score_risk → authorize → capture",
        "PAY-2": "validate_card → score_risk → decline",
        "PAY-3": "validate_card",
    }  # a terminal error: nothing after it, no retry
    assert table.loc["PAY-1", "outcome"] == "captured, auth 88DA1C, settles 2026-01-05"  # Friday -> Monday
    assert table.loc["PAY-2", "outcome"] == "payment PAY-2 declined: cross-border amount above 1,000 USD"
    assert table.loc["PAY-3", "outcome"] == "card number 411111******1112 fails its Luhn check digit"


def test_an_amount_over_the_available_credit_is_declined(engine_clients):
    [first] = payments.examples(6_000.0, "2026-01-02")[:1]
    table = payments.run(engine_clients.get_workflow_client(), [first])
    assert table.loc["PAY-1", "path"] == "validate_card → score_risk → decline"
    assert "exceeds available credit" in table.loc["PAY-1", "outcome"]


def test_an_expired_card_fails_validation():
    with pytest.raises(Exception, match="card expired 2025-12"):
        payments.validate_card("P", "4111111111111111", "2025-12", "2026-01-02")
    assert payments.validate_card("P", "4111 1111 1111 1111", "2026-01", "2026-01-02") == {"card": "411111******1111"}


def test_the_stored_definition_is_the_structure_the_lesson_draws(engine_clients):
    stored = payments.stored_definition(engine_clients.get_metadata_client())
    route = stored["tasks"][2]
    assert [t["taskReferenceName"] for t in stored["tasks"]] == ["validate_card", "score_risk", "route"]
    assert route["type"] == "SWITCH"
    assert [t["taskReferenceName"] for t in route["decisionCases"]["approve"]] == ["authorize", "capture"]
    assert [t["taskReferenceName"] for t in route["defaultCase"]] == ["decline"]


def test_the_cardholder_text_names_the_card_the_amount_and_the_authorisation():
    assert payments.notify_cardholder("P", 1250, "411111******1111", "88DA1C") == {
        "sms": "Card ending 1111: 1,250.00 USD paid, auth 88DA1C"
    }
    assert "pay_notify_cardholder" in payments.WORKERS
