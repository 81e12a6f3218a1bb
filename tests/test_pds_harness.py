"""Tests of the real-PDS harness (tests/pds_support.py) and of what the atproto SDK can do against
the official Bluesky PDS when there is no AppView. See tests/pds/README.md.

The first run installs Node 22 and the PDS (about 2.5 minutes, see tests/pds/setup.sh); after
that this file takes about 25 s (four PDS start-ups of about 3 s each).
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import signal
import threading
from pathlib import Path

import pytest
from atproto import CAR, Client, models
from atproto.exceptions import AtProtocolError, BadRequestError
from atproto_client.namespaces.sync_ns import ComAtprotoServerNamespace
from atproto_client.utils import TextBuilder

# pds_server is a session-scoped fixture: importing it here makes pytest use it.
try:
    from pds_support import PdsServer, pds_server, running_pds
except ImportError:  # tests/ became a package
    from tests.pds_support import PdsServer, pds_server, running_pds  # noqa: F401

# The marker is declared in pyproject.toml ("slow: ... real PDS; CI runs them").
pytestmark = pytest.mark.slow

POST = "app.bsky.feed.post"
REPOST = "app.bsky.feed.repost"


def _strong_ref(ref) -> models.ComAtprotoRepoStrongRef.Main:
    return models.ComAtprotoRepoStrongRef.Main(uri=ref.uri, cid=ref.cid)


def _list_records(client: Client, did: str, collection: str) -> list:
    res = client.com.atproto.repo.list_records(
        models.ComAtprotoRepoListRecords.Params(repo=did, collection=collection, limit=100)
    )
    return res.records


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port`` (from /proc, no traffic)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            addr, hexport = fields[1].split(":")
            if fields[3] == "0A" and int(hexport, 16) == port:  # 0A = LISTEN
                if width == 8:
                    found.add(".".join(str(b) for b in reversed(bytes.fromhex(addr))))
                else:
                    found.add(addr)
    return found


@pytest.fixture(scope="module")
def alice(pds_server: PdsServer):
    handle, did, password = pds_server.create_account("alice")
    return handle, did, password


@pytest.fixture(scope="module")
def bob(pds_server: PdsServer):
    handle, did, password = pds_server.create_account("bob")
    return handle, did, password


def test_server_is_up_on_loopback_only(pds_server: PdsServer) -> None:
    assert pds_server.url.startswith("http://127.0.0.1:")
    assert pds_server.plc_url.startswith("http://127.0.0.1:")
    desc = pds_server.xrpc_get("com.atproto.server.describeServer")
    assert desc.status_code == 200, desc.text
    body = desc.json()
    assert body["availableUserDomains"] == [".test"]
    assert body.get("inviteCodeRequired") is False
    for url in (pds_server.url, pds_server.plc_url):
        port = int(url.rsplit(":", 1)[1])
        assert _listening_addresses(port) == {"127.0.0.1"}, url


def test_create_account_gives_test_handle_and_plc_did(pds_server: PdsServer, alice) -> None:
    handle, did, _ = alice
    assert handle.endswith(".test")
    assert did.startswith("did:plc:")
    # The DID is registered in the local PLC directory, pointing at this PDS (127.0.0.1, not localhost).
    import httpx

    doc = httpx.get(f"{pds_server.plc_url}/{did}", timeout=10).json()
    assert f"at://{handle}" in doc["alsoKnownAs"]
    assert doc["service"][0]["serviceEndpoint"] == pds_server.url
    resolved = pds_server.client().com.atproto.identity.resolve_handle(
        models.ComAtprotoIdentityResolveHandle.Params(handle=handle)
    )
    assert resolved.did == did
    # Handles are unique.
    assert pds_server.create_account("alice").handle != handle


def test_post_reply_quote_link_card_facets_repost_round_trip(
    pds_server: PdsServer, alice, bob
) -> None:
    a_handle, a_did, a_pw = alice
    b_handle, b_did, b_pw = bob
    client = Client(base_url=pds_server.url)
    client.login(a_handle, a_pw, fetch_bsky_profile=False)
    assert client.me is None  # nothing fetched: there is no AppView
    assert client._session is not None and client._session.did == a_did

    # Without `me`, send_post needs the repo (profile_identify).
    root = client.send_post("Hello from engage", profile_identify=a_did)
    assert root.uri.startswith(f"at://{a_did}/{POST}/")
    reply = client.send_post(
        "A reply",
        profile_identify=a_did,
        reply_to=models.AppBskyFeedPost.ReplyRef(root=_strong_ref(root), parent=_strong_ref(root)),
    )
    quote = client.send_post(
        "Quoting myself",
        profile_identify=a_did,
        embed=models.AppBskyEmbedRecord.Main(record=_strong_ref(root)),
    )
    link = "https://example.com/article?id=1"
    tb = (
        TextBuilder()
        .text("Read this, ")
        .mention(f"@{b_handle}", b_did)
        .text(" → ")
        .link("the article", link)
    )
    card = client.send_post(
        tb,
        profile_identify=a_did,
        embed=models.AppBskyEmbedExternal.Main(
            external=models.AppBskyEmbedExternal.External(
                uri=link, title="An article", description="Its summary"
            )
        ),
    )

    # Bob posts; Alice reposts it through the record namespace (repost() needs client.me).
    bob_client = pds_server.login(b_handle, b_pw)
    bob_post = bob_client.send_post("Bob's post", profile_identify=b_did)
    repost = client.app.bsky.feed.repost.create(
        a_did,
        models.AppBskyFeedRepost.Record(
            subject=_strong_ref(bob_post), created_at=client.get_current_time_iso()
        ),
    )
    assert repost.uri.startswith(f"at://{a_did}/{REPOST}/")

    # --- read back with com.atproto.repo.listRecords (no AppView needed)
    posts = {r.uri: r for r in _list_records(client, a_did, POST)}
    assert set(posts) == {root.uri, reply.uri, quote.uri, card.uri}
    assert posts[root.uri].cid == root.cid
    assert posts[root.uri].value.text == "Hello from engage"
    assert posts[root.uri].value.langs == ["en"]

    r = posts[reply.uri].value
    assert r.reply.root.uri == root.uri and r.reply.root.cid == root.cid
    assert r.reply.parent.uri == root.uri

    q = posts[quote.uri].value
    assert q.embed.py_type == "app.bsky.embed.record"
    assert q.embed.record.uri == root.uri and q.embed.record.cid == root.cid

    c = posts[card.uri].value
    assert c.text == f"Read this, @{b_handle} → the article"
    assert c.embed.py_type == "app.bsky.embed.external"
    assert c.embed.external.uri == link and c.embed.external.title == "An article"
    text_bytes = c.text.encode("utf-8")  # facets index UTF-8 bytes ("→" is 3 bytes)
    features = {}
    for facet in c.facets:
        span = text_bytes[facet.index.byte_start : facet.index.byte_end].decode("utf-8")
        for feat in facet.features:
            features[feat.py_type] = (
                span,
                getattr(feat, "did", None) or getattr(feat, "uri", None),
            )
    assert features == {
        "app.bsky.richtext.facet#mention": (f"@{b_handle}", b_did),
        "app.bsky.richtext.facet#link": ("the article", link),
    }

    reposts = _list_records(pds_server.client(), a_did, REPOST)  # public: no session needed
    assert [x.uri for x in reposts] == [repost.uri]
    assert reposts[0].value.subject.uri == bob_post.uri
    assert reposts[0].value.subject.cid == bob_post.cid

    # getRecord works too, also without a session.
    got = pds_server.client().com.atproto.repo.get_record(
        models.ComAtprotoRepoGetRecord.Params(
            repo=a_handle, collection=POST, rkey=quote.uri.rsplit("/", 1)[1]
        )
    )
    assert got.cid == quote.cid

    # --- the whole repo as a CAR file (com.atproto.sync.getRepo)
    car_bytes = client.com.atproto.sync.get_repo(models.ComAtprotoSyncGetRepo.Params(did=a_did))
    assert isinstance(car_bytes, bytes)
    car = CAR.from_bytes(car_bytes)
    commit = car.blocks[car.root]
    assert commit["did"] == a_did
    by_cid = {str(cid): block for cid, block in car.blocks.items()}
    for ref, text in ((root, "Hello from engage"), (reply, "A reply"), (quote, "Quoting myself")):
        assert by_cid[ref.cid]["$type"] == POST
        assert by_cid[ref.cid]["text"] == text
    assert by_cid[card.cid]["embed"]["$type"] == "app.bsky.embed.external"
    assert by_cid[repost.cid]["$type"] == REPOST
    assert by_cid[repost.cid]["subject"]["uri"] == bob_post.uri
    # Bob's post is in Bob's repo, not Alice's.
    assert bob_post.cid not in by_cid


def test_exported_session_string_is_reused_without_create_session(
    pds_server: PdsServer, alice, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle, did, password = alice
    first = pds_server.login(handle, password)
    session_string = first.export_session_string()
    assert pds_server.url in session_string  # the PDS endpoint travels with the session

    def no_create_session(*_a, **_k):
        raise AssertionError("createSession was called: the session was not reused")

    monkeypatch.setattr(ComAtprotoServerNamespace, "create_session", no_create_session)
    # No base_url at all: the client takes the PDS endpoint from the session string.
    second = Client()
    second.login(session_string=session_string, fetch_bsky_profile=False)
    assert second._base_url == f"{pds_server.url}/xrpc"
    me = second.com.atproto.server.get_session()
    assert me.did == did and me.handle == handle
    assert second.export_session_string() == session_string  # same tokens, nothing refreshed
    post = second.send_post("Posted with a reused session", profile_identify=did)
    got = second.com.atproto.repo.get_record(
        models.ComAtprotoRepoGetRecord.Params(
            repo=did, collection=POST, rkey=post.uri.rsplit("/", 1)[1]
        )
    )
    assert got.value.text == "Posted with a reused session"

    # A refresh (what the SDK does when the access token is near expiry) works here too and
    # changes the tokens; the old refresh token is then spent.
    changes = []
    second.on_session_change(lambda event, session: changes.append(event))
    second._refresh_and_set_session()
    assert changes and second.export_session_string() != session_string
    assert second.com.atproto.server.get_session().did == did


def test_app_password_login(pds_server: PdsServer, alice) -> None:
    handle, did, password = alice
    app_pw = pds_server.app_password(handle, password, name="engage-test")
    assert len(app_pw) == 19 and app_pw.count("-") == 3  # xxxx-xxxx-xxxx-xxxx
    client = pds_server.login(handle, app_pw)
    post = client.send_post("Posted with an app password", profile_identify=did)
    assert post.uri.startswith(f"at://{did}/{POST}/")
    # The app password is listed on the account ...
    owner = pds_server.login(handle, password)
    names = [p.name for p in owner.com.atproto.server.list_app_passwords().passwords]
    assert "engage-test" in names
    # ... and an app-password session may not manage app passwords.
    with pytest.raises(AtProtocolError):
        client.com.atproto.server.create_app_password(
            models.ComAtprotoServerCreateAppPassword.Data(name="nested")
        )
    # A wrong password is refused.
    with pytest.raises(AtProtocolError) as err:
        pds_server.login(handle, "abcd-efgh-ijkl-mnop")
    assert err.value.response is not None and err.value.response.status_code == 401


def test_app_bsky_reads_fail_without_appview(pds_server: PdsServer, alice) -> None:
    """There is no AppView behind this PDS: it answers every app.bsky.* read (query) with
    400 InvalidRequest "No service configured for <nsid>", including
    app.bsky.notification.listNotifications, app.bsky.actor.getProfile, getAuthorFeed and
    getTimeline. Engage code that reads notifications or profiles must be tested another way.
    (app.bsky.* *records* are written and read through com.atproto.repo.*, which work.)"""
    handle, did, password = alice
    client = pds_server.login(handle, password)
    calls = {
        "app.bsky.notification.listNotifications": lambda: (
            client.app.bsky.notification.list_notifications()
        ),
        "app.bsky.actor.getProfile": lambda: client.get_profile(handle),
        "app.bsky.feed.getAuthorFeed": lambda: client.get_author_feed(did),
        "app.bsky.feed.getTimeline": lambda: client.get_timeline(),
    }
    for nsid, call in calls.items():
        with pytest.raises(BadRequestError) as err:
            call()
        response = err.value.response
        assert response.status_code == 400, nsid
        assert response.content.error == "InvalidRequest", nsid
        assert response.content.message == f"No service configured for {nsid}", nsid

    # So the default login(), which fetches the profile, fails although the password is right.
    with pytest.raises(BadRequestError):
        Client(base_url=pds_server.url).login(handle, password)


class _FakeAppView(http.server.ThreadingHTTPServer):
    """A stand-in AppView on 127.0.0.1 that serves listNotifications and records the requests."""

    def __init__(self, notifications: list) -> None:
        self.notifications = notifications
        self.requests: list[tuple[str, dict]] = []
        super().__init__(("127.0.0.1", 0), _FakeAppViewHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _FakeAppViewHandler(http.server.BaseHTTPRequestHandler):
    server: _FakeAppView

    def do_GET(self) -> None:
        self.server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        if self.path.startswith("/xrpc/app.bsky.notification.listNotifications"):
            status, body = 200, {"notifications": self.server.notifications}
        else:
            status, body = 501, {"error": "MethodNotImplemented", "message": "not in this fake"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


def _jwt_payload(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_fake_appview_behind_the_real_pds(tmp_path: Path) -> None:
    """With ``appview_url`` the PDS proxies app.bsky.* queries to a (fake) AppView, as
    bsky.social does to the real one, and serves getPreferences itself."""
    fake = _FakeAppView([])
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    try:
        with running_pds(
            tmp_path / "fake", appview_url=fake.url, appview_did="did:web:fake-appview.test"
        ) as pds:
            handle, did, password = pds.create_account("carol")
            other_handle, other_did, _ = pds.create_account("dave")
            fake.notifications.append(
                {
                    "uri": f"at://{other_did}/app.bsky.feed.post/3kaaaaaaaaaa2",
                    "cid": "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a",
                    "author": {"did": other_did, "handle": other_handle},
                    "reason": "mention",
                    "record": {
                        "$type": "app.bsky.feed.post",
                        "text": f"hi @{handle}",
                        "createdAt": "2024-01-01T00:00:00.000Z",
                    },
                    "isRead": False,
                    "indexedAt": "2024-01-01T00:00:01.000Z",
                }
            )
            client = pds.login(handle, password)
            res = client.app.bsky.notification.list_notifications()
            assert [n.reason for n in res.notifications] == ["mention"]
            assert res.notifications[0].author.did == other_did
            assert res.notifications[0].record.text == f"hi @{handle}"

            path, headers = fake.requests[-1]
            assert path.startswith("/xrpc/app.bsky.notification.listNotifications")
            claims = _jwt_payload(headers["authorization"].split(" ", 1)[1])
            assert claims["iss"] == did
            assert claims["aud"] == "did:web:fake-appview.test"
            assert claims["lxm"] == "app.bsky.notification.listNotifications"

            # getPreferences is served by the PDS once an AppView is configured.
            prefs = client.app.bsky.actor.get_preferences()
            assert prefs.preferences == []
            # What the fake does not serve fails the way the fake says.
            with pytest.raises(AtProtocolError) as err:
                client.get_profile(handle)
            assert err.value.response.status_code == 501
    finally:
        fake.shutdown()
        fake.server_close()


def test_launcher_stops_on_sigterm_and_on_stdin_close(tmp_path: Path) -> None:
    for how in ("sigterm", "stdin"):
        with running_pds(tmp_path / how) as pds:
            proc = pds.process
            assert proc is not None and proc.poll() is None
            data_dir = Path(pds.data_dir)
            assert data_dir.is_dir() and data_dir.parent == tmp_path / how
            assert pds.create_account("stopme").did.startswith("did:plc:")
            if how == "sigterm":
                os.kill(proc.pid, signal.SIGTERM)
            else:
                proc.stdin.close()
            assert proc.wait(15) == 0, pds.log_tail()
            assert not data_dir.exists()  # data folder removed
            port = int(pds.url.rsplit(":", 1)[1])
            assert _listening_addresses(port) == set()
            assert "stopping" in pds.log_tail()


def test_startup_time_is_recorded(pds_server: PdsServer) -> None:
    # Not a benchmark: a guard against the launcher hanging (the harness waits up to 60 s).
    assert 0 < pds_server.startup_seconds < 30
    log = pds_server.log_tail()
    assert "ready in" in log
