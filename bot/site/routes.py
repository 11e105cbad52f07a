"""The built site on sigbot's web server: `sigbot run` (WEB_ROUTES) and `sigbot serve`.

A catch-all GET route under "/", which the server tries after every more specific
route of the other features (bot/web/app.py). Paths are resolved inside the site folder only;
hidden files (the build manifest, temporary files) are never served.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bot.meeting.paths import contained
from bot.site.config import site_settings
from bot.web import app as web

if TYPE_CHECKING:
    from bot.config import Config
    from bot.runtime import Runtime

TYPES = {".html": "text/html", ".xml": "application/atom+xml", ".ics": "text/calendar", ".json": "application/json",
         ".txt": "text/plain", ".md": "text/markdown", ".css": "text/css", ".js": "text/javascript",
         ".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
         ".webp": "image/webp", ".gif": "image/gif"}


def add_routes(rt: Runtime, app: web.App) -> None:
    add_site(app, site_settings(rt.config).out)


def add_site(app: web.App, out: Path) -> None:
    async def serve(request: web.Request) -> web.StreamResponse:
        path = site_file(out, request.match_info["path"])
        if path is None:
            raise web.HTTPNotFound(text="Not found. The archive starts at /index.html\n")
        if path.is_dir():
            raise web.HTTPFound(request.path.rstrip("/") + "/index.html")
        kind = TYPES.get(path.suffix, "application/octet-stream")
        if kind.startswith("text/") or kind.endswith(("json", "xml")):
            kind += "; charset=utf-8"
        return await web.file_response(request, path, kind, {"Cache-Control": "no-cache"})

    app.add_get("/{path:.*}", serve)


def built_page(config: Config, rel: str) -> str | None:
    """`/rel` when the built site holds that page (what another feature links to), else None."""
    path = site_file(site_settings(config).out, rel)
    return "/" + rel if path is not None and path.is_file() else None


def site_file(out: Path, rel: str) -> Path | None:
    """The file (or folder) of the site at URL path `rel`, or None when there is none or it is hidden."""
    parts = [p for p in rel.split("/") if p]
    if any(p.startswith(".") for p in parts):
        return None
    try:
        path = contained(out, *parts) if parts else out.resolve()
    except ValueError:
        return None
    if not parts:
        path = path / "index.html"
    try:
        return path if path.exists() else None
    except OSError:  # a name longer than the file system allows (ENAMETOOLONG) is no file of the site
        return None
