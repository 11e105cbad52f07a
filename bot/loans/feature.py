"""The hardware loans' declaration (bot/core/feature.py)."""

from bot.core.feature import Feature

FEATURE = Feature(
    name="loans",
    commands="bot.loans.commands:LOAN_COMMANDS",
    team_section="bot.loans.config:parse_team",
    migrations="bot.loans.store:LOAN_MIGRATIONS",
    services=("bot.loans.reminders:loan_reminders",),
    web_routes=("bot.loans.web:add_routes",),  # the one-time address form (docs/privacy.md)
    cli=(("loans", "bot.loans.cli:loans_group"), ("hw", "bot.loans.cli:hw_group")),
)
