"""`!loan` and `!hw`: the loan desk and the inventory from chat.

One command word each; the first word of the arguments picks the subcommand
from a table. Every change runs in a savepoint inside the dispatcher's
transaction, after taking the write lock, so two admins racing for one asset
are served one after the other and the second is told who has it.

Privacy: `!loan` also works in a direct message with the bot (`direct=True`),
which is the only place shipping details are given or read. In a team room a
line that looks like an address or contact details is scrubbed from the log
and refused with a hint to use a direct message.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.core.commands import Registry, Role, Scope
from bot.core.message import Effect, Reply
from bot.dispatch import RoomCall
from bot.loans import inventory, views
from bot.loans.config import settings_of
from bot.loans.desk import Desk, Done, Refused
from bot.loans.model import Actor
from bot.loans.privacy import HINT, looks_private
from bot.loans.publish import publish
from bot.loans.store import LoanStore

LOAN_COMMANDS = Registry()

Op = Callable[[Desk, Actor, str], Done]
_WEEKS = re.compile(r"\s+weeks?\s+(\d+)\s*$", re.IGNORECASE)
_NO_SHIP = re.compile(r"\s+(noship|no-shipping|pickup)\s*$", re.IGNORECASE)


def _number(rest: str, usage: str) -> tuple[int, str]:
    first, _, remainder = rest.strip().partition(" ")
    try:
        return int(first.lstrip("#")), remainder.strip()
    except ValueError:
        raise Refused(f"Which loan? Usage: !loan {usage}") from None


def _request(desk: Desk, actor: Actor, rest: str) -> Done:
    no_ship = bool(_NO_SHIP.search(rest))
    rest = _NO_SHIP.sub("", rest)
    weeks_match = _WEEKS.search(rest)
    rest = _WEEKS.sub("", rest)
    target, _, purpose = rest.strip().partition(" ")
    purpose = re.sub(r"^for\s+", "", purpose.strip(), flags=re.IGNORECASE)
    if not target:
        raise Refused("Usage: !loan request TARGET for PURPOSE [weeks N] — TARGET is an asset tag, a kind or a GPU "
                      "target (gfx1100, sm_90).")
    return desk.request(actor, target, purpose, int(weeks_match.group(1)) if weeks_match else None, no_ship)


def _with_number(usage: str, step: Callable[[Desk, Actor, int, str], Done]) -> Op:
    def op(desk: Desk, actor: Actor, rest: str) -> Done:
        n, remainder = _number(rest, usage)
        return step(desk, actor, n, remainder)
    return op


def _extend(desk: Desk, actor: Actor, n: int, rest: str) -> Done:
    weeks = rest.split()[0] if rest.split() else ""
    if not weeks.isdigit():
        raise Refused(f"By how many weeks? Usage: !loan extend {n} WEEKS")
    return desk.extend(actor, n, int(weeks))


def _address(desk: Desk, actor: Actor, n: int, rest: str) -> Done:
    return desk.give_details(actor, n, rest) if rest else desk.read_details(actor, n)


def _approve(desk: Desk, actor: Actor, n: int, rest: str) -> Done:
    return desk.approve(actor, n, rest.split()[0] if rest.split() else None)


LOAN_OPS: dict[str, Op] = {
    "request": _request,
    "queue": lambda desk, actor, rest: Done(views.queue(desk)),
    "list": lambda desk, actor, rest: Done(views.listing(desk, actor, rest.strip().lower() or "open")),
    "show": _with_number("show N", lambda desk, actor, n, rest: Done(views.show(desk, desk.loan(n)))),
    "history": _with_number("history N", lambda desk, actor, n, rest: Done(
        views.history(desk.store.events(loan=desk.loan(n).n)))),
    "approve": _with_number("approve N [ASSET]", _approve),
    "reject": _with_number("reject N REASON", lambda desk, actor, n, rest: desk.reject(actor, n, rest)),
    "ship": _with_number("ship N [TRACKING]", lambda desk, actor, n, rest: desk.ship(actor, n, rest)),
    "received": _with_number("received N", lambda desk, actor, n, rest: desk.received(actor, n)),
    "return": _with_number("return N [TRACKING]", lambda desk, actor, n, rest: desk.return_(actor, n, rest)),
    "checkin": _with_number("checkin N [CONDITION]", lambda desk, actor, n, rest: desk.checkin(actor, n, rest)),
    "extend": _with_number("extend N WEEKS", _extend),
    "withdraw": _with_number("withdraw N", lambda desk, actor, n, rest: desk.withdraw(actor, n)),
    "lost": _with_number("lost N", lambda desk, actor, n, rest: desk.lost(actor, n)),
    "address": _with_number("address N [DETAILS] (in a direct message)", _address),
}
# Subcommands that need no loan number, so a direct message cannot tell the team from one.
_TEAM_WIDE = {"request", "queue", "list"}


def _fields_op(apply: Callable[[Desk, Actor, str, dict[str, str]], Done], usage: str, kind_word: bool) -> Op:
    def op(desk: Desk, actor: Actor, rest: str) -> Done:
        plain, fields = inventory.parse_fields(rest)
        if not plain or len(plain) > 1 + kind_word:
            raise Refused(f"Usage: !hw {usage}")
        if len(plain) > 1 and "kind" not in fields:
            fields["kind"] = plain[1]
        return apply(desk, actor, plain[0], fields)
    return op


def _hw_show(desk: Desk, actor: Actor, rest: str) -> Done:
    text = views.asset_show(desk, rest.strip())
    if text is None:
        raise Refused(f"There is no asset {rest.strip()!r}. Say !hw list to see the inventory.")
    return Done(text + "\n" + views.history(desk.store.events(asset=rest.strip(), team=desk.team)[-3:]))


def _hw_retire(desk: Desk, actor: Actor, rest: str) -> Done:
    tag, _, note = rest.strip().partition(" ")
    if not tag:
        raise Refused("Usage: !hw retire TAG [NOTE]")
    return inventory.retire(desk, actor, tag, note.strip())


HW_OPS: dict[str, Op] = {
    "add": _fields_op(inventory.add, "add TAG KIND [vendor=V model=M target=T memory=G serial=S donor=D "
                                     "custodian=C location=L notes=N]", True),
    "list": lambda desk, actor, rest: Done(views.inventory(desk, rest.strip().lower())),
    "show": _hw_show,
    "edit": _fields_op(inventory.edit, "edit TAG FIELD=VALUE ...", False),
    "retire": _hw_retire,
}


def run_op(call: RoomCall, ops: dict[str, Op], word: str) -> list[Effect]:
    sub, _, rest = call.args.strip().partition(" ")
    sub = sub.lower()
    room = call.message.room
    op = ops.get(sub)
    if op is None:
        return [Reply(room, f"Say !{word} {' / '.join(ops)}; !help {word} shows examples.")]
    if sub == "address" and call.message.direct:
        call.scrub()  # the line itself may hold the details; only loan_private keeps them
    elif sub == "address" or looks_private(rest):
        # Anywhere but `!loan address` in a direct message, what is said may be shown in public later.
        call.scrub()
        return [Reply(room, HINT)]
    team = call.team or _team_of_direct(call, sub, rest)
    if team is None:
        return [Reply(room, f"Say !{word} {sub} in your team's room, or name the loan by its number.")]
    store = LoanStore(call.dispatcher.store.db)
    store.lock()
    desk = Desk(store, team.name, settings_of(team), call.message.time)
    actor = desk.actor(call.message.sender, call.message.nick)
    try:
        with store.db.atomic():
            done = op(desk, actor, rest)
    except Refused as refused:
        return [Reply(room, refused.text)]
    publish(store, team.name, team.notes_dir, call.message.time)
    return [Reply(room, done.text), *done.dms]


def _team_of_direct(call: RoomCall, sub: str, rest: str):
    """In a direct message: the team of the loan named by number, or the only team there is."""
    teams = call.dispatcher.config.teams
    if sub in _TEAM_WIDE or sub not in LOAN_OPS:
        return teams[0] if len(teams) == 1 else None
    first = rest.strip().split(" ")[0].lstrip("#")
    loan = LoanStore(call.dispatcher.store.db).loan(int(first)) if first.isdigit() else None
    return call.dispatcher.config.team(loan.team) if loan else (teams[0] if len(teams) == 1 else None)


@LOAN_COMMANDS.command(
    "loan",
    role=Role.ANYONE,
    scope=Scope.ROOM,
    direct=True,
    summary="hardware loans: ask, see the queue, and (loan admins) approve, ship and check in; "
            "shipping details only in a direct message",
    # Subcommands are separated by ";" and choices by "/": a "|" would split the README's table cells.
    usage="loan request TARGET for PURPOSE [weeks N]; queue; list [mine/overdue/all]; show N; history N; "
          "approve N [ASSET]; reject N REASON; ship N [TRACKING]; received N; return N [TRACKING]; "
          "checkin N [CONDITION]; extend N WEEKS; withdraw N; lost N; address N [DETAILS] (in a direct message)",
    examples=("!loan request gfx1100 for rocBLAS CI https://github.com/ROCm/rocBLAS weeks 8",
              "!loan queue", "!loan approve 3 w7900-1", "!loan received 3", "!loan extend 3 4"),
)
def loan(call: RoomCall) -> list[Effect]:
    return run_op(call, LOAN_OPS, "loan")


@LOAN_COMMANDS.command(
    "hw",
    role=Role.ANYONE,
    scope=Scope.ROOM,
    summary="the group's hardware inventory: everyone lists and shows; loan admins add, edit and retire",
    usage="hw list [KIND/TARGET/STATUS/all]; show TAG; add TAG KIND [FIELD=VALUE ...]; edit TAG FIELD=VALUE ...; "
          "retire TAG [NOTE]",
    examples=("!hw list gfx1100", "!hw add w7900-1 gpu vendor=AMD model=\"Radeon PRO W7900\" target=gfx1100 "
              "memory=48GB", "!hw edit w7900-1 status=maintenance"),
)
def hw(call: RoomCall) -> list[Effect]:
    return run_op(call, HW_OPS, "hw")
