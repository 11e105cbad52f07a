"""The minutes rendered in a child process, so that `sigbot run` does not keep jinja2.

Rendering imports jinja2 and compiles the minutes' template, about 2.5 MiB
that would stay resident in a long-running bot after its first meeting
(memory is a figure of issue 14). The running bot therefore renders each
meeting's Markdown in a short-lived child (bot/core/apart.py): the Minutes and
the RenderContext go to it pickled on stdin, the Markdown comes back on stdout.
`sigbot notes replay` and the tests render in process (render_markdown).
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.apart import run_apart

if TYPE_CHECKING:
    from bot.meeting.minutes import Minutes
    from bot.meeting.render import RenderContext


def render_apart(minutes: Minutes, ctx: RenderContext, template_dir: Path | None = None) -> str:
    """render_markdown(minutes, ctx, template_dir) in a child process; raises RuntimeError with its reason."""
    return run_apart("bot.meeting.apart", pickle.dumps((minutes, ctx, template_dir)), what="the minutes").decode()


def main() -> int:
    from bot.meeting.render import render_markdown

    minutes, ctx, template_dir = pickle.load(sys.stdin.buffer)  # from the parent (bot/core/apart.py), never the network
    sys.stdout.buffer.write(render_markdown(minutes, ctx, template_dir).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
