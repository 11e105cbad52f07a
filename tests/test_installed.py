"""What users install: the sdist and the wheel built from this checkout, installed into a clean venv
outside it, run from an empty directory.

The wheel is built from the sdist (as `python -m build` does), so a file the
sdist forgets fails here too. The venv has nothing but the wheel and its
declared dependencies: an undeclared import or a file that is not shipped
fails here, not on an operator's machine.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest
from matrix_users import BotProcess, User, make_room

ROOT = Path(__file__).resolve().parents[1]
# The version is written once, in bot/__init__.py; the installed `sigbot --version` reads the package
# metadata, so comparing the two checks that the build carried it there.
VERSION = ast.literal_eval(next(line.split("=", 1)[1] for line in (ROOT / "bot/__init__.py").read_text().splitlines()
                                if line.startswith("__version__ =")))
SHIPPED = sorted(p.relative_to(ROOT / "templates").as_posix() for p in (ROOT / "templates").rglob("*") if p.is_file())
SAMPLES = sorted(p.name for p in (ROOT / "bot" / "samples").glob("*.log.txt"))


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory) -> Path:
    """A clean venv outside the checkout with only the wheel (and its dependencies); returns its bin/."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=True)
    wheel = next(dist.glob("sigbot-*.whl"))
    done = subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q",
                           "--disable-pip-version-check", str(wheel)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return env_dir / "bin"


def sigbot(bin_dir: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run([str(bin_dir / "sigbot"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**clean, "PATH": f"{bin_dir}:/usr/bin:/bin", **env})


def test_the_sdist_and_the_wheel_carry_every_template_and_sample(dist):
    wheel = zipfile.ZipFile(next(dist.glob(f"sigbot-{VERSION}-*.whl"))).namelist()
    sdist = tarfile.open(next(dist.glob(f"sigbot-{VERSION}.tar.gz"))).getnames()
    for name in SHIPPED:
        assert f"bot/templates/{name}" in wheel, name
        assert f"sigbot-{VERSION}/bot/templates/{name}" in sdist, name
    for name in SAMPLES:
        assert f"bot/samples/{name}" in wheel, name
    assert not [n for n in wheel if "/tests/" in n or n.startswith(("tests/", "notes/"))]


def test_the_installed_sigbot_works_from_an_empty_directory(installed, tmp_path):
    here = tmp_path / "empty"
    here.mkdir()
    done = sigbot(installed, here, "--version")
    assert done.stdout.strip() == f"sigbot, version {VERSION}", done.stderr

    example = ROOT / "sigbot.example.toml"
    done = sigbot(installed, here, "check-config", str(example), SIGBOT_MATRIX_PASSWORD="x")
    assert done.returncode == 0 and "OK" in done.stdout, done.stderr

    log = ROOT / "bot" / "samples" / SAMPLES[0]
    done = sigbot(installed, here, "notes", "replay", str(log), "--out", "replayed")
    assert done.returncode == 0, done.stderr
    assert len(list((here / "replayed").glob("*.md"))) == 1

    done = sigbot(installed, here, "demo", "--out", "notes/demo")
    assert done.returncode == 0 and done.stdout.count("wrote") == len(SAMPLES), done.stdout + done.stderr

    done = sigbot(installed, here, "site", "build", "--notes", "notes", "--out", "site")
    assert done.returncode == 0, done.stderr
    assert (here / "site" / "index.html").is_file() and (here / "site" / "static" / "site.css").is_file()
    assert "Traceback" not in done.stderr

    done = sigbot(installed, here, "farm", "bundle-agent", "agent.pyz")
    assert done.returncode == 0, done.stderr
    agent = subprocess.run([sys.executable, "-I", "-S", str(here / "agent.pyz"), "--once", "--print",
                            "--host", "bare"], capture_output=True, text=True, timeout=60,
                           env={"PATH": "/usr/bin:/bin"})
    assert agent.returncode == 0 and json.loads(agent.stdout)["host"] == "bare", agent.stderr


@pytest.mark.synapse
def test_the_installed_sigbot_runs_and_answers_help_on_a_real_homeserver(installed, synapse, tmp_path):
    async def scenario():
        alice = User(synapse, "Alice")
        await alice.login()
        bot = BotProcess(synapse, tmp_path, "", sigbot=installed / "sigbot")
        try:
            room = await make_room(alice, bot.user_id, [])
            bot.use_room(room)
            bot.start()
            await bot.wait_ready()
            await alice.send(room, "!help")
            assert "!startmeeting" in await alice.wait_for_notice(room, "startmeeting", timeout=60)
        finally:
            bot.stop()
            await alice.close()
        assert "Traceback" not in bot.logs()

    asyncio.run(asyncio.wait_for(scenario(), 240))


def test_pipx_install_from_the_checkout_gives_a_working_sigbot(tmp_path):
    """`pipx install .` as docs/deploy.md says: its own venv, the `sigbot` command on PATH."""
    home, bin_dir, here = tmp_path / "pipx", tmp_path / "bin", tmp_path / "empty"
    here.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(PIPX_HOME=str(home), PIPX_BIN_DIR=str(bin_dir), PIPX_MAN_DIR=str(tmp_path / "man"))
    done = subprocess.run([str(Path(sys.executable).with_name("pipx")), "install", "--python", sys.executable,
                           str(ROOT)], cwd=here, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert sigbot(bin_dir, here, "--version").stdout.strip() == f"sigbot, version {VERSION}"
    done = sigbot(bin_dir, here, "notes", "replay", str(ROOT / "bot" / "samples" / SAMPLES[-1]), "--out", "out")
    assert done.returncode == 0 and len(list((here / "out").glob("*.md"))) == 1, done.stderr


def test_the_suite_imports_the_installed_package_not_the_checkout():
    """`make test` sets SIGBOT_SUITE_INSTALLED; there every test must be testing what users install."""
    import bot

    where = Path(bot.__file__).resolve()
    if os.environ.get("SIGBOT_SUITE_INSTALLED") != "1":
        pytest.skip("run through `make test`, which installs sigbot and runs the suite against that install")
    assert "site-packages" in where.parts, f"the suite imported {where}, not the installed package"
