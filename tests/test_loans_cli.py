"""`sigbot hw` and `sigbot loans`: CSV import and export, and a loan's steps from the command line."""

from click.testing import CliRunner

from bot.cli import main

CONFIG = """
[bot]
data_dir = "var"
notes_dir = "notes"

[[teams]]
name = "wg"
matrix_room = "!wg:localhost"

[teams.loans]
admins = ["@trix:localhost", "irc:trix"]
max_weeks = 12
"""

CSV = """tag,kind,vendor,model,target,memory,serial
w7900-1,gpu,AMD,Radeon PRO W7900,gfx1100,48GB,SN-1
mi210-1,gpu,AMD,Instinct MI210,gfx90a,64GB,SN-2
bad-1,toaster,,,,,
"""


def sigbot(tmp_path, *args):
    return CliRunner().invoke(main, ["--config", str(tmp_path / "sigbot.toml"), *args], catch_exceptions=False)


def test_the_inventory_goes_in_and_out_as_csv_and_a_bad_row_is_named(tmp_path):
    (tmp_path / "sigbot.toml").write_text(CONFIG)
    (tmp_path / "inv.csv").write_text(CSV)
    result = sigbot(tmp_path, "hw", "import", str(tmp_path / "inv.csv"))
    assert result.exit_code == 1
    assert "2 added, 0 changed, 1 problem(s)" in result.output and "line 4 (bad-1): kind must be" in result.output
    exported = sigbot(tmp_path, "hw", "export").output
    assert exported.splitlines()[1].startswith("mi210-1,gpu,AMD,Instinct MI210,gfx90a,64GB,SN-2")
    (tmp_path / "again.csv").write_text(exported.replace("64GB", "128GB"))
    assert "0 added, 1 changed" in sigbot(tmp_path, "hw", "import", str(tmp_path / "again.csv")).output
    assert "128GB" in sigbot(tmp_path, "hw", "show", "mi210-1").output


def test_a_loan_from_the_command_line(tmp_path):
    (tmp_path / "sigbot.toml").write_text(CONFIG)
    sigbot(tmp_path, "hw", "add", "w7900-1", "gpu", "target=gfx1100", "model=Radeon PRO W7900")
    result = sigbot(tmp_path, "loans", "request", "--requester", "@ada:localhost", "--name", "Ada", "gfx1100",
                    "rocBLAS", "CI")
    assert "#1" in result.output
    assert "w7900-1 is reserved" in sigbot(tmp_path, "loans", "approve", "1").output
    refused = sigbot(tmp_path, "loans", "received", "1")
    assert refused.exit_code == 1 and "Loan #1 is allocated, so it cannot be confirmed" in refused.output
    assert "shipped" in sigbot(tmp_path, "loans", "ship", "1", "DHL", "1").output
    assert "#1 gfx1100 → w7900-1 for Ada: shipped" in sigbot(tmp_path, "loans", "list").output
    assert "model=Radeon PRO W7900" in sigbot(tmp_path, "hw", "show", "w7900-1").output


# --- bad input from the command line: one line on stderr, the right exit code, nothing wrong stored ---------------

def db(tmp_path):
    import sqlite3
    return sqlite3.connect(tmp_path / "var" / "sigbot.db")


def a_team_with_a_card(tmp_path):
    (tmp_path / "sigbot.toml").write_text(CONFIG)
    sigbot(tmp_path, "hw", "add", "w7900-1", "gpu", "target=gfx1100", "model=Radeon PRO W7900")
    sigbot(tmp_path, "hw", "add", "mi210-1", "gpu", "target=gfx90a")


def refused(result, code: int = 1) -> str:
    """The one line a refusal prints: on stderr, with `code`, never a traceback or an unexpected error."""
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and not result.stdout, result.output
    assert "Traceback" not in lines[0] and "unexpected error" not in lines[0]
    return lines[0]


def ask(tmp_path, *args, name="Ada"):
    return sigbot(tmp_path, "loans", "request", "--requester", "@ada:localhost", "--name", name, *args)


def test_a_reason_a_tracking_number_and_a_condition_are_stored_exactly_as_typed(tmp_path):
    a_team_with_a_card(tmp_path)
    ask(tmp_path, "gfx1100", "for", "rocBLAS", "CI")
    ask(tmp_path, "gfx90a", "for", "hipBLASLt")
    sigbot(tmp_path, "loans", "approve", "1")
    shipped = sigbot(tmp_path, "loans", "ship", "1", "DHL 1Z999AA10123456784")
    assert "(tracking: DHL 1Z999AA10123456784)" in shipped.stdout and "'" not in shipped.stdout
    # "damaged: fan" once became "'damaged: fan'": checked in as fine and lent again at once.
    assert "damaged" in sigbot(tmp_path, "loans", "checkin", "1", "damaged: fan").stdout
    assert db(tmp_path).execute("SELECT state, note FROM loan_requests WHERE n = 1").fetchone() == \
        ("damaged", "damaged: fan")
    assert "w7900-1 (gpu: Radeon PRO W7900 gfx1100): maintenance" in sigbot(tmp_path, "hw", "list", "all").stdout
    rejected = sigbot(tmp_path, "loans", "reject", "2", "no budget; it's a ROCm 7 card")
    assert "(not sent, tell @ada:localhost: Loan #2 (gfx90a) was rejected: no budget; it's a ROCm 7 card)" \
        in rejected.stderr
    assert db(tmp_path).execute("SELECT note FROM loan_requests WHERE n = 2").fetchone() == \
        ("no budget; it's a ROCm 7 card",)


def test_weeks_outside_one_to_max_weeks_are_refused_and_no_loan_is_stored(tmp_path):
    a_team_with_a_card(tmp_path)
    for weeks in ("-3", "0", "13", "99999999999999999999999"):
        line = refused(ask(tmp_path, "--weeks", weeks, "gfx1100", "for", "tests"))
        assert line.endswith(f": A loan lasts 1 to 12 weeks; you asked for {weeks}.")
    assert "--weeks" in refused(ask(tmp_path, "--weeks", "x", "gfx1100", "for", "tests"), 2)
    assert db(tmp_path).execute("SELECT count(*) FROM loan_requests").fetchone() == (0,)
    # Words in the purpose are the purpose: "weeks 3" at its end is not read as an option.
    assert "(12 weeks)" in ask(tmp_path, "--weeks", "12", "gfx1100", "for", "ROCm", "weeks", "3").stdout
    assert db(tmp_path).execute("SELECT weeks, purpose FROM loan_requests").fetchone() == (12, "ROCm weeks 3")


def test_a_purpose_is_required_and_bounded(tmp_path):
    a_team_with_a_card(tmp_path)
    for purpose in ([""], ["for"], ["for", " "], ["\u202e"]):
        assert "Say what it is for" in refused(ask(tmp_path, "gfx1100", *purpose))
    assert "That purpose has 10240 characters; 500 at most" in refused(ask(tmp_path, "gfx1100", "x" * 10240))
    assert db(tmp_path).execute("SELECT count(*) FROM loan_requests").fetchone() == (0,)


def test_bidi_controls_are_stripped_from_names_and_purposes(tmp_path):
    a_team_with_a_card(tmp_path)
    ask(tmp_path, "gfx1100", "for", "tests \u202eetadpu\u202c done", name="Ada\u202e\u2066 Lovelace\x1b[31m")
    row = db(tmp_path).execute("SELECT requester_name, purpose FROM loan_requests").fetchone()
    assert row == ("Ada Lovelace[31m", "tests etadpu done")
    listed = sigbot(tmp_path, "loans", "list").stdout
    assert "for Ada Lovelace[31m: submitted" in listed and "\u202e" not in listed


def test_an_address_or_phone_number_is_refused_on_the_command_line_too(tmp_path):
    a_team_with_a_card(tmp_path)
    assert "direct message" in refused(ask(tmp_path, "gfx1100", "for", "tests, ship to 12 Main Street"))
    assert "direct message" in refused(ask(tmp_path, "gfx1100", "for", "call", "+44 20 7946 0958"))
    ask(tmp_path, "gfx1100", "for", "tests")
    sigbot(tmp_path, "loans", "approve", "1")
    assert "direct message" in refused(sigbot(tmp_path, "loans", "ship", "1", "to ada@example.org"))
    assert "direct message" in refused(sigbot(tmp_path, "hw", "edit", "w7900-1", "location=12 Main Street"))
    stored = " ".join(str(v) for table in ("loan_requests", "loan_events", "loan_assets")
                      for row in db(tmp_path).execute(f"SELECT * FROM {table}") for v in row)
    assert "Main Street" not in stored and "7946" not in stored and "example.org" not in stored


def test_a_target_nobody_owns_is_answered_with_what_there_is(tmp_path):
    a_team_with_a_card(tmp_path)
    line = refused(ask(tmp_path, "gfx1200", "for", "tests"))
    assert "Nothing here matches 'gfx1200'" in line and "gpu" in line and "gfx1100, gfx90a" in line
    assert db(tmp_path).execute("SELECT count(*) FROM loan_requests").fetchone() == (0,)


def test_a_requester_that_is_not_a_stable_identity_is_a_usage_error(tmp_path):
    a_team_with_a_card(tmp_path)
    for who in ("ada", "ada!ada@host", "@ada\u202e:localhost", ""):
        line = refused(sigbot(tmp_path, "loans", "request", "--requester", who, "gfx1100", "tests"), 2)
        assert "--requester" in line
    assert db(tmp_path).execute("SELECT count(*) FROM loan_requests").fetchone() == (0,)


def test_a_latin1_csv_is_refused_naming_its_lines_and_nothing_is_imported(tmp_path):
    (tmp_path / "sigbot.toml").write_text(CONFIG)
    (tmp_path / "inv.csv").write_bytes("tag,kind,model\nw7900-1,gpu,W7900\nmi210-1,gpu,Instinct MI210 (Zürich)\n"
                                       .encode("latin-1"))
    result = sigbot(tmp_path, "hw", "import", str(tmp_path / "inv.csv"))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "0 added, 0 changed, 1 problem(s)" in result.stdout
    assert "line 3: not UTF-8 (byte 0xfc)" in result.stderr and "CSV UTF-8" in result.stderr
    assert sigbot(tmp_path, "hw", "export").stdout == "tag,kind,vendor,model,target,memory,serial,donor,custodian," \
                                                      "location,status,notes\n"


def test_a_csv_with_a_byte_order_mark_is_read_like_any_utf8_csv(tmp_path):
    (tmp_path / "sigbot.toml").write_text(CONFIG)
    (tmp_path / "inv.csv").write_bytes("tag,kind,model\r\nw7900-1,gpu,Radeon PRO W7900 (Zürich)\r\n"
                                       .encode("utf-8-sig"))
    result = sigbot(tmp_path, "hw", "import", str(tmp_path / "inv.csv"))
    assert result.exit_code == 0 and "1 added, 0 changed, 0 problem(s)" in result.stdout
    assert "w7900-1 (gpu: Radeon PRO W7900 (Zürich))" in sigbot(tmp_path, "hw", "show", "w7900-1").stdout


def test_a_tag_on_two_rows_of_a_csv_is_refused_on_both(tmp_path):
    (tmp_path / "sigbot.toml").write_text(CONFIG)
    (tmp_path / "inv.csv").write_text("tag,kind,memory\nw7900-1,gpu,48GB\nmi210-1,gpu,64GB\nW7900-1,gpu,24GB\n")
    result = sigbot(tmp_path, "hw", "import", str(tmp_path / "inv.csv"))
    assert result.exit_code == 1 and "1 added, 0 changed, 2 problem(s)" in result.stdout
    assert "line 2 (w7900-1): the tag is also on line 4" in result.stderr
    assert "line 4 (W7900-1): the tag is also on line 2" in result.stderr
    assert "w7900-1" not in sigbot(tmp_path, "hw", "export").stdout


def test_a_csv_row_with_an_unquoted_comma_or_an_unknown_column_stores_nothing_wrong(tmp_path):
    (tmp_path / "sigbot.toml").write_text(CONFIG)
    (tmp_path / "shifted.csv").write_text("tag,kind,model,target\nw7900-1,gpu,Radeon, PRO W7900,gfx1100\n")
    result = sigbot(tmp_path, "hw", "import", str(tmp_path / "shifted.csv"))
    assert result.exit_code == 1 and "line 2 (w7900-1): more cells than the header" in result.stderr
    (tmp_path / "typo.csv").write_text("tag,kind,modle\nw7900-1,gpu,W7900\n")
    result = sigbot(tmp_path, "hw", "import", str(tmp_path / "typo.csv"))
    assert result.exit_code == 1 and "line 1: unknown column(s) 'modle'" in result.stderr
    (tmp_path / "open.csv").write_text('tag,kind,notes\nw7900-1,gpu,"unterminated\nmi210-1,gpu,x\n')
    result = sigbot(tmp_path, "hw", "import", str(tmp_path / "open.csv"))
    assert result.exit_code == 1 and "not CSV that can be read" in result.stderr
    assert sigbot(tmp_path, "hw", "export").stdout.count("\n") == 1


def test_hw_import_of_a_fifo_or_a_device_is_refused_in_one_line_not_a_hang(tmp_path):
    import os
    import signal

    fifo = tmp_path / "inventory.csv"
    os.mkfifo(fifo)
    config = tmp_path / "sigbot.toml"
    config.write_text(f'[bot]\ndata_dir = "{tmp_path}/var"\n\n[[teams]]\nname = "wg"\nmatrix_room = "!wg:x"\n')
    signal.alarm(20)  # a hang fails the test instead of the suite
    try:
        for named in (fifo, "/dev/zero"):
            done = CliRunner().invoke(main, ["--config", str(config), "hw", "import", str(named)])
            assert done.exit_code != 0 and "not a regular file" in done.output, done.output
    finally:
        signal.alarm(0)
