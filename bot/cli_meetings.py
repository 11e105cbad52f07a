"""`sigbot notes`, `sigbot meeting` and `sigbot demo`: MeetBot logs replayed into minutes, meetings in the
database, the bundled samples. Imported when one of them runs (bot/cli.py), not by `sigbot run`."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import click

from bot.config.cli import load_or_exit
from bot.config.load import zone_problem
from bot.core.files import READ_LIMIT, read_named_file
from bot.core.message import Reply
from bot.core.resources import data_dir
from bot.meeting.paths import meeting_dir, slugify
from bot.meeting.render import RenderContext, write_notes
from bot.meeting.replay import ReplayError, channel_from_name, date_from_name, replay
from bot.registry import build_registry
from bot.storage.db import open_store


class _Timezone(click.ParamType[str, str]):
    """An IANA zone name, checked as the config checks one (so `--timezone ''` is a usage error, not a traceback)."""

    name = "zone"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> str:
        problem = zone_problem(value)
        if problem:
            self.fail(problem, param, ctx)
        return value


@click.group()
def notes() -> None:
    """Meeting notes: import old MeetBot logs."""


@notes.command("replay")
@click.argument("log", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the .md, .log.txt and .json into.")
@click.option("--name", help="Meeting name (default: from #startmeeting or #meetingname).")
@click.option("--channel", help="Channel name (default: from the file name, as MeetBot does).")
@click.option(
    "--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="Date of the meeting (default: from the file name)."
)
@click.option(
    "--timezone", "tz", type=_Timezone(), default="UTC", show_default=True, help="Zone shown beside UTC in the minutes."
)
def notes_replay(
    log: Path, out_dir: Path, name: str | None, channel: str | None, day: datetime | None, tz: str
) -> None:
    """Replay a MeetBot .log.txt into minutes, exactly as a live meeting would."""
    meeting_day: date | None = day.date() if day else date_from_name(log)
    if meeting_day is None:
        raise click.UsageError(f"cannot tell the meeting's date from {log.name!r}: give --date YYYY-MM-DD")
    try:
        text = read_named_file(log, READ_LIMIT).decode("utf-8", errors="replace")
        minutes = replay(text, meeting_day, channel or channel_from_name(log), build_registry(), name)
    except OSError as exc:
        raise click.ClickException(f"cannot read {log}: {exc.strerror or exc}") from None
    except ReplayError as exc:
        raise click.ClickException(f"{log}: {exc}") from None
    try:
        path = write_notes(minutes, out_dir, RenderContext(team=slugify(minutes.room, "team"), timezone=tz))
    except OSError as exc:
        raise click.ClickException(f"cannot write the minutes into {out_dir}: {exc.strerror or exc}") from None
    click.echo(f"{path}  ({len(minutes.topics)} topics, {len(minutes.actions)} actions, "
               f"{len(minutes.attendees)} people)")


@click.group()
def meeting() -> None:
    """Meetings in the database: list them, end a forgotten one."""


@meeting.command("list")
@click.option("--team", help="Only this team.")
@click.pass_context
def meeting_list(ctx: click.Context, team: str | None) -> None:
    """List recent meetings, newest first."""
    store = open_store(load_or_exit(ctx).database)
    for m in store.meetings(team):
        click.echo(
            f"{m.id:>5}  {m.team:<16} {m.started:%Y-%m-%d %H:%M}  {m.status:<8} {m.name or ''}  {m.notes_path or ''}"
        )


@meeting.command("end")
@click.argument("team")
@click.pass_context
def meeting_end(ctx: click.Context, team: str) -> None:
    """End the running meeting of TEAM and write its minutes (as #endmeeting)."""
    from bot.app import build_dispatcher

    config = load_or_exit(ctx)
    if config.team(team) is None:
        raise click.UsageError(f"no team {team!r} in {config.path}")
    dispatcher = build_dispatcher(config)
    dispatcher.recover()
    effects = dispatcher.end_meeting_of(team, datetime.now(timezone.utc), by="sigbot-cli")
    if not effects:
        raise click.ClickException(f"team {team} has no running meeting")
    for effect in effects:
        if isinstance(effect, Reply):
            click.echo(effect.text)


@click.command("demo")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("notes/demo"),
              show_default=True)
def demo(out_dir: Path) -> None:
    """Replay the bundled sample meetings into notes/demo/<YYYY>/ (what `make demo` shows in the archive)."""
    for log in sorted(data_dir("samples").glob("*.log.txt")):
        minutes = replay(log.read_text(encoding="utf-8"), date_from_name(log) or date.today(),
                         channel_from_name(log), build_registry())
        folder = meeting_dir(out_dir.resolve().parent, out_dir.name, minutes.started)
        path = write_notes(minutes, folder, RenderContext("demo", "Europe/Berlin"))
        data = json.loads(path.with_suffix("").with_suffix(".json").read_text())
        click.echo(f"wrote {path}: {len(data['topics'])} topics, {len(data['actions'])} actions")


