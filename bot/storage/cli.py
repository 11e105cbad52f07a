"""`sigbot backup PATH` and `sigbot restore PATH` (see backup.py and docs/backup.md)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click

from bot.config.cli import load_or_exit
from bot.storage.backup import backup, restore


@click.command("backup")
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def backup_cli(ctx: click.Context, dest: Path) -> None:
    """Copy the database to DEST (a new file), safely while the bot runs."""

    config = load_or_exit(ctx)
    backup(config.database, dest)
    click.echo(f"{dest}: a checked copy of {config.database}")


@click.command("restore")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def restore_cli(ctx: click.Context, source: Path) -> None:
    """Put the backup SOURCE in place of the database (stop the bot first); the old one is kept aside."""

    config = load_or_exit(ctx)
    aside = restore(source, config.database, datetime.now(timezone.utc))
    kept = f"; the one it replaced is now {aside}" if aside else ""
    click.echo(f"{config.database}: restored from {source}{kept}")
