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
the start of its continuation. Colours (`data-mx-color`) become \\x03 codes
where the connection lets them through (`COLOURS_CROSS`). Control characters
other than those codes (a CTCP \x01, CR, LF, NUL) never cross: see
`irc_proto.clean`, which the IRC connection applies to every text it sends.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher
from html.parser import HTMLParser

from bot.chat.irc_proto import FORMATTING, clean, split_utf8

BOLD, ITALIC, UNDERLINE, STRIKE, MONO, RESET = "\x02", "\x1d", "\x1f", "\x1e", "\x11", "\x0f"
COLOUR, HEX_COLOUR = "\x03", "\x04"
# Matrix colours cross to IRC once the connection lets \x03 through (irc_proto.FORMATTING, the
# gate of every text sent to IRC); until then a colour code would leave its digits behind.
COLOURS_CROSS = COLOUR in FORMATTING
ZWSP = "\u200b"
_STYLE_TAGS = {"b": BOLD, "strong": BOLD, "i": ITALIC, "em": ITALIC, "u": UNDERLINE, "ins": UNDERLINE,
               "s": STRIKE, "del": STRIKE, "strike": STRIKE,
               "h1": BOLD, "h2": BOLD, "h3": BOLD, "h4": BOLD, "h5": BOLD, "h6": BOLD}
_BLOCK_TAGS = {"p", "div", "pre", "blockquote", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table"}
CONTINUES, CONTINUED = " …", "… "  # a split line's end, and the start of its continuation
TABLE_WIDTH = 80  # columns: a wider table would wrap in a terminal client, so it becomes a list
_MATRIX_TO = "https://matrix.to/#/"
_FG_ONLY = re.compile(r"\x03\d\d")
_COLOUR_CODE = re.compile(r"\x03(\d\d(,\d\d)?)?")
_BREAKS = re.compile(r"\r\n|[\r\n]")  # not str.splitlines(): it also splits at \x1e (strike) and \x1c-\x1d


def html_to_irc(html: str, colours: bool = False) -> str:
    """A Matrix `formatted_body` as IRC text with control codes; lines separated by \\n.

    With `colours`, `data-mx-color` and `data-mx-bg-color` become \\x03 colour codes
    (the nearest of IRC's 99 colours)."""
    parser = _IrcRenderer(colours)
    parser.feed(html)
    parser.close()
    return parser.text()


class _IrcRenderer(HTMLParser):
    def __init__(self, colours: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.colours = colours
        self.painted: list[tuple[str, str] | None] = []  # per open <font>/<span>: its (fg, bg) numbers, or None
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
        elif tag in ("font", "span"):
            self._paint(dict(attrs))
        if tag in _STYLE_TAGS and not self.pre:
            self._toggle(_STYLE_TAGS[tag], +1)

    def _paint(self, attrs: dict[str, str | None]) -> None:
        """A <font> or <span>: its colours, if it has any and colours are wanted, as a \\x03 code."""
        fg, bg = (nearest_colour(attrs.get(name) or "") for name in ("data-mx-color", "data-mx-bg-color"))
        fg = fg or nearest_colour(attrs.get("color") or "")
        if not self.colours or (fg is None and bg is None):
            self.painted.append(None)
            return
        now = self._colour_now()
        pair = (fg or (now[0] if now else "99"), bg or (now[1] if now else ""))
        self.painted.append(pair)
        self.out.append(_colour_code(pair))

    def _colour_now(self) -> tuple[str, str] | None:
        return next((pair for pair in reversed(self.painted) if pair), None)

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
        elif tag in ("font", "span") and self.painted:
            if self.painted.pop() is not None:
                now = self._colour_now()
                self.out.append(_colour_code(now) if now else COLOUR)
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
        data = without_colour_codes(data)  # only the colours the HTML asks for cross
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
        # A colour code followed by a digit (or a comma and a digit) would read them as part of
        # the code: an empty bold (\x02\x02) between them keeps them apart, as IRC clients do.
        pieces = list(self.out)
        for i, piece in enumerate(pieces):
            after = next((p for p in pieces[i + 1:] if p), "")
            if (piece == COLOUR and after[:1].isdigit()) or (_FG_ONLY.fullmatch(piece) and re.match(r",\d", after)):
                pieces[i] = piece + BOLD + BOLD
        text = "".join(pieces)
        # rstrip(" "), not rstrip(): Python counts \x1f (underline) as whitespace.
        return "\n".join(line.rstrip(" \t") for line in text.split("\n")).strip("\n")


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
        return "\n".join(
            row[0] + ": " + ", ".join(
                f"{name} {cell}".strip() for name, cell in zip(head[1:], row[1:], strict=True) if cell
            )
            for row in body
        )


def _width(text: str) -> int:
    """Columns a terminal gives the text: wide East Asian letters take two, combining marks none."""
    text = strip_codes(text)
    return sum(0 if unicodedata.combining(ch) or ch in (ZWSP, "\u200d")
               else 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


# The 99 IRC colours (https://modern.ircdocs.horse/formatting#colors); 99 is the client's default.
IRC_COLOURS = (
    "ffffff 000000 00007f 009300 ff0000 7f0000 9c009c fc7f00 ffff00 00fc00 009393 00ffff 0000fc ff00ff 7f7f7f d2d2d2 "
    "470000 472100 474700 324700 004700 00472c 004747 002747 000047 2e0047 470047 47002a "
    "740000 743a00 747400 517400 007400 007449 007474 004074 000074 4b0074 740074 740045 "
    "b50000 b56300 b5b500 7db500 00b500 00b571 00b5b5 0063b5 0000b5 7500b5 b500b5 b5006b "
    "ff0000 ff8c00 ffff00 b2ff00 00ff00 00ffa0 00ffff 008cff 0000ff a500ff ff00ff ff0098 "
    "ff5959 ffb459 ffff71 cfff60 6fff6f 65ffc9 6dffff 59b4ff 5959ff c459ff ff66ff ff59bc "
    "ff9c9c ffd39c ffff9c e2ff9c 9cff9c 9cffdb 9cffff 9cd3ff 9c9cff dc9cff ff9cff ff94d3 "
    "000000 131313 282828 363636 4d4d4d 656565 818181 9f9f9f bcbcbc e2e2e2 ffffff").split()


def irc_colour(number: int) -> str | None:
    """An IRC colour number as #rrggbb; None for 99 (the default) and numbers with no colour."""
    return "#" + IRC_COLOURS[number] if number < len(IRC_COLOURS) else None


def nearest_colour(value: str) -> str | None:
    """A `#rrggbb` as the two digits of the nearest IRC colour (the lowest number of equals); None if not a colour."""
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        return None
    rgb = [int(value[i:i + 2], 16) for i in (1, 3, 5)]
    def distance(n: int) -> int:
        return sum((a - int(IRC_COLOURS[n][i * 2:i * 2 + 2], 16)) ** 2 for i, a in enumerate(rgb))
    return f"{min(range(len(IRC_COLOURS)), key=distance):02d}"


def _colour_code(pair: tuple[str, str]) -> str:
    return COLOUR + pair[0] + ("," + pair[1] if pair[1] else "")


def without_colour_codes(text: str) -> str:
    """Text with no \\x03/\\x04 of its own: on IRC it would colour what follows."""
    return text.replace(COLOUR, "").replace(HEX_COLOUR, "")


def _plain(text: str) -> str:
    return strip_codes(text).strip()


def strip_codes(text: str) -> str:
    text = _COLOUR_CODE.sub("", text)
    return "".join(ch for ch in text if ch not in (BOLD, ITALIC, UNDERLINE, STRIKE, MONO, RESET))


def matrix_line(formatted: str | None, text: str, attachment: str | None = None,
                colours: bool = COLOURS_CROSS) -> str:
    """The IRC text of a line said on Matrix: a file's description, else its HTML (formatting kept), else its text."""
    if attachment:
        return without_colour_codes(attachment)
    if formatted and formatted.strip():
        return html_to_irc(formatted, colours)
    return without_colour_codes(text)


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
        rest = rest[len(piece):].removeprefix(" ")  # split_utf8 drops the space it split at
    return pieces
