"""Read and check the TOML config, reporting every error at once with its key path.

Unknown keys are errors too: a misspelt key must not be silently ignored.
Passwords and tokens are only ever named by `*_env` (an environment variable)
or `*_file` (a file); a literal `password = "..."` in the file is refused.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.config.document import parse_document
from bot.config.model import Config, ConfigError, IrcSettings, MatrixSettings, Secret, Team, WebLimits
from bot.config.sections import CONFIG_CHECKS, ROOT_SECTIONS, TEAM_SECTIONS, SectionContext, parse_section
from bot.core.files import MiB, read_named_file
from bot.core.targets import load

_TEAM_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
# Room ids of room version 12 (Synapse 1.135+) have no server part: `!<hash>`.
_MATRIX_ROOM = re.compile(r"![^:\s]+(:[A-Za-z0-9.\-]+(:\d+)?)?|#[^:\s]+:[A-Za-z0-9.\-]+(:\d+)?")
_MATRIX_USER = re.compile(r"@[^:\s]+:[A-Za-z0-9.\-]+(:\d+)?")
_IRC_CHANNEL = re.compile(r"[#&][^\s,\x07]{1,49}")
_SECRET_WORDS = ("password", "token", "secret")
_YEAR_HOURS = 24 * 366
CONFIG_LIMIT = MiB  # the example, every key documented, is 10 KiB


class Checker:
    """Collects errors while reading nested tables; `path` names where we are.

    Feature sections (see bot/config/sections.py) receive one to check their own keys.
    """

    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def table(self, data: dict[str, Any], path: str, allowed: set[str]) -> None:
        for key in data:
            if key not in allowed:
                where = f"{path}.{key}" if path else key
                if any(w in key for w in _SECRET_WORDS) and not key.endswith(("_env", "_file")):
                    self.error(where, "secrets are never written in the config: use "
                               f"{key}_env (an environment variable) or {key}_file (a file)")
                else:
                    self.error(where, "unknown key (allowed: " + ", ".join(sorted(allowed)) + ")")

    def get(
        self,
        data: dict[str, Any],
        key: str,
        path: str,
        kind: type | tuple[type, ...],
        default: Any = None,
        required: bool = False,
    ) -> Any:
        where = f"{path}.{key}" if path else key
        if key not in data:
            if required:
                self.error(where, "is required")
            return default
        value = data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.error(where, f"must be {names}, not {type(value).__name__}")
            return default
        if isinstance(value, float) and not math.isfinite(value):  # TOML has inf and nan; no setting means them
            self.error(where, f"must be a finite number, not {value}")
            return default
        return value

    def secret(self, data: dict[str, Any], key: str, path: str, base: Path) -> Secret | None:
        env = self.get(data, f"{key}_env", path, str)
        file = self.get(data, f"{key}_file", path, str)
        if env and file:
            self.error(f"{path}.{key}_env", f"give {key}_env or {key}_file, not both")
        if env:
            return Secret(env=env)
        if file:
            return Secret(file=(base / file))
        return None

    def timezone(self, value: str | None, where: str) -> str:
        if value is None:
            return "UTC"
        problem = zone_problem(value)
        if problem:
            self.error(where, problem)
            return "UTC"
        return value


def zone_problem(name: str) -> str | None:
    """Why `name` is not an IANA zone, or None. The config and the command line both ask this."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of zones such as "America"
        return f"unknown timezone {name[:60]!r} (use an IANA name such as Europe/Berlin)"
    return None


_LISTEN_HOST = re.compile(r"[A-Za-z0-9.\-]*|\[[0-9A-Fa-f:.]+\]")


def listen_problem(listen: str) -> str | None:
    """Why `listen` is not `host:port` (port 0 to 65535; 0 picks a free one), or None.
    The config's web.listen and `sigbot serve --listen` both ask this, before anything binds."""
    host, sep, port = listen.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or int(port) > 65535 or not _LISTEN_HOST.fullmatch(host):
        return f"{listen[:60]!r} is not host:port, e.g. 127.0.0.1:8080 or [::1]:8080 (port 0 to 65535)"
    return None


def _matrix(c: Checker, data: dict[str, Any], base: Path) -> MatrixSettings | None:
    path = "matrix"
    c.table(data, path, {"homeserver", "user_id", "password_env", "password_file", "access_token_env",
                         "access_token_file", "device_name"})
    homeserver = c.get(data, "homeserver", path, str, required=True)
    user_id = c.get(data, "user_id", path, str, required=True)
    if homeserver and not homeserver.startswith(("http://", "https://")):
        c.error(f"{path}.homeserver", "must be an http(s) URL, e.g. https://matrix.example.org")
    if user_id and not _MATRIX_USER.fullmatch(user_id):
        c.error(f"{path}.user_id", f"{user_id!r} is not a Matrix user id like @sigbot:example.org")
    password = c.secret(data, "password", path, base)
    token = c.secret(data, "access_token", path, base)
    if not password and not token:
        c.error(path, "give password_env/password_file or access_token_env/access_token_file")
    return MatrixSettings(homeserver or "", user_id or "", password, token,
                          c.get(data, "device_name", path, str, "sigbot"))


def _irc(c: Checker, data: dict[str, Any], base: Path) -> IrcSettings:
    path = "irc"
    c.table(data, path, {"host", "port", "tls", "tls_verify", "nick", "username", "sasl_account",
                         "sasl_password_env", "sasl_password_file", "client_cert_file", "realname",
                         "ping_interval", "silence_timeout", "reconnect_cap_seconds", "burst", "line_interval"})
    port = c.get(data, "port", path, int, 6697)
    if not 0 < port < 65536:
        c.error(f"{path}.port", f"{port} is not a TCP port")
    cert = c.get(data, "client_cert_file", path, str)
    ping = c.get(data, "ping_interval", path, float, 100.0)
    silence = c.get(data, "silence_timeout", path, float, 300.0)
    if ping <= 0 or silence <= ping:
        c.error(f"{path}.silence_timeout", "must be more than ping_interval, which must be more than 0")
    cap = c.get(data, "reconnect_cap_seconds", path, float, 1800.0)
    if cap < 2:
        c.error(f"{path}.reconnect_cap_seconds", "must be at least 2")
    burst = c.get(data, "burst", path, int, 4)
    interval = c.get(data, "line_interval", path, float, 2.0)
    if burst < 1 or interval <= 0:
        c.error(f"{path}.burst", "burst must be at least 1 and line_interval more than 0")
    return IrcSettings(
        host=c.get(data, "host", path, str, "", required=True),
        port=port,
        tls=c.get(data, "tls", path, bool, True),
        tls_verify=c.get(data, "tls_verify", path, bool, True),
        nick=c.get(data, "nick", path, str, "sigbot"),
        username=c.get(data, "username", path, str, "sigbot"),
        sasl_account=c.get(data, "sasl_account", path, str),
        sasl_password=c.secret(data, "sasl_password", path, base),
        client_cert=(base / cert) if cert else None,
        realname=c.get(data, "realname", path, str),
        ping_interval=ping,
        silence_timeout=silence,
        reconnect_cap_seconds=cap,
        burst=burst,
        line_interval=interval,
    )


def _meeting_timeout(c: Checker, data: dict[str, Any], path: str, default: float) -> float:
    timeout: float = c.get(data, "meeting_timeout_hours", path, float, default)
    if not 0 < timeout <= _YEAR_HOURS:  # far beyond it a timedelta overflows: refused here, not mid-meeting
        c.error(f"{path}.meeting_timeout_hours", f"must be more than 0 and at most {_YEAR_HOURS} (a year)")
        return default
    return timeout


def _team(c: Checker, data: Any, index: int, notes_root: Path, base: Path, default_timeout: float) -> Team | None:
    path = f"teams[{index}]"
    if not isinstance(data, dict):
        c.error(path, "must be a table ([[teams]])")
        return None
    c.table(data, path, {"name", "matrix_room", "irc_channels", "timezone", "admins", "notes_dir",
                         "template_dir", "chair_power_level", "meeting_timeout_hours", *TEAM_SECTIONS})
    name = c.get(data, "name", path, str, "", required=True)
    if name and not _TEAM_NAME.fullmatch(name):
        c.error(f"{path}.name", f"{name!r} must be lower-case letters, digits and dashes (at most 40)")
    room = c.get(data, "matrix_room", path, str)
    if room and not _MATRIX_ROOM.fullmatch(room):
        c.error(f"{path}.matrix_room", f"{room!r} is not a room id (!id:server) or alias (#name:server)")
    channels = c.get(data, "irc_channels", path, list, [])
    for i, channel in enumerate(channels):
        if not isinstance(channel, str) or not _IRC_CHANNEL.fullmatch(channel):
            c.error(f"{path}.irc_channels[{i}]", f"{channel!r} is not an IRC channel like #fedora-ai-ml")
    if not room and not channels:
        c.error(path, "give matrix_room, irc_channels or both")
    admins = c.get(data, "admins", path, list, [])
    for i, admin in enumerate(admins):
        if not isinstance(admin, str) or not admin.strip():
            c.error(f"{path}.admins[{i}]", "must be a Matrix id (@user:server) or irc:ACCOUNT")
    level = c.get(data, "chair_power_level", path, int, 50)
    timeout = _meeting_timeout(c, data, path, default_timeout)
    template = c.get(data, "template_dir", path, str)
    notes = c.get(data, "notes_dir", path, str)
    zone = c.timezone(c.get(data, "timezone", path, str), f"{path}.timezone")
    sections = {key: parse_section(TEAM_SECTIONS[key], c, c.get(data, key, path, dict, {}), f"{path}.{key}",
                                   SectionContext(base, name, zone))
                for key in TEAM_SECTIONS}
    return Team(
        name=name,
        matrix_room=room,
        irc_channels=tuple(ch for ch in channels if isinstance(ch, str)),
        timezone=zone,
        admins=tuple(a for a in admins if isinstance(a, str)),
        notes_dir=(base / notes) if notes else notes_root / (name or "team"),
        template_dir=(base / template) if template else None,
        chair_power_level=level,
        meeting_timeout_hours=timeout,
        sections=sections,
    )


def _web_limits(c: Checker, data: dict[str, Any]) -> WebLimits:
    default = WebLimits()
    limits = WebLimits(c.get(data, "header_timeout", "web", float, default.header_timeout),
                       c.get(data, "body_timeout", "web", float, default.body_timeout),
                       c.get(data, "max_connections", "web", int, default.max_connections))
    for key in ("header_timeout", "body_timeout"):
        if not 0 < getattr(limits, key) <= 3600:
            c.error(f"web.{key}", "must be more than 0 and at most 3600 seconds")
    if limits.max_connections < 1:
        c.error("web.max_connections", "must be at least 1")
    return limits


def _listen(c: Checker, web: dict[str, Any]) -> str:
    listen: str = c.get(web, "listen", "web", str, "127.0.0.1:8080")
    problem = listen_problem(listen)
    if problem:
        c.error("web.listen", problem)
    return listen


def parse_config(data: dict[str, Any], path: Path | None = None) -> Config:
    """Check a parsed TOML document; raises ConfigError listing every problem."""
    base = path.parent if path else Path.cwd()
    c = Checker()
    c.table(data, "", {"bot", "matrix", "irc", "web", "teams", *ROOT_SECTIONS})
    bot = c.get(data, "bot", "", dict, {})
    c.table(bot, "bot", {"data_dir", "notes_dir", "admin_contact", "meeting_timeout_hours"})
    notes_root = base / c.get(bot, "notes_dir", "bot", str, "notes")
    timeout = _meeting_timeout(c, bot, "bot", 4.0)
    web = c.get(data, "web", "", dict, {})
    c.table(web, "web", {"listen", "public_url", "header_timeout", "body_timeout", "max_connections"})
    matrix = c.get(data, "matrix", "", dict)
    irc = c.get(data, "irc", "", dict)
    teams_data = c.get(data, "teams", "", list, [], required=True)
    checked = [_team(c, data_i, i, notes_root, base, timeout) for i, data_i in enumerate(teams_data)]
    teams = [t for t in checked if t is not None]
    seen: dict[str, str] = {}
    for i, team in enumerate(teams):
        for room in team.rooms():
            key = room.lower()
            if key in seen:
                # One room relayed by two teams would be double bridging.
                c.error(f"teams[{i}]", f"room {room} is already used by team {seen[key]}")
            seen[key] = team.name
    names = [t.name for t in teams]
    for name in {n for n in names if names.count(n) > 1}:
        c.error("teams", f"team name {name!r} is used twice")
    config = Config(
        path=path,
        data_dir=base / c.get(bot, "data_dir", "bot", str, "var"),
        notes_dir=notes_root,
        admin_contact=c.get(bot, "admin_contact", "bot", str, ""),
        teams=tuple(teams),
        matrix=_matrix(c, matrix, base) if matrix is not None else None,
        irc=_irc(c, irc, base) if irc is not None else None,
        web_listen=_listen(c, web),
        web_public_url=c.get(web, "public_url", "web", str),
        web_limits=_web_limits(c, web),
        sections={key: parse_section(ROOT_SECTIONS[key], c, c.get(data, key, "", dict, {}), key,
                                     SectionContext(base, None, "UTC"))
                  for key in ROOT_SECTIONS},
    )
    for check in CONFIG_CHECKS:  # whole-config checks of the features (the relay's double bridging)
        for where, problem in load(check)(config):
            c.error(where, problem)
    if c.errors:
        raise ConfigError(c.errors)
    return config


def load_config(path: Path) -> Config:
    try:
        text = read_named_file(path, CONFIG_LIMIT).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file (copy sigbot.example.toml to start)"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: cannot read: not UTF-8 ({exc.reason} at byte {exc.start})"]) from None
    data, problems = parse_document(text)
    if problems and not data:  # the text could not be read as a document at all
        raise ConfigError([f"{path}: {problem}" for problem in problems])
    try:
        config = parse_config(data, path)
    except ConfigError as exc:
        problems += exc.errors
    if problems:
        raise ConfigError(problems)
    return config


def secret_problems(config: Config) -> list[str]:
    """Secrets the config names that cannot be read right now."""
    problems = []
    named = {
        "matrix.password": config.matrix.password if config.matrix else None,
        "matrix.access_token": config.matrix.access_token if config.matrix else None,
        "irc.sasl_password": config.irc.sasl_password if config.irc else None,
    }
    for key, secret in named.items():
        if secret is not None and (why := secret.problem()):
            problems.append(f"{key}: {why}")
    return problems
