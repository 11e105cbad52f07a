"""The loan state machine as a whole: random steps by random people never break its rules."""

from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from bot.loans import inventory
from bot.loans.config import LoanSettings
from bot.loans.desk import Desk, Refused
from bot.loans.model import HOLDING, RULES, Actor, AssetStatus, Loan, Refusal, State, Step, Who, decide
from bot.loans.store import LoanStore
from bot.storage import open_store

ADMINS = ("@admin:x", "irc:admin2")
REQUESTERS = ("@ada:x", "@bob:x", "irc:carol")
STRANGERS = ("@mallory:x", "mallory!m@host")  # a bare IRC nick is never anyone's identity
PEOPLE = ADMINS + REQUESTERS + STRANGERS
TAGS = ("w7900-1", "w7900-2", "mi210-1", "lab-1")
TARGETS = ("gfx1100", "gfx90a", "gpu", "lab-access", "w7900-1", "mi210-1")
ASSET_STEPS = {"hw-add", "hw-edit", "hw-retire"}
# Mostly the people who run and use the programme, sometimes a stranger; mostly the first few loans.
ACTORS = st.sampled_from(ADMINS * 3 + REQUESTERS * 2 + STRANGERS)
LOANS = st.integers(1, 4)
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)


def test_nobody_but_a_loan_admin_can_take_an_admin_step_in_any_state():
    for step, step_rule in RULES.items():
        for state in State:
            loan = Loan(1, "wg", "@ada:x", "Ada", "gpu", "tests", 4, True, state, T0)
            for who in PEOPLE:
                actor = Actor(who, who, admin=who in ADMINS)
                result = decide(step, loan, actor)
                allowed = not isinstance(result, Refusal)
                if allowed:
                    assert state in step_rule.sources
                if step_rule.who is Who.ADMIN and not actor.admin or step_rule.who is Who.SYSTEM:
                    assert not allowed
                if step_rule.who is Who.REQUESTER and who not in ADMINS and who != "@ada:x":
                    assert not allowed
                if isinstance(result, Refusal):
                    assert f"#{loan.n}" in result.text


STEP_NAMES = {
    Step.APPROVE: "approve",
    Step.ALLOCATE: "allocate",
    Step.REJECT: "reject",
    Step.WITHDRAW: "withdraw",
    Step.SHIP: "ship",
    Step.RECEIVED: "received",
    Step.RETURN: "return",
    Step.CHECKIN: "checkin",
    Step.EXTEND: "extend",
    Step.LOST: "lost",
    Step.CLOSE: "close",
}

ENDINGS = {"reject", "withdraw", "lost"}


class LendingProgramme(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.store = LoanStore(open_store(":memory:").db)
        self.settings = LoanSettings(admins=ADMINS, default_weeks=4, max_weeks=12)
        self.now = T0

    def desk(self) -> Desk:
        self.now += timedelta(hours=7)
        return Desk(self.store, "wg", self.settings, self.now)

    def attempt(self, action) -> None:
        desk = self.desk()
        try:
            with self.store.db.atomic():
                action(desk)
        except Refused as refused:
            assert refused.text

    @initialize()
    def some_hardware(self):
        for tag in TAGS[:2]:
            self.add_asset(tag, ADMINS[0])

    @rule(tag=st.sampled_from(TAGS), who=st.sampled_from(PEOPLE))
    def add_asset(self, tag, who):
        kind, target = ("lab-access", "") if tag.startswith("lab") else ("gpu", "gfx90a" if "mi" in tag else "gfx1100")
        self.attempt(lambda d: inventory.add(d, d.actor(who, who), tag, {"kind": kind, "target": target}))

    @rule(tag=st.sampled_from(TAGS), who=st.sampled_from(PEOPLE),
          status=st.sampled_from([s.value for s in AssetStatus]))
    def edit_asset(self, tag, who, status):
        self.attempt(lambda d: inventory.edit(d, d.actor(who, who), tag, {"status": status}))

    @rule(tag=st.sampled_from(TAGS), who=st.sampled_from(PEOPLE))
    def retire_asset(self, tag, who):
        self.attempt(lambda d: inventory.retire(d, d.actor(who, who), tag, ""))

    @rule(who=ACTORS, wanted=st.sampled_from(TARGETS), weeks=st.integers(0, 14))
    def request(self, who, wanted, weeks):
        self.attempt(lambda d: d.request(d.actor(who, who), wanted, "tests", weeks or None, False))

    @rule(who=ACTORS, n=LOANS, tag=st.sampled_from((None,) + TAGS))
    def approve(self, who, n, tag):
        self.attempt(lambda d: d.approve(d.actor(who, who), n, tag))

    @rule(who=ACTORS, n=LOANS,
          step=st.sampled_from(["reject", "withdraw", "ship", "received", "return", "checkin", "checkin-damaged",
                                "extend", "lost", "close"]))
    def step(self, who, n, step):
        def act(d: Desk):
            actor = d.actor(who, who)
            {"reject": lambda: d.reject(actor, n, "no"), "withdraw": lambda: d.withdraw(actor, n),
             "ship": lambda: d.ship(actor, n, ""), "received": lambda: d.received(actor, n),
             "return": lambda: d.return_(actor, n, ""), "checkin": lambda: d.checkin(actor, n, "fine"),
             "checkin-damaged": lambda: d.checkin(actor, n, "damaged screen"),
             "extend": lambda: d.extend(actor, n, 2), "lost": lambda: d.lost(actor, n),
             "close": lambda: d.close(n), "approve": lambda: d.approve(actor, n, None),
             "allocate": lambda: d.approve(actor, n, TAGS[n % 2])}[step]()
        self.attempt(act)

    @rule(data=st.data())
    def advance(self, data):
        """Steps that the loans' states allow, by their admin, their borrower or a stranger: reaches deep states."""
        for _ in range(data.draw(st.integers(1, 8))):
            loans = [loan for loan in self.store.loans("wg") if any(loan.state in r.sources for r in RULES.values())]
            if not loans:
                return
            loan = data.draw(st.sampled_from(loans))
            steps = sorted(STEP_NAMES[s] for s, r in RULES.items() if loan.state in r.sources and s in STEP_NAMES)
            steps = [s for s in steps for _ in range(1 if s in ENDINGS else 4)]  # mostly forward
            who = data.draw(st.sampled_from([ADMINS[0], ADMINS[1], loan.requester, STRANGERS[0], STRANGERS[1]]))
            self.step(who, loan.n, data.draw(st.sampled_from(steps)))

    @invariant()
    def no_asset_is_held_by_two_loans_and_holding_matches_status(self):
        holders: dict[int, int] = {}
        for loan in self.store.loans("wg"):
            event(f"reached {loan.state}")  # --hypothesis-show-statistics shows how deep the runs go
            if loan.state in HOLDING:
                assert loan.asset_id is not None
                assert loan.asset_id not in holders, (loan.n, holders)
                holders[loan.asset_id] = loan.n
                status = self.store.asset_by_id(loan.asset_id).status
                expected = AssetStatus.RESERVED if loan.state is State.ALLOCATED else AssetStatus.ON_LOAN
                assert status is expected, (loan, status)
        for asset in self.store.assets("wg"):
            if asset.status in (AssetStatus.RESERVED, AssetStatus.ON_LOAN):
                assert asset.id in holders, asset

    @invariant()
    def every_change_was_allowed_to_whoever_made_it(self):
        for logged in self.store.db.query("SELECT * FROM loan_events"):
            action, actor = logged["action"], logged["actor"]
            if action in ASSET_STEPS:
                assert actor in ADMINS
                continue
            if action in ("request", "details"):
                assert actor not in STRANGERS[1:]
                continue
            rule = RULES[Step(action)]
            assert State(logged["from_state"]) in rule.sources
            if rule.who is Who.ADMIN:
                assert actor in ADMINS or actor == "sigbot"
            elif rule.who is Who.SYSTEM:
                assert actor == "sigbot"
            else:
                loan = self.store.loan(logged["loan"])
                assert actor in ADMINS or actor == loan.requester

    @invariant()
    def overdue_is_only_ever_derived(self):
        for loan in self.store.loans("wg"):
            if loan.is_overdue(self.now):
                assert loan.due and loan.due < self.now and loan.state in (State.SHIPPED, State.ACCESS_GRANTED,
                                                                             State.ACTIVE)


LendingProgramme.TestCase.settings = settings(max_examples=80, stateful_step_count=50, deadline=None,
                                              suppress_health_check=[HealthCheck.too_slow])
test_random_steps_by_random_people_keep_the_programme_consistent = LendingProgramme.TestCase


def test_the_history_cannot_be_rewritten():
    store = LoanStore(open_store(":memory:").db)
    store.add_event("wg", "@admin:x", T0, "hw-add", asset="x")
    for sql in ("UPDATE loan_events SET actor = 'someone'", "DELETE FROM loan_events"):
        try:
            store.db.execute(sql)
        except Exception as exc:
            assert "append-only" in str(exc)
        else:
            raise AssertionError(f"{sql} was allowed")
