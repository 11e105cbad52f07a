"""The Matrix adapter: sigbot lives in each team's room through matrix-nio.

It logs in once and keeps its device (data_dir/matrix-session.json), syncs
with a stored token so that events sent while it was down are handled once, in
order, after a restart, and sends each room's replies through one ordered
queue. Everything it reads becomes a `Message` for the dispatcher; everything
the dispatcher answers is sent back as `m.notice` or a reaction, encrypted in
encrypted rooms (bot/chat/matrix_crypto.py keeps the keys and the one send path).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aiohttp import ClientError
from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinError,
    LoginResponse,
    RoomCreateResponse,
    RoomMessagesResponse,
    RoomPreset,
    RoomResolveAliasResponse,
    SyncError,
    SyncResponse,
    Timeline,
    WhoamiResponse,
)

from bot import metrics
from bot.chat.backoff import Backoff
from bot.chat.matrix_crypto import (
    CLIENT_OPTIONS,
    ENCRYPTION_STATE,
    Encryption,
    PlaintextRefused,
    keys_kept,
    store_dir,
)
from bot.chat.matrix_events import line_message, notice_content, reaction_content
from bot.chat.matrix_state import RoomStates, first_sync_args
from bot.config import Config, MatrixSettings, Team
from bot.core.message import DirectMessage, Effect, React, Redact, Reply
from bot.dispatch import Dispatcher
from bot.runtime import sleep_or_stop
from bot.storage import DatabaseError

log = logging.getLogger(__name__)
SYNC_TOKEN_KEY = "matrix.next_batch"
DIRECT_KEY = "matrix.direct_rooms"
SEEN_KEY = "matrix.seen_rooms"
REDACTION = "m.room.redaction"
GAP_PAGES = 50
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
        self.queues: dict[str, asyncio.Queue[tuple[str, dict[str, Any]]]] = {}  # room id -> (event type, content)
        self.senders: list[asyncio.Task[None]] = []
        self.crypto = Encryption(self.store)  # keys, late decryption, the one send path (matrix_crypto.py)
        self.last_sync: datetime | None = None
        # Members, shown names and power in each room, folded from synced state (bot/chat/matrix_state.py).
        self.room_states = RoomStates()
        # The IRC relay (bot/relay/bridge.py) hooks in here: it is told of the
        # bot's own events in team rooms (team, event source), so it learns who
        # its relayed lines stand for; everything else reaches it through the
        # dispatcher, and the dispatcher's answers go through `route`, to both networks.
        self.on_own_event: list[Callable[[Team | None, dict[str, Any]], None]] = []
        self.route: Callable[[list[Effect]], None] = self.deliver
        # Direct chats: room id -> the one person it is with, and back.
        self.direct_users: dict[str, str] = json.loads(self.store.get_value(DIRECT_KEY) or "{}")
        self.direct_rooms: dict[str, str] = {user: room for room, user in self.direct_users.items()}
        self.direct_queue: asyncio.Queue[DirectMessage] | None = None
        self.storage_error: str | None = None  # set while the database cannot be written
        # Rooms whose history before the bot's join has been skipped already.
        # None for a database from before this was kept: the first sync then marks every room seen.
        seen = self.store.get_value(SEEN_KEY)
        self.seen_rooms: set[str] | None = set(json.loads(seen)) if seen else None

    # --- session -----------------------------------------------------------

    @property
    def session_file(self) -> Path:
        return self.config.data_dir / "matrix-session.json"

    async def login(self) -> None:
        """Reuse the stored device and token; log in (once) when there is none.

        An unreachable homeserver at start is a RuntimeError that names it: the
        operator sees what is wrong instead of a traceback.
        """
        try:
            await self._login()
            await self.crypto.start(self.client)
        except (TimeoutError, OSError, ClientError) as exc:
            if self.client is not None:
                await self.client.close()
            raise RuntimeError(
                f"cannot reach the Matrix homeserver {self.settings.homeserver}: "
                f"{exc.__class__.__name__}: {exc} (is it running? is matrix.homeserver right?)"
            ) from None

    async def _login(self) -> None:
        self.client = AsyncClient(
            self.settings.homeserver, self.settings.user_id, store_path=str(store_dir(self.config.data_dir)),
            # nio honours M_LIMIT_EXCEEDED's retry_after_ms itself; other
            # failures come back to us so our own backoff (with jitter) applies.
            config=AsyncClientConfig(max_limit_exceeded=None, max_timeouts=2, request_timeout=60, **CLIENT_OPTIONS),
        )
        saved = self._saved_session()
        if saved and not keys_kept(store_dir(self.config.data_dir), saved["user_id"], saved["device_id"]):
            log.warning("matrix: the key store of device %s is gone; not reusing that device", saved["device_id"])
            saved = None
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
            raise RuntimeError(
                f"Matrix access token for {self.settings.user_id} was refused: {getattr(resp, 'message', resp)}"
            )
        return getattr(resp, "device_id", None)

    def _saved_session(self) -> dict[str, Any] | None:
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
                    log.error(
                        "matrix: cannot resolve %s for team %s: %s", name, team.name, getattr(resp, "message", resp)
                    )
                    continue
                room_id = resp.room_id
            self.room_ids[name], self.names[room_id] = room_id, name
            if room_id not in self.client.rooms:
                resp = await self.client.join(room_id)
                if isinstance(resp, JoinError):
                    log.error("matrix: cannot join %s (team %s): %s; invite me", name, team.name, resp.message)
                    continue

    async def _answer_invites(self, sync: SyncResponse) -> None:
        """Join team rooms and direct chats; decline everything else."""
        assert self.client is not None
        for room_id, info in sync.rooms.invite.items():
            inviter = _direct_inviter(info.invite_state, self.settings.user_id)
            if room_id in self.names:
                log.info("matrix: accepting the invite to %s", self.names[room_id])
                await self.client.join(room_id)
            elif inviter:
                log.info("matrix: accepting a direct chat from %s", inviter)
                if not isinstance(await self.client.join(room_id), JoinError):
                    self._remember_direct(room_id, inviter)
            else:
                log.warning("matrix: declining an invite to %s: no team uses that room", room_id)
                await self.client.room_leave(room_id)

    def _remember_direct(self, room_id: str, user: str) -> None:
        self.direct_users[room_id] = user
        self.direct_rooms[user] = room_id
        self.store.set_value(DIRECT_KEY, json.dumps(self.direct_users))

    # --- reading -----------------------------------------------------------

    async def sync_forever(self, stop: asyncio.Event) -> None:
        assert self.client is not None
        token = self.store.get_value(SYNC_TOKEN_KEY)
        backoff = Backoff(self.rng)
        while not stop.is_set():
            try:
                # The first sync of a start asks for the full state, without a long poll.
                args = {"timeout": 30_000, "since": token} if self.last_sync else first_sync_args(token)
                resp = await self.client.sync(**args)
            except (TimeoutError, OSError, ClientError) as exc:  # server gone; nio gave up retrying
                resp = exc
            if isinstance(resp, (SyncError, Exception)) or not hasattr(resp, "next_batch"):
                delay = backoff.next_delay()
                log.warning("matrix: sync failed (%s); retrying in %.1f s", getattr(resp, "message", resp), delay)
                await sleep_or_stop(stop, delay)
                continue
            backoff.healthy()
            self.room_states.absorb_sync(resp)  # before any message of the batch is read
            await self._answer_invites(resp)
            try:
                if token is None or self.seen_rooms is None:
                    self.seen_rooms = self.seen_rooms or set()
                    self._mark_seen(resp.rooms.join)
                if token is None:
                    log.info("matrix: first start, old history is not replayed as commands")
                else:
                    # Older events whose room keys came only in this batch go first.
                    self.crypto.retry(self._handle_event)
                    for room_id, room in resp.rooms.join.items():
                        if room_id in self.names or room_id in self.direct_users:
                            await self._read_room(room_id, room.timeline, token)
                # Stored only after the whole batch is handled: a crash before this
                # line makes the server send the batch again, and dedup by event id
                # keeps every line exactly once.
                self._tell_unreadable()
                self.store.set_value(SYNC_TOKEN_KEY, resp.next_batch)
            except DatabaseError as exc:
                # The disk is full or read-only: keep the old token so the batch
                # comes again, and try again until the condition clears.
                self._storage_failed(exc)
                await sleep_or_stop(stop, backoff.next_delay())
                continue
            if self.last_sync is None:
                log.info("matrix: synced; reading new messages")  # tests wait for this line
            token = resp.next_batch
            self.last_sync = datetime.now(timezone.utc)
            self._storage_ok()
            await self.crypto.upkeep()

    def _storage_failed(self, exc: Exception) -> None:
        """Say once, in the log and in the team rooms, that lines cannot be stored; nothing is acted on meanwhile."""
        log.error("storage: cannot write the database %s: %s; messages are not handled until it can "
                  "(they are read again then, none is lost)", self.config.database, exc)
        if self.storage_error is None:
            self.storage_error = str(exc)
            self._tell_teams(f"sigbot cannot write its database ({exc}). I am not handling messages until this "
                             "is fixed; everything said meanwhile is read when it is.")

    def _storage_ok(self) -> None:
        if self.storage_error is not None:
            self.storage_error = None
            log.info("storage: the database can be written again; catching up")
            self._tell_teams("sigbot can write its database again and has caught up.")

    def _tell_teams(self, text: str) -> None:
        for name in self.room_ids:
            self._enqueue(name, "m.room.message", notice_content(text))

    def _tell_unreadable(self) -> None:
        """Tell, once, each sender whose encrypted message could not be read in time."""
        for room_id, text in self.crypto.overdue():
            self._enqueue(self.names.get(room_id, room_id), "m.room.message", notice_content(text))

    def _mark_seen(self, rooms: Iterable[str]) -> None:
        assert self.seen_rooms is not None
        self.seen_rooms.update(rooms)
        self.store.set_value(SEEN_KEY, json.dumps(sorted(self.seen_rooms)))

    async def _read_room(self, room_id: str, timeline: Timeline, since: str) -> None:
        """Handle one room's new events, in order, with none missed and no old history replayed."""
        events = [getattr(e, "source", None) or {} for e in timeline.events]
        if self.seen_rooms is not None and room_id not in self.seen_rooms:
            # Newly joined: the timeline may show history from before the bot
            # was there, which must not run as commands. Read only what follows
            # the bot's own join.
            events = _after_own_join(events, self.settings.user_id)
            self._mark_seen([room_id])
        elif timeline.limited and timeline.prev_batch:
            events = await self._gap(room_id, timeline.prev_batch, since) + events
        for source in events:
            self._handle_event(room_id, source)

    async def _gap(self, room_id: str, prev_batch: str, since: str) -> list[dict[str, Any]]:
        """Events the server left out of a limited sync (more were sent than the timeline holds).

        Pages back from the timeline's start to the previous sync token; dedup
        by event id in the store makes any overlap harmless.
        """
        assert self.client is not None
        events: list[dict[str, Any]] = []
        start = prev_batch
        for _ in range(GAP_PAGES):
            resp = await self.client.room_messages(room_id, start=start, end=since, limit=100)
            if not isinstance(resp, RoomMessagesResponse):
                log.error(
                    "matrix: could not fetch the events missed in %s: %s", room_id, getattr(resp, "message", resp)
                )
                break
            events = [getattr(e, "source", None) or {} for e in reversed(resp.chunk)] + events
            if not resp.chunk or not resp.end or resp.end == start:
                break
            start = resp.end
        else:
            log.error("matrix: more than %d pages missed in %s; the oldest were not read", GAP_PAGES, room_id)
        log.info("matrix: read %d missed event(s) in %s", len(events), room_id)
        return events

    def _handle_event(self, room_id: str, source: dict[str, Any]) -> None:
        sender = source.get("sender")
        if not sender:
            return
        if sender == self.settings.user_id:  # the hooks learn who our relayed lines stand for; nothing to handle
            if room_id in self.names:
                self._tell_own_event(room_id, source)
            return
        readable = self.crypto.readable(room_id, source)
        if readable is None:  # encrypted with a key not here yet: kept, and handled when it comes
            return
        try:
            # The dispatcher stores the line, decides, and relays it (once: an event
            # read again after a crash is found by its event id).
            self.route(self._effects_of(room_id, readable))
        except DatabaseError:
            raise  # the database cannot be written: the whole batch is retried
        except Exception:  # one bad event must never stop the bot
            log.exception("matrix: failed to handle event %s in %s", readable.get("event_id"), room_id)

    def _effects_of(self, room_id: str, source: dict[str, Any]) -> list[Effect]:
        kind = source.get("type")
        if kind == "m.room.redaction":
            redacts = source.get("redacts") or (source.get("content") or {}).get("redacts")
            return self.dispatcher.redact(redacts) if redacts else []
        if kind != "m.room.message":
            return []
        direct = room_id in self.direct_users
        if direct and source["sender"] != self.direct_users[room_id]:
            return []  # someone else invited into a direct chat: not theirs to use
        state = self.room_states.get(room_id)
        name = room_id if direct else self.names[room_id]
        team = None if direct else self.config.team_for_room(name)
        level = state.level(source["sender"])  # unlimited for a v12 room's creators
        room = self.client.rooms.get(room_id) if self.client is not None else None
        msg = line_message(source, name, state.shown_name(source["sender"]) or source["sender"],
                           self.settings.homeserver, privileged=team is not None and level >= team.chair_power_level,
                           direct=direct, encrypted=bool(room is not None and room.encrypted))
        if msg is None:
            return []
        return self.dispatcher.handle(msg)

    # --- writing -----------------------------------------------------------

    def deliver(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Reply):
                self._enqueue(effect.room, "m.room.message", notice_content(effect.text))
            elif isinstance(effect, React) and effect.event_id:
                self._enqueue(effect.room, "m.reaction", reaction_content(effect.event_id, effect.key))
            elif isinstance(effect, DirectMessage) and effect.user.startswith("@"):
                self._direct(effect)
            elif isinstance(effect, Redact):
                self._enqueue(effect.room, REDACTION, {"redacts": effect.event_id, "reason": effect.reason})

    def _direct(self, effect: DirectMessage) -> None:
        """Direct messages go through one queue, so a chat is opened once and messages keep their order."""
        if self.direct_queue is None:
            self.direct_queue = asyncio.Queue()
            self.senders.append(asyncio.get_running_loop().create_task(self._direct_loop(self.direct_queue)))
        self.direct_queue.put_nowait(effect)

    async def _direct_loop(self, queue: asyncio.Queue[DirectMessage]) -> None:
        assert self.client is not None
        while True:
            effect: DirectMessage = await queue.get()
            room_id = self.direct_rooms.get(effect.user)
            if room_id is None:
                # Encrypted, as Element opens direct chats, when the person's client can decrypt: what
                # the bot says privately (a loan's news, the link to the address form) stays off the server.
                encrypted = await self.crypto.reads_encrypted(effect.user)
                resp = await self.client.room_create(is_direct=True, invite=[effect.user],
                                                     preset=RoomPreset.trusted_private_chat,
                                                     initial_state=[ENCRYPTION_STATE] if encrypted else [])
                if not isinstance(resp, RoomCreateResponse):
                    # The text is private: log who and why, never what.
                    log.error("matrix: cannot open a direct chat with %s (%s); a message to them was not sent",
                              effect.user, getattr(resp, "message", resp))
                    continue
                room_id = resp.room_id
                if encrypted:
                    self.crypto.opened_direct(room_id, effect.user)
                self._remember_direct(room_id, effect.user)
                self._mark_seen([room_id])
            self._enqueue(room_id, "m.room.message", notice_content(effect.text))

    def _tell_own_event(self, room_id: str, source: dict[str, Any]) -> None:
        team = self.config.team_for_room(self.names[room_id])
        for hook in self.on_own_event:
            try:
                hook(team, source)
            except Exception:
                log.exception("matrix: an own-event hook failed on %s", source.get("event_id"))

    def post(self, room_name: str, content: dict[str, Any]) -> None:
        """Send an m.room.message with the caller's content (the relay's IRC lines) to a team room, in order."""
        self._enqueue(room_name, "m.room.message", content)

    def members(self, room_name: str) -> dict[str, str]:
        """Display name -> user id of a team room's members, the bot left out (for mentions)."""
        room_id = self.room_ids.get(room_name)
        if room_id is None:
            return {}
        names = self.room_states.get(room_id).names()
        return {name: uid for name, uid in names.items() if uid != self.settings.user_id}

    def room_title(self, room_name: str) -> str:
        """A team room's m.room.name ("" when it has none): the minutes show it before the alias or id."""
        room_id = self.room_ids.get(room_name)
        return (self.room_states.get(room_id).name or "") if room_id is not None else ""

    def _enqueue(self, room_name: str, event_type: str, content: dict[str, Any]) -> None:
        room_id = self.room_ids.get(room_name) or (room_name if room_name in self.direct_users else None)
        if room_id is None:
            log.debug("matrix: not sending to %s: not a Matrix room of any team", room_name)
            return
        queue = self.queues.get(room_id)
        if queue is None:
            queue = self.queues[room_id] = asyncio.Queue()
            self.senders.append(asyncio.get_running_loop().create_task(self._send_loop(room_id, queue)))
        queue.put_nowait((event_type, content))

    async def _send_loop(self, room_id: str, queue: asyncio.Queue[tuple[str, dict[str, Any]]]) -> None:
        """One sender per room keeps that room's messages in order."""
        assert self.client is not None
        while True:
            event_type, content = await queue.get()
            backoff = Backoff(self.rng, first=1.0, cap=60.0)
            if event_type == REDACTION:
                await self._redact(room_id, content)
                queue.task_done()
                continue
            for attempt in range(1, SEND_ATTEMPTS + 1):
                try:
                    resp = await self.crypto.send(room_id, event_type, content)
                except PlaintextRefused:  # logged; no retry can make it safe
                    metrics.SEND_FAILURES.labels("matrix").inc()
                    break
                except Exception as exc:
                    resp = exc
                if hasattr(resp, "event_id"):
                    break
                if attempt == SEND_ATTEMPTS:
                    metrics.SEND_FAILURES.labels("matrix").inc()
                    log.error("matrix: giving up sending to %s after %d attempts (%s): %s",
                              self.names.get(room_id, room_id), attempt, resp, content.get("body", content))
                    break
                delay = backoff.next_delay()
                log.warning("matrix: sending to %s failed (%s); retry %d in %.1f s", room_id, resp, attempt, delay)
                await asyncio.sleep(delay)
            queue.task_done()

    async def _redact(self, room_id: str, content: dict[str, Any]) -> None:
        """Take a message down, once; without the power to redact, say so in the log (the line was never
        kept or relayed anyway)."""
        assert self.client is not None
        try:
            resp = await self.client.room_redact(room_id, content["redacts"], content["reason"])
        except Exception as exc:
            resp = exc
        if not hasattr(resp, "event_id"):
            log.warning("matrix: could not redact %s in %s (give the bot the power to redact there): %s",
                        content["redacts"], self.names.get(room_id, room_id), resp)

    async def close(self) -> None:
        for task in self.senders:
            task.cancel()
        if self.client is not None:
            await self.client.close()


def _direct_inviter(invite_state: list[Any], me: str) -> str | None:  # nio's stripped state events
    """Who invited us, when the invite is marked as a direct chat (is_direct)."""
    for event in invite_state:
        # nio moves a stripped member event's content out of `source` into attributes.
        content = getattr(event, "content", None) or {}
        if getattr(event, "state_key", None) == me and getattr(event, "membership", None) == "invite" \
                and content.get("is_direct"):
            return getattr(event, "sender", None)
    return None


def _after_own_join(events: list[dict[str, Any]], me: str) -> list[dict[str, Any]]:
    """The events after the bot's own join in a newly joined room's timeline (none if the join is not there)."""
    for i in range(len(events) - 1, -1, -1):
        e = events[i]
        if (e.get("type") == "m.room.member" and e.get("state_key") == me
                and (e.get("content") or {}).get("membership") == "join"):
            return events[i + 1:]
    return []
