"""The calendar feeds on sigbot's web server: /calendar.ics (every team) and /calendar/<team>.ics."""

from __future__ import annotations

from aiohttp import web

from bot.runtime import Runtime
from bot.schedule.publish import feed
from bot.schedule.store import ScheduleStore

ICS = "text/calendar"


def add_routes(rt: Runtime, app: web.Application) -> None:
    async def all_teams(request: web.Request) -> web.Response:
        return web.Response(body=feed(rt.config, ScheduleStore(rt.store.db), None, rt.now()), content_type=ICS,
                            charset="utf-8")

    async def one_team(request: web.Request) -> web.Response:
        team = rt.config.team(request.match_info["team"])
        if team is None:
            raise web.HTTPNotFound(text="no such team")
        return web.Response(body=feed(rt.config, ScheduleStore(rt.store.db), team, rt.now()), content_type=ICS,
                            charset="utf-8")

    app.router.add_get("/calendar.ics", all_teams)
    app.router.add_get("/calendar/{team}.ics", one_team)
