"""Signed farm reports: HMAC-SHA256 over the timestamp and the body.

The agent sends

    X-Sigbot-Host: gpu1
    X-Sigbot-Timestamp: 1767225600            (Unix seconds)
    X-Sigbot-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>." + body)>

The timestamp is inside the signed bytes, so an old report cannot be given a
fresh time; the receiver refuses timestamps outside a window and remembers the
signatures it accepted within that window, so one report cannot be replayed
either.  This module is standard library only: the agent imports it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict

HOST_HEADER = "X-Sigbot-Host"
TIMESTAMP_HEADER = "X-Sigbot-Timestamp"
SIGNATURE_HEADER = "X-Sigbot-Signature"
WINDOW_SECONDS = 300  # clocks of farm hosts are NTP-synced; 5 minutes covers retries too
MAX_REMEMBERED = 100_000  # at one report a second per host, hundreds of hosts


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(host: str, secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        HOST_HEADER: host,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        "Content-Type": "application/json",
    }


def github_signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """GitHub's X-Hub-Signature-256: ``sha256=`` + HMAC-SHA256(secret, body), compared in constant time.

    https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
    """
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), header.encode("utf-8", "replace"))


class ReportVerifier:
    """Checks signature, freshness and uniqueness of agent reports.

    Pure apart from its memory of recent signatures: `now` is passed in.
    """

    def __init__(self, window: int = WINDOW_SECONDS, remember: int = MAX_REMEMBERED):
        self.window = window
        self.remember = remember
        self._seen: OrderedDict[str, int] = OrderedDict()  # signature -> timestamp, oldest first

    def check(self, secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float) -> str | None:
        """None when the report is genuine and new; else why it is refused."""
        if not timestamp or not signature:
            return "unsigned"
        if not timestamp.isdigit() or len(timestamp) > 12:
            return "bad timestamp"
        ts = int(timestamp)
        if abs(now - ts) > self.window:
            return "stale timestamp"
        expected = sign(secret, ts, body)
        if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace")):
            return "bad signature"
        self._forget(now)
        if signature in self._seen:
            return "replayed"
        self._seen[signature] = ts
        while len(self._seen) > self.remember:
            self._seen.popitem(last=False)
        return None

    def _forget(self, now: float) -> None:
        # Insertion order is arrival order, close to timestamp order; a
        # signature kept a little longer than the window does no harm.
        while self._seen:
            sig, ts = next(iter(self._seen.items()))
            if now - ts <= self.window:
                break
            self._seen.popitem(last=False)
