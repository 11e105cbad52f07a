"""Minutes Markdown and MeetBot logs to HTML that cannot carry anyone's markup.

The minutes' Markdown already escapes what people said (bot/meeting/render.py),
but a notes folder can be edited by hand or come from elsewhere, so the HTML
is made safe here again: raw HTML off, images off, and links only to
http(s), mailto, irc(s) or relative addresses. Text holding bidirectional
controls is isolated in `<bdi>` (the log's nicks and lines always are), so a
right-to-left override can reorder only itself, never the time or text beside it.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from html import escape
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from bot.meeting.render import BIDI_CONTROLS

SAFE_SCHEMES = ("http", "https", "mailto", "irc", "ircs")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
_LOG_LINE = re.compile(r"^(\d\d:\d\d:\d\d) (?:<([^>]*)>|\* (\S+))(?: (.*))?$")
_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]}]")


def safe_link(url: str) -> bool:
    """Relative addresses and the safe schemes only (no javascript:, data:, vbscript: ...).

    Browsers ignore tabs and newlines inside a scheme ("java\\tscript:"), so
    control characters and spaces are removed before the scheme is read.
    """
    compact = re.sub(r"[\x00-\x20\x7f]", "", url)
    match = _SCHEME.match(compact)
    if match is None:
        return not compact.startswith("//")  # scheme-relative would leave the site
    return match.group(1).lower() in SAFE_SCHEMES


def minutes_parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False})
    md.disable("image")  # an image would load from anywhere; links are enough
    md.validateLink = safe_link  # type: ignore[method-assign]  # markdown-it-py's documented way to vet links
    return md


class MinutesRenderer:
    """Renders one team's minutes; links into `<stem>.log.txt#l-N` become `#l-N` on the same page."""

    def __init__(self) -> None:
        self.md = minutes_parser()

        self._log_name = ""

        def link_open(
            renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
        ) -> str:
            token = tokens[idx]
            href = str(token.attrGet("href") or "")  # attributes may be numbers in markdown-it's types; an href is text
            if self._log_name and href.startswith(self._log_name + "#l-"):
                token.attrSet("href", href[len(self._log_name):])
            elif _SCHEME.match(href):
                token.attrSet("rel", "nofollow noopener")
            return renderer.renderToken(tokens, idx, options, env)

        self.md.add_render_rule("link_open", link_open)

    def render(self, markdown: str, log_name: str, item_lines: dict[str, int] | None = None) -> str:
        """HTML of the minutes. `item_lines` ({shown text: log line}, see `item_lines`) adds a link to
        the log after the summary lists' items (decisions, action items), which the Markdown does not link."""
        self._log_name = log_name
        env: dict[str, Any] = {}
        tokens = self.md.parse(markdown, env)
        if item_lines:
            _link_items(tokens, item_lines)
        _quiet_attribution(tokens, log_name + "#l-")
        if BIDI_CONTROLS.search(markdown):  # rare: new minutes show them as "<U+202E>" (bot/meeting/render.py)
            _isolate_bidi(tokens)
        html: str = self.md.renderer.render(tokens, self.md.options, env)  # RendererHTML's, a str
        return html


def item_lines(record: dict[str, Any]) -> dict[str, int]:
    """{text as the minutes show it: log line} for decisions and actions of a meeting's `.json`."""
    lines: dict[str, int] = {}
    topics = record["topics"] if isinstance(record.get("topics"), list) else []
    for topic in topics:
        for item in topic.get("items") or [] if isinstance(topic, dict) else []:
            if (
                isinstance(item, dict)
                and item.get("kind") in ("agreed", "rejected")
                and isinstance(item.get("line"), int)
            ):
                label = "Agreed" if item["kind"] == "agreed" else "Rejected"
                lines.setdefault(f"{label}: {item.get('text')}", item["line"])
    for action in record["actions"] if isinstance(record.get("actions"), list) else []:
        if isinstance(action, dict) and isinstance(action.get("line"), int):
            lines.setdefault(str(action.get("text")), action["line"])
    return lines


def _link_items(tokens: list[Token], lines: dict[str, int]) -> None:
    depth = 0
    for token in tokens:
        if token.type in ("bullet_list_open", "ordered_list_open"):
            depth += 1
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
        elif token.type == "inline" and depth and token.children:
            shown = "".join(c.content for c in token.children if c.type in ("text", "code_inline"))
            line = lines.get(shown)
            if line is not None:
                token.children.extend(_log_link(token.children[0], line))


def _quiet_attribution(tokens: list[Token], log_prefix: str) -> None:
    """" · nick [HH:MM](log#l-N)" at the end of an item or topic (templates/minutes.md.j2) becomes
    `<span class="by">`, which the stylesheet shows small and muted: who and when are one click away
    without shouting over what was said."""
    for token in tokens:
        kids = token.children
        if token.type != "inline" or not kids or len(kids) < 4:
            continue
        link = kids[-3]
        if link.type != "link_open" or not str(link.attrGet("href") or "").startswith(log_prefix) \
                or kids[-1].type != "link_close" or kids[-4].type != "text" or " · " not in kids[-4].content:
            continue
        said, _, nick = kids[-4].content.rpartition(" · ")
        Token = type(link)
        before, by_open, who, by_close = Token("text", "", 0), Token("html_inline", "", 0), \
            Token("text", "", 0), Token("html_inline", "", 0)
        before.content, who.content = said, nick
        by_open.content, by_close.content = ' <span class="by">', "</span>"
        link.attrSet("class", "at")
        token.children = [*kids[:-4], before, by_open, who, *kids[-3:], by_close]


def _isolate_bidi(tokens: list[Token]) -> None:
    """Text holding a bidi control (older or hand-edited minutes) becomes `<bdi>` around that text."""
    for token in tokens:
        for child in token.children or ():
            if child.type == "text" and BIDI_CONTROLS.search(child.content):
                child.type, child.content = "html_inline", isolate(escapeHtml(child.content))


def _log_link(like: Token, line: int) -> list[Token]:
    Token = type(like)
    link_open = Token("link_open", "a", 1)
    link_open.attrs = {"href": f"#l-{line}", "class": "to-log"}
    label = Token("text", "", 0)
    label.content = f"log line {line}"
    space = Token("text", "", 0)
    space.content = " "
    by_open, by_close = Token("html_inline", "", 0), Token("html_inline", "", 0)
    by_open.content, by_close.content = '<span class="by">', "</span>"
    return [space, by_open, link_open, label, Token("link_close", "a", -1), by_close]


def isolate(html: str) -> str:
    """`html` in `<bdi>` when it holds a bidirectional control (else as it is: most text has none)."""
    return f"<bdi>{html}</bdi>" if BIDI_CONTROLS.search(html) else html


def parse_log_line(line: str) -> tuple[str, str, str, bool]:
    """(time, nick, text, is_me) of a MeetBot log line; unknown shapes keep their text."""
    match = _LOG_LINE.match(line)
    if match is None:
        return "", "", line, False
    time, nick, me_nick, text = match.groups()
    return time, nick if nick is not None else me_nick, text or "", nick is None


def linkify(text: str) -> str:
    """Escaped text with its http(s) URLs as links."""
    out = []
    pos = 0
    for match in _URL.finditer(text):
        url = escape(match.group(0))
        out.append(escape(text[pos:match.start()]))
        out.append(f'<a href="{url}" rel="nofollow noopener">{url}</a>')
        pos = match.end()
    out.append(escape(text[pos:]))
    return "".join(out)


NICK_COLOURS = 8  # .n0 ... .n7 in site.css, each readable on the light and the dark background


@functools.lru_cache(maxsize=4096)  # a log says the same few nicks thousands of times
def nick_colour(nick: str) -> int:
    """A stable colour class for a nick (as MeetBot's HTML log colours them): the same in every meeting."""
    return int(hashlib.sha1(nick.lower().encode()).hexdigest()[:8], 16) % NICK_COLOURS


def log_html(log: str) -> str:
    """The log as an ordered list; line N has the anchor `l-N` (the minutes link to it)."""
    out = ['<ol class="log">']
    for number, line in enumerate(log.splitlines(), 1):
        time, nick, text, me = parse_log_line(line)
        colour = f"n{nick_colour(nick)}"
        # <bdi> always: a nick is isolated from the line it says, the line from what follows
        who = (f'<span class="me {colour}">* <bdi>{escape(nick)}</bdi></span>' if me
               else f'<span class="nick {colour}">&lt;<bdi>{escape(nick)}</bdi>&gt;</span>')
        body = linkify(text) if "://" in text else escape(text)
        out.append(f'<li id="l-{number}"><a class="ts" href="#l-{number}">{time or number}</a> '
                   f'{who if nick else ""} <bdi class="said">{body}</bdi></li>')
    out.append("</ol>")
    return "\n".join(out)
