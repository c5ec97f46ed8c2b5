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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from replywatch.health import Incident
from replywatch.models import AlertKind, Brand, Channel, MessageRecord, Recipient, SlaPolicy, Source, SourceState

logger = logging.getLogger(__name__)

SMS_LIMIT = 160
ALERT_MARKER_RETENTION = timedelta(days=30)


@dataclass(frozen=True)
class Delivery:
    sent: int = 0
    failed: int = 0


@dataclass(frozen=True)
class AlertContent:
    subject: str
    text: str
    html: str
    sms: str


class Notifier(Protocol):
    def send_email(self, to: str, content: AlertContent) -> None: ...

    def send_sms(self, phone: str, text: str) -> None: ...


class AlertClaims(Protocol):
    def claim_alert(self, message_key: str, slot: str, *, now: datetime, expires_at: datetime) -> bool: ...

    def release_alert(self, message_key: str, slot: str) -> None: ...


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


_HEADLINES = {
    AlertKind.OVERDUE: "No reply yet, past the SLA",
    AlertKind.NEGATIVE: "Negative message",
}


def render(kind: AlertKind, message: MessageRecord, brand: Brand, policy: SlaPolicy, now: datetime) -> AlertContent:
    age = duration((now - message.created_at).total_seconds())
    sla = duration(policy.first_response_seconds)
    headline = _HEADLINES[kind]
    where = f"{message.kind.value} on {message.platform}"
    subject = f"[ReplyWatch] {brand.name}: {headline} — {where} from {message.author_handle}"
    facts = [
        ("Brand", brand.name),
        ("From", message.author_handle),
        ("Where", where),
        ("Age", age),
        ("SLA", sla),
        ("Sentiment", message.sentiment.value if message.sentiment else "unknown"),
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
    rows = _html_rows(facts)
    link_html = f'<p><a href="{html.escape(link, quote=True)}">Open the message</a></p>' if link else ""
    body = (
        "<!doctype html><html><body>"
        f"<h2>{html.escape(headline)}</h2><table>{rows}</table>"
        f"<blockquote>{html.escape(message.text)}</blockquote>{link_html}"
        "<p style='color:#666'>ReplyWatch</p></body></html>"
    )
    sms = _fit_sms(
        f"ReplyWatch {brand.name}: {headline}, {message.platform} {message.author_handle}, {age} old (SLA {sla})", link
    )
    return AlertContent(subject=subject, text=text, html=body, sms=sms)


def _html_rows(facts: list[tuple[str, str]]) -> str:
    return "".join(
        f"<tr><th align='left'>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>" for label, value in facts
    )


def _fit_sms(summary: str, link: str) -> str:
    full = f"{summary} {link}".strip()
    if len(full) <= SMS_LIMIT:
        return full
    # "..." rather than "…": the ellipsis is not in the GSM-7 alphabet and would triple the cost.
    return summary[: SMS_LIMIT - 3] + "..." if len(summary) > SMS_LIMIT else summary


def deliver(
    kind: AlertKind,
    message: MessageRecord,
    brand: Brand,
    policy: SlaPolicy,
    recipients: list[Recipient],
    *,
    claims: AlertClaims,
    notifier: Notifier,
    now: datetime,
    level: int = 0,
) -> Delivery:
    """Send an alert to every recipient who wants this kind, each channel at most once."""
    content = render(kind, message, brand, policy, now)
    return fan_out(
        kind, message.key, f"{kind.value}#{level}", content, recipients, claims=claims, notifier=notifier, now=now
    )


def fan_out(
    kind: AlertKind,
    subject_key: str,
    occasion: str,
    content: AlertContent,
    recipients: list[Recipient],
    *,
    claims: AlertClaims,
    notifier: Notifier,
    now: datetime,
) -> Delivery:
    """Send ``content`` to each recipient of ``kind`` on each channel, once per ``occasion``."""
    sent = failed = 0
    for recipient in recipients:
        if kind.value not in recipient.alert_kinds:
            continue
        for channel in sorted(recipient.channels):
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
                    notifier.send_sms(recipient.phone, content.sms)
            except Exception as error:  # give the claim back so a redelivery may send it
                claims.release_alert(subject_key, slot)
                failed += 1
                logger.warning("alert not sent", extra={**where, "error": type(error).__name__})
                continue
            sent += 1
            logger.info("alert sent", extra=where)
    return Delivery(sent=sent, failed=failed)


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
    text = "\n".join(
        [f"{what} {headline}.", advice, "", *(f"{label}: {value}" for label, value in facts), "", "-- ReplyWatch"]
    )
    rows = _html_rows(facts)
    body = (
        "<!doctype html><html><body>"
        f"<h2>{html.escape(what)} {html.escape(headline)}</h2><p>{html.escape(advice)}</p><table>{rows}</table>"
        "<p style='color:#666'>ReplyWatch</p></body></html>"
    )
    sms = _fit_sms(f"ReplyWatch {brand.name}: {what} {headline}. {advice}", "")
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
