"""The one message type every adapter produces, and the effects handlers return.

Adapters (Matrix, IRC, the CLI, the log replayer) turn whatever their platform
delivers into a `Message`; the pure core answers with a list of effects, which
the adapters carry out. Nothing here touches the network, the clock or SQL.
"""

from __future__ import annotations

from dataclasses import field
from datetime import datetime
from enum import StrEnum

from bot.core.record import record


class Network(StrEnum):
    MATRIX = "matrix"
    IRC = "irc"
    CLI = "cli"
    REPLAY = "replay"


class LineKind(StrEnum):
    SAID = "said"  # an ordinary line
    ME = "me"  # /me (m.emote, CTCP ACTION)
    NOTICE = "notice"  # logged, never read as a command (how bots talk)
    BOT = "bot"  # sigbot's own words, logged so the log reads like MeetBot's
    TIMEOUT = "timeout"  # sigbot ended a forgotten meeting


@record
class Message:
    """One line (or multi-line message) said in a room, as the core sees it."""

    network: Network
    room: str  # Matrix room id or IRC channel
    sender: str  # stable id: Matrix ID, IRC account, or nick!user@host
    nick: str  # the name people see (display name, IRC nick)
    text: str
    time: datetime  # timezone-aware
    kind: LineKind = LineKind.SAID
    event_id: str | None = None  # platform id, for dedup, edits, reactions
    privileged: bool = False  # the sender is a chair by right (admin, power level)
    account: str | None = None  # IRC services account, when known
    direct: bool = False  # said in a direct message with the bot (room is then the DM room or nick)
    # What the other network needs to show the line as it was written (see bot/relay):
    formatted: str | None = None  # Matrix: the HTML body; IRC: the text with its formatting codes
    attachment: str | None = None  # a file sent with the line, described with its download address (Matrix media)
    reply_to: str | None = None  # the event this line answers
    edits: str | None = None  # this line replaces the earlier line with this event id
    # On IRC: who held which of the line's words as a nick, with which identity (("carol", "irc:carol"), ...),
    # so that `#chair carol` binds the account behind the nick as it is said, never the nick alone.
    seen: tuple[tuple[str, str], ...] = ()
    encrypted: bool = False  # it came end-to-end encrypted (Matrix)


QUOTED = 200  # characters of what a person said that an answer repeats


def quoted(text: str, limit: int = QUOTED) -> str:
    """`text` as an answer repeats it: at most `limit` characters, a cut marked with an ellipsis.
    A 5,000-character topic is stored whole; saying it back whole would flood the room."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@record
class Reply:
    """Words said in the room (Markdown; adapters render it for their network)."""

    room: str
    text: str
    whole: bool = False  # never cut to a paste link on IRC, however long (the agenda at #startmeeting)


@record
class React:
    """A quiet acknowledgement of one message (a reaction on Matrix)."""

    room: str
    event_id: str | None
    key: str = "✅"


@record
class DirectMessage:
    """Words for one person only: `user` is a Matrix ID or `irc:ACCOUNT`.

    The adapter finds or opens a direct chat; nothing of it reaches a team room.
    """

    user: str
    text: str


@record
class Relay:
    """Carry a line said in a team room to the team's other network (bot/relay/bridge.py).

    The dispatcher decides it, after the line is stored: a line it withholds
    (private details, the bot's own words) never gets one.
    """

    team: str
    message: Message


@record
class Redact:
    """Remove a message the bot may not keep public (Matrix only; needs the power to redact)."""

    room: str
    event_id: str
    reason: str


@record
class MeetingEnded:
    """The meeting in `room` has ended: its notes are to be written."""

    room: str
    meeting_id: int


Effect = Reply | React | DirectMessage | MeetingEnded | Relay | Redact


@record
class Outcome:
    """What handling one message led to."""

    effects: tuple[Effect, ...] = field(default_factory=tuple)

    def replies(self) -> list[str]:
        return [e.text for e in self.effects if isinstance(e, Reply)]
