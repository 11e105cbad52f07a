"""The HTML of the bot's replies, from the small part of Markdown they are written in.

A reply (bot.core.message.Reply and the other effects with text) is Markdown:
Element shows it formatted from an HTML `formatted_body`, and IRC shows that
HTML with control codes (bot/relay/to_irc.py). Replies use a small part of
Markdown, and this module renders exactly that part, the way markdown-it-py
renders it (CommonMark with `breaks` and GFM tables), byte for byte:

- paragraphs, with every line break kept (`<br />`);
- `**strong**` and `*emphasis*` (`_` too), by CommonMark's delimiter rules;
- `code` spans, of any number of backticks;
- backslash escapes (md_escape puts them around whatever a person said);
- autolinks, `<https://…>` (the address form's link) and `<name@host>`;
- lists: `- ` (or `*`, `+`) and `1. ` (or `1)`), tight or loose, with
  continuation lines;
- pipe tables with a delimiter row and alignment.

Anything else is shown as typed: `[a](b)`, `# title`, `> quote`, `---`, a
line of `-` or `=` under text (a heading to markdown-it), a list or a table
inside a list, entities such as `&amp;`, fenced or indented code. Nothing sigbot
writes uses them, and what a person said is escaped (md_escape) before it is
put into a reply. tests/test_reply_markdown.py compares this renderer with
markdown-it-py on generated replies and on any text within the part above,
and conftest.py on every reply the suite produces.

Why not markdown-it-py itself: it is 0.9 MiB (68 modules) of the long-running
bot for this much of it (memory is a figure of issue 14). The archive site,
built in a child process, keeps using it. Autolinks are encoded with mdurl,
the small library markdown-it-py encodes them with.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

import mdurl

_ASCII_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
# CommonMark's whitespace (Unicode Zs, tab, line breaks), and what markdown-it-py trims (it adds U+2028/9).
_WHITESPACE = frozenset("\t\n\x0b\x0c\r \xa0\u1680\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B))))
_TRIM = "".join(_WHITESPACE) + "\u2028\u2029"

_BULLET = re.compile(r" {0,3}([-+*])(?:[ \t]+|$)")
_ORDERED = re.compile(r" {0,3}(\d{1,9})([.)])(?:[ \t]+|$)")
_DELIMITER_CELL = re.compile(r":?-+:?")
# CommonMark's autolinks (<scheme:...> and <address@host>), and what markdown-it refuses to link.
_URI = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]{1,31}):([^<>\x00-\x20]*)$")
_EMAIL = re.compile(r"^([a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
                    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*)$")
_UNSAFE_LINK = re.compile(r"^(vbscript|javascript|file|data):")
_IMAGE_DATA = re.compile(r"^data:image/(gif|png|jpeg|webp);")
_HOST_DOTS = re.compile("[.\u3002\uff0e\uff61]")
_NOT_ASCII = re.compile(r"[^\0-\x7e]")


def reply_html(markdown: str) -> str:
    """The HTML markdown-it-py (commonmark, breaks, tables) renders for a reply's Markdown."""
    text = markdown.replace("\r\n", "\n").replace("\r", "\n").replace("\0", "\ufffd")
    return "".join(_blocks(text.split("\n")))


# --- blocks ---------------------------------------------------------------------


def _blank(line: str) -> bool:
    return not line.strip(" \t")


def _step(column: int, ch: str) -> int:
    """The column after `ch` at `column` (a tab goes on to the next multiple of 4, as in CommonMark)."""
    return column + (4 - column % 4 if ch == "\t" else 1)


def _column(text: str) -> int:
    """The column `text` ends at."""
    column = 0
    for ch in text:
        column = _step(column, ch)
    return column


def _indent(line: str) -> int:
    """The line's indentation in columns."""
    return _column(line[:len(line) - len(line.lstrip(" \t"))])


def _dedent(line: str, columns: int) -> str:
    """The line without up to `columns` columns of its indentation; a tab only partly inside them leaves
    the rest of its width as spaces (as markdown-it does)."""
    i = column = 0
    while i < len(line) and line[i] in " \t" and column < columns:
        column = _step(column, line[i])
        i += 1
    return " " * (column - columns) + line[i:] if column > columns else line[i:]


@dataclass
class _Item:
    start: int  # the item's number (ordered lists)
    paragraphs: list[list[str]] = field(default_factory=list)


def _marker(line: str) -> tuple[str, int, int, str] | None:
    """(list kind, number, content offset, content) when `line` starts a list item, else None.
    The kind is the bullet character, or the ordered list's delimiter: a change of it ends a list."""
    match = _BULLET.match(line) or _ORDERED.match(line)
    if match is None:
        return None
    content = line[match.end():]
    marker = _column(line[:match.end(1 if match.re is _BULLET else 2)])
    after = _column(line[:match.end()]) - marker  # the spaces after the marker, in columns
    offset = marker + 1 if not content or after > 4 else marker + after  # where the item's text starts
    if match.re is _BULLET:
        return match.group(1), 1, offset, content
    return match.group(2), int(match.group(1)), offset, content


def _interrupts(lines: list[str], i: int) -> bool:
    """Whether line i ends a paragraph: a table, a non-empty bullet item, or an item numbered 1."""
    if _table_head(lines, i) is not None:
        return True
    item = _marker(lines[i])
    return item is not None and bool(item[3].strip(" \t")) and (item[0] in "-+*" or item[1] == 1)


def _blocks(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        if _blank(lines[i]):
            i += 1
        elif (head := _table_head(lines, i)) is not None:
            i = _table(lines, i, head, out)
        elif _marker(lines[i]) is not None:
            i = _list(lines, i, out)
        else:
            start = i
            i += 1
            while i < len(lines) and not _blank(lines[i]) and not _interrupts(lines, i):
                i += 1
            out.append(f"<p>{_inline(chr(10).join(lines[start:i]).strip(_TRIM))}</p>\n")
    return out


def _list(lines: list[str], i: int, out: list[str]) -> int:
    first = _marker(lines[i])
    assert first is not None
    kind = first[0]
    items: list[_Item] = []
    loose = False
    while i < len(lines):
        item = _marker(lines[i])
        if item is None or item[0] != kind:
            break
        _, number, offset, content = item
        current = _Item(number, [[content]] if content.strip(" \t") else [])
        items.append(current)
        i += 1
        gap = False  # a blank line seen since the item's last text
        if not current.paragraphs and i < len(lines) and _blank(lines[i]):
            i, gap = i + 1, True  # an empty item and one blank line: the list goes on only if an item follows
        while i < len(lines) and not (gap and not current.paragraphs):
            line = lines[i]
            if _blank(line):
                gap = True
                i += 1
                continue
            inside = _indent(line) >= offset  # indented under the item's text: its own
            # Not indented: a lazy continuation of the item's paragraph, unless it starts an item. (A table
            # cannot interrupt it there: its rows are not indented under the item.)
            if inside or (not gap and current.paragraphs and _marker(line) is None):
                if gap or not current.paragraphs:
                    loose |= gap
                    current.paragraphs.append([])
                # A continuation line loses the item's indentation (a lazy one its own), as in markdown-it.
                current.paragraphs[-1].append(_dedent(line, offset))
                gap = False
                i += 1
            else:
                break
        if gap:
            nxt = _marker(lines[i]) if i < len(lines) else None
            if nxt is None or nxt[0] != kind:
                break
            loose = True
    tag = "ul" if kind in "-+*" else "ol"
    start = f' start="{items[0].start}"' if tag == "ol" and items[0].start != 1 else ""
    out.append(f"<{tag}{start}>\n")
    for it in items:
        texts = [_inline(chr(10).join(p).strip(_TRIM)) for p in it.paragraphs]
        if loose and texts:
            out.append("<li>\n" + "".join(f"<p>{t}</p>\n" for t in texts) + "</li>\n")
        else:
            out.append("<li>" + "\n".join(texts) + "</li>\n")
    out.append(f"</{tag}>\n")
    return i


# --- tables (GFM, as markdown-it-py reads them) --------------------------------------


def _cells(line: str) -> list[str]:
    """A row's cells: split at pipes a backslash does not escape (that backslash is dropped)."""
    cells, current, escaped = [], "", False
    for ch in line:
        if ch == "|" and not escaped:
            cells.append(current)
            current = ""
        elif ch == "|":
            current = current[:-1] + ch
        else:
            current += ch
        escaped = ch == "\\"
    cells.append(current)
    if cells and cells[0] == "":
        cells.pop(0)
    if cells and cells[-1] == "":
        cells.pop()
    return cells


def _table_head(lines: list[str], i: int) -> list[str] | None:
    """The columns' alignments when lines i and i+1 open a table, else None."""
    if i + 1 >= len(lines) or _indent(lines[i]) >= 4 or _indent(lines[i + 1]) >= 4:
        return None
    rule = lines[i + 1].lstrip(" \t")
    if len(rule) < 2 or rule[0] not in "|-:" or (rule[1] not in "|-: \t") or (rule[0] == "-" and rule[1] in " \t"):
        return None
    if any(ch not in "|-: \t" for ch in rule):
        return None
    parts = rule.split("|")
    aligns = []
    for n, part in enumerate(parts):
        cell = part.strip(_TRIM)
        if not cell:
            if n in (0, len(parts) - 1):
                continue
            return None
        if not _DELIMITER_CELL.fullmatch(cell):
            return None
        if cell[-1] == ":":
            aligns.append("center" if cell[0] == ":" else "right")
        else:
            aligns.append("left" if cell[0] == ":" else "")
    head = lines[i].strip(_TRIM)
    if "|" not in head or not aligns or len(_cells(head)) != len(aligns):
        return None
    return aligns


def _table(lines: list[str], i: int, aligns: list[str], out: list[str]) -> int:
    def row(cells: list[str], tag: str) -> str:
        tds = [f"<{tag}{f' style={chr(34)}text-align:{a}{chr(34)}' if a else ''}>"
               f"{_inline(cells[n].strip(_TRIM)) if n < len(cells) else ''}</{tag}>\n" for n, a in enumerate(aligns)]
        return "<tr>\n" + "".join(tds) + "</tr>\n"

    out.append("<table>\n<thead>\n" + row(_cells(lines[i].strip(_TRIM)), "th") + "</thead>\n")
    i += 2
    body = []
    while i < len(lines) and lines[i].strip(_TRIM) and _indent(lines[i]) < 4 and _marker(lines[i]) is None:
        body.append(row(_cells(lines[i].strip(_TRIM)), "td"))
        i += 1
    if body:
        out.append("<tbody>\n" + "".join(body) + "</tbody>\n")
    out.append("</table>\n")
    return i


# --- inline ------------------------------------------------------------------------


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _punctuation(ch: str) -> bool:
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith(("P", "S"))


@dataclass(eq=False)
class _Run:
    """A run of `*` or `_`: what of it is left as text, and the tags matched on each side of it."""

    char: str
    length: int  # characters of the run, as written (the rule of three reads it)
    left: int  # characters not used by emphasis
    can_open: bool
    can_close: bool
    closes: list[str] = field(default_factory=list)  # end tags, written before what is left
    opens: list[str] = field(default_factory=list)  # start tags, written after it

    def html(self) -> str:
        return "".join(self.closes) + self.char * self.left + "".join(self.opens)


def _run(text: str, start: int, end: int) -> _Run:
    """CommonMark's flanking rules for the delimiter run text[start:end]."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    space_before, space_after = before in _WHITESPACE, after in _WHITESPACE
    punct_before, punct_after = _punctuation(before), _punctuation(after)
    left = not space_after and (not punct_after or space_before or punct_before)
    right = not space_before and (not punct_before or space_after or punct_after)
    char = text[start]
    if char == "*":
        can_open, can_close = left, right
    else:
        can_open, can_close = left and (not right or punct_before), right and (not left or punct_after)
    return _Run(char, end - start, end - start, can_open, can_close)


def _inline(text: str) -> str:
    parts: list[str | _Run] = []  # HTML, and delimiter runs still to be matched
    plain: list[str] = []  # text since the last part, not yet escaped

    def flush() -> None:
        if plain:
            parts.append(_escape("".join(plain)))
            plain.clear()

    unclosed: set[int] = set()  # widths of backtick runs known to have no closing run further on
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] != "\n":
            # An escape is a token of its own in markdown-it (a space after it is not trailing space):
            # the punctuation character, or the backslash and the character when it escapes nothing.
            flush()
            parts.append(_escape(text[i + 1] if text[i + 1] in _ASCII_PUNCT else text[i:i + 2]))
            i += 2
        elif ch == "\n" or (ch == "\\" and i + 1 < n and text[i + 1] == "\n"):
            if ch == "\n" and plain and plain[-1].endswith(" "):
                tail = "".join(plain)
                plain[:] = [tail[:-1] if not tail.endswith("  ") else tail.rstrip(" ")]
            flush()
            parts.append("<br />\n")
            i += 1 if ch == "\n" else 2
            while i < n and text[i] in " \t":
                i += 1
        elif ch == "`":
            end = i
            while end < n and text[end] == "`":
                end += 1
            closing = -1 if end - i in unclosed else _closing_backticks(text, end, end - i)
            if closing < 0:
                unclosed.add(end - i)  # none later either: no second search (backticks cannot be quadratic)
                plain.append(text[i:end])
                i = end
                continue
            code = text[end:closing].replace("\n", " ")
            if code.startswith(" ") and code.endswith(" ") and code.strip(" "):
                code = code[1:-1]
            flush()
            parts.append(f"<code>{_escape(code)}</code>")
            i = closing + (end - i)
        elif ch == "<" and (link := _autolink(text, i)) is not None:
            flush()
            parts.append(link[0])
            i = link[1]
        elif ch in "*_":
            end = i
            while end < n and text[end] == ch:
                end += 1
            flush()
            parts.append(_run(text, i, end))
            i = end
        else:
            plain.append(ch)
            i += 1
    flush()
    _emphasis([p for p in parts if isinstance(p, _Run)])
    return "".join(p if isinstance(p, str) else p.html() for p in parts)


def _autolink(text: str, start: int) -> tuple[str, int] | None:
    """The link `<...>` at text[start] makes, and where it ends; None when it is not an autolink."""
    end = start + 1
    while end < len(text) and text[end] not in "<>":
        end += 1
    if end >= len(text) or text[end] == "<":
        return None
    inside = text[start + 1:end]
    if _URI.search(inside):
        href = _link_href(inside)
    elif _EMAIL.search(inside):
        href = _link_href("mailto:" + inside)
    else:
        return None
    lowered = href.strip().lower()
    if _UNSAFE_LINK.search(lowered) and not _IMAGE_DATA.search(lowered):
        return None  # javascript: and the like are never links
    return f'<a href="{_escape(href)}">{_escape(_link_text(inside))}</a>', end + 1


def _host(host: str, label: Callable[[str], str]) -> str:
    """A host name label by label, as markdown-it maps it to or from punycode: what precedes an @ is kept,
    what follows a second @ is dropped."""
    parts = host.split("@")
    local, domain = (parts[0] + "@", parts[1]) if len(parts) > 1 else ("", host)
    return local + ".".join(label(part) for part in _HOST_DOTS.split(domain))


def _ascii_label(label: str) -> str:
    return "xn--" + codecs.encode(label, "punycode").decode() if _NOT_ASCII.search(label) else label


def _unicode_label(label: str) -> str:
    return label[4:].lower().encode("ascii").decode("punycode") if label.startswith("xn--") else label


def _recoded(url: str, label: Callable[[str], str]) -> mdurl.URL:
    parsed = mdurl.parse(url, slashes_denote_host=True)
    if parsed.hostname and (not parsed.protocol or parsed.protocol in ("http:", "https:", "mailto:")):
        try:
            parsed = parsed._replace(hostname=_host(parsed.hostname, label))
        except (UnicodeError, ValueError):
            pass  # a name punycode cannot map stays as written
    return parsed


def _link_href(url: str) -> str:
    """The link's address, percent-encoded as markdown-it's normalizeLink does."""
    parsed = _recoded(url, _ascii_label)
    if not parsed.hostname or ":" not in parsed.hostname:
        return str(mdurl.encode(mdurl.format(parsed)))
    return str(mdurl.format(parsed._replace(
        protocol=parsed.protocol and mdurl.encode(parsed.protocol), auth=parsed.auth and mdurl.encode(parsed.auth),
        hostname=mdurl.encode(parsed.hostname), pathname=parsed.pathname and mdurl.encode(parsed.pathname),
        search=parsed.search and mdurl.encode(parsed.search), hash=parsed.hash and mdurl.encode(parsed.hash))))


def _link_text(url: str) -> str:
    """The link's text, decoded as markdown-it's normalizeLinkText does."""
    return str(mdurl.decode(mdurl.format(_recoded(url, _unicode_label)), mdurl.DECODE_DEFAULT_CHARS + "%"))


def _closing_backticks(text: str, start: int, width: int) -> int:
    """Where a run of exactly `width` backticks begins at or after `start`; -1 if none."""
    i = text.find("`" * width, start)
    while i >= 0:
        end = i
        while end < len(text) and text[end] == "`":
            end += 1
        if end - i == width:
            return i
        i = text.find("`" * width, end)
    return -1


def _emphasis(runs: list[_Run]) -> None:
    """CommonMark's "process emphasis": each closer, left to right, takes the nearest opener it may pair
    with (`**` as strong when both sides have two left, else `*` as em). Runs are a linked list by index;
    `bottoms` remembers, per kind of closer, below which no opener can pair, so the search stays linear."""
    prev = list(range(-1, len(runs) - 1))
    after = list(range(1, len(runs) + 1))

    def unlink(i: int) -> None:
        if prev[i] >= 0:
            after[prev[i]] = after[i]
        if after[i] < len(runs):
            prev[after[i]] = prev[i]

    def pairs(opener: _Run, closer: _Run) -> bool:
        return opener.char == closer.char and opener.can_open and not (
            (opener.can_close or closer.can_open) and (opener.length + closer.length) % 3 == 0
            and not (opener.length % 3 == 0 and closer.length % 3 == 0))

    bottoms: dict[tuple[str, bool, int], int] = {}
    c = 0
    while c < len(runs):
        closer = runs[c]
        if not closer.can_close:
            c = after[c]
            continue
        key = (closer.char, closer.can_open, closer.length % 3)
        o = prev[c]
        while o > bottoms.get(key, -1) and not pairs(runs[o], closer):
            o = prev[o]
        if o <= bottoms.get(key, -1):
            bottoms[key] = prev[c]
            following = after[c]
            if not closer.can_open:
                unlink(c)
            c = following
            continue
        opener = runs[o]
        used = 2 if opener.left >= 2 and closer.left >= 2 else 1
        tag = "strong" if used == 2 else "em"
        opener.left -= used
        closer.left -= used
        opener.opens.insert(0, f"<{tag}>")
        closer.closes.append(f"</{tag}>")
        after[o], prev[c] = c, o  # the runs between them stay text
        if opener.left == 0:
            unlink(o)
        if closer.left == 0:
            following = after[c]
            unlink(c)
            c = following
