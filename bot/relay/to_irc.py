"""Matrix messages as IRC lines: pure functions, no network.

The output is what an IRC regular would type by hand. Bold, italic, underline
and strike become the control codes \\x02 \\x1d \\x1f \\x1e (see
https://modern.ircdocs.horse/formatting); inline code becomes `backticks`,
never the monospace code \\x11, which irssi and HexChat show as a reverse-video
`Q`; a link becomes `text (url)` unless the text is the url; a code block
becomes its plain lines; a table becomes aligned columns (a compact list when
too wide for a terminal); a user pill becomes the name alone. Everything is
split by bytes, never inside a UTF-8 sequence, each line carries the
`<Name> ` prefix, and a line split in two says so: ` …` at its end, `… ` at
the start of its continuation. Control characters
other than those codes (a CTCP \x01, CR, LF, NUL) never cross: see
`irc_proto.clean`, which the IRC connection applies to every text it sends.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher
from html.parser import HTMLParser

from bot.chat.irc_proto import clean, split_utf8

BOLD, ITALIC, UNDERLINE, STRIKE, MONO, RESET = "\x02", "\x1d", "\x1f", "\x1e", "\x11", "\x0f"
ZWSP = "\u200b"
_STYLE_TAGS = {"b": BOLD, "strong": BOLD, "i": ITALIC, "em": ITALIC, "u": UNDERLINE, "ins": UNDERLINE,
               "s": STRIKE, "del": STRIKE, "strike": STRIKE,
               "h1": BOLD, "h2": BOLD, "h3": BOLD, "h4": BOLD, "h5": BOLD, "h6": BOLD}
_BLOCK_TAGS = {"p", "div", "pre", "blockquote", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table"}
CONTINUES, CONTINUED = " …", "… "  # a split line's end, and the start of its continuation
TABLE_WIDTH = 80  # columns: a wider table would wrap in a terminal client, so it becomes a list
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
        self.tables: list[_Table] = []  # open tables, innermost last

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
        elif tag == "code" and not self.pre:
            self.out.append("`")
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
        elif tag == "table":
            self.tables.append(_Table(len(self.out)))
        elif tag == "tr" and self.tables:
            self.tables[-1].rows.append([])
        elif tag in ("td", "th") and self.tables:
            self.tables[-1].cell = len(self.out)
            self.tables[-1].header |= tag == "th" and len(self.tables[-1].rows) == 1
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
        elif tag == "code" and not self.pre:
            self.out.append("`")
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
        elif tag == "blockquote":
            self.quote = max(0, self.quote - 1)
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()
        elif tag in ("td", "th") and self.tables and self.tables[-1].cell is not None:
            table = self.tables[-1]
            cell = " ".join("".join(self.out[table.cell:]).split())
            del self.out[table.cell:]
            table.cell = None
            if not table.rows:
                table.rows.append([])
            table.rows[-1].append(cell)
        elif tag == "table" and self.tables:
            table = self.tables.pop()
            del self.out[table.start:]  # only the whitespace between cells is left there
            self.out.append(table.text())
        if tag in _BLOCK_TAGS:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if not self.pre:
            data = " ".join(data.split("\n")) if data.strip() else ("" if "\n" in data else data)
            if self._at_line_start():
                data = data.lstrip(" ")  # HTML does not show it; on IRC a line starting with a space looks odd
        if self.quote and (not self.out or self.out[-1].endswith("\n")):
            data = "> " + data
        self.out.append(data)

    def _at_line_start(self) -> bool:
        for piece in reversed(self.out):
            before, newline, _ = piece.rpartition("\n")
            if strip_codes(piece[len(before) + len(newline):]):
                return False
            if newline:
                return True
        return True

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


class _Table:
    """A table being read: its rows of cell texts, then written as columns a person lines up by eye."""

    def __init__(self, start: int) -> None:
        self.start = start  # where the table begins in the renderer's output
        self.rows: list[list[str]] = []
        self.cell: int | None = None  # where the open cell's text begins in the output
        self.header = False  # the first row is made of <th>

    def text(self) -> str:
        rows = [row for row in self.rows if any(row)]
        if not rows:
            return ""
        columns = max(len(row) for row in rows)
        rows = [row + [""] * (columns - len(row)) for row in rows]
        widths = [max(_width(row[i]) for row in rows) for i in range(columns)]
        if sum(widths) + 2 * (columns - 1) <= TABLE_WIDTH:
            return "\n".join("  ".join(cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row)).rstrip()
                             for row in rows)
        # Too wide to line up: each row as `first: name value, name value`, or its cells with commas.
        head, body = (rows[0], rows[1:]) if self.header else (None, rows)
        if head is None:
            return "\n".join(", ".join(cell for cell in row if cell) for row in body)
        return "\n".join(row[0] + ": " + ", ".join(f"{name} {cell}".strip() for name, cell in zip(head[1:], row[1:])
                                                   if cell) for row in body)


def _width(text: str) -> int:
    """Columns a terminal gives the text: wide East Asian letters take two, combining marks none."""
    text = strip_codes(text)
    return sum(0 if unicodedata.combining(ch) or ch in (ZWSP, "\u200d")
               else 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


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


def edit_line(old: str | None, new: str) -> str:
    """What IRC sees of an edit, as heisenbridge sends it: `* old → new` naming only the
    words that changed (one word of context for an insertion or deletion) when one small
    run of words changed, else `* ` and the whole new line."""
    if old is None or "\n" in old or "\n" in new:
        return "* " + new
    before, after = old.split(" "), new.split(" ")
    changes = [op for op in SequenceMatcher(None, before, after, autojunk=False).get_opcodes() if op[0] != "equal"]
    if len(changes) != 1:
        return "* " + new
    _, i1, i2, j1, j2 = changes[0]
    if 2 * max(i2 - i1, j2 - j1) > max(len(before), len(after)):
        return "* " + new  # most of the line changed: the diff would be longer than the line
    if i1 == i2 or j1 == j2:  # words only added or only taken away: a neighbour shows where
        i1, j1, i2, j2 = (i1 - 1, j1 - 1, i2, j2) if i1 > 0 else (i1, j1, i2 + 1, j2 + 1)
    return f"* {' '.join(before[i1:i2])} → {' '.join(after[j1:j2])}"


def irc_name(name: str, zero_width: bool) -> str:
    """A display name as relayed: a zero-width space after its first letter keeps IRC
    clients from highlighting the person whose nick it is (optional: screen readers read it)."""
    name = " ".join(name.split()) or "?"
    return name[0] + ZWSP + name[1:] if zero_width and len(name) > 1 else name


def irc_lines(prefix: str, text: str, budget: int, max_lines: int, paste_url: str | None = None) -> list[str]:
    """`text` as lines of at most `budget` bytes, each starting with `prefix`.

    A line too long for one IRC line is split, marked where it was split (as
    heisenbridge does), so its continuation does not read as a new message.
    More than `max_lines` lines are cut to their first ones plus a last line
    `prefix… (N lines in all: paste_url)`; without a paste url every line is given.
    """
    # Cleaned here as the connection will clean them (irc_proto.clean), so the bytes
    # counted are the bytes sent; a \x01 or a stray CR never reaches the wire.
    prefix = clean(prefix)
    room = budget - len(prefix.encode())
    lines = [piece for line in _BREAKS.split(text) if line.strip() for piece in _split_marked(clean(line), room)]
    lines = [prefix + line for line in lines] or [prefix.rstrip()]
    if len(lines) <= max_lines or paste_url is None:
        return lines
    tail = f"{prefix}… ({len(lines)} lines in all: {paste_url})"
    if len(tail.encode()) > budget:
        tail = f"… {paste_url}"
    return lines[:max_lines - 1] + [tail]


def _split_marked(line: str, room: int) -> list[str]:
    """One line in pieces of at most `room` bytes: ` …` ends a piece that continues, `… ` starts its continuation."""
    marks = len(CONTINUES.encode()) + len(CONTINUED.encode())
    if len(line.encode()) <= room or room - marks < 4:  # fits, or too narrow for marks (split_utf8 needs 4)
        return split_utf8(line, room)
    pieces: list[str] = []
    rest = line
    while rest:
        head = CONTINUED if pieces else ""
        if len((head + rest).encode()) <= room:
            pieces.append(head + rest)
            break
        piece = split_utf8(rest, room - len(head.encode()) - len(CONTINUES.encode()))[0]
        pieces.append(head + piece + CONTINUES)
        rest = rest[len(piece):]
        rest = rest[1:] if rest.startswith(" ") else rest  # split_utf8 drops the space it split at
    return pieces
