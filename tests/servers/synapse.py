"""A real Synapse homeserver on 127.0.0.1 for the test suite.

Synapse gets its own virtual environment (``.venv-synapse``, or
``$SIGBOT_SYNAPSE_VENV``), pip-installed by :func:`ensure_synapse` when first
needed. :class:`Synapse` layers test settings (loopback port, SQLite, no
federation, relaxed rate limits) over a config from Synapse's own
``--generate-config`` and runs it as a subprocess; users are made through the
shared-secret admin registration API. The session-scoped ``synapse`` fixture
runs one server for the whole session and fails, never skips, without one.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SYNAPSE_REQUIREMENT = "matrix-synapse>=1.100,<2"
DEFAULT_VENV = Path(__file__).resolve().parents[2] / ".venv-synapse"
RELAXED_RATE = (1000.0, 10000)  # (per_second, burst_count)
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0

# Synapse's rate limiters (synapse/config/ratelimiting.py) other than rc_message.
# Unknown keys are ignored, so ones that a given version lacks do no harm.
FLAT_RATE_LIMITS = (
    "rc_registration", "rc_joins_per_room", "rc_3pid_validation", "rc_admin_redaction",
    "rc_room_creation", "rc_third_party_invite", "rc_media_create", "rc_profile",
    "rc_user_directory", "rc_delayed_event_mgmt", "rc_reports",
)
NESTED_RATE_LIMITS = {
    "rc_login": ("address", "account", "failed_attempts"),
    "rc_joins": ("local", "remote"),
    "rc_invites": ("per_room", "per_user", "per_issuer"),
    "rc_presence": ("per_user",),
}

class SynapseError(RuntimeError):
    """Synapse could not be installed, started or talked to."""


def ensure_synapse(venv: Path) -> Path:
    """Install Synapse into ``venv`` unless it is already there; return its python."""
    python = venv / "bin" / "python"
    if _can_import_synapse(python):
        return python
    venv.mkdir(parents=True, exist_ok=True)  # `python -m venv` accepts an empty dir
    # A lock so that two test runs at once do not pip-install over each other.
    with open(venv / "sigbot-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _can_import_synapse(python):
            _install(venv, python)
    return python


def _can_import_synapse(python: Path) -> bool:
    return python.exists() and subprocess.run(
        [python, "-c", "import synapse"], capture_output=True).returncode == 0


def _install(venv: Path, python: Path) -> None:
    base_python = shutil.which("python3")
    if base_python is None:
        raise SynapseError("no python3 on PATH to create the Synapse venv with")
    print(f"Installing {SYNAPSE_REQUIREMENT} into {venv} ...", file=sys.stderr, flush=True)
    pip = [python, "-m", "pip", "install", "--progress-bar", "on", SYNAPSE_REQUIREMENT]
    for argv in ([base_python, "-m", "venv", str(venv)], pip):
        # Both streams to file descriptor 2, so that a person sees pip's progress
        # (works even where sys.stderr is some in-memory stand-in).
        if subprocess.run(argv, stdout=2).returncode != 0:
            raise SynapseError(f"failed: {' '.join(map(str, argv))}")
    if not _can_import_synapse(python):
        raise SynapseError(f"installed Synapse into {venv} but cannot import it")


def _http_open(request: str | urllib.request.Request, timeout: float) -> Any:
    # Straight to loopback: never through a proxy named in the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return opener.open(request, timeout=timeout)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rate(per_second: float, burst_count: int) -> dict[str, float]:
    return {"per_second": per_second, "burst_count": burst_count}


def config_overrides(port: int, shared_secret: str, data: Path,
                     message_rate: tuple[float, int] | None) -> dict[str, Any]:
    """Top-level config keys that override the generated homeserver.yaml."""
    relaxed = _rate(*RELAXED_RATE)
    return {
        "listeners": [{
            "port": port, "bind_addresses": ["127.0.0.1"], "type": "http",
            "tls": False, "x_forwarded": False,
            "resources": [{"names": ["client"], "compress": False}],
        }],
        "database": {"name": "sqlite3", "args": {"database": str(data / "homeserver.db")}},
        "log_config": str(data / "log.config"),
        "registration_shared_secret": shared_secret,
        "enable_registration": False,
        "report_stats": False,
        "enable_metrics": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        # An empty whitelist means no other server may federate with this one.
        "federation_domain_whitelist": [],
        "url_preview_enabled": False,
        "rc_message": _rate(*(message_rate or RELAXED_RATE)),
        **{key: relaxed for key in FLAT_RATE_LIMITS},
        **{key: dict.fromkeys(parts, relaxed) for key, parts in NESTED_RATE_LIMITS.items()},
    }


# Everything, startup errors included, goes to stderr and so to synapse.log.
LOG_CONFIG = {
    "version": 1,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"level": "INFO", "handlers": ["console"]},
    "disable_existing_loggers": False,
}


class Synapse:
    """One Synapse homeserver whose config, data and log live in ``work_dir``.

    ``message_rate`` is ``(per_second, burst_count)`` for rc_message; leave it
    None for relaxed limits, or make it strict to provoke M_LIMIT_EXCEEDED.
    ``port`` fixes the port (the demo keeps one across runs, so that a signed-in
    client stays signed in); None takes a free one. ``own_session`` False keeps
    Synapse in its starter's process group instead of a session of its own, for
    a starter (the demo) that stops its whole group at once.
    """

    def __init__(self, python: Path, work_dir: Path, server_name: str = "localhost",
                 message_rate: tuple[float, int] | None = None, port: int | None = None,
                 own_session: bool = True) -> None:
        self.python = python
        self.work_dir = work_dir
        self.server_name = server_name
        self.message_rate = message_rate
        self.port = port or free_port()
        self.own_session = own_session
        self.shared_secret = secrets.token_hex(16)
        self.log_path = work_dir / "synapse.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def user_id(self, localpart: str) -> str:
        """The full Matrix user id of a local user."""
        return f"@{localpart}:{self.server_name}"

    def start(self) -> None:
        """Configure on first use, launch, and wait until ``/health`` answers."""
        if self._process is not None:
            raise SynapseError("Synapse is already running")
        self._configure()
        with open(self.log_path, "ab") as log:  # the child keeps its own copy
            self._process = subprocess.Popen(
                [self.python, "-m", "synapse.app.homeserver",
                 "-c", "homeserver.yaml", "-c", "sigbot-test.yaml"],
                cwd=self.work_dir, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=self.own_session)
        try:
            self._wait_healthy(self._process)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if Synapse has not exited within a timeout."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        """Stop and start again with the same data, port and secrets.

        Settings changed on the object meanwhile (``message_rate``) take effect.
        """
        self.stop()
        self.start()

    def __enter__(self) -> Synapse:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def register(self, localpart: str, password: str, admin: bool = False) -> str:
        """Create a user through the shared-secret admin API; return its user id."""
        url = "/_synapse/admin/v1/register"
        nonce = self._request("GET", url)["nonce"]
        # The MAC covers nonce, user, password and admin flag, NUL-separated.
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        for part in (nonce, localpart, password):
            mac.update(part.encode() + b"\x00")
        mac.update(b"admin" if admin else b"notadmin")
        body = {"nonce": nonce, "username": localpart, "password": password,
                "admin": admin, "mac": mac.hexdigest()}
        return self._request("POST", url, body)["user_id"]

    def login(self, localpart: str, password: str) -> str:
        """Log in with a password; return a fresh access token."""
        body = {"type": "m.login.password", "password": password,
                "identifier": {"type": "m.id.user", "user": localpart}}
        return self._request("POST", "/_matrix/client/v3/login", body)["access_token"]

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of Synapse's own output, for error messages."""
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _configure(self) -> None:
        """Generate homeserver.yaml once; (re)write the test overrides every start."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        if not (self.work_dir / "homeserver.yaml").exists():
            self._generate_config()
        # Synapse merges the top-level keys of several -c files, later ones
        # winning, and JSON is YAML: so no YAML library is needed here.
        settings = config_overrides(self.port, self.shared_secret, self.work_dir,
                                    self.message_rate)
        (self.work_dir / "sigbot-test.yaml").write_text(json.dumps(settings, indent=2))
        (self.work_dir / "log.config").write_text(json.dumps(LOG_CONFIG, indent=2))

    def _generate_config(self) -> None:
        # Synapse writes the signing key, secrets and a full homeserver.yaml.
        generate = [self.python, "-m", "synapse.app.homeserver", "--generate-config",
                    "--server-name", self.server_name, "--report-stats=no",
                    "--config-path", "homeserver.yaml", "--data-directory", "."]
        done = subprocess.run(generate, cwd=self.work_dir, capture_output=True, text=True)
        if done.returncode != 0:
            raise SynapseError(f"--generate-config failed:\n{done.stdout}{done.stderr}")

    def _wait_healthy(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SynapseError(f"Synapse exited with {process.returncode}; "
                                   f"log {self.log_path}:\n{self.log_tail()}")
            try:
                with _http_open(self.base_url + "/health", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass  # not listening yet
            time.sleep(0.1)
        raise SynapseError(f"Synapse not healthy after {START_TIMEOUT_S:.0f} s; "
                           f"log {self.log_path}:\n{self.log_tail()}")

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with _http_open(request, timeout=30) as reply:
                return json.load(reply)
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            raise SynapseError(f"{method} {path}: HTTP {error.code}: {detail}") from None


def synapse_venv() -> Path:
    """Where Synapse's own virtual environment lives."""
    return Path(os.environ.get("SIGBOT_SYNAPSE_VENV", DEFAULT_VENV))


def install_visibly(config: pytest.Config) -> Path:
    """ensure_synapse() with pytest's output capture off, so pip shows progress."""
    # The capture manager's switch is what pytest's own live logging uses.
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        return ensure_synapse(synapse_venv())
    with capture.global_and_fixture_disabled():
        return ensure_synapse(synapse_venv())


@pytest.fixture(scope="session")
def synapse(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    """One running homeserver for the whole test session."""
    python = install_visibly(request.config)
    with Synapse(python, tmp_path_factory.mktemp("synapse")) as server:
        yield server
