"""Meta webhooks: the handshake, signatures, and events parsed from payloads in Meta's documented
shapes (tests/fixtures/meta_webhooks) into messages for the idempotent write path."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from replywatch import webhooks
from replywatch.models import Message, MessageKind, MessageRecord, Source, SourceState
from replywatch.webhooks import MetaApp, Reply, Request, handle, parse, verify_challenge, verify_signature

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta_webhooks"
NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
APP = MetaApp(app_secret="s3cr3t-app", verify_token="let-me-in")
PAGE_ID = "1000001"
IG_ID = "17841400000000001"
FACEBOOK = Source(
    brand_id="acme",
    source_id="acme-facebook",
    platform="facebook",
    base_url="https://graph.facebook.com/v21.0",
    token_secret="replywatch/acme-facebook",
    options={"page_id": PAGE_ID},
)
INSTAGRAM = Source(
    brand_id="acme",
    source_id="acme-instagram",
    platform="instagram",
    base_url="https://graph.facebook.com/v21.0",
    token_secret="replywatch/acme-instagram",
    options={"ig_user_id": IG_ID},
)
SECRET_TEXT = "my card number ends 4242 and I live at 1 Elm Row"
MENTION_MEDIA = "17918195224117851"
MENTION_COMMENT = "17894227972186120"


def payload(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def sign(body: bytes, secret: str = APP.app_secret) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def no_parents(source: Source, parent_id: str) -> str | None:
    return None


def by_id(messages: list[Message]) -> dict[str, Message]:
    return {message.platform_id: message for message in messages}


class MemoryMessages:
    """put_new and get: what the webhook path uses of the message repository."""

    def __init__(self) -> None:
        self.items: dict[str, MessageRecord] = {}
        self.puts = 0

    def put_new(self, message: Message, *, ingested_at: datetime, expires_at: datetime) -> bool:
        self.puts += 1
        if message.key in self.items:
            return False
        self.items[message.key] = MessageRecord.model_validate(message.model_dump())
        return True

    def get(self, key: str) -> MessageRecord | None:
        return self.items.get(key)


class MemoryState:
    def __init__(self, *sources: Source) -> None:
        self.sources = list(sources)

    def list_sources(self) -> list[tuple[Source, SourceState]]:
        return [(source, SourceState()) for source in self.sources]


@pytest.fixture
def webhook_log() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("replywatch.webhooks")
    handler, level = Keep(logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)


# --- signatures -------------------------------------------------------------------------------------


def test_a_signature_made_with_the_app_secret_over_the_exact_body_verifies() -> None:
    body = json.dumps(payload("page_feed_comment.json")).encode()
    assert verify_signature(body, sign(body), APP.app_secret)
    assert verify_signature(body, sign(body).upper().replace("SHA256=", "sha256="), APP.app_secret)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha1=" + hashlib.sha1(b"x").hexdigest(),  # the old header's scheme: not accepted
        "sha256=" + "0" * 64,
        "nonsense",
    ],
)
def test_a_missing_or_wrong_signature_does_not_verify(header: str | None) -> None:
    assert not verify_signature(b'{"object":"page"}', header, APP.app_secret)


def test_a_signature_over_other_bytes_or_with_another_secret_does_not_verify() -> None:
    body = b'{"object":"page","entry":[]}'
    assert not verify_signature(body + b" ", sign(body), APP.app_secret)
    assert not verify_signature(body, sign(body, "another-secret"), APP.app_secret)
    assert not verify_signature(body, sign(body), "")


# --- the handshake ----------------------------------------------------------------------------------


def test_the_handshake_echoes_the_challenge_only_for_our_verify_token() -> None:
    good = {"hub.mode": "subscribe", "hub.verify_token": "let-me-in", "hub.challenge": "1158201444"}
    assert verify_challenge(good, APP.verify_token) == "1158201444"
    assert verify_challenge({**good, "hub.verify_token": "guess"}, APP.verify_token) is None
    assert verify_challenge({**good, "hub.mode": "unsubscribe"}, APP.verify_token) is None
    assert verify_challenge({"hub.mode": "subscribe", "hub.challenge": "1"}, APP.verify_token) is None
    assert verify_challenge(None, APP.verify_token) is None
    assert verify_challenge(good, "") is None


# --- parsing: Facebook Pages --------------------------------------------------------------------------


def test_a_page_comment_becomes_a_customer_comment() -> None:
    parsed = parse(payload("page_feed_comment.json"), [FACEBOOK], no_parents)
    (message,) = parsed.messages
    assert (message.brand, message.platform, message.source_id) == ("acme", "facebook", "acme-facebook")
    assert message.platform_id == "2001_3001" and message.kind is MessageKind.COMMENT
    assert (message.author_id, message.author_handle) == ("5550001", "Dana Smith")
    assert message.text == "My order arrived broken"
    assert message.created_at == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert (message.parent_id, message.thread_id) == ("1000001_2001", "1000001_2001")
    assert message.from_brand is False
    assert message.permalink == "https://www.facebook.com/1000001/posts/2001"
    assert (parsed.skipped, parsed.deferred) == (0, 0)


def test_page_replies_carry_their_parent_and_the_stored_parents_author() -> None:
    def dana_wrote_3001(source: Source, parent_id: str) -> str | None:
        return "5550001" if parent_id == "2001_3001" else None

    parsed = parse(payload("page_feed_replies.json"), [FACEBOOK], dana_wrote_3001)
    found = by_id(parsed.messages)
    # The Page's own top-level comment answers nobody; the edit and the reaction are not messages.
    assert set(found) == {"2001_3002", "2001_3003"}
    follow_up = found["2001_3002"]
    assert (follow_up.parent_id, follow_up.parent_author_id, follow_up.author_id) == ("2001_3001", "5550001", "5550001")
    reply = found["2001_3003"]
    assert reply.from_brand is True and reply.parent_id == "2001_3001" and reply.author_id == PAGE_ID
    assert reply.parent_key == "acme#facebook#2001_3001"


def test_a_post_by_a_visitor_on_the_page_is_a_mention() -> None:
    (message,) = parse(payload("page_feed_visitor_post.json"), [FACEBOOK], no_parents).messages
    assert message.kind is MessageKind.MENTION and message.platform_id == "1000001_2002"
    assert (message.author_id, message.text) == ("5550002", "Does the winter jacket come in green?")
    assert message.created_at == datetime(2026, 11, 23, 12, 10, tzinfo=UTC)


def test_messenger_messages_are_stored_only_when_they_name_what_they_answer() -> None:
    parsed = parse(payload("messenger.json"), [FACEBOOK], no_parents)
    found = by_id(parsed.messages)
    assert set(found) == {"m_Ab2", "m_Ab3"}
    assert parsed.deferred == 2  # m_Ab1 and m_Ab4: the poller reads them with their place in the thread
    customer, answer = found["m_Ab2"], found["m_Ab3"]
    assert customer.kind is MessageKind.DM and customer.parent_id == "m_Ab0" and customer.from_brand is False
    assert customer.created_at == datetime(2026, 11, 23, 12, 5, tzinfo=UTC)  # milliseconds
    assert (answer.from_brand, answer.parent_id, answer.author_id) == (True, "m_Ab2", PAGE_ID)


# --- parsing: Instagram ---------------------------------------------------------------------------------


def test_instagram_comments_and_the_accounts_reply() -> None:
    parsed = parse(payload("instagram_comments.json"), [INSTAGRAM], no_parents)
    found = by_id(parsed.messages)
    comment, reply = found["17870913679156914"], found["17870913679156920"]
    assert (comment.platform, comment.kind, comment.from_brand) == ("instagram", MessageKind.COMMENT, False)
    assert (comment.parent_id, comment.parent_author_id, comment.thread_id) == (
        "17895695668004550",
        IG_ID,
        "17895695668004550",
    )
    assert (comment.author_id, comment.author_handle, comment.text) == (
        "232323232",
        "@dana.smith",
        "My order arrived broken @acme",
    )
    assert comment.created_at == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # the entry's time
    assert (reply.from_brand, reply.parent_id) == (True, "17870913679156914")


def test_instagram_replies_by_the_account_are_recognised_by_its_username_option() -> None:
    named = INSTAGRAM.model_copy(update={"options": {"ig_user_id": IG_ID, "username": "ACME"}})
    document = payload("instagram_comments.json")
    document["entry"][1]["changes"][0]["value"]["from"]["id"] = "5656565656"  # a scoped id
    found = by_id(parse(document, [named], no_parents).messages)
    assert found["17870913679156920"].from_brand is True


def test_an_instagram_mention_is_named_for_reading_from_graph_not_parsed_into_a_message() -> None:
    parsed = parse(payload("instagram_mentions.json"), [INSTAGRAM], no_parents)
    assert parsed.messages == [] and (parsed.skipped, parsed.deferred) == (0, 0)
    assert parsed.mentions == [webhooks.Mention(INSTAGRAM, IG_ID, MENTION_MEDIA, MENTION_COMMENT)]


def test_caption_mentions_are_left_out_and_mentions_with_odd_ids_are_malformed(
    webhook_log: list[logging.LogRecord],
) -> None:
    document = payload("instagram_mentions.json")
    changes = document["entry"][0]["changes"]
    changes.append({"field": "mentions", "value": {"media_id": "17918195224117852"}})  # a caption
    changes.append({"field": "mentions", "value": {"media_id": MENTION_MEDIA, "comment_id": "1){access_token}"}})
    parsed = parse(document, [INSTAGRAM], no_parents)
    assert [mention.comment_id for mention in parsed.mentions] == [MENTION_COMMENT]
    assert (parsed.deferred, parsed.skipped) == (1, 1)
    assert any(getattr(record, "media_id", None) == "17918195224117852" for record in webhook_log)


# --- parsing: what is skipped ------------------------------------------------------------------------


def test_unknown_entries_disabled_sources_and_unknown_objects_are_skipped(webhook_log: list[logging.LogRecord]) -> None:
    other_page = FACEBOOK.model_copy(update={"options": {"page_id": "999"}})
    assert parse(payload("page_feed_comment.json"), [other_page], no_parents).skipped == 1
    disabled = FACEBOOK.model_copy(update={"enabled": False})
    assert parse(payload("page_feed_comment.json"), [disabled], no_parents).messages == []
    assert parse(payload("page_feed_comment.json"), [INSTAGRAM], no_parents).messages == []  # page is not ig
    assert parse({"object": "whatsapp_business_account", "entry": []}, [FACEBOOK], no_parents).skipped == 1
    assert parse(["not", "an", "object"], [FACEBOOK], no_parents).skipped == 1
    assert any(getattr(record, "entry_id", None) == PAGE_ID for record in webhook_log)


def test_two_brands_watching_one_page_each_get_the_comment() -> None:
    other_brand = FACEBOOK.model_copy(update={"brand_id": "globex", "source_id": "globex-facebook"})
    parsed = parse(payload("page_feed_comment.json"), [FACEBOOK, other_brand], no_parents)
    assert sorted(message.key for message in parsed.messages) == [
        "acme#facebook#2001_3001",
        "globex#facebook#2001_3001",
    ]


def test_malformed_events_are_logged_by_id_without_text_and_the_rest_kept(
    webhook_log: list[logging.LogRecord],
) -> None:
    document = payload("page_feed_replies.json")
    changes = document["entry"][0]["changes"]
    changes[0]["value"]["created_time"] = "yesterday"
    changes[0]["value"]["message"] = SECRET_TEXT
    changes[1]["value"]["from"] = SECRET_TEXT
    changes.append({"field": "feed"})
    changes.append("not a change")
    document["entry"].append("not an entry")
    parsed = parse(document, [FACEBOOK], no_parents)
    # Two broken comments, a change without a value, a change that is not an object, an entry that
    # is not one; the Page's own post comment, the edit and the reaction are simply not messages.
    assert parsed.messages == []
    assert parsed.skipped == 5
    skipped = [record for record in webhook_log if "malformed" in record.getMessage()]
    assert {getattr(record, "event_id", "n/a") for record in skipped} >= {"2001_3002", "2001_3003"}
    for record in webhook_log:
        dumped = repr(record.__dict__) + record.getMessage()
        assert "ends 4242" not in dumped and "Elm Row" not in dumped  # not bare digits: a timestamp may hold them


# --- the endpoint ------------------------------------------------------------------------------------------


def post(body: bytes, signature: str | None) -> Request:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers[webhooks.SIGNATURE_HEADER] = signature
    return Request(method="POST", params={}, headers=headers, body=body)


def serve(
    request: Request,
    messages: MemoryMessages,
    *sources: Source,
    app: Any = lambda: APP,
    mentions: webhooks.MentionReader | None = None,
) -> Reply:
    return handle(
        request,
        app=app,
        state=MemoryState(*(sources or (FACEBOOK, INSTAGRAM))),
        messages=messages,
        now=NOW,
        retention=timedelta(days=400),
        mentions=mentions,
    )


def test_get_answers_the_challenge_as_text_or_403() -> None:
    messages = MemoryMessages()
    params = {"hub.mode": "subscribe", "hub.verify_token": "let-me-in", "hub.challenge": "CHALLENGE_ACCEPTED"}
    reply = serve(Request("GET", params, {}, b""), messages)
    assert (reply.status, reply.body, reply.content_type) == (200, "CHALLENGE_ACCEPTED", "text/plain")
    assert serve(Request("GET", {**params, "hub.verify_token": "nope"}, {}, b""), messages).status == 403
    assert serve(Request("PUT", {}, {}, b""), messages).status == 405


def test_a_bad_or_missing_signature_is_refused_and_nothing_is_stored() -> None:
    messages = MemoryMessages()
    body = json.dumps(payload("page_feed_comment.json")).encode()
    assert serve(post(body, None), messages).status == 401
    assert serve(post(body, sign(body, "wrong")), messages).status == 403
    assert serve(post(body.replace(b"broken", b"fine!!"), sign(body)), messages).status == 403
    assert messages.items == {} and messages.puts == 0


def test_a_signed_delivery_is_stored_once_however_often_it_comes() -> None:
    messages = MemoryMessages()
    body = json.dumps(payload("page_feed_comment.json")).encode()
    assert serve(post(body, sign(body)), messages).status == 200
    assert serve(post(body, sign(body)), messages).status == 200
    assert list(messages.items) == ["acme#facebook#2001_3001"]
    assert messages.puts == 2


def test_a_reply_after_its_stored_parent_learns_the_parents_author() -> None:
    messages = MemoryMessages()
    for name in ("page_feed_comment.json", "page_feed_replies.json"):
        body = (FIXTURES / name).read_bytes()
        assert serve(post(body, sign(body)), messages).status == 200
    follow_up = messages.items["acme#facebook#2001_3002"]
    assert follow_up.parent_author_id == "5550001" == follow_up.author_id


def test_signed_but_useless_deliveries_get_200_and_store_nothing() -> None:
    messages = MemoryMessages()
    for body in (b"not json", b'{"object":"page","entry":[{"id":"42","changes":[{"field":"feed"}]}]}', b"[]"):
        assert serve(post(body, sign(body)), messages).status == 200
    assert messages.items == {}


def test_a_storage_failure_answers_503_so_meta_delivers_again() -> None:
    class Broken(MemoryMessages):
        def put_new(self, message: Message, *, ingested_at: datetime, expires_at: datetime) -> bool:
            raise ConnectionError("DynamoDB is away")

    body = (FIXTURES / "page_feed_comment.json").read_bytes()
    assert serve(post(body, sign(body)), Broken()).status == 503


# 1e21 ms is 1e18 s: OSError (EOVERFLOW) on Linux; 1e23 ms and -1e20 s: OverflowError; 1e15 s: ValueError.
@pytest.mark.parametrize("created_time", [1e21, 1e23, -1e20, float("inf"), 1e15])
def test_a_time_out_of_range_is_malformed_logged_by_id_and_skipped_with_200(
    created_time: float, webhook_log: list[logging.LogRecord]
) -> None:
    document = payload("page_feed_replies.json")
    document["entry"][0]["changes"][0]["value"] |= {"created_time": created_time, "message": SECRET_TEXT}
    instagram = payload("instagram_comments.json")
    instagram["entry"][0]["time"] = created_time
    messages = MemoryMessages()
    for body in (json.dumps(document).encode(), json.dumps(instagram).encode()):
        assert serve(post(body, sign(body)), messages).status == 200
    assert sorted(messages.items) == ["acme#facebook#2001_3003", "acme#instagram#17870913679156920"]
    skipped = [record for record in webhook_log if "malformed" in record.getMessage()]
    assert sorted(str(getattr(record, "event_id", None)) for record in skipped) == ["17870913679156914", "2001_3002"]
    for record in webhook_log:
        dumped = repr(record.__dict__) + record.getMessage()
        assert "ends 4242" not in dumped and "Elm Row" not in dumped  # not bare digits: a timestamp may hold them


def test_a_failure_to_read_a_stored_parent_still_answers_503() -> None:
    class Unreachable(MemoryMessages):
        def get(self, key: str) -> MessageRecord | None:
            raise OSError("DynamoDB is away")  # not a malformed event: Meta must deliver again

    body = (FIXTURES / "page_feed_replies.json").read_bytes()
    assert serve(post(body, sign(body)), Unreachable()).status == 503


def test_an_unreadable_app_secret_answers_503() -> None:
    def unreadable() -> MetaApp:
        raise ValueError("the Meta app secret needs app_secret and verify_token")

    body = b"{}"
    assert serve(post(body, sign(body)), MemoryMessages(), app=unreadable).status == 503


def test_the_app_secret_is_json_with_both_values() -> None:
    assert MetaApp.from_secret('{"app_secret": "a", "verify_token": "b"}') == MetaApp("a", "b")
    for bad in ('{"app_secret": "a"}', "[]", "plain"):
        with pytest.raises(ValueError):
            MetaApp.from_secret(bad)
    assert "a" not in repr(MetaApp("a-secret", "b-token")).replace("MetaApp", "")


# --- Instagram @mentions, read from Graph ----------------------------------------------------------------

IG_TOKEN = "IGQVJfakeAccountToken"
MENTION_REPLY = "17894227972186121"
GRAPH_FIXTURES = FIXTURES.parent / "instagram"
GraphAnswer = httpx.Response | Exception


class MentionGraph:
    """Graph's ``mentioned_comment`` edge (httpx.MockTransport): the documented answers from the
    fixtures, unless answers are scripted for a comment id."""

    def __init__(self) -> None:
        self.scripted: dict[str, list[GraphAnswer]] = {}  # comment id -> answers in turn
        self.comments = {
            MENTION_COMMENT: json.loads((GRAPH_FIXTURES / "mentioned_comment.json").read_text()),
            MENTION_REPLY: json.loads((GRAPH_FIXTURES / "mentioned_comment_reply.json").read_text()),
        }
        self.requests: list[httpx.Request] = []
        self.on_request: Callable[[], None] = lambda: None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.on_request()
        found = re.fullmatch(r"mentioned_comment\.comment_id\((\d+)\)\{.*\}", request.url.params.get("fields", ""))
        assert found is not None and request.url.path == f"/v21.0/{IG_ID}"
        queue = self.scripted.get(found.group(1))
        if queue:
            answer = queue.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        if request.headers.get("Authorization") != f"Bearer {IG_TOKEN}":
            return graph_error("error_expired_token.json")
        body = self.comments.get(found.group(1))
        return httpx.Response(200, json=body) if body else graph_error("error_object_missing.json")

    @property
    def comment_ids(self) -> list[str]:
        return [re.findall(r"\d+", request.url.params["fields"])[0] for request in self.requests]


def graph_error(name: str, status: int = 400) -> httpx.Response:
    return httpx.Response(status, json=json.loads((GRAPH_FIXTURES / name).read_text()))


@dataclass
class Secrets:
    texts: dict[str, str] = field(default_factory=lambda: {INSTAGRAM.token_secret: IG_TOKEN})
    read: list[str] = field(default_factory=list)

    def __call__(self, name: str) -> str:
        self.read.append(name)
        return self.texts[name]  # KeyError: as unreadable as a missing secret


def reader(graph: MentionGraph, secrets: Secrets | None = None, clock: Callable[[], float] | None = None) -> Any:
    return webhooks.MentionReader(
        secret=secrets or Secrets(),
        client=httpx.Client(transport=httpx.MockTransport(graph)),
        **({"clock": clock} if clock else {}),
    )


def mentions_of(*comment_ids: str) -> bytes:
    changes = [{"field": "mentions", "value": {"media_id": MENTION_MEDIA, "comment_id": c}} for c in comment_ids]
    return json.dumps(
        {"object": "instagram", "entry": [{"id": IG_ID, "time": 1795435200, "changes": changes}]}
    ).encode()


def test_a_signed_mention_is_read_from_graph_and_stored_once_however_often_it_comes() -> None:
    messages, graph, secrets = MemoryMessages(), MentionGraph(), Secrets()
    mentions = reader(graph, secrets)
    body = (FIXTURES / "instagram_mentions.json").read_bytes()
    assert serve(post(body, sign(body)), messages, mentions=mentions).status == 200
    assert serve(post(body, sign(body)), messages, mentions=mentions).status == 200
    assert list(messages.items) == [f"acme#instagram#{MENTION_COMMENT}"]
    stored = messages.items[f"acme#instagram#{MENTION_COMMENT}"]
    assert (stored.kind, stored.source_id, stored.from_brand) == (MessageKind.MENTION, "acme-instagram", False)
    assert (stored.author_id, stored.author_handle) == ("17841401111111111", "@dana.smith")
    assert stored.text == "@acme my order arrived broken, can you help?"
    assert stored.created_at == datetime(2026, 11, 23, 11, 58, 30, tzinfo=UTC)
    assert stored.permalink == "https://www.instagram.com/p/DaNa123abc/"
    # The second delivery found it stored: Graph was asked once, with the source's own token.
    assert graph.comment_ids == [MENTION_COMMENT]
    assert secrets.read == [INSTAGRAM.token_secret]


def test_a_mention_replying_to_the_same_persons_stored_mention_is_a_follow_up() -> None:
    messages, graph = MemoryMessages(), MentionGraph()
    for comment_id in (MENTION_COMMENT, MENTION_REPLY):
        body = mentions_of(comment_id)
        assert serve(post(body, sign(body)), messages, mentions=reader(graph)).status == 200
    reply = messages.items[f"acme#instagram#{MENTION_REPLY}"]
    assert (reply.parent_id, reply.parent_author_id, reply.author_id) == (
        MENTION_COMMENT,
        "17841401111111111",
        "17841401111111111",
    )


def test_a_passing_graph_failure_answers_503_after_storing_the_rest_and_the_redelivery_stores_the_mention(
    webhook_log: list[logging.LogRecord],
) -> None:
    messages = MemoryMessages()
    graph = MentionGraph()
    graph.scripted[MENTION_COMMENT] = [httpx.Response(503, text="Service Unavailable")]
    document = payload("instagram_comments.json")
    document["entry"][0]["changes"].append(
        {"field": "mentions", "value": {"media_id": MENTION_MEDIA, "comment_id": MENTION_COMMENT}}
    )
    body = json.dumps(document).encode()
    first = serve(post(body, sign(body)), messages, mentions=reader(graph))
    assert first.status == 503
    assert set(messages.items) == {"acme#instagram#17870913679156914", "acme#instagram#17870913679156920"}
    assert any(getattr(record, "comment_id", None) == MENTION_COMMENT for record in webhook_log)
    second = serve(post(body, sign(body)), messages, mentions=reader(graph))
    assert second.status == 200
    assert f"acme#instagram#{MENTION_COMMENT}" in messages.items and len(messages.items) == 3
    assert graph.comment_ids == [MENTION_COMMENT, MENTION_COMMENT]


@pytest.mark.parametrize(
    ("case", "graph_calls"),
    [
        ("throttled", [MENTION_COMMENT]),  # the account is throttled: its next mention is not asked for
        ("token refused", [MENTION_COMMENT]),
        ("secret unreadable", []),
        # Gone for good (deleted): asked again with the documented fields, and each mention on its own.
        ("comment gone", [MENTION_COMMENT, MENTION_COMMENT, MENTION_REPLY, MENTION_REPLY]),
    ],
)
def test_mentions_that_cannot_be_read_are_logged_by_id_and_skipped_with_200(
    case: str, graph_calls: list[str], webhook_log: list[logging.LogRecord]
) -> None:
    graph, secrets = MentionGraph(), Secrets()
    if case == "throttled":
        graph.scripted[MENTION_COMMENT] = [graph_error("error_throttled.json")]
    elif case == "token refused":
        secrets.texts[INSTAGRAM.token_secret] = "an-expired-token"
    elif case == "secret unreadable":
        secrets.texts.clear()
    else:
        graph.comments.clear()
    messages = MemoryMessages()
    body = mentions_of(MENTION_COMMENT, MENTION_REPLY)
    assert serve(post(body, sign(body)), messages, mentions=reader(graph, secrets)).status == 200
    assert messages.items == {}
    assert graph.comment_ids == graph_calls
    logged = {getattr(record, "comment_id", None) for record in webhook_log if record.levelno >= logging.WARNING}
    assert {MENTION_COMMENT, MENTION_REPLY} <= logged
    for record in webhook_log:
        dumped = repr(record.__dict__) + record.getMessage()
        assert "broken" not in dumped and IG_TOKEN not in dumped and "an-expired-token" not in dumped


def test_mentions_left_when_the_time_for_them_is_spent_come_with_the_redelivery() -> None:
    now = [0.0]
    graph = MentionGraph()

    def slow_graph() -> None:
        now[0] += webhooks.MENTION_BUDGET_SECONDS + 1  # each answer takes longer than all the time there is

    graph.on_request = slow_graph
    messages = MemoryMessages()
    body = mentions_of(MENTION_COMMENT, MENTION_REPLY)
    assert serve(post(body, sign(body)), messages, mentions=reader(graph, clock=lambda: now[0])).status == 503
    assert list(messages.items) == [f"acme#instagram#{MENTION_COMMENT}"]
    assert serve(post(body, sign(body)), messages, mentions=reader(graph, clock=lambda: now[0])).status == 200
    assert set(messages.items) == {f"acme#instagram#{MENTION_COMMENT}", f"acme#instagram#{MENTION_REPLY}"}
    assert graph.comment_ids == [MENTION_COMMENT, MENTION_REPLY]


def test_without_a_mention_reader_mentions_are_logged_and_the_delivery_still_gets_200() -> None:
    messages = MemoryMessages()
    body = (FIXTURES / "instagram_mentions.json").read_bytes()
    assert serve(post(body, sign(body)), messages).status == 200
    assert messages.items == {}


def test_once_graph_fails_for_the_moment_the_deliverys_other_mentions_wait_for_the_next_delivery() -> None:
    graph, messages = MentionGraph(), MemoryMessages()
    graph.scripted[MENTION_COMMENT] = [httpx.ReadTimeout("Graph is slow")]
    body = mentions_of(MENTION_COMMENT, MENTION_REPLY)
    assert serve(post(body, sign(body)), messages, mentions=reader(graph)).status == 503
    assert graph.comment_ids == [MENTION_COMMENT]  # no second wait on a Graph that is not answering
    assert serve(post(body, sign(body)), messages, mentions=reader(graph)).status == 200
    assert set(messages.items) == {f"acme#instagram#{MENTION_COMMENT}", f"acme#instagram#{MENTION_REPLY}"}


# --- API Gateway ------------------------------------------------------------------------------------------


def test_the_exact_bytes_are_verified_whether_api_gateway_encodes_the_body_or_not() -> None:
    body = '{"object":"page","entry":[],"note":"café ☕"}'.encode()
    signature = sign(body)
    plain = {
        "httpMethod": "POST",
        "headers": {"X-Hub-Signature-256": signature},
        "body": body.decode(),
        "isBase64Encoded": False,
    }
    encoded = {**plain, "body": base64.b64encode(body).decode(), "isBase64Encoded": True}
    for event in (plain, encoded):
        request = webhooks.request_from_api_gateway(event)
        assert request.body == body and request.method == "POST"
        assert verify_signature(request.body, request.headers[webhooks.SIGNATURE_HEADER], APP.app_secret)
    broken = webhooks.request_from_api_gateway({**encoded, "body": "%%%"})
    assert not verify_signature(broken.body, signature, APP.app_secret)


def test_the_response_is_an_api_gateway_proxy_response() -> None:
    assert webhooks.api_gateway_response(Reply(200, "123")) == {
        "statusCode": 200,
        "headers": {"Content-Type": "text/plain"},
        "body": "123",
        "isBase64Encoded": False,
    }
