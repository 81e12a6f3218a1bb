"""E-mail delivery of the daily report through SMTP, from the ``[smtp]`` config section.

The password is read only from the environment variable that ``smtp.password_env`` names; it is
never stored, printed or logged, and it is left out of every error message.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from email.message import EmailMessage
from typing import TYPE_CHECKING

from engage.errors import ConfigError, EngageError

if TYPE_CHECKING:
    from engage.config import Config


class MailError(EngageError):
    """The report could not be sent (the report itself was still written)."""

    exit_code = 1


def build_message(config: Config, subject: str, text: str, html: str | None) -> EmailMessage:
    smtp = config.values["smtp"]
    sender, to = str(smtp["from_addr"]).strip(), str(smtp["to_addr"]).strip()
    if not sender or not to:
        raise ConfigError(
            "e-mail delivery needs smtp.from_addr and smtp.to_addr in your config.toml"
        )
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = to
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


def send(config: Config, msg: EmailMessage, timeout: float = 30.0) -> None:
    """Send ``msg`` through the configured SMTP server (STARTTLS when ``smtp.starttls``; a
    login when ``smtp.username`` is set, with the password from ``smtp.password_env``)."""
    smtp = config.values["smtp"]
    host, port = str(smtp["host"]), int(smtp["port"])
    username = str(smtp["username"])
    password = None
    if username:
        env = str(smtp["password_env"])
        password = os.environ.get(env)
        if not password:
            raise ConfigError(
                f"smtp.username is set but the environment variable {env} (smtp.password_env) "
                "is empty; export the SMTP password in it"
            )
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as server:
            if smtp["starttls"]:
                server.starttls(context=ssl.create_default_context())
            if username and password:
                server.login(username, password)
            server.send_message(msg)
    except smtplib.SMTPAuthenticationError:
        raise MailError(
            f"SMTP server {host}:{port} refused the login for {username!r}; check smtp.username "
            "and the password in the environment"
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        reason = type(exc).__name__ if isinstance(exc, smtplib.SMTPException) else str(exc)
        raise MailError(
            f"could not send the report through {host}:{port} ({reason}); check the [smtp] settings"
        ) from None
