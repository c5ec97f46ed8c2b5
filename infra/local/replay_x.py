"""`make replay-x DATA=<file>`: replay recorded customer-care dialogs on X through the pipeline.

The file is a list of dialogs in the shape of the IBM customer-care set
(``dialogHeader.company`` the brand's handle; ``dialogContent`` messages keyed
``client``/``client1`` (customers) or ``agent`` (the brand), each with ``datetime``,
``tweet_ID`` and ``message``; ``agentURL`` the agent's final reply, whose time comes
from its snowflake id). It becomes posts on the fake X API (infra/local/fake_x.py):
each customer message mentions the brand and, after a dialog's first, replies to the
message before it; the agent's messages and the final reply are the brand's replies
to the message before them; a dialog's conversation id is its first post's id.

Then, in-process with moto (a pipeline per company unless ``--one-pipeline``, see
``replay``): the stack's tables from template.yaml, one brand and one X source per
company (its token in Secrets Manager, its user picked by the token), the real Poller until every
source is drained, moto's DynamoDB stream fed to the real process handler, a sweep,
and ``GET /brands/{brand}/stats`` over each brand's date range from the API app.
It prints one JSON object: ``{company: {"conversations": N, "median_first_response_seconds": M}}``.

The clock. The data is from 2018-2020 and a source reads back at most 30 days on its
first poll, so each source is created as a source connected just before its brand's
first message whose first poll found nothing: its cursor holds that moment as the
start of its window (what the X connector keeps after an empty first poll). The
pipeline then polls once its data is over (``now`` a minute after its last post),
reading every brand's posts through the connector's normal paging, and sweeps a
month later, so every SLA has expired and every pending follow-up is settled.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
from moto import mock_aws

from infra.local.fake_x import FakeXServer, XApi, snowflake_time
from replywatch.api import create_app
from replywatch.cli import store_token
from replywatch.connectors.x import MENTIONS, START, TWEETS, x_time
from replywatch.models import Brand, Source, SourceState
from replywatch.polling import Poller
from tests.support import aws
from tests.support.events import rest_event

POLL_AFTER = timedelta(minutes=1)  # after the last post
SWEEP_AFTER = timedelta(days=30)  # after the last post
MAX_POLL_ROUNDS = 200
BATCH_SIZE = 100  # the stream's event source mapping (template.yaml)
CLIENT_KEYS = ("client", "client1")


def brand_slug(company: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", company.lower()).strip("-")[:63]
    return slug or "brand"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True)
class Turn:
    """One post of a dialog, in order: a customer's or the brand's."""

    post_id: str
    handle: str
    text: str
    at: datetime
    from_brand: bool


def turns(dialog: Mapping[str, Any]) -> list[Turn]:
    """A dialog's posts in order, the agent's final reply (``agentURL``) last."""
    company = dialog["dialogHeader"]["company"]
    found = []
    for message in dialog["dialogContent"]:
        client = next((message[key] for key in CLIENT_KEYS if key in message), None)
        found.append(
            Turn(
                post_id=str(message["tweet_ID"]),
                handle=client if client is not None else message.get("agent", company),
                text=message["message"],
                at=parse_time(message["datetime"]),
                from_brand=client is None,
            )
        )
    final = dialog["agentURL"]
    found.append(
        Turn(
            post_id=str(final["tweet_ID"]),
            handle=company,
            text=final.get("url_utterance", ""),
            at=snowflake_time(final["tweet_ID"]),
            from_brand=True,
        )
    )
    return found


@dataclass
class Company:
    handle: str
    slug: str
    user_id: str
    token: str
    first_at: datetime
    last_at: datetime


@dataclass
class World:
    api: XApi = field(default_factory=XApi)
    companies: dict[str, Company] = field(default_factory=dict)
    user_ids: dict[str, str] = field(default_factory=dict)  # lower-case handle -> user id

    def user(self, handle: str) -> str:
        key = handle.lower()
        if key not in self.user_ids:
            self.user_ids[key] = str(10_000_000 + len(self.user_ids))
            self.api.add_user(self.user_ids[key], handle)
        return self.user_ids[key]


def build_world(dialogs: Iterable[Mapping[str, Any]]) -> World:
    dialogs = list(dialogs)
    world = World()
    by_company: dict[str, list[list[Turn]]] = {}
    for dialog in dialogs:
        by_company.setdefault(dialog["dialogHeader"]["company"], []).append(turns(dialog))
    for handle in sorted(by_company):
        slug, user_id = brand_slug(handle), world.user(handle)
        world.api.add_user(user_id, handle, token=f"token-{slug}")
        moments = [turn.at for dialog_turns in by_company[handle] for turn in dialog_turns]
        company = Company(handle, slug, user_id, f"token-{slug}", min(moments), max(moments))
        world.companies[handle] = company
        for dialog_turns in by_company[handle]:
            previous: tuple[str, str] | None = None  # (post id, author id)
            for turn in dialog_turns:
                author = user_id if turn.from_brand else world.user(turn.handle)
                if world.api.post(turn.post_id) is None:  # dialogs may share their first posts
                    world.api.add_post(
                        turn.post_id,
                        author_id=author,
                        text=turn.text,
                        created_at=turn.at,
                        reply_to=previous[0] if previous else None,
                        in_reply_to_user_id=previous[1] if previous else None,
                        conversation_id=dialog_turns[0].post_id,
                        mentions=[previous[1]] if turn.from_brand and previous else [user_id],
                    )
                previous = (turn.post_id, author)
    return world


_ENV = {**aws.ENV, "POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}


@contextlib.contextmanager
def in_process_aws() -> Iterator[None]:
    """moto standing in for AWS, with the stack's tables built from template.yaml."""
    saved = {key: os.environ.get(key) for key in [*_ENV, "AWS_ENDPOINT_URL", "AWS_PROFILE"]}
    os.environ.update(_ENV)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.pop("AWS_PROFILE", None)
    try:
        with mock_aws():
            aws.deploy_tables()
            yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _pump() -> aws.StreamPump:
    dynamodb = boto3.client("dynamodb", region_name=aws.REGION)
    arn = dynamodb.describe_table(TableName=aws.MESSAGES_TABLE)["Table"]["LatestStreamArn"]
    streams = boto3.client(
        "dynamodbstreams", region_name=aws.REGION, endpoint_url=f"https://streams.dynamodb.{aws.REGION}.amazonaws.com"
    )
    return aws.StreamPump(streams, arn)


def _drain_stream(pump: aws.StreamPump, process: Any) -> int:
    """Hand every new stream record to the process handler, in the mapping's batch size."""
    handled = 0
    while records := pump.new_records():
        for start in range(0, len(records), BATCH_SIZE):
            batch = records[start : start + BATCH_SIZE]
            result = process.lambda_handler(aws.stream_event(batch), aws.LambdaContext())
            if result.get("batchItemFailures"):
                raise RuntimeError(f"the process handler failed {len(result['batchItemFailures'])} records")
            handled += len(batch)
    return handled


async def _poll_until_drained(poller: Poller, base_url: str, now: datetime) -> int:
    stored = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for _ in range(MAX_POLL_ROUNDS):
            report = await poller.poll_all(client, now)
            stored += report.stored
            unhealthy = [source for source in report.sources if source.health != "ok"]
            if unhealthy:
                raise RuntimeError(f"sources failed to poll: {[(s.source_id, s.health) for s in unhealthy]}")
            pending = any(key.endswith("_next") for _, state in poller.state.list_sources() for key in state.cursor)
            if report.stored == 0 and not pending:
                return stored
    raise RuntimeError(f"sources not drained after {MAX_POLL_ROUNDS} polls")


def replay(dialogs: Iterable[Mapping[str, Any]], *, one_pipeline: bool = False) -> dict[str, dict[str, Any]]:
    """Run the dialogs through the pipeline; the stats API's figures per company.

    Each company gets a pipeline of its own unless ``one_pipeline``: moto copies whole
    tables for every item of a DynamoDB transaction, so one shared pipeline slows down
    with the square of the data (the 525 dialogs of the IBM dev set: 12.5 minutes, against
    under 3). Nothing in the pipeline crosses brands (every key starts with the brand),
    and both ways give the same figures."""
    dialogs = list(dialogs)
    if one_pipeline:
        return _replay_in_one_pipeline(dialogs)
    results: dict[str, dict[str, Any]] = {}
    for company in sorted({dialog["dialogHeader"]["company"] for dialog in dialogs}):
        own = [dialog for dialog in dialogs if dialog["dialogHeader"]["company"] == company]
        results.update(_replay_in_one_pipeline(own))
    return results


def _replay_in_one_pipeline(dialogs: list[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    world = build_world(dialogs)
    if not world.companies:
        return {}
    poll_at = max(company.last_at for company in world.companies.values()) + POLL_AFTER
    swept_at = poll_at - POLL_AFTER + SWEEP_AFTER
    with in_process_aws(), FakeXServer(world.api) as server:
        handlers = {name: aws.load_handler(name) for name in ("poll", "process", "sweep")}
        runtime = handlers["poll"].runtime
        secrets = boto3.client("secretsmanager", region_name=aws.REGION)
        for company in world.companies.values():
            runtime.state.put_brand(Brand(brand_id=company.slug, name=company.handle))
            secret_name = f"replywatch/{company.slug}/x"
            store_token(secrets, secret_name, company.token)
            source = Source(
                brand_id=company.slug,
                source_id="x",
                platform="x",
                base_url=server.base_url,
                token_secret=secret_name,
                backfill_hours=0,
            )
            runtime.state.put_source(source)
            # Connected just before the brand's first post, and its first poll found nothing.
            connected = company.first_at - timedelta(seconds=1)
            start = {f"{MENTIONS}{START}": x_time(connected), f"{TWEETS}{START}": x_time(connected)}
            runtime.state.save_source_state(
                source, SourceState(cursor=start, watching_since=connected, last_polled_at=connected)
            )
        asyncio.run(_poll_until_drained(runtime.poller, server.base_url, poll_at))
        pump = _pump()
        _drain_stream(pump, handlers["process"])
        handlers["sweep"].runtime.sweeper.sweep(swept_at)
        _drain_stream(pump, handlers["process"])
        app = create_app(runtime.messages, runtime.state, clock=lambda: swept_at)
        results = {}
        for company in world.companies.values():
            query = f"from={company.first_at.date()}&to={company.last_at.date()}"
            response = app.resolve(rest_event(f"/brands/{company.slug}/stats", query), aws.LambdaContext())  # type: ignore[arg-type]
            stats = json.loads(response["body"])
            if response["statusCode"] != 200:
                raise RuntimeError(f"stats for {company.slug}: {response['statusCode']} {stats}")
            results[company.handle] = {
                "conversations": stats["received"],
                "median_first_response_seconds": stats["first_response_p50_seconds"],
            }
    return results


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Replay customer-care dialogs on X through the pipeline")
    parser.add_argument("data", type=Path, help="a JSON list of dialogs (the IBM customer-care shape)")
    parser.add_argument(
        "--one-pipeline", action="store_true", help="every company in one pipeline (slow: see replay())"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    dialogs = json.loads(args.data.read_text())
    # The functions log to stdout: keep it for the result.
    with contextlib.redirect_stdout(sys.stderr):
        results = replay(dialogs, one_pipeline=args.one_pipeline)
    print(json.dumps(results, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
