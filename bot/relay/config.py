"""`[teams.relay]`: how a team's room is relayed to its IRC channels.

    [teams.relay]
    zero_width_names = true      # a zero-width space inside relayed names: no self-pings on IRC
    max_lines = 4                # longer messages: their first lines and a link to the whole text
    answer_lines = 8             # the same for the bot's own answers (the agenda at #startmeeting is always whole)
    relay_joins = false          # relay IRC joins, parts and quits to Matrix
    chair_hostmasks = ["*!*@fedora/contributor/trix"]   # IRC users who chair every meeting

Rights on IRC never rest on a nick, which anyone can take: an IRC user chairs
by right only when their services account is in the team's `admins`
(`irc:ACCOUNT`) or their full `nick!user@host` matches a `chair_hostmasks`
pattern (shell wildcards, case-insensitive). Use host cloaks, not nicks.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from bot.core.record import record

if TYPE_CHECKING:
    from bot.config.load import Checker
    from bot.config.sections import SectionContext

MAX_LINES_CEILING = 50

# Matrix rooms that are portals of an IRC bridge (matrix-appservice-irc, the
# retired Libera and OFTC bridges): relaying one of them to IRC again would be
# double bridging, which Libera bans (https://libera.chat/guides/bridges).
_BRIDGE_PORTALS = (
    re.compile(r"#[^:]+:libera\.chat", re.IGNORECASE),
    re.compile(r"#_?oftc_[^:]+:.+", re.IGNORECASE),
    re.compile(r"#_?(irc|libera|freenode)_[^:]+:.+", re.IGNORECASE),
)
_BRIDGE_PUPPETS = re.compile(r"@_?(irc|libera|oftc|freenode)_[^:]+:.+", re.IGNORECASE)


@record
class RelaySettings:
    zero_width_names: bool = True
    max_lines: int = 4
    relay_joins: bool = False
    chair_hostmasks: tuple[str, ...] = ()
    # A person's long message is their choice to paste; the bot's answers are short by
    # design, so up to about 8 lines (a `!schedule`, a `!farm`) reach IRC whole.
    answer_lines: int = 8
    # What is said in an end-to-end encrypted room stays off the public IRC channel unless the team
    # says otherwise: relaying it would undo the encryption its members chose (docs/encryption.md).
    allow_encrypted: bool = False

    def chairs_by_hostmask(self, mask: str) -> bool:
        """Whether `nick!user@host` matches one of the configured patterns."""
        return any(fnmatchcase(mask.lower(), pattern.lower()) for pattern in self.chair_hostmasks)


def parse_team(c: Checker, data: dict[str, Any], path: str, ctx: SectionContext) -> RelaySettings:
    c.table(data, path, {"zero_width_names", "max_lines", "answer_lines", "relay_joins", "chair_hostmasks",
                         "allow_encrypted"})
    max_lines, answer_lines = c.get(data, "max_lines", path, int, 4), c.get(data, "answer_lines", path, int, 8)
    for key, value in (("max_lines", max_lines), ("answer_lines", answer_lines)):
        if not 1 <= value <= MAX_LINES_CEILING:
            c.error(f"{path}.{key}", f"must be from 1 to {MAX_LINES_CEILING}")
    max_lines = max_lines if 1 <= max_lines <= MAX_LINES_CEILING else 4
    answer_lines = answer_lines if 1 <= answer_lines <= MAX_LINES_CEILING else 8
    masks = c.get(data, "chair_hostmasks", path, list, [])
    for i, mask in enumerate(masks):
        if not isinstance(mask, str) or "!" not in mask or "@" not in mask:
            c.error(f"{path}.chair_hostmasks[{i}]", f"{mask!r} is not a hostmask like *!*@fedora/contributor/name")
        elif mask.split("@", 1)[1] in ("*", ""):
            c.error(f"{path}.chair_hostmasks[{i}]", f"{mask!r} matches any host: rights must not rest on a nick")
    return RelaySettings(
        zero_width_names=c.get(data, "zero_width_names", path, bool, True),
        max_lines=max_lines,
        relay_joins=c.get(data, "relay_joins", path, bool, False),
        chair_hostmasks=tuple(m for m in masks if isinstance(m, str)),
        answer_lines=answer_lines,
        allow_encrypted=c.get(data, "allow_encrypted", path, bool, False),
    )


def double_bridging(config: Any) -> list[tuple[str, str]]:
    """(key path, problem) for what the config shows of double bridging.

    Detected: a team room that is an IRC bridge's portal (`#chan:libera.chat`,
    `#_oftc_chan:...`) relayed to IRC channels by sigbot too, and a bridge
    puppet (`@libera_nick:...`) as sigbot's own Matrix account. A channel in
    two teams is refused by the loader itself. Not detectable here: another
    relay bot sitting in the same channel or room.
    """
    problems = []
    if config.irc is not None and config.matrix is not None and _BRIDGE_PUPPETS.fullmatch(config.matrix.user_id):
        problems.append(("matrix.user_id", f"{config.matrix.user_id} is an IRC bridge's puppet; "
                         "relaying its room to IRC again would be double bridging"))
    for i, team in enumerate(config.teams):
        room = team.matrix_room or ""
        if team.irc_channels and any(p.fullmatch(room) for p in _BRIDGE_PORTALS):
            problems.append((f"teams[{i}].matrix_room", f"{room} is already bridged to IRC; relaying it to "
                             f"{', '.join(team.irc_channels)} too would be double bridging"))
    return problems
