"""The private Bluesky network works: a customer's mention reaches the brand's notifications.

Needs infra/local/atproto/setup.sh (PostgreSQL, Redis, node_modules); skipped without it except
in CI.
"""

from __future__ import annotations

from tests.integration.conftest_atproto import atproto  # noqa: F401  (the fixture)
from tests.support.atproto import AtprotoNetwork, XrpcClient, mention_facets


def test_mention_facets_count_utf8_bytes() -> None:
    facets = mention_facets("héllo ✨ @brand.test", {"brand.test": "did:plc:brand"})
    # "héllo ✨ " is 8 characters but 11 bytes in UTF-8.
    assert facets == [
        {
            "index": {"byteStart": 11, "byteEnd": 22},
            "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:brand"}],
        }
    ]


def test_brand_is_notified_of_a_mention(atproto: AtprotoNetwork) -> None:  # noqa: F811
    brand_account = atproto.accounts["brand"]
    alice = XrpcClient.login(atproto.pds, atproto.accounts["alice"])
    brand = XrpcClient.login(atproto.pds, brand_account)
    assert (alice.handle, brand.handle) == ("alice.test", "brand.test")

    text = "Héllo @brand.test ✨ my order never arrived"
    post = alice.create_post(text, mentions={brand.handle: brand.did})
    atproto.process_all()

    notifications = brand.list_notifications()
    mentions = [n for n in notifications if n["reason"] == "mention"]
    assert [n["uri"] for n in mentions] == [post.uri]
    (mention,) = mentions
    assert mention["cid"] == post.cid
    assert mention["author"]["did"] == alice.did
    assert mention["author"]["handle"] == "alice.test"
    assert mention["record"]["text"] == text
    (facet,) = mention["record"]["facets"]
    start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
    assert text.encode()[start:end] == b"@brand.test"
    assert facet["features"][0]["did"] == brand_account.did

    # A reply to the brand's post and a quote of it notify the brand too.
    brand_post = brand.create_post("We're here to help.")
    # The AppView indexes each account's commits concurrently: a reply indexed alongside its
    # parent can miss its notification (as in production, where the parent comes first).
    atproto.process_all()
    reply = alice.create_post("Still waiting!", reply_to=brand_post)
    quote = alice.create_post("Look at this", quote=brand_post)
    atproto.process_all()
    by_reason = {(n["reason"], n["uri"]) for n in brand.list_notifications()}
    assert {("reply", reply.uri), ("quote", quote.uri), ("mention", post.uri)} <= by_reason

    # The same notifications straight from the AppView's public read of alice's posts.
    feed = alice.call("app.bsky.feed.getAuthorFeed", actor=alice.did)["feed"]
    assert {item["post"]["uri"] for item in feed} >= {post.uri, quote.uri}
    alice.close()
    brand.close()
