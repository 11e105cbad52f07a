"""The meeting engine's declaration (bot/core/feature.py)."""

from bot.core.feature import Feature

FEATURE = Feature(
    name="meeting",
    commands="bot.meeting.commands:MEETING_COMMANDS",
    services=("bot.meeting.timers:end_forgotten_meetings",),
)
