"""The `[site]` section of sigbot.toml: where the archive is built and whether it is pushed.

    [site]
    out = "site"              # the built site (relative to the config file)
    title = "Meeting notes"   # shown on every page
    publish = true            # rebuild after each meeting (and commit, when notes/ is a git repository)
    git_push = false          # push the notes repository after each commit
    remote = "origin"
    branch = "main"
    retry_minutes = 10        # a failed push is tried again after this long
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.record import record

if TYPE_CHECKING:
    from bot.config import Config
    from bot.config.load import Checker
    from bot.config.sections import SectionContext

KEYS = {"out", "title", "publish", "git_push", "remote", "branch", "retry_minutes"}


@record
class SiteSettings:
    out: Path = Path("site")
    title: str = "Meeting notes"
    publish: bool = True
    git_push: bool = False
    remote: str = "origin"
    branch: str = "main"
    retry_minutes: float = 10.0


def parse_site(c: Checker, data: dict[str, Any], path: str, ctx: SectionContext) -> SiteSettings:
    c.table(data, path, KEYS)
    remote = c.get(data, "remote", path, str, "origin")
    branch = c.get(data, "branch", path, str, "main")
    for key, value in (("remote", remote), ("branch", branch)):
        if not value or value.startswith("-") or any(ch.isspace() for ch in value):
            c.error(f"{path}.{key}", f"{value!r} is not a usable git {key} name")
    retry = c.get(data, "retry_minutes", path, float, 10.0)
    if retry <= 0:
        c.error(f"{path}.retry_minutes", "must be more than 0")
    return SiteSettings(
        out=ctx.base / c.get(data, "out", path, str, "site"),
        title=c.get(data, "title", path, str, "Meeting notes"),
        publish=c.get(data, "publish", path, bool, True),
        git_push=c.get(data, "git_push", path, bool, False),
        remote=remote,
        branch=branch,
        retry_minutes=retry,
    )


def site_settings(config: Config) -> SiteSettings:
    """The config's `[site]` settings (defaults when sigbot was started without the section's parser)."""
    try:
        settings: SiteSettings = config.section("site")  # parse_site's
        return settings
    except KeyError:
        return SiteSettings(out=(config.path.parent if config.path else Path(".")) / "site")


@record
class SiteOptions:
    title: str = "Meeting notes"
    public_url: str | None = None  # for absolute links in feeds and webcal:// subscribe links


@dataclass
class BuildReport:
    meetings: int = 0
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # one line per folder of meetings not published (logged)
