from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import click
import pytest

from engage import credentials, paths
from engage.cli import cli


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None, name
        found.append((*prefix, name))
        if isinstance(cmd, click.Group):
            found += all_commands(cmd, (*prefix, name))
    return found


@pytest.mark.parametrize("path", [(), *all_commands(cli)])
def test_every_command_has_help_with_h(run_cli, path: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(*path, "-h")
    assert result.exit_code == 0, result.stderr
    assert "Usage: engage" in result.stdout
    assert "--help" in result.stdout


def test_python_dash_m_engage_works() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "engage", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("engage, version")


LOADED_BY_HELP = (
    "import sys, click\n"
    "from engage.cli import cli\n"
    "ctx = click.Context(cli)\n"
    "for name in cli.list_commands(ctx):\n"
    "    cli.get_command(ctx, name)\n"
    "heavy = ('duckdb', 'numpy', 'pyarrow', 'scipy', 'sklearn', 'textual')\n"
    "print(','.join(m for m in heavy if m in sys.modules))\n"
)


def test_listing_the_commands_loads_no_database_or_numeric_library() -> None:
    """``engage --help`` resolves every command: it must not pay for DuckDB or numpy."""
    out = subprocess.run(
        [sys.executable, "-c", LOADED_BY_HELP], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""


BLAS_THREADS = (
    "import sys\n"
    "from engage import _entry\n"
    "sys.argv = ['engage', '--version']\n"
    "try:\n    _entry.main()\nexcept SystemExit:\n    pass\n"
    "import numpy, os\n"
    "from threadpoolctl import threadpool_info\n"
    "blas = [i['num_threads'] for i in threadpool_info() if i['internal_api'] == 'openblas']\n"
    "print(os.environ.get('OPENBLAS_NUM_THREADS'), blas, file=sys.stderr)\n"
)


def test_the_command_line_runs_numpy_with_one_blas_thread_unless_the_user_says() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    out = subprocess.run(
        [sys.executable, "-c", BLAS_THREADS], capture_output=True, text=True, env=env, check=True
    )
    chosen, threads = out.stderr.strip().split(" ", 1)
    assert chosen == "1" and set(json.loads(threads)) == {1}
    env["OPENBLAS_NUM_THREADS"] = "3"
    out = subprocess.run(
        [sys.executable, "-c", BLAS_THREADS], capture_output=True, text=True, env=env, check=True
    )
    assert out.stderr.split(" ", 1)[0] == "3"


def test_demo_builds_its_own_database_and_prints_a_summary(run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("demo")
    assert result.exit_code == 0, result.stderr
    demo = paths.demo_db_path()
    assert demo.exists()
    assert not paths.db_path().exists()  # the user's database is never touched
    assert "Posts per platform: bluesky" in result.stdout
    assert "Posts per kind:" in result.stdout and "repost" in result.stdout
    assert "week of" in result.stdout
    weeks = [ln for ln in result.stdout.splitlines() if ln[:4].isdigit() and ln[4] == "-"]
    assert 12 <= len(weeks) <= 14  # about 90 days


def test_demo_with_db_pointing_at_the_users_database_still_leaves_it_alone(
    run_cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    user_db = tmp_path / "mine.duckdb"
    result = run_cli("--db", str(user_db), "demo")
    assert result.exit_code == 0
    assert not user_db.exists()


def test_export_to_stdout_and_to_a_file(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run_cli("demo")
    demo = str(paths.demo_db_path())
    result = run_cli("--db", demo, "export", "--format", "jsonl")
    assert result.exit_code == 0
    rows = [json.loads(x) for x in result.stdout.splitlines()]
    assert len(rows) > 300
    assert {
        "platform",
        "account",
        "post_id",
        "created_at",
        "text",
        "kind",
        "label",
        "confidence",
        "reason",
        "corrected",
    } <= set(rows[0])
    out = tmp_path / "posts.csv"
    result = run_cli("--db", demo, "export", "--format", "csv", "--out", str(out))
    assert result.exit_code == 0
    assert out.read_text().splitlines()[0].startswith("platform,post_id,account")
    assert len(out.read_text().splitlines()) == len(rows) + 1


def test_export_without_a_database_is_one_clear_line(run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("export", "--format", "csv")
    assert result.exit_code == 1
    assert result.stderr.startswith("engage: error: no database at")
    assert result.stderr.count("\n") == 1


def test_export_to_a_missing_folder_is_a_usage_error(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run_cli("demo")
    result = run_cli(
        "--db", str(paths.demo_db_path()), "export", "--out", str(tmp_path / "no" / "x.csv")
    )
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_unknown_option_is_one_line_not_a_traceback(run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("export", "--format", "xml")
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_doctor_reports_everything_and_never_a_secret(run_cli) -> None:  # type: ignore[no-untyped-def]
    credentials.put("work", {"access_token": "sekrit-token-123"})
    result = run_cli("doctor")
    assert "sekrit-token-123" not in result.stdout + result.stderr
    for name in ("home", "config", "database", "model", "credentials", "accounts"):
        assert name in result.stdout
    path = paths.credentials_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    os.chmod(path, 0o644)
    result = run_cli("doctor")
    assert "WARN  credentials" in result.stdout and "chmod 600" in result.stdout


def test_credentials_file_is_created_0600_and_secret_reprs_hide_values() -> None:
    credentials.put("a", {"token": "t0k"})
    assert stat.S_IMODE(paths.credentials_path().stat().st_mode) == 0o600
    s = credentials.Secret("t0k")
    assert "t0k" not in repr(s) and "t0k" not in str(s) and s.reveal() == "t0k"
