"""A finding that no one runs the linter for piles up: ruff runs with the suite.

pyproject.toml's [tool.ruff] holds the rules (pycodestyle, pyflakes, isort,
bugbear, pyupgrade; lines up to 120 characters). This test runs the venv's
ruff on every folder of Python the project keeps, so a new finding fails
`make test` and CI. A finding is fixed, or silenced on its line with
`# noqa: CODE` and the reason beside it.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).with_name("ruff")  # the venv's, installed with the `test` extra
FOLDERS = ["bot", "tests", "bench", "scripts"]


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    assert RUFF.exists(), f"{RUFF} is missing: install the test extra (pip install '.[test]')"
    return subprocess.run([str(RUFF), "check", "--config", str(ROOT / "pyproject.toml"), "--no-cache",
                           "--output-format", "concise", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing_in_the_code_the_tests_or_the_scripts() -> None:
    done = ruff(*FOLDERS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_reads_every_python_file_in_those_folders() -> None:
    # An exclude pattern can hide a whole package without a word ("site" once skipped bot/site):
    # every .py file of the four folders must be among those ruff checks.
    done = ruff("--show-files", *FOLDERS)
    seen = {Path(line) for line in done.stdout.splitlines() if line.endswith(".py")}
    kept = {p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts}
    assert kept and kept <= seen, sorted(str(p.relative_to(ROOT)) for p in kept - seen)


def test_the_ruff_rules_stay_selected() -> None:
    # Passing by dropping rules is not passing: the rule families stay, and nothing is ignored wholesale
    # beyond what the config explains.
    lint = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["ruff"]["lint"]
    assert {"E", "F", "W", "I", "B", "UP"} <= set(lint["select"])
    assert set(lint.get("ignore", [])) <= {"UP017"}


def test_a_lint_mistake_fails_the_check(tmp_path: Path) -> None:
    # The same settings on a file with an unused import, a too-long line and a loop variable a closure
    # reads late: all three must be reported, or the check above could pass without checking anything.
    sloppy = tmp_path / "sloppy.py"
    sloppy.write_text("import os\n\n"
                      f"NAME = \"{'x' * 120}\"\n\n"
                      "CALLS = []\nfor i in range(3):\n    CALLS.append(lambda: i)\n", encoding="utf-8")
    done = ruff(str(sloppy))
    assert done.returncode == 1, done.stdout + done.stderr
    assert all(code in done.stdout for code in ("F401", "E501", "B023")), done.stdout
