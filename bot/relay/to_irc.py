"""Matrix messages as IRC lines: pure functions, no network.

Formatting follows what IRC clients show: bold, italic, underline, strike and
monospace become the control codes \\x02 \\x1d \\x1f \\x1e \\x11 (see
https://modern.ircdocs.horse/formatting); a link becomes `text (url)` unless
the text is the url; a code block becomes its plain lines; a user pill
becomes the name alone. Everything is split by bytes, never inside a UTF-8
sequence, and each line carries the `<Name> ` prefix. Control characters
other than those codes (a CTCP \x01, CR, LF, NUL) never cross: see
`irc_proto.clean`, which the IRC connection applies to every text it sends.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from bot.chat.irc_proto import clean, split_utf8

BOLD, ITALIC, UNDERLINE, STRIKE, MONO, RESET = "\x02", "\x1d", "\x1f", "\x1e", "\x11", "\x0f"
ZWSP = "\u200b"
_STYLE_TAGS = {"b": BOLD, "strong": BOLD, "i": ITALIC, "em": ITALIC, "u": UNDERLINE, "ins": UNDERLINE,
               "s": STRIKE, "del": STRIKE, "strike": STRIKE, "code": MONO,
               "h1": BOLD, "h2": BOLD, "h3": BOLD, "h4": BOLD, "h5": BOLD, "h6": BOLD}
_BLOCK_TAGS = {"p", "div", "pre", "blockquote", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table"}
_MATRIX_TO = "https://matrix.to/#/"
_BREAKS = re.compile(r"\r\n|[\r\n]")  # not str.splitlines(): it also splits at \x1e (strike) and \x1c-\x1d


def html_to_irc(html: str) -> str:
    """A Matrix `formatted_body` as IRC text with control codes; lines separated by \\n."""
    parser = _IrcRenderer()
    parser.feed(html)
    parser.close()
    return parser.text()


class _IrcRenderer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.depth: dict[str, int] = {}  # control code -> open tags using it (a code toggles)
        self.pre = 0
        self.skip = 0  # inside <mx-reply>: the reply fallback, never relayed
        self.links: list[tuple[str, int]] = []  # (href, where its text starts in out)
        self.lists: list[list[int]] = []  # per open list: [next number] or [] for bullets
        self.quote = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "mx-reply":
            self.skip += 1
        if self.skip:
            return
        if tag in _BLOCK_TAGS:
            self._newline()
        if tag == "br":
            self.out.append("\n")
        elif tag == "pre":
            self.pre += 1
        elif tag == "blockquote":
            self.quote += 1
        elif tag in ("ul", "ol"):
            self.lists.append([1] if tag == "ol" else [])
        elif tag == "li":
            marker = self.lists[-1] if self.lists else []
            if marker:
                self.out.append(f"{marker[0]}. ")
                marker[0] += 1
            else:
                self.out.append("- ")
        elif tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.out)))
        elif tag == "img":
            alt = dict(attrs).get("alt") or dict(attrs).get("title") or "image"
            self.out.append(f"[{alt}]")
        if tag in _STYLE_TAGS and not self.pre:
            self._toggle(_STYLE_TAGS[tag], +1)

    def handle_endtag(self, tag: str) -> None:
        if tag == "mx-reply":
            self.skip = max(0, self.skip - 1)
            return
        if self.skip:
            return
        if tag in _STYLE_TAGS and not self.pre:
            self._toggle(_STYLE_TAGS[tag], -1)
        if tag == "a" and self.links:
            href, start = self.links.pop()
            label = "".join(self.out[start:])
            if href.startswith(_MATRIX_TO) or not href or _plain(label) in (href, href.removeprefix("mailto:")):
                pass  # a user pill shows the name alone; a bare url stays as it is
            else:
                self.out.append(f" ({href})")
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
        elif tag == "blockquote":
            self.quote = max(0, self.quote - 1)
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()
        if tag in _BLOCK_TAGS:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if not self.pre:
            data = " ".join(data.split("\n")) if data.strip() else ("" if "\n" in data else data)
        if self.quote and (not self.out or self.out[-1].endswith("\n")):
            data = "> " + data
        self.out.append(data)

    def _toggle(self, code: str, step: int) -> None:
        before = self.depth.get(code, 0)
        self.depth[code] = max(0, before + step)
        if (before == 0) != (self.depth[code] == 0):
            self.out.append(code)

    def _newline(self) -> None:
        text = "".join(self.out)
        if text and not text.endswith("\n"):
            self.out.append("\n")

    def text(self) -> str:
        lines = "".join(self.out).split("\n")
        # rstrip(" "), not rstrip(): Python counts \x1f (underline) as whitespace.
        return "\n".join(line.rstrip(" \t") for line in lines).strip("\n")


def _plain(text: str) -> str:
    return strip_codes(text).strip()


def strip_codes(text: str) -> str:
    return "".join(ch for ch in text if ch not in (BOLD, ITALIC, UNDERLINE, STRIKE, MONO, RESET))


def matrix_line(formatted: str | None, text: str, attachment: str | None = None) -> str:
    """The IRC text of a line said on Matrix: a file's description, else its HTML (formatting kept), else its text."""
    if attachment:
        return attachment
    if formatted and formatted.strip():
        return html_to_irc(formatted)
    return text


def irc_name(name: str, zero_width: bool) -> str:
    """A display name as relayed: a zero-width space after its first letter keeps IRC
    clients from highlighting the person whose nick it is (optional: screen readers read it)."""
    name = " ".join(name.split()) or "?"
    return name[0] + ZWSP + name[1:] if zero_width and len(name) > 1 else name


def irc_lines(prefix: str, text: str, budget: int, max_lines: int, paste_url: str | None = None) -> list[str]:
    """`text` as lines of at most `budget` bytes, each starting with `prefix`.

    More than `max_lines` lines are cut to their first ones plus a last line
    `prefix… (N lines in all: paste_url)`; without a paste url every line is given.
    """
    # Cleaned here as the connection will clean them (irc_proto.clean), so the bytes
    # counted are the bytes sent; a \x01 or a stray CR never reaches the wire.
    prefix = clean(prefix)
    room = budget - len(prefix.encode())
    lines = [piece for line in _BREAKS.split(text) if line.strip()
             for piece in split_utf8(clean(line), room)]
    lines = [prefix + line for line in lines] or [prefix.rstrip()]
    if len(lines) <= max_lines or paste_url is None:
        return lines
    tail = f"{prefix}… ({len(lines)} lines in all: {paste_url})"
    if len(tail.encode()) > budget:
        tail = f"… {paste_url}"
    return lines[:max_lines - 1] + [tail]
