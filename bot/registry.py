"""Every chat command of sigbot, in one registry built from each feature's declarations."""

from __future__ import annotations

from bot.core.commands import Registry
from bot.meeting.commands import MEETING_COMMANDS


def build_registry() -> Registry:
    return Registry.merge(MEETING_COMMANDS)
