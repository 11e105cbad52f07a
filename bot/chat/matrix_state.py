"""Who is in a Matrix room, what they are called there and how much power they hold.

The adapter folds every state event it syncs into a `RoomState` per room and
asks it for a sender's shown name and power level. It is kept here, without
I/O, rather than read from matrix-nio's rooms, for three reasons:

- nio learns a room's state only from what a sync tells it. Resumed from a
  stored token after a restart, a sync carries only what changed, so nio knew
  no member and no power level: names fell back to user ids and chairs lost
  their rights. The adapter now asks for the full state on its first sync after
  a start (`first_sync_args`), which feeds this fold everything again.
- nio merges a new m.room.power_levels into the old one, so a user removed
  from `users` kept their old level. Here each event replaces the last, as the
  spec says state does.
- Room version 12 (MSC4289) gives the room's creators (the m.room.create
  sender and its `additional_creators`) unlimited power; they are not listed
  in m.room.power_levels, so reading `users` alone gave them 0.
  https://spec.matrix.org/v1.16/rooms/v12/

Power is read by the rules of the room's version (`rules_for`), as Synapse's
event auth does (synapse/event_auth.py, get_user_power_level).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.core.record import record

if TYPE_CHECKING:
    from nio import SyncResponse

# MSC4289: a creator's power is above every number a power-levels event can hold.
UNLIMITED = math.inf
# Without any m.room.power_levels event the creator has 100 and everyone else 0 (spec, m.room.power_levels).
CREATOR_DEFAULT_LEVEL = 100
_DIGITS = re.compile(r"[+-]?[0-9]+")


@record
class VersionRules:
    """What a room version changes about reading power."""

    creators_unlimited: bool  # v12+: creators outrank every level and are not in `users`
    creator_is_sender: bool  # v11+: `creator` left m.room.create's content; its sender is the creator
    integer_levels: bool  # v10+: levels must be JSON integers; older rooms may hold strings such as "50"


# Unstable identifiers Synapse knows, by the stable version whose rules they carry.
_UNSTABLE = {"org.matrix.hydra.11": 12, "org.matrix.msc3757.10": 10, "org.matrix.msc3757.11": 11}


def rules_for(version: str) -> VersionRules:
    """The rules of room version `version` ("1" when the create event names none).

    An identifier that is neither a number nor a known unstable one is read by
    version 1's rules: it grants no one power the room did not list.
    """
    number = int(version) if version.isdigit() else _UNSTABLE.get(version, 1)
    return VersionRules(creators_unlimited=number >= 12, creator_is_sender=number >= 11, integer_levels=number >= 10)


@dataclass
class RoomState:
    """One room's create event, power levels and members, folded from its state events."""

    version: str = "1"
    create_sender: str | None = None
    create_content: dict[str, Any] = field(default_factory=dict)
    power_levels: dict[str, Any] | None = None  # the content of the current m.room.power_levels; None until one is seen
    members: dict[str, str | None] = field(default_factory=dict)  # joined or invited user -> display name
    name: str | None = None  # m.room.name: what clients call the room (the minutes name it so)

    def apply(self, event: dict[str, Any]) -> None:
        """Fold one event (any event: those that are not room state are ignored)."""
        kind, key, content = event.get("type"), event.get("state_key"), event.get("content")
        if not isinstance(key, str) or not isinstance(content, dict):
            return
        if kind == "m.room.create" and key == "":
            self.create_sender = event.get("sender")
            self.create_content = content
            version = content.get("room_version", "1")
            self.version = version if isinstance(version, str) else "1"
        elif kind == "m.room.power_levels" and key == "":
            self.power_levels = content
        elif kind == "m.room.name" and key == "":
            name = content.get("name")
            self.name = name.strip() if isinstance(name, str) and name.strip() else None
        elif kind == "m.room.member":
            if content.get("membership") in ("join", "invite"):
                name = content.get("displayname")
                self.members[key] = name if isinstance(name, str) and name.strip() else None
            else:  # leave, ban, knock: no longer someone the room shows
                self.members.pop(key, None)

    @property
    def rules(self) -> VersionRules:
        return rules_for(self.version)

    @property
    def creators(self) -> frozenset[str]:
        """Who created the room: the create event's sender, and in v12+ its `additional_creators`."""
        rules = self.rules
        if rules.creator_is_sender:
            first = self.create_sender
        else:
            first = self.create_content.get("creator")
        found = {first} if isinstance(first, str) else set()
        extra = self.create_content.get("additional_creators")
        if rules.creators_unlimited and isinstance(extra, list):
            found.update(u for u in extra if isinstance(u, str))
        return frozenset(found)

    def level(self, user: str) -> float:
        """The user's power level; `UNLIMITED` for a creator in a v12+ room."""
        rules = self.rules
        if rules.creators_unlimited and user in self.creators:
            return UNLIMITED
        if self.power_levels is None:
            return CREATOR_DEFAULT_LEVEL if user in self.creators else 0
        users = self.power_levels.get("users")
        listed = _level(users.get(user), rules) if isinstance(users, dict) else None
        if listed is not None:
            return listed
        default = _level(self.power_levels.get("users_default"), rules)
        return default if default is not None else 0

    def shown_name(self, user: str) -> str | None:
        """The user's name as clients show it; None for someone not in the room.

        The display name, or the user id when there is none; a display name
        that two members share gets the user id after it, as matrix-nio's
        `MatrixRoom.user_name` does (so names are the same as they always were).
        """
        if user not in self.members:
            return None
        name = self.members[user]
        if name is None:
            return user
        clashes = sum(1 for other, theirs in self.members.items() if (theirs or other) == name)
        return f"{name} ({user})" if clashes > 1 else name

    def names(self) -> dict[str, str]:
        """Display name (or user id) -> user id of every member, for mentions."""
        return {name or user: user for user, name in self.members.items()}


def _level(value: object, rules: VersionRules) -> int | None:
    """A power level as the room version reads it; None for a value it does not accept."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not rules.integer_levels and isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return int(value)
    return None


class RoomStates:
    """The state of every room the bot is in, by room id."""

    def __init__(self) -> None:
        self.rooms: dict[str, RoomState] = {}

    def absorb_sync(self, sync: SyncResponse) -> None:
        """Fold a sync response (nio's SyncResponse): each joined room's state, then its timeline, in order.

        The whole batch is folded before any of its messages is read, so each
        is shown with the names of the batch's end, as clients show them.
        """
        for room_id, joined in sync.rooms.join.items():
            room = self.rooms.setdefault(room_id, RoomState())
            for event in [*joined.state, *joined.timeline.events]:
                room.apply(getattr(event, "source", None) or {})
        for room_id in sync.rooms.leave:
            self.rooms.pop(room_id, None)

    def get(self, room_id: str) -> RoomState:
        return self.rooms.get(room_id) or RoomState()


def first_sync_args(token: str | None) -> dict[str, Any]:
    """How to call the first sync after a start (keyword arguments of nio's `sync`).

    Resumed from a stored token, a sync carries only what changed, and this
    process knows nothing yet: ask for the full state (one request; the
    timeline still starts at the token). And do not long-poll: on a quiet room
    the bot would not be ready for 30 s.
    """
    return {"timeout": 0, "since": token, "full_state": True if token else None}
