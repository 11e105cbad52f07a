"""`/relay/paste/{id}`: the whole text of a long message cut short on IRC (plain text)."""

from __future__ import annotations

from bot.relay.store import get_paste
from bot.runtime import Runtime
from bot.web import app as web

PASTE_PATH = "/relay/paste/"


def add_routes(rt: Runtime, app: web.App) -> None:
    async def paste(request: web.Request) -> web.Response:
        found = get_paste(rt.store.db, request.match_info["paste_id"])
        if found is None:
            raise web.HTTPNotFound(text="No such paste.\n")
        head = f"{found.author} in {found.team}, {found.created:%Y-%m-%d %H:%M} UTC\n\n"
        return web.Response(text=head + found.text + "\n", content_type="text/plain", charset="utf-8")

    app.add_get(PASTE_PATH + "{paste_id}", paste)


def paste_url(rt: Runtime, paste_id: str) -> str:
    """The public link of a paste: `web.public_url` when configured, else where the server listens."""
    base = rt.config.web_public_url or rt.state.get("web_url") or "http://" + rt.config.web_listen
    return f"{base.rstrip('/')}{PASTE_PATH}{paste_id}"
