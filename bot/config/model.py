"""The checked configuration, as frozen values."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from bot.core.files import MiB, read_named_file
from bot.core.record import record


class ConfigError(Exception):
    """The configuration is wrong; `errors` lists every problem with its key path."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


@record
class Secret:
    """A password or token, named in the config by where it lives, never by value.

    `repr` never shows the value, so a secret cannot leak into a log line.
    """

    env: str | None = None
    file: Path | None = None

    def where(self) -> str:
        return f"environment variable {self.env}" if self.env else f"file {self.file}"

    def problem(self) -> str | None:
        """Why the secret cannot be read, or None when it can."""
        if self.env:
            return None if os.environ.get(self.env) else f"environment variable {self.env} is not set"
        if self.file and not self.file.exists():
            return f"file {self.file} does not exist"
        try:
            self.get()
        except ConfigError as exc:
            return exc.errors[0].removeprefix("secret: ")
        return None

    def get(self) -> str:
        if self.env:
            value = os.environ.get(self.env)
            if not value:
                raise ConfigError([f"secret: environment variable {self.env} is not set"])
            return value
        assert self.file is not None
        try:
            return read_named_file(self.file, MiB).decode("utf-8").strip()
        except OSError as exc:
            raise ConfigError([f"secret: cannot read {self.file}: {exc.strerror}"]) from None
        except UnicodeDecodeError:
            raise ConfigError([f"secret: {self.file} is not UTF-8 text (a password or token file holds one "
                               "line of text)"]) from None

    def __repr__(self) -> str:
        return f"Secret({self.where()})"


@record
class MatrixSettings:
    homeserver: str
    user_id: str
    password: Secret | None = None
    access_token: Secret | None = None
    device_name: str = "sigbot"


@record
class IrcSettings:
    host: str
    port: int = 6697
    tls: bool = True
    tls_verify: bool = True
    nick: str = "sigbot"
    username: str = "sigbot"
    sasl_account: str | None = None
    sasl_password: Secret | None = None
    client_cert: Path | None = None  # SASL EXTERNAL
    realname: str | None = None  # default: says it is a bot and names bot.admin_contact
    ping_interval: float = 100.0  # seconds of silence before we PING
    silence_timeout: float = 300.0  # seconds of silence after which the connection is dead
    reconnect_cap_seconds: float = 1800.0  # longest wait between reconnect attempts
    burst: int = 4  # lines sent at once before pacing starts
    line_interval: float = 2.0  # then one line per this many seconds (Libera asks for 2)


@record
class WebLimits:
    """How the web server protects itself from slow and numerous clients ([web] in the config)."""

    # Seconds for a request line and headers, which is also how long an idle keep-alive connection is
    # kept: longer than a reverse proxy keeps its idle upstream connections (nginx: 60 s), so that the
    # proxy never sends a request on a connection the bot is closing.
    header_timeout: float = 75.0
    body_timeout: float = 60.0  # seconds for a request body (at most 1 MiB)
    max_connections: int = 256  # open connections; one more is answered 503 and closed at once


@record
class Team:
    name: str
    matrix_room: str | None
    irc_channels: tuple[str, ...]
    timezone: str
    admins: tuple[str, ...]
    notes_dir: Path
    template_dir: Path | None = None
    chair_power_level: int = 50
    meeting_timeout_hours: float = 4.0
    # Checked feature sections ([teams.schedule], [teams.loans], ...), by key;
    # see bot/config/sections.py. Use `section(key)`.
    sections: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def home(self) -> str:
        """The room that names this team's meetings and lines, whichever network they come from."""
        return self.matrix_room or self.irc_channels[0]

    def section(self, key: str) -> Any:
        return self.sections[key]

    def rooms(self) -> tuple[str, ...]:
        return ((self.matrix_room,) if self.matrix_room else ()) + self.irc_channels


@record
class Config:
    path: Path | None
    data_dir: Path
    notes_dir: Path
    admin_contact: str
    teams: tuple[Team, ...]
    matrix: MatrixSettings | None = None
    irc: IrcSettings | None = None
    web_listen: str = "127.0.0.1:8080"
    web_public_url: str | None = None
    web_limits: WebLimits = WebLimits()
    sections: Mapping[str, Any] = field(default_factory=dict, compare=False)  # top-level feature sections

    def section(self, key: str) -> Any:
        return self.sections[key]

    @property
    def database(self) -> Path:
        return self.data_dir / "sigbot.db"

    def team(self, name: str) -> Team | None:
        return next((t for t in self.teams if t.name == name), None)

    def team_for_room(self, room: str) -> Team | None:
        """The team that owns a Matrix room (id or alias) or IRC channel."""
        for team in self.teams:
            if room == team.matrix_room or room.lower() in (c.lower() for c in team.irc_channels):
                return team
        return None
