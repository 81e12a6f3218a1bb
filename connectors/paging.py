"""Gap-free paging of a newest-first timeline (Mastodon statuses and notifications, X tweets and
mentions): the cursor logic both connectors share.

Such APIs return items newest first and take two bounds: ``above`` (Mastodon ``since_id``, X
``since_id``: only items newer than it) and ``below`` (Mastodon ``max_id``, X ``until_id``: only
items older than it). A fetch walks a *window* from its newest item down to ``above``, one page at
a time. The stream's cursor records the window's progress after every page, so an interrupted
fetch resumes exactly where it stopped (the store commits a page and its cursor together):

    {"top": "<id>",            newest item id below which everything is stored (None at first)
     "window": {"kind": "new" | "backfill", "above": id|None, "below": id|None, "new_top": id|None}
               | None,         the window in progress, None when none is open
     "bottom": "<id>",         oldest item id reached so far
     "floor": "<ISO time>",    a --since date the history was fetched back to (None: all of it)
     "complete": bool,         True once the platform had nothing older (or its limit was reached)
     "noted": bool}            the platform-limit note was shown once

A run resumes an open window, then walks a new window from the newest item down to ``top``, and
then, when ``since`` is older than the ``floor`` of an earlier ``--since`` run, walks further back
from ``bottom`` down to ``since``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from connectors.base import Mention, Page, Post, utc
from engage.errors import ConnectorError

T = TypeVar("T")


@dataclass
class RawPage(Generic[T]):
    """What one request returned: the items (newest first), whether older ones may follow, and
    how many items the platform counted as read."""

    items: Sequence[T]
    more: bool
    reads: int = 0


FetchFn = Callable[[str | None, str | None], RawPage[T]]  # (above, below) -> page
ConvertFn = Callable[[Sequence[T]], tuple[list[Post], list[Mention]]]


def empty_cursor() -> dict[str, Any]:
    return {
        "top": None,
        "window": None,
        "bottom": None,
        "floor": None,
        "complete": False,
        "noted": False,
    }


def walk(
    stream: str,
    cursor: dict[str, Any] | None,
    since: datetime | None,
    *,
    fetch_page: FetchFn[T],
    convert: ConvertFn[T],
    item_id: Callable[[T], str],
    item_time: Callable[[T], datetime],
    limit_note: str | None = None,
) -> Iterator[Page]:
    """Yield the stream's pages with the cursor to store after each one.

    ``limit_note`` is attached (once per stream) when a walk into the past ends because the
    platform has nothing older, for platforms whose API stops short of the whole history.
    """
    state = {**empty_cursor(), **copy.deepcopy(cursor or {})}
    since = utc(since) if since is not None else None
    ran_new = False
    while True:
        window = state["window"]
        if window is None:
            if not ran_new:
                ran_new = True
                state["window"] = {
                    "kind": "new",
                    "above": state["top"],
                    "below": None,
                    "new_top": None,
                }
                continue
            floor = _parse_time(state["floor"])
            if (
                since is not None
                and floor is not None
                and since < floor
                and not state["complete"]
                and state["bottom"] is not None
            ):
                state["window"] = {
                    "kind": "backfill",
                    "above": None,
                    "below": state["bottom"],
                    "new_top": None,
                }
                continue
            return
        raw = fetch_page(window["above"], window["below"])
        items = list(raw.items)
        if items and window["below"] is not None and item_id(items[-1]) == window["below"]:
            # a server that answers "older than X" with a page ending at X again would be asked
            # for the same page for ever: stop (the pages before are saved with their cursor)
            raise ConnectorError(_SAME_PAGE.format(stream=stream))
        kept = items
        hit_since = False
        if since is not None:
            kept = [it for it in items if utc(item_time(it)) >= since]
            hit_since = len(kept) < len(items)
        if items:
            if window["kind"] == "new" and window["new_top"] is None:
                window["new_top"] = item_id(items[0])
            window["below"] = item_id(items[-1])
            if window["above"] is None and kept:
                # everything from here up is stored (items past --since are not)
                state["bottom"] = item_id(kept[-1])
        done = not items or not raw.more or hit_since
        note = None
        if done:
            note = _close_window(state, window, hit_since, since, limit_note)
            state["window"] = None
        posts, mentions = convert(kept)
        yield Page(
            stream=stream,
            posts=posts,
            mentions=mentions,
            cursor=copy.deepcopy(state),
            reads=raw.reads,
            note=note,
        )


_SAME_PAGE = (
    "{stream}: the server sent the same page again instead of the next one; what was fetched is "
    "saved, and the next 'engage fetch' resumes from there"
)


def _close_window(
    state: dict[str, Any],
    window: dict[str, Any],
    hit_since: bool,
    since: datetime | None,
    limit_note: str | None,
) -> str | None:
    if window["kind"] == "new" and window["new_top"] is not None:
        state["top"] = window["new_top"]
    if window["above"] is not None:
        return None  # an incremental window ends at the known top: nothing about history
    if hit_since and since is not None:
        floor = _parse_time(state["floor"])
        if floor is None or since < floor:
            state["floor"] = since.isoformat()
        return None
    state["complete"] = True
    state["floor"] = None
    if limit_note and not state["noted"]:
        state["noted"] = True
        return limit_note
    return None


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return utc(datetime.fromisoformat(value))
