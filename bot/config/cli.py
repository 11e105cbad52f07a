"""What every `sigbot` command that reads the config shares: load it, or say what is wrong and exit 2.

Feature CLIs (bot/<feature>/cli.py) use these instead of reaching into bot/cli.py.
"""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

import click

from bot.config.load import load_config
from bot.config.model import Config, ConfigError


def load_or_exit(ctx: click.Context) -> Config:
    """The config named by `sigbot --config`; every problem listed and exit code 2 when it has any."""
    path: Path = ctx.find_root().obj["config_path"]
    try:
        return load_config(path)
    except ConfigError as exc:
        fail_config(path, exc)
        raise  # unreachable: fail_config exits


def fail_config(path: Path, exc: ConfigError) -> None:
    click.echo(f"sigbot: {one_line(str(path))} has {len(exc.errors)} problem(s):", err=True)
    for error in exc.errors:
        click.echo(f"  - {one_line(error)}", err=True)
    sys.exit(2)


def one_line(text: str) -> str:
    """`text` with control and format characters escaped: a file name or argument that holds a newline,
    an escape sequence or a right-to-left override cannot break the line or the terminal."""
    return "".join(ch if ch == " " or unicodedata.category(ch)[0] not in "CZ" else ascii(ch)[1:-1] for ch in text)
