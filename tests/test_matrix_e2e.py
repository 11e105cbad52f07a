"""sigbot in end-to-end encrypted rooms on a real Synapse, talked to by clients that
encrypt (matrix-nio with vodozemac, as Element's crypto): direct chats, a meeting,
a restart with the same key store, keys that come late or never, and no plaintext."""

import asyncio
import time

import pytest
from nio import AsyncClient, AsyncClientConfig
from nio.rooms import MatrixRoom

from bot.chat.matrix_crypto import KEY_WAIT, Encryption, PlaintextRefused
from matrix_users import BotProcess, EncryptingUser, bot_in_new_room, make_encrypted_room, seen_join

pytestmark = pytest.mark.synapse


def run(coro, limit: float = 240):
    return asyncio.run(asyncio.wait_for(coro, limit))


def items(notes: dict) -> list[tuple[str, str]]:
    return [(i["kind"], i["text"]) for t in notes["topics"] for i in t["items"]]


async def bot_types(user: EncryptingUser, room: str, bot: BotProcess) -> list[str]:
    """The type of every non-state event the bot sent into the room, as the server stores it."""
    return [e["type"] for e in await user.raw_events(room) if e["sender"] == bot.user_id and "state_key" not in e]


async def wait_log(bot: BotProcess, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in bot.logs():
        assert time.monotonic() < deadline, f"no {text!r} in the bot's log:\n{bot.logs()}"
        await asyncio.sleep(0.2)


def test_an_encrypted_direct_chat_gets_answers_its_sender_can_decrypt(synapse, tmp_path):
    async def scenario():
        alice = EncryptingUser(synapse, "Alice", tmp_path / "alice-keys")
        await alice.login()
        bot, _team_room = await bot_in_new_room(synapse, tmp_path, alice)
        try:
            dm = await make_encrypted_room(alice, bot.user_id, direct=True)
            await seen_join(alice, dm, bot.user_id)
            await alice.send(dm, "!help")
            assert "loan" in await alice.wait_for_notice(dm, "!help")
            await alice.send(dm, "!loan address")
            assert "!loan address" in await alice.wait_for_notice(dm, "loan address")
            said = await bot_types(alice, dm, bot)
            assert len(said) >= 2 and set(said) == {"m.room.encrypted"}, said
        finally:
            bot.stop()
            await alice.close()

    run(scenario())


def test_a_meeting_held_in_an_encrypted_team_room_gives_the_minutes_said(synapse, tmp_path):
    async def scenario():
        alice = EncryptingUser(synapse, "Alice", tmp_path / "alice-keys")
        carol = EncryptingUser(synapse, "Carol", tmp_path / "carol-keys")
        for u in (alice, carol):
            await u.login()
        bot, room = await bot_in_new_room(synapse, tmp_path, alice, [carol], encrypted=True)
        try:
            await alice.send(room, "#startmeeting Secret WG")
            assert "The chair is Alice" in await alice.wait_for_notice(room, "started")
            await alice.send(room, "#topic Drivers")
            await carol.send(room, "#info the firmware is signed")
            await alice.send(room, "#agreed ship it")
            await alice.send(room, "#action Carol to tag the release")
            await alice.send(room, "#endmeeting")
            assert "Minutes:" in await carol.wait_for_notice(room, "Minutes:", timeout=60)
            assert items(bot.notes()) == [("info", "the firmware is signed"), ("agreed", "ship it"),
                                          ("action", "Carol to tag the release")]
            # Replies and the reactions that acknowledge #info/#agreed/#action alike.
            said = await bot_types(alice, room, bot)
            assert len(said) >= 4 and set(said) == {"m.room.encrypted"}, said
        finally:
            bot.stop()
            for u in (alice, carol):
                await u.close()

    run(scenario())


def test_the_bot_restarted_with_its_key_store_reads_what_was_said_while_it_was_down(synapse, tmp_path):
    async def scenario():
        alice = EncryptingUser(synapse, "Alice", tmp_path / "alice-keys")
        await alice.login()
        bot, room = await bot_in_new_room(synapse, tmp_path, alice, encrypted=True)
        try:
            await alice.send(room, "!help endmeeting")
            await alice.wait_for_notice(room, "endmeeting")
            bot.stop()
            # Encrypted while the bot is away: the room key waits in its device's inbox.
            await alice.send(room, "!help topic")
            bot.start()
            await bot.wait_ready()
            assert "#topic" in await alice.wait_for_notice(room, "#topic", timeout=60)
            await alice.send(room, "!help action")
            assert "#action" in await alice.wait_for_notice(room, "#action", timeout=60)
            assert bot.logs().count("end-to-end encryption on; device") == 2
            assert "matrix: reusing device" in bot.logs()
            said = await bot_types(alice, room, bot)
            assert len(said) >= 3 and set(said) == {"m.room.encrypted"}, said
        finally:
            bot.stop()
            await alice.close()

    run(scenario())


def test_a_message_whose_key_comes_late_is_read_then_and_one_whose_key_never_comes_is_reported_once(
        synapse, tmp_path):
    async def scenario():
        alice = EncryptingUser(synapse, "Alice", tmp_path / "alice-keys")
        await alice.login()
        bot, room = await bot_in_new_room(synapse, tmp_path, alice, encrypted=True)
        try:
            late, release = await alice.send_keys_later(room, "!help agreed")
            await wait_log(bot, f"cannot decrypt {late}")
            await release()
            assert "#agreed" in await alice.wait_for_notice(room, "#agreed", timeout=60)
            assert f"decrypted {late}" in bot.logs()

            lost, _never = await alice.send_keys_later(room, "!help info")
            await wait_log(bot, f"cannot decrypt {lost}")
            started = time.monotonic()
            told = await alice.wait_for_notice(room, "cannot read", timeout=KEY_WAIT.total_seconds() + 60)
            assert time.monotonic() - started > KEY_WAIT.total_seconds() - 5
            assert alice.user_id in told and "send it again" in told
            await asyncio.sleep(5)  # a few more syncs: no second notice for the same message
            history = await alice.client.room_messages(room, start=alice.client.next_batch, limit=50)
            bodies = [getattr(e, "body", "") for e in history.chunk]
            assert sum("cannot read" in b for b in bodies) == 1, bodies
        finally:
            bot.stop()
            await alice.close()

    run(scenario(), limit=300)


def test_nothing_is_sent_into_an_encrypted_room_without_a_key_store(tmp_path):
    """No homeserver is needed: the refusal comes before any request. The client is
    nio's real one, but with no key store loaded, the state nio sends plaintext from."""
    class Db:
        def get_value(self, key):
            return None

    async def scenario():
        client = AsyncClient("http://127.0.0.1:9", "@sigbot:test", config=AsyncClientConfig(encryption_enabled=False))
        client.restore_login("@sigbot:test", "DEVICE", "token")
        client.rooms["!secret:test"] = MatrixRoom("!secret:test", "@sigbot:test", encrypted=True)
        crypto = Encryption(Db())
        crypto.client = client
        try:
            with pytest.raises(PlaintextRefused):
                await crypto.send("!secret:test", "m.room.message", {"msgtype": "m.notice", "body": "hi"})
            with pytest.raises(PlaintextRefused):
                await crypto.send("!secret:test", "m.reaction", {"m.relates_to": {"rel_type": "m.annotation",
                                                                                    "event_id": "$x", "key": "👍"}})
        finally:
            await client.close()

    run(scenario())
