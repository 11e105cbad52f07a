"""Pure helpers of the Matrix adapter: reading event content and writing replies.

Kept apart from the network code so they are tested without a homeserver.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from bot.chat.reply_markdown import reply_html
from bot.core.message import LineKind, Message, Network
from bot.core.record import record
from bot.core.text import without_surrogates

_MX_REPLY = re.compile(r"<mx-reply>.*?</mx-reply>", re.DOTALL | re.IGNORECASE)

KINDS = {"m.text": LineKind.SAID, "m.emote": LineKind.ME, "m.notice": LineKind.NOTICE}
MEDIA = {"m.image": "image", "m.file": "file", "m.video": "video", "m.audio": "audio"}


@record
class Incoming:
    """What the adapter needs from one m.room.message event."""

    kind: LineKind
    text: str
    edits: str | None  # the event id this event replaces (m.replace), if an edit
    html: str | None = None  # the formatted body (org.matrix.custom.html), reply fallback removed
    reply_to: str | None = None  # the event this one answers (m.in_reply_to)
    content: dict[str, Any] | None = None  # the content read (an edit's m.new_content), for a file's description


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


def read_message(content: dict[str, Any]) -> Incoming | None:
    """An m.room.message's content as a line; None for kinds we do not log."""
    relates = content.get("m.relates_to") or {}
    edits = relates.get("event_id") if relates.get("rel_type") == "m.replace" else None
    source: dict[str, Any] = (content["m.new_content"] if edits and isinstance(content.get("m.new_content"), dict)
                              else content)
    kind = KINDS.get(source.get("msgtype", ""))
    body = source.get("body")
    reply_to = None if edits else (relates.get("m.in_reply_to") or {}).get("event_id")
    reply_to = reply_to if isinstance(reply_to, str) else None
    if kind is None or not isinstance(body, str):
        media = _media_line(source)
        return Incoming(LineKind.SAID, media, edits, None, reply_to, source) if media else None
    if not edits and "m.in_reply_to" in relates:
        body = strip_reply_fallback(body)
    html = source.get("formatted_body") if source.get("format") == "org.matrix.custom.html" else None
    html = _MX_REPLY.sub("", html) if isinstance(html, str) else None
    return Incoming(kind, body, edits, html, reply_to, source)


def line_message(source: dict[str, Any], room: str, nick: str, homeserver: str, privileged: bool = False,
                 direct: bool = False, encrypted: bool = False) -> Message | None:
    """An m.room.message event as the `Message` the dispatcher reads; None for what is not a line.

    It carries what the other network needs to show the line as written: the
    HTML, a file's description with its download address, the event replied to,
    the event an edit replaces. JSON may carry lone surrogates, which no
    database or IRC line can hold: they go here, at the edge.
    """
    incoming = read_message(source.get("content") or {})
    if incoming is None:
        return None
    return Message(
        network=Network.MATRIX, room=room, sender=source["sender"], nick=nick,
        text=without_surrogates(incoming.text),
        time=datetime.fromtimestamp(source.get("origin_server_ts", 0) / 1000, timezone.utc),
        kind=incoming.kind, event_id=source.get("event_id"), privileged=privileged, direct=direct,
        formatted=without_surrogates(incoming.html) if incoming.html else None,
        attachment=media_text(incoming.content or {}, homeserver), reply_to=incoming.reply_to,
        edits=incoming.edits, encrypted=encrypted)


def _media_line(content: dict[str, Any]) -> str | None:
    if content.get("msgtype") in ("m.image", "m.file", "m.video", "m.audio") and isinstance(content.get("body"), str):
        size = (content.get("info") or {}).get("size")
        return f"[{content['msgtype'][2:]}: {content['body']}" + (f", {size} bytes]" if isinstance(size, int) else "]")
    return None


def notice_content(markdown: str) -> dict[str, Any]:
    """An m.notice with a plain body and HTML rendered from the reply's Markdown (bot/chat/reply_markdown.py:
    no raw HTML passes, since a reply may quote what a person said)."""
    html = reply_html(markdown).strip()
    return {"msgtype": "m.notice", "body": markdown, "format": "org.matrix.custom.html", "formatted_body": html}


def reaction_content(event_id: str, key: str) -> dict[str, Any]:
    return {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}


# --- media, as text-only readers (the IRC side) see it -------------------------


def media_text(content: dict[str, Any], homeserver: str) -> str | None:
    """`[image] cat.png (12.3 KB) https://...` for m.image/m.file/m.video/m.audio, else None."""
    kind = MEDIA.get(content.get("msgtype", ""))
    if kind is None:
        return None
    name = content.get("filename") or content.get("body") or kind
    size = (content.get("info") or {}).get("size")
    parts = [f"[{kind}] {name}"]
    if isinstance(size, int) and size >= 0:
        parts.append(f"({human_size(size)})")
    url = download_url(content.get("url") or "", homeserver, name)
    if url:
        parts.append(url)
    return " ".join(parts)


def download_url(mxc: str, homeserver: str, filename: str) -> str | None:
    """An `mxc://server/id` as the homeserver's download URL (the file name keeps the link readable)."""
    if not mxc.startswith("mxc://"):
        return None
    server, _, media_id = mxc[len("mxc://"):].partition("/")
    if not server or not media_id:
        return None
    return (f"{homeserver.rstrip('/')}/_matrix/media/v3/download/{quote(server, safe='')}/"
            f"{quote(media_id, safe='')}/{quote(filename, safe='')}")


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
