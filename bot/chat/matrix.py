"""The Matrix adapter: sigbot lives in each team's room through matrix-nio.

It logs in once and keeps its device (data_dir/matrix-session.json), syncs
with a stored token so that events sent while it was down are handled once, in
order, after a restart, and sends each room's replies through one ordered
queue. Everything it reads becomes a `Message` for the dispatcher; everything
the dispatcher answers is sent back as `m.notice` or a reaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from datetime import datetime, timezone
from pathlib import Path

from aiohttp import ClientError
from nio import AsyncClient, AsyncClientConfig, JoinError, LoginResponse, RoomResolveAliasResponse, SyncError, WhoamiResponse

from bot.chat.backoff import Backoff
from bot.chat.matrix_events import notice_content, reaction_content, read_message
from bot.config import Config, MatrixSettings
from bot.core.message import Effect, Message, Network, React, Reply
from bot.dispatch import Dispatcher

log = logging.getLogger(__name__)
SYNC_TOKEN_KEY = "matrix.next_batch"
SEND_ATTEMPTS = 12


class MatrixAdapter:
    def __init__(self, config: Config, dispatcher: Dispatcher, rng: random.Random | None = None):
        assert config.matrix is not None
        self.config = config
        self.settings: MatrixSettings = config.matrix
        self.dispatcher = dispatcher
        self.store = dispatcher.store
        self.rng = rng or random.Random()
        self.client: AsyncClient | None = None
        self.room_ids: dict[str, str] = {}  # configured name (alias or id) -> room id
        self.names: dict[str, str] = {}  # room id -> configured name
        self.queues: dict[str, asyncio.Queue] = {}
        self.senders: list[asyncio.Task] = []
        self.warned_encrypted: set[str] = set()
        self.last_sync: datetime | None = None

    # --- session -----------------------------------------------------------

    @property
    def session_file(self) -> Path:
        return self.config.data_dir / "matrix-session.json"

    async def login(self) -> None:
        """Reuse the stored device and token; log in (once) when there is none."""
        self.client = AsyncClient(
            self.settings.homeserver, self.settings.user_id,
            # nio honours M_LIMIT_EXCEEDED's retry_after_ms itself; other
            # failures come back to us so our own backoff (with jitter) applies.
            config=AsyncClientConfig(max_limit_exceeded=None, max_timeouts=2, request_timeout=60),
        )
        saved = self._saved_session()
        if saved:
            self.client.restore_login(saved["user_id"], saved["device_id"], saved["access_token"])
            if isinstance(await self.client.whoami(), WhoamiResponse):
                log.info("matrix: reusing device %s", saved["device_id"])
                return
            log.warning("matrix: the stored access token was refused; logging in again")
        if self.settings.access_token:
            token = self.settings.access_token.get()
            whoami = await self._whoami_with(token)
            self.client.restore_login(self.settings.user_id, whoami or "", token)
        else:
            assert self.settings.password is not None
            resp = await self.client.login(self.settings.password.get(), device_name=self.settings.device_name)
            if not isinstance(resp, LoginResponse):
                raise RuntimeError(f"Matrix login as {self.settings.user_id} failed: {getattr(resp, 'message', resp)}")
        self._save_session()

    async def _whoami_with(self, token: str) -> str | None:
        assert self.client is not None
        self.client.access_token = token
        resp = await self.client.whoami()
        if not isinstance(resp, WhoamiResponse):
            raise RuntimeError(f"Matrix access token for {self.settings.user_id} was refused: {getattr(resp, 'message', resp)}")
        return getattr(resp, "device_id", None)

    def _saved_session(self) -> dict | None:
        try:
            data = json.loads(self.session_file.read_text())
        except (OSError, ValueError):
            return None
        return data if data.get("user_id") == self.settings.user_id and data.get("access_token") else None

    def _save_session(self) -> None:
        assert self.client is not None
        self.session_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.session_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"user_id": self.client.user_id, "device_id": self.client.device_id,
                       "access_token": self.client.access_token}, f)
        tmp.replace(self.session_file)

    # --- rooms -------------------------------------------------------------

    async def join_rooms(self) -> None:
        assert self.client is not None
        for team in self.config.teams:
            name = team.matrix_room
            if not name:
                continue
            room_id = name
            if name.startswith("#"):
                resp = await self.client.room_resolve_alias(name)
                if not isinstance(resp, RoomResolveAliasResponse):
                    log.error("matrix: cannot resolve %s for team %s: %s", name, team.name, getattr(resp, "message", resp))
                    continue
                room_id = resp.room_id
            self.room_ids[name], self.names[room_id] = room_id, name
            if room_id not in self.client.rooms:
                resp = await self.client.join(room_id)
                if isinstance(resp, JoinError):
                    log.error("matrix: cannot join %s (team %s): %s; invite me", name, team.name, resp.message)

    async def _answer_invites(self, sync) -> None:
        assert self.client is not None
        for room_id in sync.rooms.invite:
            if room_id in self.names:
                log.info("matrix: accepting the invite to %s", self.names[room_id])
                await self.client.join(room_id)
            else:
                log.warning("matrix: declining an invite to %s: no team uses that room", room_id)
                await self.client.room_leave(room_id)

    # --- reading -----------------------------------------------------------

    async def sync_forever(self, stop: asyncio.Event) -> None:
        assert self.client is not None
        token = self.store.get_value(SYNC_TOKEN_KEY)
        backoff = Backoff(self.rng)
        while not stop.is_set():
            try:
                resp = await self.client.sync(timeout=30_000 if token else 0, since=token)
            except (asyncio.TimeoutError, OSError, ClientError) as exc:  # server gone; nio gave up retrying
                resp = exc
            if isinstance(resp, (SyncError, Exception)) or not hasattr(resp, "next_batch"):
                delay = backoff.next_delay()
                log.warning("matrix: sync failed (%s); retrying in %.1f s", getattr(resp, "message", resp), delay)
                await sleep_or_stop(stop, delay)
                continue
            backoff.healthy()
            self.last_sync = datetime.now(timezone.utc)
            await self._answer_invites(resp)
            if token is None:
                log.info("matrix: first start, old history is not replayed as commands")
            else:
                for room_id, room in resp.rooms.join.items():
                    if room_id in self.names:
                        self._check_encrypted(room_id)
                        for event in room.timeline.events:
                            self._handle_event(room_id, event)
            token = resp.next_batch
            # Stored only after the whole batch is handled: a crash before this
            # line makes the server send the batch again, and dedup by event id
            # keeps every line exactly once.
            self.store.set_value(SYNC_TOKEN_KEY, token)

    def _handle_event(self, room_id: str, event) -> None:
        source = getattr(event, "source", None) or {}
        sender = source.get("sender")
        if not sender or sender == self.settings.user_id:
            return
        try:
            self.deliver(self._effects_of(room_id, source))
        except Exception:  # one bad event must never stop the bot
            log.exception("matrix: failed to handle event %s in %s", source.get("event_id"), room_id)

    def _effects_of(self, room_id: str, source: dict) -> list[Effect]:
        when = datetime.fromtimestamp(source.get("origin_server_ts", 0) / 1000, timezone.utc)
        kind = source.get("type")
        if kind == "m.room.redaction":
            redacts = source.get("redacts") or (source.get("content") or {}).get("redacts")
            return self.dispatcher.redact(redacts) if redacts else []
        if kind != "m.room.message":
            return []
        incoming = read_message(source.get("content") or {})
        if incoming is None:
            return []
        if incoming.edits:
            return self.dispatcher.edit(incoming.edits, incoming.text, when)
        assert self.client is not None
        room = self.client.rooms.get(room_id)
        name = self.names[room_id]
        team = self.config.team_for_room(name)
        level = room.power_levels.get_user_level(source["sender"]) if room else 0
        msg = Message(
            network=Network.MATRIX, room=name, sender=source["sender"],
            nick=(room.user_name(source["sender"]) if room else None) or source["sender"],
            text=incoming.text, time=when, kind=incoming.kind, event_id=source.get("event_id"),
            privileged=team is not None and level >= team.chair_power_level,
        )
        return self.dispatcher.handle(msg)

    def _check_encrypted(self, room_id: str) -> None:
        assert self.client is not None
        room = self.client.rooms.get(room_id)
        if room is not None and room.encrypted and room_id not in self.warned_encrypted:
            self.warned_encrypted.add(room_id)
            log.error("matrix: room %s is encrypted; sigbot does not support encrypted rooms yet and cannot read it",
                      self.names[room_id])

    # --- writing -----------------------------------------------------------

    def deliver(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Reply):
                self._enqueue(effect.room, "m.room.message", notice_content(effect.text))
            elif isinstance(effect, React) and effect.event_id:
                self._enqueue(effect.room, "m.reaction", reaction_content(effect.event_id, effect.key))

    def _enqueue(self, room_name: str, event_type: str, content: dict) -> None:
        room_id = self.room_ids.get(room_name)
        if room_id is None:
            log.debug("matrix: not sending to %s: not a Matrix room of any team", room_name)
            return
        queue = self.queues.get(room_id)
        if queue is None:
            queue = self.queues[room_id] = asyncio.Queue()
            self.senders.append(asyncio.get_running_loop().create_task(self._send_loop(room_id, queue)))
        queue.put_nowait((event_type, content))

    async def _send_loop(self, room_id: str, queue: asyncio.Queue) -> None:
        """One sender per room keeps that room's messages in order."""
        assert self.client is not None
        while True:
            event_type, content = await queue.get()
            backoff = Backoff(self.rng, first=1.0, cap=60.0)
            for attempt in range(1, SEND_ATTEMPTS + 1):
                try:
                    resp = await self.client.room_send(room_id, event_type, content, ignore_unverified_devices=True)
                except Exception as exc:  # nio raises for encrypted rooms without olm
                    resp = exc
                if hasattr(resp, "event_id"):
                    break
                if attempt == SEND_ATTEMPTS:
                    log.error("matrix: giving up sending to %s after %d attempts (%s): %s",
                              self.names.get(room_id, room_id), attempt, resp, content.get("body", content))
                    break
                delay = backoff.next_delay()
                log.warning("matrix: sending to %s failed (%s); retry %d in %.1f s", room_id, resp, attempt, delay)
                await asyncio.sleep(delay)
            queue.task_done()

    async def close(self) -> None:
        for task in self.senders:
            task.cancel()
        if self.client is not None:
            await self.client.close()


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        pass
