"""A real IRC server (Debian's ngIRCd) on 127.0.0.1 for the test suite.

:class:`IrcServer` writes its own ``ngircd.conf`` into a private temporary
work dir and runs ``/usr/sbin/ngircd -n -f <conf>`` in the foreground: server
name ``irc.test``, one plain-text listener on a free loopback port, no TLS,
no PAM, no ident or DNS lookups, no per-IP connection limit, nicks up to 31
characters (``NICKLEN=31``; ngIRCd's default is 9, which ``alice_matrix``
would break), and the system's ``/etc/ngircd`` ignored (own ``IncludeDir``).
The package is installed by the Makefile (``apt-get install ngircd``), never
here: without the binary the fixtures FAIL, they do not skip.

As root, ngIRCd refuses to keep uid 0 and switches to "nobody" after reading
its config and binding its port; so we name uid/gid 65534 explicitly and
hand the work dir to it, since the PID file is written after that switch.

What ngIRCd 26.1 does, measured with this harness (see
tests/test_ircd_harness.py, which checks the first three):

* ``CAP LS 302`` offers only ``multi-prefix``: no message-tags, server-time,
  echo-message, sasl, batch, away-notify or account-tag. A client that sends
  ``CAP LS`` must send ``CAP END``, or registration never completes. ngIRCd
  never sends message tags, so the bot must not depend on any IRCv3 feature.
* Lines: a client line longer than 512 bytes including CR LF gets the client
  disconnected ("ERROR :Closing connection: ... (Request too long)"), with no
  truncation. A relayed line that grows past 512 bytes once the server puts
  ``:nick!~user@host`` in front is cut to 512 bytes with ``[CUT]`` at the end,
  byte-wise: a UTF-8 character may be split. A relay bot must keep
  ``len(b":nick!user@host PRIVMSG #chan :" + text) + 2 <= 512`` itself.
* Flood: by default (``flood_penalties=False``) ``MaxPenaltyTime = 0`` turns
  ngIRCd's penalty timer off and 50 PRIVMSGs sent at once arrive at once.
  With ``flood_penalties=True`` ngIRCd's defaults apply: after a burst of
  about 10 commands it processes about one per second from that client; it
  throttles rather than disconnects, unless the client's unprocessed input
  grows past its receive buffer (ngIRCd then closes it as a flood).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

NGIRCD_BINARY = Path("/usr/sbin/ngircd")
INSTALL_HINT = "apt-get install ngircd"
SERVER_NAME = "irc.test"
MAX_NICK_LENGTH = 31  # ngIRCd's ceiling (CLIENT_NICK_LEN - 1)
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
PROBE_TIMEOUT_S = 2.0
NOBODY_ID = 65534  # "nobody"/"nogroup" on Debian


class IrcdError(RuntimeError):
    """ngIRCd could not be started or stopped."""


class IrcdNotInstalled(IrcdError):
    """The ngircd binary is missing."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def render_config(
    *, host: str, port: int, work_dir: Path, flood_penalties: bool, run_as: int | None
) -> str:
    """The text of an ngircd.conf for one test server."""
    identity = f"\tServerUID = {run_as}\n\tServerGID = {run_as}\n" if run_as is not None else ""
    # MaxPenaltyTime: 0 disables the per-command penalty timer; -1 is
    # ngIRCd's default (no cap on the penalty, i.e. normal throttling).
    penalty = -1 if flood_penalties else 0
    return f"""\
# Written by tests/servers/ircd.py for one test run.
[Global]
\tName = {SERVER_NAME}
\tInfo = sigbot test server
\tAdminInfo1 = sigbot test suite
\tAdminInfo2 = 127.0.0.1
\tAdminEMail = nobody@{SERVER_NAME}
\tListen = {host}
\tPorts = {port}
\tMotdPhrase = sigbot test ircd
\tPidFile = {work_dir / "ngircd.pid"}
{identity}
[Limits]
\tMaxConnections = 0
\tMaxConnectionsIP = 0
\tMaxJoins = 0
\tMaxNickLength = {MAX_NICK_LENGTH}
\tMaxPenaltyTime = {penalty}
\tMaxListSize = 0
\tPingTimeout = 120
\tPongTimeout = 20
\tIdleTimeout = 0

[Options]
\tDNS = no
\tIdent = no
\tPAM = no
\tIncludeDir = {work_dir / "conf.d"}
"""


class IrcServer:
    """One ngIRCd process on a loopback port, kept across restarts."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        flood_penalties: bool = False,
        binary: Path = NGIRCD_BINARY,
        start_timeout: float = START_TIMEOUT_S,
    ) -> None:
        self._host = host
        self._port = port or free_port(host)
        self.flood_penalties = flood_penalties
        self.binary = Path(binary)
        self.start_timeout = start_timeout
        self.work_dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        return self._port

    @property
    def name(self) -> str:
        """The server's own name, the prefix of its numerics."""
        return SERVER_NAME

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path:
        return self._ensure_work_dir() / "ngircd.log"

    def start(self) -> None:
        """Start ngIRCd and wait until a client can register on it."""
        if self.running:
            return
        if not self.binary.exists():
            raise IrcdNotInstalled(
                f"ngIRCd not found at {self.binary}: run `{INSTALL_HINT}` (Debian package ngircd)"
            )
        config = self._write_config()
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [str(self.binary), "-n", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_ready()

    def stop(self) -> None:
        """Stop ngIRCd (SIGTERM, then SIGKILL); connected clients are dropped."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT_S)

    def restart(self) -> None:
        """Stop and start again on the same port; all clients are disconnected."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and delete its work dir."""
        self.stop()
        if self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)
            self.work_dir = None

    def log_text(self) -> str:
        """Everything ngIRCd printed so far (all starts)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> IrcServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _ensure_work_dir(self) -> Path:
        if self.work_dir is None:
            # Not under pytest's basetemp: that is mode 0700 below /tmp, and
            # "nobody" (see module docstring) could not reach its PID file.
            self.work_dir = Path(tempfile.mkdtemp(prefix="sigbot-ircd-"))
            (self.work_dir / "conf.d").mkdir()
            if os.geteuid() == 0:
                os.chown(self.work_dir, NOBODY_ID, NOBODY_ID)
        return self.work_dir

    def _write_config(self) -> Path:
        work_dir = self._ensure_work_dir()
        config = work_dir / "ngircd.conf"
        config.write_text(
            render_config(
                host=self.host,
                port=self.port,
                work_dir=work_dir,
                flood_penalties=self.flood_penalties,
                run_as=NOBODY_ID if os.geteuid() == 0 else None,
            )
        )
        return config

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                self._proc = None
                raise IrcdError(f"ngIRCd exited at start-up; its output:\n{self.log_text()}")
            if _can_register(self.host, self.port):
                return
            time.sleep(0.05)  # bounded by the deadline
        self.stop()
        raise IrcdError(
            f"ngIRCd on {self.host}:{self.port} took over {self.start_timeout}s to accept "
            f"a registration; its output:\n{self.log_text()}"
        )


def _can_register(host: str, port: int) -> bool:
    """Connect, register and quit; True once the server answered 001."""
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S) as sock:
            sock.sendall(b"NICK harness_probe\r\nUSER probe 0 * :probe\r\n")
            received = b""
            while b" 001 " not in received:
                chunk = sock.recv(4096)
                if not chunk:
                    return False
                received += chunk
            sock.sendall(b"QUIT :ready\r\n")
            return True
    except OSError:  # refused while ngIRCd is still starting, or a timeout
        return False


def _start_or_fail(server: IrcServer) -> IrcServer:
    # Fail (not skip) with a readable message: a missing ircd is a broken setup.
    try:
        server.start()
    except IrcdError as exc:
        server.close()
        pytest.fail(str(exc), pytrace=False)
    return server


@pytest.fixture(scope="session")
def ircd() -> Iterator[IrcServer]:
    """One ngIRCd for the whole test session."""
    server = _start_or_fail(IrcServer())
    yield server
    server.close()


@pytest.fixture
def ircd_factory() -> Iterator[Callable[..., IrcServer]]:
    """Start extra, private servers (``IrcServer`` keyword arguments); closed after the test."""
    servers: list[IrcServer] = []

    def make(**kwargs: object) -> IrcServer:
        server = IrcServer(**kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return _start_or_fail(server)

    yield make
    for server in servers:
        server.close()
