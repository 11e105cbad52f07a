"""One-time links to the shipping-address form: the token, its hash, where the link may point.

A link is `<web.public_url>/loans/address/<loan>/<token>`. The token is 32
random bytes (secrets.token_urlsafe); the database keeps only its SHA-256, so
a copy of the database (a backup, a stolen file) opens no form. A link is
bound to its loan and its borrower, lasts LINK_MINUTES, works once, and a new
one for the same loan replaces the old (bot/loans/store.py, docs/privacy.md).

The form carries a shipping address, so it is offered only over HTTPS; plain
http is accepted for 127.0.0.1, ::1 and localhost, where nothing crosses a
network (a test, or a proxy on the same machine that adds TLS).
"""

from __future__ import annotations

import hashlib
import secrets
from urllib.parse import urlsplit

LINK_MINUTES = 15
FORM_PATH = "/loans/address/"
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def form_base(public_url: str | None) -> str | None:
    """`web.public_url` without its trailing slash when the form may be offered there, else None."""
    if not public_url:
        return None
    try:
        parts = urlsplit(public_url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    if parts.scheme == "https" and host:
        return public_url.rstrip("/")
    if parts.scheme == "http" and host in _LOOPBACK:
        return public_url.rstrip("/")
    return None


def form_origin(public_url: str | None) -> str | None:
    """The origin (scheme://host[:port]) a browser names when it posts the form from sigbot's page."""
    base = form_base(public_url)
    if base is None:
        return None
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}".lower()


def form_link(base: str, loan: int, token: str) -> str:
    return f"{base}{FORM_PATH}{loan}/{token}"
