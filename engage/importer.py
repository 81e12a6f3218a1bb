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

import errno
import gc
import hashlib
import logging
import queue
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors import x_archive
from connectors.base import Importer, Mention, Post, PostColumns, discover_importers
from connectors.x_archive import StagedPart, XArchiveImporter
from engage.errors import ImportFormatError, ModelError, StoreError, UsageError

if TYPE_CHECKING:
    from engage.classify import Precomputed
    from engage.config import Config
    from engage.store import StagedRange, Store, UpsertResult

# engage.store (DuckDB, pyarrow, numpy: about 0.3 s to import) is imported where it is used, so
# that ``engage import`` can recognise an export and start copying it (``PostsCopy``) first

log = logging.getLogger(__name__)

#: items per transaction: large enough that DuckDB's per-statement cost is small, small enough
#: that the batches in flight (one being read, one queued, one being saved, each with the raw
#: JSON of its posts) keep a 100,000-tweet import well under 500 MB (measured: 5,000 peaked at
#: about 470-550 MB, 2,000 at about 350 MB).
BATCH_SIZE = 2000
#: items per transaction for importers that hand over posts in columns (no ``Post`` objects,
#: so a batch is small: about 15 MB for 10,000 tweets). Fewer, larger transactions matter to
#: DuckDB: each commit of a growing table rewrites its last row group at the next checkpoint
#: (100,000 tweets: 4.9 s in batches of 2,000, 2.9 s in batches of 10,000).
COLUMN_BATCH_SIZE = 10_000
#: items per transaction of a staged import (the posts wait in DuckDB's staging database, not
#: in Python, so a batch costs no Python memory): one row group of the database
#: (``engage.store.ROW_GROUP_SIZE``, not imported here so that an import starts before DuckDB
#: loads). A batch of whole row groups is written to the database file once, as it fills; a
#: batch of 25,000 posts left a part of a row group to the log at every commit (100,000 tweets:
#: 3.28 s against 2.98 s, interleaved runs of ``engage import``)
STAGED_BATCH_SIZE = 49_152
#: labels an import makes ahead are saved this many at a time, one row group of the labels
#: table (see STAGED_BATCH_SIZE), each while the reasons of the next are written
AHEAD_LABEL_SLICE = STAGED_BATCH_SIZE
#: a staged import copies the posts files in parts of about this size (see _stage_export)
STAGE_PART_BYTES = 24 << 20
#: how often (in items) the progress callback is called
PROGRESS_EVERY = 500
#: how often (seconds) Python hands its global lock between threads during an import (default
#: 0.005): the copy, reading and writing threads hand their work to zlib and DuckDB and need the
#: lock only for moments between calls; with the default they wait up to 5 ms each time behind
#: the main thread's imports and classification (measured: 0.1-0.25 s of a 3.1-3.5 s import)
IMPORT_SWITCH_INTERVAL = 0.001

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
        hint = f"; it is detected as {others[0]}, so leave out --kind" if others else ""
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


@contextmanager
def brisk_thread_switches() -> Iterator[None]:
    """Python switches threads every ``IMPORT_SWITCH_INTERVAL`` inside the block (never less
    often than it already did), as before after it."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, IMPORT_SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def run_import(
    store: Store,
    path: Path | str | Importer,
    *,
    kind: str | None = None,
    config: Config | None = None,
    batch_size: int | None = None,
    classify: bool = True,
    on_progress: ProgressCallback | None = None,
    copies: PostsCopy | None = None,
) -> ImportSummary:
    """Import the export at ``path`` (or an importer from ``open_importer``, whose detection
    and account the caller has already checked before opening the store) into ``store`` and
    label what it loaded. ``copies``: the copy of that importer's posts files the caller
    started ahead (``copy_ahead``); the import takes it over and closes it.

    Broken input raises ``ImportFormatError`` naming the file. Found before the first commit
    (most problems are: the container, the account file, the posts files' framing) it leaves the
    database as it was; found later, the batches already committed are valid posts of the export
    and the message says so.
    """
    started = time.perf_counter()
    try:
        if batch_size is not None and batch_size < 1:
            raise UsageError("batch size must be at least 1")
        importer = path if isinstance(path, Importer) else open_importer(path, kind)
        if copies is not None and copies.importer is not importer:
            raise ValueError("the copies given are not of the export being imported")
        if copies is None:
            copies = copy_ahead(importer, store.path.parent)
        with brisk_thread_switches():
            return _run_import(
                store, importer, config, batch_size, classify, on_progress, copies, started
            )
    finally:
        if copies is not None:
            copies.close()


def _run_import(
    store: Store,
    importer: Importer,
    config: Config | None,
    batch_size: int | None,
    classify: bool,
    on_progress: ProgressCallback | None,
    copies: PostsCopy | None,
    started: float,
) -> ImportSummary:
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

    read = 0
    writer: _BatchWriter | None = None
    given_batch_size = batch_size
    if batch_size is None:
        batch_size = COLUMN_BATCH_SIZE if importer.columnar else BATCH_SIZE

    # The records of a batch are thousands of acyclic dicts: the cyclic garbage collector would
    # walk them again and again for nothing (a third of the time of a large import).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    ahead: Labeller | None = None
    try:
        with store.bulk_writes():
            staged = None
            if copies is not None:
                staged, ahead = _stage(store, copies, account, config, classify)
                copies.close()  # read: the copies and their folder go now
            writer = _BatchWriter(
                store, key, where, importer.kind, resume_from, queue_size=0 if staged else 1
            )
            try:
                if staged is not None:
                    size = given_batch_size or STAGED_BATCH_SIZE
                    read = _import_staged(staged, writer, size, resume_from, on_progress)
                    summary.posts = read
                    if ahead is not None:
                        # labels the export while the writer saves it, and has the writer
                        # save the labels too, once it has saved the posts
                        ahead.run(writer)
                elif importer.columnar:
                    read = _import_columns(importer, writer, batch_size, resume_from, on_progress)
                    summary.posts = read
                else:
                    read = _import_items(
                        importer, writer, batch_size, resume_from, on_progress, summary
                    )
            finally:
                writer.close()  # waits for the batches handed over: they are whole and valid
    except ImportFormatError as exc:
        if writer is not None and writer.committed:
            raise ImportFormatError(
                f"{exc}; the first {writer.committed} items of the export were saved and are "
                "valid, nothing was lost: run the same import again once the file is fixed"
            ) from None
        raise
    except BaseException:
        if gc_was_enabled:
            gc.enable()
        raise
    finally:
        store.drop_stage()
    try:
        if on_progress is not None:
            on_progress(read)
        assert writer is not None
        totals = writer.totals
        summary.read = read
        summary.new = totals.new
        summary.updated = totals.updated
        summary.skipped = totals.unchanged + min(resume_from, read)
        if classify:
            _label(store, config, summary, ahead, writer)
    finally:
        # The collector comes back only once what the import made is gone: the first
        # allocation after gc.enable() walks everything allocated (and still alive) since
        # gc.disable() (a hundred thousand labels held: about 0.05 s)
        ahead = None
        if gc_was_enabled:
            gc.enable()
    summary.seconds = time.perf_counter() - started
    return summary


def _import_items(
    importer: Importer,
    writer: _BatchWriter,
    batch_size: int,
    resume_from: int,
    on_progress: ProgressCallback | None,
    summary: ImportSummary,
) -> int:
    """Hand the records of ``iter_items`` to the writer in batches; the number read."""
    posts: list[Post] = []
    mentions: list[Mention] = []
    read = 0
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
            writer.submit(posts, mentions, read, finished=False)
            posts, mentions = [], []
        if on_progress is not None and read % PROGRESS_EVERY == 0:
            on_progress(read)
    writer.submit(posts, mentions, read, finished=True)
    return read


def _import_columns(
    importer: Importer,
    writer: _BatchWriter,
    batch_size: int,
    resume_from: int,
    on_progress: ProgressCallback | None,
) -> int:
    """Hand the batches of ``iter_post_columns`` to the writer; the number of posts read.
    Progress is told for every ``PROGRESS_EVERY`` posts of a batch once it has been read."""
    read = 0
    for batch in importer.iter_post_columns(batch_size):
        start, read = read, read + batch.count
        _tell_progress(on_progress, start, read)
        if read <= resume_from:
            continue
        if start < resume_from:
            batch = batch.tail(resume_from - start)
        writer.submit(batch, [], read, finished=False)
        del batch  # only the writer holds it now: freed once committed
    writer.submit([], [], read, finished=True)
    return read


def _tell_progress(on_progress: ProgressCallback | None, start: int, read: int) -> None:
    """Progress for every ``PROGRESS_EVERY`` posts of a batch (posts ``start`` to ``read``)
    once it has been read."""
    if on_progress is not None:
        for n in range(start - start % PROGRESS_EVERY + PROGRESS_EVERY, read + 1, PROGRESS_EVERY):
            on_progress(n)


class _Stopped(Exception):
    """Raised inside ``XArchiveImporter.stage_copies`` to stop a ``PostsCopy``."""


class PostsCopy:
    """An X archive's posts files being copied in parts (``XArchiveImporter.stage_copies``) on
    a thread of its own, into a temporary folder beside the database (not /tmp, often a RAM
    disk), for the store to read each part as soon as it is written (``_stage_export``).

    ``engage import`` starts it (``copy_ahead``) before it loads DuckDB and opens the database,
    so that decompressing the archive and loading the libraries run side by side; ``run_import``
    starts one itself when it is given none. ``close`` stops the copy at the next part and
    removes the folder with what is in it; it may be called any number of times."""

    def __init__(self, importer: XArchiveImporter, beside: Path) -> None:
        self.importer = importer
        try:
            beside.mkdir(parents=True, exist_ok=True)
            self._tmp = tempfile.TemporaryDirectory(prefix=".engage-import-", dir=beside)
        except OSError as exc:
            raise StoreError(
                f"cannot write in {beside}, the database's folder, where the import copies the "
                f"archive's posts files for a moment: {exc.strerror or exc}; choose another "
                "database with --db or ENGAGE_DB"
            ) from None
        self.folder = Path(self._tmp.name)
        self._parts: queue.Queue[StagedPart | None] = queue.Queue()
        self._written: list[list[StagedPart] | None] = []
        self._failure: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._copy, name="engage-copy", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        try:
            self._written.append(
                self.importer.stage_copies(self.folder, self._put, STAGE_PART_BYTES)
            )
        except _Stopped:
            pass
        except OSError as exc:  # raised again by result(), in the importing thread
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                self._failure.append(exc)
            else:
                self._failure.append(
                    StoreError(
                        f"no room to copy the archive's posts files into {self.folder.parent}, "
                        f"the database's folder: {exc.strerror}; free about "
                        f"{_posts_mb(self.importer)} MB there, or choose another database "
                        "with --db or ENGAGE_DB"
                    )
                )
        except BaseException as exc:
            self._failure.append(exc)
        finally:
            self._parts.put(None)

    def _put(self, part: StagedPart) -> None:
        if self._stop.is_set():
            raise _Stopped
        self._parts.put(part)

    def parts(self) -> Iterator[StagedPart]:
        """Each part as soon as it is written, until the copy ends (once)."""
        while (part := self._parts.get()) is not None:
            yield part

    def result(self) -> list[StagedPart] | None:
        """Wait for the copy to end: the parts written, or None for a posts file of unusual
        framing (see ``stage_copies``); raises what the copy raised."""
        self._thread.join()
        if self._failure:
            raise self._failure[0]
        return self._written[0] if self._written else None

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._tmp.cleanup()


def _posts_mb(importer: XArchiveImporter) -> int:
    """The size of the archive's posts files unpacked, in MB (rounded up; 0 if unknown)."""
    try:
        return -(-importer.posts_bytes() // 1_000_000)
    except Exception:  # (only for the message of another error)
        return 0


def copy_ahead(importer: Importer, beside: Path) -> PostsCopy | None:
    """Start copying the posts files of ``importer`` beside the database at ``beside`` if its
    import reads copies of them (an X archive), for ``run_import(..., copies=...)``."""
    return PostsCopy(importer, beside) if isinstance(importer, XArchiveImporter) else None


def _stage(
    store: Store,
    copies: PostsCopy,
    account: str,
    config: Config | None,
    classify: bool,
) -> tuple[int | None, Labeller | None]:
    """Have the store parse the export (``Store.stage_x_tweets``): the number of posts staged,
    or None if the store's reader does not take it (the streaming reader imports it then).
    Meanwhile the classifier is loaded; when the database has neither posts of the account
    nor any of the export's posts, and the export repeats no post, the labeller that will label
    the staged posts is returned too."""
    labeller = Labeller(config) if classify else None
    with ThreadPoolExecutor(1, thread_name_prefix="engage-stage") as pool:
        job = pool.submit(_stage_export, store, copies, account)
        if labeller is not None:
            labeller.prepare()  # Python work, while DuckDB parses without the global lock
        import pyarrow  # noqa: F401  (the end of the staging needs it: loaded meanwhile)

        staged = job.result()
    if staged is None or labeller is None:
        return staged, None
    if store.count_account_posts(copies.importer.platform, account) or not store.staged_all_new():
        # labels depend on the stored posts (the account's history, what a stored post becomes
        # when merged with the export's copy): label after the import, from the database
        return staged, None
    labeller.account = (copies.importer.platform, account)
    labeller.store = store  # the staged posts are read in run(), while the writer saves them
    return staged, labeller


def _stage_export(store: Store, copies: PostsCopy, account: str) -> int | None:
    from engage.store import StagedImportRejected

    # the store reads each part on a thread of its own as soon as it is copied (decompressing
    # and parsing side by side)
    try:
        count = store.stage_x_tweets(copies.parts(), account)
    except StagedImportRejected as exc:
        count = None
        log.debug(
            "staged reading of %s declined (%s): reading it in Python", copies.importer.path, exc
        )
    try:
        written = copies.result()
    except BaseException:
        store.drop_stage()
        raise
    if written is None:
        store.drop_stage()
        return None  # a file of unusual framing: the streaming reader says what is wrong
    for part in written:
        part.path.unlink()  # staged: the disk space can go now
    if count is None:
        return None
    store.set_staged_apps(x_archive.app_names(store.staged_app_sources()))
    odd = store.staged_odd_tweets()
    if odd:
        converted = x_archive.odd_tweets_to_columns(odd, account)
        if converted is None:
            store.drop_stage()
            return None
        numbers, columns = converted
        store.replace_staged_tweets(numbers, PostColumns(columns, len(numbers)))
    return count


def _import_staged(
    count: int,
    writer: _BatchWriter,
    batch_size: int,
    resume_from: int,
    on_progress: ProgressCallback | None,
) -> int:
    """Hand the staged posts to the writer in batches (``batch_size`` apart, as the other
    paths cut them); the number of posts read."""
    from engage.store import StagedRange

    for start in range(0, count, batch_size):
        read = min(start + batch_size, count)
        _tell_progress(on_progress, start, read)
        if read <= resume_from:
            continue
        writer.submit(StagedRange(max(start, resume_from) + 1, read), [], read, finished=False)
    writer.submit([], [], count, finished=True)
    return count


class Labeller:
    """Labels an export's posts while the import saves them (see ``_stage``)."""

    def __init__(self, config: Config | None) -> None:
        self.config = config
        self.account: tuple[str, str] | None = None
        self.store: Store | None = None
        self._model: Any = None
        self._settings: Any = None
        #: the staged posts' ids and, in their order, the labels, confidences and reasons
        self.post_ids: list[str] = []
        self.labels: list[str] = []
        self.confidences: list[float] = []
        self.reasons: list[str] = []
        self.done = False

    def prepare(self) -> None:
        from engage import classify  # imported here: scikit-learn is slow to import

        try:
            self._model = classify.active_model()
        except ModelError:
            return  # reported by the labelling step after the import
        self._settings = classify.settings_from_config(self.config)

    def run(self, writer: _BatchWriter | None = None) -> None:
        """Label the staged posts. With ``writer`` (the import's, once every batch of posts
        is handed to it), have it count the posts needing labels as soon as it has saved the
        posts, and hand it each slice of labels as it comes, to save while the next slice is
        labelled (``_BatchWriter.save_labels_ahead``)."""
        from engage import classify

        if self._model is None or self.store is None or self.account is None:
            return
        table = self.store.staged_feature_table()
        self.post_ids, fields = classify.feature_fields(table)
        del table  # the Arrow columns are not needed while the posts are labelled
        if writer is not None:
            writer.count_needing_labels(self.account, self._model.version, self.post_ids)
        for labels, confidences, reasons in classify.prediction_columns(
            fields, model=self._model, settings=self._settings, size=AHEAD_LABEL_SLICE
        ):
            if writer is not None:
                writer.save_labels_ahead(len(self.labels), labels, confidences, reasons)
            self.labels += labels
            self.confidences += confidences
            self.reasons += reasons
        self.done = True

    def result(self) -> Precomputed | None:
        """The labels as ``label_new_posts`` takes them, if the posts were labelled."""
        from engage.classify import Prediction

        if not self.done or self.account is None:
            return None
        rows = zip(self.labels, self.confidences, self.reasons, strict=True)
        return {self.account: (self.post_ids, [Prediction(*row) for row in rows])}


@dataclass
class _CountNeeding:
    """Count the posts needing labels of a model version, the account's ``post_ids`` being
    labelled ahead (``count_needing_labels``)."""

    account: tuple[str, str]
    model_version: str
    post_ids: list[str]


@dataclass
class _AheadLabels:
    """A slice of the labels made ahead, from the post ``first`` of the ids counted with
    (``_CountNeeding``), for the writer to save (``save_labels_ahead``)."""

    first: int
    labels: list[str]
    confidences: list[float]
    reasons: list[str]


class _BatchWriter:
    """Commits batches on a thread of its own while the next batch is being parsed.

    DuckDB does its work without holding Python's global lock, so saving one batch and reading
    the next run side by side. Batches are committed strictly in order, each with the progress
    that counts it; at most one waits in the queue, which bounds the memory. Only this thread
    touches the store while the import runs.
    """

    def __init__(
        self,
        store: Store,
        key: str,
        where: str,
        kind: str,
        resume_from: int,
        *,
        queue_size: int = 1,
    ) -> None:
        from engage.store import UpsertResult

        self._store = store
        self._args = (key, where, kind)
        # batches of records wait one at a time (memory); staged ranges are tiny: all may wait
        self._queue: queue.Queue[
            tuple[list[Post] | PostColumns | StagedRange, list[Mention], int, bool]
            | _CountNeeding
            | _AheadLabels
            | None
        ] = queue.Queue(maxsize=queue_size)
        self.totals: UpsertResult = UpsertResult()
        self.committed = resume_from
        #: the posts needing labels, counted (with the ids labelled ahead) once the posts were
        #: saved, and how many labels made ahead were saved (see save_labels_ahead)
        self.needing: dict[tuple[str, str], tuple[int, int, int]] | None = None
        self.saved_ahead = 0
        # what the labels made ahead are of, if they are saved (see _CountNeeding)
        self._ahead: _CountNeeding | None = None
        self._error: BaseException | None = None  # raised once in the importing thread
        self._failed = False  # stays set: later batches must never be committed
        self._thread = threading.Thread(target=self._run, name="engage-import-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if self._failed:
                continue  # after a failure nothing more is written: no gap can follow it
            if isinstance(job, (_CountNeeding, _AheadLabels)):
                try:
                    if isinstance(job, _CountNeeding):
                        self._count_needing(job)
                    else:
                        self._save_ahead(job)
                except BaseException as exc:
                    self._failed = True
                    self._error = exc
                continue
            posts, mentions, items_done, finished = job
            del job  # the batch must not outlive its commit while the next one is awaited
            try:
                result = self._store.commit_import_batch(
                    *self._args, posts, mentions, items_done, finished
                )
                del posts, mentions
            except BaseException as exc:
                self._failed = True
                self._error = exc
                continue
            self.totals = self.totals + result
            self.committed = items_done
            if finished:
                # write what the import logged into the database file now, on this thread
                # (while the posts may still be labelled), not in the next commit after it
                self._store.checkpoint()

    def _count_needing(self, job: _CountNeeding) -> None:
        # the posts are saved: count those needing labels, as label_new_posts would after the
        # import, the staged ones being labelled ahead; the labels are saved only if it would
        # save them as they are
        from engage.classify import saves_ahead_as_they_are

        self.needing = self._store.count_posts_needing_labels_staged(job.model_version)
        if saves_ahead_as_they_are(self.needing, job.account, job.post_ids):
            self._ahead = job

    def _save_ahead(self, job: _AheadLabels) -> None:
        ahead = self._ahead
        if ahead is None:
            return
        end = job.first + len(job.labels)
        self.saved_ahead += self._store.save_label_columns(
            ahead.account[0],
            ahead.post_ids[job.first : end],
            job.labels,
            job.confidences,
            job.reasons,
            ahead.model_version,
            replace=False,  # none of them has a label (saves_ahead_as_they_are)
        )

    def count_needing_labels(
        self, account: tuple[str, str], model_version: str, post_ids: list[str]
    ) -> None:
        """Count the posts needing labels of ``model_version`` (``needing``) once the batches
        handed over so far are saved, the staged posts (``post_ids`` of ``account``) being
        labelled ahead."""
        self._raise_error()
        self._queue.put(_CountNeeding(account, model_version, post_ids))

    def save_labels_ahead(
        self, first: int, labels: list[str], confidences: list[float], reasons: list[str]
    ) -> None:
        """Save a slice of the labels of the posts counted with (``count_needing_labels``),
        from the post ``first``, after the batches handed over so far, if ``label_new_posts``
        would save them as they are given that count, which it is then told."""
        self._raise_error()
        self._queue.put(_AheadLabels(first, labels, confidences, reasons))

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def submit(
        self,
        posts: list[Post] | PostColumns | StagedRange,
        mentions: list[Mention],
        items_done: int,
        *,
        finished: bool,
    ) -> None:
        self._raise_error()
        self._queue.put((posts, mentions, items_done, finished))

    def close(self) -> None:
        """Wait until every batch handed over is committed; raise the writer's error, if any."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._raise_error()


def _label(
    store: Store,
    config: Config | None,
    summary: ImportSummary,
    ahead: Labeller | None,
    writer: _BatchWriter,
) -> None:
    """Label the posts that have no label yet, once, after the whole import: the labels made
    ahead (``ahead``) are used, or were saved already by the import's writer."""
    from engage import classify  # imported here: scikit-learn is slow to import
    from engage.vocab import LABELS

    if config is None:
        from engage.config import load_config

        config = load_config()
    counts: Counter[str] = Counter()
    precomputed: Precomputed | None = None
    needing = writer.needing
    if ahead is None or not ahead.done or needing is None:
        precomputed = ahead.result() if ahead is not None else None
        needing = None  # counted after the import, with the ids of what was labelled ahead
    elif writer.saved_ahead == len(ahead.post_ids):
        # the writer saved them: only other accounts' posts may be left (counted before)
        counts.update(ahead.labels)
        needing = {key: n for key, n in needing.items() if key != ahead.account}
    else:
        precomputed = ahead.result()  # the writer's count was made with these ids
    try:
        counts.update(classify.label_new_posts(store, config, precomputed, needing=needing))
    except ModelError as exc:
        summary.label_failed = True
        summary.label_note = f"saved but not labelled: {exc}"
        return
    summary.labels = {label: counts[label] for label in LABELS if counts[label]}
