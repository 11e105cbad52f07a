"""People in a meeting: the names shown for identities, and the identity a name stands for.

A meeting knows people by identity (bot/core/identity.py), each with the names
it spoke under. What chat, the minutes and the archive show is derived here:
a name alone while it is unique in the meeting, and a name with what tells
them apart when two people share it (`alice` and `alice (IRC, no account)`).

`resolve` answers `#chair NAME`. The fold of the log must give the same chairs
on every replay, so it knows only what lines carry: who spoke in this meeting,
and who held which names as the `#chair` line was said when the adapter stored
that with it (`LogLine.seen`). Someone present but silent and not in `seen` is
named by their Matrix id or IRC account instead (`#chair @ada:example.org`,
`#chair irc:ada`), which need nobody to have spoken. A replayed MeetBot log knows nicks only, so
there a name is the identity (MeetBot's own rule).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from bot.core.identity import IdentityKind, is_stable, kind_of, named_identity
from bot.core.message import quoted

if TYPE_CHECKING:
    from bot.meeting.model import MeetingState

UNIDENTIFIED = " (IRC, no account)"
REPLAYED = "replay"  # LogLine.network of a line read from a MeetBot log


def first_name(state: MeetingState, identity: str) -> str:
    """The name `identity` first spoke under; one never heard is shown as itself."""
    names = state.names.get(identity)
    return names[0] if names else identity.removeprefix("irc:")


def current_name(state: MeetingState, identity: str) -> str:
    """The name `identity` spoke under last (a nick or display name can change mid-meeting)."""
    for line in reversed(state.lines):
        if line.sender == identity:
            return line.nick
    return first_name(state, identity)


def _qualifier(identity: str, same_kind: int) -> str:
    """What sets `identity` apart from others shown with the same name; `same_kind`: how many of its kind."""
    kind = kind_of(identity)
    if kind is IdentityKind.IRC_ACCOUNT:
        return f" (IRC account {identity.removeprefix('irc:')})"
    if kind is IdentityKind.IRC_MASK:
        return UNIDENTIFIED if same_kind == 1 else f" (IRC, no account: {identity.partition('!')[2]})"
    if kind is IdentityKind.MATRIX and same_kind > 1:
        return f" ({identity})"
    return ""  # one Matrix user among others keeps the name; a bare name is its own identity


def says_network(state: MeetingState, identity: str, shown: str) -> bool:
    """Whether `shown`, the label of `identity`, carries an IRC qualifier (which names the network)."""
    irc = kind_of(identity) in (IdentityKind.IRC_ACCOUNT, IdentityKind.IRC_MASK)
    return irc and shown != first_name(state, identity)


def labels(state: MeetingState) -> dict[str, str]:
    """identity -> the name shown for it, distinct for distinct people."""
    groups: dict[str, list[str]] = {}
    for identity in state.attendees:
        groups.setdefault(first_name(state, identity).casefold(), []).append(identity)
    shown: dict[str, str] = {}
    for ids in groups.values():
        kinds = Counter(kind_of(i) for i in ids)
        for identity in ids:
            qualifier = _qualifier(identity, kinds[kind_of(identity)]) if len(ids) > 1 else ""
            shown[identity] = first_name(state, identity) + qualifier
    return shown


def label(state: MeetingState, identity: str, rights: bool = False) -> str:
    """The name shown for `identity`. Naming a chair (`rights`), a nick without an account says so always."""
    name = labels(state).get(identity) or first_name(state, identity)
    if rights and kind_of(identity) is IdentityKind.IRC_MASK and not name.endswith(")"):
        name += UNIDENTIFIED
    return name


def resolve(state: MeetingState, name: str, network: str,
            seen: tuple[tuple[str, str], ...] = ()) -> tuple[str | None, str | None]:
    """The identity `name` stands for in this meeting, or None and why, in words.

    `seen` (LogLine.seen) is who held which names when the line was said: who
    holds the nick now outranks who spoke under it earlier.
    """
    explicit = named_identity(name)
    if explicit is not None:
        return explicit, None
    if name in state.attendees and kind_of(name) is IdentityKind.IRC_MASK:
        return name, None  # a whole nick!user@host, as an ambiguity answer lists them
    folded = name.casefold()
    holders = {identity for held, identity in seen if held.casefold() == folded}
    if len(holders) == 1:
        return holders.pop(), None
    found = [i for i, said in state.attendees.items() if said and current_name(state, i).casefold() == folded]
    name = quoted(name, 40)
    if len(found) == 1:
        return found[0], None
    if found:
        shown = labels(state)
        which = ", ".join(f"{shown[i]} is {i}" for i in found)
        return None, f"More than one person here is called {name} ({which}); name the one you mean by that id."
    if network == REPLAYED:
        return name, None
    return None, (f"Nobody called {name} has spoken in this meeting, so I cannot tell who that is: ask them to "
                  f"say something first, or name their Matrix id (@{name}:server) or IRC account (irc:ACCOUNT).")


def stable_names(state: MeetingState) -> set[str]:
    """The names (folded) that people with a Matrix id or services account spoke under."""
    return {n.casefold() for i in state.attendees if is_stable(i) for n in state.names.get(i, ())}
