"""Conversations: a customer's follow-ups join the conversation they continue, in any arrival order.

A customer writes, adds two follow-ups (replies to their own messages), and the brand answers the
last one. That is one conversation, answered from its first message. Stream records arrive in
any order (DynamoDB orders them per item only), so every order is tried.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest

from replywatch.models import Brand, Message, MessageKind, SlaPolicy
from replywatch.sweeping import PENDING_GRACE
from tests.support import aws
from tests.support.events import rest_event

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
CUSTOMER = "c-1"
BRAND_ACCOUNT = "b-1"


def post(platform_id: str, minutes: int, *, parent: str | None = None, brand: bool = False) -> Message:
    parent_author = None
    if parent is not None:
        parent_author = CUSTOMER if parent.startswith("o") or parent.startswith("f") else BRAND_ACCOUNT
    return Message(
        brand="acme",
        platform="x",
        source_id="acme-x",
        platform_id=platform_id,
        parent_id=parent,
        parent_author_id=parent_author,
        thread_id="o1",
        author_id=BRAND_ACCOUNT if brand else CUSTOMER,
        author_handle="@acme" if brand else "@carol",
        text="thanks, looking into it" if brand else "my order has not arrived",
        created_at=T0 + timedelta(minutes=minutes),
        kind=MessageKind.MENTION,
        from_brand=brand,
    )


THREAD = [
    post("o1", 0),
    post("f1", 1, parent="o1"),
    post("f2", 2, parent="f1"),
    post("r1", 10, parent="f2", brand=True),
]


@pytest.fixture
def runtime(aws_env: None):  # type: ignore[no-untyped-def]
    handler = aws.load_handler("process")
    handler.runtime.state.put_brand(Brand(brand_id="acme", name="Acme", sla=SlaPolicy(first_response_seconds=3600)))
    return handler


def stats(now: datetime) -> dict:
    api = aws.load_handler("api")
    response = api.lambda_handler(
        rest_event("/brands/acme/stats", "from=2026-11-19&to=2026-11-21"), aws.LambdaContext()
    )
    assert response["statusCode"] == 200, response["body"]
    return json.loads(response["body"])


def store(runtime, messages: list[Message]) -> None:  # type: ignore[no-untyped-def]
    for message in messages:
        assert runtime.runtime.messages.put_new(message, ingested_at=T0, expires_at=T0 + timedelta(days=400))


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_follow_ups_join_the_conversation_whatever_the_processing_order(
    runtime, pump: aws.StreamPump, order: tuple[int, ...]
) -> None:  # type: ignore[no-untyped-def]
    store(runtime, THREAD)
    records = pump.new_records()
    by_id = {r["dynamodb"]["Keys"]["pk"]["S"].rsplit("#", 1)[1]: r for r in records}
    ordered = [by_id[THREAD[i].platform_id] for i in order]
    assert runtime.lambda_handler(aws.stream_event(ordered), aws.LambdaContext()) == {"batchItemFailures": []}
    # Follow-ups processed before their conversation's first message are finished by the sweep.
    sweep = aws.load_handler("sweep")
    sweep.runtime.sweeper.sweep(T0 + PENDING_GRACE + timedelta(minutes=20))

    messages = runtime.runtime.messages
    opener = messages.get("acme#x#o1")
    assert opener is not None and opener.counted
    assert opener.first_response_seconds == 600, "answered from the conversation's first message"
    for follow_up in ("f1", "f2"):
        record = messages.get(f"acme#x#{follow_up}")
        assert record is not None and record.opener_key == "acme#x#o1" and not record.counted
    figures = stats(T0 + timedelta(hours=1))
    assert (figures["received"], figures["responded"], figures["backlog"]["open"]) == (1, 1, 0)
    assert figures["first_response_mean_seconds"] == 600


def test_a_message_after_the_answer_is_a_next_wait(runtime, pump: aws.StreamPump) -> None:  # type: ignore[no-untyped-def]
    later = post("f3", 30, parent="o1")  # replies to their own first message, after the brand answered
    store(runtime, THREAD)
    runtime.lambda_handler(aws.stream_event(pump.new_records()), aws.LambdaContext())
    store(runtime, [later])
    runtime.lambda_handler(aws.stream_event(pump.new_records()), aws.LambdaContext())

    record = runtime.runtime.messages.get("acme#x#f3")
    assert record is not None and record.counted and record.opener_key is None
    figures = stats(T0 + timedelta(hours=1))
    # a next-response wait: not a second conversation, but waiting in the backlog all the same
    assert (figures["received"], figures["responded"], figures["backlog"]["open"]) == (1, 1, 1)
    assert figures["next_response"]["received"] == 1


def test_a_follow_up_whose_first_message_never_arrives_counts_on_its_own(runtime, pump: aws.StreamPump) -> None:  # type: ignore[no-untyped-def]
    orphan = post("f9", 5, parent="o-never-polled")
    store(runtime, [orphan])
    runtime.lambda_handler(aws.stream_event(pump.new_records()), aws.LambdaContext())
    assert not runtime.runtime.messages.get("acme#x#f9").counted, "waits for its conversation first"

    aws.load_handler("sweep").runtime.sweeper.sweep(T0 + PENDING_GRACE + timedelta(minutes=10))

    record = runtime.runtime.messages.get("acme#x#f9")
    assert record is not None and record.counted
    assert stats(T0)["received"] == 1


def test_a_sweep_meeting_a_follow_up_before_its_unprocessed_first_message_counts_one_conversation(
    runtime,  # type: ignore[no-untyped-def]
) -> None:
    # Both stream records were lost; the sweep happens to reach the follow-up first.
    messages = runtime.runtime.messages
    assert messages.put_new(THREAD[1], ingested_at=T0 - timedelta(minutes=1), expires_at=T0 + timedelta(days=400))
    assert messages.put_new(THREAD[0], ingested_at=T0, expires_at=T0 + timedelta(days=400))
    aws.load_handler("sweep").runtime.sweeper.sweep(T0 + PENDING_GRACE + timedelta(minutes=1))

    assert messages.get("acme#x#f1").opener_key == "acme#x#o1"
    assert messages.get("acme#x#o1").counted
    assert stats(T0)["received"] == 1


def test_a_follow_up_after_the_answer_is_a_next_wait_whatever_the_order_of_its_own_follow_ups(
    runtime,  # type: ignore[no-untyped-def]
    pump: aws.StreamPump,
) -> None:
    store(runtime, THREAD)
    runtime.lambda_handler(aws.stream_event(pump.new_records()), aws.LambdaContext())
    # After the brand's answer (minute 10): f5 replies to the first message, f6 to f5; f6 is processed first.
    store(runtime, [post("f5", 20, parent="o1"), post("f6", 25, parent="f5")])
    records = pump.new_records()
    runtime.lambda_handler(aws.stream_event(list(reversed(records))), aws.LambdaContext())
    aws.load_handler("sweep").runtime.sweeper.sweep(T0 + PENDING_GRACE + timedelta(minutes=30))

    messages = runtime.runtime.messages
    assert messages.get("acme#x#f5").counted and messages.get("acme#x#f5").opener_key is None
    assert messages.get("acme#x#f6").opener_key == "acme#x#f5"
    figures = stats(T0)
    # a next-response wait: not a second conversation, but waiting in the backlog all the same
    assert (figures["received"], figures["responded"], figures["backlog"]["open"]) == (1, 1, 1)
    assert figures["next_response"]["received"] == 1


def test_a_redelivered_batch_never_leaves_a_message_both_counted_and_filed(runtime, pump: aws.StreamPump) -> None:  # type: ignore[no-untyped-def]
    store(runtime, THREAD)
    records = pump.new_records()
    for _ in range(3):
        runtime.lambda_handler(aws.stream_event(records), aws.LambdaContext())
    for platform_id in ("o1", "f1", "f2"):
        record = runtime.runtime.messages.get(f"acme#x#{platform_id}")
        assert record is not None and not (record.counted and record.opener_key)
    assert stats(T0)["received"] == 1


def test_a_comment_on_a_post_never_stored_is_counted_at_once(runtime, pump: aws.StreamPump) -> None:  # type: ignore[no-untyped-def]
    # The brand's own post (the thread's root) is never stored: nothing to wait for.
    comment = post("c1", 5, parent="o1").model_copy(update={"parent_author_id": BRAND_ACCOUNT})
    store(runtime, [comment])
    runtime.lambda_handler(aws.stream_event(pump.new_records()), aws.LambdaContext())

    record = runtime.runtime.messages.get("acme#x#c1")
    assert record is not None and record.counted
    figures = stats(T0)
    assert (figures["received"], figures["next_response"]["received"]) == (1, 0)


def test_a_reply_to_a_brand_reply_polled_later_waits_for_it_and_is_a_next_wait(runtime, pump: aws.StreamPump) -> None:  # type: ignore[no-untyped-def]
    # The customer answers the brand's reply r1, and their message is polled before r1.
    again = post("n1", 20, parent="r1")
    store(runtime, [again])
    runtime.lambda_handler(aws.stream_event(pump.new_records()), aws.LambdaContext())
    assert not runtime.runtime.messages.get("acme#x#n1").counted, "waits: its parent may be the brand's reply"

    store(runtime, THREAD)
    runtime.lambda_handler(aws.stream_event(pump.new_records()), aws.LambdaContext())
    aws.load_handler("sweep").runtime.sweeper.sweep(T0 + timedelta(minutes=21))

    record = runtime.runtime.messages.get("acme#x#n1")
    assert record is not None and record.counted
    figures = stats(T0)
    assert (figures["received"], figures["next_response"]["received"]) == (1, 1)


def test_a_reply_to_someone_elses_message_is_counted_at_once(runtime, pump: aws.StreamPump) -> None:  # type: ignore[no-untyped-def]
    # Deep in a thread, answering another customer: the platform says the parent is not the brand's.
    elsewhere = post("x1", 5, parent="t-other").model_copy(update={"parent_author_id": "c-2", "parent_by_brand": False})
    unknown = post("x2", 6, parent="t-unknown").model_copy(update={"parent_author_id": None})
    store(runtime, [elsewhere, unknown])
    runtime.lambda_handler(aws.stream_event(pump.new_records()), aws.LambdaContext())

    assert runtime.runtime.messages.get("acme#x#x1").counted
    assert not runtime.runtime.messages.get("acme#x#x2").counted, "its parent may be the brand's reply"


def test_someone_else_answering_the_brands_reply_opens_a_conversation_of_their_own(
    runtime,  # type: ignore[no-untyped-def]
    pump: aws.StreamPump,
) -> None:
    store(runtime, THREAD)
    runtime.lambda_handler(aws.stream_event(pump.new_records()), aws.LambdaContext())
    other = post("g1", 15, parent="r1").model_copy(update={"author_id": "c-2", "author_handle": "@gus"})
    again = post("n1", 20, parent="r1")  # the customer the brand answered writes again
    store(runtime, [other, again])
    runtime.lambda_handler(aws.stream_event(pump.new_records()), aws.LambdaContext())

    messages = runtime.runtime.messages
    assert messages.get("acme#x#g1").wait.value == "first"
    assert messages.get("acme#x#n1").wait.value == "next"
    figures = stats(T0)
    assert (figures["received"], figures["next_response"]["received"], figures["backlog"]["open"]) == (2, 1, 2)


def test_answering_the_brands_own_post_opens_a_conversation(runtime, pump: aws.StreamPump) -> None:  # type: ignore[no-untyped-def]
    announcement = post("p1", 0, brand=True)  # the brand's own post: it answers nobody
    store(runtime, [announcement, post("c1", 5, parent="p1").model_copy(update={"parent_author_id": BRAND_ACCOUNT})])
    runtime.lambda_handler(aws.stream_event(pump.new_records()), aws.LambdaContext())

    assert runtime.runtime.messages.get("acme#x#c1").wait.value == "first"
    figures = stats(T0)
    assert (figures["received"], figures["next_response"]["received"]) == (1, 0)


def test_answering_the_second_part_of_the_brands_answer_is_a_next_wait(runtime, pump: aws.StreamPump) -> None:  # type: ignore[no-untyped-def]
    more = post("r2", 11, parent="r1", brand=True)  # the brand's answer in two posts: r1, then r2 under it
    again = post("n1", 20, parent="r2")
    store(runtime, [*THREAD, more, again])
    runtime.lambda_handler(aws.stream_event(pump.new_records()), aws.LambdaContext())
    aws.load_handler("sweep").runtime.sweeper.sweep(T0 + timedelta(minutes=21))

    assert runtime.runtime.messages.get("acme#x#n1").wait.value == "next"
    assert stats(T0)["next_response"]["received"] == 1


@pytest.mark.parametrize(
    ("answered_author", "parent_by_brand", "wait"),
    [
        (CUSTOMER, False, "next"),  # the brand answered this customer's message, not stored here
        ("c-2", False, "first"),  # it answered someone else's
        (None, None, "next"),  # nothing says: most replies to a brand's answer are its customer's
        (BRAND_ACCOUNT, True, "first"),  # the brand's own thread: its post answers nobody
    ],
)
def test_a_reply_to_a_brand_answer_whose_parent_is_not_stored_goes_by_the_answers_parent_author(
    runtime,  # type: ignore[no-untyped-def]
    pump: aws.StreamPump,
    answered_author: str | None,
    parent_by_brand: bool | None,
    wait: str,
) -> None:
    answer = post("r9", 10, parent="o-old", brand=True).model_copy(
        update={"parent_author_id": answered_author, "parent_by_brand": parent_by_brand}
    )
    store(runtime, [answer])
    runtime.lambda_handler(aws.stream_event(pump.new_records()), aws.LambdaContext())
    store(runtime, [post("n9", 20, parent="r9")])
    runtime.lambda_handler(aws.stream_event(pump.new_records()), aws.LambdaContext())

    record = runtime.runtime.messages.get("acme#x#n9")
    assert record is not None and record.counted and record.wait.value == wait


def test_an_imported_conversation_answered_by_the_brand_is_continued_by_the_same_handle(
    runtime,  # type: ignore[no-untyped-def]
    pump: aws.StreamPump,
) -> None:
    # Imported history keeps the author's handle as its id; the polled reply has the platform's id.
    imported = post("o1", 0).model_copy(update={"author_id": "@carol", "author_handle": "@carol"})
    store(runtime, [imported, post("r1", 10, parent="o1", brand=True)])
    runtime.lambda_handler(aws.stream_event(pump.new_records()), aws.LambdaContext())
    store(runtime, [post("n1", 20, parent="r1").model_copy(update={"author_handle": "@Carol"})])
    runtime.lambda_handler(aws.stream_event(pump.new_records()), aws.LambdaContext())

    assert runtime.runtime.messages.get("acme#x#n1").wait.value == "next"
