"""``engage fetch``: bring every configured account up to date, page by page.

For each account the platform's connector yields pages of the user's own posts and of the posts
that mention them. Every page is committed with its stream cursor in one transaction
(``Store.commit_page``), opening the database only for that short write, so ``engage nudge`` and
the dashboard can read between pages and an interrupted fetch resumes exactly where it stopped.
Refreshed tokens or sessions (``Connector.updated_secrets``) go back to the credentials file.
Afterwards the new posts are labelled by the classifier.

One account failing (rate limited past the wait, token revoked) does not stop the others; the
report carries its one-line error and the CLI exits with that error's code once the summary is
shown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from connectors.base import AccountInfo, Connector, FetchSettings, Page, discover_connectors
from engage import credentials
from engage.config import Config
from engage.errors import (
    ConnectorError,
    CredentialsError,
    EngageError,
    ReadCapReached,
    UsageError,
)

if TYPE_CHECKING:
    from engage.store import Store


def open_store(path: Path, *, lock_timeout: float) -> Store:
    """``engage.store.open_store``, imported when a fetch first writes: ``engage --help`` and
    the fetch's argument checks do not load DuckDB."""
    from engage.store import open_store as open_

    return open_(path, lock_timeout=lock_timeout)


log = logging.getLogger(__name__)


class FetchProgress(Protocol):
    """What a fetch tells its caller while it runs (the CLI draws progress bars from it)."""

    def account_started(self, account: AccountInfo) -> None: ...

    def page_done(self, account: AccountInfo, stream: str, items: int, new: int) -> None: ...

    def waiting(self, account: AccountInfo, seconds: float, reason: str) -> None: ...

    def account_done(self, result: AccountFetch) -> None: ...


@dataclass
class AccountFetch:
    """What one account's fetch did."""

    name: str
    platform: str
    handle: str
    new_posts: int = 0
    updated_posts: int = 0
    new_mentions: int = 0
    pages: int = 0
    reads: int = 0
    read_cap: int | None = None  # X only: the cap this fetch ran under
    capped: bool = False
    notes: list[str] = field(default_factory=list)
    error: EngageError | None = None


@dataclass
class FetchReport:
    accounts: list[AccountFetch]
    labels: dict[str, int] | None = None  # new labels per label, when the classifier ran
    label_error: EngageError | None = None

    @property
    def new_posts(self) -> int:
        return sum(a.new_posts for a in self.accounts)

    @property
    def new_mentions(self) -> int:
        return sum(a.new_mentions for a in self.accounts)

    @property
    def first_error(self) -> EngageError | None:
        for a in self.accounts:
            if a.error is not None:
                return a.error
        return self.label_error


def fetch_settings(
    config: Config,
    *,
    max_reads: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> FetchSettings:
    """The ``[fetch]`` config section (and a ``--max-reads`` override) as ``FetchSettings``."""
    if max_reads is not None and max_reads < 1:
        raise UsageError(f"--max-reads must be at least 1, not {max_reads}")
    return FetchSettings(
        max_retries=int(config.get("fetch", "max_retries")),
        max_rate_limit_wait=float(config.get("fetch", "max_rate_limit_wait_seconds")),
        x_max_reads=int(max_reads if max_reads is not None else config.get("fetch", "x_max_reads")),
        sleep=sleep,
        clock=clock,
    )


def _stamp(page: Page, now: datetime) -> None:
    for p in page.posts:
        if p.fetched_at is None:
            p.fetched_at = now
    for m in page.mentions:
        if m.fetched_at is None:
            m.fetched_at = now


def fetch_accounts(
    db_path: Path,
    config: Config,
    *,
    account: str | None = None,
    since: datetime | None = None,
    settings: FetchSettings | None = None,
    progress: FetchProgress | None = None,
    connectors: Mapping[str, type[Connector]] | None = None,
    label: bool = True,
) -> FetchReport:
    """Fetch every configured account (or only ``account``) and label what is new."""
    lock_timeout = config.lock_timeout
    settings = settings or fetch_settings(config)
    with open_store(db_path, lock_timeout=lock_timeout) as store:
        accounts = store.list_accounts()
    if account is not None:
        accounts = [a for a in accounts if a.name == account]
        if not accounts:
            raise UsageError(
                f"no account named {account!r}; 'engage account list' shows the configured ones"
            )
    if not accounts:
        raise UsageError(
            "no accounts configured yet: add one with 'engage account add mastodon --instance "
            "URL', 'engage account add bluesky --handle NAME' or 'engage account add x "
            "--username NAME'"
        )
    found = dict(connectors) if connectors is not None else discover_connectors()
    results: list[AccountFetch] = []
    for acc in accounts:
        result = AccountFetch(acc.name, acc.platform, acc.handle)
        if acc.platform == "x":
            result.read_cap = settings.x_max_reads
        if progress is not None:
            progress.account_started(acc)
        try:
            _fetch_one(db_path, lock_timeout, acc, found, settings, since, result, progress)
        except EngageError as exc:
            result.error = exc
            log.info("%s stopped: %s", acc.name, exc.message)
        results.append(result)
        if progress is not None:
            progress.account_done(result)
    report = FetchReport(results)
    if label:
        try:
            with open_store(db_path, lock_timeout=lock_timeout) as store:
                # also after a run that found nothing new: an earlier fetch killed between
                # saving and labelling left its posts unlabelled
                if report.new_posts or store.count_unlabelled_posts():
                    report.labels = _label_new_posts(store, config)
        except EngageError as exc:
            report.label_error = exc
    return report


def _label_new_posts(store: Any, config: Config) -> dict[str, int]:
    from engage.classify import label_new_posts  # lazily: scikit-learn loads only when needed

    return dict(label_new_posts(store, config))


def _fetch_one(
    db_path: Path,
    lock_timeout: float,
    acc: AccountInfo,
    found: Mapping[str, type[Connector]],
    settings: FetchSettings,
    since: datetime | None,
    result: AccountFetch,
    progress: FetchProgress | None,
) -> None:
    cls = found.get(acc.platform)
    if cls is None:
        raise ConnectorError(
            f"{acc.name}: no connector for {acc.platform} is installed; reinstall engage "
            "(pip install -e .) so its entry points are registered"
        )
    stored = credentials.get(acc.name)
    if not stored:
        raise CredentialsError(
            f"{acc.name}: no credentials stored; add the account again with 'engage account "
            f"add {acc.platform} ...' (see 'engage account add --help')"
        )

    def save_secrets(fresh: dict[str, Any]) -> None:
        credentials.update(acc.name, **fresh)

    # refreshed tokens and sessions are saved the moment the connector has them, not only after
    # the fetch: a fetch killed in between would leave a refresh token the platform has spent
    settings = replace(settings, on_secrets=save_secrets)
    if progress is not None:
        outer = settings.on_wait

        def on_wait(seconds: float, reason: str) -> None:
            progress.waiting(acc, seconds, reason)
            if outer is not None:
                outer(seconds, reason)

        settings = replace(settings, on_wait=on_wait)
    connector = cls.from_account(acc, credentials.SecretMap(stored), settings)
    try:
        for stream in connector.streams:
            with open_store(db_path, lock_timeout=lock_timeout) as store:
                cursor = store.get_cursor(acc.name, stream)
            try:
                for page in connector.fetch(stream, cursor, since):
                    _stamp(page, datetime.now(UTC))
                    with (
                        open_store(db_path, lock_timeout=lock_timeout) as store,
                        store.transaction(),  # both calls join this one transaction
                    ):
                        saved_posts = store.commit_page(acc.name, stream, page.posts, [], None)
                        saved_mentions = store.commit_page(
                            acc.name, stream, [], page.mentions, page.cursor
                        )
                    result.pages += 1
                    result.reads += page.reads
                    result.new_posts += saved_posts.new
                    result.updated_posts += saved_posts.updated
                    result.new_mentions += saved_mentions.new
                    if page.note and page.note not in result.notes:
                        result.notes.append(page.note)
                    if progress is not None:
                        progress.page_done(
                            acc,
                            stream,
                            len(page.posts) + len(page.mentions),
                            saved_posts.new + saved_mentions.new,
                        )
            except ReadCapReached as exc:
                result.capped = True
                if exc.message not in result.notes:
                    result.notes.append(exc.message)
    finally:
        fresh = connector.updated_secrets()
        if fresh:
            credentials.update(acc.name, **fresh)
