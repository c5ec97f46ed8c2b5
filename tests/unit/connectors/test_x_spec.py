"""The X connector's requests, our fixtures and the fake's answers against X's OpenAPI document
(../shared/specs/x-api-v2/openapi.json, version 2.167; skipped where ../shared is absent).

One known difference: for the two timelines the document names the field list ``post.fields``,
with an enum that lacks ``author_id``, ``in_reply_to_user_id`` and ``referenced_tweets``, and
calls the response field ``referenced_posts``. The live API and docs.x.com use ``tweet.fields``
and ``referenced_tweets`` (the document itself still defines ``tweet.fields`` that way for its
stream endpoints). So ``tweet.fields`` is checked against the document's own ``tweet.fields``
definition, and ``referenced_tweets`` items against its ``PostReferencedPosts`` schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx
import pytest

from infra.local.fake_x import XApi
from tests.support.openapi import Spec, spec_or_skip
from tests.unit.connectors.test_x import (
    BRAND_ID,
    KNOWN,
    NOW,
    Harness,
    add_mentions,
    fixture,
    meter,
    poll,
    snowflake,
)

DOCUMENT = "x-api-v2/openapi.json"
ME = "/2/users/me"
MENTIONS = "/2/users/{id}/mentions"
TWEETS = "/2/users/{id}/tweets"


@pytest.fixture
def spec() -> Spec:
    return spec_or_skip(DOCUMENT)


def live_names(spec: Spec) -> dict[str, Mapping[str, Any]]:
    """``tweet.fields`` as the same document defines it where it still uses the live name."""
    stream = spec.parameters("/2/tweets/search/stream")
    return {"tweet.fields": stream[("query", "tweet.fields")]}


def template_of(path: str) -> str:
    if path == ME:
        return ME
    return MENTIONS if path.endswith("/mentions") else TWEETS


def request_problems(spec: Spec, request: httpx.Request, *, renamed: bool = True) -> list[str]:
    return spec.request_errors(
        template_of(request.url.path),
        request.url.path,
        list(request.url.params.multi_items()),
        renamed=live_names(spec) if renamed else None,
    )


def response_problems(spec: Spec, template: str, body: Any) -> list[str]:
    problems = spec.errors(body, spec.response_schema(template))
    references = spec.schema("PostReferencedPosts")
    for index, post in enumerate(body.get("data", []) if isinstance(body.get("data"), list) else []):
        if "referenced_tweets" in post:
            problems += spec.errors(post["referenced_tweets"], references, f"$.data[{index}].referenced_tweets")
    return problems


def test_every_request_the_connector_makes_follows_the_documented_parameters(spec: Spec) -> None:
    harness = Harness()
    ids = add_mentions(harness.api, 230, step=timedelta(minutes=1))
    poll(harness, cursor={}, max_pages=1, backfill_from=NOW - timedelta(days=1))  # users/me, start_time, tokens
    poll(harness, cursor={**KNOWN, "mentions": ids[5]}, max_pages=3)  # since_id and pagination_token
    poll(harness, cursor=dict(KNOWN), meter=meter(107))  # max_results capped by the budget
    assert {template_of(r.url.path) for r in harness.requests} == {ME, MENTIONS, TWEETS}
    assert any("pagination_token" in r.url.params for r in harness.requests)
    assert any(r.url.params.get("max_results") == "7" for r in harness.requests)
    for request in harness.requests:
        assert request_problems(spec, request) == [], request.url


def test_the_only_difference_from_the_timeline_parameters_is_the_field_list_name(spec: Spec) -> None:
    harness = Harness()
    poll(harness, cursor=dict(KNOWN))
    for request in harness.requests:
        assert request_problems(spec, request, renamed=False) == [
            f"query parameter tweet.fields is not documented for {template_of(request.url.path)}"
        ]


def test_the_parameter_check_catches_what_x_refuses(spec: Spec) -> None:
    bad = [("max_results", "500"), ("since_id", "12ab"), ("start_time", "yesterday"), ("tweet.fields", "mood")]
    problems = spec.request_errors(MENTIONS, f"/2/users/{BRAND_ID}/mentions", bad, renamed=live_names(spec))
    assert len(problems) == 4, problems
    assert spec.request_errors(MENTIONS, "/2/users/acme/mentions", [])  # ids are numeric


@pytest.mark.parametrize(
    ("name", "template"),
    [
        ("users_me", ME),
        ("mentions_page", MENTIONS),
        ("partial_errors", MENTIONS),
        ("user_not_found", MENTIONS),
        ("empty_page", MENTIONS),
        ("brand_timeline", TWEETS),
    ],
)
def test_fixtures_follow_the_documented_responses(spec: Spec, name: str, template: str) -> None:
    assert response_problems(spec, template, fixture(name)) == []


def test_the_response_check_catches_a_wrong_shape(spec: Spec) -> None:
    body = fixture("mentions_page")
    body["meta"]["result_count"] = "3"
    body["data"][0]["referenced_tweets"] = [{"type": "reply", "id": "1"}]
    body["includes"]["users"][0]["username"] = 7
    body["errors"] = [{"type": "https://api.x.com/2/problems/resource-not-found", "title": "Not Found Error"}]
    problems = response_problems(spec, MENTIONS, body)
    where = sorted({problem.split(":")[0] for problem in problems})
    assert where == [
        "$.data[0].referenced_tweets[0].type",
        "$.errors[0]",
        "$.includes.users[0].username",
        "$.meta.result_count",
    ], problems


def test_the_fakes_answers_follow_the_documented_responses(spec: Spec) -> None:
    api = XApi()
    api.add_user(BRAND_ID, "AcmeSupport", token="t")
    api.add_user("4400000001", "dana_k")
    question = snowflake(NOW - timedelta(hours=1))
    api.add_post(question, author_id="4400000001", text="@AcmeSupport help <3 & thanks", mentions=[BRAND_ID])
    follow_up = snowflake(NOW - timedelta(minutes=50))
    api.add_post(follow_up, author_id="4400000001", text="@AcmeSupport hello?", reply_to=question, mentions=[BRAND_ID])
    api.add_post(snowflake(NOW - timedelta(minutes=40)), author_id=BRAND_ID, text="@dana_k hi", reply_to=follow_up)
    api.add_post(snowflake(NOW - timedelta(minutes=30)), author_id=BRAND_ID, text="News")
    fields = "tweet.fields=created_at,author_id,conversation_id,in_reply_to_user_id,referenced_tweets"
    common = f"{fields}&expansions=author_id,in_reply_to_user_id&user.fields=username,created_at"
    cases = [
        (ME, "/2/users/me?user.fields=created_at"),
        (MENTIONS, f"/2/users/{BRAND_ID}/mentions?max_results=5&{common}"),
        (MENTIONS, f"/2/users/{BRAND_ID}/mentions?max_results=5&since_id={follow_up}"),
        (TWEETS, f"/2/users/{BRAND_ID}/tweets?exclude=retweets&{common}"),
        (MENTIONS, "/2/users/999/mentions"),
    ]
    for template, target in cases:
        status, body, _ = api.answer("GET", target, {"Authorization": "Bearer t"})
        assert status == 200, body
        assert response_problems(spec, template, body) == [], target
    # Paging: a page with a next_token, and the page it leads to.
    for minute in range(8):
        api.add_post(snowflake(NOW - timedelta(minutes=20 - minute)), author_id="4400000001", text="@AcmeSupport ?")
        api.add_post(
            snowflake(NOW - timedelta(minutes=20 - minute), 1),
            author_id="4400000001",
            text="@AcmeSupport !",
            mentions=[BRAND_ID],
        )

    def get(target: str) -> dict[str, Any]:
        status, body, _ = api.answer("GET", target, {"Authorization": "Bearer t"})
        assert status == 200, body
        return body

    first = get(f"/2/users/{BRAND_ID}/mentions?max_results=5&{common}")
    second = get(f"/2/users/{BRAND_ID}/mentions?max_results=5&pagination_token={first['meta']['next_token']}&{common}")
    assert first["meta"]["result_count"] == second["meta"]["result_count"] == 5
    assert int(first["meta"]["oldest_id"]) > int(second["meta"]["newest_id"])
    for body in (first, second):
        assert response_problems(spec, MENTIONS, body) == []
