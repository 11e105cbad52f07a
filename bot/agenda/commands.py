"""Chat commands: `!agenda`, `!actions`, `!done`, and `!whoami`, `!linkto`, `!unlink` (bot/agenda/links.py).

Rights: anyone adds to the agenda; an item's owner or a chair removes it; a
chair reorders it; an action's owner or a chair closes it. "A chair" is a team
admin, a member with the room's chair power level, or a chair of the meeting
running in the room.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from bot.agenda import actions, agenda, links
from bot.agenda.agenda import AgendaError
from bot.agenda.hooks import publish_actions
from bot.agenda.store import AgendaStore
from bot.config import Team
from bot.core.call import Call
from bot.core.commands import Registry, Role, Scope
from bot.core.message import Effect, Reply, quoted
from bot.features import provided

if TYPE_CHECKING:
    from sqlite_utils import Database

log = logging.getLogger(__name__)
AGENDA_COMMANDS = Registry()
command = AGENDA_COMMANDS.command
NEXT_MEETING = "next meeting"


def next_meeting_label(db: Database, team: Team, now: datetime) -> str:
    """"next meeting", with its date when the team's schedule knows it (the schedule feature provides it)."""
    next_meeting = provided("next_meeting")
    if next_meeting is None:
        return NEXT_MEETING
    try:  # another feature's code: a failure there must not break !agenda
        start = next_meeting(db, team, now)
    except Exception:
        log.exception("agenda: cannot read the schedule of team %s", team.name)
        return NEXT_MEETING
    if start is None:
        return NEXT_MEETING
    return f"next meeting ({start.astimezone(timezone.utc):%a %Y-%m-%d %H:%M} UTC)"


def _team(call: Call) -> Team:
    assert call.team is not None, "an agenda command that needs a team ran in a direct message"
    return call.team


@command(
    "agenda",
    role=Role.ANYONE,
    scope=Scope.ROOM,
    summary="the agenda of the next meeting: list it, add to it (anyone), remove an item (its owner or a chair),"
            " move one (a chair)",
    usage="agenda [add TEXT | remove N | move N M]",
    examples=("!agenda", "!agenda add review the ROCm 6.4 update", "!agenda remove 2", "!agenda move 3 1"),
)
def agenda_command(call: Call) -> list[Effect]:
    store = AgendaStore(call.db)
    team, msg = _team(call).name, call.message
    verb, _, rest = call.args.partition(" ")
    verb, rest = verb.lower(), rest.strip()
    try:
        if verb in ("", "list"):
            label = next_meeting_label(store.db, _team(call), msg.time)
            text = agenda.listing(store, team, call.meeting_id, label)
        elif verb == "add":
            text = agenda.add_item(store, team, rest, msg.nick, msg.sender, msg.time)
        elif verb == "remove":
            text = agenda.remove_item(store, team, rest, call.speaker)
        elif verb == "move":
            if not call.speaker.chair:
                raise AgendaError("Only a chair can reorder the agenda.")
            text = agenda.move_item(store, team, rest)
        else:
            raise AgendaError(
                f"There is no !agenda {quoted(verb, 40)}. Usage: !agenda [add TEXT | remove N | move N M]"
            )
    except AgendaError as exc:
        text = str(exc)
    return [Reply(msg.room, text)]


@command(
    "actions",
    role=Role.ANYONE,
    scope=Scope.ROOM,
    summary="list the open action items of earlier meetings (number, owner, meeting date), or those of NAME",
    usage="actions [NAME]",
    examples=("!actions", "!actions tpkessler"),
)
def actions_command(call: Call) -> list[Effect]:
    store = AgendaStore(call.db)
    return [Reply(call.message.room, actions.listing(store, _team(call).name, call.args.strip()))]


@command(
    "done",
    role=Role.ANYONE,
    scope=Scope.ROOM,
    summary="close open action N (its owner or a chair)",
    usage="done N",
    examples=("!done 3",),
)
def done_command(call: Call) -> list[Effect]:
    store = AgendaStore(call.db)
    msg, team = call.message, _team(call)
    try:
        text = actions.close(store, team.name, call.args.strip(), call.speaker, msg.time)
    except AgendaError as exc:
        return [Reply(msg.room, str(exc))]
    publish_actions(store.db, team, msg.time)
    return [Reply(msg.room, text)]


@command(
    "whoami",
    role=Role.ANYONE,
    scope=Scope.ROOM,
    summary="who the bot takes you for (Matrix id, IRC account or a nick without one) and what you linked",
    examples=("!whoami",),
    direct=True,
)
def whoami_command(call: Call) -> list[Effect]:
    return [Reply(call.message.room, links.whoami(AgendaStore(call.db), call.speaker.id))]


@command(
    "linkto",
    role=Role.ANYONE,
    scope=Scope.ROOM,
    summary="link your Matrix id and IRC services account, so your actions, loans and rights follow you:"
            " ask from Matrix, confirm from IRC while identified",
    usage="linkto irc ACCOUNT | matrix @USER:SERVER",
    examples=("!linkto irc ada", "!linkto matrix @ada:example.org"),
    direct=True,
)
def link_command(call: Call) -> list[Effect]:
    try:
        text = links.link(AgendaStore(call.db), call.speaker.id, call.args, call.now)
    except AgendaError as exc:
        text = str(exc)
    return [Reply(call.message.room, text)]


@command(
    "unlink",
    role=Role.ANYONE,
    scope=Scope.ROOM,
    summary="undo !linkto: your Matrix id and IRC account stand alone again",
    examples=("!unlink",),
    direct=True,
)
def unlink_command(call: Call) -> list[Effect]:
    return [Reply(call.message.room, links.unlink(AgendaStore(call.db), call.speaker.id))]
