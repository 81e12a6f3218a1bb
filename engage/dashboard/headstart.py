"""The dashboard's first reads, started before Textual is imported.

Importing Textual and building the first frame take a few hundred milliseconds; so do importing
DuckDB and reading today's figures from a large database. When the summary every engage writer
leaves beside the database describes it as it is (``summary.py``: one small JSON read),
``HeadStart`` holds it as ``first`` and reads nothing more: the app paints it, then reads in
full in its workers. Otherwise it runs the reads in threads while the main thread builds the
screen, and the app shows their results as its first data. Only the standard library is
imported here: DuckDB loads in the thread.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engage.dashboard import summary

if TYPE_CHECKING:
    from engage.config import Config
    from engage.dashboard.summary import FirstPaint


class HeadStart:
    """``first`` is the first frame from the writers' summary, or ``None`` (then no thread
    runs). Else ``overview`` and ``posts`` are ``(kind, result)`` pairs as
    ``model.read_outcome`` gives them, ``sig`` the database signature taken before reading; all
    ``None`` when there was no database. Read them after ``done`` is set."""

    def __init__(self, db_path: Path, config: Config, now: datetime, days: int = 30) -> None:
        self.db_path = Path(db_path)
        self.config = config
        self.now = now
        self.days = days
        self.sig: Any = None
        self.overview: tuple[str, Any] | None = None
        self.posts: tuple[str, Any] | None = None
        self.done = threading.Event()
        self.first: FirstPaint | None = summary.load(self.db_path, config, now, days)
        if self.first is not None:
            self.done.set()
            return
        threading.Thread(target=self._run, name="engage-head-start", daemon=True).start()

    def _run(self) -> None:
        try:
            from engage.dashboard import data

            if not self.db_path.exists():
                return
            gateway = data.StoreGateway(self.db_path)
            self.sig = data.db_signature(self.db_path)

            def posts() -> None:
                self.posts = data.read_outcome(
                    gateway, lambda s: data.load_posts(s, data.PostFilter())
                )

            other = threading.Thread(target=posts, name="engage-head-start-posts", daemon=True)
            other.start()
            self.overview = data.read_outcome(
                gateway, lambda s: data.load_overview(s, self.config, self.now, self.days)
            )
            other.join()
        finally:
            self.done.set()
