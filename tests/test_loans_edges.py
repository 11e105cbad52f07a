"""Every grammar the loans read, attacked with arbitrary input: the arguments of each !loan and !hw subcommand
(as chat text and as command-line words), the CLI itself, and CSV imports in any bytes and encodings.

What must hold whatever comes in: only a refusal (one line) or an answer comes out, never an exception; and
nothing wrong is stored: every stored text is clean (bot/core/text.py), bounded, free of addresses where it is
public, weeks are 1 to max_weeks, and what the CLI passes is stored as typed.
"""

import csv
import io
import sqlite3
from datetime import datetime, timezone

from click.testing import CliRunner
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from test_loans_cli import CONFIG  # a team "wg" whose loan admin is @trix:localhost, max_weeks 12

from bot.cli import main
from bot.core.privacy import looks_private
from bot.core.text import clean_text
from bot.loans import inventory
from bot.loans.commands import HW_OPS, LOAN_OPS, Args
from bot.loans.config import LoanSettings
from bot.loans.desk import MAX_TEXT, Desk, Refused
from bot.loans.model import Kind
from bot.loans.store import ASSET_FIELDS, LoanStore
from bot.storage import open_store

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)
ADMIN, ADA = "@trix:x", "@ada:x"
SETTINGS = LoanSettings(admins=(ADMIN,), default_weeks=4, max_weeks=12)

# Words that the grammars give meaning to, and the characters that have broken them.
TOKENS = ["1", "#1", "2", "#2", "0", "-3", "13", "99999999999999999999", "١", "²", "1_0", "weeks", "week", "for",
          "noship", "pickup", "gfx1100", "gfx9999", "w7900-1", "gpu", "lab-access", "damaged", "broken", "fine",
          "'", '"', "it's", "=", "kind=gpu", "status=available", "status=reserved", "model=\"Radeon PRO\"",
          "serial=2136001234", "location=12 Main Street", "+44 20 7946 0958", "ada@example.org", "ship to",
          "\u202e", "\u2066", "\u200f", "\u200d", "\x1b[31m", "\x00", "\n", "\r\n", "\t", "\udcff", "x" * 600]
WORDS = st.one_of(st.sampled_from(TOKENS), st.text(max_size=12))
PHRASES = st.lists(WORDS, max_size=8).map(" ".join)
ARGV = st.lists(WORDS, max_size=6)
HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def a_desk() -> Desk:
    """Two cards and a lab login; loan #1 shipped to Ada, #2 allocated to her, #3 waiting; a fresh database."""
    desk = Desk(LoanStore(open_store(":memory:").db), "wg", SETTINGS, T0)
    admin, ada = desk.actor(ADMIN, "Trix"), desk.actor(ADA, "Ada")
    for tag in ("w7900-1", "w7900-2"):
        inventory.add(desk, admin, tag, {"kind": "gpu", "target": "gfx1100"})
    inventory.add(desk, admin, "lab-1", {"kind": "lab-access"})
    for purpose in ("rocBLAS CI", "more tests", "even more"):
        desk.request(ada, "gfx1100", purpose, None, False)
    desk.approve(admin, 1, None)
    desk.ship(admin, 1, "")
    desk.approve(admin, 2, None)
    return desk


def nothing_wrong_is_stored(desk: Desk) -> None:
    for loan in desk.store.loans():
        assert 1 <= loan.weeks <= SETTINGS.max_weeks, loan
        assert loan.purpose and clean_text(loan.purpose) == loan.purpose and len(loan.purpose) <= MAX_TEXT, loan
        assert not looks_private(loan.purpose) and not looks_private(loan.note), loan
        assert clean_text(loan.note) == loan.note and clean_text(loan.requester_name) == loan.requester_name, loan
        assert loan.target == clean_text(loan.target) and " " not in loan.target, loan
        assert 0 <= loan.extension_asked <= SETTINGS.max_weeks, loan
    for asset in desk.store.assets("wg"):
        assert asset.tag == clean_text(asset.tag) and " " not in asset.tag and asset.tag, asset
        for field in ASSET_FIELDS:
            value = str(getattr(asset, field))
            assert clean_text(value) == value and len(value) <= MAX_TEXT, (field, asset)
            assert field == "serial" or not looks_private(value), (field, asset)
    for event in desk.store.db.query("SELECT * FROM loan_events"):
        assert clean_text(event["note"]) == event["note"], event


def attempt(desk: Desk, op, who: str, args: Args) -> None:
    """One subcommand as the chat and the CLI run it: in a transaction, rolled back when refused."""
    try:
        with desk.store.db.atomic():
            done = op(desk, desk.actor(who, who.strip("@").split(":")[0]), args)
    except Refused as refused:
        assert refused.text.strip(), "a refusal says why"
    else:
        assert done.text


@HYPOTHESIS
@given(sub=st.sampled_from(sorted(LOAN_OPS)), text=PHRASES, who=st.sampled_from([ADMIN, ADA, "@mallory:x"]))
@example(sub="request", text="gfx1100 for tests weeks -3", who=ADA)
@example(sub="request", text="gfx1100 for", who=ADA)
@example(sub="extend", text="1 99999999999999999999", who=ADA)
@example(sub="show", text="99999999999999999999999", who=ADA)
def test_any_words_after_a_loan_subcommand_in_chat_get_an_answer_and_store_nothing_wrong(sub, text, who):
    desk = a_desk()
    attempt(desk, LOAN_OPS[sub], who, Args(text))
    nothing_wrong_is_stored(desk)


@HYPOTHESIS
@given(sub=st.sampled_from(sorted(HW_OPS)), text=PHRASES, argv=ARGV, as_words=st.booleans())
@example(sub="add", text='x gpu model="unterminated', argv=[], as_words=False)
@example(sub="edit", text="", argv=["w7900-1", "location=12 Main Street"], as_words=True)
def test_any_words_after_an_inventory_subcommand_get_an_answer_and_store_nothing_wrong(sub, text, argv, as_words):
    desk = a_desk()
    attempt(desk, HW_OPS[sub], ADMIN, Args.of_words(argv) if as_words else Args(text))
    nothing_wrong_is_stored(desk)


@HYPOTHESIS
@given(step=st.sampled_from(["reject", "ship", "checkin"]), words=ARGV)
@example(step="checkin", words=["damaged: fan"])
@example(step="reject", words=["no budget; it's", '"over"'])
def test_the_words_of_a_command_line_are_stored_as_typed(step, words):
    """The shell's words reach the record as typed, only cleaned: never quoted again, never read as syntax."""
    desk = a_desk()
    n = 1 if step == "checkin" else 2
    attempt(desk, LOAN_OPS[step], ADMIN, Args.of_words([str(n), *words]))
    nothing_wrong_is_stored(desk)
    events = [e for e in desk.store.events(loan=n) if e.action == step]
    typed = clean_text(" ".join(words))
    if events:  # taken: exactly what was typed, cleaned
        assert events[-1].note == (typed or ("ok" if step == "checkin" else ""))
        if typed:
            assert desk.store.loan(n).note == typed
        if step == "checkin":
            damaged = typed.lower().startswith(("damaged", "broken"))
            assert desk.store.loan(n).state.value == ("damaged" if damaged else "returned")
    else:  # refused: only for a reason the text gives
        assert (step == "reject" and not typed) or len(typed) > MAX_TEXT or looks_private(typed)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(["request", "show", "reject", "checkin", "extend", "list", "hw-add", "hw-edit"]),
       argv=ARGV, weeks=st.one_of(st.none(), st.integers(-5, 30).map(str), WORDS))
def test_any_command_line_gets_an_answer_or_one_line_on_stderr_and_stores_nothing_wrong(tmp_path, command, argv,
                                                                                      weeks):
    config = tmp_path / "sigbot.toml"
    if not config.exists():
        config.write_text(CONFIG)
        CliRunner().invoke(main, ["--config", str(config), "hw", "add", "w7900-1", "gpu", "target=gfx1100"])
    args = {"request": ["loans", "request", "--requester", "@ada:localhost", *(["--weeks", weeks] if weeks else []),
                        "gfx1100", "--", *argv],
            "hw-add": ["hw", "add", "--", *argv], "hw-edit": ["hw", "edit", "w7900-1", "--", *argv]
            }.get(command, ["loans", command, "--", *argv])
    result = CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.output and "unexpected error" not in result.output, result.output
    if result.exit_code:
        assert len(result.stderr.splitlines()) == 1 and not result.stdout, result.output
    db = sqlite3.connect(tmp_path / "var" / "sigbot.db")
    for weeks_stored, purpose, name in db.execute("SELECT weeks, purpose, requester_name FROM loan_requests"):
        assert 1 <= weeks_stored <= 12 and purpose == clean_text(purpose) and purpose and len(purpose) <= MAX_TEXT
        assert not looks_private(purpose) and name == clean_text(name)


# --- CSV imports ------------------------------------------------------------------------------------------------

def import_bytes(data: bytes) -> tuple[Desk, int, int, list[str]]:
    desk = Desk(LoanStore(open_store(":memory:").db), "wg", SETTINGS, T0)
    with desk.store.db.atomic():
        added, changed, problems = inventory.import_csv(desk, desk.actor(ADMIN, "Trix"), data)
    return desk, added, changed, problems


@HYPOTHESIS
@given(data=st.one_of(st.binary(max_size=400),
                      st.lists(PHRASES, max_size=6).map(lambda rows: "\n".join(["tag,kind,model", *rows])
                                                    .encode("utf-8", "surrogateescape"))))
@example(data=b"\xef\xbb\xbftag,kind\nw7900-1,gpu\n")
@example(data="tag,kind\nw7900-1,gpu,Zürich\n".encode("utf-16"))
@example(data=b'tag,kind,notes\nw7900-1,gpu,"open\n')
@example(data=b"tag,kind,notes\nw7900-1,gpu," + b"x" * 200_000 + b"\n")
def test_any_bytes_imported_as_csv_never_raise_and_store_nothing_wrong(data):
    desk, added, changed, problems = import_bytes(data)
    assert all(p.startswith("line ") or p.startswith("...") for p in problems), problems
    assert added == len(desk.store.assets("wg")) and changed == 0
    nothing_wrong_is_stored(desk)


ROW = st.tuples(st.sampled_from(["w7900-1", "W7900-1", "mi210-1", "lab-1", "", " ", "a b", "x\u202ey"]),
                st.sampled_from(["gpu", "GPU", "machine", "lab-access", "toaster", ""]),
                st.one_of(st.text(max_size=20), st.sampled_from(["Radeon PRO W7900", "Zürich", "a,b", 'say "hi"',
                                                                 "two\nlines", "\u202eevil", "12 Main Street"])))


@HYPOTHESIS
@given(rows=st.lists(ROW, max_size=6),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16"]))
def test_a_csv_in_any_encoding_stores_each_good_row_as_written_or_names_what_is_wrong(rows, encoding):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["tag", "kind", "model"])
    writer.writerows(rows)
    try:
        data = out.getvalue().encode(encoding)
    except UnicodeEncodeError:
        assume(False)
    desk, added, changed, problems = import_bytes(data)
    nothing_wrong_is_stored(desk)
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError:  # another encoding: refused whole, naming where
        assert added == 0 and problems and all("not UTF-8" in p or p.startswith("...") for p in problems)
        return
    tags = [clean_text(tag).lower() for tag, _, _ in rows]
    good = {clean_text(tag): (kind.lower(), clean_text(model)) for tag, kind, model in rows
            if tags.count(clean_text(tag).lower()) == 1 and clean_text(tag) and " " not in clean_text(tag)
            and kind.lower() in {k.value for k in Kind} and not looks_private(model)}
    stored = {a.tag: (a.kind.value, a.model) for a in desk.store.assets("wg")}
    assert stored == good
    blank = sum(not "".join(row).strip() for row in rows)
    assert added + len(problems) == len(rows) - blank, problems
