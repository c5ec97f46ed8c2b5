"""SLA arithmetic. Pure: every function takes the instants it needs as arguments."""

from __future__ import annotations

from datetime import datetime, timedelta

from replywatch.models import SlaPolicy


def first_response_due(created_at: datetime, policy: SlaPolicy) -> datetime:
    """When the brand's first reply to a message posted at ``created_at`` is due."""
    return created_at + timedelta(seconds=policy.first_response_seconds)


def response_seconds(created_at: datetime, replied_at: datetime) -> int:
    """Whole seconds from the customer's message to the brand's reply (never negative).

    Platforms' clocks disagree by a second or two now and then; a reply stamped
    before its message counts as instant rather than as a negative duration.
    """
    return max(0, int((replied_at - created_at).total_seconds()))


def within_sla(created_at: datetime, replied_at: datetime, policy: SlaPolicy) -> bool:
    return replied_at <= first_response_due(created_at, policy)


def is_overdue(due_at: datetime, now: datetime) -> bool:
    """Past due: a reply exactly at the due time is still within the SLA."""
    return now > due_at
