"""Types that are written but never checked drift: strict mypy runs with the suite.

pyproject.toml's [tool.mypy] names the modules and packages that pass strict
(`files`); this test runs mypy on exactly that list, so a typed module that
regresses fails `make test` and CI. The list only grows: a module joins it
once it passes. mypy keeps its cache in .mypy_cache, so a run after the first
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
