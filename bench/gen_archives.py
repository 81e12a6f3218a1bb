"""Generate exports of realistic shape for the import benchmark.

``write_x_archive`` writes an X archive zip like the ones X hands out: ``data/account.js``, the
posts in ``data/tweet.js`` (or ``tweets.js``, or several ``tweets-partN.js``), pretty-printed with
X's ``"key" : value`` layout, every number a string, ``source`` HTML, entities with t.co links and
expanded URLs, mentions, media, plus a few files that are not posts (``like.js``,
``manifest.js``). The mix: link posts from scheduling apps, replies, retweets, quotes and plain
posts over eight years.

``write_mastodon_archive`` writes a Mastodon archive zip (``outbox.json`` with Create/Note and
Announce activities, ``actor.json``).

    python bench/gen_archives.py x 100000 /tmp/x-archive.zip
    python bench/gen_archives.py mastodon 100000 /tmp/mastodon-archive.zip
"""

from __future__ import annotations

import json
import random
import sys
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_WORD_TEXT = (
    "the a to of and in is it you that for on this with was are be at have not just so what "
    "but like about how one all do we can my new your more time now will people out today if "
    "when get they think thanks great really good work love here there post blog read week "
    "release python data open source talk conference question anyone know why tried finally "
    "update docs bug fix idea coffee morning team project build test ship learn share"
)
WORDS = tuple(_WORD_TEXT.split(" "))
SOURCES = (
    ('<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>', 30),
    ('<a href="http://twitter.com/download/iphone" rel="nofollow">Twitter for iPhone</a>', 20),
    ('<a href="https://tapbots.com/tweetbot" rel="nofollow">Tweetbot for iOS</a>', 8),
    ('<a href="https://tapbots.com/tweetbot" rel="nofollow">Tweetbot for iΟS</a>', 4),
    ('<a href="https://buffer.com" rel="nofollow">Buffer</a>', 15),
    ('<a href="https://www.hootsuite.com" rel="nofollow">Hootsuite Inc.</a>', 6),
    ('<a href="https://ifttt.com" rel="nofollow">IFTTT</a>', 10),
    ('<a href="https://dlvr.it" rel="nofollow">dlvr.it</a>', 7),
)
FRIENDS = [f"friend_{i}" for i in range(400)]
DOMAINS = ("blog.example.com", "github.com", "news.example.org", "youtu.be", "medium.com")
X_TIME = "%a %b %d %H:%M:%S +0000 %Y"


def _words(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def _source(rng: random.Random) -> str:
    names, weights = zip(*SOURCES, strict=True)
    return rng.choices(names, weights)[0]


def make_tweet(rng: random.Random, i: int, when: datetime, me: str, my_id: str) -> dict[str, Any]:
    """One archive tweet in the 2022+ shape (the inner object of ``{"tweet": ...}``)."""
    tid = str(1_000_000_000_000_000_000 + i * 7919)
    r = rng.random()
    urls: list[dict[str, Any]] = []
    mentions: list[dict[str, Any]] = []
    media: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    text = _words(rng, 6, 30)
    if r < 0.35:  # link post
        path = _words(rng, 2, 4).replace(" ", "-")
        full = f"https://{rng.choice(DOMAINS)}/{path}?utm_source=twitter"
        short = f"https://t.co/{rng.randrange(36**10):010x}"
        text = f"{text} {short}"
        urls.append(
            {
                "url": short,
                "expanded_url": full,
                "display_url": full.split("://", 1)[1][:25] + "…",
                "indices": [str(len(text) - len(short)), str(len(text))],
            }
        )
    elif r < 0.55:  # reply
        who = rng.choice(FRIENDS)
        text = f"@{who} {text}"
        mentions.append(
            {
                "name": who.replace("_", " ").title(),
                "screen_name": who,
                "indices": ["0", str(len(who) + 1)],
                "id_str": str(5000 + FRIENDS.index(who)),
                "id": str(5000 + FRIENDS.index(who)),
            }
        )
        reply_to = str(900_000_000_000_000_000 + rng.randrange(10**12))
        extra.update(
            {
                "in_reply_to_status_id_str": reply_to,
                "in_reply_to_status_id": reply_to,
                "in_reply_to_user_id": str(5000 + FRIENDS.index(who)),
                "in_reply_to_user_id_str": str(5000 + FRIENDS.index(who)),
                "in_reply_to_screen_name": who,
            }
        )
    elif r < 0.75:  # retweet
        who = rng.choice(FRIENDS)
        text = f"RT @{who}: {text}"
        mentions.append(
            {
                "name": who.replace("_", " ").title(),
                "screen_name": who,
                "indices": ["3", str(len(who) + 4)],
                "id_str": str(5000 + FRIENDS.index(who)),
                "id": str(5000 + FRIENDS.index(who)),
            }
        )
    elif r < 0.80:  # quote
        who = rng.choice(FRIENDS)
        qid = str(800_000_000_000_000_000 + rng.randrange(10**12))
        short = f"https://t.co/{rng.randrange(36**10):010x}"
        text = f"{text} {short}"
        urls.append(
            {
                "url": short,
                "expanded_url": f"https://twitter.com/{who}/status/{qid}",
                "display_url": f"twitter.com/{who}/status/…",
                "indices": [str(len(text) - len(short)), str(len(text))],
            }
        )
    elif r < 0.88:  # photo
        short = f"https://t.co/{rng.randrange(36**10):010x}"
        text = f"{text} {short}"
        media.append(
            {
                "expanded_url": f"https://twitter.com/{me}/status/{tid}/photo/1",
                "indices": [str(len(text) - len(short)), str(len(text))],
                "url": short,
                "media_url": f"http://pbs.twimg.com/media/F{rng.randrange(36**10):010x}.jpg",
                "id_str": tid,
                "id": tid,
                "media_url_https": f"https://pbs.twimg.com/media/F{rng.randrange(36**10):010x}.jpg",
                "sizes": {
                    "thumb": {"w": "150", "h": "150", "resize": "crop"},
                    "large": {"w": "2048", "h": "1536", "resize": "fit"},
                    "medium": {"w": "1200", "h": "900", "resize": "fit"},
                    "small": {"w": "680", "h": "510", "resize": "fit"},
                },
                "type": "photo",
                "display_url": "pic.twitter.com/abcdefghij",
            }
        )
    if rng.random() < 0.05:
        text += " &amp; more"
    tweet: dict[str, Any] = {
        "edit_info": {
            "initial": {
                "editTweetIds": [tid],
                "editableUntil": (when + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "editsRemaining": "5",
                "isEditEligible": not extra,
            }
        },
        "retweeted": False,
        "source": _source(rng),
        "entities": {
            "hashtags": [],
            "symbols": [],
            "user_mentions": mentions,
            "urls": urls,
            **({"media": media} if media else {}),
        },
        "display_text_range": ["0", str(len(text))],
        "favorite_count": str(rng.randrange(40)),
        "id_str": tid,
        "truncated": False,
        "retweet_count": str(rng.randrange(10)),
        "id": tid,
        "created_at": when.strftime(X_TIME),
        "favorited": False,
        "full_text": text,
        "lang": rng.choice(("en", "en", "en", "de", "und")),
        **extra,
    }
    if media:
        tweet["extended_entities"] = {"media": media}
        tweet["possibly_sensitive"] = False
    return tweet


def iter_tweets(n: int, me: str, my_id: str, seed: int = 4) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    start = datetime(2016, 1, 1, tzinfo=UTC)
    span = (datetime(2024, 1, 1, tzinfo=UTC) - start).total_seconds()
    times = sorted(start + timedelta(seconds=rng.random() * span) for _ in range(n))
    for i, when in enumerate(reversed(times)):  # the archive lists the newest first
        yield make_tweet(rng, i, when, me, my_id)


def ytd(name: str, part: int, items: list[Any]) -> str:
    """A ``window.YTD.<name>.partN = [...]`` file, pretty-printed the way X writes them."""
    body = json.dumps(items, indent=2, ensure_ascii=False, separators=(",", " : "))
    return f"window.YTD.{name}.part{part} = {body}"


def write_x_archive(
    out: Path,
    n: int,
    *,
    file_name: str = "tweet.js",
    parts: int = 1,
    me: str = "pat_rivera",
    my_id: str = "1234567",
    seed: int = 4,
) -> Path:
    """An X archive zip with ``n`` tweets in ``data/<file_name>`` (``parts`` > 1: split into
    ``tweets-part1.js`` ...)."""
    tweets = [{"tweet": t} for t in iter_tweets(n, me, my_id, seed)]
    account = [
        {
            "account": {
                "email": "pat@example.com",
                "createdVia": "web",
                "username": me,
                "accountId": my_id,
                "createdAt": "2011-03-02T10:11:12.000Z",
                "accountDisplayName": "Pat Rivera",
            }
        }
    ]
    likes = [
        {"like": {"tweetId": str(700 + i), "fullText": _words(random.Random(i), 5, 12)}}
        for i in range(min(n, 2000))
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        zf.writestr("Your archive.html", "<html><body>Your archive</body></html>")
        zf.writestr("data/manifest.js", 'window.__THAR_CONFIG = {"userInfo": {}}')
        zf.writestr("data/account.js", ytd("account", 0, account))
        zf.writestr("data/like.js", ytd("like", 0, likes))
        if parts <= 1:
            stem = file_name.removesuffix(".js")
            zf.writestr(f"data/{file_name}", ytd(stem, 0, tweets))
        else:
            size = -(-len(tweets) // parts)
            for p in range(parts):
                chunk = tweets[p * size : (p + 1) * size]
                name = "tweets.js" if p == 0 else f"tweets-part{p}.js"
                zf.writestr(f"data/{name}", ytd("tweets", p, chunk))
    return out


def write_mastodon_archive(out: Path, n: int, *, seed: int = 4) -> Path:
    """A Mastodon archive zip with ``n`` outbox activities (80% Create, 20% Announce)."""
    rng = random.Random(seed)
    base = "https://social.example"
    actor_id = f"{base}/ap/users/109876"
    start = datetime(2019, 1, 1, tzinfo=UTC)
    items = []
    for i in range(n):
        when = (start + timedelta(minutes=37 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        sid = str(109_000_000_000_000_000 + i * 4099)
        to = ["https://www.w3.org/ns/activitystreams#Public"]
        cc = [f"{actor_id}/followers"]
        if rng.random() < 0.2:
            items.append(
                {
                    "id": f"{actor_id}/statuses/{sid}/activity",
                    "type": "Announce",
                    "actor": actor_id,
                    "published": when,
                    "to": to,
                    "cc": cc,
                    "object": f"https://other.example/users/{rng.choice(FRIENDS)}/statuses/{i}",
                }
            )
            continue
        who = rng.choice(FRIENDS)
        reply = rng.random() < 0.3
        text = _words(rng, 6, 40)
        content = f"<p>{text}</p>"
        tags = []
        if reply:
            content = (
                f'<p><span class="h-card"><a href="https://other.example/@{who}" '
                f'class="u-url mention">@<span>{who}</span></a></span> {text}</p>'
            )
            tags.append(
                {
                    "type": "Mention",
                    "href": f"https://other.example/users/{who}",
                    "name": f"@{who}@other.example",
                }
            )
        elif rng.random() < 0.4:
            link = f"https://{rng.choice(DOMAINS)}/{i}"
            content = (
                f'<p>{text} <a href="{link}" target="_blank" rel="nofollow noopener noreferrer">'
                f'<span class="invisible">https://</span><span class="">{link[8:]}</span></a></p>'
            )
        items.append(
            {
                "id": f"{actor_id}/statuses/{sid}/activity",
                "type": "Create",
                "actor": actor_id,
                "published": when,
                "to": to,
                "cc": cc,
                "object": {
                    "id": f"{actor_id}/statuses/{sid}",
                    "type": "Note",
                    "summary": None,
                    "inReplyTo": (
                        f"https://other.example/users/{who}/statuses/{rng.randrange(10**9)}"
                        if reply
                        else None
                    ),
                    "published": when,
                    "url": f"{base}/@pat/{sid}",
                    "attributedTo": actor_id,
                    "to": to,
                    "cc": cc,
                    "sensitive": False,
                    "atomUri": f"{actor_id}/statuses/{sid}",
                    "content": content,
                    "contentMap": {"en": content},
                    "attachment": [],
                    "tag": tags,
                },
            }
        )
    outbox = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": "outbox.json",
        "type": "OrderedCollection",
        "totalItems": n + 17,  # Mastodon's count is not to be trusted
        "orderedItems": items,
    }
    actor = {
        "@context": ["https://www.w3.org/ns/activitystreams"],
        "id": actor_id,
        "type": "Person",
        "preferredUsername": "pat",
        "name": "Pat Rivera",
        "url": f"{base}/@pat",
        "outbox": "outbox.json",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        zf.writestr("outbox.json", json.dumps(outbox, indent=2))
        zf.writestr("actor.json", json.dumps(actor, indent=2))
        zf.writestr("likes.json", json.dumps({"type": "OrderedCollection", "orderedItems": []}))
    return out


if __name__ == "__main__":
    kind, count, target = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    if kind == "x":
        write_x_archive(target, count)
    else:
        write_mastodon_archive(target, count)
    print(target, target.stat().st_size, "bytes")
