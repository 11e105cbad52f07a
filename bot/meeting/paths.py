"""Where a meeting's notes go: safe, predictable names inside the notes folder.

Names come from users (meeting names, team names), so every path component is
reduced to a bounded ASCII slug and the result is checked to stay inside the
notes folder.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from pathlib import Path

SLUG_MAX = 60


def slugify(text: str | None, fallback: str = "meeting") -> str:
    """ASCII, lower case, letters, digits and dashes only, at most SLUG_MAX long."""
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    slug = slug[:SLUG_MAX].rstrip("-")
    return slug or fallback


def notes_stem(started: datetime, name: str | None, room: str) -> str:
    """`YYYY-MM-DD-HHMM-slug`, the file name of a meeting's notes, no extension."""
    return f"{started:%Y-%m-%d-%H%M}-{slugify(name or room.lstrip('#!'))}"


def contained(root: Path, *parts: str) -> Path:
    """`root/parts...`, refusing anything that would land outside `root`."""
    base = root.resolve()
    path = base.joinpath(*parts).resolve()
    if path != base and base not in path.parents:
        raise ValueError(f"refusing to write outside {base}: {path}")
    return path


def meeting_dir(notes_root: Path, team: str, started: datetime) -> Path:
    """`notes/<team>/<YYYY>/` for a live meeting."""
    return contained(notes_root, slugify(team, "team"), f"{started:%Y}")
