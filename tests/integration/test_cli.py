"""The replywatch command writes SLA policies and recipients the pipeline can read back."""

from __future__ import annotations

import io
import json
from pathlib import Path
from unittest.mock import patch

import boto3
import pytest

from replywatch.cli import main
from replywatch.models import Priority, Wait
from replywatch.store import StateStore
from tests.support import aws


def test_a_brand_with_a_full_policy_and_a_recipient_with_quiet_hours(aws_env: None, tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "first_response_seconds": 3600,
                "next_response_seconds": 7200,
                "business_hours": {
                    "weekly": {day: ["09:00-17:30"] for day in ("mon", "tue", "wed", "thu", "fri")},
                    "holidays_country": "GB",
                    "holidays_subdivision": "SCT",
                },
                "warn_before_seconds": 600,
                "escalate_at": [2, 4],
                "overrides": [
                    {"priority": "high", "first_response_seconds": 900},
                    {"channel": "x", "first_response_seconds": 1800},
                ],
            }
        )
    )
    table = ["--state-table", aws.STATE_TABLE]
    assert (
        main(
            [
                *table,
                "add-brand",
                "acme",
                "Acme",
                "--policy",
                str(policy),
                "--timezone",
                "Europe/London",
                "--keywords",
                "refund, lawyer",
                "--storm-limit",
                "20",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                *table,
                "add-recipient",
                "acme",
                "lead",
                "Lead",
                "--email",
                "lead@acme.example",
                "--phone",
                "+447700900001",
                "--kinds",
                "warning,overdue,escalation-2,digest",
                "--sms-kinds",
                "escalation-2",
                "--quiet-hours",
                "22:00-07:00",
            ]
        )
        == 0
    )

    state = StateStore(boto3.client("dynamodb", region_name=aws.REGION), aws.STATE_TABLE)
    brand = state.get_brand("acme")
    assert brand is not None and brand.sla is not None
    assert brand.timezone == "Europe/London" and brand.priority_keywords == ("refund", "lawyer")
    assert brand.storm.limit == 20
    assert brand.sla.escalate_at == (2.0, 4.0)
    assert brand.sla.target_seconds("x", Priority.HIGH) == 900
    assert brand.sla.target_seconds("x", Priority.NORMAL) == 1800
    assert brand.sla.target_seconds("mastodon", Priority.NORMAL, Wait.NEXT) == 7200
    assert brand.sla.business_hours is not None and brand.sla.business_hours.holidays_subdivision == "SCT"
    (lead,) = state.list_recipients("acme")
    assert lead.quiet_hours == "22:00-07:00" and lead.sms_kinds == frozenset({"escalation-2"})


def test_a_bad_policy_is_refused_with_a_message(
    aws_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"first_response_seconds": 3600, "escalate_at": [0.5]}))
    code = main(["--state-table", aws.STATE_TABLE, "add-brand", "acme", "Acme", "--policy", str(policy)])
    assert code != 0
    assert "escalation multiples" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("calendar", "refusal"),
    [
        ({"holidays_country": "XX"}, "no public holiday calendar for country 'XX'"),
        ({"holidays_country": "GB", "holidays_subdivision": "London"}, "GB has no subdivision 'London'; it has ENG"),
    ],
)
def test_a_holiday_calendar_the_holidays_package_lacks_is_refused_when_set(
    aws_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], calendar: dict[str, str], refusal: str
) -> None:
    policy = tmp_path / "policy.json"
    hours = {"weekly": {"mon": ["09:00-17:00"]}, **calendar}
    policy.write_text(json.dumps({"first_response_seconds": 3600, "business_hours": hours}))
    code = main(["--state-table", aws.STATE_TABLE, "add-brand", "acme", "Acme", "--policy", str(policy)])
    assert code == 2
    assert refusal in capsys.readouterr().err
    state = StateStore(boto3.client("dynamodb", region_name=aws.REGION), aws.STATE_TABLE)
    assert state.get_brand("acme") is None, "nothing written: every message would have failed on it"


def test_a_country_with_regional_holidays_and_no_subdivision_is_kept_with_a_note(
    aws_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.json"
    for calendar, noted in (
        ({"holidays_country": "GB"}, True),
        ({"holidays_country": "GB", "holidays_subdivision": "ENG"}, False),
    ):
        hours = {"weekly": {"mon": ["09:00-17:00"]}, **calendar}
        policy.write_text(json.dumps({"first_response_seconds": 3600, "business_hours": hours}))
        assert main(["--state-table", aws.STATE_TABLE, "add-brand", "acme", "Acme", "--policy", str(policy)]) == 0
        err = capsys.readouterr().err
        assert ("GB has regional holidays (ENG, NIR, SCT, WLS)" in err) is noted, err


def test_a_dashboard_key_is_printed_once_stored_as_a_digest_and_revoked(
    aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from replywatch import apikeys

    table = ["--state-table", aws.STATE_TABLE]
    assert main([*table, "add-brand", "acme", "Acme"]) == 0
    with pytest.raises(SystemExit, match="no brand 'globex'"):
        main([*table, "api-key", "create", "--brand", "globex", "--name", "wall"])
    capsys.readouterr()
    assert main([*table, "api-key", "create", "--brand", "acme", "--name", "wallboard"]) == 0
    created = json.loads(capsys.readouterr().out)
    token = created["key"]
    state = StateStore(boto3.client("dynamodb", region_name=aws.REGION), aws.STATE_TABLE)
    assert apikeys.verify(token, state.get_api_key) is not None
    stored = json.dumps(list(aws.iter_table(aws.STATE_TABLE)))
    secret = token[len("rwk_") + 13 :]  # after rwk_<key id>_
    assert token not in stored and secret not in stored, "only a digest is stored"
    assert main([*table, "api-key", "list"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(k["key_id"], k["brands"]) for k in listed] == [(created["key_id"], ["acme"])]
    assert "secret_sha256" not in listed[0]
    assert main([*table, "api-key", "revoke", created["key_id"]]) == 0
    assert apikeys.verify(token, state.get_api_key) is None
    assert main([*table, "api-key", "revoke", created["key_id"]]) == 1


def test_add_brand_again_changes_only_what_it_is_given(aws_env: None) -> None:
    table = ["--state-table", aws.STATE_TABLE]
    state = StateStore(boto3.client("dynamodb", region_name=aws.REGION), aws.STATE_TABLE)
    assert main([*table, "add-brand", "acme", "Acme", "--timezone", "Asia/Tokyo", "--keywords", "refund"]) == 0
    assert main([*table, "add-brand", "acme", "Acme", "--digest-hour", "7", "--storm-limit", "25"]) == 0
    assert main([*table, "add-brand", "acme", "Acme Mobile", "--sla-minutes", "30"]) == 0
    brand = state.get_brand("acme")
    assert brand is not None
    assert (brand.name, brand.timezone, brand.priority_keywords, brand.digest_hour) == (
        "Acme Mobile",
        "Asia/Tokyo",
        ("refund",),
        7,
    )
    assert (brand.storm.limit, brand.storm.window_minutes) == (25, 15)
    assert brand.sla is not None and brand.sla.first_response_seconds == 1800
    assert main([*table, "add-brand", "acme", "Acme Mobile", "--stack-sla"]) == 0
    brand = state.get_brand("acme")
    assert brand is not None and brand.sla is None and brand.timezone == "Asia/Tokyo"
    assert main([*table, "add-brand", "acme", "Acme Mobile", "--pause"]) == 0
    paused = state.get_brand("acme")
    assert paused is not None and not paused.enabled and paused.timezone == "Asia/Tokyo"
    assert main([*table, "add-brand", "acme", "Acme Mobile", "--resume"]) == 0
    assert state.get_brand("acme").enabled  # type: ignore[union-attr]
    # A new brand gets the defaults.
    assert main([*table, "add-brand", "globex", "Globex"]) == 0
    fresh = state.get_brand("globex")
    assert fresh is not None
    assert (fresh.timezone, fresh.priority_keywords, fresh.digest_hour, fresh.storm.limit) == ("UTC", (), 8, 10)


def test_a_recipient_needs_its_brand(aws_env: None) -> None:
    with pytest.raises(SystemExit, match="no brand 'globex'"):
        main(["--state-table", aws.STATE_TABLE, "add-recipient", "globex", "lead", "Lead", "--email", "l@x.example"])


def test_a_recipient_and_a_source_are_removed(aws_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    table = ["--state-table", aws.STATE_TABLE]
    state = StateStore(boto3.client("dynamodb", region_name=aws.REGION), aws.STATE_TABLE)
    secrets = boto3.client("secretsmanager", region_name=aws.REGION)
    assert main([*table, "add-brand", "acme", "Acme"]) == 0
    assert main([*table, "add-recipient", "acme", "lead", "Lead", "--email", "lead@acme.example"]) == 0
    assert main([*table, "add-recipient", "acme", "agent", "Agent", "--email", "agent@acme.example"]) == 0
    assert main([*table, "remove-recipient", "acme", "agent"]) == 0
    assert [r.recipient_id for r in state.list_recipients("acme")] == ["lead"]
    assert main([*table, "remove-recipient", "acme", "agent"]) == 1
    assert "no recipient 'agent'" in capsys.readouterr().err

    for source_id in ("main", "old"):
        with patch("sys.stdin", io.StringIO("token-" + source_id)):
            code = main([*table, "add-source", "acme", source_id, "mastodon", "https://mastodon.example"])
        assert code == 0
    assert main([*table, "remove-source", "acme", "old", "--delete-secret"]) == 0
    assert main([*table, "remove-source", "acme", "main"]) == 0
    assert state.list_sources() == []
    kept = secrets.describe_secret(SecretId="replywatch/acme/main")
    assert "DeletedDate" not in kept
    assert "DeletedDate" in secrets.describe_secret(SecretId="replywatch/acme/old")
    assert main([*table, "remove-source", "acme", "old"]) == 1


def test_a_brand_is_removed_with_its_sources_recipients_and_keys_after_a_dry_run(
    aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    table = ["--state-table", aws.STATE_TABLE]
    state = StateStore(boto3.client("dynamodb", region_name=aws.REGION), aws.STATE_TABLE)
    secrets = boto3.client("secretsmanager", region_name=aws.REGION)
    for brand in ("acme", "globex"):
        assert main([*table, "add-brand", brand, brand.title()]) == 0
        assert main([*table, "add-recipient", brand, "lead", "Lead", "--email", f"lead@{brand}.example"]) == 0
        with patch("sys.stdin", io.StringIO("token")):
            assert main([*table, "add-source", brand, "main", "mastodon", "https://mastodon.example"]) == 0
    assert main([*table, "api-key", "create", "--brand", "acme", "--name", "wall"]) == 0
    assert main([*table, "api-key", "create", "--brand", "acme", "--brand", "globex", "--name", "agency"]) == 0
    capsys.readouterr()

    assert main([*table, "remove-brand", "acme"]) == 0  # without --yes: only what would go
    plan = json.loads(capsys.readouterr().out)["would_remove"]
    assert plan["sources"] == ["main"] and plan["recipients"] == ["lead"]
    assert len(plan["keys_revoked"]) == 1 and len(plan["keys_narrowed"]) == 1
    assert state.get_brand("acme") is not None and len(state.list_sources()) == 2

    assert main([*table, "remove-brand", "acme", "--yes", "--delete-secrets"]) == 0
    assert state.get_brand("acme") is None and state.get_brand("globex") is not None
    assert [(source.brand_id, source.source_id) for source, _ in state.list_sources()] == [("globex", "main")]
    assert state.list_recipients("acme") == [] and len(state.list_recipients("globex")) == 1
    (key,) = state.list_api_keys()
    assert key.name == "agency" and key.brands == {"globex"}, "the agency's key still reads globex"
    assert "DeletedDate" in secrets.describe_secret(SecretId="replywatch/acme/main")
    assert "DeletedDate" not in secrets.describe_secret(SecretId="replywatch/globex/main")

    capsys.readouterr()
    assert main([*table, "remove-brand", "acme", "--yes"]) == 1
    assert "no brand 'acme'" in capsys.readouterr().err


def test_an_interrupted_brand_removal_is_finished_by_running_it_again(aws_env: None) -> None:
    table = ["--state-table", aws.STATE_TABLE]
    state = StateStore(boto3.client("dynamodb", region_name=aws.REGION), aws.STATE_TABLE)
    assert main([*table, "add-brand", "acme", "Acme"]) == 0
    assert main([*table, "add-recipient", "acme", "lead", "Lead", "--email", "lead@acme.example"]) == 0
    with patch("sys.stdin", io.StringIO("token")):
        assert main([*table, "add-source", "acme", "main", "mastodon", "https://mastodon.example"]) == 0

    secrets = boto3.client("secretsmanager", region_name=aws.REGION)

    with patch.object(StateStore, "remove_source", side_effect=RuntimeError("throttled")), pytest.raises(RuntimeError):
        main([*table, "remove-brand", "acme", "--yes", "--delete-secrets"])
    assert "DeletedDate" in secrets.describe_secret(SecretId="replywatch/acme/main")
    assert len(state.list_sources()) == 1 and state.get_brand("acme") is not None
    with (
        patch.object(StateStore, "remove_recipient", side_effect=RuntimeError("throttled")),
        pytest.raises(RuntimeError),
    ):
        main([*table, "remove-brand", "acme", "--yes", "--delete-secrets"])  # the secret: marked already
    assert state.list_sources() == [] and state.get_brand("acme") is not None  # sources went first

    assert main([*table, "remove-brand", "acme", "--yes", "--delete-secrets"]) == 0
    assert state.get_brand("acme") is None and state.list_recipients("acme") == []
