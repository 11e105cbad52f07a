"""Feature sections of the config: each feature checks its own keys.

A feature with settings names its parser as "module:function" in its
declaration (`team_section` or `root_section` in its feature.py; the lists
below are read from bot/features.py). The parser is called with a `Checker`, the section's table
(`{}` when the section is absent, so it must return complete defaults), the key
path for error messages, and a `SectionContext`; it returns a frozen value that
the feature later reads with `team.section(key)` or `config.section(key)`.

    def parse_team(c: Checker, data: dict[str, Any], path: str, ctx: SectionContext) -> LoanSettings:
        c.table(data, path, {"admins", "default_weeks"})
        ...

Team sections are TOML tables inside a team, `[teams.loans]` under a
`[[teams]]` entry; root sections are top-level tables such as `[farm]`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.record import record
from bot.core.targets import load
from bot.features import root_sections, targets, team_sections

if TYPE_CHECKING:  # bot.config.load imports this module
    from bot.config.load import Checker

TEAM_SECTIONS: dict[str, str] = team_sections()
ROOT_SECTIONS: dict[str, str] = root_sections()
CONFIG_CHECKS: list[str] = targets("config_checks")  # check(config) -> [(key path, problem)]


@record
class SectionContext:
    base: Path  # the config file's folder: relative paths are relative to it
    team: str | None  # the team's name, None for a root section
    timezone: str  # the team's zone (UTC for root sections)


def parse_section(target: str, checker: Checker, data: dict[str, Any], path: str, ctx: SectionContext) -> Any:
    return load(target)(checker, data, path, ctx)
