"""The command registry: every chat command is declared once, here or by a feature.

A declaration carries the command's name, aliases, who may use it, its help
text and examples. Help answers in chat, `sigbot help`, the README's command
table and the test that runs every example are all generated from it, so the
list of commands cannot drift from the code.

Parsing follows MeetBot: a command is `#word` or `!word` at the very start of
a line, and only a known word counts, so `#123`, `#channel` or
`proposed #agreed ...` are ordinary text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Any, TypeVar

from bot.core.record import record

PREFIXES = "#!"
# MeetBot's own pattern is `#(\w+)[ \t]*(.*)`: the word is \w+, the rest follows
# after optional blanks. `!` is the Matrix habit (maubot-meetings uses it).
_COMMAND_RE = re.compile(r"([#!])(\w+)[ \t]*(.*)", re.DOTALL)

H = TypeVar("H", bound=Callable[..., Any])  # a handler keeps its own signature through @registry.command


class Role(StrEnum):
    ANYONE = "anyone"
    CHAIR = "chair"  # a chair of the running meeting (or anyone with rights)
    ADMIN = "admin"  # a team admin


class Scope(StrEnum):
    MEETING = "meeting"  # acts on the running meeting; handled by the engine
    ROOM = "room"  # works at any time


@record
class Command:
    name: str
    aliases: tuple[str, ...]
    role: Role
    scope: Scope
    summary: str
    usage: str
    examples: tuple[str, ...]
    handler: Callable[..., Any]  # each feature's handlers take their own state; the dispatcher calls them
    direct: bool = False  # may also be used in a direct message with the bot
    # Who else holds the role besides the chairs (the series' chairs for !cancel): Call -> bool,
    # and how a refusal names everyone who holds it.
    also: Callable[..., bool] | None = None
    holders: str | None = None
    # Whether a line with these arguments must never be kept or shown (an address for !loan address):
    # args -> bool. The dispatcher stores such a line scrubbed, relays nothing, and gives the
    # handler the words only in memory.
    private: Callable[[str], bool] | None = None
    # A meeting command that opens a meeting in a room where none runs (#startmeeting).
    starts_meeting: bool = False
    # What a meeting command answers where no meeting runs, CommandCall -> text (!help, !commands):
    # in a room between meetings and in a direct message.
    outside: Callable[[CommandCall], str] | None = None

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@record
class CommandCall:
    command: Command
    prefix: str
    word: str  # as typed, lower-cased
    args: str
    registry: Registry  # the registry that recognised it (for help answers)


def number_arg(text: str) -> int | None:
    """A whole number a person typed as an argument (`!done 3`, `#topic 2`), else None.

    str.isdigit() is not enough: it accepts `²`, which int() refuses, and a
    forty-digit number passes int() but not SQLite (64-bit integers).
    """
    return int(text) if text.isdecimal() and len(text) <= 9 else None


class Registry:
    """Commands by name; a feature registers its commands on one instance."""

    def __init__(self) -> None:
        self._by_word: dict[str, Command] = {}
        self._commands: list[Command] = []

    def command(
        self,
        name: str,
        *,
        role: Role,
        scope: Scope,
        summary: str,
        usage: str = "",
        examples: tuple[str, ...] = (),
        aliases: tuple[str, ...] = (),
        direct: bool = False,
        also: Callable[..., bool] | None = None,
        holders: str | None = None,
        private: Callable[[str], bool] | None = None,
        starts_meeting: bool = False,
        outside: Callable[[CommandCall], str] | None = None,
    ) -> Callable[[H], H]:
        def declare(handler: H) -> H:
            self._add(Command(name, aliases, role, scope, summary, usage or name, examples, handler, direct,
                              also, holders, private, starts_meeting, outside))
            return handler

        return declare

    @classmethod
    def merge(cls, *registries: Registry) -> Registry:
        """One registry serving the commands of several features."""
        merged = cls()
        for registry in registries:
            for cmd in registry:
                merged._add(cmd)
        return merged

    def _add(self, cmd: Command) -> None:
        for word in cmd.words:
            if word in self._by_word:
                raise ValueError(f"command word {word!r} is declared twice")
            self._by_word[word] = cmd
        self._commands.append(cmd)

    def lookup(self, word: str) -> Command | None:
        return self._by_word.get(word.lower())

    def __iter__(self) -> Iterator[Command]:
        return iter(self._commands)

    def parse(self, line: str) -> CommandCall | None:
        """The command at the very start of `line`, or None. Never raises."""
        match = _COMMAND_RE.match(line)
        if not match:
            return None
        prefix, word, args = match.groups()
        command = self.lookup(word)
        if command is None:
            return None
        return CommandCall(command, prefix, word.lower(), args.strip(), self)

    def overview(self) -> str:
        """A short answer to `!help`, fit for one or two IRC lines."""
        parts = []
        for scope, title in ((Scope.MEETING, "Meetings"), (Scope.ROOM, "Any time")):
            names = [c.name for c in self._commands if c.scope is scope]
            if names:
                parts.append(f"{title}: " + " ".join("!" + n for n in names))
        parts.append("Commands start with ! or #. Say !help COMMAND for one command.")
        return "\n".join(parts)

    def describe(self, word: str) -> str | None:
        """The full help of one command, or None if there is no such command."""
        cmd = self.lookup(word.lstrip(PREFIXES))
        if cmd is None:
            return None
        who = {Role.ANYONE: "anyone", Role.CHAIR: "chairs", Role.ADMIN: "team admins"}[cmd.role]
        lines = [f"!{cmd.usage} — {cmd.summary} (for {who})"]
        if cmd.aliases:
            lines.append("Also: " + ", ".join("!" + a for a in cmd.aliases))
        if cmd.examples:
            lines.append("Example: " + " | ".join(cmd.examples))
        return "\n".join(lines)

    def markdown_table(self) -> str:
        """The command table of the README."""
        rows = ["| command | who | what | example |", "|---|---|---|---|"]
        for cmd in self._commands:
            usage = "`!" + cmd.usage + "`"
            if cmd.aliases:
                usage += " (also " + ", ".join(f"`{a}`" for a in cmd.aliases) + ")"
            example = "<br>".join(f"`{e}`" for e in cmd.examples)
            rows.append(f"| {usage} | {cmd.role.value} | {cmd.summary} | {example} |")
        return "\n".join(rows)
