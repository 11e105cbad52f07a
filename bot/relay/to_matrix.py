"""IRC lines as Matrix content: pure functions, no network.

The bot posts each IRC line as its own `m.text` (or `m.emote` for /me) with
the IRC nick shown as the sender: the plain body `<nick> text`, a bold nick
in the formatted body marked as the fallback of MSC4144's per-message
profile (`com.beeper.per_message_profile`), which clients that support it
show as the sender instead of the bot.
https://github.com/matrix-org/matrix-spec-proposals/pull/4144
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from bot.chat.irc_proto import FORMATTING
from bot.relay.to_irc import BOLD, ITALIC, MONO, RESET, STRIKE, UNDERLINE, ZWSP, irc_colour

_TAGS = {BOLD: "strong", ITALIC: "em", UNDERLINE: "u", STRIKE: "del", MONO: "code"}
_ORDER = (BOLD, ITALIC, UNDERLINE, STRIKE, MONO)
# \x03 colours: \x03, then optionally a foreground of 1-2 digits and ",background";
# \x04 the same in hex. A bare \x03 or \x04 ends the colour.
_COLOUR = re.compile(r"\x03(\d{1,2}(,\d{1,2})?)?|\x04([0-9a-fA-F]{6}(,[0-9a-fA-F]{6})?)?")
# Control characters that are no formatting (a stray CTCP \x01, a bell, the ESC of a terminal
# escape sequence) mean nothing in a Matrix message and would act in a terminal client: dropped.
_STRAY = re.compile("[^" + FORMATTING + "\t\x03\x04\x16" + r"\x20-\x7e\xa0-\U0010ffff]")
_URL = re.compile(r"https?://[^\s<>\"\x00-\x1f]+[^\s<>\"\x00-\x1f.,;:!?)\]']")
_MATRIX_TO = "https://matrix.to/#/"


def plain_text(text: str) -> str:
    """The IRC text without any formatting codes (colours, reverse and all)."""
    text = _without_stray(_COLOUR.sub("", text))
    return "".join(ch for ch in text if ch not in _TAGS and ch not in (RESET, "\x16"))


def _without_stray(text: str) -> str:
    return _STRAY.sub("", text).replace("\t", " ")


def irc_to_html(text: str, members: Mapping[str, str] = {}) -> tuple[str, list[str]]:
    """IRC text (codes included) as escaped HTML with mention pills; the user ids mentioned.

    `members` maps a room member's display name to their user id; a name said
    as a whole word becomes a pill. Colours become `<font data-mx-color>` (as
    heisenbridge keeps them); reverse video is dropped.
    """
    # A name relayed from Matrix carries a zero-width space (see to_irc.irc_name);
    # said back from IRC it must still match the member's name.
    text = _without_stray(text).replace("\x16", "").replace(ZWSP, "")
    out: list[str] = []
    active: list[str] = []
    colour: tuple[str | None, str | None] = (None, None)  # (foreground, background) as #rrggbb
    mentioned: list[str] = []
    chunk: list[str] = []

    def flush() -> None:
        if chunk:
            out.append(_linked("".join(chunk), members, mentioned))
            chunk.clear()

    # The font is the outer tag: a style toggled inside a colour leaves the font open.
    def close(fonts: bool) -> None:
        out.extend(f"</{_TAGS[c]}>" for c in reversed(active))
        if fonts and colour != (None, None):
            out.append("</font>")

    def reopen(fonts: bool) -> None:
        if fonts and colour != (None, None):
            out.append("<font" + "".join(f' {name}="{value}"' for name, value in
                                         (("data-mx-color", colour[0]), ("data-mx-bg-color", colour[1])) if value)
                       + ">")
        out.extend(f"<{_TAGS[c]}>" for c in active)

    pos = 0
    while pos < len(text):
        ch = text[pos]
        code = _COLOUR.match(text, pos) if ch in "\x03\x04" else None
        if code is None and ch not in _TAGS and ch != RESET:
            chunk.append(ch)
            pos += 1
            continue
        flush()
        after = _colour_after(colour, code) if code is not None else (None, None) if ch == RESET else colour
        fonts = after != colour
        close(fonts)
        colour = after
        if code is not None:
            pos = code.end()
        else:
            if ch == RESET:
                active = []
            elif ch in active:
                active.remove(ch)
            else:
                active.append(ch)
            active.sort(key=_ORDER.index)
            pos += 1
        reopen(fonts)
    flush()
    close(True)
    empty = r"<(\w+)[^>]*></\1>"
    html_out = "".join(out)
    while re.search(empty, html_out):
        html_out = re.sub(empty, "", html_out)
    return html_out, mentioned


def _colour_after(colour: tuple[str | None, str | None], code: re.Match[str]) -> tuple[str | None, str | None]:
    """The colours after a \x03/\x04 code: a bare one ends them, a foreground alone keeps the background."""
    if code.group(0)[0] == "\x04":
        if code.group(3) is None:
            return (None, None)
        fg, _, bg = code.group(3).partition(",")
        return ("#" + fg.lower(), "#" + bg.lower() if bg else colour[1])
    if code.group(1) is None:
        return (None, None)
    fg, _, bg = code.group(1).partition(",")
    return (irc_colour(int(fg)), irc_colour(int(bg)) if bg else colour[1])


def _linked(text: str, members: Mapping[str, str], mentioned: list[str]) -> str:
    """Escaped text with URLs as links and members' names as mention pills."""
    names = sorted((n for n in members if n.strip()), key=len, reverse=True)
    name_re = re.compile(r"(?<![\w@])(" + "|".join(re.escape(n) for n in names) + r")(?!\w)",
                         re.IGNORECASE) if names else None
    folded = {n.lower(): uid for n, uid in members.items()}
    out: list[str] = []
    pos = 0
    for url in _URL.finditer(text):
        out.append(_pills(text[pos:url.start()], name_re, folded, mentioned))
        href = html.escape(url.group(0), quote=True)
        out.append(f'<a href="{href}">{html.escape(url.group(0), quote=False)}</a>')
        pos = url.end()
    out.append(_pills(text[pos:], name_re, folded, mentioned))
    return "".join(out)


def _pills(text: str, name_re: re.Pattern[str] | None, folded: Mapping[str, str], mentioned: list[str]) -> str:
    if name_re is None:
        return html.escape(text, quote=False)
    out: list[str] = []
    pos = 0
    for m in name_re.finditer(text):
        user_id = folded[m.group(1).lower()]
        out.append(html.escape(text[pos:m.start()], quote=False))
        out.append(
            f'<a href="{_MATRIX_TO}{html.escape(user_id, quote=True)}">{html.escape(m.group(1), quote=False)}</a>'
        )
        if user_id not in mentioned:
            mentioned.append(user_id)
        pos = m.end()
    out.append(html.escape(text[pos:], quote=False))
    return "".join(out)


def relayed_content(nick: str, text: str, action: bool, members: Mapping[str, str] = {},
                    profile_id: str | None = None) -> dict[str, Any]:
    """The Matrix content for one IRC line said by `nick` (`action`: a /me)."""
    body_html, mentioned = irc_to_html(text, members)
    name = html.escape(nick, quote=False)
    plain = plain_text(text)
    if action:
        body, fallback = f"{nick} {plain}", f"<strong data-mx-profile-fallback>{name} </strong>"
    else:
        body, fallback = f"<{nick}> {plain}", f"<strong data-mx-profile-fallback>&lt;{name}&gt; </strong>"
    return {
        "msgtype": "m.emote" if action else "m.text",
        "body": body,
        "format": "org.matrix.custom.html",
        "formatted_body": fallback + body_html,
        "m.mentions": {"user_ids": mentioned} if mentioned else {},
        "com.beeper.per_message_profile": {"id": profile_id or f"irc:{nick}", "displayname": nick,
                                           "has_fallback": True},
    }


def event_content(kind: str, nick: str, target: str, text: str, other: str | None = None) -> dict[str, Any]:
    """An m.notice for a join, part, quit, kick or nick change (only with relay_joins)."""
    words = {"join": f"{nick} joined {target}", "part": f"{nick} left {target}",
             "quit": f"{nick} quit IRC", "kick": f"{other} was kicked from {target} by {nick}",
             "nick": f"{nick} is now known as {text}"}[kind]
    if text and kind in ("part", "quit", "kick"):
        words += f" ({plain_text(text)})"
    return {"msgtype": "m.notice", "body": words}
