"""Detection-latency benchmark: how long after its due time an unanswered message is flagged.

1,000 unanswered messages with random due times (spread over ``--spread-minutes``) are counted
through the real processing path into DynamoDB (moto, in process), then the real sweep runs on
a simulated clock every 60 seconds from a random phase, as the schedule calls it, and does what
the sweep handler does: after its sweep it waits for stages due within ``LOOKAHEAD`` (10 s) of
its start and sweeps again at each. A message is flagged at the simulated instant of the sweep
that flags it plus the wall time that sweep took (an upper bound: the flag is written before
the sweep ends), so the latency is

    flagged_at - due_at = (the sweep's instant - due) + that sweep's own duration.

moto backs up every table a transaction touches (a deep copy, to roll back a failed one), which
makes each sweep slower as the tables grow and took more than 24 GB for 1,000 messages: the
backup is skipped (``bench.moto_shortcuts``) and every transaction is checked to succeed.

The same messages are swept again at a 5-minute cadence without look-ahead (what helpdesks such
as Zammad do) on fresh tables in the same run, and the ratio of the two is printed.

    python -m bench.detect_bench [--messages 1000] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from moto import mock_aws

from bench.moto_shortcuts import transactions_without_backup
from replywatch.alerts import AlertContent
from replywatch.classify import default_classifier
from replywatch.models import Brand, Message, MessageKind, Recipient, SlaPolicy, StormControl
from replywatch.processing import Processor
from replywatch.store import MessageStore, StateStore
from replywatch.sweeping import LOOKAHEAD, Sweeper
from tests.support import aws

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TARGET = timedelta(hours=1)
LIMIT_SECONDS = 60.0


class CountingNotifier:
    def __init__(self) -> None:
        self.emails = 0

    def send_email(self, to: str, content: AlertContent) -> None:
        self.emails += 1

    def send_sms(self, phone: str, text: str) -> None:
        raise AssertionError("the benchmark's recipient has no phone")


@dataclass(frozen=True)
class Run:
    every_seconds: int
    latencies: list[float]
    sweeps: int
    sweep_seconds: list[float]
    alerts: int


def due_times(count: int, spread: timedelta, rng: random.Random) -> list[datetime]:
    return sorted(T0 + TARGET + timedelta(seconds=rng.uniform(0, spread.total_seconds())) for _ in range(count))


def run(due: list[datetime], every: int, phase: float, *, lookahead: bool = True) -> Run:
    with mock_aws(), transactions_without_backup() as failures:
        aws.deploy_tables()
        client = boto3.client("dynamodb", region_name=aws.REGION)
        messages, state = MessageStore(client, aws.MESSAGES_TABLE, aws.STATE_TABLE), StateStore(client, aws.STATE_TABLE)
        # No warning, no escalation: the ladder's one stage is the breach being measured.
        policy = SlaPolicy(first_response_seconds=int(TARGET.total_seconds()), warn_before_seconds=0, escalate_at=())
        state.put_brand(Brand(brand_id="acme", name="Acme", sla=policy, storm=StormControl(limit=1000)))
        state.put_recipient(
            Recipient(
                brand_id="acme",
                recipient_id="lead",
                name="Lead",
                email="lead@acme.example",
                alert_kinds=frozenset({"overdue"}),
            )
        )
        notifier = CountingNotifier()
        processor = Processor(messages, state, default_classifier(), notifier, policy)
        due_of: dict[str, datetime] = {}
        for number, due_at in enumerate(due):
            message = Message(
                brand="acme",
                platform="x",
                source_id="acme-x",
                platform_id=str(10_000 + number),
                author_id=f"c{number}",
                author_handle=f"@customer{number}",
                text="Hello, where is my order?",
                created_at=due_at - TARGET,
                kind=MessageKind.MENTION,
            )
            messages.put_new(message, ingested_at=message.created_at, expires_at=due_at + timedelta(days=30))
            record = messages.get(message.key)
            assert record is not None
            processor.on_new_message(record, message.created_at)
            due_of[message.key] = due_at

        sweeper = Sweeper(messages, state, notifier, policy, processor)
        latencies: dict[str, float] = {}
        durations: list[float] = []
        tick = T0 + timedelta(seconds=phase)
        last_due = due[-1]
        while tick <= last_due + timedelta(seconds=every):
            # What the sweep handler does: sweep, then wait for stages due within LOOKAHEAD.
            now: datetime | None = tick
            while now is not None:
                started = time.perf_counter()
                report = sweeper.sweep(now)
                took = time.perf_counter() - started
                durations.append(took)
                for key in report.flagged:
                    latencies[key] = (now - due_of[key]).total_seconds() + took
                assert not report.failed, report.failed
                clock = now + timedelta(seconds=took)
                upcoming = sweeper.next_due(now, tick + LOOKAHEAD) if lookahead else None
                now = None if upcoming is None else max(upcoming, clock)
            tick += timedelta(seconds=every)
        missing = set(due_of) - set(latencies)
        assert not missing, f"{len(missing)} messages never flagged"
        assert not failures, f"transactions failed ({failures}): moto's rollback was skipped, so nothing here holds"
        return Run(every, sorted(latencies.values()), len(durations), durations, notifier.emails)


def distribution(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "min": round(ordered[0], 2),
        "p50": at(0.50),
        "p90": at(0.90),
        "p99": at(0.99),
        "max": round(ordered[-1], 2),
        "mean": round(statistics.fmean(ordered), 2),
    }


def histogram(values: list[float], width: int = 10) -> dict[str, int]:
    buckets: dict[str, int] = {}
    for value in values:
        low = int(value // width) * width
        label = f"{low}-{low + width}s"
        buckets[label] = buckets.get(label, 0) + 1
    return dict(sorted(buckets.items(), key=lambda item: int(item[0].split("-")[0])))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--spread-minutes", type=int, default=120, help="due times spread over this long")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    for key, value in aws.ENV.items():
        os.environ.setdefault(key, value)
    rng = random.Random(args.seed)
    due = due_times(args.messages, timedelta(minutes=args.spread_minutes), rng)
    phase = rng.uniform(0, 60)
    every_minute = run(due, 60, phase)
    every_five = run(due, 300, phase, lookahead=False)
    one, five = distribution(every_minute.latencies), distribution(every_five.latencies)
    result: dict[str, Any] = {
        "messages": args.messages,
        "due_spread_minutes": args.spread_minutes,
        "sweep_every_60s": {
            "latency_seconds": one,
            "histogram": histogram(every_minute.latencies),
            "sweeps": every_minute.sweeps,
            "sweep_seconds_max": round(max(every_minute.sweep_seconds), 3),
            "alerts_sent": every_minute.alerts,
            "all_within_60s": one["max"] <= LIMIT_SECONDS,
        },
        "sweep_every_300s": {
            "latency_seconds": five,
            "sweeps": every_five.sweeps,
            "alerts_sent": every_five.alerts,
        },
        "ratio_300s_over_60s": {
            "mean": round(five["mean"] / one["mean"], 2),
            "p99": round(five["p99"] / one["p99"], 2),
            "max": round(five["max"] / one["max"], 2),
        },
    }
    print(json.dumps(result, indent=2))
    return 0 if one["max"] <= LIMIT_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
