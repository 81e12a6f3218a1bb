"""Secrets: tokens, app passwords and sessions live only in the 0600 credentials file.

A full fetch of all three platforms runs at debug level (``engage -vv``) against the fakes, with
a rate limit, a server error and a dropped connection injected so the error paths log too; then
every byte engage wrote is searched for every secret the fakes know: stdout, stderr, every log
record (message and traceback), every file under ENGAGE_HOME except credentials.json (the
DuckDB file, the prompt cache, the identities file, the config), and the DuckDB write-ahead log
as it was just before each close."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fetch_helpers import quick_labels  # noqa: F401  (autouse fixture)
from reliability_rigs import bluesky_rig, mastodon_rig, session_tokens, write_config, x_rig
from reliability_support import (
    DROP,
    SleepRecorder,
    rate_limited,
    scan_for_secrets,
    status,
    texts_with_secrets,
)

from engage import credentials, paths


@pytest.fixture
def wal_copies(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The DuckDB write-ahead log's bytes as they are just before every close (DuckDB folds the
    WAL into the database file when it closes, so afterwards it is gone)."""
    import engage.store

    copies: list[bytes] = []
    real_close = engage.store.Store.close

    def close(self: Any) -> None:
        wal = Path(str(self.path) + ".wal")
        if self._con is not None and wal.exists():
            copies.append(wal.read_bytes())
        real_close(self)

    monkeypatch.setattr(engage.store.Store, "close", close)
    return copies


def test_a_debug_fetch_of_every_platform_writes_no_secret_anywhere(
    run_cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    engage_home: Path,
    caplog: pytest.LogCaptureFixture,
    wal_copies: list[bytes],
) -> None:
    import engage.cli.cmd_fetch as cmd_fetch
    import engage.fetch

    real = engage.fetch.fetch_settings
    monkeypatch.setattr(
        cmd_fetch,
        "fetch_settings",
        lambda config, max_reads=None: real(config, max_reads=max_reads, sleep=SleepRecorder()),
    )
    write_config(engage_home, "[fetch]\nmax_retries = 2\n")
    caplog.set_level(logging.DEBUG)
    outputs: list[str] = []
    with (
        mastodon_rig(run_cli) as m,
        x_rig(run_cli, monkeypatch) as x,
        bluesky_rig(run_cli, monkeypatch) as b,
    ):
        m.proxy.inject(m.posts_path, rate_limited("mastodon", 20), nth=1)
        x.proxy.inject(x.posts_path, status(503), nth=1)
        b.proxy.inject(b.posts_path, DROP, nth=1)
        b.proxy.inject(b.mentions_path, status(401, {"error": "InvalidToken"}), every=True)
        for args in (
            ("-vv", "fetch"),  # Bluesky mentions fail: the error path is searched too
            ("-vv", "account", "list"),
            ("-vv", "doctor"),
        ):
            r = run_cli(*args)
            outputs += [r.stdout, r.stderr]
        b.proxy.clear()
        r = run_cli("-vv", "fetch")
        outputs += [r.stdout, r.stderr]
        assert r.exit_code == 0, r.stderr
        r = run_cli("-vv", "export", "--format", "jsonl")
        outputs += [r.stdout, r.stderr]
        assert m.proxy.injected() and x.proxy.injected() and b.proxy.injected() >= 2
        stored = credentials.load_all()
        secrets = {
            *m.secrets,
            *x.secrets,
            *b.secrets,
            *session_tokens(b.fake),
            stored["bluesky:alice.test"]["session_string"],
        }
        assert len(secrets) >= 8
        # the search would find them: they are in the credentials file
        assert scan_for_secrets(engage_home, [m.secrets[0], x.secrets[0]]) == {
            "credentials.json": [m.secrets[0], x.secrets[0]]
        }
        # Bluesky: the app password itself is never stored, only the session
        assert b.fake.app_password not in json.dumps(stored)
        # one login when the account was added; both fetches reused the session
        assert len(b.fake.calls("com.atproto.server.createSession")) == 1

    logs = []
    for rec in caplog.records:
        logs.append(rec.getMessage())
        if rec.exc_info:
            logs.append(logging.Formatter().formatException(rec.exc_info))
    assert len(logs) > 20  # debug logging really ran (SDK and urllib3/httpx records included)
    assert texts_with_secrets(outputs, secrets) == []
    assert texts_with_secrets(logs, secrets) == []
    assert scan_for_secrets(engage_home, secrets, skip={"credentials.json"}) == {}
    assert wal_copies, "no write-ahead log was seen"
    assert [s for s in secrets for w in wal_copies if s.encode() in w] == []
    db = paths.db_path()
    assert db.stat().st_size > 0 and db.name in os.listdir(engage_home)


def test_credentials_file_is_0600_and_doctor_warns_when_it_is_not(
    run_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with mastodon_rig(run_cli, n_posts=3, n_mentions=1):
        path = paths.credentials_path()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        r = run_cli("doctor")
        assert "chmod 600" not in r.stdout + r.stderr
        os.chmod(path, 0o644)
        r = run_cli("doctor")
        text = r.stdout + r.stderr
        warning = [line for line in text.splitlines() if "chmod 600" in line]
        assert len(warning) == 1 and warning[0].startswith("WARN")
        assert "0644" in warning[0] and f"chmod 600 {path}" in warning[0]
        # a warning, not a failed check; the account still shows its credentials as stored
        assert r.exit_code == 0
        assert "mastodon:alice@127.0.0.1" in text and "NO credentials stored" not in text
        assert "mastodon-token-SECRET-1" not in text
        # the next write of the file (a token refresh, a new account) makes it 0600 again
        credentials.update("mastodon:alice@127.0.0.1", note="x")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_secrets_stay_out_of_reprs_and_exception_messages(
    run_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.base import AccountInfo, FetchSettings
    from connectors.mastodon import MastodonConnector
    from connectors.x import XConnector
    from engage.errors import EngageError

    with mastodon_rig(run_cli, n_posts=2, n_mentions=0) as m:
        stored = credentials.SecretMap(credentials.get(m.account))
        assert "SECRET" not in repr(stored) and "SECRET" not in str(stored)
        from engage.store import open_store

        with open_store(paths.db_path()) as store:
            account = store.get_account(m.account)
        assert account is not None
        connector = MastodonConnector.from_account(account, stored, FetchSettings())
        texts = [repr(connector), repr(vars(connector)), repr(account)]
        m.proxy.inject(m.posts_path, status(401), every=True)
        with pytest.raises(EngageError) as caught:
            list(connector.fetch("posts", None))
        texts += [str(caught.value), repr(caught.value), repr(caught.value.__context__)]
        assert texts_with_secrets(texts, m.secrets) == []
    x_account = AccountInfo("x:alice", "x", "alice", user_id="1")
    xc = XConnector.from_account(
        x_account, credentials.SecretMap({"bearer_token": "x-bearer-SECRET-9"}), FetchSettings()
    )
    assert "x-bearer-SECRET-9" not in repr(xc) + repr(xc.client) + repr(xc.updated_secrets())
