"""Secrets (tokens, app passwords, sessions) kept apart from everything else.

They live in one JSON file, ``<home>/credentials.json``, created with mode 0600 and rewritten
atomically (write a 0600 temp file, then rename). Nothing else (database, logs, output,
exception messages) ever holds a secret: ``Secret`` wraps a value so that ``repr``/``str`` show
only ``'***'``.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from engage import paths
from engage.errors import CredentialsError


class Secret:
    """A secret string whose repr and str never show it. Use ``.reveal()`` at the one place that
    must hand it to an SDK."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class SecretMap(Mapping[str, Any]):
    """One account's stored values for a connector. Strings are held as ``Secret`` and handed out
    only when a key is read (the connector passes them straight to its SDK); the mapping's repr
    shows the keys, never the values, so logging it leaks nothing."""

    __slots__ = ("_data",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._data = {k: Secret(v) if isinstance(v, str) else v for k, v in values.items()}

    def __getitem__(self, key: str) -> Any:
        value = self._data[key]
        return value.reveal() if isinstance(value, Secret) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"SecretMap(keys={sorted(self._data)!r})"

    __str__ = __repr__


def _path(path: Path | None) -> Path:
    return path or paths.credentials_path()


def load_all(path: Path | None = None) -> dict[str, dict[str, Any]]:
    p = _path(path)
    if not p.exists():
        return {}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        kind = type(exc).__name__
        raise CredentialsError(
            f"{p}: cannot read the credentials file ({kind}); fix it or remove it and add the "
            "accounts again with 'engage account add'"
        ) from None
    if not isinstance(data, dict):
        raise CredentialsError(f"{p}: the credentials file is not a JSON object; remove it")
    return data


def save_all(data: dict[str, dict[str, Any]], path: Path | None = None) -> None:
    """Atomically replace the credentials file; it is 0600 from its first byte."""
    p = _path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".credentials-", dir=p.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    os.chmod(p, 0o600)


def get(account: str, path: Path | None = None) -> dict[str, Any]:
    return dict(load_all(path).get(account, {}))


def put(account: str, values: dict[str, Any], path: Path | None = None) -> None:
    data = load_all(path)
    data[account] = values
    save_all(data, path)


def update(account: str, path: Path | None = None, **values: Any) -> None:
    data = load_all(path)
    data.setdefault(account, {}).update(values)
    save_all(data, path)


def remove(account: str, path: Path | None = None) -> bool:
    data = load_all(path)
    if account not in data:
        return False
    del data[account]
    save_all(data, path)
    return True


def file_mode_problem(path: Path | None = None) -> str | None:
    """A warning when the credentials file can be read by others, else None."""
    p = _path(path)
    if not p.exists():
        return None
    mode = stat.S_IMODE(p.stat().st_mode)
    if mode & 0o077:
        return f"{p} has mode {mode:04o}; others can read your tokens: run 'chmod 600 {p}'"
    return None
