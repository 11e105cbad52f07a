"""Pure helpers of the Matrix adapter: reading event content and writing replies.

Kept apart from the network code so they are tested without a homeserver.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markdown_it import MarkdownIt

from bot.core.message import LineKind

# Raw HTML in replies is disabled: a reply may quote what a user said.
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable("table")
_MX_REPLY = re.compile(r"<mx-reply>.*?</mx-reply>", re.DOTALL | re.IGNORECASE)

KINDS = {"m.text": LineKind.SAID, "m.emote": LineKind.ME, "m.notice": LineKind.NOTICE}


@dataclass(frozen=True)
class Incoming:
    """What the adapter needs from one m.room.message event."""

    kind: LineKind
    text: str
    edits: str | None  # the event id this event replaces (m.replace), if an edit


def strip_reply_fallback(body: str) -> str:
    """Drop the `> ` quote block a reply starts with (removed from the spec in v1.13,
    but older clients still send it), so a command in a reply is read as typed."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> "):
        return body
    i = 0
    while i < len(lines) and lines[i].startswith(">"):
        i += 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    return "\n".join(lines[i:])


def read_message(content: dict) -> Incoming | None:
    """An m.room.message's content as a line; None for kinds we do not log."""
    relates = content.get("m.relates_to") or {}
    edits = relates.get("event_id") if relates.get("rel_type") == "m.replace" else None
    source = content.get("m.new_content") if edits and isinstance(content.get("m.new_content"), dict) else content
    kind = KINDS.get(source.get("msgtype", ""))
    body = source.get("body")
    if kind is None or not isinstance(body, str):
        media = _media_line(source)
        return Incoming(LineKind.SAID, media, edits) if media else None
    if not edits and "m.in_reply_to" in relates:
        body = strip_reply_fallback(body)
    return Incoming(kind, body, edits)


def _media_line(content: dict) -> str | None:
    if content.get("msgtype") in ("m.image", "m.file", "m.video", "m.audio") and isinstance(content.get("body"), str):
        size = (content.get("info") or {}).get("size")
        return f"[{content['msgtype'][2:]}: {content['body']}" + (f", {size} bytes]" if isinstance(size, int) else "]")
    return None


def notice_content(markdown: str) -> dict:
    """An m.notice with a plain body and HTML rendered from Markdown."""
    html = _MX_REPLY.sub("", _MARKDOWN.render(markdown)).strip()
    return {"msgtype": "m.notice", "body": markdown, "format": "org.matrix.custom.html", "formatted_body": html}


def reaction_content(event_id: str, key: str) -> dict:
    return {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
