"""Alerts: what they say (pure) and how they are sent (clients injected).

Each alert goes to each recipient and channel at most once: the right to send
is claimed with a conditional write first, and given back only when sending
fails, so a redelivered stream batch or a second sweep sends nothing again.

A send that fails (an address SES refuses, a number that opted out of SMS) is
logged and reported, never raised: one unreachable recipient must not keep a
message from being flagged or hold up a stream shard. Transient throttling is
retried by the clients themselves (botocore's standard retry mode).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from replywatch.health import Incident
from replywatch.models import (
    MESSAGE_ALERTS,
    AlertKind,
    Brand,
    Channel,
    MessageRecord,
    Recipient,
    SlaPolicy,
    Source,
    SourceState,
)
from replywatch.ports import AlertClaims, AlertLedger, HeldSms, StormLedger, StormWindow

__all__ = ["AlertClaims", "AlertContent", "Delivery", "Notifier"]

logger = logging.getLogger(__name__)

ALERT_MARKER_RETENTION = timedelta(days=30)
HELD_SMS_RETENTION = timedelta(days=2)
HELD_SMS_ATTEMPTS = 3

# SMS: 160 characters of the GSM 03.38 alphabet in one part; any other character makes the
# whole message UCS-2, and then 70 UTF-16 units fit. Extension characters take two septets.
GSM7_LIMIT = 160
UCS2_LIMIT = 70
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class Delivery:
    sent: int = 0
    failed: int = 0
    held: int = 0
    suppressed: bool = False  # storm control folded it into the window's summary


@dataclass(frozen=True)
class AlertContent:
    subject: str
    text: str
    html: str
    sms: str


class Notifier(Protocol):
    def send_email(self, to: str, content: AlertContent) -> None: ...

    def send_sms(self, phone: str, text: str) -> None: ...


def duration(seconds: float) -> str:
    """A short human duration: 45s, 12m, 3h 05m, 2d 4h."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


# --- SMS length --------------------------------------------------------------------------------


def sms_encoding(text: str) -> str:
    """``gsm7`` when every character is in the GSM 03.38 alphabet, else ``ucs2``."""
    return "gsm7" if all(c in _GSM7_BASIC or c in _GSM7_EXTENDED for c in text) else "ucs2"


def sms_units(text: str) -> int:
    """What ``text`` costs against its single-part limit: septets in GSM-7, UTF-16 units in UCS-2."""
    if sms_encoding(text) == "gsm7":
        return sum(2 if c in _GSM7_EXTENDED else 1 for c in text)
    return len(text.encode("utf-16-le")) // 2


def sms_limit(text: str) -> int:
    return GSM7_LIMIT if sms_encoding(text) == "gsm7" else UCS2_LIMIT


def fit_sms(summary: str, link: str = "") -> str:
    """One SMS part: the summary, and the link when there is room for it and some summary."""
    full = f"{summary} {link}".strip()
    if sms_units(full) <= sms_limit(full):
        return full
    if link:
        limit = sms_limit(full)
        room = limit - sms_units(link) - 1
        if room >= 30:
            return f"{_truncate(summary, room, limit)} {link}"
    return _truncate(summary, sms_limit(summary), sms_limit(summary))


def _truncate(text: str, room: int, limit: int) -> str:
    """Cut ``text`` to ``room`` units, ending in an ellipsis the encoding can carry."""
    if sms_units(text) <= room:
        return text
    # "..." in GSM-7 (the ellipsis character would switch the message to UCS-2); "…" in UCS-2.
    ellipsis = "..." if limit == GSM7_LIMIT else "…"
    kept = ""
    for char in text:
        if sms_units(kept + char + ellipsis) > room:
            break
        kept += char
    return kept.rstrip() + ellipsis


# --- message alerts ----------------------------------------------------------------------------


def _headline(kind: AlertKind, level: int, message: MessageRecord, now: datetime) -> str:
    if kind is AlertKind.WARNING:
        left = (message.due_at - now).total_seconds() if message.due_at else 0
        return f"Reply due in {duration(left)}"
    if kind is AlertKind.OVERDUE:
        return "No reply yet, past the SLA"
    if kind is AlertKind.ESCALATION:
        return f"Escalation {level}: still no reply"
    if kind is AlertKind.NEGATIVE:
        return "Negative message"
    raise ValueError(f"{kind.value} is not a message alert")


def _local(moment: datetime, timezone: str) -> str:
    return moment.astimezone(ZoneInfo(timezone)).strftime("%a %d %b %H:%M %Z")


def render(
    kind: AlertKind,
    message: MessageRecord,
    brand: Brand,
    policy: SlaPolicy,
    now: datetime,
    *,
    level: int = 0,
) -> AlertContent:
    """An alert about one customer message: email (HTML and text) and SMS.

    The customer's words appear only in the email body, escaped in the HTML; the SMS
    carries who, where and how long, never the text."""
    age = duration((now - message.created_at).total_seconds())
    target = message.target_seconds or policy.first_response_seconds
    sla = duration(target) + (" business" if policy.business_hours else "")
    headline = _headline(kind, level, message, now)
    where = f"{message.kind.value} on {message.platform}"
    subject = f"[ReplyWatch] {brand.name}: {headline} — {where} from {message.author_handle}"
    sentiment = "unknown"
    if message.sentiment:
        score = f" ({message.sentiment_score:+.2f})" if message.sentiment_score is not None else ""
        sentiment = message.sentiment.value + score
    facts = [
        ("Brand", brand.name),
        ("From", message.author_handle),
        ("Where", where),
        ("Posted", _local(message.created_at, brand.timezone)),
        ("Age", age),
        ("SLA", sla),
    ]
    if message.due_at is not None:
        facts.append(("Due", _local(message.due_at, brand.timezone)))
    facts += [
        ("Sentiment", sentiment),
        ("Intent", message.intent.value if message.intent else "unknown"),
        ("Priority", message.priority.value if message.priority else "normal"),
    ]
    if message.rating is not None:
        facts.append(("Rating", f"{message.rating} of 5 stars"))
    link = message.permalink or ""
    text = "\n".join(
        [
            f"{headline}.",
            "",
            *(f"{label}: {value}" for label, value in facts),
            "",
            "Message:",
            message.text,
            "",
            f"Open it: {link}" if link else "",
            "",
            "-- ReplyWatch",
        ]
    )
    link_html = f'<p><a href="{html.escape(link, quote=True)}">Open the message</a></p>' if link else ""
    body = _page(
        html.escape(headline),
        f"<table>{_html_rows(facts)}</table>"
        f"<blockquote style='white-space:pre-wrap'>{html.escape(message.text)}</blockquote>{link_html}",
    )
    sms = fit_sms(
        f"ReplyWatch {brand.name}: {headline}, {message.platform} {message.author_handle}, {age} old (SLA {sla})", link
    )
    return AlertContent(subject=subject, text=text, html=body, sms=sms)


def _page(title_html: str, body_html: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'></head><body>"
        f"<h2>{title_html}</h2>{body_html}"
        "<p style='color:#666'>ReplyWatch</p></body></html>"
    )


def _plain_text(headline: str, advice: str, facts: list[tuple[str, str]]) -> str:
    return "\n".join([headline, advice, "", *(f"{label}: {value}" for label, value in facts), "", "-- ReplyWatch"])


def _html_rows(facts: list[tuple[str, str]]) -> str:
    return "".join(
        f"<tr><th align='left'>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>" for label, value in facts
    )


def deliver(
    kind: AlertKind,
    message: MessageRecord,
    brand: Brand,
    policy: SlaPolicy,
    recipients: list[Recipient],
    *,
    claims: AlertLedger,
    notifier: Notifier,
    now: datetime,
    level: int = 0,
    storm: StormLedger | None = None,
) -> Delivery:
    """Send an alert about a message to every recipient who wants it, each channel at most
    once; under storm control, past the brand's limit it goes into the window's summary."""
    occasion = f"{kind.value}#{level}"
    if not any(recipient.wants(kind, level) for recipient in recipients):
        return Delivery()  # nobody takes it: it must not use up the storm window's allowance
    if storm is not None and not storm.admit_alert(
        brand.brand_id, f"{message.key}#{occasion}", kind, now=now, storm=brand.storm
    ):
        logger.info("alert folded into a storm summary", extra={"message_key": message.key, "kind": kind.value})
        return Delivery(suppressed=True)
    content = render(kind, message, brand, policy, now, level=level)
    return fan_out(
        kind,
        message.key,
        occasion,
        content,
        recipients,
        claims=claims,
        notifier=notifier,
        now=now,
        level=level,
        timezone=brand.timezone,
    )


def quiet_until(recipient: Recipient, brand_timezone: str, now: datetime) -> datetime | None:
    """When the recipient's quiet hours end, if ``now`` is within them; else None."""
    if not recipient.quiet_hours:
        return None
    zone = ZoneInfo(recipient.timezone or brand_timezone)
    start_text, end_text = recipient.quiet_hours.split("-")
    start, end = time.fromisoformat(start_text), time.fromisoformat(end_text)
    local = now.astimezone(zone)
    today = local.time()
    inside = start <= today < end if start < end else today >= start or today < end
    if not inside:
        return None
    day = local.date() if today < end else local.date() + timedelta(days=1)
    # The local end time on that day (through the gap or overlap of a DST change, as zoneinfo does).
    return datetime.combine(day, end, tzinfo=zone).astimezone(UTC)


def fan_out(
    kind: AlertKind,
    subject_key: str,
    occasion: str,
    content: AlertContent,
    recipients: list[Recipient],
    *,
    claims: AlertLedger,
    notifier: Notifier,
    now: datetime,
    level: int = 0,
    timezone: str = "UTC",
    channels: Callable[[Recipient], frozenset[Channel]] | None = None,
) -> Delivery:
    """Send ``content`` to each recipient who wants ``kind`` on each channel they take it on
    (or ``channels(recipient)``), once per ``occasion``. An SMS in the recipient's quiet hours
    is held until they end."""
    sent = failed = held = 0
    for recipient in recipients:
        wanted = channels(recipient) if channels is not None else recipient.wants(kind, level)
        for channel in sorted(wanted):
            slot = f"{occasion}#{recipient.recipient_id}#{channel.value}"
            if not claims.claim_alert(subject_key, slot, now=now, expires_at=now + ALERT_MARKER_RETENTION):
                continue
            where = {
                "subject": subject_key,
                "kind": kind.value,
                "recipient_id": recipient.recipient_id,
                "channel": channel.value,
            }
            try:
                if channel is Channel.EMAIL and recipient.email:
                    notifier.send_email(recipient.email, content)
                elif channel is Channel.SMS and recipient.phone:
                    release_at = quiet_until(recipient, timezone, now)
                    if release_at is not None:
                        claims.hold_sms(
                            HeldSms(
                                brand_id=recipient.brand_id,
                                release_at=release_at,
                                subject_key=subject_key,
                                slot=slot,
                                recipient_id=recipient.recipient_id,
                                text=content.sms,
                            ),
                            expires_at=release_at + HELD_SMS_RETENTION,
                        )
                        held += 1
                        logger.info("SMS held for quiet hours", extra=where)
                        continue
                    notifier.send_sms(recipient.phone, content.sms)
            except Exception as error:  # give the claim back so a redelivery may send it
                claims.release_alert(subject_key, slot)
                failed += 1
                logger.warning("alert not sent", extra={**where, "error": type(error).__name__})
                continue
            sent += 1
            logger.info("alert sent", extra=where)
    return Delivery(sent=sent, failed=failed, held=held)


_LADDER = {AlertKind.WARNING.value: 0, AlertKind.OVERDUE.value: 1, AlertKind.ESCALATION.value: 1}


def held_alert(slot: str) -> tuple[AlertKind, int] | None:
    """The alert kind and level a claim slot (``kind#level#recipient#channel``) is for."""
    kind, _, rest = slot.partition("#")
    level = rest.partition("#")[0]
    if kind not in {k.value for k in AlertKind} or not level.isdigit():
        return None
    return AlertKind(kind), int(level)


def ladder_rank(slot: str) -> int | None:
    """How far up a message's alert ladder a held SMS is (None: not a ladder alert)."""
    found = held_alert(slot)
    if found is None or found[0].value not in _LADDER:
        return None
    return _LADDER[found[0].value] + found[1]


def release_held(
    ledger: StormLedger,
    notifier: Notifier,
    recipients: list[Recipient],
    brand_id: str,
    now: datetime,
    *,
    still_wanted: Callable[[HeldSms], bool],
    text_now: Callable[[HeldSms], str | None] | None = None,
) -> Delivery:
    """Send the SMS held for quiet hours that have ended, unless no longer wanted (the
    message was answered meanwhile, or the recipient removed). Of a message's ladder alerts
    held for one recipient only the latest goes out (the breach, not also the warning before
    it), in words of now (``text_now``: the message's age and due time as they are now)."""
    phones = {recipient.recipient_id: recipient.phone for recipient in recipients}
    sent = failed = 0
    pending = ledger.held_sms(brand_id, now)
    latest: dict[tuple[str, str], HeldSms] = {}
    for held in pending:
        rank = ladder_rank(held.slot)
        if rank is not None:
            key = (held.subject_key, held.recipient_id)
            if key not in latest or rank > (ladder_rank(latest[key].slot) or 0):
                latest[key] = held
    for held in pending:
        where = {"subject": held.subject_key, "recipient_id": held.recipient_id, "channel": "sms"}
        phone = phones.get(held.recipient_id)
        superseded = ladder_rank(held.slot) is not None and latest[(held.subject_key, held.recipient_id)] is not held
        if not phone or superseded or not still_wanted(held):
            ledger.drop_held(held, retry=False)
            logger.info("held SMS no longer needed", extra={**where, "superseded": superseded})
            continue
        text = (text_now(held) if text_now is not None else None) or held.text
        try:
            notifier.send_sms(phone, text)
        except Exception as error:
            failed += 1
            logger.warning("held SMS not sent", extra={**where, "error": type(error).__name__})
            ledger.drop_held(held, retry=held.attempts + 1 < HELD_SMS_ATTEMPTS)
            continue
        ledger.drop_held(held, retry=False)
        sent += 1
        logger.info("held SMS sent", extra=where)
    return Delivery(sent=sent, failed=failed)


# --- storm summaries ---------------------------------------------------------------------------

MESSAGE_ALERT_NAMES = frozenset(kind.value for kind in MESSAGE_ALERTS)
_KIND_NAMES = {
    AlertKind.WARNING.value: "warnings",
    AlertKind.OVERDUE.value: "past the SLA",
    AlertKind.ESCALATION.value: "escalations",
    AlertKind.NEGATIVE.value: "negative messages",
}


def render_summary(window: StormWindow, brand: Brand, backlog_open: int | None = None) -> AlertContent:
    """Storm control's one message for the alerts a window held back."""
    total = sum(window.suppressed.values())
    span = f"{_local(window.start, brand.timezone)} – {window.end.astimezone(ZoneInfo(brand.timezone)):%H:%M}"
    headline = f"{total} more alerts in {brand.storm.window_minutes} minutes"
    facts = [("Brand", brand.name), ("Window", span)]
    counts = sorted(window.suppressed.items())
    facts += [
        (_KIND_NAMES.get(kind, kind).capitalize(), str(count)) for kind, count in sorted(window.suppressed.items())
    ]
    if backlog_open is not None:
        facts.append(("Unanswered now", str(backlog_open)))
    advice = (
        f"More than {brand.storm.limit} alerts arrived within {brand.storm.window_minutes} minutes, so the rest"
        " are summed up here instead of sent one by one. Open the queue to see them."
    )
    text = "\n".join(
        [f"{headline}.", advice, "", *(f"{label}: {value}" for label, value in facts), "", "-- ReplyWatch"]
    )
    body = _page(html.escape(headline), f"<p>{html.escape(advice)}</p><table>{_html_rows(facts)}</table>")
    breakdown = ", ".join(f"{count} {_KIND_NAMES.get(kind, kind)}" for kind, count in counts)
    sms = fit_sms(f"ReplyWatch {brand.name}: {headline} ({breakdown})")
    return AlertContent(subject=f"[ReplyWatch] {brand.name}: {headline}", text=text, html=body, sms=sms)


def send_summary(
    window: StormWindow,
    brand: Brand,
    recipients: list[Recipient],
    *,
    claims: AlertLedger,
    notifier: Notifier,
    now: datetime,
    backlog_open: int | None = None,
) -> Delivery:
    """Send a window's summary to whoever wanted any of the alerts it holds, once each."""
    kinds = [AlertKind(kind) for kind in window.suppressed if kind in MESSAGE_ALERT_NAMES]

    def channels(recipient: Recipient) -> frozenset[Channel]:
        wanted = recipient.wants(AlertKind.SUMMARY)
        for kind in kinds:
            for level in range(6):
                wanted |= recipient.wants(kind, level)
        return wanted

    return fan_out(
        AlertKind.SUMMARY,
        f"STORM#{brand.brand_id}",
        f"summary#{window.start.isoformat()}",
        render_summary(window, brand, backlog_open),
        recipients,
        claims=claims,
        notifier=notifier,
        now=now,
        timezone=brand.timezone,
        channels=channels,
    )


_SOURCE_HEADLINES = {
    Incident.RECONNECT: ("needs reconnecting", "The platform refused its credentials. Reconnect the account."),
    Incident.FAILING: ("is failing", "Every poll has failed since the time below. Messages may be missed."),
    Incident.SILENT: ("has gone quiet", "No customer message has arrived for longer than expected."),
    Incident.BUDGET_WARNING: ("has used most of its budget", "Polling stops when the budget runs out."),
    Incident.BUDGET_EXHAUSTED: ("has run out of budget", "Polling has stopped until the budget resets."),
}


def render_source(
    incident: Incident, source: Source, state: SourceState, brand: Brand, now: datetime, since: str
) -> AlertContent:
    """A source-health alert for the brand's admins: names the account, never its secret."""
    headline, advice = _SOURCE_HEADLINES[incident]
    what = f"{source.platform} source {source.source_id}"
    subject = f"[ReplyWatch] {brand.name}: {what} {headline}"
    facts = [
        ("Brand", brand.name),
        ("Source", f"{source.source_id} ({source.platform}, {source.base_url})"),
        ("Health", state.health.value),
        ("Since", since),
        ("Last good poll", state.last_ok_at.isoformat() if state.last_ok_at else "never"),
        ("Last customer message", state.last_inbound_at.isoformat() if state.last_inbound_at else "none yet"),
    ]
    if state.usage is not None:
        facts.append(("Budget", f"{state.usage.used} of {state.usage.limit} this period ({state.usage.period})"))
    if state.last_error:
        facts.append(("Error", state.last_error))
    text = _plain_text(f"{what} {headline}.", advice, facts)
    body = _page(
        f"{html.escape(what)} {html.escape(headline)}",
        f"<p>{html.escape(advice)}</p><table>{_html_rows(facts)}</table>",
    )
    sms = fit_sms(f"ReplyWatch {brand.name}: {what} {headline}. {advice}")
    return AlertContent(subject=subject, text=text, html=body, sms=sms)


class AwsNotifier:
    """SES (v2) email and SNS SMS."""

    def __init__(self, ses: Any, sns: Any, sender: str) -> None:
        self._ses = ses
        self._sns = sns
        self._sender = sender

    def send_email(self, to: str, content: AlertContent) -> None:
        self._ses.send_email(
            FromEmailAddress=self._sender,
            Destination={"ToAddresses": [to]},
            Content={
                "Simple": {
                    "Subject": {"Data": content.subject, "Charset": "UTF-8"},
                    "Body": {
                        "Text": {"Data": content.text, "Charset": "UTF-8"},
                        "Html": {"Data": content.html, "Charset": "UTF-8"},
                    },
                }
            },
        )

    def send_sms(self, phone: str, text: str) -> None:
        self._sns.publish(
            PhoneNumber=phone,
            Message=text,
            MessageAttributes={"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}},
        )
