"""Every chat command of sigbot, in one registry built from each feature's declarations."""

from __future__ import annotations

from bot.agenda.commands import AGENDA_COMMANDS
from bot.core.commands import Registry
from bot.farm.commands import FARM_COMMANDS
from bot.loans.commands import LOAN_COMMANDS
from bot.meeting.commands import MEETING_COMMANDS
from bot.schedule.commands import SCHEDULE_COMMANDS


def build_registry() -> Registry:
    return Registry.merge(MEETING_COMMANDS, AGENDA_COMMANDS, SCHEDULE_COMMANDS, LOAN_COMMANDS, FARM_COMMANDS)
