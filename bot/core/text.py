"""Text that people give the bot, made safe to store and to show on a chat line or a terminal.

What is removed, and why:
- control characters (CR, LF, ESC, NUL): a line break could forge a second IRC
  line, an escape sequence could rewrite a terminal showing `sigbot loans list`;
- format characters, above all the bidi embeddings, overrides and isolates
  (U+202A-U+202E, U+2066-U+2069) and marks (U+200E, U+200F, U+061C): they make
  text read differently from what is stored ("Trojan Source", CVE-2021-42574;
  https://www.unicode.org/reports/tr9/), so a name or a purpose could pose as
  another. The zero-width joiner and non-joiner stay: Persian, the Indic
  scripts and emoji sequences need them to be spelt right, and they reorder
  nothing;
- lone surrogates, which undecodable command-line bytes become
  (surrogateescape) and which cannot be stored as UTF-8.
Runs of whitespace become one space; `keep_lines` keeps line breaks instead
(a postal address has several lines).
"""

from __future__ import annotations

import unicodedata

_JOINERS = frozenset("\u200c\u200d")


def without_surrogates(text: str) -> str:
    """`text` that can be encoded as UTF-8, so stored or looked up: lone surrogates dropped, nothing else touched."""
    return text if text.isascii() else "".join(ch for ch in text if not 0xD800 <= ord(ch) <= 0xDFFF)


def clean_text(text: str, *, keep_lines: bool = False) -> str:
    """`text` without control, format or surrogate characters, whitespace collapsed, ends stripped."""
    if keep_lines:
        lines = "\n".join(text.splitlines()).split("\n")
        return "\n".join(line for line in (clean_text(line) for line in lines) if line)
    kept = []
    for ch in text:
        if ch.isspace():  # tabs, line and paragraph separators too
            kept.append(" ")
        elif ch in _JOINERS or unicodedata.category(ch) not in ("Cc", "Cf", "Cs"):
            kept.append(ch)
    return " ".join("".join(kept).split())
