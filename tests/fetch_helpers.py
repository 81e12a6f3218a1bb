"""Shared pieces of the fetch tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def quick_labels(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Any]]:
    """The classifier is tested on its own; here it is replaced by a recorder that labels every
    unlabelled post 'comment', so fetch tests stay fast."""
    import engage.classify

    calls: list[tuple[Any, Any]] = []

    def label_new_posts(store: Any, config: Any = None) -> dict[str, int]:
        calls.append((store, config))
        n = sum(len(b) for b in store.iter_posts(unlabelled_only=True))
        return {"comment": n} if n else {}

    monkeypatch.setattr(engage.classify, "label_new_posts", label_new_posts)
    return calls
