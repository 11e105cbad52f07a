"""The database's disk fills up under a running bot on a real Synapse; a read-only database at start.

The bot's data folder is a real tmpfs (mounted by the test, which runs as root
as CI does), so the faults are the kernel's own ENOSPC and EROFS, not a
simulation. What is required: a clear error in the log and in the room, no
line lost or doubled once the condition clears, and a database that passes
SQLite's integrity check.

A file system cannot be made read-only under a process that has a file open
for writing (the kernel refuses the remount while it is busy; only its own
emergency remount after disk errors does it), so a read-only database is
tested at start. At run time it takes the same path as a full disk: any
SQLite error while storing a batch leaves the sync token where it was.
"""

import asyncio
import errno
import os
import sqlite3
import subprocess
import sys

import pytest
from matrix_users import ROOT, User, bot_in_new_room

pytestmark = pytest.mark.synapse


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def fill(folder) -> None:
    with open(folder / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_a_full_disk_loses_no_line_and_says_so(synapse, tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    sh("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(var))

    async def scenario():
        alice = User(synapse, "Alice")
        await alice.login()
        bot, room = await bot_in_new_room(synapse, tmp_path, alice)
        try:
            await alice.send(room, "#startmeeting Faults")
            await alice.wait_for_notice(room, "started")
            await alice.send(room, "#info before")
            await asyncio.sleep(1)

            fill(var)
            for i in range(3):
                await alice.send(room, f"#info while full {i}")
            assert "cannot write its database" in await alice.wait_for_notice(room, "cannot write")
            (var / "filler").unlink()
            await alice.wait_for_notice(room, "can write its database again", timeout=90)

            await alice.send(room, "#endmeeting")
            await alice.wait_for_notice(room, "Minutes:", timeout=60)
            said = [i["text"] for t in bot.notes()["topics"] for i in t["items"]]
            assert said == ["before", "while full 0", "while full 1", "while full 2"]
            assert "database or disk is full" in bot.logs()
        finally:
            bot.stop()
            await alice.close()

    try:
        asyncio.run(asyncio.wait_for(scenario(), 240))
        db = sqlite3.connect(var / "sigbot.db")
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        db.close()
    finally:
        subprocess.run(["umount", "-l", str(var)], capture_output=True)


def test_a_read_only_database_at_start_is_a_clear_error(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    sh("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(var))
    try:
        sqlite3.connect(var / "sigbot.db").execute("CREATE TABLE t (x)").connection.close()
        sh("mount", "-o", "remount,ro", str(var))
        config = tmp_path / "sigbot.toml"
        config.write_text('[bot]\ndata_dir = "var"\n\n[matrix]\nhomeserver = "http://127.0.0.1:9"\n'
                          'user_id = "@bot:localhost"\npassword_env = "PW"\n\n'
                          '[[teams]]\nname = "wg"\nmatrix_room = "!room:localhost"\n')
        done = subprocess.run([sys.executable, "-m", "bot", "--config", str(config), "run"], cwd=tmp_path,
                              env={**os.environ, "PW": "x", "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
        assert done.returncode != 0
        assert "Traceback" not in done.stderr
        assert f"cannot open the database {var / 'sigbot.db'}" in done.stderr
        assert "read-only" in done.stderr or "readonly" in done.stderr
    finally:
        subprocess.run(["umount", "-l", str(var)], capture_output=True)
