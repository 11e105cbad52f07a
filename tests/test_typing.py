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
