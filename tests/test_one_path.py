"""One road in, one road out: the dispatcher decides what crosses to the other network.

First the promise in the dispatcher alone (no server): every line said in a
team room is stored, then relayed by a `Relay` effect, except a line with
private details, which is stored scrubbed, never relayed, taken down and
explained to its sender privately. Then the same promise attacked on the real
servers: a Matrix member and an IRC user say addresses and phone numbers in the
team room, and a hostile listener on the IRC channel, the notes, the logs and
the database file are searched for them.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.config import parse_config
from bot.core.message import DirectMessage, LineKind, Message, Network, React, Redact, Relay, Reply
from bot.dispatch import SCRUBBED, Dispatcher
from bot.registry import build_registry
from bot.storage import open_store

ROOM = "!wg:localhost"
T0 = datetime(2026, 12, 1, 15, 0, tzinfo=timezone.utc)
STREET, PHONE = "12 Sample Street", "+49 170 5550123"
SECRETS = ("Sample Street", "5550123", "170 555")


class Room:
    def __init__(self, tmp_path: Path):
        self.config = parse_config({
            "bot": {"data_dir": str(tmp_path / "var"), "notes_dir": str(tmp_path / "notes")},
            "teams": [{"name": "wg", "matrix_room": ROOM, "irc_channels": ["#wg"], "admins": ["@admin:localhost"]}],
        }, tmp_path / "sigbot.toml")
        self.bot = Dispatcher(self.config, open_store(self.config.database), build_registry())
        self.n = 0

    def message(self, who: str, text: str, network: Network = Network.MATRIX, **extra) -> Message:
        self.n += 1
        sender = f"@{who}:localhost" if network is Network.MATRIX else f"{who}!~{who}@host"
        return Message(network, ROOM, sender, who, text, T0 + timedelta(seconds=self.n), event_id=f"$e{self.n}",
                       **extra)

    def say(self, who: str, text: str, network: Network = Network.MATRIX, **extra):
        msg = self.message(who, text, network, **extra)
        return msg, self.bot.handle(msg)

    def stored(self) -> list[str]:
        return [r["text"] for r in self.bot.store.db.query("SELECT text FROM lines ORDER BY id")]


@pytest.fixture
def room(tmp_path):
    return Room(tmp_path)


def test_a_line_is_relayed_after_it_is_stored_and_before_the_answer(room):
    msg, effects = room.say("alice", "#startmeeting WG")
    assert effects[0] == Relay("wg", msg)
    assert any(isinstance(e, Reply) and "started" in e.text for e in effects[1:])
    assert room.stored()[0] == "#startmeeting WG"
    msg, effects = room.say("bob", "hello from IRC", Network.IRC)
    assert effects[0] == Relay("wg", msg)


def test_a_redelivered_line_is_neither_stored_nor_relayed_twice(room):
    msg, _ = room.say("alice", "hello")
    assert room.bot.handle(msg) == []
    assert room.stored() == ["hello"]


@pytest.mark.parametrize("text", [
    f"ship it to {STREET}, 10115 Berlin",
    f"my number is {PHONE}",
    f"#info call me on {PHONE}",
    f"!loan address 1 {STREET}, 10115 Berlin, {PHONE}",
    f"!loan request gfx1100 for tests, send it to {STREET}",
])
def test_a_line_with_an_address_or_a_phone_number_is_kept_from_log_relay_and_minutes(room, text):
    room.say("alice", "#startmeeting WG")
    msg, effects = room.say("alice", text)
    assert not [e for e in effects if isinstance(e, Relay)], effects
    assert Redact(ROOM, msg.event_id, "private details: give them to the bot in a direct message") in effects
    told = [e for e in effects if isinstance(e, DirectMessage)]
    assert told and told[0].user == "@alice:localhost" and "direct message" in told[0].text
    assert room.bot.store.line_by_event(msg.event_id).text == SCRUBBED
    room.say("alice", "#endmeeting")
    notes = "".join(p.read_text() for p in room.config.notes_dir.rglob("*.*") if p.is_file())
    assert not any(s in notes for s in SECRETS)
    assert not any(s in "\n".join(room.stored()) for s in SECRETS)


def test_an_irc_user_who_says_a_phone_number_is_told_by_private_notice(room):
    _, effects = room.say("bob", f"reach me at {PHONE}", Network.IRC)
    assert not [e for e in effects if isinstance(e, (Relay, Redact))]
    hint, note = [e for e in effects if isinstance(e, Reply)]
    assert hint.room == "irc:bob" and "!loan address" in hint.text  # a private notice to bob's nick
    assert note.room == ROOM and note.text.startswith("bob: I removed a message")


def test_everyday_numbers_are_not_private(room):
    for text in ("ROCm 6.4.1 landed on 2026-01-10 at 15:00", "rhbz#2311122 is fixed", "see https://x.org/12345678",
                 "we need 12345678 tokens", "mail devel@lists.fedoraproject.org", "send it to the list"):
        msg, effects = room.say("alice", text)
        assert effects[0] == Relay("wg", msg), text
    assert SCRUBBED not in room.stored()


def test_an_edit_that_adds_an_address_takes_the_line_down(room):
    first, _ = room.say("alice", "my address is coming")
    room.n += 1
    edit = replace(first, text=f"my address is {STREET}", event_id=f"$e{room.n}", edits=first.event_id)
    effects = room.bot.handle(edit)
    assert not [e for e in effects if isinstance(e, Relay)]
    assert {e.event_id for e in effects if isinstance(e, Redact)} == {first.event_id, edit.event_id}
    assert room.stored() == [SCRUBBED]


def test_an_ordinary_edit_is_relayed_as_an_edit(room):
    first, _ = room.say("alice", "teh plan")
    room.n += 1
    edit = replace(first, text="the plan", event_id=f"$e{room.n}", edits=first.event_id)
    assert room.bot.handle(edit)[0] == Relay("wg", edit)
    assert room.stored() == ["the plan"]


def test_the_address_never_reaches_the_database_file_not_even_its_write_ahead_log(room):
    room.say("alice", f"ship it to {STREET}, phone {PHONE}")
    room.say("ada", f"!loan address 1 {STREET}", direct=True)
    room.bot.store.db.conn.commit()
    raw = b"".join(p.read_bytes() for p in room.config.database.parent.glob("sigbot.db*") if p.is_file())
    assert raw and not any(s.encode() in raw for s in SECRETS)


def test_the_bots_own_words_and_notices_are_never_relayed_as_lines(room):
    _, effects = room.say("otherbot", "status: all green", kind=LineKind.NOTICE)
    assert effects and isinstance(effects[0], Relay)  # another bot's notice is relayed, as a notice
    assert not [e for e in room.bot.handle(room.message("sigbot", "x", kind=LineKind.BOT)) if isinstance(e, Relay)]


def test_a_chair_only_room_command_is_refused_centrally_from_every_network(room):
    for network in (Network.MATRIX, Network.IRC):
        _, effects = room.say("mallory", "!cancel wg 2026-12-03", network)
        answers = [e.text for e in effects if isinstance(e, Reply)]
        assert answers == ["Only team admins and the series' chairs can use !cancel."], answers
    assert not [e for e in effects if isinstance(e, React)]


def test_a_direct_message_with_an_address_but_no_command_is_not_kept_either(room):
    _, effects = room.say("ada", f"my address is {STREET}, phone {PHONE}", direct=True)
    assert [e.text for e in effects if isinstance(e, Reply)] == ["I answer commands here. Say !help for the list."]
    assert room.stored() == [SCRUBBED]


def test_each_line_is_parsed_once_on_its_way_in(room, monkeypatch):
    """The dispatcher reads a line's commands once and hands the result on (privacy, meeting, room command)."""
    parsed: list[str] = []
    registry = room.bot.registry
    real = registry.parse
    monkeypatch.setattr(registry, "parse", lambda line: parsed.append(line) or real(line))
    room.say("alice", "#startmeeting parse once")
    room.say("alice", "#topic one\n#info two\nplain three")
    room.say("alice", "!next")
    room.say("ada", "!help", direct=True)
    room.say("alice", "#endmeeting")
    assert parsed == ["#startmeeting parse once", "#topic one", "#info two", "plain three", "!next", "!help",
                      "#endmeeting"]


# --- on the real servers -------------------------------------------------------------------


@pytest.mark.synapse
@pytest.mark.ircd
def test_private_details_said_on_either_side_never_reach_the_other_the_notes_or_the_database(synapse, ircd,
                                                                                                 tmp_path):
    from test_relay import from_bot, relayed

    async def scenario():
        async with relayed(synapse, ircd, tmp_path, ("bob", "eve")) as (alice, watch, room, bot, channel, people):
            bob, eve = people
            # The bot may take messages down: it needs the room's redact level (50).
            state = await alice.client.room_get_state_event(room, "m.room.power_levels")
            await alice.client.room_put_state(room, "m.room.power_levels",
                                              {**state.content, "users": {**state.content["users"], bot.user_id: 50}})
            leak = await alice.send(room, f"!loan address 1 {STREET}, 10115 Berlin, {PHONE}")
            await alice.send(room, f"ship it to {STREET}, phone {PHONE}")
            await bob.privmsg(channel, f"or call me at {PHONE}")
            await alice.send(room, "all clear")
            assert (await from_bot(eve, bot, "all clear")).text.endswith("all clear")
            note = await from_bot(eve, bot, "looked like private details", command="NOTICE")
            assert "alice" in note.text.lower() or "bob" in note.text.lower()
            told = await bob.expect(lambda m: m.command == "NOTICE" and m.nick == bot.nick
                                    and m.target == "bob" and "direct message" in (m.text or ""), timeout=30)
            assert told
            redaction = await watch.expect(lambda s: s.get("type") == "m.room.redaction"
                                           and s.get("redacts") in (leak, (s.get("content") or {}).get("redacts")))
            assert redaction["sender"] == bot.user_id
            # What the bot said on IRC (bob's own line reaches eve through IRC itself, as it would anyway).
            heard_on_irc = "\n".join((m.text or "") for m in eve.history if m.nick == bot.nick)
            assert not any(s in heard_on_irc for s in SECRETS), heard_on_irc
            seen_on_matrix = "\n".join(s.get("content", {}).get("body", "") for s in watch.backlog
                                       if s.get("sender") == bot.user_id)
            assert not any(s in seen_on_matrix for s in SECRETS)  # bob's line was not posted to Matrix
        return bot

    asyncio.run(asyncio.wait_for(scenario(), 240))
    files = [p for p in tmp_path.rglob("*") if p.is_file() and "synapse" not in p.parts]
    for path in files:  # the database with its -wal, the notes, the bot's own log
        data = path.read_bytes()
        assert not any(s.encode() in data for s in SECRETS), path
    with sqlite3.connect(tmp_path / "var" / "sigbot.db") as db:
        texts = [r[0] for r in db.execute("SELECT text FROM lines")]
    assert texts.count(SCRUBBED) == 3 and "all clear" in texts
