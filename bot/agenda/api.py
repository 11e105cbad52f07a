"""What other features (and the dispatcher) read of the agenda: the agenda so far, and linked identities."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from bot.agenda.store import AgendaStore

if TYPE_CHECKING:  # the type only: features speak SQL through their stores
    from sqlite_utils import Database


class AgendaEntry(TypedDict):
    n: int  # the number `!agenda` shows and `#topic N` takes
    text: str
    owner: str  # nick of who added it
    carried: bool  # an earlier meeting left it uncovered


def agenda_items(db: Database, team: str) -> list[AgendaEntry]:
    """The agenda of `team`'s next meeting, in order, as plain values.

    Each item is `{"n": 1, "text": ..., "owner": nick of who added it,
    "carried": True if an earlier meeting left it uncovered}`; `n` is the number
    `!agenda` shows and `#topic N` takes.
    """
    return [{"n": n, "text": item.text, "owner": item.owner, "carried": item.carried > 0}
            for n, item in enumerate(AgendaStore(db).waiting(team), 1)]


def same_person(db: Database, identity: str) -> frozenset[str]:
    """`identity` and the identity it is confirmed linked to (bot/agenda/links.py): one person's rights."""
    return frozenset(AgendaStore(db).same_person(identity))
