"""The schedule's declaration (bot/core/feature.py)."""

from bot.core.feature import Feature

FEATURE = Feature(
    name="schedule",
    commands="bot.schedule.commands:SCHEDULE_COMMANDS",
    team_section="bot.schedule.config:parse_team",
    migrations="bot.schedule.store:MIGRATIONS",
    services=("bot.schedule.reminders:reminder_service",),
    web_routes=("bot.schedule.web:add_routes",),
    cli=(("schedule", "bot.schedule.cli:schedule"),),
    provides=(("next_meeting", "bot.schedule.api:next_meeting"),),
)
