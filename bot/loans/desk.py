"""The loan desk: carries out one step of one loan, for chat and CLI alike.

Each method checks the step with the pure model, writes it with conditional
updates (a loan moves only from the state it was read in; an asset is taken
only while available), records the event, and returns the public answer plus
the direct messages it causes. A refused step raises `Refused` with an answer
that names the current state and what can be done next. Callers hold a
transaction around a call, and call `LoanStore.lock()` first.

The desk is where text from people enters the record, whichever face it came
through (chat, the CLI, a CSV file): every free text passes `free_text()`,
which cleans it (bot/core/text.py), bounds it and refuses an address or phone
number; names pass `display_name()`. So no path can store what another refuses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.core.message import DirectMessage
from bot.core.privacy import HINT, looks_private
from bot.core.text import clean_text
from bot.loans.config import LoanSettings
from bot.loans.links import LINK_MINUTES, form_link, new_token, token_hash
from bot.loans.model import (
    ACCESS_KINDS,
    HOLDING,
    OUT,
    WAITING,
    Actor,
    Asset,
    AssetStatus,
    Kind,
    Loan,
    Refusal,
    State,
    Step,
    asset_status_after,
    decide,
    position,
)
from bot.loans.store import LoanStore

_URL = re.compile(r"https?://\S+")
SYSTEM = Actor("sigbot", "sigbot", admin=True, system=True)
MAX_TEXT = 500  # a purpose, reason, tracking number, condition or inventory field: one chat line's worth
MAX_DETAILS = 1000  # shipping details: a postal address and a phone number, a few lines
MAX_NAME = 80  # a display name as stored and shown; longer ones are cut, not refused
MAX_WORD = 64  # an asset tag or a requested target


class Refused(Exception):
    """A step that may not be taken; `text` is the answer for the person who asked."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


class Private(Refused):
    """Text that looks like an address or contact details, given where it would be kept in public."""

    def __init__(self) -> None:
        super().__init__(HINT)


def free_text(text: str, what: str, *, public: bool = True) -> str:
    """Free text for the loans' record, which chat, loans.json and the CLI show: cleaned and bounded.

    Refused when longer than MAX_TEXT; `Private` when it is `public` and looks
    like an address or phone number (those go only to `!loan address`, in a
    direct message).
    """
    text = clean_text(text)
    if len(text) > MAX_TEXT:
        raise Refused(f"That {what} has {len(text)} characters; {MAX_TEXT} at most. Shorten it (a link can carry "
                      f"the rest).")
    if public and looks_private(text):
        raise Private()
    return text


def one_word(text: str, what: str) -> str:
    """An asset tag or a requested target: one word of at most MAX_WORD characters, cleaned."""
    word = clean_text(text)
    if not word or " " in word or "=" in word or len(word) > MAX_WORD:
        raise Refused(f"{word[:MAX_WORD]!r} is not {what}: one word of at most {MAX_WORD} characters, like w7900-1 "
                      f"or gfx1100.")
    return word


def display_name(name: str, fallback: str) -> str:
    """A person's name as shown in answers and loans.json: cleaned, cut to MAX_NAME, never empty."""
    name = clean_text(name)
    return (name if len(name) <= MAX_NAME else name[:MAX_NAME - 1] + "…") or fallback


@dataclass
class Done:
    text: str
    dms: list[DirectMessage] = field(default_factory=list)


def stable_identity(who: str) -> bool:
    """A Matrix ID, an IRC services account or a CLI user; never an IRC nick!user@host, which anyone can take."""
    return who.startswith(("@", "irc:", "cli:")) and "!" not in who


def ordinal(k: int) -> str:
    return f"{k}{'th' if 10 <= k % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(k % 10, 'th')}"


class Desk:
    """One team's desk at one moment.

    `form` is the base URL of the address form (bot/loans/links.py) where it is
    offered, else None; `private` says the answer is read by the asker alone (a
    direct message), the only place shipping details are shown.
    """

    def __init__(self, store: LoanStore, team: str, settings: LoanSettings, now: datetime,
                 form: str | None = None, private: bool = False):
        self.store = store
        self.team = team
        self.settings = settings
        self.now = now
        self.form = form
        self.private = private

    def actor(self, who: str, name: str, linked: frozenset[str] = frozenset()) -> Actor:
        """The person speaking; a loan admin by any of their identities (`linked`: the other network's)."""
        admin = not (linked | {who}).isdisjoint(self.settings.admins)
        return Actor(who, display_name(name, who), admin=admin, linked=linked)

    # --- reading -------------------------------------------------------------

    def loan(self, n: int) -> Loan:
        loan = self.store.loan(n) if 0 < n < 2**63 else None  # SQLite's integers are 64-bit
        if loan is None or loan.team != self.team:
            raise Refused(f"There is no loan #{n}. Say !loan list to see the loans.")
        return loan

    def waiting(self) -> list[Loan]:
        return self.store.loans(self.team, WAITING)

    def position(self, loan: Loan) -> int | None:
        return position(loan, self.waiting())

    # --- the requester's steps ----------------------------------------------

    def request(self, actor: Actor, target: str, purpose: str, weeks: int | None, no_shipping: bool) -> Done:
        """`weeks` None means the team's default; every other value must be 1 to max_weeks."""
        target = one_word(target, "an asset tag, a kind or a GPU target").lower()
        kind = self._kind_of(target)
        if not stable_identity(actor.id):
            raise Refused("Identify with NickServ first: loans are kept by IRC account, not by nick.")
        weeks = self.settings.default_weeks if weeks is None else weeks
        if not 1 <= weeks <= self.settings.max_weeks:
            raise Refused(f"A loan lasts 1 to {self.settings.max_weeks} weeks; you asked for {weeks}.")
        purpose = free_text(purpose, "purpose")
        if not purpose:
            raise Refused("Say what it is for: !loan request TARGET for PURPOSE [weeks N]")
        link = (_URL.search(purpose) or [""])[0] if _URL.search(purpose) else ""
        shipping = not no_shipping and kind not in ACCESS_KINDS
        loan = self.store.add_loan(self.team, actor.id, display_name(actor.name, actor.id), target, purpose, link,
                                   weeks, shipping, self.now)
        self.store.add_event(self.team, actor.id, self.now, "request", loan=loan.n, to_state=State.SUBMITTED,
                             note=f"{target}, {weeks} weeks")
        place = self.position(loan)
        return Done(f"Loan request #{loan.n} for {target} ({weeks} weeks) is submitted; "
                    f"it is {ordinal(place or 1)} in the {target} queue. A loan admin will approve or reject it.")

    def withdraw(self, actor: Actor, n: int) -> Done:
        loan = self._step(Step.WITHDRAW, n, actor)
        return self._freed(loan, actor, f"Loan #{n} is withdrawn.", f"Loan #{n} was withdrawn.")

    def received(self, actor: Actor, n: int) -> Done:
        loan = self._step(Step.RECEIVED, n, actor)
        return Done(f"Loan #{n} is active: enjoy it, and give it back by {_day(loan.due)}.")

    def return_(self, actor: Actor, n: int, tracking: str) -> Done:
        tracking = free_text(tracking, "tracking number")
        loan = self._step(Step.RETURN, n, actor, note=tracking)
        return Done(f"Loan #{n} is on its way back{_with(tracking)}; a loan admin checks it in when it arrives.",
                    self._tell_admins(actor, f"Loan #{n} ({self.asset_tag(loan)}) is on its way back"
                                             f"{_with(tracking)}. Check it in with !loan checkin {n} [CONDITION]."))

    # --- the admins' steps ---------------------------------------------------

    def approve(self, actor: Actor, n: int, tag: str | None) -> Done:
        loan = self.loan(n)
        if loan.state is State.APPROVED and tag:  # a waiting request gets an asset by hand
            return self._allocate_by_hand(actor, loan, tag)
        if tag:
            asset = self.asset(tag)
            if asset.status is not AssetStatus.AVAILABLE:
                raise Refused(self._busy(asset))
        self._step(Step.APPROVE, n, actor)
        if tag:
            return self._allocate_by_hand(actor, self.loan(n), tag)
        allocated = self.allocate_waiting()
        dms = self._tell_requester(loan, actor, f"Loan #{n} ({loan.target}) is approved.")
        mine = [d for d in allocated if d[0].n == n]
        if mine:
            return Done(f"Loan #{n} is approved and {mine[0][1]} is reserved for it.", dms + self.allocated_dms(mine))
        place = self.position(self.loan(n))
        return Done(f"Loan #{n} is approved; it waits {ordinal(place or 1)} in the {loan.target} queue for a free "
                    f"asset.", dms + self.allocated_dms(allocated))

    def reject(self, actor: Actor, n: int, reason: str) -> Done:
        refusal = decide(Step.REJECT, self.loan(n), actor)
        if isinstance(refusal, Refusal):
            raise Refused(refusal.text)
        reason = free_text(reason, "reason")
        if not reason:
            raise Refused(f"Give a reason: !loan reject {n} REASON (the requester is told it).")
        loan = self._step(Step.REJECT, n, actor, note=reason)
        return self._freed(loan, actor, f"Loan #{n} is rejected: {reason}",
                           f"Loan #{n} ({loan.target}) was rejected: {reason}")

    def ship(self, actor: Actor, n: int, tracking: str) -> Done:
        tracking = free_text(tracking, "tracking number")
        loan = self.loan(n)
        due = self.now + timedelta(weeks=loan.weeks)
        loan = self._step(Step.SHIP, n, actor, note=tracking, due=due, shipped_at=self.now)
        what = "shipped" if loan.shipping else "granted"
        text = (f"Loan #{n} ({self.asset_tag(loan)}) is {what}{_with(tracking)}; due back {_day(due)}. "
                f"Say !loan received {n} when you have it.")
        return Done(f"Loan #{n} is {what}{_with(tracking)}; due {_day(due)}.", self._tell_requester(loan, actor, text))

    def checkin(self, actor: Actor, n: int, condition: str) -> Done:
        condition = free_text(condition, "condition")
        loan = self._step(Step.CHECKIN, n, actor, note=condition or "ok", checked_in_at=self.now)
        self.store.expire_private(n, self.now + timedelta(days=self.settings.address_retention_days))
        return self._freed(loan, actor, f"Loan #{n} is checked in ({loan.state}"
                                        f"{': ' + condition if condition else ''}). Thank you!",
                           f"Loan #{n} is checked in. Thank you!")

    def extend(self, actor: Actor, n: int, weeks: int) -> Done:
        loan = self.loan(n)
        if not 1 <= weeks <= self.settings.max_weeks:
            raise Refused(f"Extend by 1 to {self.settings.max_weeks} weeks: !loan extend {n} WEEKS")
        if not actor.admin:  # the borrower asks; an admin decides
            self._step(Step.ASK_EXTENSION, n, actor, note=f"{weeks} weeks", extension_asked=weeks)
            return Done(f"Loan #{n}: your wish for {weeks} more weeks is passed on to the loan admins.",
                        self._tell_admins(actor, f"{actor.name} asks to extend loan #{n} by {weeks} weeks "
                                                 f"(due {_day(loan.due)}). Grant it with !loan extend {n} {weeks}."))
        if loan.state in OUT and loan.due and loan.shipped_at:
            limit = loan.shipped_at + timedelta(weeks=self.settings.max_weeks)
            new_due = loan.due + timedelta(weeks=weeks)
            if new_due > limit:
                raise Refused(f"Loan #{n} is due {_day(loan.due)}; loans last at most {self.settings.max_weeks} "
                              f"weeks, so it can be extended to {_day(limit)} at the latest.")
        else:
            new_due = None
        loan = self._step(Step.EXTEND, n, actor, note=f"+{weeks} weeks", due=new_due, extension_asked=0)
        return Done(f"Loan #{n} is extended; due {_day(loan.due)}.",
                    self._tell_requester(loan, actor, f"Loan #{n} is extended; now due {_day(loan.due)}."))

    def lost(self, actor: Actor, n: int) -> Done:
        loan = self._step(Step.LOST, n, actor)
        return Done(f"Loan #{n} is marked lost; {self.asset_tag(loan)} is missing from the inventory.")

    def close(self, n: int) -> None:
        """sigbot closes a checked-in loan once its retention time is over."""
        self._step(Step.CLOSE, n, SYSTEM, note="shipping details deleted")

    # --- private details, only ever in a direct message ----------------------

    def give_details(self, actor: Actor, n: int, details: str) -> Done:
        """The borrower's shipping details, said in a direct message or typed into the address form."""
        self._needs_details(actor, n)
        # Private, so no address guard here; still cleaned (bidi controls) and bounded, line breaks kept.
        details = clean_text(details, keep_lines=True)
        if not details or len(details) > MAX_DETAILS:
            raise Refused(f"Shipping details are a name, a postal address and a phone number, at most {MAX_DETAILS} "
                          f"characters: !loan address {n} DETAILS")
        # Kept until the loan is checked in plus the retention time; the longest a loan can run bounds it.
        expires = self.now + timedelta(weeks=self.settings.max_weeks + 4,
                                       days=self.settings.address_retention_days)
        self.store.set_private(n, details, self.now, expires)
        self.store.add_event(self.team, actor.id, self.now, "details", loan=n, note="shipping details given")
        return Done(f"Thank you: the shipping details of loan #{n} are stored privately and deleted "
                    f"{self.settings.address_retention_days} days after the loan is checked in.",
                    self._tell_admins(actor, f"Loan #{n}: shipping details received. Say !loan address {n} "
                                             f"here to read them."))

    def ask_details(self, actor: Actor, n: int) -> Done:
        """`!loan address N`: the borrower gets a link to the address form; a loan admin reads the details.

        The link goes to the borrower's own identity (their Matrix ID, or whoever
        is logged in to their IRC services account now), never to the room it was
        asked in, so asking in public gives nothing away.
        """
        loan = self.loan(n)
        if not actor.is_(loan.requester) and actor.admin:
            if not self.private:
                raise Refused(f"Shipping details are shown only in a direct message: say !loan address {n} to me "
                              f"there.")
            return self.read_details(actor, n)
        if not actor.is_(loan.requester):
            if not stable_identity(actor.id):
                raise Refused(f"Identify with NickServ first: loan #{n} is kept by IRC account, not by nick.")
            raise Refused("Only a loan admin or the borrower can ask for a loan's shipping details.")
        loan = self._needs_details(actor, n)
        if self.form is None:  # no https address to offer a form at: the direct-chat path
            where = "here" if self.private else "in a direct message with me"
            return Done(f"Send me the shipping details of loan #{n} {where}: !loan address {n} NAME, STREET, CITY, "
                        f"COUNTRY, PHONE")
        token = new_token()
        self.store.add_address_link(token_hash(token), n, loan.requester, self.now,
                                    self.now + timedelta(minutes=LINK_MINUTES))
        self.store.add_event(self.team, actor.id, self.now, "details-link", loan=n, note="address form link sent")
        # Sent as a Markdown autolink: "_" in a token would otherwise be read as emphasis (on Matrix, and
        # as italics on IRC) and break the link.
        link = form_link(self.form, n, token)
        return Done(f"Loan #{n}: I have sent you a private link to a form for the shipping details. It works once, "
                    f"for {LINK_MINUTES} minutes.",
                    [DirectMessage(loan.requester, f"Loan #{n}: type your shipping details (name, postal address, "
                                                   f"phone) into this form, once, within {LINK_MINUTES} minutes: "
                                                   f"<{link}>")])

    def _needs_details(self, actor: Actor, n: int) -> Loan:
        """The loan, when `actor` is its borrower and it may still be shipped; else Refused."""
        loan = self.loan(n)
        if not actor.is_(loan.requester):
            raise Refused(f"Only {loan.requester_name}, who asked for loan #{n}, can give its shipping details.")
        if loan.state in {State.REJECTED, State.WITHDRAWN, State.CLOSED, State.LOST}:
            raise Refused(f"Loan #{n} is {loan.state}: it needs no shipping details.")
        return loan

    def read_details(self, actor: Actor, n: int) -> Done:
        loan = self.loan(n)
        if not actor.admin and not actor.is_(loan.requester):
            raise Refused("Only a loan admin or the borrower can read a loan's shipping details.")
        details = self.store.private(n)
        if details is None:
            return Done(f"Loan #{n} has no shipping details (none given, or deleted after the loan).")
        return Done(f"Loan #{n} ships to:\n{details}")

    # --- allocation ----------------------------------------------------------

    def allocate_waiting(self) -> list[tuple[Loan, str]]:
        """Give free assets to approved requests, first come first served; returns (loan, tag) pairs."""
        done = []
        for loan in self.store.loans(self.team, [State.APPROVED]):
            for asset in self.store.assets(self.team):
                if asset.status is AssetStatus.AVAILABLE and asset.matches(loan.target):
                    if self._take(SYSTEM, loan, asset.id, asset.tag):
                        done.append((self.loan(loan.n), asset.tag))
                        break
        return done

    def _freed(self, loan: Loan, actor: Actor, public: str, to_requester: str) -> Done:
        """A loan let go of its asset (or its place): the next in line may get one now."""
        allocated = self.allocate_waiting()
        return Done(public, self._tell_requester(loan, actor, to_requester) + self.allocated_dms(allocated))

    def _allocate_by_hand(self, actor: Actor, loan: Loan, tag: str) -> Done:
        decision = decide(Step.ALLOCATE, loan, actor)
        if isinstance(decision, Refusal):
            raise Refused(decision.text)
        asset = self.asset(tag)
        if not self._take(actor, loan, asset.id, asset.tag):
            raise Refused(self._busy(self.store.asset_by_id(asset.id)))
        loan = self.loan(loan.n)
        return Done(f"Loan #{loan.n} is approved and {asset.tag} is reserved for it.",
                    self._tell_requester(loan, actor, f"Loan #{loan.n} ({loan.target}) is approved.")
                    + self.allocated_dms([(loan, asset.tag)]))

    def _take(self, actor: Actor, loan: Loan, asset_id: int, tag: str) -> bool:
        """Reserve the asset and move the loan, both or neither: exactly one of two racing admins wins."""
        with self.store.db.atomic():
            if not self.store.take_asset(asset_id):
                return False
            if not self.store.move(loan.n, State.APPROVED, State.ALLOCATED, asset_id=asset_id):
                raise Refused(f"Loan #{loan.n} changed meanwhile; say !loan show {loan.n}.")
            self.store.add_event(self.team, actor.id, self.now, Step.ALLOCATE, loan=loan.n, asset=tag,
                                 from_state=State.APPROVED, to_state=State.ALLOCATED, note=tag)
        return True

    def allocated_dms(self, allocated: list[tuple[Loan, str]]) -> list[DirectMessage]:
        out = []
        for loan, tag in allocated:
            form = f" Say !loan address {loan.n} for a one-time link to a private form for them, or send" \
                if self.form else " Send"
            ask = (f"{form} me your shipping address and a phone number here, in this direct chat, as: "
                   f"!loan address {loan.n} NAME, STREET, CITY, COUNTRY, PHONE") if loan.shipping else ""
            out.append(DirectMessage(loan.requester, f"Loan #{loan.n}: {tag} is reserved for you.{ask}"))
        return out

    # --- helpers -------------------------------------------------------------

    def _step(self, step: Step, n: int, actor: Actor, note: str = "", **fields: object) -> Loan:
        loan = self.loan(n)
        decision = decide(step, loan, actor, condition=note)
        if isinstance(decision, Refusal):
            raise Refused(decision.text)
        if fields.get("due", 0) is None:
            del fields["due"]
        if not self.store.move(n, loan.state, decision, note=note or loan.note, **fields):
            raise Refused(f"Loan #{n} changed meanwhile; say !loan show {n}.")
        status = asset_status_after(decision)
        if loan.asset_id is not None and status is not None and loan.state in HOLDING:
            self.store.set_asset_status(loan.asset_id, status, (AssetStatus.RESERVED, AssetStatus.ON_LOAN))
        self.store.add_event(self.team, actor.id, self.now, step, loan=n, asset=self.asset_tag(loan) or None,
                             from_state=loan.state, to_state=decision, note=note)
        return self.loan(n)

    def asset(self, tag: str) -> Asset:
        asset = self.store.asset(self.team, tag)
        if asset is None:  # the tag as given may hold anything: shown cleaned and quoted
            raise Refused(f"There is no asset {clean_text(tag)[:MAX_WORD]!r}. Say !hw list to see the inventory.")
        return asset

    def asset_tag(self, loan: Loan) -> str:
        return self.store.asset_by_id(loan.asset_id).tag if loan.asset_id else ""

    def _busy(self, asset: Asset) -> str:
        holder = self.store.holder_of(asset.id)
        by = f" for loan #{holder.n}" if holder else ""
        return f"{asset.tag} is {asset.status}{by}, not available. Say !hw list to see what is free."

    def _kind_of(self, target: str) -> Kind:
        """The kind of what the team lends as `target`; refused, naming what it has, when nothing matches.

        A request for a target nobody owns would wait in the queue for ever, so it is answered at once.
        """
        live = [a for a in self.store.assets(self.team) if a.status is not AssetStatus.RETIRED]
        for asset in live:
            if asset.matches(target):
                return asset.kind
        if not live:
            raise Refused(f"There is nothing to lend yet, so nothing matches {target!r}: the inventory is empty.")
        kinds = sorted({a.kind.value for a in live})
        targets = sorted({a.target.lower() for a in live if a.target})
        there = f"kinds {_some(kinds)}" + (f"; GPU targets {_some(targets)}" if targets else "")
        raise Refused(f"Nothing here matches {target!r}. Ask for an asset tag (see !hw list) or one of what the "
                      f"inventory has: {there}.")

    def _tell_requester(self, loan: Loan, actor: Actor, text: str) -> list[DirectMessage]:
        return [] if actor.is_(loan.requester) else [DirectMessage(loan.requester, text)]

    def _tell_admins(self, actor: Actor, text: str) -> list[DirectMessage]:
        return [DirectMessage(a, text) for a in self.settings.admins if not actor.is_(a)]


def _some(words: list[str], most: int = 10) -> str:
    return ", ".join(words[:most]) + (f" and {len(words) - most} more" if len(words) > most else "")


def _with(tracking: str) -> str:
    return f" (tracking: {tracking})" if tracking else ""


def _day(when: datetime | None) -> str:
    return f"{when:%Y-%m-%d}" if when else "no date yet"
