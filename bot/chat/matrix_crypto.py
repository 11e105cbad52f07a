"""End-to-end encryption for the Matrix adapter: matrix-nio's Olm machine (vodozemac).

sigbot reads and writes encrypted rooms (team rooms and direct chats) as any
client does. Its keys live in nio's SqliteStore under data_dir/matrix-crypto,
kept across restarts together with the device in matrix-session.json: a new
store would be a new identity that nobody has shared room keys with.

Three promises are kept here:
- every event sent into a room whose state says encrypted is `m.room.encrypted`
  (`send` is the adapter's one way out, and refuses rather than send plaintext);
- keys are uploaded, queried and claimed after each sync, as nio's own
  `sync_forever` would do (the adapter runs its own sync loop);
- an event that cannot be decrypted yet is kept (in the database, so a restart
  loses none), tried again after every sync, and handled like any other once
  its key has come; its sender is told once, in words, if it stays unreadable.

The trust policy (keys go to unverified devices too) is in docs/encryption.md.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol
from uuid import uuid4

from nio import (
    Api,
    AsyncClient,
    LocalProtocolError,
    MegolmEvent,
    RoomGetStateEventResponse,
    RoomSendResponse,
    UnknownToDeviceEvent,
)
from nio.crypto import ENCRYPTION_ENABLED
from nio.exceptions import EncryptionError
from nio.rooms import MatrixRoom
from nio.store import SqliteStore

from bot.core.record import record

log = logging.getLogger(__name__)
STORE_DIR = "matrix-crypto"
PENDING_KEY = "matrix.undecrypted"
# How long a sender's client gets to deliver the keys (they usually come in the
# same sync as the message) before the sender is told their message cannot be read.
KEY_WAIT = timedelta(seconds=30)
# Keys can come days later (a laptop that was asleep answers a key request);
# after this an undecryptable event is given up, with a line in the log.
KEEP_FOR = timedelta(days=7)
ENCRYPTED = "m.room.encrypted"
# The state event that makes a room end-to-end encrypted from its creation, as Element does.
ENCRYPTION_STATE = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
REDACTION = "m.room.redaction"
WITHHELD = "m.room_key.withheld"
WITHHELD_KEPT = 1000  # withheld sessions remembered (in memory: a sender's client says it again for new ones)


class PlaintextRefused(Exception):
    """The room is encrypted but this client cannot encrypt: nothing was sent."""


def store_dir(data_dir: Path) -> Path:
    """nio's key store, readable by the bot's user only; fails at start without encryption support."""
    if not ENCRYPTION_ENABLED:
        raise RuntimeError("matrix-nio is installed without end-to-end encryption support; "
                           "install it with: pip install 'matrix-nio[e2e]' (prebuilt vodozemac wheels, no compiler)")
    path = data_dir / STORE_DIR
    try:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o700)
    except OSError as exc:  # not the homeserver's fault: say what it is
        raise RuntimeError(f"cannot create the Matrix key store {path}: {exc}") from None
    return path


def keys_kept(store: Path, user_id: str, device_id: str) -> bool:
    """Whether this device's key store is still there (the file name is nio's: SqliteStore.__post_init__).

    A device is its keys: reused without them, it cannot upload new ones (the
    homeserver keeps the old) and others go on encrypting to keys it has lost.
    """
    return (store / f"{user_id}_{device_id}.db").exists()


# For AsyncClientConfig. Sync tokens stay in sigbot's database (matrix.py), not nio's store.
CLIENT_OPTIONS = {"store": SqliteStore, "encryption_enabled": True, "store_sync_tokens": False}


@record
class Pending:
    """An event that could not be decrypted yet."""

    room_id: str
    source: dict[str, Any]
    seen: str  # ISO time it was first read
    told: bool = False

    @property
    def sender(self) -> str:
        sender: str = self.source.get("sender", "")
        return sender


class KeyValues(Protocol):
    """Where the events waiting for their keys are kept: sigbot's Store (bot/storage/db.py)."""

    def get_value(self, key: str) -> str | None: ...

    def set_value(self, key: str, value: str) -> None: ...


class Encryption:
    """The adapter's encryption: key upkeep, late decryption and the one send path."""

    def __init__(self, store: KeyValues, now: Callable[[], datetime] | None = None):
        self.store = store  # sigbot's database (get_value/set_value), for the pending events
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.client: AsyncClient | None = None
        self.pending: dict[str, Pending] = {
            p["source"]["event_id"]: Pending(**p) for p in json.loads(store.get_value(PENDING_KEY) or "[]")}
        self.requested: set[str] = set()  # megolm session ids asked for since start
        self.withheld: dict[str, str] = {}  # megolm session id -> why the sender's client keeps its key from us

    # --- keys ----------------------------------------------------------------

    async def start(self, client: AsyncClient) -> None:
        """Open the store of the client's device and publish its keys, before the first sync."""
        self.client = client
        if client.store is not None and client.store.device_id != client.device_id:
            # nio loaded the store at restore_login, then the token was refused and
            # a new login made a new device: its keys are a new store's.
            client.store = client.olm = None
        client.load_store()
        if client.olm is None:
            raise RuntimeError(f"cannot open the Matrix key store in {client.store_path}")
        client.add_to_device_callback(self._on_withheld, UnknownToDeviceEvent)
        await self._refuse_lost_keys()
        log.info("matrix: end-to-end encryption on; device %s, key %s", client.device_id,
                 client.olm.account.identity_keys.get("ed25519"))
        await self.upkeep()

    async def _refuse_lost_keys(self) -> None:
        """Stop at start, in words, when a new key store meets a device the homeserver holds keys of.

        The adapter logs in anew when its own session's keys are gone; this is
        left for a configured access token, which names its device for good.
        """
        client = self.client
        assert client is not None and client.olm is not None
        if client.olm.account.shared:
            return
        method, path, data = Api.keys_query(client.access_token, {client.user_id})
        resp = await client.send(method, path, data, headers={"Content-Type": "application/json"})
        known = ((await resp.json()).get("device_keys") or {}).get(client.user_id) or {} if resp.status == 200 else {}
        if client.device_id in known:
            await client.close()  # the process ends here: no open session left behind in the log
            raise RuntimeError(
                f"the Matrix key store of device {client.device_id} is gone ({client.store_path}) but the "
                "homeserver still has that device's keys: restore the key store, or give sigbot a new "
                "access token (a new device)"
            )

    async def upkeep(self) -> None:
        """What nio's sync_forever does between syncs: to-device messages out, keys up, devices known.

        A failure is logged and tried again after the next sync; reading goes on.
        """
        client = self.client
        assert client is not None
        # Each step starts a request, or returns None when nio says there is nothing to do.
        steps: list[tuple[str, Callable[[], Awaitable[Any] | None]]] = [
            ("send to-device messages", lambda: client.send_to_device_messages()),
            ("upload keys", lambda: client.keys_upload() if client.should_upload_keys else None),
            ("query device keys", lambda: client.keys_query() if client.should_query_keys else None),
            (
                "claim one-time keys",
                lambda: client.keys_claim(client.get_users_for_key_claiming()) if client.should_claim_keys else None,
            ),
        ]
        for what, step in steps:
            try:
                call = step()
                resp = await call if call is not None else None
            except LocalProtocolError as exc:  # another task did it meanwhile
                log.debug("matrix: %s: %s", what, exc)
                continue
            except Exception as exc:
                log.warning("matrix: could not %s: %s", what, exc)
                continue
            if resp is not None and getattr(resp, "status_code", None):
                log.warning("matrix: could not %s: %s", what, getattr(resp, "message", resp))
        await self._request_keys()

    # --- events that cannot be read yet ---------------------------------------

    def readable(self, room_id: str, source: dict[str, Any]) -> dict[str, Any] | None:
        """The event to handle: as it came, decrypted here, or None when it is kept until its key comes.

        nio decrypts while it syncs, but skips a sync response whose next_batch it
        has seen already, and the adapter asks for the same batch again after a
        database error: its events then come still encrypted, with their keys at hand.
        """
        if not is_undecrypted(source):
            return source
        clear = self._decrypt(room_id, source)
        if clear is None:
            self._keep(room_id, source)
        return clear

    def _keep(self, room_id: str, source: dict[str, Any]) -> None:
        """Keep an event that cannot be decrypted; its key is asked for after this sync."""
        event_id = source.get("event_id")
        if not event_id or event_id in self.pending:
            return
        log.warning("matrix: cannot decrypt %s from %s in %s yet (no room key); waiting for the key",
                    event_id, source.get("sender"), room_id)
        self.pending[event_id] = Pending(room_id, source, self.now().isoformat())
        self._save()

    def retry(self, handle: Callable[[str, dict[str, Any]], None]) -> None:
        """After each sync, decrypt what waited for a key that has come, and handle it, oldest first.

        Every sync, not only one that carried room keys: a key taken in while the
        batch could not be stored (a database error) is not in the batch read again.
        A missing key costs a dictionary lookup, no cryptography. An event leaves
        the pending list only after `handle` returned, so a database error (raised
        through) keeps it for the next try.
        """
        for event_id, item in sorted(self.pending.items(), key=lambda kv: kv[1].source.get("origin_server_ts", 0)):
            clear = self._decrypt(item.room_id, item.source, quiet=True)
            if clear is None:
                continue
            log.info("matrix: decrypted %s from %s now that its key came", event_id, item.sender)
            handle(item.room_id, clear)
            del self.pending[event_id]
            self._save()

    def overdue(self) -> list[tuple[str, str]]:
        """(room id, text) for each sender whose message stayed unreadable past KEY_WAIT, or whose
        client said it will not send the key; each message is told of once."""
        now = self.now()
        told: dict[tuple[str, str], list[str | None]] = {}
        changed = False
        for event_id, item in list(self.pending.items()):
            age = now - datetime.fromisoformat(item.seen)
            why = self.withheld.get((item.source.get("content") or {}).get("session_id", ""))
            if age > KEEP_FOR:
                log.error("matrix: giving up on %s from %s in %s: its key never came", event_id, item.sender,
                          item.room_id)
                del self.pending[event_id]
                changed = True
            elif (age > KEY_WAIT or why) and not item.told:
                told.setdefault((item.room_id, item.sender), []).append(why)
                self.pending[event_id] = replace(item, told=True)
                changed = True
        if changed:
            self._save()
        for (room_id, sender), whys in told.items():
            log.warning("matrix: telling %s in %s that %d encrypted message(s) of theirs cannot be read", sender,
                        room_id, len(whys))
        return [(room_id, unreadable_text(sender, len(whys), next((w for w in whys if w), None)))
                for (room_id, sender), whys in told.items()]

    def _on_withheld(self, event: UnknownToDeviceEvent) -> None:
        """A sender's client says it will not send us a room key (m.room_key.withheld,
        https://spec.matrix.org/v1.13/client-server-api/#reporting-that-decryption-keys-are-withheld).
        Element with "exclude insecure devices" on answers `m.unverified` (MSC4153): the
        messages of that session are reported at once rather than after KEY_WAIT."""
        if event.type != WITHHELD:
            return
        content = event.source.get("content") or {}
        session, code = content.get("session_id"), content.get("code")
        if not isinstance(session, str) or not isinstance(code, str):
            return
        log.warning("matrix: %s will not send me the key to session %s in %s: %s (%s)", event.sender, session,
                    content.get("room_id"), code, content.get("reason", ""))
        self.withheld[session] = code
        while len(self.withheld) > WITHHELD_KEPT:
            del self.withheld[next(iter(self.withheld))]

    def _decrypt(self, room_id: str, source: dict[str, Any], quiet: bool = False) -> dict[str, Any] | None:
        """The decrypted event, or None. `quiet` skips an event whose session is not
        known without asking nio, which would log a warning each time."""
        assert self.client is not None and self.client.olm is not None
        event = MegolmEvent.from_dict(source)
        if not isinstance(event, MegolmEvent):
            return None
        if quiet and not self.client.olm.inbound_group_store.get(room_id, event.sender_key, event.session_id):
            return None
        event.room_id = room_id
        try:
            clear = self.client.decrypt_event(event)
        except EncryptionError:
            return None
        return getattr(clear, "source", None)

    async def _request_keys(self) -> None:
        """Ask for each missing session's key once: from our own devices (nio's request, which is also
        what makes nio accept a forwarded key) and from the sender's device, as the spec advises."""
        client = self.client
        assert client is not None
        for item in list(self.pending.values()):
            event = MegolmEvent.from_dict(item.source)
            if not isinstance(event, MegolmEvent) or event.session_id in self.requested:
                continue
            self.requested.add(event.session_id)
            event.room_id = item.room_id
            try:
                if event.session_id not in client.outgoing_key_requests:
                    await client.request_room_key(event)
                await client.to_device(event.as_key_request(event.sender, client.device_id, device_id=event.device_id))
            except Exception as exc:
                log.warning("matrix: could not request the key for %s: %s", event.event_id, exc)

    def _save(self) -> None:
        self.store.set_value(PENDING_KEY, json.dumps([asdict(p) for p in self.pending.values()]))

    # --- sending ---------------------------------------------------------------

    async def send(self, room_id: str, event_type: str, content: dict[str, Any]) -> object:
        """Send one event; into an encrypted room only ever as m.room.encrypted, redactions aside.

        nio's room_send would send an `m.reaction` in the clear into an encrypted
        room ("Reactions as of yet don't support encryption", async_client.py),
        and anything in the clear when no key store is loaded; so encrypted rooms
        take this path, which encrypts every event type (the relation stays
        outside, as the spec wants: https://spec.matrix.org/v1.13/client-server-api/#mroomencrypted).
        """
        client = self.client
        assert client is not None
        if event_type == REDACTION:
            # The one event never encrypted: the server must read what it removes, and
            # it has its own endpoint (https://spec.matrix.org/v1.13/client-server-api/#redactions).
            return await client.room_redact(room_id, content["redacts"], content.get("reason"))
        room = await self._room(room_id)
        if not room.encrypted:
            return await client.room_send(room_id, event_type, content)
        if client.olm is None:
            log.error("matrix: refusing to send %s to %s: the room is encrypted and no key store is loaded",
                      event_type, room_id)
            raise PlaintextRefused(room_id)
        if not room.members_synced:
            await client.joined_members(room_id)
        if client.should_query_keys:
            try:
                await client.keys_query()
            except LocalProtocolError:  # the sync loop's upkeep asked meanwhile
                pass
        if client.olm.should_share_group_session(room_id):
            sharing = client.sharing_session.get(room_id)
            if sharing is not None:
                await sharing.wait()
            else:
                # Every member's device gets the room key, verified or not: see
                # "Trust" in docs/encryption.md for why and what it means.
                await client.share_group_session(room_id, ignore_unverified_devices=True)
        kind, body = client.encrypt(room_id, event_type, content)
        assert kind == ENCRYPTED
        method, path, data = Api.room_send(client.access_token, room_id, kind, body, uuid4())
        # _send, not send: it keeps nio's handling of rate limits and timeouts.
        return await client._send(RoomSendResponse, method, path, data, (room_id,))

    async def reads_encrypted(self, user: str) -> bool:
        """Whether this bot can encrypt and `user` has a device that can decrypt (one with published
        end-to-end keys: every Element; not a client without encryption, which could not read it)."""
        client = self.client
        if client is None or client.olm is None:
            return False
        if not list(client.device_store.active_user_devices(user)):
            client.olm.users_for_key_query.add(user)
            try:
                await client.keys_query()
            except LocalProtocolError:  # the sync loop's upkeep is querying: its answer is used next time
                pass
        return bool(list(client.device_store.active_user_devices(user)))

    def opened_direct(self, room_id: str, invitee: str) -> None:
        """A direct chat this bot has just created, encrypted: known as such before the first sync brings
        it, with the invitee a member already, so that each room key reaches their devices and they can
        read what was said before they accepted the invite (Matrix lets invited members read it)."""
        client = self.client
        assert client is not None
        room = client.rooms.setdefault(room_id, MatrixRoom(room_id, client.user_id, True))
        client.encrypted_rooms.add(room_id)
        room.add_member(invitee, None, None, invited=True)

    async def _room(self, room_id: str) -> MatrixRoom:
        """nio's room; one the client has not seen since it started (a quiet room after a restart)
        is looked up, so its encryption is known before anything is sent there."""
        client = self.client
        assert client is not None
        room = client.rooms.get(room_id)
        if room is not None:
            return room
        state = await client.room_get_state_event(room_id, "m.room.encryption")
        if isinstance(state, RoomGetStateEventResponse):
            encrypted = True
        elif getattr(state, "status_code", None) == "M_NOT_FOUND":
            encrypted = False
        else:  # not known yet: nothing is sent, and the send is tried again later
            raise RuntimeError(f"cannot tell whether {room_id} is encrypted: {getattr(state, 'message', state)}")
        if encrypted:
            client.encrypted_rooms.add(room_id)
        # Sync fills in the rest when the room next has news; nio keeps this object.
        return client.rooms.setdefault(room_id, MatrixRoom(room_id, client.user_id, encrypted))


def is_undecrypted(source: dict[str, Any]) -> bool:
    """An event still encrypted after nio tried: nio replaces the ones it can decrypt."""
    return source.get("type") == ENCRYPTED


def unreadable_text(sender: str, n: int, withheld: str | None = None) -> str:
    """What the sender is told; `withheld` is the code their client gave for keeping the key, if any."""
    what = "your encrypted message" if n == 1 else f"{n} of your encrypted messages"
    if withheld == "m.unverified":
        return (f"{sender}: I cannot read {what}: your client does not send its keys to devices that are not "
                "verified, and sigbot's device cannot be verified. Turn off \"Exclude insecure devices\" "
                "(Element), or talk to me in a room without encryption.")
    if withheld:
        return (f"{sender}: I cannot read {what}: your client did not send me the key to it ({withheld}). "
                "Please send it again.")
    return (f"{sender}: I cannot read {what}: the key to it never reached my device. Please send it again. "
            "If this keeps happening, your client may be set to send keys only to verified devices "
            "(Element: \"Exclude insecure devices\"), which sigbot's device can never be.")
