"""The MeetBot commands, declared once with their help (see ../shared/REFERENCE.md).

Every handler takes the meeting state, the log line and the parsed call, changes
the state and returns effects. Chairs-only commands are refused centrally by the
engine before the handler runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from bot.core.commands import CommandCall, Registry, Role, Scope
from bot.core.message import Effect, MeetingEnded, React, Reply, quoted
from bot.meeting import people
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
    starts_meeting=True,
)
def startmeeting(state: MeetingState, line: LogLine, call: CommandCall) -> list[Effect]:
    if len(state.lines) > 1:  # the first line of a log is its own #startmeeting
        owner = state.label(state.owner_id, rights=True)
        return [
            Reply(state.room, f"A meeting is already running here, started by {owner} at {state.started:%H:%M} UTC.")
        ]
    if call.args:
        state.name = call.args
    title = f" '{quoted(state.name)}'" if state.name else ""
    return [
        Reply(
            state.room,
            f"Meeting{title} started {state.started:%a %b %d %H:%M:%S %Y} UTC. "
            f"The chair is {state.label(state.owner_id, rights=True)}.\n"
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


def _item_command(
    kind: ItemKind, role: Role, summary: str, example: str, aliases: tuple[str, ...] = ()
) -> Callable[[MeetingState, LogLine, CommandCall], list[Effect]]:
    def handler(state: MeetingState, line: LogLine, call: CommandCall) -> list[Effect]:
        if not call.args:
            return _usage(state, call)
        return add_item(state, line, kind, call.args)

    name = kind.value
    command(
        name,
        role=role,
        scope=Scope.MEETING,
        summary=summary,
        usage=f"{name} TEXT",
        examples=(example,),
        aliases=aliases,
    )(handler)
    return handler


_item_command(ItemKind.INFO, Role.ANYONE, "note a piece of information", "#info Cpuinfo made it into rawhide")
_item_command(ItemKind.IDEA, Role.ANYONE, "note an idea", "#idea run the ROCm tests on the farm nightly")
_item_command(
    ItemKind.ACTION,
    Role.ANYONE,
    "note an action item; people named in it own it",
    "#action tpkessler to package rocm-core",
)
_item_command(
    ItemKind.AGREED, Role.CHAIR, "record a decision", "#agreed meet every two weeks", ("agree", "accepted", "accept")
)
_item_command(
    ItemKind.REJECTED, Role.CHAIR, "record a rejected proposal", "#rejected move to monthly meetings", ("reject",)
)


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
    outside=lambda call: help_answer(call.args, call.registry)
    or f"There is no command {quoted(call.args, 40)!r}. Say !help for the list.",
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
    summary="make people chairs of this meeting: someone who spoke here by name, or anyone by Matrix id or irc:ACCOUNT",
    usage="chair NAME [NAME ...]",
    examples=("#chair jsteffan trix", "#chair @ada:example.org irc:trix"),
)
def chair(state: MeetingState, line: LogLine, call: CommandCall) -> list[Effect]:
    if not call.args:
        return _usage(state, call)
    # A chair is bound to the identity NAME stands for now (people.resolve), so that
    # whoever takes the nick later chairs nothing. A name nobody here answers to is
    # answered in words instead of binding the bare name (where MeetBot binds the nick).
    problems: list[str] = []
    for name in _names(call.args):
        identity, problem = people.resolve(state, name, line.network, line.seen)
        if identity is None:
            problems.append(problem or "")
        elif identity not in state.chair_ids():
            state.chairs.append(Chair(name, identity))
            state.attendees.setdefault(identity, 0)
    return [Reply(state.room, " ".join([*problems, _chairs_text(state)]))]


def _chairs_text(state: MeetingState) -> str:
    shown = sorted(state.chair_nicks(), key=str.lower)
    return "Current chairs: " + quoted((", " if any(" " in s for s in shown) else " ").join(shown))


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
    names = {n.casefold() for n in _names(call.args)}
    state.chairs = [
        c
        for c in state.chairs
        if not names & {c.nick.casefold(), c.sender.casefold(), people.current_name(state, c.sender).casefold()}
    ]
    text = _chairs_text(state)
    if names & {state.owner.casefold(), state.owner_id.casefold()}:
        text = f"{state.label(state.owner_id, rights=True)} started the meeting and stays a chair. " + text
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
    described = replace(removed, nick=state.label(removed.sender)).describe()
    return [Reply(state.room, f"Removing item from minutes: {quoted(described)}")]


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
    for alias in _names(call.args):  # an alias is the speaker's identity's, not their nick's
        if alias.lower() != line.nick.lower() and alias not in state.aliases.setdefault(line.sender, []):
            state.aliases[line.sender].append(alias)
    return [React(state.room, line.event_id)]


@command(
    "commands",
    role=Role.ANYONE,
    scope=Scope.MEETING,
    summary="list the available commands",
    examples=("#commands",),
    outside=lambda call: call.registry.overview(),
)
def commands(state: MeetingState, line: LogLine, call: CommandCall) -> list[Effect]:
    return [Reply(state.room, call.registry.overview())]
