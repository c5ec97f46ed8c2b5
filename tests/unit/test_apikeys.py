"""Read-only dashboard keys: rwk_<id>_<secret>, stored as a digest of the secret only."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from replywatch import apikeys
from replywatch.models import ApiKey

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def issued() -> tuple[str, ApiKey]:
    return apikeys.create("wall screen", ["acme", "globex"], NOW)


def lookup_of(*records: ApiKey) -> dict[str, ApiKey]:
    return {record.key_id: record for record in records}


def test_create_gives_a_token_of_the_documented_form(issued: tuple[str, ApiKey]) -> None:
    token, record = issued
    prefix, key_id, secret = token.split("_", 2)
    assert prefix == "rwk"
    assert key_id == record.key_id and len(key_id) == 12
    assert len(secret) == 43
    assert record.name == "wall screen"
    assert record.brands == frozenset({"acme", "globex"})
    assert record.created_at == NOW


def test_create_gives_a_new_key_each_time() -> None:
    tokens = {apikeys.create("k", ["acme"], NOW)[0] for _ in range(20)}
    assert len(tokens) == 20
    assert len({token.split("_")[1] for token in tokens}) == 20


def test_the_stored_record_never_holds_the_token_or_its_secret(issued: tuple[str, ApiKey]) -> None:
    token, record = issued
    secret = token[len("rwk_") + 13 :]
    stored = json.dumps(record.model_dump(mode="json"))
    assert token not in stored
    assert secret not in stored
    assert secret not in record.secret_sha256
    assert len(record.secret_sha256) == 64


def test_verify_finds_the_key_of_a_good_token(issued: tuple[str, ApiKey]) -> None:
    token, record = issued
    assert apikeys.verify(token, lookup_of(record).get) == record


def test_verify_refuses_a_wrong_secret(issued: tuple[str, ApiKey]) -> None:
    token, record = issued
    last = token[-1]
    wrong = token[:-1] + ("A" if last != "A" else "B")
    assert apikeys.verify(wrong, lookup_of(record).get) is None
    other_token, _ = apikeys.create("other", ["acme"], NOW)
    # the other key's secret under this key's id
    forged = f"rwk_{record.key_id}_{other_token[len('rwk_') + 13 :]}"
    assert apikeys.verify(forged, lookup_of(record).get) is None


def test_verify_refuses_an_unknown_key_id(issued: tuple[str, ApiKey]) -> None:
    token, _ = issued
    assert apikeys.verify(token, lookup_of().get) is None


def test_verify_refuses_a_revoked_key(issued: tuple[str, ApiKey]) -> None:
    token, record = issued
    keys = lookup_of(record)
    del keys[record.key_id]
    assert apikeys.verify(token, keys.get) is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: None,
        lambda t: "",
        lambda t: t[len("rwk_") :],  # no prefix
        lambda t: "RWK_" + t[len("rwk_") :],
        lambda t: t[:-1],  # secret too short
        lambda t: t + "x",  # secret too long
        lambda t: t.replace("_", "-", 2),
        lambda t: t[:4] + t[4:16].upper() + t[16:],  # id in capitals
        lambda t: t + "\n",
        lambda t: " " + t,
        lambda t: t[:-1] + "=",
    ],
    ids=[
        "none",
        "empty",
        "no-prefix",
        "capital-prefix",
        "short-secret",
        "long-secret",
        "dashes",
        "capital-id",
        "newline",
        "leading-space",
        "padding",
    ],
)
def test_verify_refuses_a_malformed_token_without_looking_it_up(
    issued: tuple[str, ApiKey], mangle: Callable[[str], str | None]
) -> None:
    token, record = issued
    looked_up: list[str] = []

    def lookup(key_id: str) -> ApiKey | None:
        looked_up.append(key_id)
        return record if key_id == record.key_id else None

    assert apikeys.verify(mangle(token), lookup) is None
    assert looked_up == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer rwk_abc", "rwk_abc"),
        ("bearer rwk_abc", "rwk_abc"),
        ("BEARER   rwk_abc  ", "rwk_abc"),
        ("  Bearer rwk_abc", "rwk_abc"),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearer", None),
        ("Bearer   ", None),
        ("rwk_abc", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_takes_the_token_of_a_bearer_header(header: str | None, expected: str | None) -> None:
    assert apikeys.bearer(header) == expected


def test_a_bearer_header_round_trips_to_the_key(issued: tuple[str, ApiKey]) -> None:
    token, record = issued
    assert apikeys.verify(apikeys.bearer(f"Bearer {token}"), lookup_of(record).get) == record
