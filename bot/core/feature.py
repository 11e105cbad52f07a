"""A feature declares itself once: everything the core needs to know of it, in one value.

Every entry names the feature's code as "module:attribute" (bot/core/targets.py),
so the core reads the declarations without importing the features, and a
feature's code is imported only when it is used. bot/features.py holds the one
list of features; adding one is a new folder plus one line there
(docs/extending.md walks through an example).
"""

from __future__ import annotations

from bot.core.record import record

# The moments a feature can act on, with the signature of its function:
HOOKS = {
    # said right after #startmeeting, logged in the meeting: fn(db, team name, meeting id, room) -> [Effect]
    "meeting_started",
    # inside the transaction that ends a meeting: fn(db, team name, meeting id, Minutes) -> None
    "meeting_ended",
    # extra fields for the minutes' template: fn(db, meeting id, ended) -> {field: value}
    "minutes_sections",
    # after a meeting's notes are written (and committed): fn(db, Team, now) -> None
    "notes_written",
    # the agenda a meeting took when it started, as stored: fn(db, meeting id) -> {N: item text}
    # (what `#topic N` takes; the meeting engine never reads it back from the bot's own words)
    "meeting_agenda",
}


@record
class Feature:
    name: str
    commands: str | None = None  # a bot.core.commands.Registry of chat commands
    team_section: str | None = None  # parse_team(checker, table, path, ctx): the [teams.<name>] table
    root_section: str | None = None  # parse(checker, table, path, ctx): the top-level [<name>] table
    config_checks: tuple[str, ...] = ()  # check(config) -> [(key path, problem)], on the whole config
    migrations: str | None = None  # the feature's own sqlite_utils Migrations("sigbot-<name>")
    services: tuple[str, ...] = ()  # async def service(rt, stop): background work until `stop`
    web_routes: tuple[str, ...] = ()  # def add_routes(rt, app): pages and endpoints on the one web server
    # (name, click command or group), added to `sigbot`; its module is imported only when that command runs
    cli: tuple[tuple[str, str], ...] = ()
    hooks: tuple[tuple[str, str], ...] = ()  # (a name from HOOKS, its function)
    # Functions other features may call by name (never by importing this feature):
    # (name, function). A consumer asks bot.features.provided(name) and copes with None.
    provides: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        unknown = {name for name, _ in self.hooks} - HOOKS
        if unknown:
            raise ValueError(f"feature {self.name}: no such hook {', '.join(sorted(unknown))}")
