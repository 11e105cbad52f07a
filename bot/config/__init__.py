"""sigbot's configuration: one TOML file, checked whole at start (see sigbot.example.toml)."""

from bot.config.load import load_config, parse_config
from bot.config.model import Config, ConfigError, IrcSettings, MatrixSettings, Secret, Team

__all__ = ["Config", "ConfigError", "IrcSettings", "MatrixSettings", "Secret", "Team", "load_config", "parse_config"]
