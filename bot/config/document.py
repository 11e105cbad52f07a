"""Parse the config's TOML text within limits, naming where a limit was passed.

tomllib itself fails in two ways that are not TOMLDecodeErrors and carry no
position: arrays or inline tables nested a few hundred deep exhaust Python's
recursion limit (RecursionError), and an integer of more than 4,300 digits
passes Python's limit on converting text to int (ValueError; see
https://docs.python.org/3/library/stdtypes.html#int-max-str-digits). When that
happens, a light scan of the text finds the line and key instead. Integers
that parse but lie outside 64 bits are refused too: TOML says an integer that
cannot be kept losslessly must be an error (https://toml.io/en/v1.0.0#integer).
"""

from __future__ import annotations

import sys
import tomllib
from typing import Any

MAX_DEPTH = 32  # a real config nests three or four tables deep
_INT_RANGE = range(-(2**63), 2**63)


def parse_document(text: str) -> tuple[dict[str, Any], list[str]]:
    """The parsed document and its problems (each `where: what`); the document is {} when it cannot be read."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return {}, [f"not valid TOML: {exc}"]
    except RecursionError:
        return {}, [_find(text, deep=True) or f"arrays or tables are nested more than {MAX_DEPTH} deep"]
    except ValueError:  # TOMLDecodeError is one too, and was handled above
        return {}, [_find(text, deep=False) or "an integer has more digits than Python reads"]
    return data, _out_of_range(data)


def _out_of_range(data: dict[str, Any]) -> list[str]:
    """Integers beyond 64 bits and nesting beyond MAX_DEPTH, with their key paths (walked without recursion)."""
    problems: list[str] = []
    stack: list[tuple[str, Any, int]] = [(key, value, 1) for key, value in reversed(data.items())]
    while stack:
        where, value, depth = stack.pop()
        if depth > MAX_DEPTH:
            problems.append(f"{where}: nested more than {MAX_DEPTH} deep")
            continue
        if isinstance(value, int) and not isinstance(value, bool) and value not in _INT_RANGE:
            problems.append(f"{where}: {_digits(value)} is outside TOML's 64-bit integers")
        elif isinstance(value, dict):
            stack.extend((f"{where}.{k}", v, depth + 1) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", v, depth + 1) for i, v in reversed(list(enumerate(value))))
    return problems


def _digits(value: int) -> str:
    return str(value) if abs(value) < 10**30 else f"an integer of {len(str(abs(value)))} digits"


def _find(text: str, deep: bool) -> str | None:
    """`line N, KEY: ...` for the first bracket past MAX_DEPTH (deep) or the first over-long number.

    Only strings and comments need skipping to tell values from text; KEY is
    the last [table] header and the key that starts the statement.
    """
    table, key, depth, line, start = "", "", 0, 1, 0
    i, n = 0, len(text)
    limit = sys.get_int_max_str_digits() or n + 1
    while i < n:
        ch = text[i]
        if ch == "\n":
            line, i = line + 1, i + 1
            if depth == 0:
                key, start = "", i
            continue
        if ch == "#":
            end = text.find("\n", i)
            i = end if end >= 0 else n
            continue
        if ch in "\"'":
            end = _string_end(text, i)
            line += text.count("\n", i, end)
            i = end
            continue
        where = ".".join(part for part in (table, key) if part) or "(top level)"
        if depth == 0 and not key and ch == "[" and not text[start:i].strip():
            end = text.find("\n", i)
            table = text[i:end if end >= 0 else n].strip().strip("[]").strip()
            i = end if end >= 0 else n
            continue
        if depth == 0 and ch == "=" and not key:
            key = text[start:i].strip()
        elif ch in "[{":
            depth += 1
            if deep and depth > MAX_DEPTH:
                return f"line {line}, {where}: arrays or tables are nested more than {MAX_DEPTH} deep"
        elif ch in "]}":
            depth = max(depth - 1, 0)
        elif ch.isdigit():
            j = i
            while j < n and (text[j].isdigit() or text[j] == "_"):
                j += 1
            digits = text.count("_", i, j)
            if not deep and (j - i - digits) > limit:
                return (f"line {line}, {where}: an integer of {j - i - digits} digits "
                        "(TOML integers are 64-bit)")
            i = j
            continue
        i += 1
    return None


def _string_end(text: str, i: int) -> int:
    """The index just past the string that starts at i (basic or literal, one line or three quotes)."""
    quote = text[i]
    close = quote * 3 if text.startswith(quote * 3, i) else quote
    j = i + len(close)
    while j < len(text):
        if quote == '"' and text[j] == "\\":
            j += 2
            continue
        if text.startswith(close, j):
            return j + len(close)
        if len(close) == 1 and text[j] == "\n":
            return j
        j += 1
    return j
