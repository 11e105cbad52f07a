"""The GPU farm's declaration (bot/core/feature.py). Not imported by the farm agent, which
needs only the standard library (bot/farm/bundle.py)."""

from bot.core.feature import Feature

FEATURE = Feature(
    name="farm",
    commands="bot.farm.commands:FARM_COMMANDS",
    team_section="bot.farm.config:parse_team",
    migrations="bot.farm.store:MIGRATIONS",
    services=("bot.farm.service:watch", "bot.farm.scrape:scrape"),
    web_routes=("bot.farm.web:add_routes",),
    cli=(("farm", "bot.farm.cli:farm"), ("farm-agent", "bot.farm.cli:farm_agent")),
)
