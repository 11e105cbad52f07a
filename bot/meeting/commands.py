"""The MeetBot commands, declared once with their help (see ../shared/REFERENCE.md).

Every handler takes the meeting state, the log line and the parsed call, changes
the state and returns effects. Chairs-only commands are refused centrally by the
engine before the handler runs.
"""

from __future__ import annotations

import re

from bot.core.commands import CommandCall, Registry, Role, Scope
from bot.core.message import Effect, MeetingEnded, React, Reply, quoted
from bot.meeting.engine import add_item, agenda_topic
from bot.meeting.model import Chair, ItemKind, LogLine, MeetingState

MEETING_COMMANDS = Registry()
command = MEETING_COMMANDS.command
USEFUL = "#action #agreed #help #info #idea #link #topic"


def _usage(state: MeetingState, call: CommandCall) -> list[Effect]:
    return [Reply(state.room, f"Usage: {call.prefix}{call.command.usage} — {call.command.summary}")]


@command(
    "startmeeting",
    role=Role.ANYONE,
    scope=Scope.MEETING,
    summary="start a meeting in this room; you become its owner and first chair",
    usage="startmeeting [NAME]",
    examples=("#startmeeting ROCm packaging",),
)
def startmeeting(state: MeetingState, line: LogLine, call: CommandCall) -> list[Effect]:
    if len(state.lines) > 1:  # the first line of a log is its own #startmeeting
        return [Reply(state.room, f"A meeting is already running here, started by {state.owner} at {state.started:%H:%M} UTC.")]
    if call.args:
        state.name = call.args
    title = f" '{quoted(state.name)}'" if state.name else ""
    return [
        Reply(
            state.room,
            f"Meeting{title} started {state.started:%a %b %d %H:%M:%S %Y} UTC. The chair is {state.owner}.\n"
            f"Useful commands: {USEFUL}.",
        )
    ]


@command(
    "endmeeting",
    role=Role.CHAIR,
    scope=Scope.MEETING,
    summary="end the meeting and publish its minutes",
    examples=("#endmeeting",),
)
def endmeeting(state: MeetingState, line: LogLine, call: CommandCall) -> list[Effect]:
    state.ended = line.time
    return [MeetingEnded(state.room, 0)]


@command(
    "meetingname",
    role=Role.CHAIR,
    scope=Scope.MEETING,
    summary="name (or rename) the meeting; the name is used in the notes' file names",
    usage="meetingname NAME",
    examples=("#meetingname rocm-packagers",),
)
def meetingname(state: MeetingState, line: LogLine, call: CommandCall) -> list[Effect]:
    if not call.args:
        return _usage(state, call)
    state.name = call.args
    return [Reply(state.room, f"The meeting name has been set to '{quoted(call.args)}'")]


@command(
    "topic",
    role=Role.CHAIR,
    scope=Scope.MEETING,
    summary="start a new topic; the items that follow belong to it; a number takes that agenda item",
    usage="topic TEXT | N",
    examples=("#topic CI workflow", "#topic 2"),
)
def topic(state: MeetingState, line: LogLine, call: CommandCall) -> list[Effect]:
    if not call.args:
        return _usage(state, call)
    text = agenda_topic(state, call.args)
    add_item(state, line, ItemKind.TOPIC, text)
    return [Reply(state.room, f"Topic: {quoted(text)}")]


def _item_command(kind: ItemKind, role: Role, summary: str, example: str, aliases: tuple[str, ...] = ()):
    def handler(state: MeetingState, line: LogLine, call: CommandCall) -> list[Effect]:
        if not call.args:
            return _usage(state, call)
        return add_item(state, line, kind, call.args)

    name = kind.value
    command(name, role=role, scope=Scope.MEETING, summary=summary, usage=f"{name} TEXT", examples=(example,), aliases=aliases)(handler)
    return handler


_item_command(ItemKind.INFO, Role.ANYONE, "note a piece of information", "#info Cpuinfo made it into rawhide")
_item_command(ItemKind.IDEA, Role.ANYONE, "note an idea", "#idea run the ROCm tests on the farm nightly")
_item_command(ItemKind.ACTION, Role.ANYONE, "note an action item; people named in it own it", "#action tpkessler to package rocm-core")
_item_command(ItemKind.AGREED, Role.CHAIR, "record a decision", "#agreed meet every two weeks", ("agree", "accepted", "accept"))
_item_command(ItemKind.REJECTED, Role.CHAIR, "record a rejected proposal", "#rejected move to monthly meetings", ("reject",))


@command(
    "link",
    role=Role.ANYONE,
    scope=Scope.MEETING,
    summary="note a link (a line that starts with a URL is noted as a link too)",
    usage="link [LABEL:] URL [TEXT]",
    examples=("#link https://fedoraproject.org/wiki/SIGs/ML",),
)
def link(state: MeetingState, line: LogLine, call: CommandCall) -> list[Effect]:
    if not call.args:
        return _usage(state, call)
    return add_item(state, line, ItemKind.LINK, call.args)


@command(
    "help",
    role=Role.ANYONE,
    scope=Scope.MEETING,
    summary="in a meeting, note a call for help; alone (or with a command name) show help",
    usage="help [TEXT | COMMAND]",
    examples=("#help we need a reviewer for the hipBLAS update", "!help action"),
    aliases=("halp",),
)
def help_(state: MeetingState, line: LogLine, call: CommandCall) -> list[Effect]:
    text = help_answer(call.args, call.registry)
    if text is not None:
        return [Reply(state.room, text)]
    return add_item(state, line, ItemKind.HELP, call.args)


def help_answer(args: str, registry: Registry) -> str | None:
    """Help text when `args` asks for help (empty or a command name), else None."""
    if not args:
        return registry.overview()
    if re.fullmatch(r"[#!]?\w+", args):
        return registry.describe(args)
    return None


def _names(args: str) -> list[str]:
    return [n for n in re.split(r"[,\s]+", args) if n]


@command(
    "chair",
    role=Role.CHAIR,
    scope=Scope.MEETING,
    summary="make people chairs of this meeting",
    usage="chair NAME [NAME ...]",
    examples=("#chair jsteffan trix",),
)
def chair(state: MeetingState, line: LogLine, call: CommandCall) -> list[Effect]:
    if not call.args:
        return _usage(state, call)
    seen = {n.lower(): n for n in state.attendee_ids}
    for name in _names(call.args):
        if any(n.lower() == name.lower() for n in state.chair_nicks()):
            continue
        # Bind the chair to the identity of the person who spoke under that
        # name, so that taking the nick later (on IRC) does not make a chair.
        known = seen.get(name.lower())
        state.chairs.append(Chair(known or name, state.attendee_ids.get(known) if known else None))
        state.attendees.setdefault(known or name, 0)
    return [Reply(state.room, _chairs_text(state))]


def _chairs_text(state: MeetingState) -> str:
    return "Current chairs: " + quoted(" ".join(sorted(state.chair_nicks(), key=str.lower)))


@command(
    "unchair",
    role=Role.CHAIR,
    scope=Scope.MEETING,
    summary="remove people from the chairs (the owner stays a chair)",
    usage="unchair NAME [NAME ...]",
    examples=("#unchair trix",),
)
def unchair(state: MeetingState, line: LogLine, call: CommandCall) -> list[Effect]:
    if not call.args:
        return _usage(state, call)
    names = {n.lower() for n in _names(call.args)}
    state.chairs = [c for c in state.chairs if c.nick.lower() not in names]
    text = _chairs_text(state)
    if state.owner.lower() in names:
        text = f"{state.owner} started the meeting and stays a chair. " + text
    return [Reply(state.room, text)]


@command(
    "undo",
    role=Role.CHAIR,
    scope=Scope.MEETING,
    summary="remove the most recent item (or topic) from the minutes",
    examples=("#undo",),
)
def undo(state: MeetingState, line: LogLine, call: CommandCall) -> list[Effect]:
    if not state.entries:
        return [Reply(state.room, "There is nothing in the minutes to remove.")]
    removed = state.entries.pop()
    return [Reply(state.room, f"Removing item from minutes: {quoted(removed.describe())}")]


@command(
    "nick",
    role=Role.ANYONE,
    scope=Scope.MEETING,
    summary="list people as present who have not spoken (so actions can name them)",
    usage="nick NAME [NAME ...]",
    examples=("#nick Lorenz",),
)
def nick(state: MeetingState, line: LogLine, call: CommandCall) -> list[Effect]:
    if not call.args:
        return _usage(state, call)
    for name in _names(call.args):
        state.attendees.setdefault(name, 0)
    return []


@command(
    "here",
    role=Role.ANYONE,
    scope=Scope.MEETING,
    summary="say you are present; with an alias, actions naming the alias are yours too",
    usage="here [ALIAS]",
    examples=("#here", "#here chrism"),
)
def here(state: MeetingState, line: LogLine, call: CommandCall) -> list[Effect]:
    for alias in _names(call.args):
        if alias.lower() != line.nick.lower() and alias not in state.aliases.setdefault(line.nick, []):
            state.aliases[line.nick].append(alias)
    return [React(state.room, line.event_id)]


@command(
    "commands",
    role=Role.ANYONE,
    scope=Scope.MEETING,
    summary="list the available commands",
    examples=("#commands",),
)
def commands(state: MeetingState, line: LogLine, call: CommandCall) -> list[Effect]:
    return [Reply(state.room, call.registry.overview())]
