"""Small value-level helpers shared by the farm parsers.

Every vendor tool has its own way of saying "no reading": nvidia-smi prints
``[N/A]``, ``[Not Supported]`` or ``[Requested functionality has been
deprecated]`` in CSV and the same words without brackets in XML; amd-smi and
rocm-smi print ``N/A``.  These helpers turn such markers into None, strip the
units the tools glue onto numbers (``21619 MiB``, ``100 %``, ``690.53 W``),
and make strings safe to show in chat.  Anything else that is not a number is
a ValueError: a column that suddenly holds words means the format changed.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from typing import Any

from bot.farm.host import report

# Any fully bracketed value is nvidia-smi's way of saying "no value" (seen:
# [N/A], [Not Supported], [Not Found], [Unknown Error], [Insufficient
# Permissions], [GPU is lost], [Requested functionality has been deprecated]).
_BRACKETED = re.compile(r"^\[[^\[\]]*\]$")

# The same markers unbracketed (nvidia-smi XML, amd-smi, rocm-smi), compared
# case-insensitively.
_MISSING_WORDS = frozenset(
    {
        "",
        "n/a",
        "na",
        "none",
        "not supported",
        "not found",
        "unknown",
        "unknown error",
        "insufficient permissions",
        "gpu is lost",
        "requested functionality has been deprecated",
        "not available",
    }
)

# A plain decimal number.  float() alone is too lenient: it accepts "nan",
# "inf", "1_000" and surrounding whitespace.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

# Units the tools append to values.  "C" is nvidia-smi XML's temperature unit.
_UNITS = frozenset(
    {"mib", "mb", "gib", "gb", "kib", "kb", "b", "%", "w", "mw", "c", "°c", "mhz", "mv", "j"}
)


def is_missing(text: str) -> bool:
    """True for the markers the tools print instead of a value."""
    stripped = text.strip()
    return bool(_BRACKETED.match(stripped)) or stripped.lower() in _MISSING_WORDS


def parse_number(raw: object, what: str) -> float | None:
    """A reading as float, None for a missing-value marker.

    Accepts ints and floats as they come out of JSON, and strings with an
    optional unit (``"81559 MiB"``, ``"100 %"``, ``"36.0"``).  Non-finite
    numbers are treated as missing: JSON from Python tools may hold NaN.
    """
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise ValueError(f"{what}: expected a number, got a boolean")
    if isinstance(raw, (int, float)):
        value = float(raw)
        return value if math.isfinite(value) else None
    if not isinstance(raw, str):
        raise ValueError(f"{what}: expected a number, got {type(raw).__name__}")
    if is_missing(raw):
        return None
    text = raw.strip()
    parts = text.split()
    if len(parts) == 2 and parts[1].lower() in _UNITS:
        text = parts[0]
    elif len(parts) == 1 and text.endswith("%"):
        text = text[:-1]
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"{what}: {shorten(raw)!r} is not a number")
    value = float(text)
    return value if math.isfinite(value) else None


def plausible(value: float | None, low: float, high: float) -> float | None:
    """None for readings outside what hardware can report (tool sentinels)."""
    if value is None or not low <= value <= high:
        return None
    return value


def as_int(value: float | None) -> int | None:
    """Whole units, rounded down: memory counters are integers."""
    return None if value is None else int(value)


def mib(value: float | None) -> int | None:
    """A MiB reading, None when implausible."""
    return as_int(plausible(value, 0, report.MAX_MEMORY_MIB))


def bytes_to_mib(value: float | None) -> int | None:
    """Bytes to whole MiB (rocm-smi and Intel XPU Manager count bytes)."""
    return None if value is None else mib(value // (1024 * 1024))


def percent(value: float | None) -> float | None:
    return plausible(value, 0.0, 100.0)


def celsius(value: float | None) -> float | None:
    return plausible(value, report.MIN_TEMPERATURE_C, report.MAX_TEMPERATURE_C)


def watts(value: float | None) -> float | None:
    return plausible(value, 0.0, report.MAX_POWER_W)


def count(value: float | None) -> int | None:
    """An error counter; None when implausible."""
    return as_int(plausible(value, 0, report.MAX_ECC_COUNT))


def clean_text(raw: object, max_chars: int) -> str | None:
    """A string safe for chat, or None for a missing-value marker.

    Control and format characters (CR, LF, ESC, zero-width and bidi marks)
    are removed, runs of whitespace become one space, and the result is cut
    to `max_chars`: a process name is chosen by whoever starts the process.
    """
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        return None
    text = str(raw)
    if is_missing(text):
        return None
    text = "".join(" " if ch.isspace() else ch for ch in text)
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("C"))
    text = " ".join(text.split())[:max_chars].strip()
    return text or None


def shorten(text: object, limit: int = 60) -> str:
    """A short, printable excerpt of bad input for error messages."""
    s = "".join(ch if ch.isprintable() else "?" for ch in str(text)[: limit + 1])
    return s if len(s) <= limit else s[:limit] + "..."


# PCI addresses: nvidia-smi prints an 8-digit domain (00000000:00:06.0),
# AMD tools a 4-digit one, sometimes in capitals (0000:A3:00.0).
_BDF = re.compile(r"([0-9a-f]{4,8}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])")


def normalize_bus_id(raw: object) -> str | None:
    """``dddd:bb:dd.f`` in lowercase, so NVIDIA and AMD addresses compare."""
    text = clean_text(raw, report.MAX_BUS_ID_CHARS)
    if text is None:
        return None
    text = text.lower()
    m = _BDF.fullmatch(text)
    if m and len(m.group(1)) == 8 and m.group(1).startswith("0000"):
        return text[4:]
    return text


def check_size(text: object, what: str, limit: int = 8 * 1024 * 1024) -> str:
    """Captures are text of bounded size; anything else is refused early."""
    if not isinstance(text, str):
        raise ValueError(f"{what}: expected text, got {type(text).__name__}")
    if len(text) > limit:
        raise ValueError(f"{what}: capture larger than {limit} characters")
    return text


# The first line that opens a JSON document.  amd-smi in watch mode prints
# "'CTRL' + 'C' to stop watching output:" first (capture in the fix for
# ROCm/amdsmi#168), and the vendor tools may print a WARNING line before it.
_JSON_START = re.compile(r"^[ \t]*[\[{]", re.MULTILINE)


def load_json(text: object, what: str, limit: int = 8 * 1024 * 1024) -> Any:
    """A bounded JSON capture, or a ValueError that says it is not JSON.

    Text before the document (a tool's warning line) is skipped, and of
    several documents (watch mode prints one per sample) the first is taken.
    """
    capture = check_size(text, what, limit)
    try:
        return json.loads(capture)
    except (ValueError, RecursionError) as exc:
        # RecursionError: "[[[[..." nested deeper than the interpreter allows.
        error = exc
    start = _JSON_START.search(capture)
    if start is not None:
        try:
            return json.JSONDecoder().raw_decode(capture, start.end() - 1)[0]
        except (ValueError, RecursionError):
            pass
    raise ValueError(f"{what}: not JSON ({shorten(error, 80)})")
