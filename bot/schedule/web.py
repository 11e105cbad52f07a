"""The calendar feeds on sigbot's web server: /calendar.ics (every team) and /calendar/<team>.ics.

They are the files the schedule publishes (bot/schedule/publish.py: at start, after every change
and every minute), served as they are: a calendar client polling the feed costs a file read, and
the bot builds nothing (nor imports icalendar) to answer it.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.runtime import Runtime

ICS = "text/calendar; charset=utf-8"


def _serve(path: Path) -> web.StreamResponse:
    """The published file, as the site's route serves its files (aiohttp's FileResponse: read off the
    event loop, with Last-Modified and ETag, so a polling calendar client gets 304 when nothing changed)."""
    if not path.is_file():
        raise web.HTTPNotFound(text="no schedule is published here")
    return web.FileResponse(path, headers={"Content-Type": ICS})


def add_routes(rt: Runtime, app: web.Application) -> None:
    async def all_teams(request: web.Request) -> web.StreamResponse:
        return _serve(rt.config.notes_dir / "calendar.ics")

    async def one_team(request: web.Request) -> web.StreamResponse:
        team = rt.config.team(request.match_info["team"])
        if team is None:
            raise web.HTTPNotFound(text="no such team")
        return _serve(team.notes_dir / "calendar.ics")

    app.router.add_get("/calendar.ics", all_teams)
    app.router.add_get("/calendar/{team}.ics", one_team)
