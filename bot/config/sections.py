"""Feature sections of the config: each feature checks its own keys.

A feature with settings adds one line below, naming its parser as
"module:function". The parser is called with a `Checker`, the section's table
(`{}` when the section is absent, so it must return complete defaults), the key
path for error messages, and a `SectionContext`; it returns a frozen value that
the feature later reads with `team.section(key)` or `config.section(key)`.

    def parse_team(c: Checker, data: dict, path: str, ctx: SectionContext) -> LoanSettings:
        c.table(data, path, {"admins", "default_weeks"})
        ...

Team sections are TOML tables inside a team, `[teams.loans]` under a
`[[teams]]` entry; root sections are top-level tables such as `[farm]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.targets import load

TEAM_SECTIONS: dict[str, str] = {
    "schedule": "bot.schedule.config:parse_team",
    "relay": "bot.relay.config:parse_team",
    "loans": "bot.loans.config:parse_team",
    "farm": "bot.farm.config:parse_team",
}

ROOT_SECTIONS: dict[str, str] = {
    "site": "bot.site.config:parse_site",
}


@dataclass(frozen=True)
class SectionContext:
    base: Path  # the config file's folder: relative paths are relative to it
    team: str | None  # the team's name, None for a root section
    timezone: str  # the team's zone (UTC for root sections)


def parse_section(target: str, checker: Any, data: dict, path: str, ctx: SectionContext) -> Any:
    return load(target)(checker, data, path, ctx)
