"""The one exception tree of engage.

Every error a user can cause or meet (bad config, a busy database, a broken export, a platform
that refuses) is an ``EngageError``. Its message is one line that says what is wrong and what to
do. The CLI prints that line to stderr and exits with ``exit_code``; it never shows a traceback
for an ``EngageError``.

    EngageError
    ├── UsageError            bad arguments or input a user gave (exit 2)
    ├── ConfigError           invalid configuration file (exit 2)
    ├── StoreError            the database cannot be opened or used
    │   └── DatabaseBusyError another engage process holds the database (exit 3)
    ├── ImportFormatError     a file is not the export it should be (exit 2)
    ├── CredentialsError      missing or unreadable credentials (exit 2)
    ├── ConnectorError        a platform failed (exit 4)
    │   ├── AuthError         token expired or revoked
    │   ├── RateLimitError    rate limited past the configured wait
    │   └── ReadCapReached    the X read cap stopped the fetch (not a failure of the run)
    └── ModelError            the classifier model cannot be used
"""

from __future__ import annotations


class EngageError(Exception):
    """Base of every error engage reports to a user."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        # One line: a multi-line message would break the "one clear line" promise.
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self)


class UsageError(EngageError):
    exit_code = 2


class ConfigError(EngageError):
    exit_code = 2


class StoreError(EngageError):
    exit_code = 1


class DatabaseBusyError(StoreError):
    exit_code = 3


class ImportFormatError(EngageError):
    exit_code = 2


class CredentialsError(EngageError):
    exit_code = 2


class ConnectorError(EngageError):
    exit_code = 4


class AuthError(ConnectorError):
    pass


class RateLimitError(ConnectorError):
    pass


class ReadCapReached(ConnectorError):
    exit_code = 0


class ModelError(EngageError):
    exit_code = 1
