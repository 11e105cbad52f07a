"""The Synapse harness runs a real homeserver that matrix-nio clients can use."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinResponse,
    LoginResponse,
    RoomCreateResponse,
    RoomMessagesResponse,
    RoomMessageText,
    RoomPreset,
    RoomSendError,
    RoomSendResponse,
    SyncResponse,
)
from servers.synapse import Synapse

PASSWORD = "correct horse battery staple"
SCENARIO_TIMEOUT_S = 60
T = TypeVar("T")

# nio retries 429s and connection errors forever unless told otherwise.
BOUNDED = AsyncClientConfig(max_limit_exceeded=0, max_timeouts=3)


def run(scenario: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine with an overall time limit (no pytest-asyncio here)."""
    asyncio.run(asyncio.wait_for(scenario, SCENARIO_TIMEOUT_S))


def new_user(synapse: Synapse, name: str) -> str:
    """Register a user with a unique localpart on the shared server."""
    localpart = f"{name}-{secrets.token_hex(4)}"
    synapse.register(localpart, PASSWORD)
    return localpart


async def logged_in(synapse: Synapse, localpart: str) -> AsyncClient:
    client = AsyncClient(synapse.base_url, synapse.user_id(localpart), config=BOUNDED)
    assert isinstance(await client.login(PASSWORD), LoginResponse)
    return client


async def sync_until(client: AsyncClient, found: Callable[[SyncResponse], T | None],
                     attempts: int = 20) -> T:
    """Long-poll /sync (1 s each) until ``found`` returns something."""
    for _ in range(attempts):
        response = await client.sync(timeout=1000)
        assert isinstance(response, SyncResponse), response
        if (result := found(response)) is not None:
            return result
    raise AssertionError(f"{client.user_id}: not seen after {attempts} syncs")


def text_in(room_id: str, body: str) -> Callable[[SyncResponse], RoomMessageText | None]:
    """A ``found`` for sync_until: the m.text message ``body`` in ``room_id``."""
    def found(response: SyncResponse) -> RoomMessageText | None:
        room = response.rooms.join.get(room_id)
        events = room.timeline.events if room else []
        return next((e for e in events
                     if isinstance(e, RoomMessageText) and e.body == body), None)
    return found


async def send_text(client: AsyncClient, room_id: str, body: str) -> Any:
    content = {"msgtype": "m.text", "body": body}
    return await client.room_send(room_id, "m.room.message", content)


def test_a_message_sent_by_one_user_reaches_an_invited_user_by_sync(synapse: Synapse):
    alice, bob = new_user(synapse, "alice"), new_user(synapse, "bob")

    async def scenario():
        a, b = await logged_in(synapse, alice), await logged_in(synapse, bob)
        try:
            await b.sync(timeout=0)  # the first sync only sets b's since-token
            created = await a.room_create(name="harness", preset=RoomPreset.private_chat,
                                          invite=[b.user_id])
            assert isinstance(created, RoomCreateResponse), created
            room_id = created.room_id
            await sync_until(b, lambda r: room_id if room_id in r.rooms.invite else None)
            assert isinstance(await b.join(room_id), JoinResponse)
            assert isinstance(await send_text(a, room_id, "hello bob"), RoomSendResponse)
            message = await sync_until(b, text_in(room_id, "hello bob"))
            assert message.sender == a.user_id
        finally:
            await a.close()
            await b.close()

    run(scenario())


def test_a_restart_keeps_users_rooms_messages_and_access_tokens(synapse: Synapse):
    carol = new_user(synapse, "carol")
    port = synapse.port

    async def scenario():
        before = await logged_in(synapse, carol)
        try:
            created = await before.room_create(name="kept")
            assert isinstance(created, RoomCreateResponse), created
            room_id = created.room_id
            assert isinstance(await send_text(before, room_id, "still here?"),
                              RoomSendResponse)
            await before.sync(timeout=0)

            await asyncio.to_thread(synapse.restart)
            assert synapse.port == port

            # The old session's token still works: the bot just reconnects.
            assert isinstance(await send_text(before, room_id, "yes"), RoomSendResponse)
            await sync_until(before, text_in(room_id, "yes"))

            after = await logged_in(synapse, carol)  # a new device, a fresh login
            try:
                await sync_until(after, lambda r: r if room_id in r.rooms.join else None)
                assert after.rooms[room_id].name == "kept"
                history = await after.room_messages(room_id, limit=50)
                assert isinstance(history, RoomMessagesResponse), history
                bodies = [e.body for e in history.chunk if isinstance(e, RoomMessageText)]
                assert bodies[:2] == ["yes", "still here?"]  # newest first
            finally:
                await after.close()
        finally:
            await before.close()

    run(scenario())


def test_a_server_with_strict_message_rate_answers_limit_exceeded(
        synapse: Synapse, tmp_path: Path):
    # Room creation spends one of rc_message's burst too; admins are not exempt.
    with Synapse(synapse.python, tmp_path, message_rate=(0.1, 3)) as strict:
        dave = new_user(strict, "dave")

        async def scenario():
            client = await logged_in(strict, dave)
            try:
                created = await client.room_create()
                assert isinstance(created, RoomCreateResponse), created
                replies = [await send_text(client, created.room_id, f"spam {n}")
                           for n in range(6)]
            finally:
                await client.close()
            errors = [r for r in replies if isinstance(r, RoomSendError)]
            assert errors, replies
            assert errors[0].status_code == "M_LIMIT_EXCEEDED"
            assert errors[0].retry_after_ms and errors[0].retry_after_ms > 0

        run(scenario())
