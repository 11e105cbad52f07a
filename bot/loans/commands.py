"""`!loan` and `!hw`: the loan desk and the inventory from chat.

One command word each; the first word of the arguments picks the subcommand
from a table. A subcommand reads `Args`: the text as typed in chat, or the
words of a command line (bot/loans/cli.py), so both faces share one grammar and
the CLI never has to quote words again for a parser to split them. Every
change runs in a savepoint inside the dispatcher's transaction, after taking
the write lock, so two admins racing for one asset are served one after the
other and the second is told who has it.

Privacy: `!loan` also works in a direct message with the bot (`direct=True`),
which is the only place shipping details are said or read in chat. What the
desk stores is guarded there, for every face (`desk.free_text`); chat adds the
guard of its log: both commands declare which arguments are private
(`private_args`), so the dispatcher stores such a line scrubbed and never
relays it, and the handler refuses it outside `!loan address` in a direct
message with a hint to use one. `!loan address N` alone holds nothing private
and works anywhere: the borrower gets a one-time link to a web form, sent to
them privately (bot/loans/links.py, bot/loans/web.py, docs/privacy.md).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable

from bot.config import Team
from bot.core.call import Call, Publish
from bot.core.commands import Registry, Role, Scope
from bot.core.message import Effect, Reply
from bot.core.privacy import HINT, looks_private
from bot.core.record import record
from bot.core.text import clean_text, without_surrogates
from bot.loans import inventory, views
from bot.loans.config import settings_of
from bot.loans.desk import Desk, Done, Refused
from bot.loans.links import form_base
from bot.loans.model import Actor
from bot.loans.publish import publish
from bot.loans.store import LoanStore

LOAN_COMMANDS = Registry()


@record
class Args:
    """A subcommand's arguments: the text after it as said in chat, or the words of a command line.

    Loan steps read free text (a reason, a tracking number) verbatim, quotes and
    apostrophes included; inventory commands read words and FIELD=VALUE pairs,
    which chat quotes shell-style (model="Radeon PRO W7900"). The shell has
    already split a command line, so its words are taken as they are.
    """

    text: str
    argv: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        # Undecodable command-line bytes arrive as lone surrogates (surrogateescape), which SQLite cannot even
        # look up; all else stays as given, for the desk to clean where it stores.
        object.__setattr__(self, "text", without_surrogates(self.text))
        if self.argv is not None:
            object.__setattr__(self, "argv", tuple(map(without_surrogates, self.argv)))

    @classmethod
    def of_words(cls, words: tuple[str, ...] | list[str]) -> Args:
        return cls(" ".join(words), tuple(words))

    def words(self) -> list[str]:
        if self.argv is not None:
            return list(self.argv)
        try:
            return shlex.split(self.text)
        except ValueError as exc:
            raise Refused(f"Cannot read that: {exc}. Quote values with spaces: model=\"Radeon PRO W7900\"") from None

    def split_first(self) -> tuple[str, Args]:
        """The first word, and the rest as it was given."""
        if self.argv is not None:
            return (self.argv[0], Args.of_words(self.argv[1:])) if self.argv else ("", Args(""))
        first, *rest = self.text.strip().split(None, 1) or [""]
        return first, Args(rest[0] if rest else "")


Op = Callable[[Desk, Actor, Args], Done]
_WEEKS = re.compile(r"\s+weeks?\s+([+-]?[0-9]+)\s*$", re.IGNORECASE)
_NO_SHIP = re.compile(r"\s+(noship|no-shipping|pickup)\s*$", re.IGNORECASE)
_FOR = re.compile(r"^for(\s+|$)", re.IGNORECASE)
_LOAN_NUMBER = re.compile(r"#?([0-9]{1,9})")  # ASCII digits only: int() would also take "١" or "1_0"


def loan_number(word: str) -> int | None:
    match = _LOAN_NUMBER.fullmatch(word)
    return int(match.group(1)) if match else None


def _number(args: Args, usage: str) -> tuple[int, str]:
    first, rest = args.split_first()
    n = loan_number(first)
    if n is None:
        raise Refused(f"Which loan? Usage: !loan {usage}")
    return n, rest.text.strip()


def _request(desk: Desk, actor: Actor, args: Args) -> Done:
    rest = args.text
    no_ship = bool(_NO_SHIP.search(rest))
    rest = _NO_SHIP.sub("", rest)
    weeks_match = _WEEKS.search(rest)
    rest = _WEEKS.sub("", rest)
    target, *purpose = rest.strip().split(None, 1) or [""]
    if not target:
        raise Refused("Usage: !loan request TARGET for PURPOSE [weeks N] — TARGET is an asset tag, a kind or a GPU "
                      "target (gfx1100, sm_90).")
    return desk.request(actor, target, without_for(" ".join(purpose)),
                        int(weeks_match.group(1)) if weeks_match else None, no_ship)


def without_for(purpose: str) -> str:
    """"for rocBLAS CI" -> "rocBLAS CI"; a lone "for" is no purpose at all."""
    return _FOR.sub("", purpose.strip())


def _with_number(usage: str, step: Callable[[Desk, Actor, int, str], Done]) -> Op:
    def op(desk: Desk, actor: Actor, args: Args) -> Done:
        n, remainder = _number(args, usage)
        return step(desk, actor, n, remainder)
    return op


def _extend(desk: Desk, actor: Actor, n: int, rest: str) -> Done:
    weeks = rest.split()[0] if rest.split() else ""
    if not re.fullmatch(r"[+-]?[0-9]{1,9}", weeks):
        raise Refused(f"By how many weeks? Usage: !loan extend {n} WEEKS")
    return desk.extend(actor, n, int(weeks))


def _address(desk: Desk, actor: Actor, n: int, rest: str) -> Done:
    return desk.give_details(actor, n, rest) if rest else desk.ask_details(actor, n)


def _approve(desk: Desk, actor: Actor, n: int, rest: str) -> Done:
    return desk.approve(actor, n, rest.split()[0] if rest.split() else None)


LOAN_OPS: dict[str, Op] = {
    "request": _request,
    "queue": lambda desk, actor, args: Done(views.queue(desk)),
    "list": lambda desk, actor, args: Done(views.listing(desk, actor, args.text.strip().lower() or "open")),
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
    "address": _with_number("address N [DETAILS in a direct message]", _address),
}
# Subcommands that need no loan number, so a direct message cannot tell the team from one.
_TEAM_WIDE = {"request", "queue", "list"}


def _fields_op(apply: Callable[[Desk, Actor, str, dict[str, str]], Done], usage: str, kind_word: bool) -> Op:
    def op(desk: Desk, actor: Actor, args: Args) -> Done:
        plain, fields = inventory.parse_fields(args.words())
        if not plain or len(plain) > 1 + kind_word:
            raise Refused(f"Usage: !hw {usage}")
        if len(plain) > 1 and "kind" not in fields:
            fields["kind"] = plain[1]
        return apply(desk, actor, plain[0], fields)
    return op


def _hw_show(desk: Desk, actor: Actor, args: Args) -> Done:
    asset = desk.asset(args.text.strip())  # refuses an unknown tag, naming it
    text = views.asset_show(desk, asset.tag) or asset.describe()
    return Done(text + "\n" + views.history(desk.store.events(asset=asset.tag, team=desk.team)[-3:]))


def _hw_retire(desk: Desk, actor: Actor, args: Args) -> Done:
    tag, note = args.split_first()
    if not tag:
        raise Refused("Usage: !hw retire TAG [NOTE]")
    return inventory.retire(desk, actor, tag, note.text)


HW_OPS: dict[str, Op] = {
    "add": _fields_op(inventory.add, "add TAG KIND [vendor=V model=M target=T memory=G serial=S donor=D "
                                     "custodian=C location=L notes=N]", True),
    "list": lambda desk, actor, args: Done(views.inventory(desk, args.text.strip().lower())),
    "show": _hw_show,
    "edit": _fields_op(inventory.edit, "edit TAG FIELD=VALUE ...", False),
    "retire": _hw_retire,
}


def _subcommand(args: str) -> tuple[str, str]:
    sub, *more = args.strip().split(None, 1) or [""]
    return sub.lower(), (more[0] if more else "")


def private_args(args: str) -> bool:
    """Whether `!loan`/`!hw` ARGS hold what must never be kept in the log or shown: shipping details.

    Read cleaned, as the desk reads what it stores, so invisible characters cannot hide an address.
    `!loan address N` alone asks for the address form's link: nothing private in it.
    """
    sub, rest = _subcommand(args)
    rest = clean_text(rest)
    if sub == "address" and rest and loan_number(rest) is None:
        return True
    return looks_private(rest)


def run_op(call: Call, ops: dict[str, Op], word: str) -> list[Effect | Publish]:
    sub, rest = _subcommand(call.args)
    room = call.message.room
    op = ops.get(sub)
    if op is None:
        return [Reply(room, f"Say !{word} {' / '.join(ops)}; !help {word} shows examples.")]
    if private_args(call.args) and not (sub == "address" and call.message.direct):
        # Anywhere but `!loan address` in a direct message, what is said may be shown in public later.
        # The dispatcher has stored this line scrubbed (private_args); the words live only here.
        return [Reply(room, HINT)]
    team = call.team or _team_of_direct(call, sub, rest)
    if team is None:
        return [Reply(room, f"Say !{word} {sub} in your team's room, or name the loan by its number.")]
    store = LoanStore(call.db)
    store.lock()
    desk = Desk(store, team.name, settings_of(team), call.message.time, form_base(call.config.web_public_url),
                private=call.message.direct)
    actor = desk.actor(call.speaker.id, call.message.nick, call.speaker.linked)
    try:
        with store.db.atomic():
            done = op(desk, actor, Args(rest))
    except Refused as refused:
        return [Reply(room, refused.text)]
    now = call.message.time
    return [Reply(room, done.text), *done.dms,
            Publish("loans.json", lambda: publish(LoanStore(call.db), team.name, team.notes_dir, now))]


def _team_of_direct(call: Call, sub: str, rest: str) -> Team | None:
    """In a direct message: the team of the loan named by number, or the only team there is."""
    teams = call.config.teams
    if sub in _TEAM_WIDE or sub not in LOAN_OPS:
        return teams[0] if len(teams) == 1 else None
    n = loan_number(Args(rest).split_first()[0])
    loan = LoanStore(call.db).loan(n) if n is not None else None
    return call.config.team(loan.team) if loan else (teams[0] if len(teams) == 1 else None)


@LOAN_COMMANDS.command(
    "loan",
    role=Role.ANYONE,
    scope=Scope.ROOM,
    direct=True,
    private=private_args,
    summary="hardware loans: ask, see the queue, and (loan admins) approve, ship and check in; "
            "shipping details in a direct message or a one-time private web form",
    # Subcommands are separated by ";" and choices by "/": a "|" would split the README's table cells.
    usage="loan request TARGET for PURPOSE [weeks N]; queue; list [mine/overdue/all]; show N; history N; "
          "approve N [ASSET]; reject N REASON; ship N [TRACKING]; received N; return N [TRACKING]; "
          "checkin N [CONDITION]; extend N WEEKS; withdraw N; lost N; address N [DETAILS in a direct message]",
    examples=("!loan request gfx1100 for rocBLAS CI https://github.com/ROCm/rocBLAS weeks 8",
              "!loan queue", "!loan approve 3 w7900-1", "!loan received 3", "!loan extend 3 4"),
)
def loan(call: Call) -> list[Effect | Publish]:
    return run_op(call, LOAN_OPS, "loan")


@LOAN_COMMANDS.command(
    "hw",
    role=Role.ANYONE,
    scope=Scope.ROOM,
    private=private_args,
    summary="the group's hardware inventory: everyone lists and shows; loan admins add, edit and retire",
    usage="hw list [KIND/TARGET/STATUS/all]; show TAG; add TAG KIND [FIELD=VALUE ...]; edit TAG FIELD=VALUE ...; "
          "retire TAG [NOTE]",
    examples=("!hw list gfx1100", "!hw add w7900-1 gpu vendor=AMD model=\"Radeon PRO W7900\" target=gfx1100 "
              "memory=48GB", "!hw edit w7900-1 status=maintenance"),
)
def hw(call: Call) -> list[Effect | Publish]:
    return run_op(call, HW_OPS, "hw")
