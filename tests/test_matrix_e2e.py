"""sigbot in end-to-end encrypted rooms on a real Synapse, talked to by clients that
encrypt (matrix-nio with vodozemac, as Element's crypto): direct chats, a meeting,
a restart with the same key store, keys that come late or never, a full disk, and
never a plaintext event. Two tests need no homeserver: the refusal to send in the
clear, and the clock of an unreadable message."""

import asyncio
import json
import shutil
import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest
from matrix_users import BotProcess, EncryptingUser, User, bot_in_new_room, make_encrypted_room, seen_join
from nio import AsyncClient, AsyncClientConfig, ToDeviceMessage, ToDeviceResponse
from nio.rooms import MatrixRoom
from nio.store import SqliteMemoryStore
from test_storage_faults import fill

from bot.chat.matrix_crypto import KEY_WAIT, Encryption, PlaintextRefused
from bot.storage import open_store


def run(coro, limit: float = 240):
    return asyncio.run(asyncio.wait_for(coro, limit))


def items(notes: dict) -> list[tuple[str, str]]:
    return [(i["kind"], i["text"]) for t in notes["topics"] for i in t["items"]]


async def bot_events(user: EncryptingUser, room: str, bot: BotProcess) -> list[dict]:
    """Every non-state event the bot sent into the room, as the server stores it."""
    return [e for e in await user.raw_events(room) if e["sender"] == bot.user_id and "state_key" not in e]


async def bot_types(user: EncryptingUser, room: str, bot: BotProcess) -> list[str]:
    return [e["type"] for e in await bot_events(user, room, bot)]


async def alice_and_bot(synapse, tmp_path):
    """Alice, whose client encrypts, and a bot in a new encrypted room of hers."""
    [alice] = await encrypting_users(synapse, tmp_path, "Alice")
    bot, room = await bot_in_new_room(synapse, tmp_path, alice, encrypted=True)
    return alice, bot, room


async def stopped_after_one_answer(synapse, tmp_path):
    """Alice and a bot in her encrypted room, stopped once it has answered her: keys are in use."""
    alice, bot, room = await alice_and_bot(synapse, tmp_path)
    try:
        await alice.send(room, "!help endmeeting")
        await alice.wait_for_notice(room, "endmeeting")
    except BaseException:
        await alice.close()
        raise
    finally:
        bot.stop()
    return alice, bot, room


async def encrypting_users(synapse, tmp_path, *names: str) -> list[EncryptingUser]:
    """Users logged in with clients that encrypt, each with a key store of its own."""
    users = [EncryptingUser(synapse, name, tmp_path / f"{name.lower()}-keys") for name in names]
    for user in users:
        await user.login()
    return users


async def withhold(user: EncryptingUser, room: str, recipient: str, code: str) -> None:
    """What Element sends, by MSC4153, to a device it excludes: m.room_key.withheld for the
    room key `user` last used in `room` (Element cannot run here; nio has no such message,
    so it is built from the spec)."""
    c = user.client
    content = {"algorithm": "m.megolm.v1.aes-sha2", "room_id": room, "code": code,
               "session_id": c.olm.outbound_group_sessions[room].id,
               "sender_key": c.olm.account.identity_keys["curve25519"],
               "reason": "The sender has disabled encrypting to unverified devices."}
    for device in c.device_store.active_user_devices(recipient):
        resp = await c.to_device(ToDeviceMessage("m.room_key.withheld", recipient, device.id, content))
        assert isinstance(resp, ToDeviceResponse), resp


async def wait_log(bot: BotProcess, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in bot.logs():
        assert time.monotonic() < deadline, f"no {text!r} in the bot's log:\n{bot.logs()}"
        await asyncio.sleep(0.2)


@pytest.mark.synapse
def test_an_encrypted_direct_chat_gets_answers_its_sender_can_decrypt(synapse, tmp_path):
    async def scenario():
        [alice] = await encrypting_users(synapse, tmp_path, "Alice")
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


@pytest.mark.synapse
def test_a_direct_chat_the_bot_opens_is_encrypted_and_its_first_message_readable_once_joined(synapse, tmp_path):
    """The bot writes first (here: told an address in the team room, it explains privately): the chat it
    opens is encrypted from its creation, and the invitee, who joins after the message was sent, reads it.
    Someone whose client cannot decrypt (no device keys) gets a plain one they can read."""
    async def opened_for(user: User, team_room: str, text: str) -> tuple[str, str]:
        """`user` says `text` in the team room; the direct chat the bot opens, joined, and what it says there."""
        await user.send(team_room, text)
        dm, deadline = None, time.monotonic() + user.patience
        while dm is None:
            assert time.monotonic() < deadline, f"the bot opened no direct chat with {user.display}"
            synced = await user.sync(timeout=1000)
            dm = next(iter(getattr(getattr(synced, "rooms", None), "invite", {}) or {}), None)
        await user.client.join(dm)
        return dm, await user.wait_for_notice(dm, "direct message")

    async def scenario():
        [alice] = await encrypting_users(synapse, tmp_path, "Alice")
        bob = User(synapse, "Bob")  # a client without encryption
        await bob.login()
        bot, team_room = await bot_in_new_room(synapse, tmp_path, alice, [bob])
        try:
            dm, told = await opened_for(alice, team_room, "ship it to 12 Sample Street, phone +49 170 5550123")
            assert "address or a phone number" in told
            raw = await alice.raw_events(dm)
            assert any(e["type"] == "m.room.encryption" for e in raw)
            said = [e["type"] for e in raw if e["sender"] == bot.user_id and "state_key" not in e]
            assert said and set(said) == {"m.room.encrypted"}, said
            dm, told = await opened_for(bob, team_room, "or to 14 Sample Street, phone +49 170 5550124")
            assert "address or a phone number" in told  # read as an m.room.message: Bob's chat is plain
        finally:
            bot.stop()
            await alice.close()
            await bob.close()


    run(scenario())


@pytest.mark.synapse
def test_a_meeting_held_in_an_encrypted_team_room_gives_the_minutes_said(synapse, tmp_path):
    async def scenario():
        alice, carol = await encrypting_users(synapse, tmp_path, "Alice", "Carol")
        bot, room = await bot_in_new_room(synapse, tmp_path, alice, [carol], encrypted=True)
        try:
            await alice.send(room, "#startmeeting Secret WG")
            assert "The chair is Alice" in await alice.wait_for_notice(room, "started")
            await alice.send(room, "#topic Drivers")
            await carol.send(room, "#info the firmware is signed")
            # An edit's relation travels outside the ciphertext; a redaction is never encrypted.
            typo = await carol.send(room, "#info teh typo")
            gone = await carol.send(room, "#info delete me")
            await carol.edit(room, typo, "#info the typo, fixed")
            await carol.client.room_redact(room, gone)
            await alice.send(room, "#agreed ship it")
            await alice.send(room, "#action Carol to tag the release")
            await alice.send(room, "#endmeeting")
            assert "Minutes:" in await carol.wait_for_notice(room, "Minutes:", timeout=60)
            assert items(bot.notes()) == [("info", "the firmware is signed"), ("info", "the typo, fixed"),
                                          ("agreed", "ship it"), ("action", "Carol to tag the release")]
            # Replies and the reactions that acknowledge #info/#agreed/#action alike
            # (a reaction's relation stays outside the ciphertext, as the spec has it).
            said = await bot_events(alice, room, bot)
            assert len(said) >= 4 and {e["type"] for e in said} == {"m.room.encrypted"}, said
            assert any(e["content"].get("m.relates_to", {}).get("rel_type") == "m.annotation" for e in said)
        finally:
            bot.stop()
            for u in (alice, carol):
                await u.close()

    run(scenario())


@pytest.mark.synapse
def test_someone_who_joins_an_encrypted_room_later_can_read_the_bots_answers(synapse, tmp_path):
    async def scenario():
        alice, bot, room = await alice_and_bot(synapse, tmp_path)
        [dave] = await encrypting_users(synapse, tmp_path, "Dave")
        try:
            await alice.send(room, "!help endmeeting")
            await alice.wait_for_notice(room, "endmeeting")  # a room key is out, shared before Dave came
            await alice.client.room_invite(room, dave.user_id)
            await dave.client.join(room)
            await dave.send(room, "!help topic")
            assert "#topic" in await dave.wait_for_notice(room, "#topic")
        finally:
            bot.stop()
            for u in (alice, dave):
                await u.close()

    run(scenario())


@pytest.mark.synapse
def test_the_bot_restarted_with_its_key_store_reads_what_was_said_while_it_was_down(synapse, tmp_path):
    async def scenario():
        alice, bot, room = await stopped_after_one_answer(synapse, tmp_path)
        try:
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


@pytest.mark.synapse
def test_a_bot_whose_key_store_was_lost_comes_back_as_a_new_device_and_is_read_again(synapse, tmp_path):
    async def scenario():
        alice, bot, room = await stopped_after_one_answer(synapse, tmp_path)
        try:
            shutil.rmtree(tmp_path / "var" / "matrix-crypto")  # the session file stays
            bot.start()
            await bot.wait_ready()
            await alice.send(room, "!help topic")
            assert "#topic" in await alice.wait_for_notice(room, "#topic")
            assert "the key store of device" in bot.logs() and "not reusing that device" in bot.logs()
        finally:
            bot.stop()
            await alice.close()

    run(scenario())


@pytest.mark.synapse
def test_a_configured_access_token_whose_device_lost_its_keys_stops_the_bot_with_one_clear_line(
        synapse, tmp_path, monkeypatch):
    async def scenario():
        alice, bot, room = await stopped_after_one_answer(synapse, tmp_path)
        try:
            session = json.loads((tmp_path / "var" / "matrix-session.json").read_text())
            shutil.rmtree(tmp_path / "var" / "matrix-crypto")
            # The token names its device for good: no new device can be made from it.
            monkeypatch.setenv("SIGBOT_TEST_TOKEN", session["access_token"])
            bot.config.write_text(bot.config.read_text().replace('password_env = "SIGBOT_TEST_PASSWORD"',
                                                                 'access_token_env = "SIGBOT_TEST_TOKEN"'))
            bot.start()
            assert bot.proc.wait(60) != 0
            log = bot.logs()
            assert f"the Matrix key store of device {session['device_id']} is gone" in log
            assert "Traceback" not in log and "Unclosed" not in log
        finally:
            bot.stop()
            await alice.close()

    run(scenario())


@pytest.mark.synapse
def test_a_message_whose_key_comes_late_is_read_then_and_one_whose_key_never_comes_is_reported_once(
        synapse, tmp_path):
    async def scenario():
        alice, bot, room = await alice_and_bot(synapse, tmp_path)
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


@pytest.mark.synapse
def test_a_sender_whose_client_withholds_the_key_is_told_why_at_once(synapse, tmp_path):
    async def scenario():
        alice, bot, room = await alice_and_bot(synapse, tmp_path)
        try:
            kept, _never = await alice.send_keys_later(room, "!help topic")
            await withhold(alice, room, bot.user_id, "m.unverified")
            told = await alice.wait_for_notice(room, "cannot read", timeout=KEY_WAIT.total_seconds() - 5)
            assert "does not send its keys to devices that are not verified" in told and alice.user_id in told
            assert f"cannot decrypt {kept}" in bot.logs() and "will not send me the key" in bot.logs()
        finally:
            bot.stop()
            await alice.close()

    run(scenario())


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


@pytest.mark.synapse
def test_a_full_disk_under_an_encrypted_room_loses_no_line(synapse, tmp_path):
    """The data folder (database and key store) is a real tmpfs that the test fills, as in
    test_storage_faults.py: the key store's writes meet ENOSPC too."""
    var = tmp_path / "var"
    var.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(var)], check=True)

    async def scenario():
        alice, bot, room = await alice_and_bot(synapse, tmp_path)
        try:
            await alice.send(room, "#startmeeting Faults")
            await alice.wait_for_notice(room, "started")
            fill(var)
            for i in range(3):
                await alice.send(room, f"#info while full {i}")
            assert "cannot write its database" in await alice.wait_for_notice(room, "cannot write", timeout=60)
            (var / "filler").unlink()
            await alice.wait_for_notice(room, "can write its database again", timeout=90)
            await alice.send(room, "#endmeeting")
            await alice.wait_for_notice(room, "Minutes:", timeout=60)
            assert [text for _, text in items(bot.notes())] == [f"while full {i}" for i in range(3)]
            # A batch handled again is decrypted again: nio skips a sync response whose
            # next_batch it has seen, so the adapter must not take that for a missing key.
            assert "cannot decrypt" not in bot.logs()
        finally:
            bot.stop()
            await alice.close()

    try:
        run(scenario())
    finally:
        subprocess.run(["umount", "-l", str(var)], capture_output=True)


def test_an_unreadable_message_is_kept_across_restarts_its_sender_told_once_and_dropped_after_a_week():
    """No homeserver: nio's real Olm machine (in memory) meets an event from a session it
    has no key for; the clock is the test's."""
    store = open_store(":memory:")
    clock = [datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)]

    def later(**delta) -> None:
        clock[0] += timedelta(**delta)

    source = {"type": "m.room.encrypted", "event_id": "$secret", "sender": "@alice:test", "origin_server_ts": 0,
              "content": {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEiB", "sender_key": "c2VuZGVy",
                          "session_id": "c2Vzc2lvbg", "device_id": "ALICEDEV"}}

    async def scenario():
        client = AsyncClient("http://127.0.0.1:9", "@sigbot:test",
                             config=AsyncClientConfig(store=SqliteMemoryStore, encryption_enabled=True))
        client.restore_login("@sigbot:test", "BOTDEV", "token")
        try:
            crypto = Encryption(store, now=lambda: clock[0])
            crypto.client = client
            assert crypto.readable("!room:test", source) is None
            later(seconds=KEY_WAIT.total_seconds() - 1)
            assert crypto.overdue() == []
            later(seconds=2)
            [(room, text)] = crypto.overdue()
            assert room == "!room:test" and "@alice:test" in text and "send it again" in text
            assert crypto.overdue() == []
            restarted = Encryption(store, now=lambda: clock[0])
            restarted.client = client
            assert list(restarted.pending) == ["$secret"]
            assert restarted.overdue() == []  # told before the restart
            later(days=8)
            assert restarted.overdue() == [] and restarted.pending == {}
            assert Encryption(store).pending == {}
        finally:
            await client.close()

    run(scenario())


@pytest.mark.synapse
def test_the_send_path_encrypts_messages_and_reactions_and_sends_a_redaction_as_itself(synapse, tmp_path):
    """The adapter's send path driven directly, around a real encrypting client in a real room."""
    async def scenario():
        alice, sender = await encrypting_users(synapse, tmp_path, "Alice", "Sender")
        room = await make_encrypted_room(alice, sender.user_id)
        await sender.client.join(room)
        await sender.sync(timeout=0)
        crypto = Encryption(open_store(":memory:"))
        crypto.client = sender.client
        try:
            said = await crypto.send(room, "m.room.message", {"msgtype": "m.notice", "body": "hello"})
            await crypto.send(room, "m.reaction", {"m.relates_to": {"rel_type": "m.annotation",
                                                                   "event_id": said.event_id, "key": "👍"}})
            assert "hello" in await alice.wait_for_notice(room, "hello")
            gone = await crypto.send(room, "m.room.redaction", {"redacts": said.event_id, "reason": "test"})
            assert gone.event_id
            raw = {e["event_id"]: e for e in await alice.raw_events(room) if e["sender"] == sender.user_id}
            types = sorted(e["type"] for e in raw.values() if "state_key" not in e)
            assert types == ["m.room.encrypted", "m.room.encrypted", "m.room.redaction"], types
            assert raw[gone.event_id]["redacts"] == said.event_id or \
                raw[gone.event_id]["content"].get("redacts") == said.event_id
            assert raw[said.event_id]["content"] == {}  # the redaction took
        finally:
            for u in (alice, sender):
                await u.close()

    run(scenario())
