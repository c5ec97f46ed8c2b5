"""fetch_mention(): the comment an Instagram ``mentions`` webhook names, read from Graph's
``mentioned_comment`` edge (httpx.MockTransport), in the shapes Meta documents for it
(tests/fixtures/instagram/mentioned_comment*.json, Graph's error bodies)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from replywatch.connectors.base import AuthFailed, ConnectorError, RateLimited
from replywatch.connectors.instagram import MENTION_FIELDS, MENTION_FIELDS_NARROW, GraphUnavailable, fetch_mention
from replywatch.models import Message, MessageKind, Source
from tests.support.connectors import acme_source
from tests.unit.connectors.graph_fake import BASE, VERSION, fixture

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
IG_USER_ID = "17841400000000001"
MEDIA_ID = "17918195224117851"
COMMENT_ID = "17894227972186120"
REPLY_ID = "17894227972186121"
TOKEN = "IGQVJfakeAccountToken"
SOURCE = acme_source("instagram", "instagram", BASE, ig_user_id=IG_USER_ID)

Answer = httpx.Response | Exception


class FakeGraph:
    """Answers in turn; records every request."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def fields(self, index: int = 0) -> str:
        return self.requests[index].url.params["fields"]


def ok(name: str, edit: Callable[[dict[str, Any]], None] | None = None) -> httpx.Response:
    body = fixture("instagram", name)
    if edit is not None:
        edit(body["mentioned_comment"])
    return httpx.Response(200, json=body)


def error(name: str, status: int = 400, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=fixture("instagram", name), headers=headers)


def read(
    graph: FakeGraph, *, comment_id: str = COMMENT_ID, source: Source = SOURCE, secret: str = TOKEN
) -> Message | None:
    with httpx.Client(transport=httpx.MockTransport(graph)) as client:
        return fetch_mention(client, source, secret, media_id=MEDIA_ID, comment_id=comment_id, now=NOW)


def test_a_mention_is_read_from_the_mentioned_comment_edge_with_the_accounts_token() -> None:
    graph = FakeGraph(ok("mentioned_comment.json"))
    message = read(graph)
    (request,) = graph.requests
    assert request.method == "GET" and request.url.path == f"/{VERSION}/{IG_USER_ID}"
    assert graph.fields() == f"mentioned_comment.comment_id({COMMENT_ID}){{{MENTION_FIELDS}}}"
    assert MENTION_FIELDS == "id,text,timestamp,username,from,media{id,permalink},parent_id"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(request.url)
    assert message is not None
    assert (message.brand, message.platform, message.source_id) == ("acme", "instagram", "acme-instagram")
    assert (message.platform_id, message.kind, message.from_brand) == (COMMENT_ID, MessageKind.MENTION, False)
    assert (message.author_id, message.author_handle) == ("17841401111111111", "@dana.smith")
    assert message.text == "@acme my order arrived broken, can you help?"
    assert message.created_at == datetime(2026, 11, 23, 11, 58, 30, tzinfo=UTC)
    assert message.permalink == "https://www.instagram.com/p/DaNa123abc/"
    # Someone else's medium: the mention opens a conversation, in the medium's thread.
    assert (message.parent_id, message.parent_author_id, message.thread_id) == (None, None, MEDIA_ID)


def test_a_mention_replying_to_a_comment_names_that_comment_as_its_parent() -> None:
    message = read(FakeGraph(ok("mentioned_comment_reply.json")), comment_id=REPLY_ID)
    assert message is not None
    assert (message.platform_id, message.parent_id, message.thread_id) == (REPLY_ID, COMMENT_ID, MEDIA_ID)
    assert message.kind is MessageKind.MENTION and message.author_id == "17841401111111111"


def test_if_graph_refuses_the_undocumented_fields_the_comment_is_asked_again_with_fewer() -> None:
    def narrow(comment: dict[str, Any]) -> None:
        del comment["from"]

    graph = FakeGraph(error("error_nonexisting_field.json"), ok("mentioned_comment.json", narrow))
    message = read(graph)
    assert [graph.fields(0), graph.fields(1)] == [
        f"mentioned_comment.comment_id({COMMENT_ID}){{{MENTION_FIELDS}}}",
        f"mentioned_comment.comment_id({COMMENT_ID}){{{MENTION_FIELDS_NARROW}}}",
    ]
    assert message is not None
    assert (message.author_id, message.author_handle) == ("dana.smith", "@dana.smith")  # as the poller does


def test_a_comment_that_no_longer_exists_is_a_lasting_error_not_a_passing_one() -> None:
    graph = FakeGraph(error("error_object_missing.json"), error("error_object_missing.json"))
    with pytest.raises(ConnectorError) as raised:
        read(graph)
    assert not isinstance(raised.value, GraphUnavailable | RateLimited | AuthFailed)
    assert len(graph.requests) == 2  # error 100 once more with the documented fields, then no further


def test_graph_throttling_is_rate_limited_until_graph_says() -> None:
    usage = {IG_USER_ID: [{"type": "instagram", "call_count": 100, "estimated_time_to_regain_access": 17}]}
    headers = {"X-Business-Use-Case-Usage": json.dumps(usage)}
    with pytest.raises(RateLimited) as raised:
        read(FakeGraph(error("error_throttled.json", 400, headers)))
    assert raised.value.retry_at == NOW + timedelta(minutes=17)


def test_an_expired_token_or_a_secret_without_one_is_auth_failed() -> None:
    with pytest.raises(AuthFailed):
        read(FakeGraph(error("error_expired_token.json")))
    graph = FakeGraph()
    with pytest.raises(AuthFailed):
        read(graph, secret='{"client_id": "no token here"}')
    assert graph.requests == []


@pytest.mark.parametrize(
    "answer",
    [
        httpx.ConnectTimeout("connect timed out"),
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectError("connection refused"),
        httpx.Response(502, text="<html>Bad Gateway</html>"),
        httpx.Response(503, text=""),
        httpx.Response(500, json=fixture("instagram", "error_transient.json")),
        httpx.Response(400, json={"error": {"message": "Please retry", "type": "OAuthException", "code": 1}}),
    ],
    ids=["connect-timeout", "read-timeout", "refused", "502", "503", "transient-code-2", "unknown-code-1"],
)
def test_network_failures_5xx_and_graphs_transient_errors_are_graph_unavailable(answer: Answer) -> None:
    graph = FakeGraph(answer)
    with pytest.raises(GraphUnavailable):
        read(graph)
    assert len(graph.requests) == 1


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json={"id": IG_USER_ID}),  # no mentioned_comment
        httpx.Response(200, text="not json"),
        httpx.Response(200, json=["a", "list"]),
        ok("mentioned_comment.json", lambda comment: comment.update(id="17000000000000000")),
        ok("mentioned_comment.json", lambda comment: comment.update(timestamp="yesterday")),
        ok("mentioned_comment.json", lambda comment: (comment.pop("from"), comment.pop("username"))),
    ],
    ids=["no-comment", "not-json", "not-an-object", "another-comment", "bad-time", "no-author"],
)
def test_answers_that_are_not_the_mentioned_comment_are_lasting_errors(answer: httpx.Response) -> None:
    with pytest.raises(ConnectorError) as raised:
        read(FakeGraph(answer))
    assert not isinstance(raised.value, GraphUnavailable)
    assert "broken" not in str(raised.value)  # never the comment's text


def test_the_accounts_own_mention_answers_nobody_unless_it_replies_to_a_comment() -> None:
    def by_brand(comment: dict[str, Any]) -> None:
        comment["from"] = {"id": IG_USER_ID, "username": "acme"}
        comment["username"] = "acme"

    assert read(FakeGraph(ok("mentioned_comment.json", by_brand))) is None
    reply = read(FakeGraph(ok("mentioned_comment_reply.json", by_brand)), comment_id=REPLY_ID)
    assert reply is not None and reply.from_brand is True and reply.parent_id == COMMENT_ID
    # Graph may give the account a scoped id: the username option recognises it too.
    named = SOURCE.model_copy(update={"options": {"ig_user_id": IG_USER_ID, "username": "ACME"}})

    def scoped(comment: dict[str, Any]) -> None:
        by_brand(comment)
        comment["from"]["id"] = "5656565656"

    assert read(FakeGraph(ok("mentioned_comment.json", scoped)), source=named) is None


def test_the_source_base_url_is_where_graph_is_called() -> None:
    local = SOURCE.model_copy(update={"base_url": "http://127.0.0.1:8765/v21.0"})
    graph = FakeGraph(ok("mentioned_comment.json"))
    read(graph, source=local)
    assert str(graph.requests[0].url).startswith(f"http://127.0.0.1:8765/v21.0/{IG_USER_ID}?fields=")


def test_a_source_without_its_account_id_is_a_lasting_error() -> None:
    graph = FakeGraph()
    with pytest.raises(ConnectorError):
        read(graph, source=SOURCE.model_copy(update={"options": {}}))
    assert graph.requests == []


def test_a_permission_error_about_one_comment_is_a_lasting_error_not_a_refused_token() -> None:
    denied = {"error": {"message": "(#10) Application does not have permission", "type": "OAuthException", "code": 10}}
    with pytest.raises(ConnectorError) as raised:
        read(FakeGraph(httpx.Response(403, json=denied)))
    assert not isinstance(raised.value, AuthFailed | GraphUnavailable)
