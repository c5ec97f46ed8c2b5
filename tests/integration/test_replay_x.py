"""`make replay-x` against an independent reading of the same dialogs.

The independent reading (no product code): walk each dialog's posts in order. A customer's
post is a follow-up and joins the wait of the post just before it when that is the same
customer's; after the agent's answer to the same customer it is a next-response wait (the
customer writes again); otherwise it opens a conversation. The agent's post, and the final
``agentURL`` reply, answer the wait of the post they reply to (the one just before), the
earliest answer counting. Posts shared by several dialogs are one post. Per brand: the number
of conversations, and the median of first-response seconds (whole seconds, as the API counts
them) over the answered conversations (next-response waits are counted apart), the lower
median by nearest rank (the value at sorted index ceil(n/2) - 1).

The stats API's median comes from a log-bucket histogram with 1% relative accuracy and is
rounded to 0.1 s: it is compared within 1%, plus that rounding.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from infra.local.replay_x import replay
from tests.support.template import ROOT

DEV = ROOT.parent / "shared" / "data" / "ibm-customer-care" / "dev.json"
_TWEPOCH_MS = 1288834974657


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _snowflake_time(post_id: str) -> datetime:
    return datetime.fromtimestamp(((int(post_id) >> 22) + _TWEPOCH_MS) / 1000, tz=UTC)


def independent(dialogs: list[dict[str, Any]]) -> dict[str, tuple[int, float | None]]:
    """company -> (conversations, lower median of first-response seconds)."""
    opened: dict[str, dict[str, datetime]] = {}  # company -> opener post id -> when
    answered: dict[str, dict[str, datetime]] = {}  # company -> opener post id -> first answer
    for dialog in dialogs:
        company = dialog["dialogHeader"]["company"]
        opened.setdefault(company, {})
        answered.setdefault(company, {})
        posts = []
        for message in dialog["dialogContent"]:
            customer = message.get("client", message.get("client1"))
            posts.append((message["tweet_ID"], customer, _time(message["datetime"])))
        posts.append((dialog["agentURL"]["tweet_ID"], None, _snowflake_time(dialog["agentURL"]["tweet_ID"])))
        wait_of: dict[str, str] = {}  # a customer's post -> the post that opened its wait
        answering: dict[str, str] = {}  # an agent's post -> the customer it answered
        previous: tuple[str, str | None, datetime] | None = None
        for post_id, customer, at in posts:
            if customer is not None:
                if previous is not None and previous[1] == customer:
                    wait_of[post_id] = wait_of[previous[0]]
                else:
                    wait_of[post_id] = post_id
                    if previous is None or answering.get(previous[0]) != customer:
                        opened[company].setdefault(post_id, at)
            elif previous is not None and previous[1] is not None:
                answering[post_id] = previous[1]
                opener = wait_of[previous[0]]
                if opener not in answered[company] or at < answered[company][opener]:
                    answered[company][opener] = at
            previous = (post_id, customer, at)
    found = {}
    for company, openers in opened.items():
        seconds = sorted(
            math.floor((answered[company][opener] - at).total_seconds())
            for opener, at in openers.items()
            if opener in answered[company]
        )
        median = float(seconds[math.ceil(len(seconds) / 2) - 1]) if seconds else None
        found[company] = (len(openers), median)
    return found


def assert_same(replayed: Mapping[str, Mapping[str, Any]], expected: Mapping[str, tuple[int, float | None]]) -> None:
    differences = []
    for company, (conversations, median) in sorted(expected.items()):
        got = replayed.get(company)
        if got is None:
            differences.append(f"{company}: missing from the replay")
            continue
        if got["conversations"] != conversations:
            differences.append(f"{company}: {got['conversations']} conversations, expected {conversations}")
        api_median = got["median_first_response_seconds"]
        if (api_median is None) != (median is None) or (
            median is not None and abs(api_median - median) > 0.01 * median + 0.05
        ):
            differences.append(f"{company}: median {api_median} s, expected {median} s (within 1%)")
    extra = sorted(set(replayed) - set(expected))
    assert not extra, f"companies not in the data: {extra}"
    assert not differences, "\n".join(differences)


# --- a small data set of our own: always runs ------------------------------------------------------------

T0 = datetime(2020, 3, 2, 9, 0, tzinfo=UTC)


def post_id(moment: datetime, sequence: int = 0) -> str:
    return str(((int(moment.timestamp() * 1000) - _TWEPOCH_MS) << 22) + sequence)


def message(role: str, handle: str, minutes: float, text: str) -> dict[str, str]:
    moment = T0 + timedelta(minutes=minutes)
    return {
        role: handle,
        "datetime": moment.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "message": text,
        "tweet_ID": post_id(moment),
    }


def dialog(company: str, content: list[dict[str, str]], reply_minutes: float) -> dict[str, Any]:
    return {
        "dialogHeader": {"company": company},
        "dialogContent": content,
        "agentURL": {"tweet_ID": post_id(T0 + timedelta(minutes=reply_minutes), 1), "url_utterance": "Glad to help!"},
    }


def own_dialogs() -> list[dict[str, Any]]:
    shared = [message("client", "ann", 600, "@Acme_Care is it down?"), message("agent", "Acme_Care", 610, "@ann no")]
    return [
        # one question, answered after 30 minutes
        dialog("Acme_Care", [message("client", "bo", 0, "@Acme_Care my order & my refund <?>")], 30),
        # a follow-up before the answer: one conversation, timed from its first post
        dialog(
            "Acme_Care",
            [message("client", "cy", 60, "@Acme_Care hello"), message("client", "cy", 70, "@Acme_Care anyone?")],
            150,
        ),
        # asked again after an answer: one conversation (10 minutes), then a next-response wait
        dialog(
            "Acme_Care",
            [
                message("client", "di", 200, "@Acme_Care login fails"),
                message("agent", "Acme_Care", 210, "@di try again"),
                message("client", "di", 215, "@Acme_Care still fails"),
            ],
            235,
        ),
        # another customer joins: their post opens a conversation of its own; the first is never answered
        dialog(
            "Acme_Care",
            [message("client", "ed", 300, "@Acme_Care outage?"), message("client1", "fay", 305, "@ed me too")],
            345,
        ),
        # two dialogs that share their first posts (the data set has such pairs): ann asks again
        # after the answer (a next-response wait); gus answers the brand's reply to ann (his own
        # conversation)
        dialog("Acme_Care", [*shared, message("client", "ann", 620, "@Acme_Care why?")], 640),
        dialog("Acme_Care", [*shared, message("client1", "gus", 625, "@Acme_Care and me?")], 700),
        # a second brand, one question answered in 2.5 hours
        dialog("Zeta", [message("client", "hal", 1000, "@Zeta hi")], 1150),
    ]


def test_the_independent_reading_of_our_own_dialogs() -> None:
    # Acme_Care's conversations answered: bo 30, cy 90, di 10, fay 40, ann 10, gus 75 min; ed never.
    assert independent(own_dialogs()) == {"Acme_Care": (7, 30 * 60.0), "Zeta": (1, 150 * 60.0)}


@pytest.mark.parametrize("one_pipeline", [True, False], ids=["brands-together", "a-pipeline-per-brand"])
def test_the_replay_of_our_own_dialogs_matches_the_independent_reading(one_pipeline: bool) -> None:
    dialogs = own_dialogs()
    assert_same(replay(dialogs, one_pipeline=one_pipeline), independent(dialogs))


# --- the shared data set -----------------------------------------------------------------------------------


@pytest.mark.skipif(not DEV.is_file(), reason=f"{DEV} is absent (the ../shared folder is optional)")
def test_the_replay_of_the_ibm_customer_care_dev_set_matches_the_independent_reading() -> None:
    dialogs = json.loads(Path(DEV).read_text())
    assert_same(replay(dialogs), independent(dialogs))
