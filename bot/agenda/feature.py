"""The agenda and action items' declaration (bot/core/feature.py)."""

from bot.core.feature import Feature

FEATURE = Feature(
    name="agenda",
    commands="bot.agenda.commands:AGENDA_COMMANDS",
    migrations="bot.agenda.store:AGENDA_MIGRATIONS",
    cli=(("agenda", "bot.agenda.cli:agenda_cli"),),
    hooks=(
        ("meeting_started", "bot.agenda.hooks:meeting_started"),
        ("meeting_ended", "bot.agenda.hooks:meeting_ended"),
        ("minutes_sections", "bot.agenda.hooks:minutes_sections"),
        ("notes_written", "bot.agenda.hooks:publish_actions"),
        ("meeting_agenda", "bot.agenda.hooks:meeting_agenda"),
    ),
    provides=(
        ("agenda_items", "bot.agenda.api:agenda_items"),
        ("same_person", "bot.agenda.api:same_person"),
    ),
)
