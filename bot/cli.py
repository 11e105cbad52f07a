"""The `sigbot` command line: the group, `check-config`, `run` and `help`; every other command is
imported when it runs (the features' `cli`; bot/cli_meetings.py for notes, meeting and demo).

Everything a chat command can change has an equivalent here for admins.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from bot.config import ConfigError, load_config
from bot.config.cli import fail_config, load_or_exit, one_line
from bot.config.load import secret_problems
from bot.core.targets import load
from bot.features import cli_commands
from bot.registry import build_registry
from bot.storage import DatabaseCorrupt, DatabaseError
from bot.storage.db import DatabaseDamaged, StoreError, is_damage, open_store

DEFAULT_CONFIG = Path("sigbot.toml")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


log = logging.getLogger("sigbot.cli")


class _OneLineErrors(click.Group):
    """The one place where every command's failure becomes one line on stderr.

    Usage errors exit 2 and other refusals 1, each as a single line (click's
    own display adds the usage text and a blank line). An exception nobody
    expected is logged with its traceback where logging is set up (`run`),
    printed with its traceback under --log-level DEBUG, and otherwise
    answered with one line: the user never gets a traceback they did not ask for.

    Subcommands named in `lazy` ("name" -> "module:attribute") are imported
    only when run or listed (`sigbot --help`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, str] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            command: click.Command = load(self.lazy[cmd_name])
            if command.name != cmd_name:
                raise RuntimeError(f"{self.lazy[cmd_name]} is the command {command.name!r}, declared as {cmd_name!r}")
            self.add_command(command)
        return self.commands.get(cmd_name)

    def main(
        self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
        standalone_mode: bool = True, **extra: Any,
    ) -> Any:
        prog_name = prog_name or "sigbot"  # also under `python -m bot`
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else prog_name
            click.echo(f"Error: {one_line(exc.format_message())} (see {where} --help)", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"Error: {one_line(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except SystemExit as exc:  # sys.exit("why") deep inside: the same one line as any refusal
            if isinstance(exc.code, str):
                raise click.ClickException(exc.code) from None
            raise
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None
        except DatabaseCorrupt as exc:
            if is_damage(exc):
                raise click.ClickException(str(DatabaseDamaged(_database_of(ctx), str(exc)))) from None
            raise click.ClickException(f"the database {_database_of(ctx)} cannot be used: {exc}") from None
        except Exception as exc:
            command = ctx.invoked_subcommand or "sigbot"
            if (ctx.obj or {}).get("log_level") == "DEBUG":
                traceback.print_exc(file=sys.stderr)
            elif logging.getLogger().handlers:  # `run` set up the log: the detail goes there, once
                log.exception("unexpected error in sigbot %s", command)
            raise click.ClickException(f"unexpected error in {command}: {type(exc).__name__}: {exc} "
                                       "(--log-level DEBUG shows where; please report it)") from None


def _database_of(ctx: click.Context) -> str:
    """The database the config names, for a message; the config was read before any database was opened."""
    try:
        return str(load_config(ctx.obj["config_path"]).database)
    except Exception:  # only naming it: a config that cannot be read was reported already
        return "(see bot.data_dir)"


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sigbot", prog_name="sigbot")  # from the installed metadata
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=DEFAULT_CONFIG,
              show_default=True, help="The TOML config file.")
@click.option("--log-level", type=click.Choice(LOG_LEVELS, case_sensitive=False), default="INFO",
              envvar="SIGBOT_LOG_LEVEL", show_default=True, show_envvar=True,
              help="How much sigbot logs (libraries log warnings only, unless DEBUG).")
@click.pass_context
def main(ctx: click.Context, config_path: Path, log_level: str) -> None:
    """sigbot: meetings, minutes, relay, schedule, loans and farm status for an open-source group."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    ctx.obj["log_level"] = log_level.upper()


@main.command("check-config")
@click.argument("file", required=False, type=click.Path(path_type=Path))
@click.pass_context
def check_config(ctx: click.Context, file: Path | None) -> None:
    """Check a config file without connecting anywhere; list every problem."""
    path = file or ctx.obj["config_path"]
    try:
        config = load_config(path)
    except ConfigError as exc:
        fail_config(path, exc)
    problems = secret_problems(config)
    if problems:
        fail_config(path, ConfigError(problems))
    names = ", ".join(t.name for t in config.teams)
    click.echo(f"{path}: OK ({len(config.teams)} team(s): {names})")


@main.command("run")
@click.option("--init", is_flag=True, help="Start with a new, empty database where the one sigbot created "
                                           "is missing or empty (see docs/backup.md).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Readable lines, or JSON lines for a log collector.")
@click.pass_context
def run(ctx: click.Context, init: bool, log_format: str) -> None:
    """Run the bot: join the teams' Matrix rooms and serve them until SIGTERM."""
    import asyncio

    from bot.run import run_bot, setup_logging

    config = load_or_exit(ctx)
    problems = secret_problems(config)
    if problems:
        fail_config(ctx.obj["config_path"], ConfigError(problems))
    setup_logging(log_format, ctx.obj["log_level"])
    try:
        if init:
            open_store(config.database, init=True).db.conn.close()
        asyncio.run(run_bot(config))
    except RuntimeError as exc:  # login refused, homeserver unreachable at start...
        click.echo(f"sigbot: {exc}", err=True)
        sys.exit(1)
    except DatabaseError as exc:
        if is_damage(exc):
            raise  # answered as a damaged database, with the way out
        click.echo(f"sigbot: cannot open the database {config.database}: {exc} "
                   "(is its folder writable, and is there free space?)", err=True)
        sys.exit(1)


@main.command("help")
@click.argument("command", required=False)
@click.option("--markdown", is_flag=True, help="Print the command table of the README.")
def help_(command: str | None, markdown: bool) -> None:
    """Show the chat commands (the same text the bot answers to !help)."""
    registry = build_registry()
    if markdown:
        click.echo(registry.markdown_table())
    elif command:
        text = registry.describe(command)
        if text is None:
            raise click.UsageError(f"there is no chat command {command!r}")
        click.echo(text)
    else:
        click.echo(registry.overview())


# Every feature's commands (its `cli` in its feature.py), the storage's backup and restore, and notes,
# meeting and demo: imported when named, so `sigbot run` does not load every command line's code.
main.lazy.update(cli_commands())
main.lazy.update({"backup": "bot.storage.cli:backup_cli", "restore": "bot.storage.cli:restore_cli",
                  **{name: f"bot.cli_meetings:{name}" for name in ("notes", "meeting", "demo")}})
