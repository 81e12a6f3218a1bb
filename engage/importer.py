"""Importing an official export (X archive, Mastodon archive, Bluesky repo CAR) into the store.

The importers themselves live in ``connectors/`` and only turn an export into ``Post`` and
``Mention`` records (see ``connectors.base.Importer``); this module runs them:

1. find the importer (``open_importer``): the kind the user forced with ``--kind``, or the one
   whose ``detect`` recognises the path;
2. read the account (an export without one is rejected before anything is written);
3. stream ``iter_items`` in batches; each batch is upserted together with the import's progress
   in one transaction (``Store.commit_import_batch``), so an import killed half-way leaves only
   whole batches behind and a rerun of the same export skips what was committed and finishes it;
4. label the new posts once at the end (``engage.classify.label_new_posts``).

An import is identified by its key: kind, account and the importer's ``fingerprint()`` (size and
mtime of the export). Importing the same export again re-upserts everything, which changes no row
(the upsert is idempotent), and reports every item as skipped.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.base import Importer, Mention, Post, discover_importers
from engage.errors import ImportFormatError, ModelError, UsageError
from engage.store import Store, UpsertResult

if TYPE_CHECKING:
    from engage.config import Config

log = logging.getLogger(__name__)

#: items per transaction: large enough that DuckDB's per-statement cost is small, small enough
#: that a batch (its Post objects and Arrow table) stays a few MB.
BATCH_SIZE = 5000
#: how often (in items) the progress callback is called
PROGRESS_EVERY = 500

ProgressCallback = Callable[[int], None]

_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"


@dataclass
class ImportSummary:
    """What one ``engage import`` did."""

    path: Path
    kind: str
    platform: str
    account: str
    read: int = 0  # items read from the export, including those skipped when resuming
    new: int = 0
    updated: int = 0
    skipped: int = 0  # already stored and unchanged, or committed by an interrupted earlier run
    resumed_from: int = 0  # items an earlier, interrupted run of the same export had committed
    posts: int = 0  # Post records read
    mentions: int = 0  # Mention records read
    labels: dict[str, int] | None = None  # counts per label from the classifier
    label_note: str | None = None  # why the posts were not labelled, if they were not
    label_failed: bool = False  # the classifier raised a ModelError (the posts are saved)
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def importer_kinds() -> list[str]:
    """The export kinds this installation can import, sorted."""
    return sorted(discover_importers())


def _check_container(path: Path) -> None:
    """Reject a damaged zip before any importer looks at it: a truncated zip has lost its
    central directory (at the end of the file), so no importer could recognise it."""
    if not path.is_file():
        return
    with path.open("rb") as fh:
        head = fh.read(4)
    if head in (_ZIP_MAGIC, _EMPTY_ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as zf:
                zf.namelist()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise ImportFormatError(
                f"{path}: damaged or truncated zip file ({exc}); download the export again"
            ) from None


def _detects(cls: type[Importer], path: Path) -> bool:
    try:
        return bool(cls.detect(path))
    except ImportFormatError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        log.debug("%s.detect(%s) failed: %s", cls.__name__, path, exc)
        return False


def open_importer(path: Path | str, kind: str | None = None) -> Importer:
    """The importer for ``path``: the ``kind`` given, which must recognise the path, or the
    first registered importer that does. Raises ``ImportFormatError`` (exit 2) naming the file
    when nothing recognises it, and ``UsageError`` for a missing path or an unknown kind."""
    path = Path(path).expanduser()
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder")
    importers = discover_importers()
    if kind is not None and kind not in importers:
        known = ", ".join(sorted(importers)) or "none installed"
        raise UsageError(f"unknown export kind {kind!r}; use one of: {known}")
    _check_container(path)
    if kind is not None:
        cls = importers[kind]
        if _detects(cls, path):
            return cls(path)
        others = [k for k, c in sorted(importers.items()) if k != kind and _detects(c, path)]
        hint = f" (it looks like a {others[0]} export)" if others else ""
        raise ImportFormatError(f"{path}: not a {kind} export{hint}")
    for _kind, cls in sorted(importers.items()):
        if _detects(cls, path):
            return cls(path)
    known = ", ".join(sorted(importers)) or "none installed"
    raise ImportFormatError(
        f"{path}: not an export engage can import (known kinds: {known}); "
        "give the zip, tar.gz, CAR file or unpacked folder you downloaded"
    )


def import_key(importer: Importer, account: str) -> str:
    """The key under which an import's progress is stored: same kind, account and export
    copy (its fingerprint) means the same import, so an interrupted one can be resumed."""
    h = hashlib.sha256()
    for part in (importer.kind, account, importer.fingerprint()):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return f"{importer.kind}:{h.hexdigest()[:32]}"


def run_import(
    store: Store,
    path: Path | str,
    *,
    kind: str | None = None,
    config: Config | None = None,
    batch_size: int = BATCH_SIZE,
    classify: bool = True,
    on_progress: ProgressCallback | None = None,
) -> ImportSummary:
    """Import the export at ``path`` into ``store`` and label what it loaded.

    Broken input raises ``ImportFormatError`` naming the file. Found before the first commit
    (most problems are: the container, the account file, the posts files' framing) it leaves the
    database as it was; found later, the batches already committed are valid posts of the export
    and the message says so.
    """
    started = time.perf_counter()
    if batch_size < 1:
        raise UsageError("batch size must be at least 1")
    importer = open_importer(path, kind)
    account = importer.account()
    key = import_key(importer, account)
    progress = store.get_import_progress(key)
    resume_from = progress[0] if progress is not None and not progress[1] else 0
    where = str(Path(importer.path).expanduser().resolve())
    summary = ImportSummary(
        path=Path(importer.path),
        kind=importer.kind,
        platform=importer.platform,
        account=account,
        resumed_from=resume_from,
    )
    if resume_from:
        log.info("resuming %s import of %s after %d items", importer.kind, where, resume_from)

    posts: list[Post] = []
    mentions: list[Mention] = []
    totals = UpsertResult()
    committed = resume_from
    read = 0

    def commit(finished: bool) -> None:
        nonlocal totals, committed
        totals = totals + store.commit_import_batch(
            key, where, importer.kind, posts, mentions, read, finished
        )
        committed = read
        posts.clear()
        mentions.clear()

    try:
        for item in importer.iter_items():
            read += 1
            if isinstance(item, Post):
                summary.posts += 1
                if read > resume_from:
                    posts.append(item)
            else:
                summary.mentions += 1
                if read > resume_from:
                    mentions.append(item)
            if len(posts) + len(mentions) >= batch_size:
                commit(False)
            if on_progress is not None and read % PROGRESS_EVERY == 0:
                on_progress(read)
    except ImportFormatError as exc:
        if committed:
            raise ImportFormatError(
                f"{exc}; the first {committed} items of the export were saved and are valid, "
                "nothing was lost: run the same import again once the file is fixed"
            ) from None
        raise
    commit(True)
    if on_progress is not None:
        on_progress(read)

    summary.read = read
    summary.new = totals.new
    summary.updated = totals.updated
    summary.skipped = totals.unchanged + min(resume_from, read)
    if classify:
        _label(store, config, summary)
    summary.seconds = time.perf_counter() - started
    return summary


def _label(store: Store, config: Config | None, summary: ImportSummary) -> None:
    """Label the posts that have no label yet, once, after the whole import."""
    # Integration guard: engage.classify is written by the classifier engineer in parallel.
    # Until it is in the tree the import still works and says it did not label; the lead
    # removes this try/except at integration.
    try:
        classify = importlib.import_module("engage.classify")
    except ModuleNotFoundError as exc:
        if exc.name != "engage.classify":
            raise
        summary.label_note = "not labelled: the classifier (engage.classify) is not installed"
        return
    if config is None:
        from engage.config import load_config

        config = load_config()
    try:
        counts = classify.label_new_posts(store, config)
    except ModelError as exc:
        summary.label_failed = True
        summary.label_note = f"saved but not labelled: {exc}"
        return
    summary.labels = {str(k): int(v) for k, v in dict(counts or {}).items()}
