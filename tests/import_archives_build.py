"""Builders for the exports the import tests read: X archives and Mastodon archives written in
the real formats (``window.YTD.tweets.part0 = [...]`` with string numbers, X's ``created_at`` and
``source`` HTML; an ActivityStreams outbox with Create/Note and Announce, an ``actor.json`` with an
id-based actor URI), as a zip, a tar.gz or an unpacked folder."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any

ME = "pat_rivera"
MY_ID = "1234567"


def ytd(name: str, part: int, items: list[Any], *, pretty: bool = True) -> str:
    """A ``window.YTD.<name>.partN = [...]`` file as X writes it (pretty: ``"key" : value``)."""
    if pretty:
        body = json.dumps(items, indent=2, ensure_ascii=False, separators=(",", " : "))
    else:
        body = json.dumps(items, ensure_ascii=False, separators=(",", ":"))
    return f"window.YTD.{name}.part{part} = {body}"


def account_js(username: str = ME) -> str:
    return ytd(
        "account",
        0,
        [
            {
                "account": {
                    "email": "pat@example.com",
                    "createdVia": "web",
                    "username": username,
                    "accountId": MY_ID,
                    "createdAt": "2011-03-02T10:11:12.000Z",
                    "accountDisplayName": "Pat Rivera",
                }
            }
        ],
    )


def tweet(
    id_str: str,
    text: str,
    created_at: str = "Wed Oct 19 20:07:25 +0000 2022",
    *,
    source: str = '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
    urls: list[tuple[str, str]] = (),  # type: ignore[assignment]
    mentions: list[str] = (),  # type: ignore[assignment]
    reply_to: tuple[str, str] | None = None,  # (status id, screen name)
    lang: str = "en",
    media: bool = False,
) -> dict[str, Any]:
    """One tweet object in the 2022+ archive shape (every number a string)."""
    t: dict[str, Any] = {
        "edit_info": {
            "initial": {
                "editTweetIds": [id_str],
                "editableUntil": "2022-10-19T20:37:25.000Z",
                "editsRemaining": "5",
                "isEditEligible": True,
            }
        },
        "retweeted": False,
        "source": source,
        "entities": {
            "hashtags": [],
            "symbols": [],
            "user_mentions": [
                {
                    "name": m.title(),
                    "screen_name": m,
                    "indices": ["0", str(len(m) + 1)],
                    "id_str": str(900 + i),
                    "id": str(900 + i),
                }
                for i, m in enumerate(mentions)
            ],
            "urls": [
                {
                    "url": short,
                    "expanded_url": full,
                    "display_url": full.split("://", 1)[1][:20] + "…",
                    "indices": ["10", "33"],
                }
                for short, full in urls
            ],
        },
        "display_text_range": ["0", str(len(text))],
        "favorite_count": "3",
        "id_str": id_str,
        "truncated": False,
        "retweet_count": "1",
        "id": id_str,
        "created_at": created_at,
        "favorited": False,
        "full_text": text,
        "lang": lang,
    }
    if reply_to is not None:
        status, user = reply_to
        t.update(
            {
                "in_reply_to_status_id_str": status,
                "in_reply_to_status_id": status,
                "in_reply_to_user_id": "777",
                "in_reply_to_user_id_str": "777",
                "in_reply_to_screen_name": user,
            }
        )
    if media:
        m = {
            "expanded_url": f"https://twitter.com/{ME}/status/{id_str}/photo/1",
            "indices": ["20", "43"],
            "url": "https://t.co/pic",
            "media_url_https": "https://pbs.twimg.com/media/Fabc.jpg",
            "id_str": "55",
            "id": "55",
            "type": "photo",
            "display_url": "pic.twitter.com/abc",
            "sizes": {"large": {"w": "2048", "h": "1536", "resize": "fit"}},
        }
        t["entities"]["media"] = [m]
        t["extended_entities"] = {"media": [m]}
        t["possibly_sensitive"] = False
    return t


def sample_tweets() -> list[dict[str, Any]]:
    """Five tweets covering every field engage reads."""
    return [
        tweet(
            "1001",
            "New on the blog: fast imports &amp; more https://t.co/abc",
            "Mon Jan 04 09:00:00 +0000 2021",
            source='<a href="https://buffer.com" rel="nofollow">Buffer</a>',
            urls=[("https://t.co/abc", "https://blog.example/fast-imports?utm_source=twitter")],
        ),
        tweet(
            "1002",
            "@sam_k Good question! I use DuckDB for that.",
            "Tue Jan 05 10:30:00 +0000 2021",
            source='<a href="https://tapbots.com/tweetbot" rel="nofollow">Tweetbot for iΟS</a>',
            mentions=["sam_k"],
            reply_to=("999", "sam_k"),
        ),
        tweet(
            "1003",
            "RT @ada_l: Shipping the new parser today",
            "Wed Jan 06 11:45:00 +0000 2021",
            source='<a href="https://tapbots.com/tweetbot" rel="nofollow">Tweetbot for iOS</a>',
            mentions=["ada_l"],
        ),
        tweet(
            "1004",
            "This is the thread everyone should read https://t.co/q",
            "Thu Jan 07 12:00:00 -0500 2021",
            urls=[("https://t.co/q", "https://twitter.com/ada_l/status/888")],
        ),
        tweet(
            "1005",
            "Morning coffee and a photo https://t.co/pic",
            "Fri Jan 08 07:15:30 +0000 2021",
            source='<a href="http://twitter.com/download/iphone" rel="nofollow">Twitter for iPhone</a>',
            lang="und",
            media=True,
        ),
    ]


def x_files(
    tweets: list[dict[str, Any]] | None = None,
    *,
    file_name: str = "tweets.js",
    parts: int = 1,
    wrap: bool = True,
    pretty: bool = True,
) -> dict[str, str]:
    """The files of an X archive by their path inside it."""
    tweets = sample_tweets() if tweets is None else tweets
    items = [{"tweet": t} if wrap else t for t in tweets]
    files = {
        "Your archive.html": "<html><body>Your archive</body></html>",
        "data/manifest.js": 'window.__THAR_CONFIG = {"userInfo": {"userName": "pat_rivera"}}',
        "data/account.js": account_js(),
        "data/like.js": ytd("like", 0, [{"like": {"tweetId": "5", "fullText": "liked"}}]),
    }
    stem = file_name.removesuffix(".js")
    if parts <= 1:
        files[f"data/{file_name}"] = ytd(stem, 0, items, pretty=pretty)
    else:
        size = -(-len(items) // parts)
        for p in range(parts):
            name = "tweets.js" if p == 0 else f"tweets-part{p}.js"
            files[f"data/{name}"] = ytd(
                "tweets", p, items[p * size : (p + 1) * size], pretty=pretty
            )
    return files


def write_zip(path: Path, files: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return path


def write_folder(path: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    return path


def write_tar_gz(path: Path, files: dict[str, str | bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, content in files.items():
            data = content if isinstance(content, bytes) else content.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tf.addfile(info, io.BytesIO(data))
    return path


# -- Mastodon ------------------------------------------------------------------------------------

M_HOST = "m.example"
ACTOR = f"https://{M_HOST}/ap/users/110012"  # newer servers: id-based actor URIs
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def actor_json() -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": ACTOR,
        "type": "Person",
        "following": f"{ACTOR}/following",
        "followers": f"{ACTOR}/followers",
        "inbox": f"{ACTOR}/inbox",
        "outbox": "outbox.json",
        "preferredUsername": "pat",
        "name": "Pat Rivera",
        "summary": "<p>Writing about data tools.</p>",
        "url": f"https://{M_HOST}/@pat",
        "published": "2022-11-01T00:00:00Z",
        "icon": {"type": "Image", "mediaType": "image/png", "url": "avatar.png"},
    }


def note(
    sid: str,
    content: str,
    published: str,
    *,
    in_reply_to: str | None = None,
    tags: list[dict[str, Any]] = (),  # type: ignore[assignment]
    lang: str = "en",
    to: list[str] | None = None,
    cc: list[str] | None = None,
) -> dict[str, Any]:
    """A Create activity with its Note, as Mastodon's outbox.json has them."""
    to = [PUBLIC] if to is None else to
    cc = [f"{ACTOR}/followers"] if cc is None else cc
    return {
        "id": f"{ACTOR}/statuses/{sid}/activity",
        "type": "Create",
        "actor": ACTOR,
        "published": published,
        "to": to,
        "cc": cc,
        "object": {
            "id": f"{ACTOR}/statuses/{sid}",
            "type": "Note",
            "summary": None,
            "inReplyTo": in_reply_to,
            "published": published,
            "url": f"https://{M_HOST}/@pat/{sid}",
            "attributedTo": ACTOR,
            "to": to,
            "cc": cc,
            "sensitive": False,
            "atomUri": f"{ACTOR}/statuses/{sid}",
            "conversation": f"tag:{M_HOST},2023-01-01:objectId=1:objectType=Conversation",
            "content": content,
            "contentMap": {lang: content},
            "attachment": [],
            "tag": list(tags),
            "replies": {"id": f"{ACTOR}/statuses/{sid}/replies", "type": "Collection"},
        },
    }


def announce(sid: str, target: str, published: str) -> dict[str, Any]:
    return {
        "id": f"{ACTOR}/statuses/{sid}/activity",
        "type": "Announce",
        "actor": ACTOR,
        "published": published,
        "to": [PUBLIC],
        "cc": [f"{ACTOR}/followers"],
        "object": target,
    }


def sample_activities() -> list[dict[str, Any]]:
    return [
        note(
            "111",
            '<p>New post about streaming JSON: <a href="https://blog.example/stream?a=1&amp;b=2" '
            'target="_blank" rel="nofollow noopener noreferrer"><span class="invisible">https://'
            '</span><span class="">blog.example/stream?a=1&amp;b=2</span></a> '
            '<a href="https://m.example/tags/python" class="mention hashtag" rel="tag">#<span>'
            "python</span></a></p>",
            "2023-01-02T09:00:00Z",
            tags=[{"type": "Hashtag", "href": "https://m.example/tags/python", "name": "#python"}],
        ),
        note(
            "112",
            '<p><span class="h-card"><a href="https://other.example/@sam" class="u-url mention">'
            "@<span>sam</span></a></span> Thanks, that fixed it!<br />Next question: tar or zip?</p>",
            "2023-01-03T10:30:00Z",
            in_reply_to="https://other.example/users/sam/statuses/98765",
            tags=[
                {
                    "type": "Mention",
                    "href": "https://other.example/users/sam",
                    "name": "@sam@other.example",
                }
            ],
        ),
        note(
            "113",
            "<p>And a follow-up to my own post.</p>",
            "2023-01-03T10:35:00Z",
            in_reply_to=f"{ACTOR}/statuses/111",
            lang="de",
        ),
        announce("114", "https://other.example/users/ada/statuses/4242", "2023-01-04T12:00:00Z"),
        note(  # a direct message: not a post of the timeline, never imported
            "115",
            '<p><span class="h-card"><a href="https://other.example/@sam" class="u-url mention">'
            "@<span>sam</span></a></span> private note</p>",
            "2023-01-05T08:00:00Z",
            to=["https://other.example/users/sam"],
            cc=[],
            tags=[
                {
                    "type": "Mention",
                    "href": "https://other.example/users/sam",
                    "name": "@sam@other.example",
                }
            ],
        ),
    ]


def outbox_json(activities: list[dict[str, Any]], total: int | None = None) -> dict[str, Any]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": "outbox.json",
        "type": "OrderedCollection",
        "totalItems": len(activities) + 3 if total is None else total,  # never right
        "orderedItems": activities,
    }


def mastodon_files(activities: list[dict[str, Any]] | None = None) -> dict[str, str | bytes]:
    activities = sample_activities() if activities is None else activities
    return {
        "outbox.json": json.dumps(outbox_json(activities), indent=2),
        "actor.json": json.dumps(actor_json(), indent=2),
        "likes.json": json.dumps({"type": "OrderedCollection", "orderedItems": []}),
        "bookmarks.json": json.dumps({"type": "OrderedCollection", "orderedItems": []}),
        "avatar.png": b"\x89PNG\r\n\x1a\n",
    }
