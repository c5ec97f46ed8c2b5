"""The demo scenario: one brand's mentions over the past hours, as plain data.

The demo serves it from a fake Mastodon server; the end-to-end test computes
the alerts and statistics it must produce from this definition alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

BRAND_ID = "acme"
BRAND_NAME = "Acme Mobile"
BRAND_ACCOUNT = "acme"
BRAND_ACCOUNT_ID = "1001"
SLA = timedelta(hours=1)
SOURCE_ID = "mastodon-main"
SECRET_NAME = "replywatch/acme/mastodon-main"
TOKEN = "demo-token-not-a-secret"

H, M = timedelta(hours=1), timedelta(minutes=1)


@dataclass(frozen=True)
class Mention:
    author: str
    text: str
    age: timedelta  # posted this long before the scenario's "now"
    reply_after: timedelta | None  # the brand answered this long after it was posted, or never
    negative: bool  # what a reader would call it
    direct: bool = False


MENTIONS: tuple[Mention, ...] = (
    Mention("maria", "Hi @acme, does the new plan include roaming in Canada?", 5 * H + 50 * M, 20 * M, False),
    Mention(
        "tom",
        "@acme my order is still missing after two weeks. This is unacceptable!",
        5 * H + 10 * M,
        2 * H + 10 * M,
        True,
    ),
    Mention("li", "@acme where can I find the invoice for last month?", 4 * H + 30 * M, None, False),
    Mention("sam", "@acme thanks for the quick fix yesterday, great support!", 4 * H, 45 * M, False),
    Mention(
        "noor",
        "@acme your app keeps crashing and nobody answers. Worst service ever <script>x()</script>",
        3 * H + 20 * M,
        None,
        True,
    ),
    Mention("ken", "@acme can I change the delivery address on an open order?", 2 * H + 45 * M, 5 * M, False),
    Mention("ada", "@acme is the store on Main Street open on Sunday?", 2 * H, 1 * H + 30 * M, False),
    Mention("raj", "@acme how do I add a second line to my account?", 1 * H + 30 * M, None, False),
    Mention("eve", "@acme what time does the support line open?", 40 * M, None, False),
    Mention("olu", "@acme I was charged twice this month, terrible. Please refund me", 25 * M, 10 * M, True),
    Mention("zoe", "@acme the router you sent is broken and useless", 10 * M, None, True),
    Mention("jun", "@acme can you check my ticket 4411 please?", 50 * M, None, False, direct=True),
)

# Recipients: (id, name, email, phone, alert kinds)
RECIPIENTS = (
    ("lead", "Care lead", "lead@acme.example", "+15550100001", ("overdue", "negative")),
    ("agent", "On-call agent", "agent@acme.example", None, ("overdue",)),
)


def posted_at(mention: Mention, now: datetime) -> datetime:
    return now - mention.age


def replied_at(mention: Mention, now: datetime) -> datetime | None:
    return None if mention.reply_after is None else posted_at(mention, now) + mention.reply_after
