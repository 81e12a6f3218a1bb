from __future__ import annotations

import os
import sys

import click

from engage.accounts import Accounts
from engage.cli._common import AppContext, pass_app
from engage.errors import UsageError


def _accounts(app: AppContext) -> Accounts:
    return Accounts(app.db_path, app.config.lock_timeout)


def _read_stdin_line(what: str) -> str:
    line = sys.stdin.readline().strip()
    if not line:
        raise UsageError(f"nothing on stdin; pipe the {what} in, e.g. 'pass show ... | engage ...'")
    return line


def _ask(prompt: str, *, hidden: bool = False) -> str:
    """Ask on the terminal (stderr), or read one line when stdin is not a terminal."""
    if not sys.stdin.isatty():
        click.echo(f"{prompt}: ", err=True, nl=False)
        value = sys.stdin.readline()
        click.echo("", err=True)
        return value.strip()
    return str(click.prompt(prompt, hide_input=hidden, err=True)).strip()


def _added(info_name: str, platform: str, handle: str) -> None:
    click.echo(f"added {platform} account {handle} as {info_name!r}; fetch it with 'engage fetch'")


@click.group("account")
def command() -> None:
    """Add, list and remove the accounts engage fetches.

    Tokens and sessions are kept only in the credentials file (mode 0600), never in the
    database or the output. Several accounts per platform are fine.
    """


@command.group("add")
def add() -> None:
    """Add a Mastodon, Bluesky or X account."""


@add.command("mastodon")
@click.option("--instance", required=True, help="Your server, e.g. https://mastodon.social")
@click.option("--name", help="Name for the account (default mastodon:USER@SERVER).")
@click.option(
    "--token-stdin",
    is_flag=True,
    help="Read an access token made in the server's settings (Preferences → Development) from "
    "stdin instead of signing in.",
)
@pass_app
def add_mastodon(app: AppContext, instance: str, name: str | None, token_stdin: bool) -> None:
    """Sign in to a Mastodon server: engage registers itself there (read-only), you open the
    address it prints, allow access and paste the code shown.

    \b
    engage account add mastodon --instance https://mastodon.social
    pass show mastodon-token | engage account add mastodon --instance fosstodon.org --token-stdin
    """
    accounts = _accounts(app)
    if name is not None:
        accounts.check_name_free(name)
    if token_stdin:
        info = accounts.mastodon_with_token(instance, _read_stdin_line("access token"), name)
    else:
        auth = accounts.mastodon_start(instance)
        click.echo(
            "Open this address in your browser, sign in and allow engage to read your account:",
            err=True,
        )
        click.echo(f"\n  {auth.url}\n", err=True)
        code = _ask("Paste the authorization code")
        info = accounts.mastodon_finish(auth, code, name)
    _added(info.name, "Mastodon", info.handle)


@add.command("bluesky")
@click.option("--handle", required=True, help="Your handle, e.g. alice.bsky.social")
@click.option(
    "--service",
    help="Your PDS if you host your own (default https://bsky.social).",
)
@click.option("--name", help="Name for the account (default bluesky:HANDLE).")
@pass_app
def add_bluesky(app: AppContext, handle: str, service: str | None, name: str | None) -> None:
    """Log in to Bluesky with an app password (Settings → Privacy and security → App
    passwords). The password is asked for without echo, or read from
    ENGAGE_BLUESKY_APP_PASSWORD; engage logs in once and keeps only the session.

    \b
    engage account add bluesky --handle alice.bsky.social
    engage account add bluesky --handle alice.example.org --service https://pds.example.org
    """
    accounts = _accounts(app)
    if name is not None:
        accounts.check_name_free(name)
    password = os.environ.get("ENGAGE_BLUESKY_APP_PASSWORD") or _ask(
        f"App password for {handle}", hidden=True
    )
    info = accounts.bluesky_login(handle, password, service, name)
    _added(info.name, "Bluesky", info.handle)


@add.command("x")
@click.option("--username", required=True, help="Your X username, without @.")
@click.option("--name", help="Name for the account (default x:USERNAME).")
@click.option(
    "--client-id",
    help="OAuth 2.0 client id of your X app: sign in as the user (PKCE). A confidential app's "
    "secret is read from ENGAGE_X_CLIENT_SECRET.",
)
@click.option(
    "--redirect-uri",
    default="http://127.0.0.1:8080/callback",
    show_default=True,
    help="A callback URL registered for your X app.",
)
@click.option("--token-stdin", is_flag=True, help="Read a token from stdin instead.")
@click.option(
    "--token-type",
    type=click.Choice(["bearer", "user"]),
    default="bearer",
    show_default=True,
    help="With --token-stdin: an app bearer token, or an OAuth 2.0 user access token.",
)
@pass_app
def add_x(
    app: AppContext,
    username: str,
    name: str | None,
    client_id: str | None,
    redirect_uri: str,
    token_stdin: bool,
    token_type: str,
) -> None:
    """Give engage read access to an X account: sign in through your X app (OAuth 2.0 with
    PKCE: open the address, allow, paste the URL the browser ends up at), or hand it a bearer
    token (stdin, or ENGAGE_X_BEARER_TOKEN) or a user token.

    \b
    engage account add x --username alice --client-id Q2xpZW50SWQ
    pass show x-bearer | engage account add x --username alice --token-stdin
    """
    accounts = _accounts(app)
    if name is not None:
        accounts.check_name_free(name)
    username = username.lstrip("@")
    if client_id and token_stdin:
        raise UsageError("give either --client-id (sign in) or --token-stdin, not both")
    if client_id:
        secret = os.environ.get("ENGAGE_X_CLIENT_SECRET") or None
        flow = accounts.x_start(client_id, redirect_uri, secret)
        click.echo(
            f"Open this address in your browser, signed in as @{username}, and allow access:",
            err=True,
        )
        click.echo(f"\n  {flow.url}\n", err=True)
        click.echo(
            f"Your browser then goes to {redirect_uri}... (the page may fail to load: that is "
            "fine).",
            err=True,
        )
        pasted = _ask("Paste the whole address from the address bar")
        info = accounts.x_finish(flow, pasted, username, name, secret)
    elif token_stdin:
        token = _read_stdin_line("token")
        info = accounts.x_with_token(username, token, user_token=token_type == "user", name=name)
    elif os.environ.get("ENGAGE_X_BEARER_TOKEN"):
        token = os.environ["ENGAGE_X_BEARER_TOKEN"]
        info = accounts.x_with_token(username, token, user_token=False, name=name)
    else:
        raise UsageError(
            "say how engage may read X: --client-id ID (sign in with your X app), --token-stdin "
            "(a bearer or user token), or set ENGAGE_X_BEARER_TOKEN"
        )
    _added(info.name, "X", "@" + info.handle)


@command.command("list")
@pass_app
def list_accounts(app: AppContext) -> None:
    """Show the configured accounts (never their secrets)."""
    rows = _accounts(app).list()
    if not rows:
        click.echo("no accounts yet: see 'engage account add --help'")
        return
    width = max(len(r.info.name) for r in rows)
    for r in rows:
        where = f" at {r.info.base_url}" if r.info.base_url else ""
        creds = "" if r.has_credentials else "  (no credentials stored: add it again)"
        click.echo(f"{r.info.name:<{width}}  {r.info.platform:<8}  {r.info.handle}{where}{creds}")


@command.command("remove")
@click.argument("name")
@pass_app
def remove(app: AppContext, name: str) -> None:
    """Forget an account and its credentials. Its posts stay in the database."""
    info = _accounts(app).remove(name)
    click.echo(f"removed {info.platform} account {info.name!r}; its posts stay in the database")
