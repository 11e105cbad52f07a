"""Capped exponential backoff with full jitter, reset after a healthy period.

Jitter keeps many bots (or one bot's many connections) from retrying in step;
see https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/.
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, rng: random.Random, first: float = 2.0, cap: float = 300.0):
        self.rng = rng
        self.first = first
        self.cap = cap
        self.failures = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.first * (2 ** self.failures))
        self.failures += 1
        return self.rng.uniform(ceiling / 2, ceiling)

    def healthy(self) -> None:
        self.failures = 0
