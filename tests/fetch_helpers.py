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
        from engage.store import LabelRow

        calls.append((store, config))
        posts = [p for b in store.iter_posts(unlabelled_only=True) for p in b]
        store.save_labels(
            [LabelRow(p.platform, p.post_id, "comment", 0.9, "test", "test-model") for p in posts]
        )
        return {"comment": len(posts)} if posts else {}

    monkeypatch.setattr(engage.classify, "label_new_posts", label_new_posts)
    return calls
