"""The labels, platform names and small records that the store, the goal tracker and the
dashboard share. Standard library only: the dashboard's first frame and the shell prompt import
this without DuckDB, pyarrow or the goal library."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

LABELS: tuple[str, ...] = ("auto_promo", "share", "ask", "answer", "comment")
GENUINE_LABELS: tuple[str, ...] = ("ask", "answer", "comment")
PLATFORM_NAMES: dict[str, str] = {"mastodon": "Mastodon", "bluesky": "Bluesky", "x": "X"}


def format_age(delta: timedelta) -> str:
    """``"5 min"``, ``"3 h"``, ``"2 d"``: the rough age of something."""
    s = max(0, int(delta.total_seconds()))
    if s < 3600:
        return f"{max(1, s // 60)} min"
    if s < 2 * 86400:
        return f"{s // 3600} h"
    return f"{s // 86400} d"


def display_handle(platform: str, handle: str) -> str:
    """How a person is shown: ``@ana`` for ``ana@social.example`` on Mastodon, else ``@handle``."""
    h = handle.strip().lstrip("@")
    if platform == "mastodon" and "@" in h:
        h = h.split("@", 1)[0]
    return "@" + h


@dataclass(frozen=True)
class Waiting:
    """Someone's post addressing the user that the user has not answered."""

    platform: str
    mention_id: str
    author: str
    created_at: datetime
    text: str
    kind: str
    url: str | None
    age: timedelta

    @property
    def is_question(self) -> bool:
        return "?" in self.text

    @property
    def who(self) -> str:
        return display_handle(self.platform, self.author)


@dataclass(frozen=True)
class WaitingSummary:
    items: list[Waiting]
    median_answer: timedelta | None
    answered: int  # mentions answered in the last ANSWER_WINDOW_DAYS days (engage.goals)
    window_days: int
