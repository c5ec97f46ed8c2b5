"""The committed docs/openapi.json is the document the code generates and the API serves."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import islice
from typing import Any, cast

from infra.openapi import DOCUMENT, differences, generated, render
from replywatch.api import create_app
from tests.support.aws import LambdaContext
from tests.support.events import rest_event

SHOWN = 10


def test_committed_document_matches_the_code() -> None:
    assert DOCUMENT.exists(), "docs/openapi.json is missing: run `make openapi` and commit it"
    committed_text = DOCUMENT.read_text(encoding="utf-8")
    current = generated()
    if committed_text == render(current):
        return
    committed = json.loads(committed_text)
    found = list(islice(differences(committed, current), SHOWN + 1))
    listed = "\n  ".join(found[:SHOWN]) + ("\n  ..." if len(found) > SHOWN else "")
    if not found:
        listed = "(same content, different layout: sorted keys, 2-space indent, trailing newline)"
    raise AssertionError(
        f"docs/openapi.json differs from the API code: run `make openapi` and commit the result.\n"
        f"First differences (committed -> code):\n  {listed}"
    )


def test_served_document_is_the_committed_one() -> None:
    app = create_app(None, None, clock=lambda: datetime.now(UTC))  # type: ignore[arg-type]
    response = app.resolve(rest_event("/openapi.json"), cast(Any, LambdaContext()))
    assert response["statusCode"] == 200
    served = json.loads(response["body"])
    assert list(islice(differences(generated(), served), SHOWN)) == []
    assert render(served) == DOCUMENT.read_text(encoding="utf-8")


def test_differences_name_the_paths_that_changed() -> None:
    committed = {"paths": {"/brands": {"get": {"summary": "old"}}, "/gone": {}}, "info": {"version": "1"}}
    current = {"paths": {"/brands": {"get": {"summary": "new"}}, "/new": {}}, "info": {"version": "1"}}
    assert list(differences(committed, current)) == [
        '$.paths[\'/brands\'].get.summary: "old" -> "new"',
        "$.paths['/gone']: only in the committed document",
        "$.paths['/new']: only in the code",
    ]
