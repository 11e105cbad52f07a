"""The loan state machine: assets, requests, their states, and who may take which step.

Pure: no SQL, no clock. `decide()` answers whether one step is allowed and
where it leads; a refusal names the current state and what can be done next.
Overdue is derived from the due date (`is_overdue`), never stored.

    submitted -> approved | rejected | withdrawn
    approved  -> allocated (an asset is reserved for it) | rejected | withdrawn
    allocated -> shipped | access-granted (lab access, accounts) | withdrawn | rejected
    shipped / access-granted -> active (the borrower confirms receipt)
    active    -> return-shipped -> returned | damaged (an admin checks it in) -> closed
    any loan holding an asset -> lost; extend moves the due date of a loan that is out.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from bot.core.record import record


class Kind(StrEnum):
    GPU = "gpu"
    MACHINE = "machine"
    LAB_ACCESS = "lab-access"
    ACCOUNT = "account"


# Kinds that are granted, not posted: `ship` makes them access-granted.
ACCESS_KINDS = frozenset({Kind.LAB_ACCESS, Kind.ACCOUNT})


class AssetStatus(StrEnum):
    AVAILABLE = "available"
    RESERVED = "reserved"
    ON_LOAN = "on-loan"
    MAINTENANCE = "maintenance"
    MISSING = "missing"
    RETIRED = "retired"


# Statuses an admin may set by hand; reserved and on-loan follow the loans.
MANUAL_STATUSES = frozenset({AssetStatus.AVAILABLE, AssetStatus.MAINTENANCE, AssetStatus.MISSING})


class State(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    ALLOCATED = "allocated"
    SHIPPED = "shipped"
    ACCESS_GRANTED = "access-granted"
    ACTIVE = "active"
    RETURN_SHIPPED = "return-shipped"
    RETURNED = "returned"
    DAMAGED = "damaged"
    LOST = "lost"
    CLOSED = "closed"


WAITING = frozenset({State.SUBMITTED, State.APPROVED})  # in the queue
HOLDING = frozenset({State.ALLOCATED, State.SHIPPED, State.ACCESS_GRANTED, State.ACTIVE, State.RETURN_SHIPPED})
OUT = frozenset({State.SHIPPED, State.ACCESS_GRANTED, State.ACTIVE})  # with the borrower: has a due date
ENDED = frozenset({State.REJECTED, State.WITHDRAWN, State.RETURNED, State.DAMAGED, State.LOST, State.CLOSED})


class Step(StrEnum):
    APPROVE = "approve"
    ALLOCATE = "allocate"
    REJECT = "reject"
    WITHDRAW = "withdraw"
    SHIP = "ship"
    RECEIVED = "received"
    RETURN = "return"
    CHECKIN = "checkin"
    EXTEND = "extend"
    ASK_EXTENSION = "ask-extension"
    LOST = "lost"
    CLOSE = "close"


class Who(StrEnum):
    REQUESTER = "requester"  # the borrower (a loan admin may act for them)
    ADMIN = "admin"  # a loan admin
    SYSTEM = "system"  # sigbot itself (closing finished loans)


@record
class Rule:
    sources: frozenset[State]
    who: Who


RULES: dict[Step, Rule] = {
    Step.APPROVE: Rule(frozenset({State.SUBMITTED}), Who.ADMIN),
    Step.ALLOCATE: Rule(frozenset({State.APPROVED}), Who.ADMIN),
    Step.REJECT: Rule(frozenset({State.SUBMITTED, State.APPROVED, State.ALLOCATED}), Who.ADMIN),
    Step.WITHDRAW: Rule(frozenset({State.SUBMITTED, State.APPROVED, State.ALLOCATED}), Who.REQUESTER),
    Step.SHIP: Rule(frozenset({State.ALLOCATED}), Who.ADMIN),
    Step.RECEIVED: Rule(frozenset({State.SHIPPED, State.ACCESS_GRANTED}), Who.REQUESTER),
    Step.RETURN: Rule(OUT, Who.REQUESTER),
    Step.CHECKIN: Rule(OUT | {State.RETURN_SHIPPED}, Who.ADMIN),
    Step.EXTEND: Rule(OUT, Who.ADMIN),
    Step.ASK_EXTENSION: Rule(OUT, Who.REQUESTER),
    Step.LOST: Rule(HOLDING, Who.ADMIN),
    Step.CLOSE: Rule(frozenset({State.RETURNED, State.DAMAGED}), Who.SYSTEM),
}

# The command that takes each step, for "what can be done next" answers.
COMMAND_OF: dict[Step, str] = {
    Step.APPROVE: "!loan approve {n} [ASSET]", Step.ALLOCATE: "!loan approve {n} ASSET",
    Step.REJECT: "!loan reject {n} REASON", Step.WITHDRAW: "!loan withdraw {n}",
    Step.SHIP: "!loan ship {n} [TRACKING]", Step.RECEIVED: "!loan received {n}",
    Step.RETURN: "!loan return {n} [TRACKING]", Step.CHECKIN: "!loan checkin {n} [CONDITION]",
    Step.EXTEND: "!loan extend {n} WEEKS", Step.ASK_EXTENSION: "!loan extend {n} WEEKS",
    Step.LOST: "!loan lost {n}",
}


@record
class Asset:
    id: int
    team: str
    tag: str
    kind: Kind
    vendor: str = ""
    model: str = ""
    target: str = ""  # GPU target (gfx1100, sm_90) where it applies
    memory: str = ""
    serial: str = ""  # never published
    donor: str = ""
    custodian: str = ""
    location: str = ""
    status: AssetStatus = AssetStatus.AVAILABLE
    notes: str = ""

    def matches(self, wanted: str) -> bool:
        """Whether this asset can serve a request for `wanted` (a tag, a kind or a GPU target)."""
        wanted = wanted.lower()
        return wanted in (self.tag.lower(), self.kind.value, self.target.lower())

    def describe(self) -> str:
        parts = [self.vendor, self.model, self.target, self.memory]
        return f"{self.tag} ({self.kind}: {' '.join(p for p in parts if p) or 'no details'})"


@record
class Loan:
    n: int
    team: str
    requester: str  # Matrix ID or irc:ACCOUNT
    requester_name: str  # the display name when asked
    target: str  # an asset tag, a kind or a GPU target, as asked (lower-case)
    purpose: str
    weeks: int
    shipping: bool
    state: State
    submitted: datetime
    link: str = ""
    asset_id: int | None = None
    due: datetime | None = None
    shipped_at: datetime | None = None
    checked_in_at: datetime | None = None
    extension_asked: int = 0
    note: str = ""  # the latest reason, tracking number or condition

    def is_overdue(self, now: datetime) -> bool:
        return self.state in OUT and self.due is not None and now > self.due

    def days_overdue(self, now: datetime) -> int:
        return (now - self.due).days if self.is_overdue(now) and self.due else 0


@record
class Actor:
    id: str  # Matrix ID, irc:ACCOUNT, nick!user@host, or "sigbot"
    name: str
    admin: bool
    system: bool = False
    linked: frozenset[str] = frozenset()  # the person's identity on the other network (`!linkto`)

    def is_(self, identity: str) -> bool:
        """Whether `identity` is this person's, on either network: a linked borrower's loan is theirs on both."""
        return identity == self.id or identity in self.linked


@record
class Refusal:
    text: str


def may(step: Step, loan: Loan, actor: Actor) -> bool:
    """Whether `actor` is someone who may take `step` on `loan` (whatever its state)."""
    who = RULES[step].who
    if actor.system:
        return True
    if who is Who.SYSTEM:
        return False
    if who is Who.ADMIN:
        return actor.admin
    return actor.admin or actor.is_(loan.requester)


def next_steps(loan: Loan, actor: Actor) -> list[str]:
    """The commands `actor` could use on `loan` now."""
    seen: list[str] = []
    for step, rule in RULES.items():
        if loan.state in rule.sources and step in COMMAND_OF and may(step, loan, actor):
            if step is Step.ASK_EXTENSION and actor.admin:
                continue
            text = COMMAND_OF[step].format(n=loan.n)
            if text not in seen:
                seen.append(text)
    return seen


def decide(step: Step, loan: Loan, actor: Actor, condition: str = "") -> State | Refusal:
    """The state `step` leads to, or why it may not be taken now."""
    rule = RULES[step]
    if not may(step, loan, actor):
        whom = "a loan admin" if rule.who is Who.ADMIN else f"{loan.requester_name} (who asked) or a loan admin"
        return Refusal(f"Only {whom} can {step.value} loan #{loan.n}. {_next(loan, actor)}")
    if loan.state not in rule.sources:
        return Refusal(f"Loan #{loan.n} is {loan.state}, so it cannot be {_past(step)}. {_next(loan, actor)}")
    return target_state(step, loan, condition)


def target_state(step: Step, loan: Loan, condition: str = "") -> State:
    if step is Step.SHIP:
        return State.SHIPPED if loan.shipping else State.ACCESS_GRANTED
    if step is Step.CHECKIN:
        return State.DAMAGED if condition.lower().startswith(("damaged", "broken")) else State.RETURNED
    return {
        Step.APPROVE: State.APPROVED, Step.ALLOCATE: State.ALLOCATED, Step.REJECT: State.REJECTED,
        Step.WITHDRAW: State.WITHDRAWN, Step.RECEIVED: State.ACTIVE, Step.RETURN: State.RETURN_SHIPPED,
        Step.LOST: State.LOST, Step.CLOSE: State.CLOSED,
    }.get(step, loan.state)  # extending keeps the state


def asset_status_after(state: State) -> AssetStatus | None:
    """What the loan's asset becomes when the loan enters `state` (None: unchanged)."""
    return {
        State.ALLOCATED: AssetStatus.RESERVED, State.SHIPPED: AssetStatus.ON_LOAN,
        State.ACCESS_GRANTED: AssetStatus.ON_LOAN, State.RETURNED: AssetStatus.AVAILABLE,
        State.DAMAGED: AssetStatus.MAINTENANCE, State.LOST: AssetStatus.MISSING,
        State.WITHDRAWN: AssetStatus.AVAILABLE, State.REJECTED: AssetStatus.AVAILABLE,
    }.get(state)


def _past(step: Step) -> str:
    return {Step.SHIP: "shipped", Step.RECEIVED: "confirmed as received", Step.RETURN: "sent back",
            Step.CHECKIN: "checked in", Step.EXTEND: "extended", Step.ASK_EXTENSION: "extended",
            Step.LOST: "marked lost", Step.ALLOCATE: "given an asset", Step.CLOSE: "closed",
            Step.APPROVE: "approved", Step.REJECT: "rejected", Step.WITHDRAW: "withdrawn"}[step]


def _next(loan: Loan, actor: Actor) -> str:
    steps = next_steps(loan, actor)
    if steps:
        return "Next: " + ", ".join(steps) + "."
    if loan.state in ENDED:
        return "It is over; ask anew with !loan request."
    if loan.state is State.APPROVED:
        return "It waits in the queue for a free asset; a loan admin allocates one."
    return "A loan admin takes the next step."


def position(loan: Loan, waiting: list[Loan]) -> int | None:
    """1-based place of `loan` in its queue (same target, submitted first); None when not waiting."""
    if loan.state not in WAITING:
        return None
    same = sorted((w for w in waiting if w.team == loan.team and w.target == loan.target and w.state in WAITING),
                  key=lambda w: w.n)
    return next((i for i, w in enumerate(same, 1) if w.n == loan.n), None)
