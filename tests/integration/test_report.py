"""`replywatch report`: the API's figures of every brand, a row each, across stacks."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from replywatch.api import create_app
from replywatch.cli import main
from replywatch.models import Brand, SlaPolicy
from replywatch.store import StateStore
from tests.integration.test_audit_stats import NOW, POSTED, _store, customer_message
from tests.support import aws
from tests.support.events import rest_event

TABLES = ["--state-table", aws.STATE_TABLE, "--messages-table", aws.MESSAGES_TABLE]


@pytest.fixture
def brands(aws_env: None) -> None:
    state = StateStore(boto3.client("dynamodb", region_name=aws.REGION), aws.STATE_TABLE)
    state.put_brand(Brand(brand_id="acme", name="Acme", sla=SlaPolicy(first_response_seconds=3600)))
    state.put_brand(Brand(brand_id="globex", name="Globex", timezone="Asia/Kolkata"))
    store = _store()
    customer_message(store, 1, "x", answered=timedelta(minutes=20))
    customer_message(store, 2, "x", after=timedelta(minutes=30), overdue=True, answered=timedelta(hours=2))
    customer_message(store, 3, "mastodon", resolved=True)
    customer_message(store, 4, "mastodon", after=timedelta(hours=5), overdue=True)


def report(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main([*TABLES, "report", *extra])
    return code, capsys.readouterr().out


def api_stats(brand: str, first: str, last: str, tz: str) -> dict[str, Any]:
    state = StateStore(boto3.client("dynamodb", region_name=aws.REGION), aws.STATE_TABLE)
    app = create_app(_store(), state, clock=lambda: NOW)
    response = app.resolve(rest_event(f"/brands/{brand}/stats", f"from={first}&to={last}&tz={tz}"), aws.LambdaContext())
    assert response["statusCode"] == 200, response["body"]
    return json.loads(response["body"])


def test_each_brands_row_holds_the_figures_the_api_serves_for_the_same_days(
    brands: None, capsys: pytest.CaptureFixture[str]
) -> None:
    before = datetime.now(UTC)
    code, out = report(capsys, "--format", "json")
    after = datetime.now(UTC)
    assert code == 0
    rows = {row["brand"]: row for row in json.loads(out)}
    assert set(rows) == {"acme", "globex"}
    acme = rows["acme"]
    assert acme["stack"] == aws.STATE_TABLE and acme["tz"] == "UTC"
    assert acme["to"] == (NOW.date() - timedelta(days=1)).isoformat(), "up to yesterday: today is not over"
    assert acme["from"] == (NOW.date() - timedelta(days=30)).isoformat()
    served = api_stats("acme", acme["from"], acme["to"], "UTC")
    assert acme["conversations"] == served["received"] == 4
    assert acme["response_rate_percent"] == round(served["response_rate"] * 100, 1) == 50.0
    assert acme["handled_rate_percent"] == 75.0
    for name in ("first_response_p50_seconds", "first_response_p90_seconds", "within_sla_percent", "overdue"):
        assert acme[name] == served[name], name
    assert acme["open_now"] == served["backlog"]["open"] == 1
    # the report's instant is its own run's, the API's clock here is the module's NOW (minutes earlier in a long run)
    ahead = acme["oldest_open_seconds"] - served["backlog"]["oldest_open_age_seconds"]
    assert int((before - NOW).total_seconds()) - 1 <= ahead <= (after - NOW).total_seconds() + 1
    assert rows["globex"]["conversations"] == 0 and rows["globex"]["tz"] == "Asia/Kolkata"


def test_a_range_and_brands_can_be_chosen_and_csv_is_safe_to_open_in_a_spreadsheet(
    brands: None, capsys: pytest.CaptureFixture[str]
) -> None:
    state = StateStore(boto3.client("dynamodb", region_name=aws.REGION), aws.STATE_TABLE)
    state.put_brand(Brand(brand_id="initech", name="=HYPERLINK(evil)"))
    day = POSTED.date().isoformat()
    code, out = report(capsys, "--from", day, "--to", day, "--brand", "acme", "--format", "csv")
    assert code == 0
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert (row["brand"], row["from"], row["to"], row["conversations"]) == ("acme", day, day, "4")

    assert main([*TABLES, "report", "--brand", "nobody"]) == 1
    assert "no brand 'nobody' in the stacks given" in capsys.readouterr().err

    code, out = report(capsys, "--brand", "initech", "--format", "csv")
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert row["name"] == "'=HYPERLINK(evil)", "a name a spreadsheet would run is kept as text"


def test_the_table_is_for_people(brands: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = report(capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["stack", "brand", "name", "conv."]
    acme = next(line for line in lines if " acme " in f" {line} ")
    assert "50.0%" in acme and "1h 10m" in acme  # p50 of 20 minutes and 2 hours
    assert any(line.startswith("industry: 5h 00m average first response") for line in lines)


def test_bad_ranges_are_refused_with_a_message(brands: None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        main([*TABLES, "report", "--from", "2026-03-02", "--to", "2026-03-01"])
    assert refused.value.code == 2
    assert "--from must not be after --to" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*TABLES, "report", "--from", "2024-01-01", "--to", "2026-03-01"])
    assert "at most 400 days" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*TABLES, "report", "--from", "1900-01-01", "--to", "1900-01-02"])
    assert "the year 2000 or later" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--stack", "a", "--stack", "b", "list"])
    assert "list works on one stack" in capsys.readouterr().err
