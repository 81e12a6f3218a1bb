"""Configuration: the shipped default ``config/engage.toml`` overridden by the user's file.

Values are validated against ``SCHEMA``; anything wrong is a ``ConfigError`` whose one line names
the key and the file.
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engage import paths
from engage.errors import ConfigError

Check = Callable[[Any], str | None]  # returns a complaint, or None when the value is fine


def _int_range(lo: int, hi: int) -> Check:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int):
            return f"must be a whole number from {lo} to {hi}"
        if not lo <= v <= hi:
            return f"must be from {lo} to {hi}, not {v}"
        return None

    return check


def _number(lo: float, hi: float) -> Check:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return f"must be a number from {lo} to {hi}"
        if not lo <= v <= hi:
            return f"must be from {lo} to {hi}, not {v}"
        return None

    return check


def _string(v: Any) -> str | None:
    return None if isinstance(v, str) else "must be a string"


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def _string_list(v: Any) -> str | None:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        return "must be a list of strings"
    return None


def _timezone(v: Any) -> str | None:
    if not isinstance(v, str):
        return 'must be a time zone name such as "Europe/Berlin" or "local"'
    if v == "local":
        return None
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        return f'"{v}" is not a known time zone (use a name such as "Europe/Berlin")'
    return None


SCHEMA: dict[str, dict[str, Check]] = {
    "goal": {
        "min": _int_range(1, 50),
        "target": _int_range(1, 50),
        "waiting_days": _int_range(1, 365),
    },
    "time": {"timezone": _timezone, "day_end_hour": _int_range(0, 23)},
    "identity": {"own_domains": _string_list},
    "automation": {"apps": _string_list, "suites": _string_list},
    "nudge": {"quiet_start": _int_range(0, 23), "quiet_end": _int_range(0, 23)},
    "fetch": {
        "x_max_reads": _int_range(1, 1_000_000),
        "max_rate_limit_wait_seconds": _int_range(0, 86_400),
        "max_retries": _int_range(0, 20),
    },
    "database": {"lock_timeout_seconds": _number(0, 3600)},
    "report": {"automation_threshold": _number(0, 1)},
    "smtp": {
        "enabled": _bool,
        "host": _string,
        "port": _int_range(1, 65535),
        "starttls": _bool,
        "username": _string,
        "password_env": _string,
        "from_addr": _string,
        "to_addr": _string,
    },
}


@dataclass(frozen=True)
class Config:
    """The merged, validated configuration. ``values[section][key]``."""

    values: dict[str, dict[str, Any]]
    files: tuple[Path, ...] = field(default=())

    def get(self, section: str, key: str) -> Any:
        return self.values[section][key]

    @property
    def goal_min(self) -> int:
        return int(self.values["goal"]["min"])

    @property
    def goal_target(self) -> int:
        return int(self.values["goal"]["target"])

    @property
    def timezone_name(self) -> str:
        name = str(self.values["time"]["timezone"])
        return local_timezone_name() if name == "local" else name

    @property
    def tz(self) -> tzinfo:
        return ZoneInfo(self.timezone_name)

    @property
    def day_end_hour(self) -> int:
        return int(self.values["time"]["day_end_hour"])

    @property
    def own_domains(self) -> list[str]:
        return [d.lower().strip() for d in self.values["identity"]["own_domains"]]

    @property
    def automation_apps(self) -> list[str]:
        return list(self.values["automation"]["apps"])

    @property
    def suite_apps(self) -> list[str]:
        return list(self.values["automation"]["suites"])

    @property
    def lock_timeout(self) -> float:
        return float(self.values["database"]["lock_timeout_seconds"])


def local_timezone_name() -> str:
    """This machine's IANA zone: ``$TZ``, then /etc/timezone, then /etc/localtime, else UTC."""
    tz = os.environ.get("TZ", "").lstrip(":")
    candidates = [tz] if tz else []
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text().strip())
    try:
        target = os.readlink("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in candidates:
        try:
            ZoneInfo(name)
            return name
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return "UTC"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file or remove it") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None


def _merge_and_validate(base: dict[str, dict[str, Any]], user: dict[str, Any], path: Path) -> None:
    for section, table in user.items():
        if section not in SCHEMA:
            known = ", ".join(SCHEMA)
            raise ConfigError(f"{path}: unknown section [{section}] (known: {known})")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{section}] must be a table of keys")
        for key, value in table.items():
            check = SCHEMA[section].get(key)
            if check is None:
                known = ", ".join(SCHEMA[section])
                raise ConfigError(f"{path}: unknown key {section}.{key} (known: {known})")
            complaint = check(value)
            if complaint:
                raise ConfigError(f"{path}: {section}.{key} {complaint}")
            base.setdefault(section, {})[key] = value


def load_config(user_file: Path | None = None) -> Config:
    """The default config merged with the user's file (``<home>/config.toml`` if it exists)."""
    default_file = paths.default_config_file()
    values: dict[str, dict[str, Any]] = {s: {} for s in SCHEMA}
    _merge_and_validate(values, _read_toml(default_file), default_file)
    files = [default_file]
    user_file = user_file or paths.config_path()
    if user_file.exists():
        _merge_and_validate(values, _read_toml(user_file), user_file)
        files.append(user_file)
    for section, checks in SCHEMA.items():
        for key in checks:
            if key not in values[section]:
                raise ConfigError(f"{default_file}: missing key {section}.{key}")
    goal = values["goal"]
    if goal["min"] > goal["target"]:
        where = files[-1]
        raise ConfigError(
            f"{where}: goal.min ({goal['min']}) must not be larger than goal.target "
            f"({goal['target']})"
        )
    return Config(values=values, files=tuple(files))
