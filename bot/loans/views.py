"""Short answers about loans and the inventory, fit for IRC (a few lines, no tables).

Nothing here shows shipping details or serial numbers.
"""

from __future__ import annotations

from bot.loans.desk import Desk, ordinal
from bot.loans.model import ENDED, OUT, WAITING, Actor, Loan, State, position
from bot.loans.store import Event

MAX_LINES = 8


def loan_line(desk: Desk, loan: Loan, waiting: list[Loan]) -> str:
    tag = desk.asset_tag(loan)
    what = f"{loan.target}" + (f" → {tag}" if tag and tag.lower() != loan.target else "")
    text = f"#{loan.n} {what} for {loan.requester_name}: {loan.state}"
    place = position(loan, waiting)
    if place:
        text += f", {ordinal(place)} in the {loan.target} queue"
    if loan.state in OUT and loan.due:
        text += f", due {loan.due:%Y-%m-%d}"
        if loan.is_overdue(desk.now):
            text += f" (overdue {loan.days_overdue(desk.now)} days)"
    return text


def _capped(lines: list[str], empty: str, more: str) -> str:
    if not lines:
        return empty
    shown = lines[:MAX_LINES]
    if len(lines) > MAX_LINES:
        shown.append(f"… and {len(lines) - MAX_LINES} more ({more})")
    return "\n".join(shown)


def queue(desk: Desk) -> str:
    waiting = desk.waiting()
    return _capped([loan_line(desk, loan, waiting) for loan in waiting],
                   "The queue is empty. Ask with !loan request TARGET for PURPOSE.", "sigbot loans list")


def listing(desk: Desk, actor: Actor, which: str) -> str:
    loans = desk.store.loans(desk.team)
    if which == "mine":
        loans = [loan for loan in loans if loan.requester == actor.id]
    elif which == "overdue":
        loans = [loan for loan in loans if loan.is_overdue(desk.now)]
    elif which != "all":
        loans = [loan for loan in loans if loan.state not in ENDED]
    waiting = [loan for loan in desk.store.loans(desk.team) if loan.state in WAITING]
    label = {"mine": "You have no loans.", "overdue": "No loan is overdue."}.get(which, "There are no loans.")
    return _capped([loan_line(desk, loan, waiting) for loan in reversed(loans)], label, "sigbot loans list")


def show(desk: Desk, loan: Loan) -> str:
    lines = [loan_line(desk, loan, desk.waiting()),
             f"Purpose: {loan.purpose}" + (f" ({loan.link})" if loan.link and loan.link not in loan.purpose else ""),
             f"Asked {loan.submitted:%Y-%m-%d} for {loan.weeks} weeks"
             + (", to be shipped" if loan.shipping else ", no shipping")]
    if loan.extension_asked:
        lines.append(f"Asks for {loan.extension_asked} more weeks.")
    if loan.note and loan.state in (State.REJECTED, State.RETURNED, State.DAMAGED, State.SHIPPED,
                                    State.RETURN_SHIPPED):
        lines.append(f"Note: {loan.note}")
    return "\n".join(lines)


def history(events: list[Event]) -> str:
    lines = []
    for e in events:
        move = f" {e.from_state or '—'} → {e.to_state}" if e.to_state and e.from_state != e.to_state else ""
        note = f": {e.note}" if e.note else ""
        lines.append(f"{e.time:%Y-%m-%d %H:%M} {e.action}{move} by {e.actor}{note}")
    return "\n".join(lines[-MAX_LINES * 2:]) or "No history."


def inventory(desk: Desk, which: str) -> str:
    assets = desk.store.assets(desk.team)
    if which and which != "all":
        assets = [a for a in assets if a.matches(which) or a.status.value == which]
    elif which != "all":
        assets = [a for a in assets if a.status.value != "retired"]
    lines = [f"{a.describe()}: {a.status}" for a in assets]
    return _capped(
        lines,
        "No assets" + (f" matching {which}." if which else " yet. A loan admin adds them with !hw add."),
        "sigbot hw list",
    )


def asset_show(desk: Desk, tag: str) -> str | None:
    asset = desk.store.asset(desk.team, tag)
    if asset is None:
        return None
    lines = [f"{asset.describe()}: {asset.status}"]
    extra = [f"{k}: {getattr(asset, k)}" for k in ("donor", "custodian", "location", "notes") if getattr(asset, k)]
    if extra:
        lines.append("; ".join(extra))
    holder = desk.store.holder_of(asset.id)
    if holder:
        lines.append(f"Held by loan #{holder.n} ({holder.requester_name}, {holder.state})")
    return "\n".join(lines)
