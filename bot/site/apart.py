"""The archive built in a child process, so that `sigbot run` does not hold the builder.

A build imports jinja2, markdown-it's renderers and the site's templates and
holds every page in memory while it writes; in a long-running bot that would
stay resident for good (memory is a figure of issue 14). The running bot
therefore builds in a short-lived child (bot/core/apart.py), which is as
incremental as a build in process: what was built is in the manifest on disk
(bot/site/build.py). `sigbot site build` and the tests build in process. The
child prints its BuildReport as one JSON line; what it logs (a folder
refused, a file too large to show) is logged by the bot as a warning.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path

from bot.core.apart import run_apart
from bot.site.config import BuildReport, SiteOptions

log = logging.getLogger(__name__)


def build_apart(notes: Path, out: Path, options: SiteOptions) -> BuildReport:
    """build_site(notes, out, options) in a child process; raises RuntimeError with the child's reason."""
    out_text = run_apart("bot.site.apart", args=[str(notes), str(out), json.dumps(asdict(options))],
                         what="the site build", log=log).decode()
    return BuildReport(**json.loads(out_text.strip().splitlines()[-1]))


def main(argv: list[str]) -> int:
    from bot.site.build import build_site

    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    notes, out, options = argv
    report = build_site(Path(notes), Path(out), SiteOptions(**json.loads(options)))
    print(json.dumps(asdict(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
