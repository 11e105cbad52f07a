"""URLs compared the way a web server reads them, for allow-lists of places the bot may fetch from.

A prefix test on the raw string is fooled: ``http://h/allowed/../secret.xml``
starts with ``http://h/allowed/`` yet the server answers with /secret.xml, and
so does ``%2e%2e`` once the server decodes it.  Here a URL becomes scheme,
host, port and a path with percent-escapes decoded and dot segments removed
(RFC 3986, 5.2.4: https://www.rfc-editor.org/rfc/rfc3986#section-5.2.4), and
the prefix test runs on that.  The caller then fetches the normalised URL, so
what was checked is what is asked for.

URLs that servers read differently are refused rather than guessed at:
userinfo (``http://allowed@evil/``), backslashes (browsers and some servers
read them as ``/``), an encoded ``/`` or ``\\`` in a segment, control
characters and spaces.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import quote, unquote, urljoin, urlsplit

from bot.core.record import record

DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")
_UNSAFE_DECODED = re.compile(r"[\x00-\x1f\x7f\\/]")  # a space is fine once decoded: it is re-escaped
_SEGMENT_SAFE = "!$&'()*+,;=:@"  # RFC 3986 pchar, besides unreserved characters and escapes
MAX_URL = 2000


@record
class Url:
    """A URL as a server reads it; `path` is decoded, absolute and free of dot segments."""

    scheme: str
    host: str  # lower case; an IPv6 literal in its compressed form, without brackets
    port: int
    path: str
    query: str = ""

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if DEFAULT_PORTS[self.scheme] == self.port else f":{self.port}"
        path = quote(self.path, safe="/" + _SEGMENT_SAFE)
        return f"{self.scheme}://{host}{port}{path}" + (f"?{self.query}" if self.query else "")

    def under(self, prefix: Url) -> bool:
        """True when this URL lies in `prefix`'s folder (its path up to and including the last /)."""
        folder = prefix.path[:prefix.path.rindex("/") + 1]
        return (self.scheme, self.host, self.port) == (prefix.scheme, prefix.host, prefix.port) \
            and self.path.startswith(folder)


def normalise(raw: str) -> Url | None:
    """`raw` as a `Url`, or None when it is not a plain http(s) URL that servers agree on."""
    if not isinstance(raw, str) or len(raw) > MAX_URL or _UNSAFE.search(raw):
        return None
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:  # a port that is not a number or out of range, a malformed [IPv6] literal
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or "@" in parts.netloc or parts.hostname is None:
        return None
    host = _host(parts.hostname)
    path = _path(parts.path)
    if host is None or path is None or port == 0:
        return None
    return Url(scheme, host, DEFAULT_PORTS[scheme] if port is None else port, path, parts.query)


def allowed(raw: str, prefixes: Iterable[str]) -> Url | None:
    """The normalised `raw` when it lies under one of `prefixes` (normalised the same way), else None."""
    url = normalise(raw)
    if url is None:
        return None
    for prefix in prefixes:
        folder = normalise(prefix)
        if folder is not None and url.under(folder):
            return url
    return None


def resolve(base: Url, location: str) -> str:
    """Where a redirect's Location header points, relative to the URL that answered."""
    return urljoin(str(base), location)


def _host(host: str) -> str | None:
    host = host.lower().rstrip(".")
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        pass
    try:  # an internationalised name compares as its ASCII (punycode) form
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return host if _HOST_NAME.fullmatch(host) else None


def _path(raw: str) -> str | None:
    """The decoded path with dot segments removed; None where a segment decodes to / or \\ or a control."""
    out: list[str] = []
    segments = raw.split("/")[1:] if raw else [""]
    for i, escaped in enumerate(segments):
        try:
            segment = unquote(escaped, errors="strict")
        except UnicodeDecodeError:
            return None
        if _UNSAFE_DECODED.search(segment):
            return None
        last = i == len(segments) - 1
        if segment == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        elif segment == ".":
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/" + "/".join(out)
