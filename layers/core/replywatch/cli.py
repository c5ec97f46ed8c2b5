"""`replywatch`: set up brands, sources and alert recipients in a deployed stack, and import
a brand's past conversations.

    replywatch --stack replywatch add-brand acme "Acme Mobile" --sla-minutes 60
    replywatch --stack replywatch add-source acme mastodon-main mastodon https://mastodon.social < token.txt
    replywatch --stack replywatch add-recipient acme lead "Care lead" --email lead@acme.example --phone +15550100001
    replywatch --stack replywatch list
    replywatch --stack replywatch remove-recipient acme lead
    replywatch --stack replywatch import history.csv --brand acme
    replywatch --stack replywatch audit-stats acme --from 2026-11-01 --to 2026-11-30

Tokens are read from standard input and stored in AWS Secrets Manager under
``replywatch/<brand>/<source>``; only the secret's name is kept in the table.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import re
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from secrets import token_hex
from typing import Any
from zoneinfo import ZoneInfo

import boto3
from pydantic import ValidationError

from replywatch import apikeys, audit, sla, stats
from replywatch import report as side_report
from replywatch.connectors import REGISTRY
from replywatch.importer import Format, ImportFileError, Skip, format_of, parse
from replywatch.models import SLUG_PATTERN, Brand, Message, Recipient, SlaPolicy, Source, StormControl
from replywatch.store import MessageStore, StateStore

DEFAULT_SECRET_PREFIX = "replywatch/"  # noqa: S105 - a name prefix, not a secret
DEFAULT_RETENTION_DAYS = 400  # the template's RetentionDays default
MAX_REPORT_DAYS = 400  # as the API's longest range
IMPORT_WORKERS = 8  # concurrent writes while importing
SKIPPED_SHOWN = 100  # skipped rows listed in the import summary (all are counted)


def secret_name(brand_id: str, source_id: str, prefix: str = DEFAULT_SECRET_PREFIX) -> str:
    """Where a source's token lives; the stack's functions may read only names under its SecretPrefix."""
    return f"{prefix}{brand_id}/{source_id}"


def store_token(secrets: Any, name: str, token: str) -> None:
    """Create the secret, or add a new version when it exists."""
    try:
        secrets.create_secret(Name=name, SecretString=token, Description="ReplyWatch source token")
    except secrets.exceptions.ResourceExistsException:
        secrets.put_secret_value(SecretId=name, SecretString=token)


def _describe(cloudformation: Any, stack: str) -> tuple[dict[str, str], dict[str, str | None]]:
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue") for p in described.get("Parameters", [])}
    return outputs, parameters


def stack_settings(cloudformation: Any, stack: str) -> tuple[str, str]:
    """The stack's state table and the secret-name prefix its functions may read."""
    outputs, parameters = _describe(cloudformation, stack)
    if "StateTableName" not in outputs:
        raise SystemExit(f"stack {stack!r} has no StateTableName output")
    return str(outputs["StateTableName"]), str(parameters.get("SecretPrefix") or DEFAULT_SECRET_PREFIX)


def stack_messages(cloudformation: Any, stack: str) -> tuple[str, int]:
    """The stack's messages table and how many days it keeps a message (RetentionDays)."""
    outputs, parameters = _describe(cloudformation, stack)
    if "MessagesTableName" not in outputs:
        raise SystemExit(f"stack {stack!r} has no MessagesTableName output")
    return str(outputs["MessagesTableName"]), int(parameters.get("RetentionDays") or DEFAULT_RETENTION_DAYS)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="replywatch", description="Configure a ReplyWatch stack.")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--stack",
        action="append",
        help="CloudFormation stack name (its outputs name the tables); repeat it for report",
    )
    where.add_argument("--state-table", help="The state table's name")
    parser.add_argument(
        "--secret-prefix",
        help=f"with --state-table: the stack's SecretPrefix (default {DEFAULT_SECRET_PREFIX}); --stack reads it",
    )
    parser.add_argument(
        "--messages-table", help="with --state-table, for import and audit-stats: the messages table's name"
    )
    parser.add_argument(
        "--retention-days",
        type=int,
        help="with --state-table, for import and audit-stats: the stack's RetentionDays"
        f" (default {DEFAULT_RETENTION_DAYS})",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    brand = commands.add_parser(
        "add-brand",
        help="create a brand, or change an existing one's name and the settings given (the others are kept)",
    )
    brand.add_argument("brand_id")
    brand.add_argument("name")
    sla = brand.add_mutually_exclusive_group()
    sla.add_argument("--sla-minutes", type=int, help="first-response target; default: the stack's")
    sla.add_argument(
        "--policy",
        metavar="FILE.json",
        help="the whole SLA policy as JSON (business hours, holidays, overrides, warnings, escalations; see README)",
    )
    sla.add_argument("--stack-sla", action="store_true", help="go back to the stack's DefaultSlaSeconds")
    brand.add_argument("--timezone", help="IANA zone for business hours, quiet hours and the digest (new: UTC)")
    brand.add_argument("--keywords", help="comma-separated words that make a message high priority (new: none)")
    brand.add_argument("--storm-limit", type=int, help="alerts per window before they become a summary (new: 10)")
    brand.add_argument("--storm-window-minutes", type=int, help="(new: 15)")
    brand.add_argument("--digest-hour", type=int, help="local hour of the daily digest email (new: 8)")
    pause = brand.add_mutually_exclusive_group()
    pause.add_argument(
        "--pause",
        dest="enabled",
        action="store_false",
        default=None,
        help="stop polling its sources and alerting anyone (its messages and statistics stay)",
    )
    pause.add_argument("--resume", dest="enabled", action="store_true", default=None, help="undo --pause")

    source = commands.add_parser("add-source", help="connect an account; the token is read from stdin")
    source.add_argument("brand_id")
    source.add_argument("source_id")
    source.add_argument("platform", choices=sorted(REGISTRY))
    source.add_argument(
        "base_url",
        nargs="?",
        help="the platform's API base URL (required for Mastodon: the instance); default: the platform's own",
    )
    source.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a platform setting, repeatable: page_id, channel_id, subreddits, monthly_read_budget, ...",
    )
    source.add_argument("--disabled", action="store_true")
    source.add_argument(
        "--backfill-hours", type=int, default=24, help="how far back the first poll reads existing messages"
    )

    recipient = commands.add_parser("add-recipient", help="who gets alerts, by email and/or SMS")
    recipient.add_argument("brand_id")
    recipient.add_argument("recipient_id")
    recipient.add_argument("name")
    recipient.add_argument("--email")
    recipient.add_argument("--phone", help="E.164, e.g. +15550100001")
    recipient.add_argument(
        "--kinds",
        default="overdue,negative",
        help="comma-separated alert kinds: warning, overdue, escalation (or escalation-N for one level), negative,"
        " summary, digest, source (admins: a connected account needs attention)",
    )
    recipient.add_argument("--sms-kinds", help="the kinds also sent by SMS (default: all but the digest)")
    recipient.add_argument("--quiet-hours", help="no SMS between these local times, e.g. 22:00-07:00")
    recipient.add_argument("--timezone", help="the recipient's IANA zone for quiet hours (default: the brand's)")

    gone = commands.add_parser("remove-recipient", help="send a recipient no more alerts")
    gone.add_argument("brand_id")
    gone.add_argument("recipient_id")
    unplug = commands.add_parser("remove-source", help="stop polling an account (its messages and statistics stay)")
    unplug.add_argument("brand_id")
    unplug.add_argument("source_id")
    unplug.add_argument(
        "--delete-secret", action="store_true", help="also delete its token from Secrets Manager (7-day recovery)"
    )

    offboard = commands.add_parser(
        "remove-brand",
        help="stop everything for a brand: its sources, recipients and dashboard keys go",
        description="Stops polling, alerting and serving a brand: removes its sources, recipients and"
        " dashboard keys (a key for other brands too keeps those), then the brand. Its messages and statistics"
        " stay in the messages table until they expire (RetentionDays). To stop for a while instead, use"
        " add-brand --pause. Running it again finishes a removal that was interrupted.",
    )
    offboard.add_argument("brand_id")
    offboard.add_argument(
        "--delete-secrets", action="store_true", help="also delete its sources' tokens from Secrets Manager"
    )
    offboard.add_argument("--yes", action="store_true", help="do it (without it: say what would be removed)")

    commands.add_parser("list", help="brands, sources (with health) and recipients")

    history = commands.add_parser(
        "import",
        help="load past conversations from a CSV, JSON or JSON Lines file (see docs/import.md)",
        description="Load past conversations so a brand's statistics start with its baseline. Imported messages"
        " are counted like any other but never alerted on. Importing the same file again changes nothing.",
    )
    history.add_argument("file")
    history.add_argument("--brand", required=True, help="the brand the conversations belong to")
    history.add_argument("--source-id", default="imported", help="recorded as the messages' source (default imported)")
    history.add_argument(
        "--format", choices=[f.value for f in Format], help="default: from the extension (.csv, .json, .jsonl)"
    )
    history.add_argument("--dry-run", action="store_true", help="read and check the file, write nothing")

    check = commands.add_parser(
        "audit-stats",
        help="check a brand's statistics against its stored messages (and repair them)",
        description="Recompute the aggregates of a range of UTC days, and the live backlog, from the messages"
        " stored now, and compare them with what the stream handler kept. Prints a JSON report. Days whose"
        " messages may have expired (RetentionDays) cannot be checked.",
    )
    check.add_argument("brand")
    check.add_argument(
        "--from", dest="first", type=date.fromisoformat, help="first UTC day (default: 29 days before --to)"
    )
    check.add_argument("--to", dest="last", type=date.fromisoformat, help="last UTC day (default: yesterday)")
    check.add_argument(
        "--repair", action="store_true", help="add the drift found to the stored aggregates (not the live backlog)"
    )

    side = commands.add_parser(
        "report",
        help="brands side by side, across stacks: replywatch --stack a --stack b report",
        description="One row of the API's figures per brand of every stack given (an agency's clients), for"
        " the same local days in each brand's own time zone: by default the 30 days up to yesterday.",
    )
    side.add_argument("--from", dest="first", type=date.fromisoformat, help="first day (each brand's local day)")
    side.add_argument("--to", dest="last", type=date.fromisoformat, help="last day (default: yesterday)")
    side.add_argument("--brand", action="append", help="only this brand (repeat for more)")
    side.add_argument("--format", dest="fmt", choices=["table", "csv", "json"], default="table")

    keys = commands.add_parser(
        "api-key",
        help="read-only keys for the dashboard (the stack needs DashboardAccess=api-keys)",
        description="A key reads statistics of the brands it names, never a message's text. The key is"
        " printed once; the stack keeps only a digest of it.",
    )
    key_commands = keys.add_subparsers(dest="key_command", required=True)
    create = key_commands.add_parser("create", help="make a key and print it (once)")
    create.add_argument("--brand", action="append", required=True, help="a brand it may read (repeat for more)")
    create.add_argument("--name", required=True, help="what it is for, e.g. 'wallboard in the support room'")
    key_commands.add_parser("list", help="the keys (their ids, names and brands; never the keys)")
    revoke = key_commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    return parser


def brand_from(args: argparse.Namespace, existing: Brand | None) -> Brand:
    """The brand ``add-brand`` writes: a new one with the defaults for what was not given, or
    the existing one with only what was given changed (re-running it to change the SLA must
    not reset the time zone, keywords or digest hour)."""
    changes: dict[str, Any] = {"brand_id": args.brand_id, "name": args.name}
    if args.policy:
        with open(args.policy, encoding="utf-8") as policy_file:
            changes["sla"] = SlaPolicy.model_validate_json(policy_file.read())
    elif args.sla_minutes:
        changes["sla"] = SlaPolicy(first_response_seconds=args.sla_minutes * 60)
    elif args.stack_sla:
        changes["sla"] = None
    if args.timezone is not None:
        changes["timezone"] = args.timezone
    if args.keywords is not None:
        changes["priority_keywords"] = tuple(word.strip() for word in args.keywords.split(",") if word.strip())
    if args.digest_hour is not None:
        changes["digest_hour"] = args.digest_hour
    if args.enabled is not None:
        changes["enabled"] = args.enabled
    storm = existing.storm if existing else StormControl()
    storm_changes = {
        name: value
        for name, value in (("limit", args.storm_limit), ("window_minutes", args.storm_window_minutes))
        if value is not None
    }
    if storm_changes:
        changes["storm"] = StormControl.model_validate(storm.model_dump() | storm_changes)
    base = existing.model_dump() if existing else {}
    return Brand.model_validate(base | changes)


def _option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise SystemExit(f"--option takes KEY=VALUE, not {text!r}")
    return key.strip(), value.strip()


def import_file(
    state: StateStore,
    messages: MessageStore,
    args: argparse.Namespace,
    *,
    now: datetime,
    retention: timedelta,
) -> int:
    """``replywatch import``: print a JSON summary. 0: every row imported (or skipped only as a
    duplicate or past retention); 1: some rows were invalid, the rest imported; 2: nothing done."""
    if state.get_brand(args.brand) is None:
        print(f"no brand {args.brand!r}: add it first", file=sys.stderr)
        return 2
    if not re.match(SLUG_PATTERN, args.source_id):
        print("--source-id: 1-63 lowercase letters, digits or dashes", file=sys.stderr)
        return 2
    path = Path(args.file)
    try:
        file_format = Format(args.format) if args.format else format_of(path.name)
        content = path.read_text(encoding="utf-8")
        batch = parse(content, file_format, brand=args.brand, source_id=args.source_id, now=now, retention=retention)
    except (ImportFileError, OSError, UnicodeDecodeError) as error:
        reason = "not UTF-8 text" if isinstance(error, UnicodeDecodeError) else str(error)
        print(f"{args.file}: {reason}", file=sys.stderr)
        return 2
    stored: list[bool] = []
    if not args.dry_run:

        def put(message: Message) -> bool:
            # The stack's retention counts from when the message was posted, as for a polled one.
            return messages.put_new(message, ingested_at=now, expires_at=message.created_at + retention)

        with ThreadPoolExecutor(max_workers=IMPORT_WORKERS) as pool:
            stored = list(pool.map(put, batch.messages))
    summary: dict[str, Any] = {
        "brand": args.brand,
        "file": args.file,
        "format": file_format.value,
        "dry_run": args.dry_run,
        **batch.summary(),
        "stored": sum(stored),
        "already_there": len(stored) - sum(stored),
        "skipped_rows": [
            {"line": skip.line, "reason": skip.category.value, "problem": skip.problem}
            for skip in batch.skipped[:SKIPPED_SHOWN]
        ],
    }
    print(json.dumps(summary, indent=2))
    return 1 if any(skip.category is Skip.INVALID for skip in batch.skipped) else 0


def check_stats(messages: MessageStore, brand: str, start: datetime, end: datetime) -> tuple[audit.Audit, int]:
    """A brand's aggregates of [start, end) (whole UTC days) and live backlog against its stored
    messages: the stored items read either side of the messages (see :mod:`replywatch.audit`).
    Also returns how many counted messages the range holds."""
    slots_before, backlog_before = messages.slot_items(brand, start, end), messages.backlog_items(brand)
    tally = messages.tally(brand, start, end)
    slots_after, backlog_after = messages.slot_items(brand, start, end), messages.backlog_items(brand)
    found = audit.compare(
        tally.aggregates(),
        slots_before,
        slots_after,
        backlog_expected=tally.waiting(),
        backlog_before=backlog_before,
        backlog_after=backlog_after,
    )
    return found, tally.counted


AUDIT_LEASE = timedelta(hours=2)  # longer than an audit of a large table takes
BACKLOG_NOTE = (
    "The live backlog is reported, never repaired: a waiting message removed by TTL leaves the"
    " table before the stream handler takes it off the backlog, so a drift here can be a removal"
    " still on its way. Drift that stays across runs an hour apart is real."
)


def audit_stats(
    state: StateStore,
    messages: MessageStore,
    args: argparse.Namespace,
    *,
    now: datetime,
    retention: timedelta,
) -> int:
    """``replywatch audit-stats``: print a JSON report. 0: no drift (or all of it repaired);
    1: drift left; 3: no drift seen, but items were written while it read (run it again);
    2: nothing done."""
    if state.get_brand(args.brand) is None:
        print(f"no brand {args.brand!r} in this stack", file=sys.stderr)
        return 2
    today = now.astimezone(UTC).date()
    # TTL deletes an item some time after it expires: keep a day's margin either side.
    oldest = (now - retention).date() + timedelta(days=2)
    last = args.last or today - timedelta(days=1)  # whole days: today's items are written all the time
    first = args.first or max(last - timedelta(days=29), oldest)
    if first > last:
        print(f"--from {first} is after --to {last}", file=sys.stderr)
        return 2
    if first < oldest:
        print(
            f"messages posted before {oldest} may have expired (RetentionDays {retention.days}; a message"
            " keeps the retention it was stored with, so after RetentionDays was raised, the old value"
            " holds for older days): their aggregates cannot be checked against them",
            file=sys.stderr,
        )
        return 2
    lease, owner = f"audit#{args.brand}", token_hex(8)
    if not state.take_lease(lease, owner, now=now, until=now + AUDIT_LEASE):
        print(f"another audit of {args.brand!r} is running: try again when it is done", file=sys.stderr)
        return 2
    try:
        start = datetime.combine(first, datetime.min.time(), UTC)
        end = datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC)
        found, counted = check_stats(messages, args.brand, start, end)
        repairs = (
            Counter(messages.repair_slot(args.brand, drift) for drift in found.drift) if args.repair else Counter()
        )
    finally:
        state.give_up_lease(lease, owner)
    report = {
        "brand": args.brand,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "messages_counted": counted,
        "items_checked": found.slots,
        "drift": [
            {
                "slot": f"{d.level.value}#{stats.slot_label(d.start, d.level)}",
                "channel": d.channel,
                "counters": d.counters,  # expected minus stored
                "histogram": d.histogram,
            }
            for d in found.drift
        ],
        "backlog_drift": [{"channel": d.channel, "counts": d.counts} for d in found.backlog_drift],
        "changed_while_reading": len(found.changed) + len(found.backlog_changed),
        "repairs": {outcome.value: repairs[outcome] for outcome in audit.Repair if repairs[outcome]},
    }
    if found.backlog_drift:
        report["backlog_note"] = BACKLOG_NOTE
    print(json.dumps(report, indent=2))
    repaired_all = args.repair and repairs[audit.Repair.DONE] == len(found.drift)
    if found.backlog_drift or (found.drift and not repaired_all):
        return 1
    return 3 if report["changed_while_reading"] else 0


def api_key(state: StateStore, args: argparse.Namespace, *, now: datetime) -> int:
    if args.key_command == "create":
        missing = [brand for brand in args.brand if state.get_brand(brand) is None]
        if missing:
            raise SystemExit(f"no brand {', '.join(map(repr, missing))} in this stack")
        token, key = apikeys.create(args.name, args.brand, now)
        state.put_api_key(key)
        print(json.dumps({"key_id": key.key_id, "key": token, "brands": sorted(key.brands)}, indent=2))
        print(
            "Keep the key: it is not shown again. Open the dashboard at <ApiUrl>/dashboard#brand=<id>&key=<key>.",
            file=sys.stderr,
        )
    elif args.key_command == "list":
        listed = [key.model_dump(mode="json", exclude={"secret_sha256"}) for key in state.list_api_keys()]
        print(json.dumps(listed, indent=2))
    elif not state.delete_api_key(args.key_id):
        print(f"no key {args.key_id!r}", file=sys.stderr)
        return 1
    return 0


def side_by_side(
    session: boto3.session.Session, args: argparse.Namespace, parser: argparse.ArgumentParser, *, now: datetime
) -> int:
    """``replywatch report``: the API's figures of every brand of every stack, a row each."""
    if args.first and args.last and args.first > args.last:
        parser.error("--from must not be after --to")
    if (args.first and args.first.year < 2000) or (args.last and args.last.year < 2000):
        parser.error("the days must be in the year 2000 or later")  # as the API's (zones' old offsets)
    client = session.client("dynamodb")
    if args.stack:
        cloudformation = session.client("cloudformation")
        stacks = [
            (name, stack_settings(cloudformation, name)[0], stack_messages(cloudformation, name)[0])
            for name in args.stack
        ]
    else:
        stacks = [(args.state_table, args.state_table, args.messages_table)]
    rows, wanted, seen = [], set(args.brand or ()), set()
    for label, state_table, messages_table in stacks:
        state = StateStore(client, state_table)
        messages = MessageStore(client, messages_table, state_table)
        for brand in state.list_brands():
            if wanted and brand.brand_id not in wanted:
                continue
            seen.add(brand.brand_id)
            zone = ZoneInfo(brand.timezone)
            first, last = side_report.default_range(now.astimezone(zone).date(), args.first, args.last)
            if (last - first).days + 1 > MAX_REPORT_DAYS:
                parser.error(f"a report covers at most {MAX_REPORT_DAYS} days")
            cuts = [stats.cut(edge) for edge in stats.local_range(first, last, zone)]
            (aggregates,) = stats.read_periods(cuts, functools.partial(messages.aggregates, brand.brand_id))
            backlog = messages.backlog(brand.brand_id)
            figures = stats.summarise(brand.brand_id, first, last, aggregates, backlog, now, tz=zone.key)
            rows.append(side_report.row(label, brand.name, figures))
    missing = sorted(wanted - seen)
    if missing:
        print(f"no brand {', '.join(map(repr, missing))} in the stacks given", file=sys.stderr)
        return 1
    sys.stdout.write(side_report.render(rows, args.fmt))
    return 0


def remove_brand(state: StateStore, session: boto3.session.Session, args: argparse.Namespace) -> int:
    """Sources first (no more polls), then recipients (no more alerts) and keys, the brand last:
    an interrupted run leaves the brand listed, and running again finishes the job."""
    brand_id = args.brand_id
    sources = [source for source, _ in state.list_sources() if source.brand_id == brand_id]
    recipients = state.list_recipients(brand_id)
    keys = [key for key in state.list_api_keys() if brand_id in key.brands]
    brand = state.get_brand(brand_id)
    if brand is None and not (sources or recipients or keys):
        print(f"no brand {brand_id!r}", file=sys.stderr)
        return 1
    plan = {
        "brand": brand_id,
        "sources": [source.source_id for source in sources],
        "secrets_deleted": [source.token_secret for source in sources] if args.delete_secrets else [],
        "recipients": [recipient.recipient_id for recipient in recipients],
        "keys_revoked": [key.key_id for key in keys if key.brands == {brand_id}],
        "keys_narrowed": [key.key_id for key in keys if key.brands != {brand_id}],
    }
    if not args.yes:
        print(json.dumps({"would_remove": plan}, indent=2))
        print("Nothing was removed: run again with --yes.", file=sys.stderr)
        return 0
    secrets = session.client("secretsmanager") if args.delete_secrets else None
    for source in sources:
        # The secret before the source: an interrupted run still lists the source, and the next
        # deletes what is left (a source gone first would leave its secret behind for good).
        if secrets is not None:
            # gone already, or marked for deletion by an earlier, interrupted run
            gone = (secrets.exceptions.ResourceNotFoundException, secrets.exceptions.InvalidRequestException)
            with contextlib.suppress(*gone):
                secrets.delete_secret(SecretId=source.token_secret, RecoveryWindowInDays=7)
        state.remove_source(brand_id, source.source_id)
    for recipient in recipients:
        state.remove_recipient(brand_id, recipient.recipient_id)
    for key in keys:
        if key.brands == {brand_id}:
            state.delete_api_key(key.key_id)
        else:
            state.put_api_key(key.model_copy(update={"brands": key.brands - {brand_id}}))
    state.remove_brand(brand_id)
    print(json.dumps({"removed": plan}, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command in ("import", "audit-stats") and args.state_table and not args.messages_table:
        parser.error(f"{args.command} with --state-table needs --messages-table")
    if args.command == "audit-stats" and args.state_table and args.retention_days is None:
        # Assumed too long, expired messages would look like drift, and a repair would take them off.
        parser.error("audit-stats with --state-table needs --retention-days (the stack's RetentionDays)")
    if args.retention_days is not None and args.retention_days < 1:
        parser.error("--retention-days must be at least 1")
    if args.stack and len(args.stack) > 1 and args.command != "report":
        parser.error(f"{args.command} works on one stack: give --stack once")
    if args.command == "report" and args.state_table and not args.messages_table:
        parser.error("report with --state-table needs --messages-table")
    session = boto3.session.Session()
    if args.command == "report":
        return side_by_side(session, args, parser, now=datetime.now(UTC))
    if args.stack:
        table, prefix = stack_settings(session.client("cloudformation"), args.stack[0])
    else:
        table, prefix = args.state_table, args.secret_prefix or DEFAULT_SECRET_PREFIX
    state = StateStore(session.client("dynamodb"), table)
    if args.command in ("import", "audit-stats"):
        if args.stack:
            messages_table, days = stack_messages(session.client("cloudformation"), args.stack[0])
        else:
            messages_table, days = args.messages_table, args.retention_days or DEFAULT_RETENTION_DAYS
        messages = MessageStore(session.client("dynamodb"), messages_table, table)
        run = import_file if args.command == "import" else audit_stats
        return run(state, messages, args, now=datetime.now(UTC), retention=timedelta(days=days))
    try:
        if args.command == "add-brand":
            brand = brand_from(args, state.get_brand(args.brand_id))
            try:
                note = sla.holiday_calendar_note(brand.sla.business_hours if brand.sla else None)
            except ValueError as error:  # refused now, not when the first message is counted
                print(f"invalid input: {error}", file=sys.stderr)
                return 2
            if note:
                print(f"note: {note}", file=sys.stderr)
            state.put_brand(brand)
        elif args.command == "add-source":
            if state.get_brand(args.brand_id) is None:
                raise SystemExit(f"no brand {args.brand_id!r}: add it first")
            base_url = args.base_url or REGISTRY[args.platform].default_base_url
            if not base_url:
                raise SystemExit(f"{args.platform} needs the base URL of the account's server")
            options = dict(_option(text) for text in args.option)
            token = sys.stdin.read().strip()
            if not token:
                raise SystemExit("pipe the access token (or the platform's JSON credentials) on standard input")
            name = secret_name(args.brand_id, args.source_id, prefix)
            source = Source(
                brand_id=args.brand_id,
                source_id=args.source_id,
                platform=args.platform,
                base_url=base_url,
                token_secret=name,
                options=options,
                enabled=not args.disabled,
                backfill_hours=args.backfill_hours,
            )
            store_token(session.client("secretsmanager"), name, token)
            state.put_source(source)
        elif args.command == "add-recipient":
            if state.get_brand(args.brand_id) is None:
                raise SystemExit(f"no brand {args.brand_id!r}: add it first")
            kinds = frozenset(kind.strip() for kind in args.kinds.split(",") if kind.strip())
            state.put_recipient(
                Recipient(
                    brand_id=args.brand_id,
                    recipient_id=args.recipient_id,
                    name=args.name,
                    email=args.email,
                    phone=args.phone,
                    alert_kinds=kinds,
                    sms_kinds=None
                    if args.sms_kinds is None
                    else frozenset(kind.strip() for kind in args.sms_kinds.split(",") if kind.strip()),
                    quiet_hours=args.quiet_hours,
                    timezone=args.timezone,
                )
            )
        elif args.command == "remove-recipient":
            if not state.remove_recipient(args.brand_id, args.recipient_id):
                print(f"no recipient {args.recipient_id!r} for brand {args.brand_id!r}", file=sys.stderr)
                return 1
        elif args.command == "remove-source":
            removed = state.remove_source(args.brand_id, args.source_id)
            if removed is None:
                print(f"no source {args.source_id!r} for brand {args.brand_id!r}", file=sys.stderr)
                return 1
            if args.delete_secret:
                session.client("secretsmanager").delete_secret(SecretId=removed.token_secret, RecoveryWindowInDays=7)
        elif args.command == "remove-brand":
            return remove_brand(state, session, args)
        elif args.command == "api-key":
            return api_key(state, args, now=datetime.now(UTC))
        else:
            listing: dict[str, Any] = {
                "brands": [brand.model_dump(mode="json") for brand in state.list_brands()],
                "sources": [
                    source.model_dump(mode="json") | {"state": source_state.model_dump(mode="json")}
                    for source, source_state in state.list_sources()
                ],
            }
            listing["recipients"] = {
                brand["brand_id"]: [
                    r.model_dump(mode="json", exclude={"phone"}) | {"sms": bool(r.phone)}
                    for r in state.list_recipients(brand["brand_id"])
                ]
                for brand in listing["brands"]
            }
            print(json.dumps(listing, indent=2))
    except ValidationError as error:
        print(f"invalid input: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
