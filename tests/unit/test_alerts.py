"""Alerts: what they say (render, duration) and sending each one once (deliver)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from replywatch.alerts import GSM7_LIMIT as SMS_LIMIT
from replywatch.alerts import AlertContent, deliver, duration, render
from replywatch.models import AlertKind, Brand, MessageKind, MessageRecord, Recipient, Sentiment, SlaPolicy

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BRAND = Brand(brand_id="acme", name="Acme & Sons")
POLICY = SlaPolicy(first_response_seconds=3600)
NASTY_TEXT = "Where is my order? <script>alert(1)</script> Tom & Jerry say hi"
LINK = 'https://social.example/@dana/110?ref=a&b="x"'


def record(**changes: object) -> MessageRecord:
    fields: dict[str, object] = {
        "brand": "acme",
        "platform": "mastodon",
        "source_id": "acme-social",
        "platform_id": "110",
        "author_id": "7",
        "author_handle": "@dana@elsewhere.example",
        "text": NASTY_TEXT,
        "permalink": LINK,
        "created_at": NOW - timedelta(hours=2, minutes=5),
        "kind": MessageKind.MENTION,
        "sentiment": Sentiment.NEGATIVE,
    }
    return MessageRecord.model_validate(fields | changes)


# --- duration -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0s"),
        (45, "45s"),
        (59.9, "59s"),
        (60, "1m"),
        (12 * 60 + 59, "12m"),
        (3599, "59m"),
        (3600, "1h 00m"),
        (3 * 3600 + 5 * 60, "3h 05m"),
        (47 * 3600 + 59 * 60, "47h 59m"),
        (48 * 3600, "2d 0h"),
        (2 * 86400 + 4 * 3600 + 59 * 60, "2d 4h"),
        (10 * 86400, "10d 0h"),
        (-30, "0s"),
    ],
)
def test_duration_formats_short_human_durations(seconds: float, expected: str) -> None:
    assert duration(seconds) == expected


# --- render -------------------------------------------------------------------------------------------


def test_html_escapes_the_message_text() -> None:
    content = render(AlertKind.NEGATIVE, record(), BRAND, POLICY, NOW)
    assert "<script>" not in content.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content.html
    assert "Tom &amp; Jerry" in content.html


def test_a_reviews_stars_are_in_the_alert_and_other_messages_have_none() -> None:
    review = render(AlertKind.NEGATIVE, record(kind=MessageKind.REVIEW, rating=1), BRAND, POLICY, NOW)
    assert "Rating: 1 of 5 stars" in review.text and "1 of 5 stars" in review.html
    assert "Rating" not in render(AlertKind.NEGATIVE, record(), BRAND, POLICY, NOW).text


def test_html_escapes_the_brand_name() -> None:
    content = render(AlertKind.NEGATIVE, record(), BRAND, POLICY, NOW)
    assert "Acme &amp; Sons" in content.html
    assert "Acme & Sons" not in content.html


def test_plain_text_keeps_the_message_text_as_written() -> None:
    content = render(AlertKind.NEGATIVE, record(), BRAND, POLICY, NOW)
    assert NASTY_TEXT in content.text
    assert "&lt;" not in content.text
    assert "&amp;" not in content.text


def test_permalink_is_in_text_and_attribute_escaped_in_html() -> None:
    content = render(AlertKind.OVERDUE, record(), BRAND, POLICY, NOW)
    assert f"Open it: {LINK}" in content.text
    assert 'href="https://social.example/@dana/110?ref=a&amp;b=&quot;x&quot;"' in content.html
    assert LINK not in content.html


def test_no_link_when_the_message_has_no_permalink() -> None:
    content = render(AlertKind.OVERDUE, record(permalink=None), BRAND, POLICY, NOW)
    assert "href" not in content.html
    assert "Open it" not in content.text


def test_content_states_kind_age_sla_author_and_sentiment() -> None:
    content = render(AlertKind.OVERDUE, record(), BRAND, POLICY, NOW)
    assert content.subject.startswith("[ReplyWatch] Acme & Sons: ")
    assert "no reply yet, past the sla" in content.subject.lower()
    assert content.subject.endswith("mention on mastodon from @dana@elsewhere.example")
    assert "Age: 2h 05m" in content.text
    assert "SLA: 1h 00m" in content.text
    assert "Sentiment: negative" in content.text
    assert "From: @dana@elsewhere.example" in content.text
    assert content.text.startswith("No reply yet, past the SLA.")


def test_negative_alert_headline() -> None:
    content = render(AlertKind.NEGATIVE, record(), BRAND, POLICY, NOW)
    assert content.text.startswith("Negative message.")
    assert "negative message" in content.subject.lower()
    assert "<h2>Negative message</h2>" in content.html


def test_unknown_sentiment_is_stated() -> None:
    content = render(AlertKind.OVERDUE, record(sentiment=None), BRAND, POLICY, NOW)
    assert "Sentiment: unknown" in content.text


def test_sms_includes_the_link_when_it_fits() -> None:
    content = render(AlertKind.OVERDUE, record(permalink="https://social.example/@dana/110"), BRAND, POLICY, NOW)
    assert len(content.sms) <= SMS_LIMIT
    assert content.sms.endswith(" https://social.example/@dana/110")
    assert "@dana@elsewhere.example" in content.sms
    assert "2h 05m old (SLA 1h 00m)" in content.sms


@pytest.mark.parametrize(
    "changes",
    [
        {"permalink": "https://social.example/@dana/110?" + "x" * 400},
        {"author_handle": "@" + "d" * 150 + "@" + "elsewhere" * 20 + ".example"},
        {"permalink": "https://social.example/" + "p" * 300, "author_handle": "@" + "h" * 300},
    ],
    ids=["long-link", "long-handle", "both-long"],
)
def test_sms_never_exceeds_the_limit(changes: dict[str, str]) -> None:
    content = render(AlertKind.OVERDUE, record(**changes), BRAND, POLICY, NOW)
    assert 0 < len(content.sms) <= SMS_LIMIT
    assert content.sms.lower().startswith("replywatch acme & sons: no reply yet, past the sla")


def test_sms_drops_a_link_that_would_not_fit() -> None:
    long_link = "https://social.example/@dana/110?" + "x" * 400
    content = render(AlertKind.OVERDUE, record(permalink=long_link), BRAND, POLICY, NOW)
    assert "https://" not in content.sms


# --- deliver ------------------------------------------------------------------------------------------


@dataclass
class DictClaims:
    """In-memory stand-in for the conditional-write claims table."""

    held: dict[tuple[str, str], datetime] = field(default_factory=dict)
    released: list[tuple[str, str]] = field(default_factory=list)

    def claim_alert(self, message_key: str, slot: str, *, now: datetime, expires_at: datetime) -> bool:
        if (message_key, slot) in self.held:
            return False
        self.held[(message_key, slot)] = expires_at
        return True

    def release_alert(self, message_key: str, slot: str) -> None:
        self.released.append((message_key, slot))
        self.held.pop((message_key, slot), None)


class SmsDown(Exception):
    pass


@dataclass
class RecordingNotifier:
    fail_sms: bool = False
    sent: list[tuple[str, str, str]] = field(default_factory=list)

    def send_email(self, to: str, content: AlertContent) -> None:
        self.sent.append(("email", to, content.subject))

    def send_sms(self, phone: str, text: str) -> None:
        if self.fail_sms:
            raise SmsDown("carrier unavailable")
        self.sent.append(("sms", phone, text))


OPS = Recipient(brand_id="acme", recipient_id="ops", name="Ops", email="ops@acme.example", phone="+447700900001")
MANAGER = Recipient(
    brand_id="acme",
    recipient_id="manager",
    name="Manager",
    email="boss@acme.example",
    alert_kinds=frozenset({"negative"}),
)
ONCALL = Recipient(
    brand_id="acme", recipient_id="oncall", name="On call", phone="+447700900002", alert_kinds=frozenset({"overdue"})
)
EVERYONE = [OPS, MANAGER, ONCALL]


def send(
    kind: AlertKind, claims: DictClaims, notifier: RecordingNotifier, recipients: list[Recipient] = EVERYONE
) -> int:
    return deliver(kind, record(), BRAND, POLICY, recipients, claims=claims, notifier=notifier, now=NOW).sent


def sent_to(notifier: RecordingNotifier) -> set[tuple[str, str]]:
    return {(channel, address) for channel, address, _ in notifier.sent}


def test_deliver_sends_each_channel_of_each_recipient_who_wants_the_kind() -> None:
    claims, notifier = DictClaims(), RecordingNotifier()
    assert send(AlertKind.OVERDUE, claims, notifier) == 3
    assert sent_to(notifier) == {("email", "ops@acme.example"), ("sms", "+447700900001"), ("sms", "+447700900002")}
    assert len(notifier.sent) == 3


def test_deliver_skips_recipients_who_do_not_want_the_kind() -> None:
    claims, notifier = DictClaims(), RecordingNotifier()
    assert send(AlertKind.NEGATIVE, claims, notifier) == 3
    assert sent_to(notifier) == {
        ("email", "ops@acme.example"),
        ("sms", "+447700900001"),
        ("email", "boss@acme.example"),
    }
    assert not any(address == "+447700900002" for _, address, _ in notifier.sent)


def test_deliver_sends_the_rendered_content() -> None:
    notifier = RecordingNotifier()
    send(AlertKind.OVERDUE, DictClaims(), notifier, [OPS])
    content = render(AlertKind.OVERDUE, record(), BRAND, POLICY, NOW)
    assert ("email", "ops@acme.example", content.subject) in notifier.sent
    assert ("sms", "+447700900001", content.sms) in notifier.sent


def test_a_second_delivery_sends_nothing() -> None:
    claims, notifier = DictClaims(), RecordingNotifier()
    send(AlertKind.OVERDUE, claims, notifier)
    assert send(AlertKind.OVERDUE, claims, notifier) == 0
    assert len(notifier.sent) == 3


def test_kinds_are_claimed_separately() -> None:
    claims, notifier = DictClaims(), RecordingNotifier()
    send(AlertKind.OVERDUE, claims, notifier, [OPS])
    assert send(AlertKind.NEGATIVE, claims, notifier, [OPS]) == 2
    assert len(notifier.sent) == 4


def test_claims_expire_after_the_retention_period() -> None:
    claims = DictClaims()
    send(AlertKind.OVERDUE, claims, RecordingNotifier(), [OPS])
    assert set(claims.held.values()) == {NOW + timedelta(days=30)}


def test_failed_sms_releases_its_claim_and_is_reported_not_raised() -> None:
    claims, failing = DictClaims(), RecordingNotifier(fail_sms=True)
    delivery = deliver(AlertKind.OVERDUE, record(), BRAND, POLICY, [OPS], claims=claims, notifier=failing, now=NOW)
    assert (delivery.sent, delivery.failed) == (1, 1)
    assert failing.sent == [("email", "ops@acme.example", failing.sent[0][2])]
    assert claims.released == [(record().key, "overdue#0#ops#sms")]
    assert list(claims.held) == [(record().key, "overdue#0#ops#email")]


def test_retry_after_a_failed_sms_sends_only_the_sms() -> None:
    claims = DictClaims()
    assert send(AlertKind.OVERDUE, claims, RecordingNotifier(fail_sms=True), [OPS]) == 1
    retry = RecordingNotifier()
    assert send(AlertKind.OVERDUE, claims, retry, [OPS]) == 1
    assert sent_to(retry) == {("sms", "+447700900001")}


def test_a_failure_for_one_recipient_does_not_stop_the_others() -> None:
    claims, failing = DictClaims(), RecordingNotifier(fail_sms=True)
    assert send(AlertKind.NEGATIVE, claims, failing) == 2
    assert sent_to(failing) == {("email", "ops@acme.example"), ("email", "boss@acme.example")}


def test_nobody_to_tell_sends_nothing() -> None:
    notifier = RecordingNotifier()
    assert send(AlertKind.NEGATIVE, DictClaims(), notifier, [ONCALL]) == 0
    assert notifier.sent == []
