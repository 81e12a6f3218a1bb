"""Listeners that run when a store that wrote something is about to close (``Store.close``).

Kept apart from ``engage.store`` so that registering one does not load DuckDB and pyarrow: the
CLI registers the goal cache's refresh for every command, and ``engage import`` starts copying
an archive before it loads them (``engage.importer.copy_ahead``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engage.store import Store

ChangeListener = Callable[["Store"], None]
#: the registered listeners, in order (``Store.close`` runs them)
listeners: list[ChangeListener] = []


def on_change(listener: ChangeListener) -> ChangeListener:
    """Register ``listener(store)`` to run when a store that wrote something is about to close
    (the shell-prompt cache is refreshed this way); it may read through ``store``. Listener
    errors are logged, never raised."""
    if listener not in listeners:
        listeners.append(listener)
    return listener
