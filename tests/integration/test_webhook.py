"""The Meta webhook function with moto: secret, tables and stream as the stack builds them; an
Instagram mention is read from a local fake of Graph (127.0.0.1) with the source's token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from replywatch.models import Brand, Source
from tests.support import aws
from tests.support.events import rest_event

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta_webhooks"
SECRET_NAME = "replywatch-meta-app"
APP_SECRET = "0a1b2c3d4e5f-app-secret"
VERIFY_TOKEN = "a-long-random-verify-token"
PAGE_ID = "1000001"
IG_ID = "17841400000000001"
IG_TOKEN = "IGQVJfakeAccountTokenInSecretsManager"
MENTION_COMMENT = "17894227972186120"
GRAPH_ANSWER = (FIXTURES.parent / "instagram" / "mentioned_comment.json").read_bytes()


@dataclass
class FakeGraph:
    """Graph's mentioned_comment edge on 127.0.0.1: the documented answer for the account's
    token, after any scripted failures (HTTP statuses)."""

    failures: list[int] = field(default_factory=list)
    requests: list[tuple[str, dict[str, list[str]], str]] = field(default_factory=list)  # path, query, auth
    base_url: str = ""


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    fake = FakeGraph()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            fake.requests.append((url.path, parse_qs(url.query), self.headers.get("Authorization", "")))
            status, body = 200, GRAPH_ANSWER
            if fake.failures:
                status, body = fake.failures.pop(0), b"Service Unavailable"
            elif self.headers.get("Authorization") != f"Bearer {IG_TOKEN}" or url.path != f"/v21.0/{IG_ID}":
                status, body = 400, (FIXTURES.parent / "instagram" / "error_expired_token.json").read_bytes()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}/v21.0"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def webhook(aws_env: None, graph: FakeGraph, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.setenv("META_APP_CREDENTIALS_NAME", SECRET_NAME)
    secrets = boto3.client("secretsmanager", region_name=aws.REGION)
    secrets.create_secret(
        Name=SECRET_NAME, SecretString=json.dumps({"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN})
    )
    secrets.create_secret(Name="replywatch/acme-instagram", SecretString=IG_TOKEN)
    handler = aws.load_handler("webhook")
    state = handler.runtime.state
    state.put_brand(Brand(brand_id="acme", name="Acme"))
    for platform, option, value in (("facebook", "page_id", PAGE_ID), ("instagram", "ig_user_id", IG_ID)):
        state.put_source(
            Source(
                brand_id="acme",
                source_id=f"acme-{platform}",
                platform=platform,
                base_url=graph.base_url if platform == "instagram" else "https://graph.facebook.com/v21.0",
                token_secret=f"replywatch/acme-{platform}",
                options={option: value},
            )
        )
    yield handler


def deliver(handler: ModuleType, body: bytes, signature: str | None, *, encode: bool = False) -> dict[str, Any]:
    event = rest_event("/webhooks/meta", method="POST")
    event["headers"] = {"Content-Type": "application/json", "User-Agent": "facebookexternalua"}
    if signature is not None:
        event["headers"]["X-Hub-Signature-256"] = signature
    event["body"] = base64.b64encode(body).decode() if encode else body.decode()
    event["isBase64Encoded"] = encode
    return handler.lambda_handler(event, aws.LambdaContext())


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def stored() -> dict[str, dict[str, Any]]:
    return {item["pk"]["S"]: item for item in aws.iter_table(aws.MESSAGES_TABLE)}


def test_the_subscription_handshake_echoes_the_challenge_for_the_verify_token(webhook: ModuleType) -> None:
    query = f"hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"
    answer = webhook.lambda_handler(rest_event("/webhooks/meta", query), aws.LambdaContext())
    assert (answer["statusCode"], answer["body"]) == (200, "1158201444")
    assert answer["headers"]["Content-Type"] == "text/plain"
    wrong = "hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1158201444"
    assert webhook.lambda_handler(rest_event("/webhooks/meta", wrong), aws.LambdaContext())["statusCode"] == 403


def test_a_bad_or_missing_signature_is_refused_and_the_messages_table_stays_empty(webhook: ModuleType) -> None:
    body = (FIXTURES / "page_feed_comment.json").read_bytes()
    assert deliver(webhook, body, None)["statusCode"] == 401
    assert deliver(webhook, body, sign(body, "not-the-app-secret"))["statusCode"] == 403
    assert deliver(webhook, body.replace(b"broken", b"lovely"), sign(body))["statusCode"] == 403
    assert stored() == {}


def test_a_signed_delivery_is_stored_once_even_when_delivered_twice(webhook: ModuleType) -> None:
    body = (FIXTURES / "page_feed_comment.json").read_bytes()
    assert deliver(webhook, body, sign(body))["statusCode"] == 200
    assert deliver(webhook, body, sign(body), encode=True)["statusCode"] == 200
    items = stored()
    assert list(items) == ["acme#facebook#2001_3001"]
    item = items["acme#facebook#2001_3001"]
    assert item["source_id"]["S"] == "acme-facebook" and item["kind"]["S"] == "comment"
    assert item["pending_pk"]["S"] == "acme"  # the same write path as polled messages


def test_an_instagram_delivery_encoded_by_api_gateway_is_verified_on_its_bytes(webhook: ModuleType) -> None:
    body = (FIXTURES / "instagram_comments.json").read_bytes()
    assert deliver(webhook, body, sign(body), encode=True)["statusCode"] == 200
    assert set(stored()) == {"acme#instagram#17870913679156914", "acme#instagram#17870913679156920"}


def test_deliveries_for_no_configured_source_get_200_and_store_nothing(webhook: ModuleType) -> None:
    document = json.loads((FIXTURES / "page_feed_comment.json").read_text())
    document["entry"][0]["id"] = "424242"
    body = json.dumps(document).encode()
    assert deliver(webhook, body, sign(body))["statusCode"] == 200
    mention = json.loads((FIXTURES / "instagram_mentions.json").read_text())
    mention["entry"][0]["id"] = "17841499999999999"
    body = json.dumps(mention).encode()
    assert deliver(webhook, body, sign(body))["statusCode"] == 200
    assert stored() == {}


def test_a_signed_mention_is_read_with_the_accounts_token_and_stored_once_when_delivered_twice(
    webhook: ModuleType, graph: FakeGraph
) -> None:
    body = (FIXTURES / "instagram_mentions.json").read_bytes()
    assert deliver(webhook, body, sign(body))["statusCode"] == 200
    assert deliver(webhook, body, sign(body), encode=True)["statusCode"] == 200
    items = stored()
    assert list(items) == [f"acme#instagram#{MENTION_COMMENT}"]
    item = items[f"acme#instagram#{MENTION_COMMENT}"]
    assert (item["kind"]["S"], item["source_id"]["S"]) == ("mention", "acme-instagram")
    assert item["text"]["S"] == "@acme my order arrived broken, can you help?"
    assert (item["author_id"]["S"], item["author_handle"]["S"]) == ("17841401111111111", "@dana.smith")
    assert item["pending_pk"]["S"] == "acme"
    # One Graph call (the second delivery found it stored), with the token from Secrets Manager.
    ((path, query, authorization),) = graph.requests
    assert (path, authorization) == (f"/v21.0/{IG_ID}", f"Bearer {IG_TOKEN}")
    assert query["fields"] == [
        f"mentioned_comment.comment_id({MENTION_COMMENT}){{id,text,timestamp,username,from,media{{id,permalink}},parent_id}}"
    ]


def test_a_mention_graph_cannot_give_yet_answers_503_and_is_stored_when_meta_delivers_again(
    webhook: ModuleType, graph: FakeGraph
) -> None:
    graph.failures.append(502)
    body = (FIXTURES / "instagram_mentions.json").read_bytes()
    assert deliver(webhook, body, sign(body))["statusCode"] == 503
    assert stored() == {}
    assert deliver(webhook, body, sign(body))["statusCode"] == 200
    assert list(stored()) == [f"acme#instagram#{MENTION_COMMENT}"]


def test_a_page_reply_by_webhook_answers_the_comment_once_processed(webhook: ModuleType, pump: aws.StreamPump) -> None:
    for name in ("page_feed_comment.json", "page_feed_replies.json"):
        body = (FIXTURES / name).read_bytes()
        assert deliver(webhook, body, sign(body))["statusCode"] == 200
    items = stored()
    assert set(items) == {"acme#facebook#2001_3001", "acme#facebook#2001_3002", "acme#facebook#2001_3003"}
    # Dana's second comment replies to her first, which was stored: the follow-up is known.
    assert items["acme#facebook#2001_3002"]["parent_author_id"]["S"] == "5550001"

    process = aws.load_handler("process")
    assert process.lambda_handler(aws.stream_event(pump.new_records()), aws.LambdaContext()) == {
        "batchItemFailures": []
    }
    opener = process.runtime.messages.get("acme#facebook#2001_3001")
    assert opener.first_response_at is not None
    assert opener.responded_by == "acme#facebook#2001_3003"
    assert opener.first_response_seconds == 20 * 60
