"""``engage doctor``: everything a user needs to know about their setup, and no secret."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

from engage import credentials, paths
from engage.config import load_config
from engage.errors import EngageError


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "ok", "warn" or "fail"
    detail: str


def _model_check() -> Check:
    models = paths.models_dir()
    if not models.is_dir():
        return Check("model", "fail", f"models folder missing: {models}")
    try:
        classify = importlib.import_module("engage.classify")
    except ImportError:
        return Check("model", "warn", f"{models} (classifier not installed)")
    try:
        return Check("model", "ok", classify.describe_model())
    except EngageError as exc:
        return Check("model", "fail", exc.message)


def run_checks(db_override: str | None = None) -> list[Check]:
    checks: list[Check] = []
    home = paths.home_dir()
    if home.is_dir() and os.access(home, os.W_OK):
        checks.append(Check("home", "ok", str(home)))
    elif not home.exists():
        checks.append(
            Check("home", "warn", f"{home} (not created yet; any write command makes it)")
        )
    else:
        checks.append(Check("home", "fail", f"{home} is not a writable folder"))

    config = None
    try:
        config = load_config()
        files = ", ".join(str(f) for f in config.files)
        checks.append(
            Check(
                "config",
                "ok",
                f"{files}; goal {config.goal_min}-{config.goal_target}/day, "
                f"{config.timezone_name}, day ends {config.day_end_hour:02d}:00",
            )
        )
    except EngageError as exc:
        checks.append(Check("config", "fail", exc.message))

    db = paths.db_path(db_override)
    timeout = config.lock_timeout if config else 30.0
    accounts = []
    if not db.exists():
        checks.append(
            Check("database", "warn", f"{db} (none yet: run 'engage fetch' or 'engage import')")
        )
    else:
        from engage.store import LATEST_SCHEMA, open_store  # here: --help loads no DuckDB

        try:
            with open_store(db, read_only=True, lock_timeout=timeout) as store:
                version = store.schema_version()
                n_posts = store.count_posts()
                n_mentions = store.count_mentions()
                accounts = store.list_accounts()
            status = "ok" if version == LATEST_SCHEMA else "warn"
            checks.append(
                Check(
                    "database",
                    status,
                    f"{db}; schema v{version} (latest v{LATEST_SCHEMA}); {n_posts} posts, "
                    f"{n_mentions} mentions",
                )
            )
        except EngageError as exc:
            checks.append(Check("database", "fail", exc.message))

    checks.append(_model_check())

    cred_path = paths.credentials_path()
    problem = credentials.file_mode_problem(cred_path)
    stored: dict[str, dict[str, object]] = {}
    if problem:
        checks.append(Check("credentials", "warn", problem))
    if cred_path.exists():
        try:
            # read even when the mode is wrong: the accounts below must not claim "NO
            # credentials stored" for a file that has them
            stored = credentials.load_all(cred_path)
            if not problem:
                checks.append(Check("credentials", "ok", f"{cred_path} (mode 0600)"))
        except EngageError as exc:
            checks.append(Check("credentials", "fail", exc.message))
    else:
        checks.append(Check("credentials", "ok", f"{cred_path} (none stored)"))

    if not accounts:
        checks.append(Check("accounts", "warn", "none configured: see 'engage account add --help'"))
    for acc in accounts:
        has = "credentials stored" if acc.name in stored else "NO credentials stored"
        status = "ok" if acc.name in stored else "warn"
        where = f" at {acc.base_url}" if acc.base_url else ""
        checks.append(
            Check(f"account {acc.name}", status, f"{acc.platform} {acc.handle}{where}; {has}")
        )
    return checks
