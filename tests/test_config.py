from __future__ import annotations

from pathlib import Path

import pytest

from engage import paths
from engage.config import load_config
from engage.errors import ConfigError


def write_user_config(text: str) -> Path:
    path = paths.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_the_shipped_default_is_a_goal_of_two_to_three() -> None:
    cfg = load_config()
    assert (cfg.goal_min, cfg.goal_target) == (2, 3)
    assert cfg.day_end_hour == 0
    assert "dlvr.it" in cfg.automation_apps and "Buffer" in cfg.suite_apps
    assert cfg.files == (paths.default_config_file(),)


def test_the_users_file_overrides_key_by_key() -> None:
    path = write_user_config(
        '[goal]\ntarget = 5\n[time]\ntimezone = "Europe/Berlin"\nday_end_hour = 4\n'
    )
    cfg = load_config()
    assert (cfg.goal_min, cfg.goal_target) == (2, 5)
    assert cfg.timezone_name == "Europe/Berlin" and cfg.day_end_hour == 4
    assert cfg.files[-1] == path


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[goal]\nmin = 'two'\n", "goal.min must be a whole number"),
        ("[goal]\nmin = 4\ntarget = 3\n", "goal.min (4) must not be larger than goal.target"),
        ("[time]\ntimezone = 'Mars/Olympus'\n", "time.timezone"),
        ("[time]\nday_end_hour = 24\n", "time.day_end_hour must be from 0 to 23"),
        ("[goal]\nmax = 3\n", "unknown key goal.max"),
        ("[gaol]\nmin = 3\n", "unknown section [gaol]"),
        ("[identity]\nown_domains = 'me.example'\n", "identity.own_domains must be a list"),
        ("goal = [", "not valid TOML"),
    ],
)
def test_invalid_config_names_the_key_and_the_file(text: str, needle: str) -> None:
    path = write_user_config(text)
    with pytest.raises(ConfigError) as err:
        load_config()
    assert needle in err.value.message
    assert str(path) in err.value.message
    assert "\n" not in err.value.message


def test_a_bad_config_is_one_line_on_stderr_and_exit_2(run_cli) -> None:  # type: ignore[no-untyped-def]
    write_user_config("[goal]\nmin = -1\n")
    result = run_cli("doctor")
    assert result.exit_code == 1  # doctor reports it as a failed check
    assert "goal.min must be from 1 to 50" in result.stdout
    result = run_cli("export", "--format", "csv")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "goal.min" in result.stderr
    assert "Traceback" not in result.stderr
