"""Writing files others read while sigbot runs: atomically, and only when something changed.
Reading files a person names: only regular files, and only up to a size.

Readers (a web server, a static host, a calendar client, git) never see a
half-written file: data goes to a temporary file in the same folder, which is
then renamed over the old one.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any

MiB = 1 << 20
READ_LIMIT = 64 * MiB  # a file a person names: a meeting log, a GPU capture (a year of MeetBot logs is a few MiB)


def read_named_file(path: Path, limit: int) -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them; an OSError whose strerror says why not.

    A device (/dev/zero) or a FIFO named by mistake would otherwise be read
    forever, or block on open() waiting for a writer: both are a hang.
    """
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit // MiB} MiB, too large to be what sigbot reads here", str(path))
    return data


def write_atomic(path: Path, data: bytes | str) -> None:
    """Replace `path` with `data` (str is written as UTF-8), creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own per write (two writers never share one), created with
    # the process's umask like any other file, so a web server can read it.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_if_changed(path: Path, data: bytes | str) -> bool:
    """`write_atomic` unless the file already holds `data`; True when written."""
    content = data.encode("utf-8") if isinstance(data, str) else data
    try:
        if path.read_bytes() == content:
            return False
    except OSError:
        pass
    write_atomic(path, content)
    return True


def write_json_if_changed(path: Path, document: dict[str, Any], volatile: tuple[str, ...] = ("updated",)) -> bool:
    """Write `document` as indented JSON unless the file says the same, its `volatile` keys aside
    (an `updated` time alone is not news); True when written."""
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = None
    if isinstance(old, dict) and _without(old, volatile) == _without(document, volatile):
        return False
    write_atomic(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return True


def _without(document: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in keys}
