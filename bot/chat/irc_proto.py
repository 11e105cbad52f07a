"""Pure IRC line handling: parse, build and split lines, with no I/O.

The connection (bot/chat/irc.py) only adds the socket. Everything here is a
function of its arguments, so it is tested without a server.

Byte limits come from RFC 1459/2812 section 2.3: a line is at most 512 bytes
including CR LF. Tags (IRCv3 message-tags) have their own 8191-byte budget and
do not count. A server relays our PRIVMSG with ``:nick!user@host`` prepended,
so the text we send must leave room for that prefix too (ngIRCd cuts the
relayed line byte-wise otherwise; see tests/servers/ircd.py).
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import field
from datetime import datetime, timezone

from bot.core.record import record

LINE_LIMIT = 512  # bytes, CR LF included
BODY_LIMIT = LINE_LIMIT - 2  # bytes before CR LF
SASL_CHUNK = 400  # AUTHENTICATE payloads are sent in pieces of 400 bytes (IRCv3 sasl-3.1)
CTCP = "\x01"
ACTION_OVERHEAD = len(f"{CTCP}ACTION {CTCP}")  # 9 bytes around a /me text
_TAG_UNESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_LINE_BREAK = re.compile(r"\r\n|[\r\n]")  # becomes one space
# The formatting codes sigbot writes itself (bold, reset, monospace, italic, strike,
# underline: https://modern.ircdocs.horse/formatting). Every other control character
# is taken out of text: \x01 opens a CTCP (an emote holding one would end our ACTION
# early and start a second CTCP), \x16 (reverse) is a colour sigbot never writes,
# NUL ends a line for some servers, C1 codes are escapes to a terminal client, and a
# lone surrogate (valid in Matrix's JSON) has no UTF-8 form at all. \x03 (colour) is
# sigbot's own: the relay writes it for Matrix colours (data-mx-color) and removes any
# that people typed into their text (bot/relay/to_irc.py).
FORMATTING = "\x02\x03\x0f\x11\x1d\x1e\x1f"
_CONTROL = re.compile("[^" + FORMATTING + r"\x20-\x7e\xa0-\ud7ff\ue000-\U0010ffff]")
_ZWJ = "\u200d"


@record
class Line:
    """One parsed line: ``[@tags] [:source] COMMAND params...``."""

    command: str  # upper-cased: "PRIVMSG", "001", ...
    params: tuple[str, ...] = ()
    source: str | None = None  # "nick!user@host" or a server name
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def nick(self) -> str:
        return split_source(self.source)[0]

    @property
    def user(self) -> str | None:
        return split_source(self.source)[1]

    @property
    def host(self) -> str | None:
        return split_source(self.source)[2]

    def param(self, index: int, default: str = "") -> str:
        return self.params[index] if len(self.params) > index else default


def split_source(source: str | None) -> tuple[str, str | None, str | None]:
    """``nick!user@host`` -> (nick, user, host); a server name -> (name, None, None)."""
    if not source:
        return "", None, None
    nick, _, rest = source.partition("!")
    if not rest:
        nick, _, host = source.partition("@")
        return nick, None, host or None
    user, _, host = rest.partition("@")
    return nick, user or None, host or None


def decode_line(raw: bytes) -> str:
    """UTF-8, or latin-1 when the line is not valid UTF-8 (old clients still send it)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def parse_line(text: str) -> Line:
    """Parse one line (without CR LF). Never raises; junk gives an empty command."""
    rest = text.lstrip(" ")
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        tag_text, _, rest = rest[1:].partition(" ")
        tags = parse_tags(tag_text)
        rest = rest.lstrip(" ")
    source = None
    if rest.startswith(":"):
        source, _, rest = rest[1:].partition(" ")
        rest = rest.lstrip(" ")
    command, _, rest = rest.partition(" ")
    params: list[str] = []
    while rest := rest.lstrip(" "):
        if rest.startswith(":"):
            params.append(rest[1:])
            break
        param, _, rest = rest.partition(" ")
        params.append(param)
    return Line(command.upper(), tuple(params), source or None, tags)


def parse_tags(text: str) -> dict[str, str]:
    """IRCv3 message tags: ``a=1;b;c=x\\sy`` -> {"a": "1", "b": "", "c": "x y"}."""
    tags = {}
    for item in filter(None, text.split(";")):
        key, _, value = item.partition("=")
        tags[key] = unescape_tag_value(value)
    return tags


def unescape_tag_value(value: str) -> str:
    # https://ircv3.net/specs/extensions/message-tags#escaping-values: "\:" is
    # ";", "\s" a space, "\\" a backslash, "\r"/"\n" CR/LF; any other escaped
    # character stands for itself; a lone trailing backslash is dropped.
    return re.sub(r"\\(.?)", lambda m: _TAG_UNESCAPES.get(m[1], m[1]), value, flags=re.S)


def clean(text: str) -> str:
    """Text fit to send, the one gate every text to IRC passes (IrcConnection.send): a line
    break becomes a space; control characters other than sigbot's `FORMATTING` are removed,
    so that only the ACTION framing the connection adds itself carries \x01."""
    return _CONTROL.sub("", _one_line(text.replace("\t", " ")))


def _one_line(param: str) -> str:
    """A parameter that cannot break out of its line (CR/LF become a space, NUL goes); CTCP
    framing stays, as the connection adds it after `clean`."""
    return _LINE_BREAK.sub(" ", param).replace("\0", "")


def build_line(command: str, *params: str) -> bytes:
    """One line without CR LF; the last parameter may hold spaces.

    CR, LF and NUL are taken out of every parameter. Raises ValueError for a
    middle parameter that would change the line's shape, or a line over 510
    bytes (a server disconnects a client that sends one).
    """
    parts = [_one_line(command)]
    for i, param in enumerate(params):
        param = _one_line(param)
        last = i == len(params) - 1
        if last and (not param or " " in param or param.startswith(":")):
            param = ":" + param
        elif not param or " " in param or param.startswith(":"):
            raise ValueError(f"IRC parameter {param!r} may only be the last one")
        parts.append(param)
    data = " ".join(parts).encode("utf-8")
    if len(data) > BODY_LIMIT:
        raise ValueError(f"IRC line of {len(data)} bytes is over the {BODY_LIMIT}-byte limit")
    return data


def privmsg_overhead(source: str, command: str, target: str) -> int:
    """Bytes a relayed ``:source COMMAND target :`` line adds to the text, CR LF included."""
    return len(f":{source} {command} {target} :".encode()) + 2


def split_utf8(text: str, budget: int) -> list[str]:
    """Split ``text`` into pieces of at most ``budget`` UTF-8 bytes.

    Pieces end at the last space that fits (that space is dropped), else the
    word is cut at the last character boundary that fits, preferring the end
    of a grapheme (a letter with its combining marks, an emoji sequence).
    A UTF-8 sequence is never cut. Empty text gives no pieces.
    """
    if budget < 4:
        raise ValueError("a budget under 4 bytes cannot hold every character")
    pieces: list[str] = []
    rest = text
    while len(rest.encode("utf-8")) > budget:
        fit = _chars_that_fit(rest, budget)
        space = rest.rfind(" ", 0, fit + 1)
        if space > 0:
            pieces.append(rest[:space])
            rest = rest[space + 1 :]
        else:
            cut = _grapheme_cut(rest, fit)
            pieces.append(rest[:cut])
            rest = rest[cut:]
    if rest:
        pieces.append(rest)
    return pieces


def _chars_that_fit(text: str, budget: int) -> int:
    """The largest n such that text[:n] is at most ``budget`` bytes."""
    used = 0
    for i, char in enumerate(text):
        used += len(char.encode("utf-8"))
        if used > budget:
            return i
    return len(text)


def _grapheme_cut(text: str, fit: int) -> int:
    """The last cut at or before ``fit`` that does not split a grapheme, else ``fit``."""
    for cut in range(fit, 0, -1):
        if not _joins_previous(text, cut):
            return cut
    return fit  # one grapheme longer than the budget: cut it between code points


def _joins_previous(text: str, i: int) -> bool:
    """Whether text[i] belongs to the grapheme before it (an approximation of UAX #29)."""
    char, before = text[i], text[i - 1]
    code = ord(char)
    return (
        unicodedata.combining(char) != 0
        or unicodedata.category(char) in ("Mn", "Me", "Mc")
        or char == _ZWJ
        or before == _ZWJ
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0xE0100 <= code <= 0xE01EF
        or 0x1F3FB <= code <= 0x1F3FF  # emoji skin tones
        or 0xE0020 <= code <= 0xE007F  # tag characters (subdivision flags)
        or (_regional(char) and _regional(before) and _regional_run(text, i) % 2 == 1)
    )


def _regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF  # flags are pairs of these


def _regional_run(text: str, i: int) -> int:
    """How many regional indicators stand directly before index i."""
    n = 0
    while i - n - 1 >= 0 and _regional(text[i - n - 1]):
        n += 1
    return n


def parse_caps(text: str) -> dict[str, str]:
    """A CAP LS/ACK list: ``sasl=PLAIN,EXTERNAL multi-prefix`` -> {"sasl": "PLAIN,EXTERNAL", ...}."""
    caps = {}
    for item in text.split():
        name, _, value = item.partition("=")
        caps[name] = value
    return caps


def parse_isupport(params: tuple[str, ...]) -> dict[str, str]:
    """RPL_ISUPPORT (005) tokens, without our nick and the trailing text; ``-X`` drops X (as "")."""
    tokens = {}
    for item in params[1:-1]:
        name, _, value = item.partition("=")
        tokens[name.upper()] = value
    return tokens


def casefold(name: str, mapping: str = "rfc1459") -> str:
    """Lower-case a nick or channel the way the server compares them (ISUPPORT CASEMAPPING)."""
    lowered = name.lower() if mapping != "ascii" else name.translate(_ASCII_LOWER)
    if mapping == "rfc1459":
        return lowered.translate(_RFC1459_EXTRA)
    if mapping == "strict-rfc1459":
        return lowered.translate(_STRICT_EXTRA)
    return lowered


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_RFC1459_EXTRA = str.maketrans("[]\\~", "{}|^")
_STRICT_EXTRA = str.maketrans("[]\\", "{}|")


def parse_server_time(value: str | None) -> datetime | None:
    """The ``time`` tag (``2024-05-01T10:00:00.123Z``) as an aware UTC datetime, None if absent or bad."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def sasl_payloads(payload: bytes) -> list[str]:
    """AUTHENTICATE arguments for one SASL message: base64 in 400-byte pieces.

    A payload whose base64 is a multiple of 400 bytes (or empty) ends with
    ``+`` so the server knows it is complete (IRCv3 sasl-3.1).
    """
    encoded = base64.b64encode(payload).decode("ascii")
    pieces = [encoded[i : i + SASL_CHUNK] for i in range(0, len(encoded), SASL_CHUNK)]
    if not pieces or len(pieces[-1]) == SASL_CHUNK:
        pieces.append("+")
    return pieces


def sasl_plain(account: str, password: str) -> bytes:
    """The PLAIN message (RFC 4616): authzid NUL authcid NUL password."""
    return f"{account}\0{account}\0{password}".encode()


def strip_ctcp_action(text: str) -> str | None:
    """The text of ``\\x01ACTION text\\x01`` (a /me), else None."""
    head = CTCP + "ACTION"
    if not text.startswith(head):
        return None
    body = text[len(head) :].rstrip(CTCP)
    return body[1:] if body.startswith(" ") else body
