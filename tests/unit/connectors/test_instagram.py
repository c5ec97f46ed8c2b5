"""InstagramConnector.pages() against an in-process fake of the Graph API (httpx.MockTransport).

Fixtures (tests/fixtures/instagram) follow Graph's documented answers: an IG User's media with
embedded comments (``id,text,timestamp,username,from,parent_id``) and their ``replies``, and
Graph's error bodies. The fake lists comments oldest first (Graph promises no order for them),
so the connector must not rely on one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from replywatch.connectors.base import AuthFailed, ConnectorError, Page, RateLimited
from replywatch.connectors.instagram import InstagramConnector
from replywatch.connectors.meta import MAX_IDS
from replywatch.models import MessageKind, Source
from tests.support.connectors import (
    acme_source,
    assert_logged_by_id_only,
    captured_logs,
    collect,
    malformed,
    messages,
    platform_ids,
)
from tests.unit.connectors.graph_fake import (
    BASE,
    LEAKY_TOKEN,
    TOKEN,
    FakeGraph,
    cursor_page,
    embedded_limit,
    fixture,
    graph_time,
    no_such_object,
)

NOW = datetime(2026, 11, 23, 13, 0, 0, tzinfo=UTC)
IG_USER_ID = "17841400000000001"
BRAND = {"id": IG_USER_ID, "username": "acme"}
DANA = {"id": "17841401111111111", "username": "dana.smith"}
SAM = {"id": "17841402222222222", "username": "sam.lee"}
MEDIA = f"{IG_USER_ID}/media"
SOURCE = acme_source("instagram", "instagram", BASE, ig_user_id=IG_USER_ID)
SECRET_TEXT = "my card number ends 4242 and I live at 1 Elm Row"


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


# --- fixtures in Graph's documented shapes -------------------------------------------------------------


def ig_comment(
    comment_id: str,
    created: datetime,
    *,
    author: dict[str, str] = DANA,
    parent_id: str | None = None,
    replies: list[dict] | None = None,
) -> dict:
    item: dict[str, Any] = {
        "id": comment_id,
        "text": f"comment {comment_id}",
        "timestamp": graph_time(created),
        "username": author["username"],
        "from": dict(author),
        "replies": replies or [],
    }
    if parent_id:
        item["parent_id"] = parent_id
    return item


def medium(media_id: str, created: datetime, comments: list[dict] | None = None) -> dict:
    return {
        "id": media_id,
        "timestamp": graph_time(created),
        "permalink": f"https://www.instagram.com/p/{media_id}/",
        "comments": comments or [],
    }


def oldest_first(items: list[dict]) -> list[dict]:
    return sorted(items, key=lambda item: str(item.get("timestamp", "")))  # one format: sorts as text


@dataclass
class FakeInstagram(FakeGraph):
    media: list[dict] = field(default_factory=list)
    username: str = "acme"

    def route(self, path: str, request: httpx.Request) -> dict[str, Any] | httpx.Response | None:
        params = request.url.params
        if path == IG_USER_ID:
            return {"id": IG_USER_ID, "username": self.username}
        if path == MEDIA:
            listed = list(reversed(oldest_first(self.media)))
            rendered = [self.render_medium(item, params["fields"]) for item in listed]
            return cursor_page(rendered, self.start(request), int(params["limit"]), f"{BASE}/{MEDIA}")
        if path.endswith("/comments"):
            found = [item for item in self.media if item["id"] == path.removesuffix("/comments")]
            if not found:
                return no_such_object(path.removesuffix("/comments"))
            comments = [self.render_comment(item, params["fields"]) for item in oldest_first(found[0]["comments"])]
            return cursor_page(comments, self.start(request), int(params["limit"]), f"{BASE}/{path}")
        if path.endswith("/replies"):
            comment_id = path.removesuffix("/replies")
            found = [c for item in self.media for c in item["comments"] if c["id"] == comment_id]
            if not found:
                return no_such_object(comment_id)
            replies = [self.plain(reply) for reply in oldest_first(found[0]["replies"])]
            return cursor_page(replies, self.start(request), int(params["limit"]), f"{BASE}/{path}")
        return None

    def render_medium(self, item: dict, fields: str) -> dict:
        rendered = {key: value for key, value in item.items() if key != "comments"}
        if "comments" not in item:
            return rendered
        rendered["comments_count"] = sum(1 + len(c["replies"]) for c in item["comments"])
        if item["comments"]:
            comments = [self.render_comment(c, fields) for c in oldest_first(item["comments"])]
            rendered["comments"] = cursor_page(
                comments, 0, embedded_limit(fields, "comments"), f"{BASE}/{item['id']}/comments"
            )
        return rendered

    def render_comment(self, item: dict, fields: str) -> dict:
        rendered = self.plain(item)
        if item["replies"]:
            replies = [self.plain(reply) for reply in oldest_first(item["replies"])]
            rendered["replies"] = cursor_page(
                replies, 0, embedded_limit(fields, "replies"), f"{BASE}/{item['id']}/replies"
            )
        return rendered

    @staticmethod
    def plain(item: dict) -> dict:
        return {key: value for key, value in item.items() if key != "replies"}


def poll(
    fake: FakeInstagram,
    *,
    cursor: dict[str, str] | None = None,
    max_pages: int = 10,
    now: datetime = NOW,
    backfill_from: datetime | None = NOW - timedelta(hours=24),
    source: Source = SOURCE,
    secret: str = TOKEN,
) -> tuple[list[Page], ConnectorError | None]:
    return collect(
        InstagramConnector(),
        fake.handle,
        source=source,
        secret=secret,
        now=now,
        cursor=dict(cursor or {}),
        max_pages=max_pages,
        backfill_from=backfill_from,
    )


@pytest.fixture
def instagram_log() -> Iterator[list[logging.LogRecord]]:
    with captured_logs("replywatch.connectors.instagram") as records:
        yield records


# --- documented answers become messages ------------------------------------------------------------


def test_a_documented_media_answer_becomes_comments_and_the_accounts_replies() -> None:
    fake = FakeInstagram(scripted={MEDIA: [httpx.Response(200, json=fixture("instagram", "media.json"))]})
    pages, error = poll(fake)
    assert error is None
    found = {message.platform_id: message for message in messages(pages)}
    # The account's own top-level comment answers nobody and is left out.
    assert set(found) == {
        "17870913679156914",
        "17870913679156917",
        "17870913679156920",
        "17873440459141021",
        "17873440459141031",
    }
    opener = found["17870913679156914"]
    assert opener.kind is MessageKind.COMMENT and opener.from_brand is False
    assert (opener.brand, opener.platform, opener.source_id) == ("acme", "instagram", "acme-instagram")
    assert (opener.parent_id, opener.parent_author_id, opener.thread_id) == (
        "17895695668004550",
        IG_USER_ID,
        "17895695668004550",
    )
    assert (opener.author_id, opener.author_handle) == ("17841401111111111", "@dana.smith")
    assert opener.text == "My order arrived broken @acme"
    assert opener.created_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert opener.permalink == "https://www.instagram.com/p/DAbCdEf1234/"

    follow_up = found["17870913679156917"]
    assert (follow_up.parent_id, follow_up.parent_author_id) == ("17870913679156914", "17841401111111111")

    reply = found["17870913679156920"]
    assert reply.from_brand is True and reply.parent_id == "17870913679156914"
    assert reply.parent_key == "acme#instagram#17870913679156914"

    under_brand_comment = found["17873440459141031"]
    assert under_brand_comment.from_brand is False
    assert (under_brand_comment.parent_id, under_brand_comment.parent_author_id) == ("17873440459141030", IG_USER_ID)


def test_the_username_is_looked_up_once_kept_in_the_cursor_and_the_option_spares_the_lookup() -> None:
    fake = FakeInstagram(media=[medium("m1", ago(60), [ig_comment("c1", ago(10))])])
    pages, error = poll(fake)
    assert error is None
    assert len(fake.requests_to(IG_USER_ID)) == 1
    assert all(page.cursor["username"] == "acme" for page in pages)
    fake.requests.clear()
    poll(fake, cursor=pages[-1].cursor)
    assert fake.requests_to(IG_USER_ID) == []

    named = Source.model_validate(SOURCE.model_dump() | {"options": {"ig_user_id": IG_USER_ID, "username": "acme"}})
    fake.requests.clear()
    poll(fake, source=named)
    assert fake.requests_to(IG_USER_ID) == []


def test_the_accounts_replies_are_recognised_by_username_when_graph_gives_a_scoped_id() -> None:
    scoped_brand = {"id": "9999000011112222", "username": "Acme"}
    question = ig_comment("c1", ago(30))
    question["replies"] = [ig_comment("r1", ago(20), author=scoped_brand, parent_id="c1")]
    pages, _ = poll(FakeInstagram(media=[medium("m1", ago(60), [question])]))
    found = {message.platform_id: message for message in messages(pages)}
    assert found["r1"].from_brand is True and found["c1"].from_brand is False


# --- paging, bounds and resuming ---------------------------------------------------------------------


def busy_account() -> FakeInstagram:
    """30 media over five hours with a comment each; one medium with 80 comments, one comment
    with 40 replies, more than Graph embeds."""
    media = [medium(f"m{n}", ago(300 - n * 10), [ig_comment(f"m{n}_c", ago(295 - n * 10))]) for n in range(30)]
    media[28]["comments"] += [ig_comment(f"m28_c{k}", ago(100 - k)) for k in range(80)]
    media[29]["comments"][0]["replies"] = [
        ig_comment(f"m29_r{k}", ago(5 - k / 10), author=SAM, parent_id="m29_c") for k in range(40)
    ]
    return FakeInstagram(media=media)


def everything(fake: FakeInstagram) -> set[str]:
    return {c["id"] for m in fake.media for c in m["comments"]} | {
        r["id"] for m in fake.media for c in m["comments"] for r in c["replies"]
    }


def test_every_comment_and_reply_is_read_once_across_media_comment_and_reply_pages() -> None:
    fake = busy_account()
    pages, error = poll(fake)
    assert error is None
    got = platform_ids(pages)
    assert len(got) == len(set(got)) and set(got) == everything(fake)
    assert len(fake.requests_to(MEDIA)) == 2
    assert len(fake.requests_to("m28/comments")) == 2  # 80 comments: 25 embedded, then 50 and 5
    assert len(fake.requests_to("m29_c/replies")) == 1  # 40 replies: 25 embedded, then 15
    assert all(LEAKY_TOKEN not in repr(page.cursor) for page in pages)
    assert all("access_token" not in request.url.params for request in fake.requests)


def test_the_page_bound_holds_and_polls_resume_until_everything_is_read_once() -> None:
    fake = busy_account()
    cursor: dict[str, str] = {}
    got: list[str] = []
    requests = []
    for _ in range(10):
        fake.requests.clear()
        pages, error = poll(fake, cursor=cursor, max_pages=2)
        assert error is None
        requests.append(len([path for path in fake.paths() if path != IG_USER_ID]))
        got += platform_ids(pages)
        cursor = pages[-1].cursor
        if "comments_scan" not in cursor:
            break
    assert all(count <= 2 for count in requests)
    assert len(requests) == 3  # five requests in all
    assert len(got) == len(set(got)) and set(got) == everything(fake)


def test_a_medium_whose_comment_count_is_unchanged_is_not_read_through_again() -> None:
    fake = busy_account()
    first, _ = poll(fake)
    cursor = first[-1].cursor
    assert '"m28":81' in cursor["comments_counts"]  # 81 comments, counting replies

    fake.requests.clear()
    again, _ = poll(fake, cursor=cursor, now=NOW + timedelta(minutes=1))
    assert platform_ids(again) == []
    assert fake.requests_to("m28/comments") == []
    assert fake.requests_to("m29_c/replies") == []

    # A new reply deep in the list changes the count: the medium is read through again.
    fake.media[28]["comments"][40]["replies"].append(
        ig_comment("m28_new_reply", NOW + timedelta(minutes=1), author=SAM, parent_id="m28_c39")
    )
    fake.requests.clear()
    later, _ = poll(fake, cursor=again[-1].cursor, now=NOW + timedelta(minutes=2))
    assert platform_ids(later) == ["m28_new_reply"]
    assert len(fake.requests_to("m28/comments")) == 2


def test_the_first_poll_reads_back_only_to_the_backfill_window_and_media_of_the_post_window() -> None:
    fake = FakeInstagram(
        media=[
            medium("recent", ago(60 * 30), [ig_comment("old", ago(60 * 25)), ig_comment("new", ago(60 * 23))]),
            medium("ancient", NOW - timedelta(days=20), [ig_comment("on_ancient", ago(10))]),
        ]
    )
    pages, error = poll(fake)
    assert error is None
    assert platform_ids(pages) == ["new"]
    wider = Source.model_validate(
        SOURCE.model_dump() | {"options": {"ig_user_id": IG_USER_ID, "post_window_days": "30"}}
    )
    pages, _ = poll(fake, source=wider)
    assert sorted(platform_ids(pages)) == ["new", "on_ancient"]


def test_a_later_poll_reads_only_what_is_new() -> None:
    fake = busy_account()
    first, _ = poll(fake)
    fake.media[0]["comments"].append(ig_comment("late_on_old_medium", NOW + timedelta(minutes=1), author=SAM))
    later, _ = poll(fake, cursor=first[-1].cursor, now=NOW + timedelta(minutes=2))
    assert platform_ids(later) == ["late_on_old_medium"]


def test_a_source_without_ig_user_id_is_a_connector_error_naming_the_option() -> None:
    pages, error = poll(FakeInstagram(), source=Source.model_validate(SOURCE.model_dump() | {"options": {}}))
    assert type(error) is ConnectorError and "ig_user_id" in str(error)
    assert pages == []


# --- throttling and errors -------------------------------------------------------------------------------


def test_instagram_throttling_waits_as_long_as_graph_estimates() -> None:
    throttled = httpx.Response(
        400,
        json=fixture("instagram", "error_throttled.json"),
        headers=fixture("instagram", "usage_headers.json")["instagram_throttled"],
    )
    fake = busy_account()
    fake.scripted = {"m28/comments": [throttled]}
    pages, error = poll(fake)
    assert isinstance(error, RateLimited)
    assert error.retry_at == NOW + timedelta(minutes=42)
    # the first media page, then the replies it left to read on; m28's comments were next
    assert len(pages) == 2
    assert "m28/comments" in pages[-1].cursor["comments_scan"]


def test_an_expired_token_is_auth_failed_whatever_the_status() -> None:
    for status in (400, 401, 403):
        fake = FakeInstagram(
            scripted={MEDIA: [httpx.Response(status, json=fixture("instagram", "error_expired_token.json"))]}
        )
        _, error = poll(fake, cursor={"username": "acme"})
        assert isinstance(error, AuthFailed), status


def test_a_failed_username_lookup_stops_the_poll() -> None:
    fake = FakeInstagram(
        scripted={IG_USER_ID: [httpx.Response(400, json=fixture("instagram", "error_expired_token.json"))]}
    )
    pages, error = poll(fake)
    assert isinstance(error, AuthFailed) and pages == []


# --- malformed items ---------------------------------------------------------------------------------------


def test_malformed_items_are_skipped_counted_and_logged_by_id_only(instagram_log: list[logging.LogRecord]) -> None:
    no_time = ig_comment("c_no_time", ago(9))
    del no_time["timestamp"]
    no_time["text"] = SECRET_TEXT
    no_author = ig_comment("c_no_author", ago(8))
    del no_author["from"]
    del no_author["username"]
    no_author["text"] = SECRET_TEXT
    bad_reply = ig_comment("r_bad", ago(7), parent_id="c_ok")
    bad_reply["timestamp"] = "yesterday"
    bad_reply["text"] = SECRET_TEXT
    ok = ig_comment("c_ok", ago(10), replies=[bad_reply, ig_comment("r_ok", ago(6), author=SAM, parent_id="c_ok")])
    fake = FakeInstagram(media=[medium("m1", ago(60), [ok, no_time, no_author]), {"id": "m_broken"}])
    pages, error = poll(fake)
    assert error is None
    assert sorted(platform_ids(pages)) == ["c_ok", "r_ok"]
    assert sum(page.skipped for page in pages) == 4

    skipped = malformed(instagram_log)
    assert {record.getMessage() for record in skipped} == {"skipped malformed instagram item"}
    assert sorted(str(getattr(record, "item_id", "absent")) for record in skipped) == [
        "c_no_author",
        "c_no_time",
        "m_broken",
        "r_bad",
    ]
    assert_logged_by_id_only(instagram_log, "4242", "Elm Row")


def test_a_comment_without_an_author_is_skipped_on_every_scan_not_only_the_first(
    instagram_log: list[logging.LogRecord],
) -> None:
    no_author = ig_comment("c_no_author", ago(8), replies=[ig_comment("r_under", ago(7), parent_id="c_no_author")])
    del no_author["from"]
    del no_author["username"]
    no_author["text"] = SECRET_TEXT
    fake = FakeInstagram(
        media=[medium("m2", ago(30), [no_author, ig_comment("c_ok", ago(9))]), medium("m1", ago(60), [])]
    )
    first, error = poll(fake)
    assert error is None and platform_ids(first) == ["c_ok"]

    # The next scan meets the same comment again (not new this time) on the same media page.
    fake.media[0]["comments"].append(ig_comment("c_new", ago(-1), author=SAM))
    fake.media[1]["comments"].append(ig_comment("c_new_older_medium", ago(-1), author=SAM))
    second, error = poll(fake, cursor=first[-1].cursor, now=NOW + timedelta(minutes=2))
    assert error is None
    assert sorted(platform_ids(second)) == ["c_new", "c_new_older_medium"]
    assert second[-1].cursor["comments"] > first[-1].cursor["comments"]  # the listing page was stored
    assert sum(page.skipped for page in second) == 1

    skipped = malformed(instagram_log)
    assert [getattr(record, "item_id", None) for record in skipped] == ["c_no_author", "c_no_author"]
    assert_logged_by_id_only(instagram_log, "4242", "Elm Row")


def test_a_busy_medium_keeps_the_cursor_small_and_reads_every_comment_at_least_once() -> None:
    crowd = [ig_comment(f"b{k}", ago(4) + timedelta(seconds=k // 10), author=SAM) for k in range(3 * MAX_IDS)]
    fake = FakeInstagram(media=[medium("m1", ago(60), crowd)])

    def scan_through(cursor: dict[str, str], start: datetime) -> tuple[list[str], dict[str, str]]:
        got: list[str] = []
        for n in range(40):
            pages, error = poll(fake, cursor=cursor, max_pages=3, now=start + timedelta(minutes=n))
            assert error is None
            for page in pages:
                assert len(page.cursor.get("comments_ids", "").split()) <= MAX_IDS
                assert len(json.dumps(page.cursor)) < 20_000  # one DynamoDB item holds every stream's cursor
            got += platform_ids(pages)
            cursor = pages[-1].cursor
            if "comments_scan" not in cursor:
                return got, cursor
        raise AssertionError("the scan never finished")

    first, cursor = scan_through({}, NOW)
    assert sorted(first) == sorted(c["id"] for c in crowd)
    late = [ig_comment(f"late{k}", NOW + timedelta(minutes=50, seconds=k), author=DANA) for k in range(5)]
    fake.media[0]["comments"] += late
    second, _ = scan_through(cursor, NOW + timedelta(minutes=51))
    # No gap: the late comments are read. The ids the cursor let go (the oldest) come again: a
    # duplicate, stored once; the newest MAX_IDS are not read twice.
    assert set(second) == {c["id"] for c in late} | {c["id"] for c in crowd[: 2 * MAX_IDS]}
    assert len(second) == len(set(second))


# --- deleted parents ------------------------------------------------------------------------------------


def test_a_comment_deleted_while_its_replies_are_read_on_is_dropped_and_the_scan_goes_on() -> None:
    fake = busy_account()
    first, error = poll(fake, max_pages=1)  # the first media page: m28's comments and m29_c's replies left
    assert error is None and "m29_c/replies" in first[-1].cursor["comments_scan"]

    fake.media[29]["comments"] = []  # the customer deleted the comment, and its replies went with it
    fake.requests.clear()
    second, error = poll(fake, cursor=first[-1].cursor)
    assert error is None, "a deleted comment must not fail the poll (it would fail every poll after)"
    assert len(fake.requests_to("m29_c/replies")) == 1
    assert "comments_scan" not in second[-1].cursor
    assert everything(fake) <= set(platform_ids(first) + platform_ids(second))

    fake.requests.clear()
    poll(fake, cursor=second[-1].cursor)
    assert fake.requests_to("m29_c/replies") == []
