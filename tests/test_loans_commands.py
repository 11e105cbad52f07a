"""!loan and !hw through the real Dispatcher over a SQLite file: a whole loan, refusals, privacy, a race."""

import json
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from test_dispatch import irc_line

from bot.config import ConfigError, parse_config
from bot.core.message import DirectMessage, Message, Network, Relay, Reply
from bot.dispatch import Dispatcher
from bot.loans.config import settings_of
from bot.registry import build_registry
from bot.storage import open_store

ROOM = "!wg:localhost"
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)
ADMIN, OTHER_ADMIN = "@trix:localhost", "@jeremy:localhost"
ADDRESS = "Ada Lovelace, 12 Analytical Street, 4242 Engine City, +44 20 7946 0958"


def team_config(tmp_path: Path) -> dict:
    return {
        "bot": {"data_dir": str(tmp_path / "var"), "notes_dir": str(tmp_path / "notes")},
        "teams": [{"name": "wg", "matrix_room": ROOM, "timezone": "Europe/Berlin",
                   "loans": {"admins": [ADMIN, OTHER_ADMIN, "irc:trix"], "default_weeks": 4, "max_weeks": 12}}],
    }


class Desk:
    """The team room and direct chats, as the adapters deliver them."""

    def __init__(self, tmp_path: Path):
        self.config = parse_config(team_config(tmp_path), tmp_path / "sigbot.toml")
        self.bot = Dispatcher(self.config, open_store(self.config.database), build_registry())
        self.events = 0
        self.clock = T0

    def message(self, who: str, text: str, direct: bool = False, network=Network.MATRIX) -> Message:
        self.events += 1
        self.clock += timedelta(seconds=30)
        sender = who if who.startswith(("@", "irc:")) or "!" in who else f"@{who}:localhost"
        room = f"!dm-{who}:localhost" if direct else ROOM
        return Message(network, room, sender, who.strip("@").split(":")[0].capitalize(), text, self.clock,
                       event_id=f"$ev{self.events}", direct=direct)

    def say(self, who: str, text: str, direct: bool = False) -> list:
        """What the bot does; the line's copy for IRC (a Relay effect) is left out (tests/test_one_path.py)."""
        return [e for e in self.bot.handle(self.message(who, text, direct)) if not isinstance(e, Relay)]

    def answer(self, who: str, text: str, direct: bool = False) -> str:
        return "\n".join(e.text for e in self.say(who, text, direct) if isinstance(e, Reply))

    def loans_json(self) -> dict:
        return json.loads((self.config.notes_dir / "wg" / "loans.json").read_text())


@pytest.fixture
def desk(tmp_path):
    d = Desk(tmp_path)
    d.say(ADMIN, '!hw add w7900-1 gpu vendor=AMD model="Radeon PRO W7900" target=gfx1100 memory=48GB serial=SN-123')
    return d


def test_a_whole_loan_from_request_to_check_in(desk):
    assert "#1" in desk.answer("ada", "!loan request gfx1100 for rocBLAS CI https://github.com/ROCm/rocBLAS weeks 6")
    effects = desk.say(ADMIN, "!loan approve 1")
    assert "w7900-1 is reserved" in effects[0].text
    asks = [e for e in effects if isinstance(e, DirectMessage) and e.user == "@ada:localhost"]
    assert asks and any("!loan address 1" in e.text for e in asks)
    assert "stored privately" in desk.answer("ada", f"!loan address 1 {ADDRESS}", direct=True)
    assert ADDRESS in desk.answer(ADMIN, "!loan address 1", direct=True)
    assert "shipped" in desk.answer(ADMIN, "!loan ship 1 DHL 123")
    assert "active" in desk.answer("ada", "!loan received 1")
    assert "on its way back" in desk.answer("ada", "!loan return 1 UPS 9")
    assert "checked in" in desk.answer(ADMIN, "!loan checkin 1 fine")
    history = desk.answer("ada", "!loan history 1")
    for step in ("request", "approve", "allocate", "ship", "received", "return", "checkin"):
        assert step in history
    assert "w7900-1 (gpu: AMD Radeon PRO W7900 gfx1100 48GB): available" in desk.answer("bob", "!hw list")


def test_the_queue_is_first_come_first_served_with_visible_positions(desk):
    desk.say("ada", "!loan request gfx1100 for one")
    assert "2nd in the gfx1100 queue" in desk.answer("bob", "!loan request gfx1100 for two")
    desk.say(ADMIN, "!loan approve 1")  # takes the only card
    assert "waits 1st" in desk.answer(ADMIN, "!loan approve 2")
    assert "#2 gfx1100 for Bob: approved, 1st in the gfx1100 queue" in desk.answer("bob", "!loan queue")
    desk.say(ADMIN, "!loan ship 1")
    desk.say(ADMIN, "!loan checkin 1")  # back: it goes to the next in line at once
    assert "allocated" in desk.answer("bob", "!loan show 2")
    queue = desk.loans_json()["queue"]
    assert queue == []


def test_a_forbidden_step_names_the_state_and_what_comes_next(desk):
    desk.say("ada", "!loan request gfx1100 for tests")
    answer = desk.answer("ada", "!loan approve 1")
    assert "Only a loan admin can approve loan #1" in answer and "!loan withdraw 1" in answer
    answer = desk.answer(ADMIN, "!loan ship 1")
    assert "Loan #1 is submitted, so it cannot be shipped" in answer and "!loan approve 1" in answer
    assert "Only Ada (who asked) or a loan admin" in desk.answer("mallory", "!loan withdraw 1")
    assert "There is no loan #9" in desk.answer("ada", "!loan show 9")
    assert "Give a reason" in desk.answer(ADMIN, "!loan reject 1")
    assert "Which loan?" in desk.answer(ADMIN, "!loan approve x")


def test_an_irc_nick_is_never_an_admin_and_an_account_is(desk):
    desk.say("ada", "!loan request gfx1100 for tests")
    assert "Only a loan admin" in desk.answer("trix!trix@host", "!loan approve 1")
    assert "is approved" in desk.answer("irc:trix", "!loan approve 1")


def test_the_borrower_asks_for_more_time_and_an_admin_grants_it_up_to_the_maximum(desk):
    desk.say("ada", "!loan request w7900-1 for tests weeks 4")
    desk.say(ADMIN, "!loan approve 1")
    desk.say(ADMIN, "!loan ship 1")
    effects = desk.say("ada", "!loan extend 1 2")
    assert any(isinstance(e, DirectMessage) and e.user == ADMIN and "asks to extend" in e.text for e in effects)
    assert "extended; due" in desk.answer(ADMIN, "!loan extend 1 2")
    assert "at most 12 weeks" in desk.answer(ADMIN, "!loan extend 1 10")


def test_an_address_said_in_the_room_is_refused_scrubbed_and_never_stored(desk):
    desk.say("ada", "!loan request gfx1100 for tests")
    answer = desk.answer("ada", f"!loan address 1 {ADDRESS}")
    assert "direct message" in answer and ADDRESS not in answer
    assert "direct message" in desk.answer("ada", "!loan request gfx1100 for tests, ship to 12 Main Street")
    lines = [r["text"] for r in desk.bot.store.db.query("SELECT text FROM lines")]
    assert not any("Analytical" in t or "Main Street" in t for t in lines)
    assert desk.bot.store.db.execute("SELECT count(*) FROM loan_private").fetchone()[0] == 0


def test_details_given_in_a_direct_message_are_scrubbed_from_the_log(desk):
    desk.say("ada", "!loan request gfx1100 for tests")
    desk.say("ada", f"!loan address 1 {ADDRESS}", direct=True)
    lines = [r["text"] for r in desk.bot.store.db.query("SELECT text FROM lines")]
    assert "[private: removed]" in lines and not any("Analytical" in t for t in lines)
    assert "Only Ada" in desk.answer("mallory", "!loan address 1 somewhere else", direct=True)
    assert "Only a loan admin or the borrower" in desk.answer("mallory", "!loan address 1", direct=True)


def test_loans_json_lists_inventory_and_queue_without_private_data(desk):
    desk.say("ada", "!loan request gfx1100 for tests")
    desk.say("ada", f"!loan address 1 {ADDRESS}", direct=True)
    data = desk.loans_json()
    assert data["inventory"][0]["tag"] == "w7900-1" and "serial" not in data["inventory"][0]
    assert data["queue"] == [{"n": 1, "requester": "Ada", "target": "gfx1100", "status": "submitted",
                              "position": 1, "submitted": data["queue"][0]["submitted"]}]
    text = (desk.config.notes_dir / "wg" / "loans.json").read_text()
    assert "SN-123" not in text and "Analytical" not in text and "@ada" not in text


def test_only_admins_change_the_inventory_and_held_assets_keep_their_status(desk):
    assert "Only a loan admin" in desk.answer("ada", "!hw add x gpu")
    assert "already an asset" in desk.answer(ADMIN, "!hw add w7900-1 gpu")
    assert "kind must be one of" in desk.answer(ADMIN, "!hw add x toaster")
    desk.say("ada", "!loan request w7900-1 for tests")
    desk.say(ADMIN, "!loan approve 1")
    assert "follows its loan" in desk.answer(ADMIN, "!hw edit w7900-1 status=available")
    assert "end its loan first" in desk.answer(ADMIN, "!hw retire w7900-1")
    assert "Held by loan #1" in desk.answer("bob", "!hw show w7900-1")


def test_two_admins_allocating_one_asset_at_once_exactly_one_wins(tmp_path):
    first = Desk(tmp_path)
    first.say(ADMIN, "!hw add w7900-1 gpu target=gfx1100")
    first.say("ada", "!loan request gfx1100 for one")
    first.say("bob", "!loan request gfx1100 for two")
    second = Desk(tmp_path)  # a second connection to the same database file
    second.events = 100  # event ids must not repeat the first connection's
    barrier = threading.Barrier(2)
    answers: dict[str, str] = {}

    def approve(d: Desk, n: int, who: str) -> None:
        msg = d.message(who, f"!loan approve {n} w7900-1")
        barrier.wait()
        answers[who] = "\n".join(e.text for e in d.bot.handle(msg) if isinstance(e, Reply))

    threads = [threading.Thread(target=approve, args=(first, 1, ADMIN)),
               threading.Thread(target=approve, args=(second, 2, OTHER_ADMIN))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [who for who, text in answers.items() if "is reserved for it" in text]
    lost = [who for who, text in answers.items() if "w7900-1 is reserved for loan" in text]
    assert len(won) == 1 and len(lost) == 1, answers
    holders = list(first.bot.store.db.query("SELECT n FROM loan_requests WHERE state = 'allocated'"))
    assert len(holders) == 1


def test_an_address_said_during_a_meeting_stays_out_of_the_minutes(desk):
    desk.say("ada", "#startmeeting loans")
    desk.say("ada", "!loan request gfx1100 for tests")
    assert "direct message" in desk.answer("ada", f"!loan address 1 {ADDRESS}")
    desk.say("ada", "#info after the address")
    desk.say("ada", "#endmeeting")
    written = [p.read_text() for p in (desk.config.notes_dir / "wg").rglob("*") if p.is_file()]
    assert written and not any("Analytical" in text for text in written)


def test_the_loans_section_is_checked_and_every_problem_named(tmp_path):
    data = team_config(tmp_path)
    data["teams"][0]["loans"] = {"admins": ["trix!trix@host", "@ok:localhost"], "default_weeks": 30,
                                 "max_weeks": 12, "summary_day": "someday", "summary_time": "9am",
                                 "remind_days": [14, "soon"], "colour": "red"}
    with pytest.raises(ConfigError) as error:
        parse_config(data, tmp_path / "sigbot.toml")
    text = str(error.value)
    for key in ("admins[0]", "default_weeks", "summary_day", "summary_time", "remind_days", "colour"):
        assert f"teams[0].loans.{key}" in text, key


def test_without_loan_admins_the_teams_admins_run_the_loans(tmp_path):
    data = team_config(tmp_path)
    data["teams"][0]["admins"] = ["@lead:localhost"]
    del data["teams"][0]["loans"]
    config = parse_config(data, tmp_path / "sigbot.toml")
    assert settings_of(config.teams[0]).admins == ("@lead:localhost",)


def test_an_address_in_a_request_is_refused_even_in_a_direct_message(desk):
    answer = desk.answer("ada", "!loan request gfx1100 for tests, mail me at ada@example.org", direct=True)
    assert "direct message" in answer and desk.bot.store.db.execute(
        "SELECT count(*) FROM loan_requests").fetchone()[0] == 0


def loan_rows(desk) -> list:
    return list(desk.bot.store.db.query("SELECT * FROM loan_requests"))


def test_weeks_outside_one_to_max_weeks_are_refused_not_read_as_the_purpose(desk):
    for weeks in ("-3", "0", "13", "99999999999999999999"):
        answer = desk.answer("ada", f"!loan request gfx1100 for tests weeks {weeks}")
        assert answer == f"A loan lasts 1 to 12 weeks; you asked for {int(weeks)}."
    assert loan_rows(desk) == []
    assert "(12 weeks)" in desk.answer("ada", "!loan request gfx1100 for tests weeks 12")


def test_a_request_without_a_purpose_is_refused_and_for_alone_is_no_purpose(desk):
    for line in ("!loan request gfx1100", "!loan request gfx1100 for", "!loan request gfx1100 for \u202e weeks 2"):
        assert desk.answer("ada", line).startswith("Say what it is for"), line
    assert "500 at most" in desk.answer("ada", "!loan request gfx1100 for " + "x" * 10_000)
    assert loan_rows(desk) == []


def test_a_request_for_a_target_nobody_owns_names_what_there_is(desk):
    answer = desk.answer("ada", "!loan request gfx9999 for tests")
    assert answer == ("Nothing here matches 'gfx9999'. Ask for an asset tag (see !hw list) or one of what the "
                      "inventory has: kinds gpu; GPU targets gfx1100.")
    assert "Nothing here matches 'lab-access'" in desk.answer("ada", "!loan request lab-access for a login")
    desk.say(ADMIN, "!hw retire w7900-1")
    assert "the inventory is empty" in desk.answer("ada", "!loan request gfx1100 for tests")
    assert loan_rows(desk) == []


def test_bidi_controls_in_a_display_name_and_a_purpose_never_reach_the_record(desk):
    msg = desk.message("ada", "!loan request gfx1100 for rocBLAS \u202eIC\u202c on \u2067gfx1100\u2069")
    msg = type(msg)(msg.network, msg.room, msg.sender, "Ada\u202e \u200fadmin", msg.text, msg.time,
                    event_id=msg.event_id)
    desk.bot.handle(msg)
    [row] = loan_rows(desk)
    assert (row["requester_name"], row["purpose"]) == ("Ada admin", "rocBLAS IC on gfx1100")
    assert "\u202e" not in desk.loans_json()["queue"][0]["requester"]


def test_loan_numbers_and_week_counts_that_are_not_plain_numbers_get_one_answer(desk):
    desk.say("ada", "!loan request gfx1100 for tests")
    desk.say(ADMIN, "!loan approve 1")
    desk.say(ADMIN, "!loan ship 1")
    for line in ("!loan show 99999999999999999999999", "!loan show ١", "!loan show 1_0", "!loan show #-1"):
        answer = desk.answer("ada", line)
        assert answer.startswith(("Which loan?", "There is no loan")), (line, answer)
    for weeks in ("²", "-2", "0", "13", "99999999999999999999"):
        answer = desk.answer("ada", f"!loan extend 1 {weeks}")
        assert answer.startswith(("By how many weeks?", "Extend by 1 to 12 weeks")), (weeks, answer)
    assert desk.bot.store.db.execute("SELECT extension_asked FROM loan_requests").fetchone()[0] == 0


def test_an_address_in_an_inventory_field_or_a_reason_is_refused_in_a_room_and_in_a_direct_message(desk):
    assert "direct message" in desk.answer(ADMIN, '!hw edit w7900-1 location="12 Main Street"')
    desk.say("ada", "!loan request gfx1100 for tests")
    assert "direct message" in desk.answer(ADMIN, "!loan reject 1 ask Ada on +44 20 7946 0958", direct=True)
    stored = [str(v) for t in ("loan_requests", "loan_events", "loan_assets")
              for r in desk.bot.store.db.query(f"SELECT * FROM {t}") for v in r.values()]
    assert not any("Main Street" in v or "7946" in v for v in stored)


def test_a_parcel_tracking_number_is_not_taken_for_a_phone_number(desk):
    desk.say("ada", "!loan request gfx1100 for tests")
    desk.say(ADMIN, "!loan approve 1")
    assert "(tracking: UPS 1Z999AA10123456784)" in desk.answer(ADMIN, "!loan ship 1 UPS 1Z999AA10123456784")
    desk.say("ada", "!loan received 1")
    assert "(tracking: USPS 9400111899223197428490)" in desk.answer("ada", "!loan return 1 USPS 9400111899223197428490")
    desk.say(ADMIN, "!loan checkin 1")
    desk.say("bob", "!loan request gfx1100 for tests")
    desk.say(ADMIN, "!loan approve 2")
    assert "(tracking: DHL JJD000390007827538)" in desk.answer(ADMIN, "!loan ship 2 DHL JJD000390007827538")
    assert "direct message" in desk.answer(ADMIN, "!loan checkin 2 call Bob on 020 7946 0958")


def test_shipping_details_keep_their_lines_and_lose_their_bidi_controls(desk):
    desk.say("ada", "!loan request gfx1100 for tests")
    desk.say("ada", "!loan address 1 Ada Lovelace\u202e\n12 Analytical Street\n\n4242 Engine City", direct=True)
    assert desk.bot.store.db.execute("SELECT details FROM loan_private").fetchone()[0] == \
        "Ada Lovelace\n12 Analytical Street\n4242 Engine City"
    assert "at most 1000 characters" in desk.answer("ada", "!loan address 1 " + "x" * 1001, direct=True)


def test_an_unknown_tag_is_named_in_the_answer_without_its_bidi_controls(desk):
    desk.say("ada", "!loan request gfx1100 for tests")
    for line in ("!loan approve 1 w7900\u202e-9", "!hw show w7900\u202e-9", "!hw edit w7900\u202e-9 memory=8GB"):
        answer = desk.answer(ADMIN, line)
        assert answer.startswith("There is no asset 'w7900-9'.") and "\u202e" not in answer, (line, answer)


def test_an_address_hidden_by_invisible_characters_is_still_refused_and_scrubbed(desk):
    # The room's guard reads the line as typed; the desk's reads it cleaned, where the address shows.
    for line in ("!loan request gfx1100 for tests, mail ada@exa\u200bmple.org",
                 "!loan request gfx1100 for tests, call +44\u202e20 7946 0958"):
        assert "direct message" in desk.answer("ada", line)
    lines = [r["text"] for r in desk.bot.store.db.query("SELECT text FROM lines")]
    assert not any("mple.org" in t or "7946" in t for t in lines)
    assert loan_rows(desk) == []


def test_a_borrower_and_a_loan_admin_act_from_their_linked_accounts_and_a_nick_alone_does_nothing(desk):
    def irc(account: str | None, nick: str, text: str) -> str:
        desk.events += 1
        msg = irc_line(ROOM, nick, text, desk.clock, desk.events, account, host="198.51.100.66")
        return "\n".join(e.text for e in desk.bot.handle(msg) if isinstance(e, Reply))

    assert "#1" in desk.answer("ada", "!loan request gfx1100 for rocBLAS CI weeks 6 no-shipping")
    assert "Only Ada (who asked) or a loan admin" in irc("ada", "ada", "!loan withdraw 1")
    desk.answer("ada", "!linkto irc ada")
    assert "Linked" in irc("ada", "ada", "!linkto matrix @ada:localhost")
    assert "Only Ada (who asked) or a loan admin" in irc(None, "ada", "!loan withdraw 1")
    # A loan admin by a Matrix id (@jeremy) approves from IRC once linked; before, the account is nobody.
    assert "Only a loan admin" in irc("jer", "jeremy", "!loan approve 1")
    desk.answer(OTHER_ADMIN, "!linkto irc jer")
    assert "Linked" in irc("jer", "jeremy", f"!linkto matrix {OTHER_ADMIN}")
    assert "w7900-1 is reserved" in irc("jer", "jeremy", "!loan approve 1")
    assert "withdrawn" in irc("ada", "ada", "!loan withdraw 1")
