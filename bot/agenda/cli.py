"""`sigbot agenda ...`: the chat's !agenda, !actions and !done for admins, with a team admin's rights."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import click

from bot.agenda import actions, agenda
from bot.agenda.agenda import AgendaError
from bot.agenda.commands import NEXT_MEETING
from bot.agenda.hooks import publish_actions
from bot.agenda.store import AgendaStore
from bot.config import Team
from bot.config.cli import load_or_exit
from bot.core.call import Speaker
from bot.storage import Store, open_store

TEAM = click.option("--team", required=True, help="The team (its name in the config).")
BY = click.option("--by", default="sigbot-cli", show_default=True, help="The name recorded as who did it.")


def _open(ctx: click.Context, team_name: str) -> tuple[Team, Store]:

    config = load_or_exit(ctx)
    team = config.team(team_name)
    if team is None:
        raise click.UsageError(f"no team {team_name!r} in {config.path}")
    return team, open_store(config.database)


def _do(ctx: click.Context, team_name: str, work: Callable[[Team, AgendaStore], str]) -> None:
    team, store = _open(ctx, team_name)
    try:
        with store.transaction():
            click.echo(work(team, AgendaStore(store.db)))
    except AgendaError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("agenda")
def agenda_cli() -> None:
    """The agenda of a team's next meeting, and its open action items."""


@agenda_cli.command("list")
@TEAM
@click.pass_context
def agenda_list(ctx: click.Context, team: str) -> None:
    """List the agenda of the next meeting (and of the running one)."""
    def work(t: Team, store: AgendaStore) -> str:
        core = Store(store.db)
        running = next((m for m in map(core.running_meeting, t.rooms()) if m), None)
        return agenda.listing(store, t.name, running.id if running else None, NEXT_MEETING)

    _do(ctx, team, work)


@agenda_cli.command("add")
@TEAM
@BY
@click.argument("text", nargs=-1, required=True)
@click.pass_context
def agenda_add(ctx: click.Context, team: str, by: str, text: tuple[str, ...]) -> None:
    """Add TEXT to the agenda of the next meeting."""
    _do(ctx, team, lambda t, store: agenda.add_item(store, t.name, " ".join(text), by, f"cli:{by}",
                                                    datetime.now(timezone.utc)))


@agenda_cli.command("remove")
@TEAM
@BY
@click.argument("n")
@click.pass_context
def agenda_remove(ctx: click.Context, team: str, by: str, n: str) -> None:
    """Remove item N from the agenda of the next meeting."""
    _do(ctx, team, lambda t, store: agenda.remove_item(store, t.name, n, Speaker(f"cli:{by}", by, privileged=True)))


@agenda_cli.command("move")
@TEAM
@click.argument("n")
@click.argument("m")
@click.pass_context
def agenda_move(ctx: click.Context, team: str, n: str, m: str) -> None:
    """Put item N of the next meeting's agenda at place M."""
    _do(ctx, team, lambda t, store: agenda.move_item(store, t.name, f"{n} {m}"))


@agenda_cli.command("actions")
@TEAM
@click.argument("name", required=False, default="")
@click.pass_context
def agenda_actions(ctx: click.Context, team: str, name: str) -> None:
    """List the team's open action items (those of NAME only, if given)."""
    _do(ctx, team, lambda t, store: actions.listing(store, t.name, name))


@agenda_cli.command("done")
@TEAM
@BY
@click.argument("n")
@click.pass_context
def agenda_done(ctx: click.Context, team: str, by: str, n: str) -> None:
    """Close open action N, and rewrite notes/<team>/actions.json."""
    def work(t: Team, store: AgendaStore) -> str:
        now = datetime.now(timezone.utc)
        answer = actions.close(store, t.name, n, Speaker(f"cli:{by}", by, privileged=True), now)
        publish_actions(store.db, t, now)
        return answer

    _do(ctx, team, work)
