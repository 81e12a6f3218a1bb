"""Where engage keeps its files.

Everything of the user's (database, config, credentials, caches) lives under one directory:
``$ENGAGE_HOME`` when set, else the platform's user data directory (``platformdirs``). The
database path can be moved on its own with ``--db`` or ``$ENGAGE_DB``.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "engage"


def home_dir() -> Path:
    env = os.environ.get("ENGAGE_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


def ensure_home() -> Path:
    home = home_dir()
    home.mkdir(parents=True, exist_ok=True)
    return home


def db_path(override: str | os.PathLike[str] | None = None) -> Path:
    """The database file: ``--db`` first, then ``$ENGAGE_DB``, then ``<home>/engage.duckdb``."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("ENGAGE_DB")
    if env:
        return Path(env).expanduser()
    return home_dir() / "engage.duckdb"


def config_path() -> Path:
    return home_dir() / "config.toml"


def credentials_path() -> Path:
    return home_dir() / "credentials.json"


def demo_db_path() -> Path:
    return home_dir() / "demo" / "demo.duckdb"


def prompt_cache_path(db: Path) -> Path:
    """The tiny file ``engage prompt`` reads; one per database so the demo has its own."""
    return db.with_name(db.name + ".prompt")


def personal_model_dir() -> Path:
    return home_dir() / "models"


def _package_dir() -> Path:
    return Path(__file__).resolve().parent


def models_dir() -> Path:
    """The shipped ``models/`` folder: in a checkout it is beside ``engage/``; in an installed
    wheel it is packaged as ``engage/_models``."""
    packaged = _package_dir() / "_models"
    if packaged.is_dir():
        return packaged
    return _package_dir().parent / "models"


def default_config_file() -> Path:
    packaged = _package_dir() / "_config" / "engage.toml"
    if packaged.is_file():
        return packaged
    return _package_dir().parent / "config" / "engage.toml"
