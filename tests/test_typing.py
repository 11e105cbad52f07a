"""Types that are written but never checked drift: strict mypy runs with the suite.

pyproject.toml's [tool.mypy] names what passes strict (`files`: all of bot/
since December 2026); this test runs mypy on exactly that list, so a typed
module that regresses fails `make test` and CI, and every module of bot/ must
stay on it. mypy keeps its cache in .mypy_cache, so a run after the first
rechecks only what changed.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MYPY = Path(sys.executable).with_name("mypy")  # the venv's, installed with the `test` extra


def test_the_typed_modules_pass_strict_mypy() -> None:
    assert MYPY.exists(), f"{MYPY} is missing: install the test extra (pip install '.[test]')"
    done = subprocess.run([str(MYPY), "--config-file", "pyproject.toml"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_mypy_config_stays_strict() -> None:
    # Passing by loosening the settings is not passing: strict stays on, and the list is never empty.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert config["strict"] is True
    assert config["files"]


def test_every_module_of_the_bot_is_on_the_strict_list() -> None:
    # The list only grows: taking a module off it to let its errors through fails here.
    files = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]["files"]
    listed = [ROOT / f for f in files]
    unchecked = [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "bot").rglob("*.py"))
                 if not any(p == f or f in p.parents for f in listed)]
    assert unchecked == []


def test_a_typing_mistake_fails_the_check(tmp_path: Path) -> None:
    # The same settings on a module with an unannotated function and a wrong call into a typed module:
    # both must be reported, or the check above could pass without checking anything.
    regressed = tmp_path / "regressed.py"
    regressed.write_text("from bot.core.commands import number_arg\n\n\n"
                         "def first_number(text):\n    return number_arg(3)\n", encoding="utf-8")
    done = subprocess.run([str(MYPY), "--config-file", "pyproject.toml", str(regressed)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[no-untyped-def]" in done.stdout and '"number_arg" has incompatible type "int"' in done.stdout
