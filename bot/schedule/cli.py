"""`sigbot schedule ...`: the schedule from the command line, with the same checks as the chat commands."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, overload

import click

from bot.config import Config, Team
from bot.config.cli import load_or_exit
from bot.schedule import changes
from bot.schedule.changes import TeamState, team_state
from bot.schedule.model import ScheduleError, parse_day, parse_local
from bot.schedule.publish import feed, publish, scheduled_teams
from bot.schedule.store import ScheduleStore
from bot.schedule.text import how_far, when_line

BY = "sigbot-cli"


@overload
def _context(ctx: click.Context, team_name: str | None,
             any_team: Literal[False] = False) -> tuple[Config, ScheduleStore, Team]: ...
@overload
def _context(
    ctx: click.Context, team_name: str | None, any_team: bool
) -> tuple[Config, ScheduleStore, Team | None]: ...


def _context(
    ctx: click.Context, team_name: str | None, any_team: bool = False
) -> tuple[Config, ScheduleStore, Team | None]:
    """The config, the schedule's store and the team named (or the only one with a schedule);
    with `any_team` and no name, no team: every team's."""
    from bot.storage import open_store

    config = load_or_exit(ctx)
    store = ScheduleStore(open_store(config.database).db)
    if team_name is None:
        teams = scheduled_teams(config, store) or list(config.teams)
        if any_team:
            return config, store, None
        if len(teams) != 1:
            raise click.UsageError("give --team (teams: " + ", ".join(t.name for t in config.teams) + ")")
        return config, store, teams[0]
    team = config.team(team_name)
    if team is None:
        raise click.UsageError(f"no team {team_name!r} in {config.path}")
    return config, store, team


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _change(
    ctx: click.Context, team_name: str | None, act: Callable[[ScheduleStore, TeamState, datetime], str]
) -> None:
    config, store, team = _context(ctx, team_name)
    try:
        with store.db.atomic():
            message = act(store, team_state(store, team), _now())
    except ScheduleError as exc:
        raise click.ClickException(str(exc)) from None
    publish(config, store, _now())
    click.echo(message)


_team_option = click.option("--team", "team_name", help="The team (needed when several have a schedule).")


@click.group("schedule")
def schedule() -> None:
    """Meeting series: list, next, cancel, move, extra meetings, the .ics feed."""


@schedule.command("list")
@_team_option
@click.option("--count", default=10, show_default=True, help="How many upcoming meetings to show.")
@click.pass_context
def list_(ctx: click.Context, team_name: str | None, count: int) -> None:
    """List the series and the next meetings (cancelled ones marked)."""
    config, store, team = _context(ctx, team_name)
    state = team_state(store, team)
    for s in state.series:
        click.echo(s.describe())
    for occ in state.upcoming(_now(), count):
        mark = f"  CANCELLED {occ.reason}".rstrip() if occ.cancelled else ""
        click.echo(f"  {occ.series:<12} {when_line(occ, [team.timezone])}  {occ.title}{mark}")


@schedule.command("next")
@_team_option
@click.pass_context
def next_(ctx: click.Context, team_name: str | None) -> None:
    """The next meeting of the team and how far away it is."""
    config, store, team = _context(ctx, team_name)
    now = _now()
    upcoming = team_state(store, team).upcoming(now, 1, include_cancelled=False)
    if not upcoming:
        raise click.ClickException(f"no meeting of team {team.name} is scheduled")
    occ = upcoming[0]
    click.echo(f"{occ.title} ({occ.series}) in {how_far(occ.start - now)}: {when_line(occ, [team.timezone])}")


@schedule.command("cancel")
@click.argument("series")
@click.argument("day")
@click.option("--reason", default="", help="Shown in the room, the notice and schedule.json.")
@_team_option
@click.pass_context
def cancel(ctx: click.Context, series: str, day: str, reason: str, team_name: str | None) -> None:
    """Cancel the meeting of SERIES on DAY (YYYY-MM-DD)."""
    _change(ctx, team_name, lambda store, state, now: "cancelled " + when_line(
        changes.cancel(store, state, series, parse_day(day), reason, BY, now), [state.team.timezone]))


@schedule.command("move")
@click.argument("series")
@click.argument("day")
@click.argument("new_start")
@_team_option
@click.pass_context
def move(ctx: click.Context, series: str, day: str, new_start: str, team_name: str | None) -> None:
    """Move the meeting of SERIES on DAY to NEW_START (local to the series, 2025-10-03T10:00)."""
    _change(ctx, team_name, lambda store, state, now: "moved " + when_line(
        changes.move(store, state, series, parse_day(day), parse_local(new_start), BY, now),
        [state.team.timezone]) + f" to {new_start}")


@schedule.command("extra")
@click.argument("series")
@click.argument("start")
@click.option("--title", default="", help="The extra meeting's own title (default: the series').")
@_team_option
@click.pass_context
def extra(ctx: click.Context, series: str, start: str, title: str, team_name: str | None) -> None:
    """Add a one-off meeting to SERIES at START (local to the series, 2025-09-25T10:00)."""
    _change(ctx, team_name, lambda store, state, now: "added extra meeting #" + str(
        changes.extra(store, state, series, parse_local(start), title, BY, now).id))


@schedule.command("add")
@click.argument("series")
@click.option("--title", required=True)
@click.option("--first", required=True, help="Local date-time of the first meeting, 2025-11-06T10:00.")
@click.option("--every-weeks", type=int, help="1 weekly, 2 bi-weekly ...")
@click.option("--monthly", help='"first thursday", "last friday" ...')
@click.option("--timezone", "zone", help="IANA zone (default: the team's).")
@click.option("--until", help="Last date, inclusive.")
@click.option("--duration-minutes", type=int, default=60, show_default=True)
@click.option("--location", default="")
@_team_option
@click.pass_context
def add(ctx: click.Context, /, series: str, team_name: str | None, **keys: Any) -> None:
    """Start a new series at run time (a change of cadence: `end` the old one, then `add`)."""
    data = {"id": series, "timezone": keys.pop("zone"), **{k: v for k, v in keys.items() if v is not None}}
    _change(ctx, team_name, lambda store, state, now: "added " + changes.add_series(store, state, data, now).describe())


@schedule.command("end")
@click.argument("series")
@click.argument("last_day")
@_team_option
@click.pass_context
def end(ctx: click.Context, series: str, last_day: str, team_name: str | None) -> None:
    """End SERIES after LAST_DAY (inclusive): sets its `until`."""
    _change(ctx, team_name, lambda store, state, now: "ended " + changes.end_series(
        store, state, series, parse_day(last_day), now).describe())


@schedule.command("ics")
@_team_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
@click.pass_context
def ics(ctx: click.Context, team_name: str | None, out: Path | None) -> None:
    """Print (or write) the .ics feed of one team, or of every team without --team."""
    config, store, team = _context(ctx, team_name, any_team=True)
    data = feed(config, store, team, _now())
    if out is None:
        sys.stdout.buffer.write(data)
    else:
        out.write_bytes(data)
        click.echo(f"wrote {out}")
