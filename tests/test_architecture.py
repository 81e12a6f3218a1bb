"""The house rules of ARCHITECTURE.md, checked."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from engage import paths

REPO = Path(__file__).resolve().parent.parent
CORE = [
    "engage",
    "engage.cli",
    "engage.store",
    "engage.config",
    "engage.demo",
    "engage.doctor",
    "connectors.base",
]
OPTIONAL_CORE = [
    "engage.classify",
    "engage.goals",
    "engage.report",
    "engage.prompt",
    "engage.fetch",
]


def test_the_core_never_imports_textual() -> None:
    mods = CORE + [m for m in OPTIONAL_CORE if (REPO / (m.replace(".", "/") + ".py")).exists()]
    code = (
        "import sys, importlib\n"
        f"for m in {mods!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_only_the_store_speaks_sql() -> None:
    sql_words = ("SELECT ", "INSERT INTO", "CREATE TABLE", "UPDATE ", "DELETE FROM")
    offenders = []
    for pkg in ("engage", "connectors"):
        for path in (REPO / pkg).rglob("*.py"):
            if path.name == "store.py":
                continue
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    if any(node.value.lstrip().upper().startswith(w) for w in sql_words):
                        offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
                elif isinstance(node, ast.Attribute) and node.attr == "execute":
                    src = ast.get_source_segment(path.read_text(), node) or ""
                    if "con" in src:
                        offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []


def test_connectors_never_import_the_store_or_the_tui() -> None:
    for path in (REPO / "connectors").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for n in names:
                assert not n.startswith(("engage.store", "engage.dashboard", "textual")), (path, n)


def test_models_are_found_from_a_checkout() -> None:
    assert paths.models_dir() == REPO / "models"
    assert paths.default_config_file() == REPO / "config" / "engage.toml"


def test_models_are_found_inside_an_installed_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_pkg = tmp_path / "site" / "engage"
    (fake_pkg / "_models").mkdir(parents=True)
    (fake_pkg / "_config").mkdir()
    (fake_pkg / "_config" / "engage.toml").write_text("")
    monkeypatch.setattr(paths, "_package_dir", lambda: fake_pkg)
    assert paths.models_dir() == fake_pkg / "_models"
    assert paths.default_config_file() == fake_pkg / "_config" / "engage.toml"


@pytest.mark.slow
def test_the_wheel_ships_models_and_config(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("engage-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "engage/_config/engage.toml" in names
    assert any(n.startswith("engage/_models/") for n in names)
    assert "connectors/base.py" in names
    assert "engage/cli/__init__.py" in names
