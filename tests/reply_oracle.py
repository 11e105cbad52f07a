"""markdown-it-py as the oracle of bot/chat/reply_markdown.py (tests/test_reply_markdown.py and conftest.py).

`agrees(text)`: the reply renderer gives markdown-it-py's HTML byte for byte,
unless markdown-it reads something in `text` that lies outside the part of
Markdown replies use (a link in brackets, an image, a heading, a quote, a
rule, code blocks, an entity, a list or a table in a list), which the renderer
shows as
typed. That happens when a reply repeats what a person typed ("Topic:
[x](https://evil.example)"): markdown-it made it a link in the bot's own
message; the renderer shows the brackets.
"""

from __future__ import annotations

from collections.abc import Iterator

from markdown_it import MarkdownIt
from markdown_it.token import Token

from bot.chat.reply_markdown import reply_html

ORACLE = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable("table")
_OUTSIDE = {"heading_open", "blockquote_open", "hr", "code_block", "fence", "image", "html_block", "html_inline"}


def _tokens(tokens: list[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        yield from _tokens(token.children or [])


def outside(text: str) -> str | None:
    """The first thing markdown-it reads in `text` that replies do not use; None when there is none."""
    lists = 0
    for token in _tokens(ORACLE.parse(text)):
        if token.type in _OUTSIDE:
            return token.type
        if token.type == "link_open" and token.markup != "autolink":
            return "link"
        if token.type == "text_special" and token.info == "entity":
            return "entity"
        if token.type == "table_open" and lists:
            return "table in a list"
        if token.type in ("bullet_list_open", "ordered_list_open"):
            lists += 1
            if lists > 1:
                return "list in a list"
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            lists -= 1
    return None


def agrees(text: str) -> bool:
    return reply_html(text) == ORACLE.render(text) or outside(text) is not None
