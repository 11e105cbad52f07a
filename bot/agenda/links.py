"""One person on two networks: `!whoami`, `!linkto irc ACCOUNT`, `!unlink`.

A Matrix user asks to be linked to an IRC services account; the link holds
once that account confirms it from IRC (`!linkto matrix @USER:SERVER`, said
while identified to services), so neither side can claim the other alone.
A linked person holds the rights and owns the actions, agenda items and loans
of both identities, from either network (the dispatcher's `Speaker.linked`). A nick without
an account can be linked to nothing: anyone may take it. The command is
`!linkto`, not `!link`: `#link` and `!link` are one word, MeetBot's link item.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from bot.agenda.agenda import AgendaError
from bot.agenda.store import AgendaStore, LinkStatus
from bot.core.identity import IdentityKind, kind_of
from bot.core.message import quoted

log = logging.getLogger(__name__)

USAGE = (
    "Usage: !linkto irc ACCOUNT (from Matrix), then !linkto matrix @USER:SERVER (from IRC, identified to services)."
)
_ACCOUNT = re.compile(r"[^\s:!@]{1,64}")  # a services account name as IRC servers allow it, roughly
_MATRIX_ID = re.compile(r"@[^\s:]{1,255}:\S{1,255}")


def whoami(store: AgendaStore, identity: str) -> str:
    kind = kind_of(identity)
    if kind is IdentityKind.IRC_MASK:
        return (f"On IRC you are {quoted(identity, 80)}, not identified to services: the nick alone is yours "
                "only until someone else takes it, so actions and rights need an account (log in with NickServ).")
    if kind is IdentityKind.MATRIX:
        you = f"You are {identity} on Matrix"
    elif kind is IdentityKind.IRC_ACCOUNT:
        you = f"You are the IRC services account {identity.removeprefix('irc:')}"
    else:
        return f"You are {quoted(identity, 80)}."
    link = store.link_of(identity)
    if link is None:
        return you + ", linked to nothing (!linkto irc ACCOUNT links your IRC account)."
    if link.status is LinkStatus.PENDING:
        return you + f"; your link to IRC account {link.irc_account} waits for its confirmation from IRC."
    other = f"IRC account {link.irc_account}" if kind is IdentityKind.MATRIX else link.matrix_id
    return you + f", linked to {other}: your actions, loans and rights follow you on both networks."


def link(store: AgendaStore, identity: str, args: str, now: datetime) -> str:
    network, _, target = args.strip().partition(" ")
    network, target = network.lower(), target.strip()
    if network == "irc":
        if kind_of(identity) is not IdentityKind.MATRIX:
            raise AgendaError("Say !linkto irc ACCOUNT from Matrix; on IRC, confirm with !linkto matrix @USER:SERVER.")
        if not _ACCOUNT.fullmatch(target):
            raise AgendaError(USAGE)
        store.ask_link(identity, target, now)
        return (f"To finish, say `!linkto matrix {identity}` on IRC while identified to services as {target}. "
                "Until then nothing is linked.")
    if network == "matrix":
        if kind_of(identity) is not IdentityKind.IRC_ACCOUNT:
            raise AgendaError("Confirm from IRC while identified to services (log in with NickServ first).")
        if not _MATRIX_ID.fullmatch(target):
            raise AgendaError(USAGE)
        account = identity.removeprefix("irc:")
        if not store.confirm_link(target, account, now):
            raise AgendaError(f"{quoted(target, 80)} has not asked to be linked to IRC account {account}: "
                              f"say !linkto irc {account} from Matrix first.")
        log.info("identity: %s linked to irc:%s", target, account)
        return f"Linked: {target} and IRC account {account} are one person; actions follow both."
    raise AgendaError(USAGE)


def unlink(store: AgendaStore, identity: str) -> str:
    if not store.unlink(identity):
        return "You are linked to nothing."
    log.info("identity: %s unlinked", identity)
    return "Unlinked: each network's identity stands alone again."
