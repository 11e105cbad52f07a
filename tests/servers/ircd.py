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

What ngIRCd 26.1 does, measured with this harness (tests/test_ircd_harness.py
pins most of it):

* ``CAP LS 302`` offers only ``multi-prefix``: no message-tags, server-time,
  echo-message, sasl, batch, away-notify or account-tag, and ngIRCd never
  sends message tags; the bot must not depend on any IRCv3 feature. A client
  that sends ``CAP LS`` must send ``CAP END`` or registration never ends.
* Long lines: a client line over 512 bytes (CR LF included) is not cut; the
  client gets ``ERROR :Request too long`` and is disconnected. A line that
  fits from the client but passes 512 bytes once the server prepends
  ``:nick!~user@host`` is cut to 512 bytes ending in ``[CUT]``, byte-wise,
  so a UTF-8 character can be split. A relay bot must keep
  ``len(b":nick!~user@host PRIVMSG #chan :" + text) + 2 <= 512`` itself.
* Flood: ``flood_penalties=False`` (the default here) sets
  ``MaxPenaltyTime = 0``, which turns ngIRCd's penalty timer off: 50 lines
  sent at once arrive at once. With ``flood_penalties=True`` (ngIRCd's real
  defaults) a first burst passes at once (4 to 14 short lines, it varies),
  then about 3 lines a second, or about 1 KB/s for long lines. The rest waits
  in the server, in order; nothing is dropped and the sender is not
  disconnected (not even with 2000 lines of 422 bytes queued): ngIRCd just
  stops reading a penalised socket. So it also reads no PONG, QUIT or EOF
  from it meanwhile: a throttled client that drops its socket keeps its nick
  until the backlog is drained. Paced at 3 lines a second nothing queues.
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
PORT_TRIES = 3
NOBODY_ID = 65534  # "nobody"/"nogroup" on Debian


class IrcdError(RuntimeError):
    """ngIRCd could not be started or stopped."""


class IrcdNotInstalled(IrcdError):
    """The ngircd binary is missing."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


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
        binary: Path | str = NGIRCD_BINARY,
        start_timeout: float = START_TIMEOUT_S,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._may_move = not port  # the port is ours to change until first up
        self.flood_penalties = flood_penalties
        self.binary = Path(binary)
        self.start_timeout = start_timeout
        self.work_dir = _make_work_dir()
        self.config_path = self.work_dir / "ngircd.conf"
        self.log_path = self.work_dir / "ngircd.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        """The server's own name, the prefix of its numerics."""
        return SERVER_NAME

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start ngIRCd and wait until a client can register on it."""
        if self.running:
            return
        if not self.binary.exists():
            raise IrcdNotInstalled(
                f"ngIRCd not found at {self.binary}: run `{INSTALL_HINT}` (Debian package ngircd)"
            )
        for _ in range(PORT_TRIES):
            self._spawn()
            try:
                self._wait_until_ready()
                self._may_move = False  # restarts keep this port from now on
                return
            except IrcdError:
                if not (self._may_move and "Address already in use" in self.log_text()):
                    raise
            # Lost a race for the free port (another server of a parallel
            # run took it): pick another one before anyone knows this one.
            self.port = free_port(self.host)
        raise IrcdError(
            f"no free port found in {PORT_TRIES} tries; last output:\n{self.log_text()}"
        )

    def stop(self) -> None:
        """Stop ngIRCd (SIGTERM, then SIGKILL); connected clients are dropped."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc)

    def restart(self) -> None:
        """Stop and start again on the same port; all clients are disconnected."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and delete its work dir (for good: no start after this)."""
        self.stop()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def log_text(self) -> str:
        """What ngIRCd printed since it was last started."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> IrcServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _spawn(self) -> None:
        self.config_path.write_text(
            render_config(
                host=self.host,
                port=self.port,
                work_dir=self.work_dir,
                flood_penalties=self.flood_penalties,
                run_as=NOBODY_ID if os.geteuid() == 0 else None,
            )
        )
        with open(self.log_path, "wb") as log:  # ngIRCd writes its log to stdout
            self._proc = subprocess.Popen(
                [str(self.binary), "-n", "-f", str(self.config_path)],  # -n: foreground
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

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


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it is still there after STOP_TIMEOUT_S."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(STOP_TIMEOUT_S)


def _make_work_dir() -> Path:
    # Not under pytest's basetemp: that is mode 0700 below /tmp, and "nobody"
    # (see the module docstring) could not reach its PID file there.
    work_dir = Path(tempfile.mkdtemp(prefix="sigbot-ircd-"))
    (work_dir / "conf.d").mkdir()  # an empty IncludeDir, instead of /etc's
    if os.geteuid() == 0:
        os.chown(work_dir, NOBODY_ID, NOBODY_ID)
    return work_dir


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


def start_or_fail(server: IrcServer) -> IrcServer:
    """Start ``server`` in a fixture; on error FAIL (never skip) with its reason."""
    try:
        server.start()
        return server
    except IrcdError as exc:
        error = str(exc)  # pytest.fail outside the except: no chained traceback
    server.close()
    pytest.fail(error, pytrace=False)


@pytest.fixture(scope="session")
def ircd() -> Iterator[IrcServer]:
    """One ngIRCd for the whole test session."""
    server = start_or_fail(IrcServer())
    yield server
    server.close()


@pytest.fixture
def ircd_factory() -> Iterator[Callable[..., IrcServer]]:
    """Start extra, private servers (``IrcServer`` keyword arguments); closed after the test."""
    servers: list[IrcServer] = []

    def make(**kwargs: object) -> IrcServer:
        server = IrcServer(**kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return start_or_fail(server)

    yield make
    for server in servers:
        server.close()
