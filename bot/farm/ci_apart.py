"""JUnit and Testing Farm xunit counted in a child process, so that `sigbot run` keeps no XML parser.

Counting a CI upload needs pyexpat, ElementTree and defusedxml: 0.7 MiB that
would stay in the long-running bot after a team's first upload (memory is a
figure of issue 14). The web routes (bot/farm/web.py) therefore count each
upload in a short-lived child (bot/core/apart.py): the body on its stdin, the
counts, or the reason it was refused, as one JSON line on its stdout. Uploads
are signed by the team's CI token, so only a team's CI can start one. The
tests and `bot.farm.ci` itself count in process (xunit_counts).
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict

from bot.core.apart import run_apart
from bot.farm.ci import Counts, xunit_counts


async def xunit_counts_apart(body: bytes, what: str) -> Counts:
    """xunit_counts(body, what) in a child process, off the event loop; ValueError with its reason."""
    out = await asyncio.to_thread(run_apart, "bot.farm.ci_apart", body, args=[what], what=f"counting the {what}")
    answer = json.loads(out)
    if "refused" in answer:
        raise ValueError(answer["refused"])
    return Counts(**{**answer, "failing": tuple(answer["failing"])})


def main(argv: list[str]) -> int:
    try:
        counts = xunit_counts(sys.stdin.buffer.read(), argv[0])
    except ValueError as exc:
        print(json.dumps({"refused": str(exc)}))
        return 0
    print(json.dumps(asdict(counts)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
