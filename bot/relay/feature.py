"""The IRC relay's declaration (bot/core/feature.py). Its connection is started by `sigbot run`
when the config has an [irc] section (bot/run.py)."""

from bot.core.feature import Feature

FEATURE = Feature(
    name="relay",
    team_section="bot.relay.config:parse_team",
    config_checks=("bot.relay.config:double_bridging",),
    migrations="bot.relay.store:MIGRATIONS",
    web_routes=("bot.relay.web:add_routes",),
)
