"""Feature code named as "module:attribute" in the core's seam lists (see docs/extending.md).

Naming instead of importing keeps the core free of imports of its features, and
imports each feature only when it is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any


def load(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(import_module(module), name)
