"""`make demo`: the whole pipeline on this machine, on the real template.

Starts MiniStack, deploys template.yaml unchanged, seeds the demo brand whose
Mastodon source is a local fake server serving infra/local/scenario.py, runs
poll (the stream runs process), then sweep, and prints the alerts that were
sent and the statistics fetched from the API over signed HTTP. Stops what it
started; with ``--serve`` (``make demo SERVE=1``) it keeps the stack up and prints
the dashboard's address with a read-only key, until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from infra.local import scenario
from infra.local.fake_mastodon import FakeMastodon
from infra.local.seed import seed
from infra.local.stack import LocalStack, running_stack, wait_for
from replywatch import apikeys
from replywatch.store import StateStore

_deserialize = TypeDeserializer().deserialize


@dataclass
class DemoRun:
    now: datetime
    swept_at: datetime
    poll: dict[str, Any]
    sweep: dict[str, Any]
    emails: list[dict[str, Any]]
    sms: list[dict[str, Any]]
    stats: dict[str, Any]
    overdue: dict[str, Any]
    sources: dict[str, Any]


def pipeline_settled(stack: LocalStack) -> bool:
    """Every stored customer message is counted and every brand reply matched."""
    client = stack.client("dynamodb")
    items = []
    for page in client.get_paginator("scan").paginate(TableName=stack.outputs["MessagesTableName"]):
        items += [{key: _deserialize(value) for key, value in item.items()} for item in page["Items"]]
    by_key = {item["pk"]: item for item in items}
    for item in items:
        if not item.get("from_brand") and not item.get("counted"):
            return False
        parent = by_key.get(item.get("parent_key", ""))
        if item.get("from_brand") and parent and not parent.get("from_brand"):
            answered = parent.get("first_response_at")
            if answered is None or answered > item["created_at"]:
                return False
    return bool(items)


def run_scenario(stack: LocalStack, now: datetime | None = None) -> DemoRun:
    now = now or datetime.now(UTC)
    with FakeMastodon(now=now) as mastodon:
        seed(
            StateStore(stack.client("dynamodb"), stack.outputs["StateTableName"]),
            stack.client("secretsmanager"),
            mastodon.base_url,
        )
        poll = stack.invoke("PollFunctionName")
    wait_for(lambda: pipeline_settled(stack), timeout=120, interval=1, what="the stream to process every message")
    swept_at = datetime.now(UTC)
    sweep = stack.invoke("SweepFunctionName")
    wait_for(lambda: _alerts_quiet(stack), timeout=30, interval=0.1, what="the last alerts to be recorded")
    week_ago = (now - timedelta(days=6)).date().isoformat()
    status, stats = stack.api_get(f"/brands/{scenario.BRAND_ID}/stats?from={week_ago}")
    if status != 200:
        raise RuntimeError(f"stats API answered {status}: {stats}")
    _, overdue = stack.api_get(f"/brands/{scenario.BRAND_ID}/messages?status=overdue")
    _, sources = stack.api_get(f"/brands/{scenario.BRAND_ID}/sources")
    return DemoRun(
        now=now,
        swept_at=swept_at,
        poll=poll,
        sweep=sweep,
        emails=stack.emails(),
        sms=stack.sms(),
        stats=stats,
        overdue=overdue,
        sources=sources,
    )


def _alerts_quiet(stack: LocalStack, quiet_for: float = 1.5) -> bool:
    """True once no email or SMS has been recorded for ``quiet_for`` seconds."""
    before = (len(stack.emails()), len(stack.sms()))
    time.sleep(quiet_for)
    return before == (len(stack.emails()), len(stack.sms()))


def _mask(phone: str) -> str:
    return phone[:3] + "•" * max(0, len(phone) - 6) + phone[-3:]


def show(run: DemoRun) -> None:
    print(f"\nPolled: {run.poll['stored']} messages stored from the fake Mastodon server.")
    print(f"Swept: {len(run.sweep['flagged'])} messages flagged overdue.\n")
    print(f"Email alerts sent ({len(run.emails)}):")
    for email in run.emails:
        print(f"  to {', '.join(email['To'])}: {email['Subject']}")
    print(f"\nSMS alerts sent ({len(run.sms)}):")
    for sms in run.sms:
        print(f"  to {_mask(sms['PhoneNumber'])}: {sms['Message']}")
    print("\nGET /brands/acme/stats (SigV4-signed, through API Gateway):")
    print(json.dumps(run.stats, indent=2))
    print(f"\nOverdue queue: {[item['author_handle'] for item in run.overdue.get('items', [])]}")
    print("\nGET /brands/acme/sources:")
    for item in run.sources.get("items", []):
        print(
            f"  {item['source_id']} ({item['platform']}): {item['health']}, last good poll {item['last_ok_at']},"
            f" incidents {[found['incident'] for found in item['incidents']] or 'none'}"
        )


def dashboard_link(stack: LocalStack) -> str:
    """A read-only key for the demo brand, and the dashboard's address that carries it."""
    token, key = apikeys.create("demo dashboard", [scenario.BRAND_ID], datetime.now(UTC))
    StateStore(stack.client("dynamodb"), stack.outputs["StateTableName"]).put_api_key(key)
    return f"{stack.api_url('/dashboard')}#brand={scenario.BRAND_ID}&key={token}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="ReplyWatch on this machine: MiniStack + a fake Mastodon server")
    parser.add_argument("--serve", action="store_true", help="keep the stack up and print the dashboard's address")
    args = parser.parse_args(argv)
    started = time.monotonic()
    print("Starting MiniStack and deploying template.yaml (sam build + sam deploy)...", flush=True)
    with running_stack({"DashboardAccess": "api-keys"}) as stack:
        print(f"Deployed in {time.monotonic() - started:.0f}s; running the scenario...", flush=True)
        show(run_scenario(stack))
        if args.serve:
            print(f"\nDashboard (a read-only key for this local stack):\n  {dashboard_link(stack)}")
            print("Serving until Ctrl-C...", flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    print(f"\nDone in {time.monotonic() - started:.0f}s; MiniStack and the fake server are stopped.")


if __name__ == "__main__":
    main()
