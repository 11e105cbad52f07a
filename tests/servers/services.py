"""A Libera-like IRC network for the test suite: InspIRCd 3 with Atheme 7 services.

Libera runs Solanum with Atheme. Debian 12 packages no Solanum (nor
Charybdis), so the closest network it can run is InspIRCd 3 (package
``inspircd``) linked to Atheme 7.2 (package ``atheme-services``) through
Atheme's ``protocol/inspircd`` module (InspIRCd 3's spanningtree still
accepts that module's 1202 link protocol). What the bot sees of it is what
it sees on Libera: NickServ accounts, SASL PLAIN and EXTERNAL,
``account-notify``, ``extended-join``, ``account-tag``, WHOX.

:class:`ServicesNetwork` writes both configs into a private temporary work
dir, takes free ports on 127.0.0.1 (clients, the server link, TLS clients),
starts ``inspircd --nofork`` (``--runasroot`` as root: it refuses uid 0
otherwise), then ``atheme-services -n``, and waits until Atheme has linked
and NickServ answers. :meth:`register` makes NickServ accounts through a raw
client, as a person would (``auth = none``: no e-mail confirmation).

The packages are installed by scripts/system-deps.sh, never here: without
the binaries the fixture FAILS, it does not skip.

What this network does, as measured with it: NickServ has GHOST but no
REGAIN (Libera's has REGAIN) and answers REGAIN with "Invalid command.";
SASL EXTERNAL needs the certificate's SHA-256 fingerprint on the account
(``NickServ CERT ADD``); ``account-tag`` marks every line of a logged-in
user, so a line without it is from someone logged out; Atheme runs with
``-n`` (no fork) and so tells each new user it is "running in debug mode".
The server's TLS certificate is self-signed: clients must not verify it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from servers.irc_client import IrcClient, IrcMessage
from servers.ircd import free_port, stop_process

INSPIRCD_BINARY = Path("/usr/sbin/inspircd")
ATHEME_BINARY = Path("/usr/bin/atheme-services")
INSPIRCD_MODULES = Path("/usr/lib/inspircd/modules")
INSTALL_HINT = "apt-get install inspircd atheme-services (or scripts/system-deps.sh)"
SERVER_NAME = "irc.test"
SERVICES_NAME = "services.test"
NETWORK_NAME = "SigbotNet"
LINK_PASSWORD = "sigbot-link"
START_TIMEOUT_S = 60.0  # two daemons and a link, on a loaded machine
PORT_TRIES = 3

# InspIRCd modules for what Libera offers a client: SASL, accounts and the
# IRCv3 capabilities; services_account is the one Atheme cannot do without.
INSPIRCD_MODULE_NAMES = (
    "spanningtree", "services_account", "sasl", "cap", "ircv3", "ircv3_accounttag", "ircv3_servertime",
    "ircv3_echomessage", "ircv3_msgid", "ircv3_batch", "ircv3_capnotify", "ircv3_chghost", "ircv3_ctctags",
    "namesx", "hidechans", "chghost", "chgident", "chgname", "globops", "sslinfo", "ssl_gnutls",
)
ATHEME_MODULES = (
    "protocol/inspircd", "backend/opensex", "crypto/pbkdf2v2",
    "nickserv/main", "nickserv/register", "nickserv/identify", "nickserv/logout", "nickserv/ghost",
    "nickserv/info", "nickserv/cert", "nickserv/help", "nickserv/set_core", "nickserv/set_password",
    "saslserv/main", "saslserv/plain", "saslserv/external",
)


class ServicesError(RuntimeError):
    """The network could not be started."""


def render_inspircd_config(*, port: int, tls_port: int, link_port: int, work_dir: Path) -> str:
    modules = "\n".join(f'<module name="{name}">' for name in INSPIRCD_MODULE_NAMES)
    return f"""\
# Written by tests/servers/services.py for one test run.
<config format="xml">
<define name="work" value="{work_dir}">
<server name="{SERVER_NAME}" description="sigbot test network" network="{NETWORK_NAME}" id="0AA">
<admin name="sigbot tests" nick="admin" email="nobody@{SERVER_NAME}">
<path configdir="&work;" datadir="&work;" logdir="&work;" moduledir="{INSPIRCD_MODULES}">
<pid file="&work;/inspircd.pid">
<bind address="127.0.0.1" port="{port}" type="clients">
<bind address="127.0.0.1" port="{tls_port}" type="clients" sslprofile="tests">
<bind address="127.0.0.1" port="{link_port}" type="servers">
<sslprofile name="tests" provider="gnutls" certfile="&work;/server.pem" keyfile="&work;/server.key"
    requestclientcert="yes" hash="sha256" dhfile="">
<connect name="all" allow="*" timeout="60" pingfreq="120" sendq="1048576" recvq="65536" softsendq="65536"
    threshold="100000" commandrate="1000000" fakelag="no" localmax="1000" globalmax="1000"
    resolvehostnames="no" useident="no" limit="5000" maxchans="50">
<limits maxnick="30" maxchan="64" maxquit="255" maxtopic="307" maxkick="255" maxreal="128" maxaway="200"
    maxhost="64" maxident="10">
<options prefixquit="Quit: " allowzerolimit="no" defaultmodes="nt" hostintopic="yes">
<security announceinvites="dynamic" hideulines="no" hideserver="" maxtargets="20" flatlinks="no">
<performance netbuffersize="10240" somaxconn="128" softlimit="1024" clonesonconnect="no" timeskipwarn="0"
    quietbursts="yes">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="debug" target="inspircd.log">
{modules}
<ircv3 accountnotify="yes" awaynotify="yes" extendedjoin="yes">
<link name="{SERVICES_NAME}" ipaddr="127.0.0.1" port="{link_port}" allowmask="127.0.0.0/8"
    sendpass="{LINK_PASSWORD}" recvpass="{LINK_PASSWORD}">
<uline server="{SERVICES_NAME}" silent="yes">
<sasl target="{SERVICES_NAME}" requiressl="no">
"""


def render_atheme_config(*, link_port: int) -> str:
    modules = "\n".join(f'loadmodule "modules/{name}";' for name in ATHEME_MODULES)

    def agent(nick: str, real: str) -> str:
        return f'\tnick = "{nick}";\n\tuser = "{nick}";\n\thost = "{SERVICES_NAME}";\n\treal = "{real}";\n'

    return f"""\
/* Written by tests/servers/services.py for one test run. */
{modules}

serverinfo {{
\tname = "{SERVICES_NAME}";
\tdesc = "sigbot test services";
\tnumeric = "0AB";
\trecontime = 1;
\tnetname = "{NETWORK_NAME}";
\thidehostsuffix = "users.{SERVER_NAME}";
\tadminname = "sigbot tests";
\tadminemail = "nobody@{SERVER_NAME}";
\tregisteremail = "nobody@{SERVER_NAME}";
\tmta = "/bin/true";
\tloglevel = {{ all; }};
\tmaxlogins = 5;
\tmaxusers = 50;
\tmdlimit = 30;
\temaillimit = 10;
\temailtime = 300;
\tauth = none;
\tcasemapping = rfc1459;
}};

uplink "{SERVER_NAME}" {{
\thost = "127.0.0.1";
\tport = {link_port};
\tsend_password = "{LINK_PASSWORD}";
\treceive_password = "{LINK_PASSWORD}";
}};

nickserv {{
{agent("NickServ", "Nickname Services")}\tmaxnicks = 5;
\texpire = 0;
}};

saslserv {{
{agent("SaslServ", "SASL Authentication Agent")}}};

general {{
\tflood_msgs = 0;
\tflood_time = 10;
\tratelimit_uses = 0;
\tratelimit_period = 60;
\tkline_time = 7;
\tclone_time = 0;
\tcommit_interval = 5;
\tdefault_clone_allowed = 1000;
\tdefault_clone_warn = 1000;
}};
"""


class ServicesNetwork:
    """InspIRCd and Atheme as two processes on loopback ports, linked."""

    def __init__(self, *, start_timeout: float = START_TIMEOUT_S, inspircd: Path = INSPIRCD_BINARY,
                 atheme: Path = ATHEME_BINARY) -> None:
        self.inspircd, self.atheme = Path(inspircd), Path(atheme)
        self.host = "127.0.0.1"
        self.port, self.tls_port, self.link_port = free_port(), free_port(), free_port()
        self.start_timeout = start_timeout
        self.work_dir = Path(tempfile.mkdtemp(prefix="sigbot-services-"))
        self.services_dir = self.work_dir / "atheme"
        self.ircd_log = self.work_dir / "inspircd.log"
        self.ircd_output = self.work_dir / "inspircd.out"
        self.atheme_log = self.work_dir / "atheme.log"
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def name(self) -> str:
        return SERVER_NAME

    def start(self) -> None:
        """Start both daemons and wait until NickServ answers a client."""
        for binary in (self.inspircd, self.atheme):
            if not binary.exists():
                raise ServicesError(f"{binary} not found: run `{INSTALL_HINT}`")
        for _ in range(PORT_TRIES):
            if self._start_inspircd():
                break
            # Lost a race for a free port (a parallel run took it): InspIRCd
            # runs on without that listener, so stop it and take new ports.
            self.stop()
            self.port, self.tls_port, self.link_port = free_port(), free_port(), free_port()
        else:
            raise ServicesError(f"no free ports found in {PORT_TRIES} tries:\n{self.log_text()}")
        self._spawn([str(self.atheme), "-n", "-c", str(self.services_dir / "atheme.conf"),
                     "-D", str(self.services_dir), "-l", str(self.atheme_log),
                     "-p", str(self.services_dir / "atheme.pid")], self.work_dir / "atheme.out")
        self._wait(self._nickserv_answers, "Atheme to link and NickServ to answer")

    def stop(self) -> None:
        for proc in reversed(self._procs):  # Atheme first, then the server it links to
            stop_process(proc)
        self._procs.clear()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def log_text(self) -> str:
        """What both daemons wrote, for a failure message."""
        parts = []
        for path in (self.ircd_output, self.ircd_log, self.work_dir / "atheme.out", self.atheme_log):
            if path.exists():
                parts.append(f"--- {path.name}\n" + path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def client(self, account: str | None = None, password: str = "") -> IrcClient:
        """A raw client; with ``account`` it logs in to it with SASL when it connects."""
        if account is None:
            return IrcClient(self.host, self.port)
        return AccountClient(self.host, self.port, account, password)

    async def register(self, account: str, password: str, timeout: float = 20.0) -> None:
        """Register a NickServ account named ``account`` (connects as that nick, then leaves)."""
        person = self.client()
        await person.connect(account, timeout=timeout)
        try:
            await nickserv(person, f"REGISTER {password} {account}@{SERVER_NAME}", "registered", timeout)
        finally:
            await person.quit()

    async def add_certificate(self, account: str, password: str, certificate: Path, timeout: float = 20.0) -> None:
        """Let ``account`` log in with SASL EXTERNAL through ``certificate`` (a PEM holding it).

        NickServ CERT ADD takes the fingerprint as InspIRCd reports it: the
        SHA-256 of the DER certificate (``hash="sha256"`` in the sslprofile;
        InspIRCd 3's default, MD5, would not match what Libera uses).
        """
        end = "-----END CERTIFICATE-----"
        der = ssl.PEM_cert_to_DER_cert(certificate.read_text().split(end)[0] + end)  # the key may follow
        person = self.client(account, password)
        await person.connect(f"{account[:20]}_cert", timeout=timeout)
        try:
            await nickserv(person, f"CERT ADD {hashlib.sha256(der).hexdigest()}", "Added fingerprint", timeout)
        finally:
            await person.quit()

    def _start_inspircd(self) -> bool:
        """Start InspIRCd; False when one of its ports was taken meanwhile."""
        self._write_files()
        args = [str(self.inspircd), "--config", str(self.work_dir / "inspircd.conf"), "--nofork"]
        if os.geteuid() == 0:
            args.append("--runasroot")  # InspIRCd refuses to run as root without it
        self._spawn(args, self.ircd_output)
        self._wait(lambda: "is now running" in self.ircd_output.read_text(errors="replace"), "InspIRCd to start")
        return "failed to bind" not in self.ircd_output.read_text(errors="replace")

    def _write_files(self) -> None:
        self.services_dir.mkdir(exist_ok=True)
        (self.work_dir / "inspircd.conf").write_text(render_inspircd_config(
            port=self.port, tls_port=self.tls_port, link_port=self.link_port, work_dir=self.work_dir))
        (self.services_dir / "atheme.conf").write_text(render_atheme_config(link_port=self.link_port))
        make_certificate(self.work_dir / "server", SERVER_NAME)

    def _spawn(self, args: list[str], output: Path) -> None:
        with open(output, "wb") as out:
            self._procs.append(subprocess.Popen(args, cwd=self.work_dir, stdin=subprocess.DEVNULL,
                                                stdout=out, stderr=subprocess.STDOUT))

    def _wait(self, ready, what: str) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            for proc in self._procs:
                if proc.poll() is not None:
                    raise ServicesError(f"{proc.args[0]} exited while waiting for {what}:\n{self.log_text()}")
            if ready():
                return
            time.sleep(0.2)  # bounded by the deadline
        raise ServicesError(f"waited {self.start_timeout:.0f} s for {what}:\n{self.log_text()}")

    def _nickserv_answers(self) -> bool:
        async def probe() -> bool:
            person = self.client()
            try:
                await person.connect(f"probe{os.getpid()}", timeout=5)
                await nickserv(person, "HELP", "", timeout=3)
                return True
            except (OSError, ConnectionError, TimeoutError):
                return False
            finally:
                await person.quit(timeout=2)

        return asyncio.run(probe())


class AccountClient(IrcClient):
    """A raw client that logs in to a services account with SASL PLAIN while registering, as on Libera.

    ``IrcClient.connect(caps=...)`` ends CAP negotiation at once; SASL must
    happen before that CAP END (https://ircv3.net/specs/extensions/sasl-3.1),
    so it is slipped in just before the line goes out.
    """

    def __init__(self, host: str, port: int, account: str, password: str) -> None:
        super().__init__(host, port)
        self.account, self.password = account, password
        self._logging_in = False

    async def connect(self, nick: str, **kwargs: Any) -> IrcMessage:  # type: ignore[override]
        caps = set(kwargs.pop("caps", None) or ()) | {"sasl"}
        return await super().connect(nick, caps=caps, **kwargs)

    async def send_raw(self, line: str | bytes) -> None:
        if line == "CAP END" and not self._logging_in:
            self._logging_in = True
            try:
                await self._authenticate()
            finally:
                self._logging_in = False
        await super().send_raw(line)

    async def _authenticate(self, timeout: float = 20.0) -> None:
        await self.send_raw("AUTHENTICATE PLAIN")
        await self.expect(lambda m: m.command == "AUTHENTICATE", timeout)
        payload = f"{self.account}\0{self.account}\0{self.password}".encode()
        await self.send_raw("AUTHENTICATE " + base64.b64encode(payload).decode())
        done = await self.expect(lambda m: m.command in ("903", "902", "904", "905", "906"), timeout)
        if done.command != "903":
            raise ConnectionError(f"SASL login to {self.account} failed: {done.raw!r}")


async def nickserv(person: IrcClient, command: str, answer: str, timeout: float = 20.0) -> IrcMessage:
    """Say ``command`` to NickServ; return its first NOTICE containing ``answer``."""
    await person.privmsg("NickServ", command)
    return await person.expect(lambda m: m.command == "NOTICE" and m.nick == "NickServ"
                               and answer in (m.text or ""), timeout)


def make_certificate(stem: Path, name: str) -> Path:
    """A self-signed certificate and key (``stem.pem``, ``stem.key``); returns one PEM with both."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={name}", "-keyout", f"{stem}.key", "-out", f"{stem}.pem"],
                   check=True, capture_output=True)
    both = stem.with_suffix(".both.pem")
    both.write_text(Path(f"{stem}.pem").read_text() + Path(f"{stem}.key").read_text())
    return both


def start_or_fail(network: ServicesNetwork) -> ServicesNetwork:
    """Start ``network`` in a fixture; on error FAIL (never skip) with its reason."""
    try:
        network.start()
        return network
    except (ServicesError, OSError, subprocess.CalledProcessError) as exc:
        error = str(exc)  # pytest.fail outside the except: no chained traceback
    network.close()
    pytest.fail(error, pytrace=False)


@pytest.fixture(scope="session")
def services() -> Iterator[ServicesNetwork]:
    """One InspIRCd + Atheme network for the whole session; FAILS (never skips) without them."""
    network = start_or_fail(ServicesNetwork())
    yield network
    network.close()
