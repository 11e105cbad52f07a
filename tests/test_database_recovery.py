"""A damaged, emptied or deleted database is refused in one line and left as it was; backups restore it.

The databases here are real SQLite files written by sigbot's own store; the
damage is done to their bytes as a failing disk or a careless `> sigbot.db`
would do it.
"""

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_dispatch import Room

from bot.chat.matrix import DIRECT_KEY
from bot.cli import main
from bot.storage import DatabaseDamaged, DatabaseMissing, open_store

ROOT = Path(__file__).resolve().parents[1]
CONFIG = '''[bot]
data_dir = "var"
notes_dir = "notes"
[[teams]]
name = "wg"
matrix_room = "!wg:localhost"
timezone = "Asia/Shanghai"
admins = ["@admin:localhost"]
'''
RUNNABLE = CONFIG + '''[matrix]
homeserver = "http://127.0.0.1:9"
user_id = "@bot:localhost"
password_env = "SIGBOT_TEST_PW"
'''


def sigbot(tmp_path: Path, *args: str):
    (tmp_path / "sigbot.toml").write_text(CONFIG)
    return CliRunner().invoke(main, ["--config", str(tmp_path / "sigbot.toml"), *args])


def one_line(result, code: int = 1) -> str:
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def a_database_with_a_meeting(tmp_path: Path) -> Path:
    room = Room(tmp_path)
    room.say("alice", "#startmeeting Recovery")
    room.say("alice", "#info the disk is failing")
    room.say("alice", "#endmeeting")
    room.bot.store.db.conn.close()
    return room.config.database


def test_a_damaged_schema_page_is_refused_in_one_line_and_the_file_is_left_as_it_was(tmp_path):
    database = a_database_with_a_meeting(tmp_path)
    data = bytearray(database.read_bytes())
    schema = data.index(b"CREATE TABLE")  # the text of sqlite_master's rows, as a bad sector would garble it
    data[schema + 20:schema + 36] = bytes(b ^ 0xA5 for b in data[schema + 20:schema + 36])
    database.write_bytes(data)

    line = one_line(sigbot(tmp_path, "meeting", "list"))
    assert f"the database {database} is damaged: malformed database schema" in line
    assert "sigbot restore" in line
    assert database.read_bytes() == data
    with pytest.raises(DatabaseDamaged):
        open_store(database)


def test_a_file_that_is_not_a_database_at_all_is_named_as_damaged(tmp_path):
    database = a_database_with_a_meeting(tmp_path)
    database.write_bytes(b"this is not SQLite" * 1000)
    assert "is damaged: file is not a database" in one_line(sigbot(tmp_path, "hw", "list"))
    assert database.read_bytes() == b"this is not SQLite" * 1000


def test_a_zero_byte_database_that_sigbot_created_is_refused_not_started_over_empty(tmp_path):
    database = a_database_with_a_meeting(tmp_path)
    database.write_bytes(b"")
    line = one_line(sigbot(tmp_path, "meeting", "list"))
    assert f"the database {database} is empty (0 bytes)" in line and "sigbot run --init" in line
    assert database.stat().st_size == 0
    assert "is empty" in one_line(sigbot(tmp_path, "hw", "list"))


def test_a_deleted_database_with_its_data_dir_still_there_is_refused_until_init(tmp_path):
    database = a_database_with_a_meeting(tmp_path)
    database.unlink()
    assert f"the database {database} is missing" in one_line(sigbot(tmp_path, "meeting", "list"))
    assert not database.exists()
    with pytest.raises(DatabaseMissing):
        open_store(database)

    (tmp_path / "sigbot.toml").write_text(CONFIG)  # no [matrix]: `run` stops right after --init made the file
    done = subprocess.run([sys.executable, "-m", "bot", "--config", "sigbot.toml", "run", "--init"], cwd=tmp_path,
                          env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=120)
    assert "Traceback" not in done.stderr and "no [matrix] section" in done.stderr
    assert sigbot(tmp_path, "meeting", "list").output == ""  # a new, empty database


def test_a_first_start_creates_the_database_without_init(tmp_path):
    assert sigbot(tmp_path, "meeting", "list").exit_code == 0
    assert (tmp_path / "var" / "sigbot.db").exists() and (tmp_path / "var" / "sigbot.db.created").exists()


def test_a_flipped_byte_in_a_stored_text_stops_sigbot_run_with_one_line(tmp_path):
    (tmp_path / "var").mkdir()
    store = open_store(tmp_path / "var" / "sigbot.db")
    store.set_value(DIRECT_KEY, '{"@alice:localhost": "!dm:localhost"}')
    store.db.conn.close()
    database = tmp_path / "var" / "sigbot.db"
    database.write_bytes(database.read_bytes().replace(b"@alice", b"@\xe1lice"))

    (tmp_path / "sigbot.toml").write_text(RUNNABLE)
    done = subprocess.run([sys.executable, "-m", "bot", "--config", "sigbot.toml", "run"], cwd=tmp_path,
                          env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "SIGBOT_TEST_PW": "x"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines() == [
        "Error: the database var/sigbot.db is damaged: a stored text is not UTF-8 (invalid continuation byte "
        "at byte 3); restore it from a backup (sigbot restore BACKUP, see docs/backup.md)"]


def test_a_backup_taken_while_another_connection_writes_is_whole_and_never_blocks_the_writer(tmp_path):
    (tmp_path / "var").mkdir()
    database = tmp_path / "var" / "sigbot.db"
    open_store(database).db.conn.close()
    stop, written, failures = threading.Event(), [], []

    def writer():
        store = open_store(database)
        n = 0
        while not stop.is_set():
            try:
                with store.transaction():  # two rows per transaction: a backup holds both or neither
                    store.set_value(f"a{n}", "x" * 2000)
                    store.set_value(f"b{n}", "x" * 2000)
                written.append(n)
                n += 1
            except sqlite3.Error as exc:
                failures.append(exc)
        store.db.conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 200:
            pass
        results = [sigbot(tmp_path, "backup", str(tmp_path / f"backup{i}.db")) for i in range(3)]
    finally:
        stop.set()
        thread.join()
    assert [r.exit_code for r in results] == [0, 0, 0], [r.output for r in results]
    assert failures == []
    for i in range(3):
        copy = sqlite3.connect(tmp_path / f"backup{i}.db")
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        keys = {k for (k,) in copy.execute("SELECT key FROM kv")}
        numbers = {int(k[1:]) for k in keys}
        assert keys == {f"{p}{n}" for n in numbers for p in "ab"}  # no half transaction
        assert numbers == set(range(len(numbers))) and len(numbers) >= 200
        copy.close()
    assert not list(tmp_path.glob("*.partial"))


def test_a_backup_never_overwrites_and_a_restore_refuses_what_is_not_a_backup(tmp_path):
    a_database_with_a_meeting(tmp_path)
    assert sigbot(tmp_path, "backup", str(tmp_path / "b.db")).exit_code == 0
    assert "exists already" in one_line(sigbot(tmp_path, "backup", str(tmp_path / "b.db")))
    (tmp_path / "notes.txt").write_text("not a database")
    before = (tmp_path / "var" / "sigbot.db").read_bytes()
    assert "is no good as a backup" in one_line(sigbot(tmp_path, "restore", str(tmp_path / "notes.txt")))
    assert "there is no backup at" in one_line(sigbot(tmp_path, "restore", str(tmp_path / "nope.db")))
    other = sqlite3.connect(tmp_path / "other.db")
    other.execute("CREATE TABLE t (x)")
    other.close()
    assert "is not a sigbot backup" in one_line(sigbot(tmp_path, "restore", str(tmp_path / "other.db")))
    assert (tmp_path / "var" / "sigbot.db").read_bytes() == before


def test_a_restored_backup_lists_the_same_meetings_and_replays_to_the_same_minutes(tmp_path):
    room = Room(tmp_path)
    room.say("alice", "#startmeeting Recovery drill")
    room.say("alice", "#topic Backups")
    room.say("bob", "#info the nightly backup runs at 03:00")
    room.say("alice", "#action bob to try a restore")
    backup = sigbot(tmp_path, "backup", str(tmp_path / "drill.db"))  # while the dispatcher holds the database
    assert backup.exit_code == 0, backup.output
    events, clock = room.events, room.clock

    room.say("alice", "#endmeeting")
    listed = sigbot(tmp_path, "meeting", "list").output
    notes = tmp_path / "notes" / "wg"
    minutes = {p.name: p.read_bytes() for p in notes.rglob("*") if p.is_file()}
    assert any(name.endswith(".md") for name in minutes)

    room.bot.store.db.conn.close()
    room.config.database.write_bytes(b"")  # the database is lost, and the notes with it
    shutil.rmtree(notes)
    assert "is empty" in one_line(sigbot(tmp_path, "meeting", "list"))

    restored = sigbot(tmp_path, "restore", str(tmp_path / "drill.db"))
    assert restored.exit_code == 0, restored.output
    assert "the one it replaced is now" in restored.output
    assert list((tmp_path / "var").glob("sigbot.db.before-restore-*"))  # the emptied file is kept, not deleted

    room.events, room.clock = events, clock
    room.boot()  # the bot starts on the restored database and ends the meeting it finds running
    room.say("alice", "#endmeeting")
    assert sigbot(tmp_path, "meeting", "list").output == listed
    assert {p.name: p.read_bytes() for p in notes.rglob("*") if p.is_file()} == minutes


def test_backup_and_restore_are_documented_for_operators():
    text = (ROOT / "docs" / "backup.md").read_text()
    for words in ("sigbot backup", "sigbot restore", "sigbot run --init", "sigbot.db.created", "quick_check"):
        assert words in text


def test_a_damaged_text_read_while_the_bot_runs_is_handled_as_a_storage_failure(tmp_path):
    database = tmp_path / "sigbot.db"
    store = open_store(database)
    store.set_value("sync", "s1_token")
    # as a flipped bit leaves it
    store.db.conn.execute("UPDATE kv SET value = CAST(x'73ff' AS TEXT) WHERE key = 'sync'")
    # The Matrix sync loop keeps its batch on any sqlite3.Error (bot/chat/matrix.py): this must be one.
    with pytest.raises(sqlite3.DatabaseError, match=f"the database {database} is damaged: a stored text is not UTF-8"):
        store.get_value("sync")


def test_a_restore_while_the_bot_has_the_database_open_is_refused_and_changes_nothing(tmp_path):
    database = a_database_with_a_meeting(tmp_path)
    assert sigbot(tmp_path, "backup", str(tmp_path / "b.db")).exit_code == 0
    running = open_store(database)  # the bot, idle between two messages
    try:
        line = one_line(sigbot(tmp_path, "restore", str(tmp_path / "b.db")))
        assert line == f"Error: {database} is open in another process (is the bot running?): stop it, then restore"
        assert not list(database.parent.glob("*before-restore*"))
        assert running.meetings()[0].name == "Recovery"
    finally:
        running.db.conn.close()
    assert sigbot(tmp_path, "restore", str(tmp_path / "b.db")).exit_code == 0


def test_a_sqlite_utils_plugin_installed_beside_sigbot_does_not_run_in_its_database(tmp_path):
    """sqlite-utils runs every installed plugin's `prepare_connection` on each Database() unless told not to:
    any package in the same environment could then add SQL functions to, or read, sigbot's connection."""
    plugins = tmp_path / "site"
    (plugins / "sigbot_evil_plugin-1.0.dist-info").mkdir(parents=True)
    (plugins / "sigbot_evil_plugin-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: sigbot-evil-plugin\nVersion: 1.0\n")
    (plugins / "sigbot_evil_plugin-1.0.dist-info" / "entry_points.txt").write_text(
        "[sqlite_utils]\nevil = sigbot_evil_plugin\n")
    (plugins / "sigbot_evil_plugin.py").write_text(
        "import sqlite_utils\n"
        "@sqlite_utils.hookimpl\n"
        "def prepare_connection(conn):\n"
        "    conn.create_function('evil', 0, lambda: 'ran')\n")
    probe = ("import sqlite3, sys, sqlite_utils\n"
             "from bot.storage import open_store\n"
             f"store = open_store({str(tmp_path / 'sigbot.db')!r})\n"
             "try:\n    store.db.execute('SELECT evil()')\n    print('ran in sigbot')\n"
             "except sqlite3.OperationalError:\n    print('not in sigbot')\n"
             "print('importlib.metadata' in sys.modules)\n"
             "print(sqlite_utils.Database(memory=True).execute('SELECT evil()').fetchone()[0])\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugins), str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # The last line shows the plugin is real: a plain sqlite-utils Database runs it.
    assert done.stdout.split("\n")[:3] == ["not in sigbot", "False", "ran"], done.stdout
