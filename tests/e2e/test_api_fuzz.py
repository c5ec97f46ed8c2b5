"""Schemathesis against the API deployed in MiniStack, from the committed docs/openapi.json.

Every operation in the document gets schema-boundary cases (the coverage phase) and
random valid and invalid requests (the fuzzing phase), deterministically (derandomized,
no example database) and in bounded numbers. IAM routes get SigV4-signed requests,
the dashboard routes a read-only API key. Every response must be no 5xx, carry a
status code and content type the document declares for the operation and match its
schema, and every request the document calls invalid must be refused with a 4xx.

The demo's data stays as test_stack.py and the dashboard test expect it, whatever
order the e2e tests run in. The fuzzer reads the demo brand (GET only: real messages,
statistics and sources make the schema checks worth something) and sends everything
else to a brand of its own, `fuzz`: no sources, no recipients, two messages it may
resolve. A message the fuzzer leaves open is resolved when it is done, so a later
sweep has nothing of the fuzzer's to flag.
"""

from __future__ import annotations

import json
import re
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import hypothesis.strategies as st
import pytest
import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.meta import TestPhase
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from infra.local import scenario
from infra.local.demo import DemoRun
from infra.local.stack import ACCESS_KEY, REGION, SECRET_KEY, LocalStack, wait_for
from infra.openapi import DOCUMENT
from replywatch import apikeys
from replywatch.api import message_id
from replywatch.models import SLUG_PATTERN, Brand, Message, MessageKind, MessageStatus
from replywatch.store import MessageStore, StateStore

FUZZ_BRAND = "fuzz"
READ_ONLY_BRANDS = (scenario.BRAND_ID,)  # the demo's: read, never written
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_EXAMPLES = 25  # random cases per operation, after the coverage phase's boundary cases
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,  # what the document calls invalid (e.g. ?limit=0) is refused with a 4xx
]
SEEDED = [
    Message(
        brand=FUZZ_BRAND,
        platform="mastodon",
        source_id="fuzz-social",
        platform_id=f"fuzz-{n}",
        author_id=f"{n}",
        author_handle=f"@fuzz{n}@example.social",
        text=f"Fuzz seed {n}: when does the shop open?",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),  # replaced by the time of seeding
        kind=MessageKind.MENTION,
    )
    for n in (1, 2)
]
SEEDED_IDS = [message_id(message.key) for message in SEEDED]

timings: list[float] = []


class SigV4(requests.auth.AuthBase):
    """Sign the request as it is sent (method, URL with its query, headers, body), as an IAM caller."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        headers = {name: value for name, value in request.headers.items() if name.lower() != "connection"}
        signed = AWSRequest(method=request.method, url=request.url, data=request.body, headers=headers)
        SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "execute-api", REGION).add_auth(signed)
        request.headers.update(dict(signed.headers.items()))
        return request


# The committed document, loaded when the module is collected; the stack's URL is given per call.
schema = schemathesis.openapi.from_path(
    DOCUMENT,
    config=schemathesis.Config.from_dict(
        {
            "generation": {
                "mode": "all",  # valid requests and invalid ones
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                # Unknown query parameters are ignored, as most APIs do: not an invalid request to refuse.
                "allow-extra-parameters": False,
                # Credentials are the test's to set (signed, or the dashboard key), not generated values.
                "with-security-parameters": False,
            },
            "phases": {"examples": {"enabled": False}, "stateful": {"enabled": False}},
            "request-timeout": 60,
        }
    ),
)


def reads_only(*methods: str) -> bool:
    return {method.upper() for method in methods} <= READ_ONLY_METHODS


def brands_for(*methods: str) -> list[str]:
    """Brands that exist and that a request may name: the demo's only for reads."""
    return [*READ_ONLY_BRANDS, FUZZ_BRAND] if reads_only(*methods) else [FUZZ_BRAND]


@schema.hook
def flatmap_path_parameters(context: schemathesis.HookContext, path_parameters: dict[str, Any]) -> Any:
    """Fuzzing phase: mostly a brand (and message) that exists, since a generated id is all but always a 404."""
    assert context.operation is not None
    strategy = st.just(path_parameters)
    if not path_parameters:
        return strategy
    if "brand_id" in path_parameters:
        brands = [*brands_for(context.operation.method), path_parameters["brand_id"]]
        strategy = strategy.flatmap(lambda found: st.sampled_from(brands).map(lambda b: {**found, "brand_id": b}))
    if "message" in path_parameters:
        ids = [*SEEDED_IDS, path_parameters["message"]]
        strategy = strategy.flatmap(lambda found: st.sampled_from(ids).map(lambda m: {**found, "message": m}))
    return strategy


@schema.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case[Any]) -> schemathesis.Case[Any]:
    """Coverage phase (no Hypothesis draws there): the same mix, chosen by a checksum of the case's query
    and body. Ids that break the path pattern stay: they are the cases that test its validation."""
    if case.meta is None or case.meta.phase.name != TestPhase.COVERAGE or not case.path_parameters:
        return case
    pick = zlib.crc32(json.dumps([case.query, case.body], sort_keys=True, default=str).encode())
    replaced = dict(case.path_parameters)
    brand = replaced.get("brand_id")
    if isinstance(brand, str) and re.fullmatch(SLUG_PATTERN, brand):
        choices = [*brands_for(case.method, case.operation.method), brand]  # also an unexpected method's
        replaced["brand_id"] = choices[pick % len(choices)]
    identifier = replaced.get("message")
    if isinstance(identifier, str) and re.fullmatch(r"[A-Za-z0-9_-]+", identifier):
        replaced["message"] = [*SEEDED_IDS, identifier][pick % (len(SEEDED_IDS) + 1)]
    case.path_parameters = replaced
    return case


@dataclass(frozen=True)
class Target:
    api_base: str
    dashboard_key: str


@pytest.fixture(scope="module")
def target(stack: LocalStack, demo_run: DemoRun) -> Iterator[Target]:
    """The demo has run (its brand has data to read); the fuzzer's brand, key and messages exist."""
    state = StateStore(stack.client("dynamodb"), stack.outputs["StateTableName"])
    state.put_brand(Brand(brand_id=FUZZ_BRAND, name="Fuzz (schemathesis)"))
    now = datetime.now(UTC)
    token, key = apikeys.create("schemathesis", [FUZZ_BRAND, *READ_ONLY_BRANDS], now)
    state.put_api_key(key)
    store = MessageStore(stack.client("dynamodb"), stack.outputs["MessagesTableName"], stack.outputs["StateTableName"])
    for message in SEEDED:
        store.put_new(
            message.model_copy(update={"created_at": now - timedelta(minutes=1)}),
            ingested_at=now,
            expires_at=now + timedelta(days=1),
        )

    def counted() -> bool:
        records = [store.get(message.key) for message in SEEDED]
        return all(record is not None and record.counted for record in records)

    wait_for(counted, timeout=60, what="the stream to count the fuzzer's messages")
    yield Target(api_base=stack.api_url(""), dashboard_key=token)
    for message in SEEDED:
        record = store.get(message.key)
        if record is not None and record.status in (MessageStatus.OPEN, MessageStatus.OVERDUE):
            path = f"/brands/{FUZZ_BRAND}/messages/{message_id(message.key)}/resolve"
            status, body = stack.api_request("POST", path, body=b'{"reason": "other"}', sign=True)
            assert status == 200, body


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http
    if timings:
        print(
            f"\nschemathesis: {len(timings)} requests, mean {1000 * sum(timings) / len(timings):.0f} ms, "
            f"max {1000 * max(timings):.0f} ms, total {sum(timings):.1f} s"
        )


@schema.parametrize()
@settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_api_answers_as_its_document_says(
    case: schemathesis.Case[Any], target: Target, session: requests.Session
) -> None:
    if not reads_only(case.method, case.operation.method):
        # Belt and braces over the hooks: nothing but a read ever names a demo brand.
        assert (case.path_parameters or {}).get("brand_id") not in READ_ONLY_BRANDS, case.path_parameters
    started = time.perf_counter()
    if case.operation.path.startswith("/dashboard/"):
        # The key-holders' routes: no IAM, the fuzzer's read-only key (a 403 when the stack is iam-only).
        bearer = {"Authorization": f"Bearer {target.dashboard_key}"}
        response = case.call(base_url=target.api_base, session=session, headers=bearer)
    else:
        response = case.call(base_url=target.api_base, session=session, auth=SigV4())
    timings.append(time.perf_counter() - started)
    case.validate_response(response, checks=CHECKS)
