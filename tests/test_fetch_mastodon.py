"""Mastodon end to end: account setup and fetches through the real CLI and Mastodon.py against a
fake Mastodon server on 127.0.0.1."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime

import pytest
from fetch_fake_mastodon import ME_ID, FakeMastodon
from fetch_helpers import quick_labels  # noqa: F401  (autouse fixture)

from connectors.base import FetchSettings, Post
from engage import paths
from engage.config import load_config
from engage.fetch import fetch_accounts
from engage.store import open_store

SECRETS = ("mastodon-token-SECRET-1", "client-secret-SECRET-2")


@pytest.fixture
def fm() -> Iterator[FakeMastodon]:
    with FakeMastodon() as server:
        yield server


def _seed(fm: FakeMastodon) -> None:
    first = fm.post(
        'my blog: <a href="https://blog.example/p/1">blog.example/p/1</a>', app="dlvr.it"
    )
    fm.boost("a great thread by bob")
    fm.reply_to("99", "bob", "good question, I think so")
    fm.quote(first, "following up on this")
    fm.post("what do you all use for backups?", app="Ivory")
    fm.mention("thanks for this!", reply_to=first["id"])
    fm.mention("have you seen this, @alice?")


def _add(run_cli, fm: FakeMastodon) -> None:  # type: ignore[no-untyped-def]
    r = run_cli(
        "account", "add", "mastodon", "--instance", fm.base, "--token-stdin", input=fm.token + "\n"
    )
    assert r.exit_code == 0, r.stderr


def _rows() -> tuple[list[Post], list]:  # type: ignore[type-arg]
    with open_store(paths.db_path(), read_only=True) as store:
        posts = [p for batch in store.iter_posts() for p in batch]
        mentions = store.iter_mentions()
    return posts, mentions


def _no_secrets_anywhere(*texts: str) -> None:
    for text in texts:
        for s in SECRETS:
            assert s not in text
    with open_store(paths.db_path(), read_only=True) as store:
        dumped = json.dumps([asdict(a) for a in store.list_accounts()], default=str)
        dumped += json.dumps(
            [
                store.get_cursor(a.name, s)
                for a in store.list_accounts()
                for s in ("posts", "mentions")
            ]
        )
        dumped += json.dumps([p.raw for b in store.iter_posts() for p in b], default=str)
    for s in SECRETS:
        assert s not in dumped


def test_oauth_code_flow_registers_the_app_and_keeps_the_token_only_in_the_credentials_file(
    run_cli, fm: FakeMastodon
) -> None:
    r = run_cli("-vv", "account", "add", "mastodon", "--instance", fm.base, input="good-code\n")
    assert r.exit_code == 0, r.stderr
    assert fm.apps[0]["client_name"] == "engage"
    assert fm.apps[0]["scopes"] == "read"
    assert fm.apps[0]["redirect_uris"] == "urn:ietf:wg:oauth:2.0:oob"
    assert f"{fm.base}/oauth/authorize?client_id=client-id-abc" in r.stderr
    assert "scope=read" in r.stderr
    assert "mastodon:alice@127.0.0.1" in r.stdout
    cred = paths.credentials_path()
    assert stat.S_IMODE(cred.stat().st_mode) == 0o600
    stored = json.loads(cred.read_text())["mastodon:alice@127.0.0.1"]
    assert stored["access_token"] == "mastodon-token-SECRET-1"
    assert stored["client_secret"] == "client-secret-SECRET-2"
    _no_secrets_anywhere(r.stdout, r.stderr)
    listed = run_cli("account", "list")
    assert listed.exit_code == 0
    assert "mastodon:alice@127.0.0.1  mastodon  alice@127.0.0.1 at " + fm.base in listed.stdout
    _no_secrets_anywhere(listed.stdout, listed.stderr)


def test_a_refused_code_saves_nothing_and_says_so_in_one_line(run_cli, fm: FakeMastodon) -> None:
    r = run_cli("account", "add", "mastodon", "--instance", fm.base, input="wrong-code\n")
    assert r.exit_code == 4
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("engage: error: ") and "did not accept the authorization code" in last
    assert "Traceback" not in r.stderr
    assert (
        not paths.credentials_path().exists()
        or "mastodon" not in paths.credentials_path().read_text()
    )
    assert "no accounts yet" in run_cli("account", "list").stdout


def test_token_from_stdin_then_list_and_remove(run_cli, fm: FakeMastodon) -> None:
    r = run_cli(
        "account",
        "add",
        "mastodon",
        "--instance",
        fm.base,
        "--token-stdin",
        "--name",
        "work",
        input=fm.token + "\n",
    )
    assert r.exit_code == 0, r.stderr
    again = run_cli(
        "account",
        "add",
        "mastodon",
        "--instance",
        fm.base,
        "--token-stdin",
        "--name",
        "work",
        input=fm.token + "\n",
    )
    assert again.exit_code == 2 and "exists already" in again.stderr
    bad = run_cli(
        "account",
        "add",
        "mastodon",
        "--instance",
        fm.base,
        "--token-stdin",
        "--name",
        "home",
        input="nope\n",
    )
    assert bad.exit_code == 4 and "refused the access token" in bad.stderr
    _seed(fm)
    assert run_cli("fetch").exit_code == 0
    removed = run_cli("account", "remove", "work")
    assert removed.exit_code == 0 and "posts stay" in removed.stdout
    assert "work" not in json.loads(paths.credentials_path().read_text())
    assert len(_rows()[0]) == 5  # the history stays
    assert run_cli("account", "remove", "work").exit_code == 2


def test_first_fetch_stores_every_kind_with_app_and_mentions(run_cli, fm: FakeMastodon) -> None:
    _seed(fm)
    _add(run_cli, fm)
    r = run_cli("-vv", "fetch")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[0] == "mastodon:alice@127.0.0.1  5 new posts, 2 new mentions"
    posts, mentions = _rows()
    by_id = {p.post_id: p for p in posts}
    assert set(by_id) == {s["id"] for s in fm.statuses}
    kinds = [by_id[s["id"]].kind for s in fm.statuses]
    assert kinds == ["post", "repost", "reply", "quote", "post"]
    first = by_id[fm.statuses[0]["id"]]
    assert first.client == "dlvr.it"
    assert first.urls == ["https://blog.example/p/1"]
    assert first.text == "my blog: blog.example/p/1"
    assert first.source == "api" and first.fetched_at is not None
    assert first.raw is not None and first.raw["id"] == first.post_id
    boost = by_id[fm.statuses[1]["id"]]
    assert boost.client is None and boost.reposted_post == fm.statuses[1]["reblog"]["id"]
    assert boost.text == "a great thread by bob"
    reply = by_id[fm.statuses[2]["id"]]
    assert reply.reply_to_post == "99" and reply.reply_to_user == "bob"
    assert by_id[fm.statuses[3]["id"]].quoted_post == first.post_id
    assert by_id[fm.statuses[4]["id"]].client == "Ivory"
    kinds_m = sorted((m.kind, m.reply_to_post) for m in mentions)
    assert kinds_m == [("mention", None), ("reply", first.post_id)]
    assert all(m.author == "bob" and m.account == "alice@127.0.0.1" for m in mentions)
    _no_secrets_anywhere(r.stdout, r.stderr)


def test_second_fetch_is_incremental_and_adds_only_new_posts(run_cli, fm: FakeMastodon) -> None:
    _seed(fm)
    _add(run_cli, fm)
    assert run_cli("fetch").exit_code == 0
    top = fm.statuses[-1]["id"]
    again = run_cli("fetch")
    assert again.stdout.splitlines()[0].endswith("0 new posts, 0 new mentions")
    fm.post("new one")
    fm.boost("and a boost")
    fm.mention("ping")
    n_requests = len(fm.server.requests)  # type: ignore[union-attr]
    r = run_cli("fetch")
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0].endswith("2 new posts, 1 new mention")
    posts, mentions = _rows()
    assert len(posts) == 7 and len({p.post_id for p in posts}) == 7
    assert len(mentions) == 3
    status_requests = [q for q in fm.server.requests[n_requests:] if q.path.endswith("/statuses")]  # type: ignore[union-attr]
    assert status_requests[0].arg("since_id") == top  # asks only for what is newer


def test_rate_limit_past_the_wait_stops_cleanly_and_the_next_fetch_resumes(
    run_cli, fm: FakeMastodon
) -> None:
    for i in range(90):
        fm.post(f"post number {i}")
    _add(run_cli, fm)
    fm.rate_limit_next(reset_in=3600, after=1)  # the second page is refused for an hour
    r = run_cli("fetch")
    assert r.exit_code == 4
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "rate limited until" in err[0] and "resumes" in err[0]
    assert "40 new posts" in r.stdout
    assert len(_rows()[0]) == 40
    r2 = run_cli("fetch")
    assert r2.exit_code == 0, r2.stderr
    assert r2.stdout.splitlines()[0].endswith("50 new posts, 0 new mentions")
    posts = _rows()[0]
    assert sorted(p.post_id for p in posts) == sorted(s["id"] for s in fm.statuses)
    resumed = [q for q in fm.server.requests if q.path.endswith("/statuses")]  # type: ignore[union-attr]
    assert resumed[2].arg("max_id") == posts[50].post_id  # the oldest of the first page


def test_a_short_rate_limit_is_waited_out_with_the_injected_sleep(
    run_cli, fm: FakeMastodon
) -> None:
    for i in range(50):
        fm.post(f"post {i}")
    _add(run_cli, fm)
    fm.rate_limit_next(reset_in=30, after=1)
    slept: list[float] = []
    config = load_config()
    report = fetch_accounts(
        paths.db_path(), config, settings=FetchSettings(sleep=slept.append), label=False
    )
    assert report.first_error is None
    assert report.accounts[0].new_posts == 50
    assert len(slept) == 1 and 25 <= slept[0] <= 32


def test_fetch_after_an_archive_import_adds_no_duplicates_and_keeps_what_the_archive_knew(
    run_cli, fm: FakeMastodon
) -> None:
    for i in range(6):
        fm.post(f"post {i}", app="Web")
    _add(run_cli, fm)
    imported = [
        Post(
            platform="mastodon",
            account="alice@127.0.0.1",
            post_id=s["id"],  # the archive's id: the last path part of the Note's id URL
            created_at=datetime.fromisoformat(s["created_at"].replace("Z", "+00:00")),
            text=f"post {i}",
            url=s["url"],
            source="archive:outbox.json",
            lang="en",
        )
        for i, s in enumerate(fm.statuses[:4])
    ]
    with open_store(paths.db_path()) as store:
        assert store.upsert_posts(imported).new == 4
    r = run_cli("fetch")
    assert r.exit_code == 0
    # the four imported posts gain the posting app the archive lacks
    assert r.stdout.splitlines()[0].endswith("2 new posts, 0 new mentions, 4 updated")
    posts = _rows()[0]
    assert sorted(p.post_id for p in posts) == sorted(s["id"] for s in fm.statuses)
    assert all(p.client == "Web" for p in posts)  # the API adds the app the archive lacks


def test_since_limits_the_first_fetch_and_an_earlier_since_fetches_the_older_posts(
    run_cli, fm: FakeMastodon
) -> None:
    for i in range(10):
        fm.post(f"post {i}")  # 7 minutes apart from 2026-03-01 09:00 UTC
    _add(run_cli, fm)
    r = run_cli("fetch", "--since", "2026-03-01T09:30:00Z")
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0].endswith("5 new posts, 0 new mentions")
    r = run_cli("fetch", "--since", "2026-03-01")
    assert r.stdout.splitlines()[0].endswith("5 new posts, 0 new mentions")
    assert len(_rows()[0]) == 10
    assert run_cli("fetch", "--since", "yesterday").exit_code == 2


def test_a_revoked_token_is_an_auth_error_that_says_what_to_do(run_cli, fm: FakeMastodon) -> None:
    _seed(fm)
    _add(run_cli, fm)
    fm.token = "rotated"
    r = run_cli("fetch")
    assert r.exit_code == 4
    assert "refused the credentials" in r.stderr and "engage account add" in r.stderr
    _no_secrets_anywhere(r.stdout, r.stderr)


def test_fetch_without_accounts_or_with_an_unknown_one(run_cli, fm: FakeMastodon) -> None:
    r = run_cli("fetch")
    assert r.exit_code == 2 and "no accounts configured" in r.stderr
    _add(run_cli, fm)
    r = run_cli("fetch", "--account", "nobody")
    assert r.exit_code == 2 and "no account named 'nobody'" in r.stderr


def test_the_user_id_comes_from_the_token_owner(run_cli, fm: FakeMastodon) -> None:
    _add(run_cli, fm)
    with open_store(paths.db_path(), read_only=True) as store:
        (acc,) = store.list_accounts()
    assert acc.user_id == ME_ID and acc.base_url == fm.base and acc.handle == "alice@127.0.0.1"


def test_progress_is_told_about_pages_and_the_rich_bars_run(run_cli, fm: FakeMastodon) -> None:
    from engage.cli.cmd_fetch import _RichProgress

    _seed(fm)
    _add(run_cli, fm)
    with _RichProgress() as progress:
        report = fetch_accounts(paths.db_path(), load_config(), progress=progress, label=False)
    assert report.accounts[0].new_posts == 5
    assert progress.counts["mastodon:alice@127.0.0.1"] == [7, 7]  # 5 posts + 2 mentions, all new
