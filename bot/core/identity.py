"""What kind of person an identity string names, and how sure the bot can be of it.

Every stored line carries the identity the adapter decided (`Message.sender`):
a Matrix user id, `irc:ACCOUNT` for an IRC user identified to services,
`nick!user@host` for one who is not, or a bare name (a replayed MeetBot log,
which knows nicks only; the CLI). Only the first two are stable: a nick, and
with it a hostmask's nick part, can be taken by anyone who finds it free.
Names shown to people are derived from identities (bot/meeting/people.py),
never the other way round.
"""

from __future__ import annotations

from enum import StrEnum


class IdentityKind(StrEnum):
    MATRIX = "matrix"  # @user:server
    IRC_ACCOUNT = "irc account"  # irc:ACCOUNT
    IRC_MASK = "irc mask"  # nick!user@host, not identified to services
    NAME = "name"  # a bare name: a replayed log's nick, a CLI user


def kind_of(identity: str) -> IdentityKind:
    if identity.startswith("@") and ":" in identity:
        return IdentityKind.MATRIX
    if identity.startswith("irc:"):
        return IdentityKind.IRC_ACCOUNT
    nick, bang, rest = identity.partition("!")
    if nick and bang and "@" in rest:
        return IdentityKind.IRC_MASK
    return IdentityKind.NAME


def is_stable(identity: str) -> bool:
    """Whether only one person can ever speak as `identity` (a Matrix id, a services account)."""
    return kind_of(identity) in (IdentityKind.MATRIX, IdentityKind.IRC_ACCOUNT)


def named_identity(text: str) -> str | None:
    """`text` when it spells a stable identity itself (`@ada:example.org`, `irc:ada`), else None."""
    kind = kind_of(text)
    if kind is IdentityKind.MATRIX and " " not in text:
        return text
    if kind is IdentityKind.IRC_ACCOUNT and len(text) > len("irc:") and " " not in text:
        return text
    return None
