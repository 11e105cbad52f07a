"""What each line the IRC server sends does: registration, CAP, SASL, nicks, channels, chat.

The `_on_<command>` handlers of `IrcProtocol` (bot/chat/irc_state.py), split
off by responsibility: that module owns the session's state and its entry
points; these turn each parsed `Line` into state changes, lines to send
(`_send`) and `IrcEvent`s (`_emit`). No I/O here either. Numerics are named
in comments; see https://modern.ircdocs.horse/ and the IRCv3 specs
(https://ircv3.net/irc/) for CAP, SASL, extended-join, account-tag and WHOX.
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING

from bot.chat.irc_proto import CTCP, Line, parse_caps, parse_isupport, sasl_payloads, sasl_plain, strip_ctcp_action

if TYPE_CHECKING:
    from bot.chat.irc_tracker import Tracker

log = logging.getLogger("bot.chat.irc")

# Asked for when offered; none is required (ngIRCd offers only multi-prefix).
WANTED_CAPS = frozenset({
    "message-tags", "server-time", "echo-message", "account-tag", "extended-join", "away-notify",
    "batch", "multi-prefix", "account-notify", "chghost",
})
SASL_FAILURES = {"902", "904", "905", "906", "908"}  # nick locked, failed, too long, aborted, mechs
NICK_ERRORS = {"431", "432", "433", "436", "437"}
JOIN_ERRORS = {"403", "405", "471", "473", "474", "475", "476", "477"}
WHOX_TOKEN = "152"
NICKSERV = "NickServ"
# How NickServ says it does not know a command: Atheme ("Invalid command."),
# Anope ("Unknown command REGAIN."). Atheme 7.2 has no REGAIN; Libera's has.
UNKNOWN_COMMAND = ("Invalid command", "Unknown command")


class SaslFailed(ConnectionError):
    """SASL was configured and did not succeed: the bot must not join unauthenticated."""


class ServerLines:
    """The `_on_<command>` handlers; `IrcProtocol` provides the state, `_send` and `_emit`."""

    wanted_nick: str  # the configured nick, which we take back when we can
    channels: list[str]
    rng: random.Random
    sasl: str | None  # "PLAIN", "EXTERNAL" or None
    sasl_account: str | None
    nick: str
    registered: bool
    caps: set[str]
    isupport: dict[str, str]
    account: str | None
    tracker: Tracker
    user: str | None
    host: str | None
    _offered: dict[str, str]
    _negotiating: bool
    _sasl_done: bool
    _nick_tries: int
    _recovering: str | None

    def _send(self, command: str, *params: str) -> None:
        raise NotImplementedError

    def _sasl_password(self) -> str:
        raise NotImplementedError

    def _fold(self, name: str) -> str:
        raise NotImplementedError

    def _regain_nick(self) -> None:
        raise NotImplementedError

    def _emit(self, kind: str, line: Line, target: str, text: str, other: str | None = None) -> None:
        raise NotImplementedError

    def _handle(self, line: Line) -> None:
        if line.nick and line.user and "account" in line.tags:
            self.tracker.set_account(line.nick, line.tags["account"])
        handler = getattr(self, f"_on_{line.command.lower()}", None)
        if handler is not None:
            handler(line)
        elif line.command in SASL_FAILURES:
            raise SaslFailed(f"{line.command} {line.param(-1)}")
        elif line.command in NICK_ERRORS:
            self._nick_refused(line)
        elif line.command in JOIN_ERRORS:
            log.warning("irc: cannot join %s: %s", line.param(1), line.param(-1))

    def _on_ping(self, line: Line) -> None:
        self._send("PONG", line.param(0, "sigbot"))

    def _on_error(self, line: Line) -> None:
        log.warning("irc: server error: %s", line.param(0))

    def _on_cap(self, line: Line) -> None:
        sub, caps = line.param(1).upper(), parse_caps(line.param(-1))
        if sub == "LS":
            self._offered.update(caps)
            if line.param(2) == "*" and len(line.params) > 3:
                return  # more LS lines follow
            wanted = sorted(c for c in self._offered if c in WANTED_CAPS or (c == "sasl" and self.sasl))
            if wanted:
                self._send("CAP", "REQ", " ".join(wanted))
            else:
                self._end_caps()
        elif sub == "ACK":
            self.caps |= {c for c in caps if not c.startswith("-")}
            self.caps -= {c[1:] for c in caps if c.startswith("-")}
            if "sasl" in caps and self._negotiating:
                self._send("AUTHENTICATE", self.sasl or "PLAIN")
            elif self._negotiating:
                self._end_caps()
        elif sub == "NAK":
            log.warning("irc: server refused capabilities %s", line.param(-1))
            if self._negotiating:
                self._end_caps()
        elif sub == "NEW":
            wanted = sorted(c for c in caps if c in WANTED_CAPS and c not in self.caps)
            if wanted:
                self._send("CAP", "REQ", " ".join(wanted))
        elif sub == "DEL":
            self.caps -= set(caps)

    def _end_caps(self) -> None:
        """CAP END; refuses to go on unauthenticated when SASL is configured."""
        mechanism = self.sasl
        if mechanism and not self._sasl_done:
            offered = self._offered.get("sasl")
            why = "the server offers no SASL" if offered is None else f"SASL {mechanism} did not succeed"
            raise SaslFailed(why)
        self._negotiating = False
        self._send("CAP", "END")

    def _on_authenticate(self, line: Line) -> None:
        if line.param(0) != "+" or self.sasl is None:
            return  # an AUTHENTICATE we did not start is ignored
        if self.sasl == "EXTERNAL":
            payload = b""  # the server takes the identity from our certificate
        else:
            assert self.sasl_account
            payload = sasl_plain(self.sasl_account, self._sasl_password())
        for piece in sasl_payloads(payload):
            self._send("AUTHENTICATE", piece)

    def _on_900(self, line: Line) -> None:  # RPL_LOGGEDIN: us nick!user@host account :text
        self.account = line.param(2) or None
        log.info("irc: logged in to services as %s", self.account)

    def _on_903(self, line: Line) -> None:  # RPL_SASLSUCCESS
        self._sasl_done = True
        self._end_caps()

    _on_907 = _on_903  # already authenticated

    def _on_001(self, line: Line) -> None:
        if self.sasl and not self._sasl_done:
            raise SaslFailed("the server registered us without SASL (it does not support CAP)")
        self.nick = line.param(0, self.nick)
        welcome = line.param(-1).rsplit(" ", 1)[-1]  # "... Network nick!user@host" on many servers
        if "!" in welcome and "@" in welcome:
            self.user, self.host = welcome.split("!", 1)[1].split("@", 1)
        self._negotiating = False
        self.registered = True
        log.info("irc: registered as %s", self.nick)
        for channel in self.channels:
            self._send("JOIN", channel)
        if self._fold(self.nick) != self._fold(self.wanted_nick):
            self._recover_nick()

    def _on_005(self, line: Line) -> None:
        self.isupport.update(parse_isupport(line.params))
        self.tracker.casemapping = self.isupport.get("CASEMAPPING", "rfc1459")

    def _on_396(self, line: Line) -> None:  # RPL_VISIBLEHOST: our host is now shown as this
        self.host = line.param(1) or self.host

    def _nick_refused(self, line: Line) -> None:
        if self.registered:
            log.debug("irc: nick %s still unavailable: %s", self.wanted_nick, line.param(-1))
            return
        self._nick_tries += 1
        base = self.wanted_nick
        self.nick = (
            base + "_" * self._nick_tries if self._nick_tries <= 2 else f"{base[:12]}{self.rng.randrange(1000, 9999)}"
        )
        log.warning("irc: nick refused (%s %s); trying %s", line.command, line.param(-1), self.nick)
        self._send("NICK", self.nick)

    def _recover_nick(self) -> None:
        """Registered under another nick: as the services account that owns ours, have NickServ free it.

        REGAIN frees the nick and renames us in one step (Libera); where
        NickServ does not know it, GHOST disconnects the holder and we send
        NICK ourselves (`_from_nickserv`). Without an account NickServ would
        refuse both, so then only the NICK retry of `tick` is left.
        """
        wanted = self.wanted_nick
        if self.account is None:
            log.warning("irc: our nick %s is held by someone else and we are not logged in to services; "
                        "staying %s and trying NICK %s again every minute", wanted, self.nick, wanted)
            return
        log.warning("irc: our nick %s is held by someone else; asking NickServ to REGAIN it for account %s",
                    wanted, self.account)
        self._recovering = "REGAIN"
        self._send("PRIVMSG", NICKSERV, f"REGAIN {wanted}")

    def _from_nickserv(self, text: str) -> None:
        text = text.replace("\x02", "")  # services embolden names and commands
        log.info("irc: NickServ says: %s", text)
        if self._recovering == "REGAIN" and text.startswith(UNKNOWN_COMMAND):
            log.warning("irc: NickServ has no REGAIN; asking it to GHOST %s, then taking the nick",
                        self.wanted_nick)
            self._recovering = "GHOST"
            self._send("PRIVMSG", NICKSERV, f"GHOST {self.wanted_nick}")
        elif self._recovering == "GHOST":  # its answer: the holder is gone, or why not (then NICK fails, logged)
            self._recovering = None
            self._regain_nick()

    def _is_us(self, nick: str) -> bool:
        return self._fold(nick) == self._fold(self.nick)

    def _on_nick(self, line: Line) -> None:
        new = line.param(0)
        if not self._is_us(line.nick):  # told before the rename, so the account is still found under the old nick
            for channel in self.tracker.channels_of(line.nick) or [""]:
                self._emit("nick", line, channel, new, other=new)
        self.tracker.rename(line.nick, new)
        if self._is_us(line.nick):
            self.nick = new
            if self._fold(new) == self._fold(self.wanted_nick) and self._fold(line.nick) != self._fold(new):
                self._recovering = None
                log.info("irc: took our nick back: %s is now %s", line.nick, new)
            else:
                log.info("irc: now known as %s", new)
            return
        if self._fold(line.nick) == self._fold(self.wanted_nick):
            self._regain_nick()  # the holder of our nick moved away

    def _on_chghost(self, line: Line) -> None:
        if self._is_us(line.nick):
            self.user, self.host = line.param(0), line.param(1)

    def _on_account(self, line: Line) -> None:  # account-notify
        self.tracker.set_account(line.nick, line.param(0))

    def _on_join(self, line: Line) -> None:
        channel = line.param(0)
        if len(line.params) >= 2:  # extended-join: JOIN #chan account :realname
            self.tracker.set_account(line.nick, line.param(1))
        self.tracker.join(channel, line.nick, us=self._is_us(line.nick))
        if self._is_us(line.nick):
            self.user, self.host = line.user or self.user, line.host or self.host
            return
        self._emit("join", line, channel, "")

    def _on_353(self, line: Line) -> None:  # RPL_NAMREPLY: us = #chan :@a +b c
        prefixes = self.isupport.get("PREFIX", "(qaohv)~&@%+").partition(")")[2] or "~&@%+"
        for name in line.param(-1).split():
            self.tracker.join(line.param(2), name.lstrip(prefixes).split("!", 1)[0])

    def _on_366(self, line: Line) -> None:  # end of NAMES: ask WHOX for the members' accounts
        if "WHOX" in self.isupport:
            self._send("WHO", line.param(1), f"%tnuhaf,{WHOX_TOKEN}")

    def _on_354(self, line: Line) -> None:  # WHOX: us token user host nick flags account
        if line.param(1) != WHOX_TOKEN or len(line.params) < 7:
            return
        user, host, nick, account = line.param(2), line.param(3), line.param(4), line.param(6)
        self.tracker.set_account(nick, account)
        if self._is_us(nick):
            self.user, self.host = user, host

    def _on_part(self, line: Line) -> None:
        channel = line.param(0)
        self.tracker.part(channel, line.nick, us=self._is_us(line.nick))
        if not self._is_us(line.nick):
            self._emit("part", line, channel, line.param(1))

    def _on_kick(self, line: Line) -> None:
        channel, victim = line.param(0), line.param(1)
        self.tracker.part(channel, victim, us=self._is_us(victim))
        if self._is_us(victim):
            log.warning("irc: kicked from %s by %s: %s", channel, line.nick, line.param(2))
        self._emit("kick", line, channel, line.param(2), other=victim)

    def _on_quit(self, line: Line) -> None:
        for channel in self.tracker.quit(line.nick) or [""]:
            self._emit("quit", line, channel, line.param(0))
        if self._fold(line.nick) == self._fold(self.wanted_nick):
            self._regain_nick()

    def _on_privmsg(self, line: Line) -> None:
        self._message(line, notice=False)

    def _on_notice(self, line: Line) -> None:
        self._message(line, notice=True)

    def _message(self, line: Line, notice: bool) -> None:
        if not line.user or not self.registered:
            return  # a server notice ("*** Looking up your hostname")
        if self._is_us(line.nick):
            return  # echo-message: our own line coming back is not someone else's
        target, text = line.param(0), line.param(1)
        if notice and self._fold(line.nick) == self._fold(NICKSERV) and self._is_us(target):
            self._from_nickserv(text)
        action = strip_ctcp_action(text)
        if action is not None and not notice:
            self._emit("action", line, target, action)
        elif not text.startswith(CTCP):  # other CTCP queries and replies are not chat
            self._emit("notice" if notice else "privmsg", line, target, text)
