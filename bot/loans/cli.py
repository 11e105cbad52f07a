"""`sigbot loans ...` and `sigbot hw ...`: the chat commands for whoever runs the bot, plus CSV import/export.

The subcommands reuse the chat parsers (bot/loans/commands.py), so both faces
take the same words and give the same answers. The shell's words are handed
over as they are (`Args.of_words`), never quoted again: a reason or a
tracking number is stored exactly as typed. `loans request` calls the desk
with its options directly. The CLI acts as a loan admin named `cli:$USER`.
Direct messages a step would send are printed, not sent. A refusal is one
line on stderr and exit code 1; a usage error exit code 2.
"""

from __future__ import annotations

import getpass
import sys
from datetime import datetime, timezone
from pathlib import Path

import click

from bot.config import Team
from bot.config.cli import load_or_exit
from bot.core.files import READ_LIMIT, read_named_file
from bot.loans import inventory
from bot.loans.commands import HW_OPS, LOAN_OPS, Args, Op, without_for
from bot.loans.config import is_identity, settings_of
from bot.loans.desk import Desk, Refused, display_name
from bot.loans.model import Actor
from bot.loans.publish import publish

LOAN_STEPS = ("approve", "reject", "ship", "received", "return", "checkin", "extend", "withdraw", "lost")


def _desk(ctx: click.Context, team_name: str | None) -> tuple[Desk, Team]:
    from bot.loans.store import LoanStore
    from bot.storage import open_store

    config = load_or_exit(ctx)
    team: Team | None
    if team_name is None and len(config.teams) == 1:
        team = config.teams[0]
    else:
        team = config.team(team_name or "")
        if team is None:
            raise click.UsageError("name the team with --team (" + ", ".join(t.name for t in config.teams) + ")")
    store = LoanStore(open_store(config.database).db)
    return Desk(store, team.name, settings_of(team), datetime.now(timezone.utc)), team


def _cli_actor() -> Actor:
    return Actor(f"cli:{getpass.getuser()}", getpass.getuser(), admin=True)


def _run(ctx: click.Context, team_name: str | None, op: Op, args: Args, actor: Actor | None = None) -> None:
    desk, team = _desk(ctx, team_name)
    try:
        with desk.store.db.atomic():
            desk.store.lock()
            done = op(desk, actor or _cli_actor(), args)
    except Refused as refused:
        raise click.ClickException(refused.text) from None
    publish(desk.store, team.name, team.notes_dir, desk.now)
    click.echo(done.text)
    for dm in done.dms:
        click.echo(f"(not sent, tell {dm.user}: {dm.text})", err=True)


_team_option = click.option("--team", "team_name", help="The team (needed when the config has several).")


@click.group("loans")
def loans_group() -> None:
    """Hardware loans: the queue, the loans and their steps (as a loan admin)."""


def _chat_command(group: click.Group, word: str, ops: dict[str, Op], name: str) -> None:
    """`sigbot <group> NAME WORDS...` runs `!<word> NAME WORDS...` with the shell's words as they are."""
    @group.command(name, help=f"Same as !{word} {name} in chat, with the same words after it.")
    @click.argument("words", nargs=-1)
    @_team_option
    @click.pass_context
    def command(ctx: click.Context, words: tuple[str, ...], team_name: str | None) -> None:
        _run(ctx, team_name, ops[name], Args.of_words(words))


for _name in ("queue", "list", "show", "history", *LOAN_STEPS):
    _chat_command(loans_group, "loan", LOAN_OPS, _name)


@loans_group.command("request")
@click.argument("target")
@click.argument("purpose", nargs=-1, required=True)
@click.option("--requester", required=True, help="Who borrows it: a Matrix ID or irc:ACCOUNT.")
@click.option("--name", help="The borrower's display name (default: the ID).")
@click.option("--weeks", type=int, help="How long: 1 to the team's max_weeks (default: the team's default).")
@click.option("--no-shipping", is_flag=True, help="Picked up, not posted (as noship in chat).")
@_team_option
@click.pass_context
def loans_request(ctx: click.Context, target: str, purpose: tuple[str, ...], requester: str, name: str | None,
                  weeks: int | None, no_shipping: bool, team_name: str | None) -> None:
    """Submit a request for someone (as !loan request TARGET for PURPOSE)."""
    if not is_identity(requester):
        raise click.BadParameter(f"{requester!r} is not a Matrix ID (@user:server) or irc:ACCOUNT",
                                 param_hint="--requester")
    # The options go to the desk as they are: nothing in the purpose is read as "weeks N" or "noship".
    _run(ctx, team_name, lambda desk, actor, _: desk.request(actor, target, without_for(" ".join(purpose)), weeks,
                                                             no_shipping),
         Args.of_words(purpose), Actor(requester, display_name(name or "", requester), admin=False))


@click.group("hw")
def hw_group() -> None:
    """The hardware inventory: list, show, add, edit, retire; CSV import and export."""


for _name in HW_OPS:
    _chat_command(hw_group, "hw", HW_OPS, _name)


@hw_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_team_option
@click.pass_context
def hw_import(ctx: click.Context, file: Path, team_name: str | None) -> None:
    """Add or update assets from a CSV file (columns: tag, kind, vendor, model, target, memory, serial, ...)."""
    try:
        data = read_named_file(file, READ_LIMIT)  # a FIFO or /dev/zero named by mistake is refused, not read forever
    except OSError as exc:
        raise click.FileError(str(file), exc.strerror) from None
    desk, team = _desk(ctx, team_name)
    with desk.store.db.atomic():
        desk.store.lock()
        added, changed, problems = inventory.import_csv(desk, _cli_actor(), data)
    publish(desk.store, team.name, team.notes_dir, desk.now)
    click.echo(f"{file}: {added} added, {changed} changed, {len(problems)} problem(s)")
    for problem in problems:
        click.echo(f"  - {problem}", err=True)
    if problems:
        sys.exit(1)


@hw_group.command("export")
@_team_option
@click.pass_context
def hw_export(ctx: click.Context, team_name: str | None) -> None:
    """Print the inventory as CSV (serial numbers included: it is for the admins)."""
    desk, _ = _desk(ctx, team_name)
    click.echo(inventory.export_csv(desk.store.assets(desk.team)), nl=False)
