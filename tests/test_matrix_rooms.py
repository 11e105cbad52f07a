"""The Matrix adapter's rooms on a real Synapse: direct chats, rooms joined late,
and the homeserver's rate limit (encrypted rooms: test_matrix_e2e.py)."""

import asyncio
import sqlite3

import pytest
from matrix_users import BotProcess, User, make_room
from nio import RoomCreateResponse, RoomPreset
from servers.synapse import Synapse, ensure_synapse, synapse_venv

pytestmark = pytest.mark.synapse


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 180))


def notices(source: dict) -> bool:
    return source.get("type") == "m.room.message" and source["content"].get("msgtype") == "m.notice"


async def direct_chat(user: User, bot_id: str) -> str:
    resp = await user.client.room_create(is_direct=True, invite=[bot_id], preset=RoomPreset.trusted_private_chat)
    assert isinstance(resp, RoomCreateResponse), resp
    return resp.room_id


def test_commands_in_a_direct_chat_are_answered_there_and_meeting_commands_are_refused(synapse, tmp_path):
    async def scenario():
        alice = User(synapse, "Alice")
        await alice.login()
        bot = BotProcess(synapse, tmp_path, "")
        room = await make_room(alice, bot.user_id, [])
        bot.use_room(room)
        bot.start()
        await bot.wait_ready()
        try:
            dm = await direct_chat(alice, bot.user_id)
            await asyncio.sleep(2)  # the bot accepts the invite on its next sync
            await alice.send(dm, "!help startmeeting")
            assert "startmeeting" in await alice.wait_for_notice(dm, "startmeeting")
            await alice.send(dm, "#startmeeting In private")
            assert "team's room" in await alice.wait_for_notice(dm, "team's room")
            await alice.send(dm, "hello there")
            assert "!help" in await alice.wait_for_notice(dm, "I answer commands")
            # Nothing of the direct chat reached the team room or started a meeting.
            db = sqlite3.connect(tmp_path / "var" / "sigbot.db")
            assert db.execute("SELECT count(*) FROM meetings").fetchone() == (0,)
            assert db.execute("SELECT count(*) FROM lines WHERE room = ?", [room]).fetchone() == (0,)
        finally:
            bot.stop()
            await alice.close()

    run(scenario())


def test_history_from_before_the_bot_joined_is_never_run_as_commands(synapse, tmp_path):
    async def scenario():
        alice = User(synapse, "Alice")
        await alice.login()
        bot = BotProcess(synapse, tmp_path, "")
        resp = await alice.client.room_create(name="Late", preset=RoomPreset.private_chat)
        assert isinstance(resp, RoomCreateResponse), resp
        room = resp.room_id
        bot.use_room(room)
        bot.start()  # cannot join yet: not invited
        await bot.wait_ready()
        try:
            await alice.send(room, "#startmeeting Said before the bot was here")
            await alice.send(room, "!help")
            await alice.client.room_invite(room, bot.user_id)
            await alice.wait_for(room, lambda s: s.get("type") == "m.room.member"
                                 and s.get("state_key") == bot.user_id
                                 and s["content"].get("membership") == "join")
            await alice.send(room, "!help endmeeting")
            assert "endmeeting" in await alice.wait_for_notice(room, "endmeeting")
            db = sqlite3.connect(tmp_path / "var" / "sigbot.db")
            assert db.execute("SELECT count(*) FROM meetings").fetchone() == (0,)
            assert [r[0] for r in db.execute("SELECT text FROM lines")] == ["!help endmeeting"]
        finally:
            bot.stop()
            await alice.close()

    run(scenario())


def test_replies_throttled_by_the_homeserver_all_arrive_in_order(tmp_path):
    """A private Synapse with a tight message rate (0.5/s, burst 2): the bot's
    sends meet M_LIMIT_EXCEEDED and must wait retry_after_ms, keep their order
    and drop nothing."""
    async def scenario(server):
        alice = User(server, "Alice")
        await alice.login()
        bot = BotProcess(server, tmp_path, "")
        room = await make_room(alice, bot.user_id, [])
        bot.use_room(room)
        bot.start()
        await bot.wait_ready()
        try:
            asked = ["startmeeting", "endmeeting", "topic", "info", "action", "agreed"]
            await alice.send(room, "\n".join(f"!help {word}" for word in asked))
            seen: list[str] = []

            def collect(source):
                if notices(source):
                    seen.append(source["content"]["body"])
                return len(seen) >= len(asked)

            await alice.wait_for(room, collect, timeout=90)
            assert [body.split()[0].lstrip("!") for body in seen] == asked
        finally:
            bot.stop()
            await alice.close()

    server = Synapse(ensure_synapse(synapse_venv()), tmp_path / "synapse", message_rate=(0.5, 2))
    with server:
        run(scenario(server))
    # The limit was really met: the homeserver answered the bot with 429 at least once.
    assert "429 - Too Many Requests (rc_message)" in (tmp_path / "synapse" / "synapse.log").read_text()
