"""What a room command's handler gets: who is speaking, with which rights, and its own narrow tools.

The dispatcher builds a `Call` for every command it runs (in a team room, in a
direct message, from IRC) after it has decided who is speaking and checked the
role the command declares, so a handler cannot forget the base rule; it may add
finer ones (the owner of an agenda item may remove it). A handler's only way
out is the effects it returns; files it publishes are a `Publish` effect,
written after the line's transaction has committed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from bot.core.message import Message
from bot.core.record import record

if TYPE_CHECKING:  # types only: the core imports no feature and no storage library
    from sqlite_utils import Database

    from bot.config import Config, Team


@record
class Speaker:
    """Who said a line, as the dispatcher decided it. Rights rest on `id`, never on a shown name.

    `id` is a Matrix user id, `irc:ACCOUNT` for an IRC user identified to
    services, or `nick!user@host` for one who is not (which holds no right).
    `linked` is the identity the person confirmed as theirs on the other
    network (`!linkto`): what belongs to it (actions, loans, agenda items,
    a chair, a place among the admins) belongs to the speaker too.
    """

    id: str
    name: str
    privileged: bool  # team admin, Matrix power level or room creator, a configured IRC hostmask
    chairs_meeting: bool = False  # a chair of the meeting running in this room
    linked: frozenset[str] = frozenset()

    @property
    def chair(self) -> bool:
        return self.privileged or self.chairs_meeting

    @property
    def ids(self) -> frozenset[str]:
        """Every identity of the person speaking: rights held by any of them are theirs."""
        return self.linked | {self.id}


@record
class Call:
    """A room-scope command's arguments and context. `team` is None in a direct message."""

    team: Team | None
    message: Message
    args: str
    speaker: Speaker
    config: Config
    db: Database  # the database, for the feature's own store
    meeting_id: int | None = None  # the meeting running in this room, if any

    @property
    def now(self) -> datetime:
        return self.message.time

    @property
    def privileged(self) -> bool:
        return self.speaker.privileged


@record
class Publish:
    """Write files others read (JSON, calendars) once the line's changes are committed.

    Run by the dispatcher after the commit, never inside the transaction: a
    reader never sees a file describing a change that was then rolled back.
    """

    what: str
    write: Callable[[], object]  # what it returns (the paths written, say) is not used
