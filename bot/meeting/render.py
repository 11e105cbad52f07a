"""Render minutes to Markdown with Jinja2, and write the three files of a meeting.

User text is escaped for Markdown so that nobody can inject links, images or
markup into the notes; only the URLs of link items become links, and only for
http(s), mailto and irc.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from bot.core.files import write_atomic
from bot.core.record import record
from bot.core.resources import data_dir
from bot.meeting.minutes import Minutes, RoomJson, log_text, minutes_json
from bot.meeting.model import Entry, ItemKind
from bot.meeting.paths import contained, notes_stem

if TYPE_CHECKING:
    import jinja2

    from bot.config.model import Team

DEFAULT_TEMPLATES = data_dir("templates")
NETWORK_NAMES = {"matrix": "Matrix", "irc": "IRC", "cli": "console", "replay": "log"}
SAFE_SCHEMES = ("http://", "https://", "mailto:", "irc://", "ircs://")
# `&` too: unescaped, "&lt;" or "&#106;" typed by someone would be shown decoded ("<", "j").
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>~|&])")
# At the start of the text (after "- " in a list) these would open a heading or a nested list;
# a trailing "#" would be dropped as the closing sequence of the "# title" heading. Zero-width:
# a backslash goes where they match.
_MD_BLOCK = re.compile(r"^(?=#+(?:[ \t]|$)|-|\+(?:[ \t]|$))|(?=#$)")  # "#room" stays as it is
_MD_LIST_NUMBER = re.compile(r"^\d{1,9}(?=[.)](?:[ \t]|$))")
# A Matrix message can hold several lines; a line break would end the list item and let the next
# line be a heading or a list of its own, so the lines are joined with spaces.
_LINE_BREAK = re.compile(r"\r\n?|\n")
# Bidirectional controls (LRE RLE PDF LRO RLO, LRI RLI FSI PDI, LRM RLM, ALM) reorder what follows
# them: a nick could make "11:00" read "00:11". The Markdown is read as plain text too (editors,
# diffs, mail), where no isolation exists, so they are shown as "<U+202E>" rather than isolated.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def md_escape(text: str) -> str:
    """Text that Markdown shows as typed: no emphasis, links, images, HTML, entities or reordering."""
    text = _MD_SPECIAL.sub(r"\\\1", _LINE_BREAK.sub(" ", text))
    text = _MD_LIST_NUMBER.sub(r"\g<0>\\", _MD_BLOCK.sub(r"\\", text))
    return BIDI_CONTROLS.sub(lambda m: f"\\<U+{ord(m.group(0)):04X}\\>", text)


def md_item_text(entry: Entry) -> str:
    """An item's text for Markdown; a link item's URL becomes an autolink."""
    url = entry.url
    if (entry.kind is ItemKind.LINK and url and url.lower().startswith(SAFE_SCHEMES) and url in entry.text
            and not BIDI_CONTROLS.search(url)):
        before, _, after = entry.text.partition(url)
        return f"{md_escape(before)}<{url}>{md_escape(after)}"
    return md_escape(entry.text)


class AgendaLine(Protocol):
    """One line of the minutes' Agenda section, as templates/minutes.md.j2 reads it
    (bot.agenda's MinutesAgendaItem; the meeting engine does not import the agenda)."""

    @property
    def text(self) -> str: ...
    @property
    def author(self) -> str: ...
    @property
    def covered(self) -> bool: ...
    @property
    def carried(self) -> bool: ...


class EarlierActionLine(Protocol):
    """One line of the minutes' "Action items from earlier meetings" (bot.agenda's EarlierAction)."""

    @property
    def text(self) -> str: ...
    @property
    def meeting_date(self) -> str: ...
    @property
    def state(self) -> str: ...


@record
class RenderContext:
    team: str
    timezone: str = "UTC"
    log_name: str = ""  # file name of the .log.txt, for links
    agenda: tuple[AgendaLine, ...] = ()  # filled by the schedule feature
    earlier_actions: tuple[EarlierActionLine, ...] = ()  # filled by the schedule feature
    # Where the meeting was, as people know it: a meeting's room is often an opaque Matrix id
    # (!_tyPgzB...:server), which names nothing to a reader, and half of it may have been on IRC.
    room_name: str = ""  # the room's display name, when the adapter knows it
    room_alias: str = ""  # #name:server
    irc_channels: tuple[str, ...] = ()

    def room(self, room_id: str) -> RoomJson:
        """The `room` object of the meeting's `.json`: its id, name, alias and relayed IRC channels."""
        return {"id": room_id, "name": self.room_name or None, "alias": self.room_alias or None,
                "irc_channels": list(self.irc_channels)}


def team_context(team: Team, **sections: Any) -> RenderContext:
    """The RenderContext of a configured team (bot.config.model.Team): its zone, Matrix alias and IRC channels."""
    room = team.matrix_room or ""
    return RenderContext(team.name, team.timezone, room_alias=room if room.startswith("#") else "",
                         irc_channels=tuple(team.irc_channels), **sections)


def room_line(room_id: str, ctx: RenderContext) -> str:
    """Markdown naming the room: "Name (#alias:server) · IRC: #chan"; the bare id only when nothing else is known."""
    matrix = [md_escape(x) for x in (ctx.room_name, ctx.room_alias) if x]
    if not matrix and not room_id.startswith("!"):
        matrix = [md_escape(room_id)]  # an IRC channel or alias as the meeting's own room
    parts = [f"{matrix[0]} ({matrix[1]})" if len(matrix) == 2 else matrix[0]] if matrix else []
    irc = [md_escape(c) for c in ctx.irc_channels if c != room_id or not matrix]
    if irc:
        parts.append("IRC: " + ", ".join(irc))
    return " · ".join(parts) or md_escape(room_id)


def networks_differ(minutes: Minutes) -> bool:
    """Whether the attendees came from more than one network (then the minutes say which, per person)."""
    return len({a.network for a in minutes.attendees if a.network}) > 1


def _environment(template_dirs: list[Path]) -> jinja2.Environment:
    import jinja2  # here, not at the top: `sigbot run` needs it only when a meeting ends (memory, issue 14)

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in template_dirs]),
        autoescape=False,  # Markdown, escaped by the md filters below
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    env.filters["item"] = md_item_text
    return env


def render_markdown(minutes: Minutes, ctx: RenderContext, template_dir: Path | None = None) -> str:
    dirs = ([template_dir] if template_dir else []) + [DEFAULT_TEMPLATES]
    tz = ZoneInfo(ctx.timezone)

    def local(t: datetime) -> datetime:
        return t.astimezone(tz)

    template = _environment(dirs).get_template("minutes.md.j2")
    return template.render(m=minutes, ctx=ctx, local=local, kinds=ItemKind, room=room_line(minutes.room, ctx),
                           show_networks=networks_differ(minutes), network_names=NETWORK_NAMES)


Renderer = Callable[[Minutes, RenderContext, Path | None], str]  # render_markdown, or bot.meeting.apart's render_apart


def write_notes(minutes: Minutes, folder: Path, ctx: RenderContext, template_dir: Path | None = None,
                render: Renderer = render_markdown) -> Path:
    """Write `.md`, `.log.txt` and `.json` into `folder`; returns the `.md` path.

    The JSON and log are written before the Markdown, each through a temporary
    file and a rename, so a crash never leaves half a file behind.
    """
    folder.mkdir(parents=True, exist_ok=True)
    stem = notes_stem(minutes.started, minutes.name, minutes.room)
    ctx = replace(ctx, log_name=f"{stem}.log.txt")
    outputs = {
        ".log.txt": log_text(minutes.lines),
        ".json": json.dumps(minutes_json(minutes, ctx.room(minutes.room)), indent=2, ensure_ascii=False) + "\n",
        ".md": render(minutes, ctx, template_dir),
    }
    for ext, text in outputs.items():
        write_atomic(contained(folder, stem + ext), text)
    return contained(folder, stem + ".md")
