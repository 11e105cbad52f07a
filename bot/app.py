"""Wiring: build the dispatcher from a config (used by the CLI and, later, `sigbot run`)."""

from __future__ import annotations

from bot.config import Config
from bot.dispatch import Dispatcher
from bot.registry import build_registry
from bot.storage import open_store


def build_dispatcher(config: Config) -> Dispatcher:
    """A dispatcher over the config's database; call recover() before new messages."""
    return Dispatcher(config, open_store(config.database), build_registry())
