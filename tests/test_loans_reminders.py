"""Loan reminders with an injected clock: when they are due, one digest per person, and across a restart."""

from datetime import datetime, time, timedelta, timezone

from bot.config import parse_config
from bot.core.message import DirectMessage
from bot.loans.config import LoanSettings
from bot.loans.desk import Desk
from bot.loans.model import Actor, Loan, State
from bot.loans.reminders import due_notices, run_once, summary_slot
from bot.loans.store import LoanStore
from bot.storage import open_store

ADMIN = "@trix:x"
SETTINGS = LoanSettings(admins=(ADMIN,), summary_day=0, summary_time=time(9, 0))
DUE = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)  # a Monday


def loan(n: int, who: str = "@ada:x", due: datetime = DUE, state: State = State.ACTIVE) -> Loan:
    return Loan(n, "wg", who, who[1:4].capitalize(), "gfx1100", "tests", 4, True, state,
                DUE - timedelta(weeks=5), asset_id=n, due=due,
                shipped_at=due - timedelta(weeks=4) if due else None)


def borrower_texts(loans, now, sent=frozenset()):
    notices, record = due_notices("wg", SETTINGS, loans, {1: "w7900-1", 2: "mi210-1"}, now, set(sent))
    return [n.text for n in notices if n.user != ADMIN], record


def test_reminders_come_14_and_3_days_before_on_the_day_and_7_days_after():
    assert borrower_texts([loan(1)], DUE - timedelta(days=15))[0] == []
    texts, _ = borrower_texts([loan(1)], DUE - timedelta(days=14))
    assert texts == ["Loan #1 (w7900-1) is due back 2026-03-02, in 14 days."]
    assert "in 3 days" in borrower_texts([loan(1)], DUE - timedelta(days=3))[0][0]
    assert "due back today" in borrower_texts([loan(1)], DUE)[0][0]
    assert "7 days overdue" in borrower_texts([loan(1)], DUE + timedelta(days=7))[0][0]


def test_what_was_sent_is_not_sent_again_and_a_missed_time_sends_only_the_latest():
    texts, record = borrower_texts([loan(1)], DUE - timedelta(days=14))
    assert borrower_texts([loan(1)], DUE - timedelta(days=13), record) == ([], set())
    # Down from 14 days before until the day after: one reminder (the latest), all earlier ones recorded as passed.
    texts, record = borrower_texts([loan(1)], DUE + timedelta(days=1))
    assert len(texts) == 1 and "1 day overdue" in texts[0]
    assert {k.rsplit(":", 1)[1] for k in record if k.startswith("loan:")} == {"14", "3", "0"}


def test_an_extension_starts_a_fresh_set_of_reminders():
    _, record = borrower_texts([loan(1)], DUE)
    later = loan(1, due=DUE + timedelta(weeks=2))
    texts, _ = borrower_texts([later], DUE + timedelta(days=1), record)
    assert texts == ["Loan #1 (w7900-1) is due back 2026-03-16, in 13 days."]


def test_admins_are_told_at_30_days_overdue_once():
    notices, record = due_notices("wg", SETTINGS, [loan(1)], {}, DUE + timedelta(days=30), set())
    to_admin = [n.text for n in notices if n.user == ADMIN and "days overdue" in n.text]
    assert to_admin == ["Loan #1 (gfx1100, Ada) is 30 days overdue (due 2026-03-02)."]
    again, _ = due_notices("wg", SETTINGS, [loan(1)], {}, DUE + timedelta(days=31), record)
    assert again == []


def test_the_weekly_summary_is_due_once_per_week_at_its_time_in_the_teams_zone():
    monday_9_berlin = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
    assert summary_slot(SETTINGS, monday_9_berlin, "Europe/Berlin") == monday_9_berlin
    before = monday_9_berlin - timedelta(minutes=1)
    assert summary_slot(SETTINGS, before, "Europe/Berlin") == monday_9_berlin - timedelta(weeks=1)
    waiting = [loan(3, state=State.SUBMITTED, due=None)]
    notices, record = due_notices("wg", SETTINGS, waiting, {}, monday_9_berlin, set(), "Europe/Berlin")
    assert [n.user for n in notices] == [ADMIN] and "waiting for a decision: #3" in notices[0].text
    assert due_notices("wg", SETTINGS, waiting, {}, monday_9_berlin + timedelta(days=6), record,
                       "Europe/Berlin")[0] == []


def test_a_restart_sends_nothing_twice_and_skips_nothing_with_one_digest_per_person(tmp_path):
    config = parse_config({"bot": {"data_dir": str(tmp_path / "var"), "notes_dir": str(tmp_path / "notes")},
                           "teams": [{"name": "wg", "matrix_room": "!wg:x", "loans": {"admins": [ADMIN]}}]},
                          tmp_path / "sigbot.toml")
    store = LoanStore(open_store(config.database).db)
    shipped = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    desk = Desk(store, "wg", SETTINGS, shipped)
    admin, ada = Actor(ADMIN, "Trix", True), Actor("@ada:x", "Ada", False)
    for tag in ("w7900-1", "w7900-2"):
        store.add_asset("wg", tag, {"kind": "gpu", "target": "gfx1100"})
        n = desk.request(ada, tag, "tests", 4, False).text.split("#")[1].split()[0]
        desk.approve(admin, int(n), tag)
        desk.ship(admin, int(n), "")
    due = shipped + timedelta(weeks=4)

    first = run_once(store, config, due - timedelta(days=3))
    to_ada = [e for e in first if isinstance(e, DirectMessage) and e.user == "@ada:x"]
    assert len(to_ada) == 1 and to_ada[0].text.count("in 3 days") == 2  # one digest for two loans

    store = LoanStore(open_store(config.database).db)  # the bot restarts
    assert [e for e in run_once(store, config, due - timedelta(days=2)) if e.user == "@ada:x"] == []
    after = run_once(store, config, due + timedelta(days=7))
    assert [e.text.count("7 days overdue") for e in after if e.user == "@ada:x"] == [2]
