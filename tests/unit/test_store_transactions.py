"""How the store reads DynamoDB's transaction cancellations."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from replywatch import store
from replywatch.ports import Busy, Conflict
from replywatch.store import MessageStore


def cancelled(*reasons: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": [{"Code": reason} for reason in reasons],
        },
        "TransactWriteItems",
    )


class ScriptedClient:
    def __init__(self, *outcomes: Exception | None) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def transact_write_items(self, **_: Any) -> None:
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if outcome is not None:
            raise outcome


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "TRANSACTION_BACKOFF_SECONDS", 0)


def test_a_clash_with_another_transaction_is_retried_until_it_goes_through() -> None:
    client = ScriptedClient(cancelled("None", "TransactionConflict"), cancelled("TransactionConflict", "None"), None)
    MessageStore(client, "m", "s")._transact([{}])
    assert client.calls == 3


def test_a_failed_condition_is_a_conflict_and_not_retried() -> None:
    client = ScriptedClient(cancelled("ConditionalCheckFailed", "None"))
    with pytest.raises(Conflict):
        MessageStore(client, "m", "s")._transact([{}])
    assert client.calls == 1


def test_a_clash_that_persists_is_busy_after_the_last_attempt() -> None:
    client = ScriptedClient(*[cancelled("TransactionConflict")] * store.TRANSACTION_ATTEMPTS)
    with pytest.raises(Busy):
        MessageStore(client, "m", "s")._transact([{}])
    assert client.calls == store.TRANSACTION_ATTEMPTS


def test_other_errors_are_not_retried() -> None:
    throttled = ClientError({"Error": {"Code": "ValidationException", "Message": "bad"}}, "TransactWriteItems")
    client = ScriptedClient(throttled)
    with pytest.raises(ClientError):
        MessageStore(client, "m", "s")._transact([{}])
    assert client.calls == 1


@pytest.mark.parametrize(
    ("value", "taken"),
    [("a" * 1024, True), ("é" * 512, True), ("é" * 513, False), ("", False), ("\ud800", False), (7, False)],
)
def test_a_page_token_holds_only_strings_dynamodb_takes_as_keys(value: object, taken: bool) -> None:
    start = {"pk": {"S": "acme#open"}, "sk": {"S": value}}
    assert store._is_page_token(start, {"pk", "sk"}, "pk", "acme#open") is taken
