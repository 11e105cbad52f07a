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
