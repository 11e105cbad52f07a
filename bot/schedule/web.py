"""The calendar feeds on sigbot's web server: /calendar.ics (every team) and /calendar/<team>.ics.

They are the files the schedule publishes (bot/schedule/publish.py: at start, after every change
and every minute), served as they are: a calendar client polling the feed costs a file read, and
the bot builds nothing (nor imports icalendar) to answer it.
"""

from __future__ import annotations

from pathlib import Path

from bot.runtime import Runtime
from bot.web import app as web

ICS = "text/calendar; charset=utf-8"


async def _serve(request: web.Request, path: Path) -> web.StreamResponse:
    """The published file, as the site's route serves its files (read off the event loop, with
    Last-Modified and ETag, so a polling calendar client gets 304 when nothing changed)."""
    return await web.file_response(request, path, ICS, missing="no schedule is published here")


def add_routes(rt: Runtime, app: web.App) -> None:
    async def all_teams(request: web.Request) -> web.StreamResponse:
        return await _serve(request, rt.config.notes_dir / "calendar.ics")

    async def one_team(request: web.Request) -> web.StreamResponse:
        team = rt.config.team(request.match_info["team"])
        if team is None:
            raise web.HTTPNotFound(text="no such team")
        return await _serve(request, team.notes_dir / "calendar.ics")

    app.add_get("/calendar.ics", all_teams)
    app.add_get("/calendar/{team}.ics", one_team)
