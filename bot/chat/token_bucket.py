"""A token bucket that paces lines sent to IRC (pure: the caller passes the time).

Libera.Chat asks bots for about one line every two seconds after a short
burst; a server that sees more disconnects the client for "Excess Flood".
"""

from __future__ import annotations


class TokenBucket:
    """``burst`` lines at once, then one line per ``interval`` seconds.

    ``take`` may drive the count below zero (a line that had to go out at
    once, such as a PONG): later lines then wait for it.
    """

    def __init__(self, burst: int, interval: float, now: float):
        if burst < 1 or interval <= 0:
            raise ValueError("a token bucket needs burst >= 1 and interval > 0")
        self.burst = burst
        self.interval = interval
        self.tokens = float(burst)
        self.stamp = now

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) / self.interval)
            self.stamp = now

    def delay(self, now: float) -> float:
        """Seconds until a line may be sent (0 when one may go now)."""
        self._refill(now)
        # The epsilon absorbs float error: after sleeping the delay returned, a line may go.
        return 0.0 if self.tokens >= 1 - 1e-9 else (1 - self.tokens) * self.interval

    def take(self, now: float) -> None:
        """Spend one token for a line sent at ``now``."""
        self._refill(now)
        self.tokens -= 1
