"""The relay's wiring: IRC lines into the dispatcher, and the outbox that carries
the dispatcher's effects to both networks.

There is one road in and one road out. Every line said in a team room, on
either network, reaches the dispatcher once, from the network it was said on;
the dispatcher stores it and decides whether it crosses to the other network
(a `Relay` effect: never for a line with private details, never for the bot's
own words). `Relay.deliver` is the outbox: relayed lines, answers (to both
networks, once each), reactions, direct messages and redactions.

Loops are kept out by identity, never by guessing at text: the bot's own
Matrix events are never handled (only remembered, to name the sender of a
reply), the bot's own IRC lines and echoes are dropped by nick, and a relayed
copy is the bot's own line on the other side, so it is never read as a command.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from bot.chat.matrix_events import notice_content
from bot.config import Team
from bot.core.message import DirectMessage, Effect, LineKind, Message, Network, React, Redact, Reply
from bot.core.message import Relay as RelayLine
from bot.relay.config import RelaySettings
from bot.relay.store import add_paste
from bot.relay.to_irc import edit_line, html_to_irc, irc_lines, irc_name, matrix_line
from bot.relay.to_matrix import event_content, plain_text, relayed_content
from bot.relay.web import paste_url
from bot.runtime import Runtime

if TYPE_CHECKING:
    from bot.chat.irc_tracker import Tracker

log = logging.getLogger(__name__)

ENCRYPTED_NOTICE = ("This room is end-to-end encrypted, so what is said here is not relayed to {channels} on "
                    "IRC, which anyone can read. The bot's answers and what is said on IRC still reach both "
                    "sides. (An admin can change this: [teams.relay] allow_encrypted = true.)")
REMEMBERED = 5000  # Matrix events whose sender and relayed text are kept, for replies and edits
DEFAULT_SETTINGS = RelaySettings()
# Marks the Matrix copy of an IRC line whose command was acknowledged, so the bot
# finds the copy's event id when sync shows it its own event (on_own_event).
ACK_MARK = "org.sigbot.relay.ack"


class MatrixSide(Protocol):
    """What the relay needs of bot/chat/matrix.py's MatrixAdapter."""

    on_own_event: list[Callable[[Team | None, dict[str, Any]], None]]
    route: Callable[[list[Effect]], None]
    def deliver(self, effects: list[Effect]) -> None: ...
    def post(self, room_name: str, content: dict[str, Any]) -> None: ...
    def members(self, room_name: str) -> dict[str, str]: ...


class IrcSide(Protocol):
    """What the relay needs of bot/chat/irc.py's IrcConnection."""

    @property
    def nick(self) -> str: ...
    def send(self, target: str, text: str, action: bool = False, notice: bool = False) -> None: ...
    def text_budget(self, target: str, action: bool = False) -> int: ...


def settings_of(team: Team) -> RelaySettings:
    settings: RelaySettings = team.sections.get("relay", DEFAULT_SETTINGS)  # relay/config.py's parse_team
    return settings


class Relay:
    def __init__(self, rt: Runtime, matrix: MatrixSide, irc: IrcSide | None = None):
        self.rt = rt
        self.config = rt.config
        self.matrix = matrix
        self.irc = irc  # set once the connection is built (it needs on_irc_event first)
        self.bot_user = self.config.matrix.user_id if self.config.matrix else None
        self.senders: OrderedDict[str, tuple[str, bool]] = OrderedDict()  # event id -> (name, said on IRC)
        self.relayed: OrderedDict[str, str] = OrderedDict()  # event id -> text sent to IRC (edits)
        self.accounts: dict[str, str] = {}  # services account (lower case) -> its nick now
        self.acks: dict[Message, list[React]] = {}  # an IRC line being delivered -> reactions for its copy
        self.awaiting: OrderedDict[str, list[React]] = OrderedDict()  # mark of a posted copy -> its reactions

    # --- Matrix -> IRC -----------------------------------------------------

    def on_own_event(self, team: Team | None, source: dict[str, Any]) -> None:
        """The bot's own Matrix events: which IRC person each relayed line stands for (for reply prefixes)."""
        if team is None or self.irc is None:
            return
        content = source.get("content") or {}
        mark = content.get(ACK_MARK)
        acks = self.awaiting.pop(mark, None) if isinstance(mark, str) else None
        if acks and source.get("event_id"):
            self.matrix.deliver([replace(ack, event_id=source["event_id"]) for ack in acks])
        profile = content.get("com.beeper.per_message_profile") or {}
        who = profile.get("displayname")
        _remember(self.senders, source.get("event_id") or "", (who, True) if who else (self.irc.nick, True))

    def _to_irc(self, team: Team, msg: Message) -> None:
        """A line said in a team room on Matrix, which the dispatcher relays, as IRC lines in its channels."""
        if self.irc is None or not team.irc_channels:
            return
        settings = settings_of(team)
        if msg.encrypted and not settings.allow_encrypted:
            self._encrypted_notice(team)
            return
        shown = irc_name(msg.nick, settings.zero_width_names)
        text = matrix_line(msg.formatted, msg.text, msg.attachment)
        if msg.edits:
            before = self.relayed.get(msg.edits)
            if not text or before == text:
                return  # nothing changed that IRC would see
            _remember(self.relayed, msg.edits, text)
            self._to_channels(team, shown, edit_line(before, text), msg.kind, msg.nick)
            return
        _remember(self.senders, msg.event_id or "", (msg.nick, False))
        if not text:
            return
        _remember(self.relayed, msg.event_id or "", text)
        if msg.reply_to:
            text = self._reply_prefix(msg.reply_to, settings) + text
        self._to_channels(team, shown, text, msg.kind, msg.nick)

    def _reply_prefix(self, event_id: str, settings: RelaySettings) -> str:
        """`Name: ` for a reply; an IRC nick is left whole so its owner is highlighted."""
        known = self.senders.get(event_id)
        if known is None:
            line = self.rt.store.line_by_event(event_id)
            known = (line.nick, line.network == Network.IRC) if line else None
        if known is None:
            return ""
        name, on_irc = known
        return (name if on_irc else irc_name(name, settings.zero_width_names)) + ": "

    def _encrypted_notice(self, team: Team) -> None:
        """Once per team (kept across restarts): why lines of its encrypted room do not reach IRC."""
        key = f"relay.encrypted_notice.{team.name}"
        if self.rt.store.get_value(key) or not team.matrix_room:
            return
        self.rt.store.set_value(key, self.rt.now().isoformat())
        channels = ", ".join(team.irc_channels)
        self.matrix.deliver([Reply(team.matrix_room, ENCRYPTED_NOTICE.format(channels=channels))])
        log.info("relay: %s is encrypted; its lines are not relayed to %s (allow_encrypted = false)",
                 team.matrix_room, channels)

    def _to_channels(self, team: Team, shown: str, text: str, kind: LineKind, author: str) -> None:
        """A relayed line: /me as an action, another bot's m.notice as a NOTICE (which bots never answer)."""
        action = kind is LineKind.ME
        prefix = f"{shown} " if action else f"<{shown}> "
        self.send_lines(team, text, prefix, action=action, notice=kind is LineKind.NOTICE, author=author,
                        max_lines=settings_of(team).max_lines)

    def send_lines(self, team: Team, text: str, prefix: str, action: bool, notice: bool, author: str,
                   max_lines: int) -> None:
        """Send `text` to the team's channels, split to fit, one longer than `max_lines` cut to a paste link."""
        assert self.irc is not None
        paste: str | None = None
        for channel in team.irc_channels:
            budget = self.irc.text_budget(channel, action)
            lines = irc_lines(prefix, text, budget, max_lines)
            if len(lines) > max_lines and paste is None:
                paste = paste_url(self.rt, add_paste(self.rt.store.db, team.name, author, text, self.rt.now()).id)
            if paste is not None:
                lines = irc_lines(prefix, text, budget, max_lines, paste_url=paste)
            for line in lines:
                self.irc.send(channel, line, action=action, notice=notice)

    # --- IRC -> Matrix and the dispatcher ------------------------------------

    def on_irc_event(self, event: Any) -> None:
        """Called by the IRC connection for each event; one bad event never stops the bot."""
        try:
            self._irc_event(event)
        except Exception:
            log.exception("relay: failed to handle IRC %s from %s in %s", event.kind, event.nick, event.target)

    def _irc_event(self, event: Any) -> None:
        assert self.irc is not None
        nick = event.nick
        if nick.lower() == self.irc.nick.lower():
            return  # our own lines, echoed back (echo-message) or relayed by us
        self._track(event)
        if event.kind in ("privmsg", "action", "notice"):
            team = self.config.team_for_room(event.target) if event.target[:1] in "#&" else None
            if team is not None:
                self._line(team, event)
            elif event.kind != "notice" and event.target.lower() == self.irc.nick.lower():
                self._private(event)
            return
        # join, part, kick; quit and nick come once for each channel we share with the nick
        team = self.config.team_for_room(event.target) if event.target else None
        if team is not None and team.matrix_room and settings_of(team).relay_joins:
            self.matrix.post(team.matrix_room, event_content(event.kind, nick, event.target, event.text,
                                                             event.other_nick))

    def _track(self, event: Any) -> None:
        """Which nick holds which services account now, for direct messages to `irc:ACCOUNT`."""
        key = event.nick.lower()
        if event.kind == "nick":
            for account, holder in list(self.accounts.items()):
                if holder.lower() == key:
                    self.accounts[account] = event.text
        elif event.kind == "quit":
            # Before the account check: a quit carries the account (account-tag) of someone leaving,
            # and a direct message to that account must not go to whoever takes the nick next.
            self.accounts = {a: n for a, n in self.accounts.items() if n.lower() != key}
        elif event.account:
            self.accounts[event.account.lower()] = event.nick

    def _line(self, team: Team, event: Any) -> None:
        """A line said in a team's channel: to the dispatcher, which stores it and decides its relay."""
        kind = {"action": LineKind.ME, "notice": LineKind.NOTICE}.get(event.kind, LineKind.SAID)
        msg = self._message(team.home, event, kind)
        effects = self.rt.dispatcher.handle(msg)
        # The quiet acknowledgement of a command (✅ on a #info) has no IRC event to sit on, and
        # a line saying "noted" after each one would be noise on IRC. It goes on the line's Matrix
        # copy instead, once that is posted and sync shows it back (on_own_event); IRC stays quiet.
        acks = [e for e in effects if isinstance(e, React) and e.event_id == msg.event_id]
        self.acks[msg] = acks
        try:
            self.rt.deliver([e for e in effects if e not in acks])
        finally:
            self.acks.pop(msg, None)  # a line the dispatcher did not relay has no copy to react to

    def _to_matrix(self, team: Team, msg: Message) -> None:
        """A line said on IRC, which the dispatcher relays, as a message in the team's Matrix room."""
        if not team.matrix_room:
            return
        members = self.matrix.members(team.matrix_room)
        content = relayed_content(msg.nick, msg.formatted or msg.text, msg.kind is LineKind.ME, members,
                                  profile_id=f"irc:{msg.account or msg.nick}")
        if msg.kind is LineKind.NOTICE:
            content["msgtype"] = "m.notice"
        acks = self.acks.pop(msg, None)
        if acks:
            content[ACK_MARK] = secrets.token_hex(8)
            _remember(self.awaiting, content[ACK_MARK], acks)
        self.matrix.post(team.matrix_room, content)

    def _message(self, room: str, event: Any, kind: LineKind, direct: bool = False) -> Message:
        mask = f"{event.nick}!{event.user}@{event.host}"
        team = self.config.team_for_room(room)
        # Rights rest on the services account (Dispatcher checks irc:ACCOUNT in
        # the admins) or a configured hostmask, never on the nick alone.
        by_mask = bool(team and event.user and event.host and settings_of(team).chairs_by_hostmask(mask))
        msgid = event.tags.get("msgid")
        text = plain_text(event.text)
        return Message(
            network=Network.IRC, room=room, sender=f"irc:{event.account}" if event.account else mask,
            nick=event.nick, text=text, time=event.time, kind=kind,
            event_id=f"irc:{msgid}" if msgid else None, privileged=by_mask, account=event.account,
            direct=direct, formatted=event.text, seen=() if direct or team is None else self._seen(team, text),
        )

    def _seen(self, team: Team, text: str) -> tuple[tuple[str, str], ...]:
        """Who holds each word of `text` as a name right now: IRC nicks logged in to services in the
        team's channels (as `irc:ACCOUNT`) and the Matrix room's members (by display name). Stored with
        the line, so `#chair carol` binds the person behind the name as it was said (docs/identity.md)."""
        words = {w.casefold(): w for w in re.findall(r"[^\s,:;]+", text)}
        held: dict[tuple[str, str], None] = {}
        # IrcConnection's; IrcSide leaves it out, so a stand-in connection in tests needs none.
        tracker: Tracker | None = getattr(self.irc, "tracker", None)
        if tracker is not None:
            for word in words.values():
                account = tracker.account(word)
                if account and any(ch.lower() in map(str.lower, team.irc_channels) for ch in tracker.channels_of(word)):
                    held[(word, f"irc:{account}")] = None
        members = self.matrix.members(team.matrix_room) if team.matrix_room else {}
        for name, user_id in members.items():
            if name.casefold() in words:
                held[(words[name.casefold()], user_id)] = None
        return tuple(held)

    def _private(self, event: Any) -> None:
        """A private message to the bot: the direct-message commands, answered privately."""
        msg = self._message(f"irc:{event.nick}", event, LineKind.SAID, direct=True)
        self.rt.deliver(self.rt.dispatcher.handle(msg))

    # --- the bot's own effects, to both networks -----------------------------

    def deliver(self, effects: list[Effect]) -> None:
        """`rt.deliver` with IRC: answers to a team go to its room and its channels, once each."""
        for effect in effects:
            try:
                self._deliver_one(effect)
            except Exception:
                log.exception("relay: failed to deliver %s", type(effect).__name__)

    def _deliver_one(self, effect: Effect) -> None:
        if isinstance(effect, RelayLine):
            team = self.config.team(effect.team)
            if team is not None and effect.message.network is Network.MATRIX:
                self._to_irc(team, effect.message)
            elif team is not None and effect.message.network is Network.IRC:
                self._to_matrix(team, effect.message)
        elif isinstance(effect, Reply) and effect.room.startswith("irc:"):
            self._say_privately(effect.room[len("irc:"):], effect.text)
        elif isinstance(effect, Reply):
            team = self.config.team_for_room(effect.room)
            if team is None or team.matrix_room:
                self.matrix.deliver([effect])
            if team is not None and team.irc_channels and self.irc is not None:
                longest = 10**6 if effect.whole else settings_of(team).answer_lines
                self.send_lines(team, irc_text(effect.text), "", action=False, notice=True, author=self.irc.nick,
                                max_lines=longest)
        elif isinstance(effect, (React, Redact)):
            if effect.event_id and effect.event_id.startswith("$"):  # IRC lines have nothing to react to
                self.matrix.deliver([effect])
        elif isinstance(effect, DirectMessage) and effect.user.startswith("irc:"):
            nick = self.accounts.get(effect.user[len("irc:"):].lower())
            if nick is None:
                log.warning("relay: no nick is logged in to IRC account %s now; a direct message is not sent",
                            effect.user)
            else:
                self._say_privately(nick, effect.text)
        else:
            self.matrix.deliver([effect])

    def _say_privately(self, nick: str, markdown: str) -> None:
        if self.irc is None:
            return
        for line in irc_lines("", irc_text(markdown), self.irc.text_budget(nick), 10**6):
            self.irc.send(nick, line, notice=True)


def irc_text(markdown: str) -> str:
    """The bot's Markdown as IRC text: rendered as on Matrix, then to control codes."""
    return html_to_irc(notice_content(markdown)["formatted_body"])


V = TypeVar("V")


def _remember(cache: OrderedDict[str, V], key: str, value: V) -> None:
    if not key:
        return
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > REMEMBERED:
        cache.popitem(last=False)


def start_relay(rt: Runtime, matrix: MatrixSide, stop: asyncio.Event) -> asyncio.Task[None]:
    """Connect to IRC, relay every team room, and make `rt.deliver` send to both networks."""
    from bot.chat.irc import IrcConnection, realname_for

    config = rt.config
    assert config.irc is not None
    relay = Relay(rt, matrix)
    channels = list(dict.fromkeys(ch for team in config.teams for ch in team.irc_channels))
    realname = realname_for(config.admin_contact, config.irc.realname)
    relay.irc = irc = IrcConnection(config.irc, channels, realname, relay.on_irc_event)
    matrix.on_own_event.append(relay.on_own_event)
    rt.deliver = matrix.route = relay.deliver
    rt.state["irc"], rt.state["relay"] = irc, relay
    return asyncio.create_task(irc.run(stop), name="irc")
