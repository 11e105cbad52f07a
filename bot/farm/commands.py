"""Chat command `!farm`: the team's farm at a glance, or one machine in detail."""

from __future__ import annotations

from bot.core.call import Call
from bot.core.commands import Registry, Role, Scope
from bot.core.message import Effect, Network, Reply
from bot.farm import render
from bot.farm.config import FarmSettings
from bot.farm.publish import farm_view
from bot.farm.store import FarmStore
from bot.meeting.render import md_escape

FARM_COMMANDS = Registry()


@FARM_COMMANDS.command(
    "farm",
    role=Role.ANYONE,
    scope=Scope.ROOM,
    summary="the GPU test farm: machines online and busy, alerts, CI per platform; with a host, its GPUs and plots",
    usage="farm [HOST]",
    examples=("!farm", "!farm gpu1"),
)
def farm_command(call: Call) -> list[Effect]:
    room = call.message.room
    team = call.team
    settings = team.sections.get("farm") if team else None
    if team is None or not isinstance(settings, FarmSettings) or not settings.enabled:
        return [Reply(room, "This team has no GPU farm configured ([teams.farm] in sigbot.toml).")]
    # The message's time, not the clock: the answer is about when it was asked.
    view = farm_view(FarmStore(call.db), team.name, settings, call.message.time)
    base = call.config.web_public_url
    name = call.args.split()[0] if call.args.split() else ""
    if not name:
        return [Reply(room, render.summary(view, base, table=call.message.network is Network.MATRIX))]
    host = next((h for h in view.hosts if h.machine.name.lower() == name.lower()), None)
    if host is None:
        known = ", ".join(md_escape(h.machine.name) for h in view.hosts[:10]) or "none"
        return [Reply(room, f"No machine {md_escape(name[:60])} in this farm. Machines: {known}")]
    return [Reply(room, render.host_detail(view, host, base))]
