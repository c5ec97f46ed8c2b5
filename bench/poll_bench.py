"""Poll benchmark: one invocation of the real poller over many sources, against a slow fake X API.

Every source is a brand's X account on a local fake of the X API v2 (``infra/local/fake_x.py``)
that takes ``--latency-ms`` (200 ms) to answer each request. The same sources are polled twice
from a fresh start, in this one run: once the way the poll Lambda does (asyncio fan-out with the
template's POLL_CONCURRENCY and POLL_PER_HOST), once one source after another. Storage is
in memory, so what is measured is the fan-out, not DynamoDB.

    python -m bench.poll_bench [--sources 1000] [--latency-ms 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from infra.local.fake_x import FakeXServer, XApi
from replywatch.models import Source
from replywatch.polling import Poller, PollReport
from replywatch.runtime import Settings
from tests.support.memory import MemoryMessages, MemoryState, StaticSecrets

NOW = datetime.now(UTC).replace(microsecond=0)
X_EPOCH_MS = 1288834974657
MENTIONS_PER_BRAND = 3


def snowflake(moment: datetime, sequence: int) -> str:
    return str(((int(moment.timestamp() * 1000) - X_EPOCH_MS) << 22) + sequence)


def build(count: int) -> tuple[XApi, list[tuple[str, str]]]:
    """``count`` brands, each mentioned a few times in the last hour and answering one mention."""
    api = XApi()
    brands = []
    sequence = 0
    for number in range(count):
        brand_id, customer_id = str(10_000 + number), str(900_000 + number)
        api.add_user(brand_id, f"brand{number}", token=f"token-{number}")
        api.add_user(customer_id, f"customer{number}")
        first = None
        for mention in range(MENTIONS_PER_BRAND):
            sequence += 1
            post_id = snowflake(NOW - timedelta(minutes=50 - 10 * mention), sequence)
            api.add_post(post_id, author_id=customer_id, text=f"@brand{number} help", mentions=[brand_id])
            first = first or post_id
        sequence += 1
        api.add_post(snowflake(NOW - timedelta(minutes=5), sequence), author_id=brand_id, text="on it", reply_to=first)
        brands.append((brand_id, f"token-{number}"))
    return api, brands


def sources(base_url: str, brands: list[tuple[str, str]]) -> list[Source]:
    return [
        Source(
            brand_id=f"brand{number}",
            source_id="x",
            platform="x",
            base_url=base_url,
            token_secret=token,
            options={"user_id": user_id},
            backfill_hours=2,
        )
        for number, (user_id, token) in enumerate(brands)
    ]


class TokenBySecretName(StaticSecrets):
    def read(self, secret_name: str) -> str:
        return secret_name  # the bench names each source's secret after its token


def poll_once(all_sources: list[Source], *, concurrency: int, per_host: int) -> tuple[float, PollReport, int]:
    messages = MemoryMessages()
    poller = Poller(
        messages=messages,
        state=MemoryState(all_sources),
        secrets=TokenBySecretName(),
        retention=timedelta(days=30),
        concurrency=concurrency,
        per_host=per_host,
    )

    async def run() -> PollReport:
        limits = httpx.Limits(max_connections=concurrency * 2)
        async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(30.0)) as client:
            return await poller.poll_all(client, NOW)

    started = time.perf_counter()
    report = asyncio.run(run())
    return time.perf_counter() - started, report, len(messages.stored)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    args = parser.parse_args(argv)
    settings = Settings.model_validate({"MESSAGES_TABLE": "-", "STATE_TABLE": "-"})
    api, brands = build(args.sources)
    expected = args.sources * (MENTIONS_PER_BRAND + 1)
    results: dict[str, Any] = {"sources": args.sources, "latency_ms": args.latency_ms}
    with FakeXServer(api, latency_ms=args.latency_ms) as server:
        all_sources = sources(server.base_url, brands)
        for name, concurrency, per_host in (
            ("fan_out", settings.poll_concurrency, settings.poll_per_host),
            ("one_after_another", 1, 1),
        ):
            before = len(api.requests)
            seconds, report, stored = poll_once(all_sources, concurrency=concurrency, per_host=per_host)
            unhealthy = sorted({source.health for source in report.sources} - {"ok"})
            if stored != expected or unhealthy:
                raise SystemExit(f"{name}: stored {stored} of {expected} messages; health {unhealthy}")
            results[name] = {
                "seconds": round(seconds, 2),
                "requests": len(api.requests) - before,
                "concurrency": concurrency,
                "per_host": per_host,
                "messages_stored": stored,
            }
    results["speedup"] = round(results["one_after_another"]["seconds"] / results["fan_out"]["seconds"], 1)
    results["fan_out_under_60s"] = results["fan_out"]["seconds"] < 60
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
