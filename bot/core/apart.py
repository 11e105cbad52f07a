"""Work done in a short-lived child process, so that the running bot does not keep what it imports.

Building the archive (jinja2, every page in memory) or a calendar feed
(icalendar) imports libraries that would stay resident in a long-running bot
for good (memory is a figure of issue 14). The bot runs such a build as
`python -P -m MODULE` (-P: the installed package, never a `bot` folder in the
working directory), hands it its input on stdin and takes its output from
stdout. What the child logs comes back on its stderr and is logged here as
warnings; a child that fails is one RuntimeError naming the last line it wrote.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Sequence

TIMEOUT = 600  # seconds: a whole build of a large archive takes seconds, not minutes


def run_apart(module: str, data: bytes = b"", args: Sequence[str] = (), what: str = "a child process",
              log: logging.Logger | None = None) -> bytes:
    """`module`'s output, run as a child with `data` on its stdin; raises RuntimeError when it fails."""
    log = log or logging.getLogger(__name__)
    try:
        result = subprocess.run([sys.executable, "-P", "-m", module, *args], input=data, capture_output=True,
                                timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{what} took longer than {TIMEOUT} s and was stopped") from None
    lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
    if result.returncode != 0:
        raise RuntimeError(f"{what} exited with {result.returncode}: {lines[-1] if lines else 'no message'}")
    for line in lines:  # the child's warnings, in the bot's log
        log.warning("%s: %s", what, line)
    return result.stdout
