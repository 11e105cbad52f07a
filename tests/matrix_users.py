"""Ordinary Matrix users (matrix-nio clients) and a sigbot process, for tests on a real Synapse."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from nio import (
    Api,
    AsyncClient,
    AsyncClientConfig,
    RoomCreateResponse,
    RoomPreset,
    RoomSendResponse,
    ShareGroupSessionResponse,
)
from nio.store import SqliteStore

ROOT = Path(__file__).resolve().parents[1]


class User:
    patience = 30.0  # seconds wait_for waits by default
    def __init__(self, synapse, name: str):
        self.localpart = f"{name.lower()}-{uuid.uuid4().hex[:6]}"
        self.password = "pw-" + uuid.uuid4().hex
        self.user_id = synapse.register(self.localpart, self.password)
        self.display = name
        self.client = AsyncClient(synapse.base_url, self.user_id,
                                  config=AsyncClientConfig(max_limit_exceeded=0, max_timeouts=3))

    async def login(self) -> None:
        await self.client.login(self.password)
        await self.client.set_displayname(self.display)
        await self.client.sync(timeout=0)

    async def send(self, room_id: str, text: str, **extra) -> str:
        content = {"msgtype": "m.text", "body": text, **extra}
        for _ in range(10):  # as any client does, wait out the homeserver's rate limit (M_LIMIT_EXCEEDED)
            resp = await self.client.room_send(room_id, "m.room.message", content)
            if getattr(resp, "status_code", None) != "M_LIMIT_EXCEEDED":
                break
            await asyncio.sleep((getattr(resp, "retry_after_ms", None) or 1000) / 1000)
        assert isinstance(resp, RoomSendResponse), resp
        return resp.event_id

    async def edit(self, room_id: str, event_id: str, text: str) -> str:
        return await self.send(room_id, "* " + text, **{
            "m.new_content": {"msgtype": "m.text", "body": text},
            "m.relates_to": {"rel_type": "m.replace", "event_id": event_id}})

    async def wait_for(self, room_id: str, predicate, timeout: float | None = None) -> dict:
        """The first event in the room (from now on) for which predicate(source) holds."""
        timeout = timeout or self.patience
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            resp = await self.sync(timeout=1000)
            room = getattr(resp, "rooms", None)
            for event in (room.join[room_id].timeline.events if room and room_id in room.join else []):
                if predicate(event.source):
                    return event.source
        raise AssertionError(f"{self.display} saw no matching event in {timeout} s")

    async def wait_for_notice(self, room_id: str, contains: str, timeout: float | None = None) -> str:
        source = await self.wait_for(room_id, lambda s: s.get("type") == "m.room.message"
                                     and s["content"].get("msgtype") == "m.notice"
                                     and contains in s["content"].get("body", ""), timeout)
        return source["content"]["body"]

    async def sync(self, timeout: int):
        return await self.client.sync(timeout=timeout)

    async def close(self) -> None:
        await self.client.close()


class EncryptingUser(User):
    """A user whose client encrypts, as Element does: matrix-nio with its `e2e` extra (vodozemac),
    a key store of its own, and the key upkeep nio's sync_forever would do between syncs."""

    # An answer in an encrypted room takes more round trips (keys queried, claimed,
    # shared) than in a plain one: on a loaded machine they add up.
    patience = 60.0

    def __init__(self, synapse, name: str, store: Path):
        super().__init__(synapse, name)
        store.mkdir(parents=True, exist_ok=True)
        self.client = AsyncClient(synapse.base_url, self.user_id, store_path=str(store),
                                  config=AsyncClientConfig(max_limit_exceeded=0, max_timeouts=3, store=SqliteStore,
                                                           encryption_enabled=True))
        self.held: list[tuple[str, dict]] = []  # (room id, event) synced by send, not yet seen by wait_for

    async def login(self) -> None:
        await super().login()
        assert self.client.olm is not None, "nio has no encryption support: install matrix-nio[e2e]"
        await self.upkeep()

    async def sync(self, timeout: int):
        resp = await self.client.sync(timeout=timeout)
        await self.upkeep()
        return resp

    async def wait_for(self, room_id: str, predicate, timeout: float | None = None) -> dict:
        held, self.held = self.held, []
        for source in (source for rid, source in held if rid == room_id):
            if predicate(source):
                return source
        return await super().wait_for(room_id, predicate, timeout)

    async def upkeep(self) -> None:
        c = self.client
        await c.send_to_device_messages()
        if c.should_upload_keys:
            await c.keys_upload()
        if c.should_query_keys:
            await c.keys_query()
        if c.should_claim_keys:
            await c.keys_claim(c.get_users_for_key_claiming())

    async def send(self, room_id: str, text: str, **extra) -> str:
        # The bot's device is unverified (it cannot be: see docs/encryption.md); Element
        # sends to it unless "exclude insecure devices" is on. A sync first, as a client that
        # is always syncing knows who is in the room and which devices they have; what it
        # brings is kept for wait_for.
        synced = await self.sync(timeout=0)
        rooms = getattr(synced, "rooms", None)
        self.held += [
            (rid, e.source) for rid, info in (rooms.join.items() if rooms else ()) for e in info.timeline.events
        ]
        resp = await self.client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": text, **extra},
                                           ignore_unverified_devices=True)
        assert isinstance(resp, RoomSendResponse), resp
        return resp.event_id

    async def send_keys_later(self, room_id: str, text: str):
        """Send `text` encrypted with a new room key, and return a coroutine function that
        sends that key to the room's devices only when called: what the bot sees when a
        sender's client is slow to share keys. Built from nio's own steps (room_send and
        share_group_session take them in one go)."""
        c = self.client
        await c.joined_members(room_id)
        if c.should_query_keys:
            await c.keys_query()
        missing = c.get_missing_sessions(room_id)
        if missing:
            await c.keys_claim(missing)
        held = list(c.olm.share_group_session_parallel(room_id, list(c.rooms[room_id].users),
                                                       ignore_unverified_devices=True))
        c.olm.outbound_group_sessions[room_id].shared = True
        kind, content = c.encrypt(room_id, "m.room.message", {"msgtype": "m.text", "body": text})
        resp = await c._send(RoomSendResponse, *Api.room_send(c.access_token, room_id, kind, content, uuid.uuid4()),
                             (room_id,))
        assert isinstance(resp, RoomSendResponse), resp

        async def release() -> None:
            for sharing_with, to_device in held:
                sent = await c._send(ShareGroupSessionResponse,
                                     *Api.to_device(c.access_token, "m.room.encrypted", to_device, uuid.uuid4()),
                                     response_data=(room_id, sharing_with))
                assert isinstance(sent, ShareGroupSessionResponse), sent

        return resp.event_id, release

    async def raw_events(self, room_id: str) -> list[dict]:
        """The room's events as the server holds them (newest first), before any decryption."""
        method, path = Api.room_messages(self.client.access_token, room_id, start=None, limit=200)
        resp = await self.client.send(method, path)
        assert resp.status == 200, await resp.text()
        return (await resp.json())["chunk"]


async def make_encrypted_room(owner: User, bot_id: str, members: list[User] = (), direct: bool = False) -> str:
    """A room with encryption on from its creation, as Element makes them (direct chats too)."""
    resp = await owner.client.room_create(
        name=None if direct else "WG",
        is_direct=direct,
        preset=RoomPreset.trusted_private_chat if direct else RoomPreset.private_chat,
        invite=[bot_id] + [m.user_id for m in members],
        initial_state=[
            {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
        ],
    )
    assert isinstance(resp, RoomCreateResponse), resp
    for member in members:
        await member.client.join(resp.room_id)
        await member.sync(timeout=0)  # an encrypting client sends only into rooms it has synced
    return resp.room_id


async def make_room(owner: User, bot_id: str, members: list[User], chair: User | None = None) -> str:
    resp = await owner.client.room_create(name="WG", preset=RoomPreset.private_chat,
                                          invite=[bot_id] + [m.user_id for m in members])
    assert isinstance(resp, RoomCreateResponse), resp
    for member in members:
        await member.client.join(resp.room_id)
    if chair is not None:
        state = await owner.client.room_get_state_event(resp.room_id, "m.room.power_levels")
        content = dict(state.content)
        content["users"] = {**content.get("users", {}), chair.user_id: 50}
        await owner.client.room_put_state(resp.room_id, "m.room.power_levels", content)
    return resp.room_id


class BotProcess:
    """`sigbot run` as its own process, as in production, so it can be killed for real."""

    def __init__(self, synapse, tmp: Path, room_id: str, sigbot: Path | None = None):
        # The installed `sigbot` script, as operators run it (tests/test_installed.py passes the one
        # of a clean venv); never `python -m bot` from the checkout, which would hide a missing file.
        self.sigbot = sigbot or Path(sys.executable).with_name("sigbot")
        self.localpart = f"sigbot-{uuid.uuid4().hex[:6]}"
        self.password = "pw-" + uuid.uuid4().hex
        self.user_id = synapse.register(self.localpart, self.password)
        self.tmp = tmp
        self.config = tmp / "sigbot.toml"
        self.config.write_text(
            f'[bot]\ndata_dir = "var"\nnotes_dir = "notes"\n\n[web]\nlisten = "127.0.0.1:0"\n\n'
            f'[matrix]\nhomeserver = "{synapse.base_url}"\nuser_id = "{self.user_id}"\n'
            f'password_env = "SIGBOT_TEST_PASSWORD"\n\n'
            f'[[teams]]\nname = "wg"\nmatrix_room = "{room_id}"\ntimezone = "Europe/Berlin"\n')
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        env = {**os.environ, "SIGBOT_TEST_PASSWORD": self.password, "PYTHONUNBUFFERED": "1"}
        log = open(self.tmp / f"bot-{self.starts}.log", "w")
        self.proc = subprocess.Popen([str(self.sigbot), "--config", str(self.config), "run"],
                                     cwd=self.tmp, env=env, stdout=log, stderr=log)

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Until this start's first sync is done: from then on, what users say is read, not skipped as history."""
        deadline = time.monotonic() + timeout
        log = self.tmp / f"bot-{self.starts}.log"
        while time.monotonic() < deadline:
            if "matrix: synced; reading new messages" in log.read_text():
                return
            assert self.proc and self.proc.poll() is None, log.read_text()
            await asyncio.sleep(0.1)
        raise AssertionError("sigbot did not start:\n" + log.read_text())

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def notes(self) -> dict:
        files = list((self.tmp / "notes" / "wg").glob("[0-9]*/*.json"))  # minutes only, not notes/<team>/actions.json
        assert len(files) == 1, files
        return json.loads(files[0].read_text())

    def use_room(self, room_id: str) -> None:
        self.config.write_text(self.config.read_text().replace('matrix_room = ""', f'matrix_room = "{room_id}"'))

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.tmp.glob("bot-*.log")))


async def bot_in_new_room(synapse, tmp: Path, owner: User, members: list[User] = (), chair: User | None = None,
                          encrypted: bool = False):
    """A running sigbot in a new room made by `owner`; returns (bot, room id).

    An encrypted room is returned once the owner has seen the bot join: only then
    does the owner's client share room keys with the bot's device."""
    bot = BotProcess(synapse, tmp, "")
    if encrypted:
        assert chair is None, "an encrypted room's chair is its creator"
        room = await make_encrypted_room(owner, bot.user_id, list(members))
    else:
        room = await make_room(owner, bot.user_id, list(members), chair=chair)
    bot.use_room(room)
    bot.start()
    await bot.wait_ready()
    if encrypted:
        await seen_join(owner, room, bot.user_id)
    return bot, room


async def seen_join(user: User, room_id: str, joiner: str) -> None:
    """Until `user` sees `joiner` join the room."""
    await user.wait_for(room_id, lambda s: s.get("type") == "m.room.member" and s.get("state_key") == joiner
                        and s["content"].get("membership") == "join")
