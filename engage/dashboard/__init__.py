"""``engage dashboard``: a Textual app that answers "am I talking with people or just
broadcasting?" at a glance.

Layout: ``app.py`` (the app, its keys and its worker threads), ``components/`` (one module per
panel), ``dashboard.tcss`` (the stylesheet) and ``data.py`` (store access without Textual: short
read-only opens in worker threads, change detection, pending corrections).

Only the dashboard CLI command imports this package, at call time: the core never loads Textual.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engage.config import Config


def run_dashboard(
    db_path: Path,
    config: Config,
    *,
    clock: Callable[[], datetime] | None = None,
    poll_interval: float = 1.0,
) -> None:
    """Open the dashboard on ``db_path`` and return when the user quits."""
    from datetime import UTC

    from engage.dashboard.headstart import HeadStart

    clock = clock or (lambda: datetime.now(UTC))
    head = HeadStart(db_path, config, clock())  # reads while Textual loads
    from engage.dashboard.app import DashboardApp

    app = DashboardApp(db_path, config, clock=clock, poll_interval=poll_interval, head_start=head)
    app.run()
