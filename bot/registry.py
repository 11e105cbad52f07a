"""Every chat command of sigbot, in one registry built from each feature's declaration (bot/features.py)."""

from __future__ import annotations

from bot.core.commands import Registry
from bot.core.targets import load
from bot.features import single


def build_registry() -> Registry:
    return Registry.merge(*(load(target) for target in single("commands")))
