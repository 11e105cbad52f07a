"""`[teams.loans]`: who runs the team's lending, how long loans last, when reminders go out.

    [teams.loans]
    admins = ["@trix:example.org", "irc:trix"]   # loan admins; default: the team's admins
    default_weeks = 8
    max_weeks = 26                    # extensions included
    remind_days = [14, 3, 0, -7]      # days before the due date (0: on the day, -7: a week late)
    admins_overdue_days = 30          # the loan admins are told at this many days overdue
    summary_day = "monday"            # weekly summary to the loan admins, in the team's zone
    summary_time = "09:00"
    address_retention_days = 30       # a shipping address is deleted this long after check-in
    unconfirmed_shipment_days = 7     # "shipped but not confirmed" in the summary after this many days
"""

from __future__ import annotations

import re
from datetime import time
from typing import TYPE_CHECKING, Any

from bot.core.record import record

if TYPE_CHECKING:
    from bot.config.load import Checker
    from bot.config.model import Team
    from bot.config.sections import SectionContext

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# A stable identity: a Matrix ID or an IRC services account (never a nick, which anyone can take).
_IDENTITY = re.compile(r"@[^:\s]+:[A-Za-z0-9.\-]+(:\d+)?|irc:[^\s!@]+")


def is_identity(who: str) -> bool:
    """A Matrix ID or irc:ACCOUNT, with no control or bidi characters to make it pose as another."""
    return bool(_IDENTITY.fullmatch(who)) and who.isprintable()


@record
class LoanSettings:
    admins: tuple[str, ...] = ()
    default_weeks: int = 8
    max_weeks: int = 26
    remind_days: tuple[int, ...] = (14, 3, 0, -7)
    admins_overdue_days: int = 30
    summary_day: int = 0  # Monday
    summary_time: time = time(9, 0)
    address_retention_days: int = 30
    unconfirmed_shipment_days: int = 7


def parse_team(c: Checker, data: dict[str, Any], path: str, ctx: SectionContext) -> LoanSettings:
    c.table(data, path, {"admins", "default_weeks", "max_weeks", "remind_days", "admins_overdue_days",
                         "summary_day", "summary_time", "address_retention_days", "unconfirmed_shipment_days"})
    d = LoanSettings()
    admins = c.get(data, "admins", path, list, [])
    for i, admin in enumerate(admins):
        # Only stable identities: a bare IRC nick (or nick!user@host) can be taken by anyone.
        if not isinstance(admin, str) or not is_identity(admin):
            c.error(f"{path}.admins[{i}]", f"{admin!r} must be a Matrix id (@user:server) or irc:ACCOUNT")
    default_weeks = _positive(c, data, "default_weeks", path, d.default_weeks)
    max_weeks = _positive(c, data, "max_weeks", path, d.max_weeks)
    if default_weeks > max_weeks:
        c.error(f"{path}.default_weeks", f"{default_weeks} is more than max_weeks ({max_weeks})")
    remind = c.get(data, "remind_days", path, list, list(d.remind_days))
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in remind):
        c.error(f"{path}.remind_days", "must be a list of whole numbers of days (before the due date; negative: after)")
        remind = list(d.remind_days)
    day = c.get(data, "summary_day", path, str, DAYS[d.summary_day]).lower()
    if day not in DAYS:
        c.error(f"{path}.summary_day", f"{day!r} is not a day of the week (monday ... sunday)")
        day = DAYS[d.summary_day]
    at = c.get(data, "summary_time", path, str, "09:00")
    try:
        summary_time = time.fromisoformat(at)
    except ValueError:
        c.error(f"{path}.summary_time", f"{at!r} is not a time like 09:00")
        summary_time = d.summary_time
    return LoanSettings(
        admins=tuple(a for a in admins if isinstance(a, str)),
        default_weeks=default_weeks,
        max_weeks=max_weeks,
        remind_days=tuple(sorted(set(remind), reverse=True)),
        admins_overdue_days=_positive(c, data, "admins_overdue_days", path, d.admins_overdue_days),
        summary_day=DAYS.index(day),
        summary_time=summary_time,
        address_retention_days=_positive(c, data, "address_retention_days", path, d.address_retention_days, 0),
        unconfirmed_shipment_days=_positive(c, data, "unconfirmed_shipment_days", path, d.unconfirmed_shipment_days),
    )


def _positive(c: Checker, data: dict[str, Any], key: str, path: str, default: int, least: int = 1) -> int:
    value: int = c.get(data, key, path, int, default)
    if value < least:
        c.error(f"{path}.{key}", f"must be at least {least}")
        return default
    return value


def settings_of(team: Team) -> LoanSettings:
    """The team's loan settings; its admins default to the team's admins (only stable identities)."""
    settings: LoanSettings = team.sections.get("loans") or LoanSettings()
    if settings.admins:
        return settings
    admins = tuple(a for a in team.admins if is_identity(a))
    return LoanSettings(**{**settings.__dict__, "admins": admins})
