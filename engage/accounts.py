"""Configured accounts: adding (with each platform's sign-in), listing and removing them.

What engage knows about an account (platform, handle, user id, server) is in the database's
``accounts`` table; its secrets (tokens, sessions) only in the 0600 credentials file, keyed by the
account's name. An account is saved only after the platform has confirmed the credentials.
The CLI (``engage account``) asks the questions; these functions do the work.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.base import AccountInfo
from engage import credentials
from engage.errors import UsageError

BLUESKY_DEFAULT_SERVICE = "https://bsky.social"


def default_name(platform: str, handle: str) -> str:
    return f"{platform}:{handle}"


@dataclass(frozen=True)
class AccountRow:
    info: AccountInfo
    has_credentials: bool


class Accounts:
    """Account operations on one database (opened briefly for each)."""

    def __init__(self, db_path: Path, lock_timeout: float = 30.0) -> None:
        self.db_path = db_path
        self.lock_timeout = lock_timeout

    def _open(self) -> Any:
        from engage.store import open_store  # here: DuckDB loads when an account is written

        return open_store(self.db_path, lock_timeout=self.lock_timeout)

    def check_name_free(self, name: str) -> None:
        if not name or name.strip() != name or any(c.isspace() for c in name):
            raise UsageError(f"account name {name!r} must be one word without spaces")
        with self._open() as store:
            if store.get_account(name) is not None:
                raise UsageError(
                    f"an account named {name!r} exists already; pick another --name or remove "
                    f"it with 'engage account remove {name}'"
                )

    def save(self, info: AccountInfo, secrets: dict[str, Any]) -> AccountInfo:
        """Store the account and its secrets; the secrets go only to the credentials file."""
        self.check_name_free(info.name)
        credentials.put(info.name, secrets)
        try:
            with self._open() as store:
                store.add_account(info)
        except BaseException:
            credentials.remove(info.name)
            raise
        return info

    def list(self) -> list[AccountRow]:
        with self._open() as store:
            accounts = store.list_accounts()
        stored = credentials.load_all()
        return [AccountRow(a, a.name in stored) for a in accounts]

    def remove(self, name: str) -> AccountInfo:
        """Forget the account, its cursors and its credentials; its posts stay."""
        with self._open() as store:
            info = store.get_account(name)
            if info is None:
                known = ", ".join(a.name for a in store.list_accounts()) or "none"
                raise UsageError(f"no account named {name!r} (configured: {known})")
            store.remove_account(name)
        credentials.remove(name)
        return info

    # -- Mastodon ---------------------------------------------------------------------------

    def mastodon_start(self, instance: str) -> MastodonAuthorization:
        """Register engage on the instance; the user then opens ``url`` and gets a code."""
        from connectors import mastodon

        instance = mastodon.normalise_instance(instance)
        client_id, client_secret = mastodon.register_app(instance)
        url = mastodon.authorization_url(instance, client_id, client_secret)
        return MastodonAuthorization(instance, client_id, credentials.Secret(client_secret), url)

    def mastodon_finish(
        self, auth: MastodonAuthorization, code: str, name: str | None = None
    ) -> AccountInfo:
        from connectors import mastodon

        if not code.strip():
            raise UsageError("no authorization code given; run the command again and paste it")
        token = mastodon.exchange_code(
            auth.instance, auth.client_id, auth.client_secret.reveal(), code
        )
        return self._mastodon_save(
            auth.instance,
            token,
            name,
            {"client_id": auth.client_id, "client_secret": auth.client_secret.reveal()},
        )

    def mastodon_with_token(
        self, instance: str, token: str, name: str | None = None
    ) -> AccountInfo:
        """An access token made in the instance's settings (Development → New application)."""
        from connectors import mastodon

        if not token.strip():
            raise UsageError("no access token on stdin; pipe it in, e.g. 'pass mastodon | ...'")
        return self._mastodon_save(mastodon.normalise_instance(instance), token.strip(), name, {})

    def _mastodon_save(
        self, instance: str, token: str, name: str | None, extra: dict[str, str]
    ) -> AccountInfo:
        from connectors import mastodon

        me = mastodon.verify_token(instance, token)
        info = AccountInfo(
            name=name or default_name("mastodon", me["handle"]),
            platform="mastodon",
            handle=me["handle"],
            user_id=me["id"],
            base_url=instance,
        )
        return self.save(info, {"auth": "oauth2", "access_token": token, **extra})

    # -- Bluesky ----------------------------------------------------------------------------

    def bluesky_login(
        self, handle: str, app_password: str, service: str | None = None, name: str | None = None
    ) -> AccountInfo:
        """Log in once with an app password; only the session is kept, never the password."""
        from connectors.bluesky import create_session

        handle = handle.strip().lstrip("@")
        if not handle:
            raise UsageError("--handle is empty; give your Bluesky handle, e.g. alice.bsky.social")
        if not app_password:
            raise UsageError(
                "no app password given; make one in Bluesky's Settings → Privacy and security → "
                "App passwords"
            )
        if name is not None:
            self.check_name_free(name)
        session = create_session(service or BLUESKY_DEFAULT_SERVICE, handle, app_password)
        info = AccountInfo(
            name=name or default_name("bluesky", str(session["handle"])),
            platform="bluesky",
            handle=str(session["handle"]),
            user_id=str(session["did"]),
            base_url=str(session["service"]),
        )
        return self.save(
            info, {"auth": "session", "session_string": str(session["session_string"])}
        )

    # -- X ----------------------------------------------------------------------------------

    def x_start(self, client_id: str, redirect_uri: str, client_secret: str | None = None) -> Any:
        """Begin OAuth 2.0 with PKCE; the user opens ``flow.url`` and pastes where X sent them."""
        from connectors import x

        if not client_id.strip():
            raise UsageError("--client-id is empty; copy it from your app's Keys and tokens page")
        return x.start_pkce(client_id.strip(), redirect_uri, client_secret)

    def x_finish(
        self,
        flow: Any,
        redirected_to: str,
        username: str,
        name: str | None = None,
        client_secret: str | None = None,
    ) -> AccountInfo:
        from connectors import x

        token = x.finish_pkce(flow, redirected_to, client_secret)
        user = x.lookup_user(token["access_token"], username, user_token=True)
        return self._x_save(user, token, name)

    def x_with_token(
        self, username: str, token: str, *, user_token: bool, name: str | None = None
    ) -> AccountInfo:
        """An app bearer token (reads public posts and mentions) or an OAuth 2.0 user token."""
        from connectors import x

        token = token.strip()
        if not token:
            raise UsageError("no token on stdin; pipe it in, e.g. 'pass x-bearer | ...'")
        user = x.lookup_user(token, username, user_token=user_token)
        secrets: dict[str, Any] = (
            {"auth": "oauth2", "access_token": token}
            if user_token
            else {"auth": "bearer", "bearer_token": token}
        )
        return self._x_save(user, secrets, name)

    def _x_save(
        self, user: dict[str, str], secrets: dict[str, Any], name: str | None
    ) -> AccountInfo:
        info = AccountInfo(
            name=name or default_name("x", user["username"]),
            platform="x",
            handle=user["username"],
            user_id=user["id"],
        )
        return self.save(info, secrets)


@dataclass(frozen=True)
class MastodonAuthorization:
    instance: str
    client_id: str
    client_secret: credentials.Secret
    url: str
