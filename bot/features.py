"""The one list of sigbot's features, and what the core reads from their declarations.

Order matters only where it shows: commands are listed (in `!help` and the
README) in this order, and the archive site comes last, because its web routes
catch every GET path the others leave.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from bot.core.feature import Feature
from bot.core.targets import load

log = logging.getLogger(__name__)

FEATURES: list[str] = [
    "bot.meeting.feature:FEATURE",
    "bot.agenda.feature:FEATURE",
    "bot.relay.feature:FEATURE",
    "bot.schedule.feature:FEATURE",
    "bot.loans.feature:FEATURE",
    "bot.farm.feature:FEATURE",
    "bot.site.feature:FEATURE",
]


@functools.cache
def features() -> tuple[Feature, ...]:
    return tuple(load(target) for target in FEATURES)


def team_sections() -> dict[str, str]:
    return {f.name: f.team_section for f in features() if f.team_section}


def root_sections() -> dict[str, str]:
    return {f.name: f.root_section for f in features() if f.root_section}


def targets(kind: str) -> list[str]:
    """Every feature's entries of one kind ("services", "web_routes", "config_checks"), in order."""
    return [target for f in features() for target in getattr(f, kind)]


def cli_commands() -> dict[str, str]:
    """Every feature's `sigbot` subcommands: name -> its click command, in order."""
    return {name: target for f in features() for name, target in f.cli}


def single(kind: str) -> list[str]:
    """Every feature's one entry of a kind ("commands", "migrations"), where it has one."""
    return [getattr(f, kind) for f in features() if getattr(f, kind)]


def hooks(name: str) -> list[Callable[..., Any]]:
    return [load(target) for f in features() for hook, target in f.hooks if hook == name]


def provided(name: str) -> Callable[..., Any] | None:
    """A function another feature offers under `name`, or None when no feature does (or it cannot load)."""
    for f in features():
        for offered, target in f.provides:
            if offered == name:
                try:
                    provider: Callable[..., Any] = load(target)
                    return provider
                except Exception:
                    log.exception("feature %s cannot provide %s", f.name, name)
                    return None
    return None
