"""The Meta webhook on the deployed stack: public routes, signature checked, messages into the pipeline."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest

from infra.local.stack import LocalStack, wait_for
from replywatch.models import Brand, Source
from replywatch.store import MessageStore, StateStore

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "meta_webhooks" / "page_feed_comment.json"
APP_SECRET = "e2e-app-secret"
VERIFY_TOKEN = "e2e-verify-token"
PAGE_ID = "1000001"
BRAND = "globex"  # its own brand: the demo scenario's alerts and stats stay exact
MESSAGE_KEY = f"{BRAND}#facebook#2001_3001"


@pytest.fixture(scope="module")
def meta(stack: LocalStack) -> LocalStack:
    stack.client("secretsmanager").create_secret(
        Name="replywatch-meta-app", SecretString=json.dumps({"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN})
    )
    state = StateStore(stack.client("dynamodb"), stack.outputs["StateTableName"])
    state.put_brand(Brand(brand_id=BRAND, name="Globex"))
    state.put_source(
        Source(
            brand_id=BRAND,
            source_id="globex-facebook",
            platform="facebook",
            base_url="https://graph.facebook.com/v21.0",
            token_secret="replywatch/globex/globex-facebook",
            options={"page_id": PAGE_ID},
        )
    )
    return stack


def delivery() -> bytes:
    event: dict[str, Any] = json.loads(FIXTURE.read_text())
    event["entry"][0]["changes"][0]["value"]["created_time"] = int(time.time()) - 60
    return json.dumps(event).encode()


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def messages(stack: LocalStack) -> MessageStore:
    return MessageStore(stack.client("dynamodb"), stack.outputs["MessagesTableName"], stack.outputs["StateTableName"])


def test_the_subscription_handshake_answers_the_challenge_without_iam(meta: LocalStack) -> None:
    query = f"hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=424242"
    assert meta.api_request("GET", f"/webhooks/meta?{query}", sign=False) == (200, b"424242")
    wrong = "hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1"
    assert meta.api_request("GET", f"/webhooks/meta?{wrong}", sign=False)[0] == 403


@pytest.mark.parametrize("signature", [None, sign(b"something else"), sign(b"", "another-app")])
def test_an_unsigned_or_badly_signed_delivery_is_refused_and_stores_nothing(
    meta: LocalStack, signature: str | None
) -> None:
    body = delivery()
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    status, _ = meta.api_request("POST", "/webhooks/meta", body=body, headers=headers, sign=False)
    assert status in (401, 403)
    assert messages(meta).get(MESSAGE_KEY) is None


def test_a_signed_comment_is_stored_once_and_processed_by_the_stream(meta: LocalStack) -> None:
    body = delivery()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body)}
    for _ in range(2):  # Meta delivers again when unsure: one message all the same
        assert meta.api_request("POST", "/webhooks/meta", body=body, headers=headers, sign=False)[0] == 200
    store = messages(meta)
    record = wait_for(
        lambda: (found := store.get(MESSAGE_KEY)) and found.counted and found,
        timeout=60,
        what="the webhook's comment processed by the stream",
    )
    assert record.author_handle and record.kind.value == "comment" and record.due_at is not None
