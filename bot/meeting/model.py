"""Values of a meeting: the lines of its log, the items of its minutes, its state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from bot.core.message import LineKind
from bot.core.record import record
from bot.meeting import people


class ItemKind(StrEnum):
    TOPIC = "topic"
    INFO = "info"
    IDEA = "idea"
    ACTION = "action"
    AGREED = "agreed"
    REJECTED = "rejected"
    LINK = "link"
    HELP = "help"


@record
class LogLine:
    """One physical line of a meeting's log; `number` is its 1-based anchor."""

    number: int
    time: datetime
    nick: str
    sender: str
    kind: LineKind
    text: str
    network: str = "replay"
    privileged: bool = False
    event_id: str | None = None
    # Who held which names as the line was said, as the adapter saw it: (name, identity) pairs,
    # e.g. an IRC nick in the channel and `irc:ACCOUNT` from the IRC client's tracker. Stored
    # with the line, so `#chair NAME` for someone present but silent folds the same on replay.
    seen: tuple[tuple[str, str], ...] = ()
    # The identities the sender is linked to on the other network (`!linkto`): a chair bound to
    # either is a chair when the person speaks from either network.
    linked: frozenset[str] = frozenset()


@record
class Entry:
    """An item of the minutes. Topics are entries too, as in MeetBot, so that
    `#undo` removes whatever was added last, a topic included."""

    kind: ItemKind
    text: str
    nick: str
    sender: str
    time: datetime
    line: int
    url: str | None = None

    def describe(self) -> str:
        """MeetBot's wording, used when `#undo` says what it removed."""
        return f"{self.kind.value.upper()} by {self.nick} at {self.time:%H:%M:%S} : {self.text}"


@dataclass
class Chair:
    nick: str  # the name the chair was given by (for #unchair and for people reading)
    sender: str  # the identity the chair is bound to: only lines from it carry the chair's rights


@dataclass
class MeetingState:
    """Everything the minutes are made of; built only by folding the log."""

    room: str
    owner: str
    owner_id: str
    started: datetime
    name: str | None = None
    ended: datetime | None = None
    timed_out: bool = False
    chairs: list[Chair] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    lines: list[LogLine] = field(default_factory=list)
    # People are keyed by identity (LogLine.sender), never by the name they show: two people
    # with the same nick stay two attendees. In a replayed MeetBot log the identity is the nick.
    attendees: dict[str, int] = field(default_factory=dict)  # identity -> lines said
    names: dict[str, list[str]] = field(default_factory=dict)  # identity -> names it used, first first
    attendee_networks: dict[str, str] = field(default_factory=dict)  # identity -> network
    aliases: dict[str, list[str]] = field(default_factory=dict)  # identity -> #here aliases
    # The agenda as the bot announced it when the meeting opened (see engine.read_agenda).
    agenda: dict[int, str] = field(default_factory=dict)
    announcer: str | None = None  # who spoke the meeting's second line (the bot, live)
    opening: bool = True  # still in the lines the announcer said right after #startmeeting

    @property
    def running(self) -> bool:
        return self.ended is None

    def chair_ids(self) -> list[str]:
        """The owner's identity, then the chairs' (each once)."""
        return list(dict.fromkeys([self.owner_id] + [c.sender for c in self.chairs]))

    def chair_nicks(self) -> list[str]:
        """The chairs as people read them: a chair without a services account is marked as such."""
        return [self.label(i, rights=True) for i in self.chair_ids()]

    def label(self, identity: str, rights: bool = False) -> str:
        """The name shown for `identity` (bot/meeting/people.py); `rights`: it is named as a chair."""
        return people.label(self, identity, rights)
