"""What alerts say and when: SMS within one part (GSM-7 or UCS-2), quiet hours, which stages a
sweep sends, who takes what, and every email rendered to HTML with the customer's words as text."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest

from replywatch import digest
from replywatch.alerts import (
    GSM7_LIMIT,
    UCS2_LIMIT,
    fit_sms,
    quiet_until,
    render,
    render_summary,
    sms_encoding,
    sms_units,
)
from replywatch.models import (
    AlertKind,
    BusinessHours,
    Channel,
    Intent,
    MessageKind,
    MessageRecord,
    Priority,
    Recipient,
    Sentiment,
    SlaPolicy,
    StormControl,
)
from replywatch.models import Brand as BrandModel
from replywatch.ports import StormWindow
from replywatch.stats import Aggregate, Backlog, bucket_of, day_aggregate
from replywatch.sweeping import alerts_to_send, kind_of

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SCRIPT = "<script>alert('x')</script> & my parcel is lost"
BRAND = BrandModel(brand_id="acme", name="Acme <b>Bold</b>", timezone="Europe/London", storm=StormControl(limit=5))
POLICY = SlaPolicy(first_response_seconds=3600)


def message(**changes: object) -> MessageRecord:
    fields: dict[str, object] = {
        "brand": "acme",
        "platform": "x",
        "source_id": "acme-x",
        "platform_id": "1",
        "author_id": "9",
        "author_handle": "@dana",
        "text": SCRIPT,
        "permalink": "https://x.com/dana/status/1",
        "created_at": NOW - timedelta(minutes=50),
        "kind": MessageKind.MENTION,
        "sentiment": Sentiment.NEGATIVE,
        "sentiment_score": -0.72,
        "intent": Intent.COMPLAINT,
        "priority": Priority.HIGH,
        "target_seconds": 3600,
        "due_at": NOW + timedelta(minutes=10),
    }
    return MessageRecord.model_validate(fields | changes)


# --- SMS length -------------------------------------------------------------------------------------


def test_gsm7_text_fits_160_and_extension_characters_count_twice() -> None:
    assert sms_encoding("Hello £5 @ 10:00") == "gsm7"
    assert sms_units("a{b}") == 6
    assert fit_sms("x" * 160) == "x" * 160
    cut = fit_sms("x" * 200)
    assert sms_units(cut) <= GSM7_LIMIT and cut.endswith("...")
    braces = fit_sms("{" * 100)
    assert sms_encoding(braces) == "gsm7" and sms_units(braces) <= GSM7_LIMIT


@pytest.mark.parametrize("text", ["Ça va? Oui — merci", "Привет, это срочно", "返金してください", "Order 🙂 late"])
def test_text_outside_gsm7_is_ucs2_and_fits_70_units(text: str) -> None:
    long = (text + " ") * 20
    assert sms_encoding(long) == "ucs2"
    fitted = fit_sms(long, "https://x.com/dana/status/1")
    assert sms_units(fitted) <= UCS2_LIMIT
    assert sms_encoding(fitted) == "ucs2"


def test_an_emoji_counts_as_two_ucs2_units() -> None:
    assert sms_units("🙂") == 2
    fitted = fit_sms("🙂" * 50)
    assert sms_units(fitted) <= UCS2_LIMIT


def test_the_link_is_kept_when_the_summary_can_be_shortened_around_it() -> None:
    link = "https://x.com/dana/status/1"
    fitted = fit_sms("y" * 300, link)
    assert fitted.endswith(" " + link) and sms_units(fitted) <= GSM7_LIMIT


def test_an_alert_about_a_non_latin_handle_still_fits_one_sms() -> None:
    content = render(AlertKind.OVERDUE, message(author_handle="@Дмитрий_Петров_из_Москвы"), BRAND, POLICY, NOW)
    assert sms_encoding(content.sms) == "ucs2"
    assert sms_units(content.sms) <= UCS2_LIMIT


# --- quiet hours ------------------------------------------------------------------------------------

OWL = Recipient(brand_id="acme", recipient_id="owl", name="Owl", phone="+447700900003", quiet_hours="22:00-07:00")


@pytest.mark.parametrize(
    ("local", "release"),
    [
        (datetime(2026, 11, 23, 23, 0), datetime(2026, 11, 24, 7, 0)),
        (datetime(2026, 11, 24, 3, 0), datetime(2026, 11, 24, 7, 0)),
        (datetime(2026, 11, 23, 22, 0), datetime(2026, 11, 24, 7, 0)),
        (datetime(2026, 11, 23, 7, 0), None),
        (datetime(2026, 11, 23, 12, 0), None),
        (datetime(2026, 11, 23, 21, 59), None),
        # Across the clocks going back (25-hour night): still 07:00 local.
        (datetime(2026, 10, 24, 23, 0), datetime(2026, 10, 25, 7, 0)),
    ],
)
def test_quiet_hours_cross_midnight_in_the_recipients_zone(local: datetime, release: datetime | None) -> None:
    zone = ZoneInfo("Europe/London")
    got = quiet_until(OWL, "Europe/London", local.replace(tzinfo=zone).astimezone(UTC))
    assert got == (None if release is None else release.replace(tzinfo=zone).astimezone(UTC))


def test_a_recipients_own_zone_wins_over_the_brands() -> None:
    tokyo = OWL.model_copy(update={"timezone": "Asia/Tokyo"})
    noon_london = datetime(2026, 11, 23, 12, 0, tzinfo=ZoneInfo("Europe/London"))  # 21:00 in Tokyo
    assert quiet_until(tokyo, "Europe/London", noon_london) is None
    assert quiet_until(tokyo, "Europe/London", noon_london + timedelta(hours=2)) is not None


def test_daytime_quiet_hours() -> None:
    nap = OWL.model_copy(update={"quiet_hours": "13:00-14:00"})
    assert quiet_until(nap, "UTC", datetime(2026, 11, 23, 13, 30, tzinfo=UTC)) == datetime(
        2026, 11, 23, 14, 0, tzinfo=UTC
    )
    assert quiet_until(nap, "UTC", datetime(2026, 11, 23, 14, 0, tzinfo=UTC)) is None


@pytest.mark.parametrize("bad", ["22-07", "25:00-07:00", "07:00-07:00", "late"])
def test_malformed_quiet_hours_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="quiet hours"):
        OWL.model_copy(update={"quiet_hours": None}).model_validate({**OWL.model_dump(), "quiet_hours": bad})


# --- the ladder -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("due", "send"),
    [
        ([], []),
        ([0], [0]),
        ([0, 1], [1]),  # the warning is stale once the breach has come
        ([1], [1]),
        ([1, 2], [1, 2]),
        ([0, 1, 2, 3], [1, 3]),  # the breach and only the highest escalation
        ([2], [2]),
        ([2, 3], [3]),
    ],
)
def test_a_sweep_sends_what_is_still_worth_sending(due: list[int], send: list[int]) -> None:
    assert alerts_to_send(due) == send


def test_stages_name_their_alerts() -> None:
    assert kind_of(0) == (AlertKind.WARNING, 0)
    assert kind_of(1) == (AlertKind.OVERDUE, 0)
    assert kind_of(2) == (AlertKind.ESCALATION, 1)
    assert kind_of(4) == (AlertKind.ESCALATION, 3)


def test_recipients_take_kinds_and_levels_on_the_channels_they_chose() -> None:
    manager = Recipient(
        brand_id="acme",
        recipient_id="boss",
        name="Boss",
        email="boss@acme.example",
        phone="+447700900009",
        alert_kinds=frozenset({"escalation-2", "digest", "summary"}),
        sms_kinds=frozenset({"escalation-2"}),
    )
    assert manager.wants(AlertKind.ESCALATION, 1) == frozenset()
    assert manager.wants(AlertKind.ESCALATION, 2) == {Channel.EMAIL, Channel.SMS}
    assert manager.wants(AlertKind.DIGEST) == {Channel.EMAIL}, "the digest is never an SMS"
    assert manager.wants(AlertKind.SUMMARY) == {Channel.EMAIL}
    assert manager.wants(AlertKind.OVERDUE) == frozenset()
    with pytest.raises(ValueError, match="alert kinds"):
        Recipient(brand_id="acme", recipient_id="x", name="X", alert_kinds=frozenset({"everything"}))


# --- every email, rendered, with the customer's words as text ----------------------------------------


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text += data


def parsed(document: str) -> _Page:
    page = _Page()
    page.feed(document)
    page.close()
    return page


@pytest.mark.parametrize(
    ("kind", "level", "headline"),
    [
        (AlertKind.WARNING, 0, "Reply due in 10m"),
        (AlertKind.OVERDUE, 0, "No reply yet, past the SLA"),
        (AlertKind.ESCALATION, 2, "Escalation 2: still no reply"),
        (AlertKind.NEGATIVE, 0, "Negative message"),
    ],
)
def test_alert_emails_carry_the_customers_script_tag_as_text(kind: AlertKind, level: int, headline: str) -> None:
    content = render(kind, message(), BRAND, POLICY, NOW, level=level)
    page = parsed(content.html)
    assert "script" not in page.tags and "b" not in page.tags
    assert SCRIPT in page.text, "the words arrive as the customer wrote them, as text"
    assert "Acme <b>Bold</b>" in page.text
    assert headline in page.text
    for fact in ("Age", "50m", "SLA", "1h 00m", "negative (-0.72)", "complaint", "high", "Due", "Posted"):
        assert fact in page.text
    assert "https://x.com/dana/status/1" in content.html
    assert SCRIPT in content.text and headline in content.text
    assert SCRIPT not in content.sms, "an SMS never carries the customer's words"


def test_business_hours_are_named_with_the_sla() -> None:
    business = SlaPolicy(first_response_seconds=3600, business_hours=BusinessHours())
    assert "SLA: 1h 00m business" in render(AlertKind.OVERDUE, message(), BRAND, business, NOW).text


def test_the_storm_summary_is_escaped_and_counts_each_kind() -> None:
    window = StormWindow(
        brand_id="acme", start=NOW, end=NOW + timedelta(minutes=15), suppressed={"negative": 7, "overdue": 2}
    )
    content = render_summary(window, BRAND, backlog_open=31)
    page = parsed(content.html)
    assert "b" not in page.tags and "Acme <b>Bold</b>" in page.text
    assert "9 more alerts in 15 minutes" in content.subject
    assert "Negative messages: 7" in content.text and "Past the sla: 2" in content.text
    assert "Unanswered now: 31" in content.text
    assert sms_units(content.sms) <= GSM7_LIMIT


def day(on: date, **counters: int) -> Aggregate:
    histogram = counters.pop("histogram_seconds", 0)
    if "negative" in counters:
        counters["sentiment_negative"] = counters.pop("negative")
    return day_aggregate(
        on,
        "x",
        histogram={bucket_of(histogram): counters.get("responded", 0)} if histogram else {},
        **counters,
    )


def test_the_digest_compares_yesterday_with_the_seven_days_before_and_is_escaped() -> None:
    yesterday = date(2026, 11, 22)
    today = [
        day(
            yesterday,
            received=10,
            responded=9,
            response_seconds_sum=9 * 600,
            within_sla=9,
            negative=2,
            histogram_seconds=630,
        )
    ]
    week = [
        day(
            yesterday - timedelta(days=n),
            received=20,
            responded=10,
            response_seconds_sum=10 * 3600,
            within_sla=5,
            negative=1,
            histogram_seconds=3600,
        )
        for n in range(1, 8)
    ]
    report = digest.build(BRAND, yesterday, today, week, Backlog(open=3, overdue=1), NOW)
    assert report.yesterday.received == 10 and report.week.received == 140
    table = {row[0]: row[1:] for row in digest.rows(report)}
    assert table["New conversations"][:2] == ("10", "20.0 a day")
    assert table["New conversations"][2].startswith("-50%")
    assert table["Response rate"][:2] == ("90%", "50%")
    assert table["Median first response"][:2] == ("10m", "1h 00m")
    assert "better" in table["Median first response"][2]
    assert table["Within SLA"][:2] == ("90%", "25%")

    content = digest.render(report)
    page = parsed(content.html)
    assert "b" not in page.tags and "Acme <b>Bold</b>" in page.text
    assert "Unanswered now: 3 (1 past the SLA)" in content.text
    assert content.subject.startswith("[ReplyWatch] Acme <b>Bold</b> daily digest")


def test_the_digest_goes_out_at_the_brands_local_hour() -> None:
    london = BRAND.model_copy(update={"digest_hour": 8})
    assert digest.digest_day(london, datetime(2026, 11, 23, 7, 59, tzinfo=UTC)) is None
    assert digest.digest_day(london, datetime(2026, 11, 23, 8, 0, tzinfo=UTC)) == date(2026, 11, 22)
    summer = datetime(2026, 7, 1, 7, 0, tzinfo=UTC)  # 08:00 BST
    assert digest.digest_day(london, summer) == date(2026, 6, 30)
    # the brand's own yesterday, not UTC's: 08:00 on 23 November in Tokyo is 23:00 on the 22nd in UTC
    tokyo = BRAND.model_copy(update={"digest_hour": 8, "timezone": "Asia/Tokyo"})
    assert digest.digest_day(tokyo, datetime(2026, 11, 22, 22, 59, tzinfo=UTC)) is None
    assert digest.digest_day(tokyo, datetime(2026, 11, 22, 23, 0, tzinfo=UTC)) == date(2026, 11, 22)
