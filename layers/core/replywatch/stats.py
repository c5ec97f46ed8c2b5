"""Pre-aggregated response statistics. Pure: no storage, no clock.

Each (brand, day, channel) keeps counters plus a log-bucketed histogram of
first-response seconds (the DDSketch layout: bucket ``i`` holds values in
``(gamma**(i-1), gamma**i]``), so a stats query reads one item per day and
channel whatever the number of messages, and any quantile it reports is within
``RELATIVE_ACCURACY`` of the exact nearest-rank value.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(GAMMA)
ZERO_BUCKET = "z"


def bucket_of(seconds: int) -> str:
    """The histogram bucket that holds a response time of ``seconds``."""
    if seconds < 0:
        raise ValueError("response times are never negative")
    if seconds == 0:
        return ZERO_BUCKET
    return str(math.ceil(math.log(seconds) / _LOG_GAMMA))


def bucket_value(bucket: str) -> float:
    """The value a bucket stands for: within RELATIVE_ACCURACY of anything in it."""
    if bucket == ZERO_BUCKET:
        return 0.0
    return 2 * GAMMA ** int(bucket) / (GAMMA + 1)


def _bucket_order(bucket: str) -> int:
    return -1 if bucket == ZERO_BUCKET else int(bucket)


def quantile(histogram: Mapping[str, int], q: float) -> float | None:
    """Nearest-rank quantile (the value at sorted index ceil(q*n)-1) from a histogram."""
    if not 0 <= q <= 1:
        raise ValueError("q must be within [0, 1]")
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bucket in sorted(histogram, key=_bucket_order):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket_value(bucket)
    raise AssertionError("unreachable: rank is at most the total")


def exact_quantile(values: Iterable[float], q: float) -> float | None:
    """The exact nearest-rank quantile that :func:`quantile` approximates."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


class DayAggregate(BaseModel):
    """Counters for one brand, day (of the customer's message, UTC) and channel."""

    day: date
    channel: str
    received: int = 0
    responded: int = 0
    response_seconds_sum: int = 0
    within_sla: int = 0
    negative: int = 0
    overdue: int = 0
    histogram: dict[str, int] = Field(default_factory=dict)


class Backlog(BaseModel):
    open: int = 0
    overdue: int = 0
    oldest_open_at: datetime | None = None


class StatsResponse(BaseModel):
    brand: str
    from_day: Annotated[date, Field(alias="from", description="First day (UTC), inclusive")]
    to_day: Annotated[date, Field(alias="to", description="Last day (UTC), inclusive")]
    as_of: Annotated[datetime, Field(description="The instant open/oldest figures refer to")]
    received: Annotated[
        int,
        Field(description="Conversations opened: a customer's follow-ups to their own unanswered message join one"),
    ]
    responded: Annotated[int, Field(description="Conversations the brand has answered")]
    response_rate: Annotated[float | None, Field(description="responded / received, 0..1")]
    first_response_mean_seconds: float | None
    first_response_median_seconds: Annotated[float | None, Field(description="Within 1% of the exact value")]
    first_response_p90_seconds: Annotated[float | None, Field(description="Within 1% of the exact value")]
    within_sla_percent: Annotated[
        float | None, Field(description="Share of received messages answered within the SLA, in %")
    ]
    negative: int
    open: Annotated[int, Field(description="Unanswered messages now, overdue included")]
    overdue: Annotated[int, Field(description="Unanswered messages now past their due time")]
    oldest_open_age_seconds: int | None

    model_config = {"populate_by_name": True}


def summarise(
    brand: str,
    from_day: date,
    to_day: date,
    days: Iterable[DayAggregate],
    backlog: Backlog,
    as_of: datetime,
) -> StatsResponse:
    received = responded = seconds_sum = in_sla = negative = 0
    histogram: Counter[str] = Counter()
    for day in days:
        received += day.received
        responded += day.responded
        seconds_sum += day.response_seconds_sum
        in_sla += day.within_sla
        negative += day.negative
        histogram.update(day.histogram)
    oldest_age = None
    if backlog.oldest_open_at is not None:
        oldest_age = max(0, int((as_of - backlog.oldest_open_at).total_seconds()))
    return StatsResponse(
        brand=brand,
        from_day=from_day,
        to_day=to_day,
        as_of=as_of,
        received=received,
        responded=responded,
        response_rate=round(responded / received, 4) if received else None,
        first_response_mean_seconds=round(seconds_sum / responded, 2) if responded else None,
        first_response_median_seconds=_rounded(quantile(histogram, 0.5)),
        first_response_p90_seconds=_rounded(quantile(histogram, 0.9)),
        within_sla_percent=round(100 * in_sla / received, 2) if received else None,
        negative=negative,
        open=backlog.open,
        overdue=backlog.overdue,
        oldest_open_age_seconds=oldest_age,
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
