"""A real Bluesky PDS (the official ``@atproto/pds``) on 127.0.0.1 for engage's integration tests.

Usage::

    from pds_support import running_pds  # or: from tests.pds_support import ...

    with running_pds(tmp_path) as pds:
        handle, did, password = pds.create_account("alice")
        client = pds.login(handle, password)            # atproto.Client, logged in
        app_pw = pds.app_password(handle, password)      # what engage users log in with

or, in a conftest / test module, import the session-scoped fixture ``pds_server``.

The first call installs Node 22 and the PDS into ``$ENGAGE_PDS_CACHE`` (default
``~/.cache/engage-test-pds``) with ``tests/pds/setup.sh``: about 2 minutes; later calls are a
no-op. Start-up takes 2 to 3 s. See ``tests/pds/README.md`` for what works without an AppView.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import pytest

PDS_DIR = Path(__file__).resolve().parent / "pds"
SETUP_SCRIPT = PDS_DIR / "setup.sh"
LAUNCHER = PDS_DIR / "launcher.mjs"

#: How long the first install may take (npm ci compiles better-sqlite3).
INSTALL_TIMEOUT_S = 15 * 60
#: How long to wait for the launcher's ready line.
START_TIMEOUT_S = 60

_install_lock = threading.Lock()
_installed: Path | None = None


class PdsUnavailable(RuntimeError):
    """The PDS could not be installed or started."""


def cache_dir() -> Path:
    return Path(os.environ.get("ENGAGE_PDS_CACHE") or Path.home() / ".cache" / "engage-test-pds")


def ensure_pds_installed() -> Path:
    """Install Node 22 and the PDS if needed (``setup.sh``), and return the cache folder.

    Runs ``setup.sh`` once per process; it returns in well under a second when the cache already
    matches ``package-lock.json``. Its progress goes to stderr.
    """
    global _installed
    with _install_lock:
        if _installed is not None:
            return _installed
        env = dict(os.environ, ENGAGE_PDS_CACHE=str(cache_dir()))
        tail: list[str] = []
        proc = subprocess.Popen(
            ["bash", str(SETUP_SCRIPT)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

        def relay() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                tail.append(line)
                del tail[:-60]
                sys.stderr.write(line)
                sys.stderr.flush()

        relay_thread = threading.Thread(target=relay, daemon=True)
        relay_thread.start()
        try:
            out, _ = proc.communicate(timeout=INSTALL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise PdsUnavailable(
                f"tests/pds/setup.sh took more than {INSTALL_TIMEOUT_S} s"
            ) from None
        relay_thread.join(5)
        if proc.returncode != 0:
            raise PdsUnavailable(
                f"tests/pds/setup.sh failed (exit {proc.returncode}):\n" + "".join(tail[-30:])
            )
        lines = out.strip().splitlines()
        path = Path(lines[-1] if lines else cache_dir())
        if not (path / "node" / "bin" / "node").exists():
            raise PdsUnavailable(f"setup.sh finished but {path}/node/bin/node is missing")
        _installed = path
        return path


class Account(NamedTuple):
    handle: str
    did: str
    password: str


_counter = itertools.count(1)


def _handle_for(prefix: str) -> str:
    # The PDS wants the first label of a service handle to be 3 to 18 characters.
    clean = re.sub(r"[^a-z0-9-]", "", prefix.lower()).strip("-")[:9] or "user"
    return f"{clean}-{next(_counter)}{secrets.token_hex(3)}"[:18].rstrip("-") + ".test"


def _login(client, handle: str, password: str):
    """``client.login`` without the Bluesky profile look-up, which needs an AppView."""
    if "fetch_bsky_profile" in inspect.signature(client.login).parameters:
        client.login(handle, password, fetch_bsky_profile=False)
    else:  # an atproto release whose login() always calls app.bsky.actor.getProfile
        client._get_and_set_session(handle, password)
    return client


@dataclass
class PdsServer:
    """A running PDS + PLC directory. ``url`` is the PDS's base URL (no ``/xrpc``)."""

    url: str
    plc_url: str
    pid: int
    data_dir: str
    log_path: Path
    admin_password: str = "admin-pass"
    #: Seconds from starting the launcher to its ready line.
    startup_seconds: float = 0.0
    process: subprocess.Popen | None = field(default=None, repr=False)

    # -- accounts -------------------------------------------------------------------------
    def create_account(self, handle_prefix: str = "user", password: str | None = None) -> Account:
        """Create an account through ``com.atproto.server.createAccount``.

        Returns ``(handle, did, password)``; the handle ends in ``.test`` and is unique.
        """
        from atproto import Client, models

        handle = _handle_for(handle_prefix)
        password = password or "pw-" + secrets.token_urlsafe(12)
        client = Client(base_url=self.url)
        res = client.com.atproto.server.create_account(
            models.ComAtprotoServerCreateAccount.Data(
                handle=handle, email=f"{handle.split('.')[0]}@example.com", password=password
            )
        )
        return Account(res.handle, res.did, password)

    def client(self):
        """A fresh, logged-out ``atproto.Client`` for this PDS."""
        from atproto import Client

        return Client(base_url=self.url)

    def login(self, handle: str, password: str):
        """An ``atproto.Client`` logged in (``createSession``) without the AppView profile fetch."""
        return _login(self.client(), handle, password)

    def app_password(self, handle: str, password: str, name: str | None = None) -> str:
        """Create an app password (``com.atproto.server.createAppPassword``) and return it.

        The app password (``xxxx-xxxx-xxxx-xxxx``) logs in with ``createSession`` like the main
        password; the session it gives cannot manage the account (create app passwords, ...).
        """
        from atproto import models

        client = self.login(handle, password)
        res = client.com.atproto.server.create_app_password(
            models.ComAtprotoServerCreateAppPassword.Data(
                name=name or f"engage-{secrets.token_hex(3)}"
            )
        )
        return res.password

    # -- plain HTTP -------------------------------------------------------------------------
    def xrpc_get(self, nsid: str, params: dict | None = None, token: str | None = None):
        """GET /xrpc/NSID with httpx; returns the ``httpx.Response`` (no raise on error)."""
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(
            f"{self.url}/xrpc/{nsid}", params=params or {}, headers=headers, timeout=15
        )

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "".join(self.log_path.read_text(errors="replace").splitlines(True)[-lines:])
        except OSError:
            return ""


def _install_launcher(app_dir: Path) -> Path:
    """Copy launcher.mjs next to the cached node_modules (ESM resolves packages from the file's
    own folder, not from NODE_PATH). Atomic, so parallel workers do not see half a file."""
    target = app_dir / "launcher.mjs"
    src = LAUNCHER.read_bytes()
    if not target.exists() or target.read_bytes() != src:
        fd, tmp = tempfile.mkstemp(dir=app_dir, prefix=".launcher-", suffix=".mjs")
        with os.fdopen(fd, "wb") as fh:
            fh.write(src)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    return target


def _stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(OSError):
        if proc.stdin:
            proc.stdin.close()  # the launcher stops when stdin closes ...
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)  # ... and on SIGTERM
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


@contextlib.contextmanager
def running_pds(
    tmp_path: Path | None = None,
    *,
    log: bool = False,
    start_timeout: float = START_TIMEOUT_S,
    appview_url: str | None = None,
    appview_did: str = "did:web:appview.test",
) -> Iterator[PdsServer]:
    """Start the PDS and a PLC directory on free 127.0.0.1 ports; stop them on exit.

    ``tmp_path`` gets the servers' data (via TMPDIR) and ``pds.log`` (the launcher's stderr;
    ``log=True`` adds the PDS's own pino logs). Without it a temporary folder is used.

    By default there is no AppView (every ``app.bsky.*`` query fails). ``appview_url`` points
    the PDS at one, for example a test's fake AppView on 127.0.0.1: the PDS then proxies
    ``app.bsky.*`` queries (listNotifications, getProfile, ...) to it with a service-auth JWT
    whose ``aud`` is ``appview_did``, and serves ``app.bsky.actor.getPreferences`` itself.
    """
    cache = ensure_pds_installed()
    app_dir = cache / "app"
    node = cache / "node" / "bin" / "node"
    launcher = _install_launcher(app_dir)

    own_tmp = None
    if tmp_path is None:
        own_tmp = tempfile.mkdtemp(prefix="engage-pds-")
        tmp_path = Path(own_tmp)
    tmp_path = Path(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    log_path = tmp_path / "pds.log"

    env = dict(os.environ)
    env.update(
        TMPDIR=str(tmp_path),
        PATH=f"{node.parent}{os.pathsep}{env.get('PATH', '')}",
        NODE_ENV="test",
        ENGAGE_PDS_LOG="1" if log else "0",
    )
    env.pop("NODE_OPTIONS", None)
    for key in ("ENGAGE_PDS_APPVIEW_URL", "ENGAGE_PDS_APPVIEW_DID"):
        env.pop(key, None)
    if appview_url:
        env["ENGAGE_PDS_APPVIEW_URL"] = appview_url
        env["ENGAGE_PDS_APPVIEW_DID"] = appview_did
    admin_password = "admin-" + secrets.token_hex(8)
    env["ENGAGE_PDS_ADMIN_PASSWORD"] = admin_password

    log_fh = open(log_path, "ab")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [str(node), str(launcher)],
        cwd=app_dir,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log_fh,
        env=env,
        start_new_session=True,  # own process group: killpg stops node and anything it spawned
    )
    ready: dict = {}
    got_line = threading.Event()

    def read_stdout() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:  # keep draining after the ready line
            if got_line.is_set():
                continue
            with contextlib.suppress(ValueError):
                msg = json.loads(raw)
                if isinstance(msg, dict) and "pds" in msg:
                    ready.update(msg)
                    got_line.set()
        got_line.set()  # EOF: the launcher died

    reader = threading.Thread(target=read_stdout, daemon=True, name="pds-stdout")
    reader.start()
    try:
        t0 = time.monotonic()
        if not got_line.wait(start_timeout) or not ready:
            code = proc.poll()
            log_fh.flush()
            tail = "".join(log_path.read_text(errors="replace").splitlines(True)[-40:])
            what = (
                f"exited with {code}" if code is not None else f"not ready after {start_timeout} s"
            )
            raise PdsUnavailable(f"PDS launcher {what}. Its log ({log_path}):\n{tail}")
        server = PdsServer(
            url=ready["pds"],
            plc_url=ready["plc"],
            pid=proc.pid,
            data_dir=ready.get("dataDir", ""),
            log_path=log_path,
            admin_password=admin_password,
            process=proc,
        )
        server.startup_seconds = time.monotonic() - t0
        yield server
    finally:
        _stop(proc)
        log_fh.close()
        if own_tmp:
            shutil.rmtree(own_tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def pds_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PdsServer]:
    """One PDS for the whole test session (each xdist worker gets its own).

    Fails (does not skip) when the PDS cannot be installed or started; set
    ``ENGAGE_PDS_OPTIONAL=1`` to skip instead.
    """
    try:
        with running_pds(tmp_path_factory.mktemp("pds")) as server:
            yield server
    except PdsUnavailable as exc:
        if os.environ.get("ENGAGE_PDS_OPTIONAL") == "1":
            pytest.skip(f"real PDS unavailable: {exc}")
        raise
