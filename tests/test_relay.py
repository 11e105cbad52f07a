"""The relay end to end: sigbot as a process between a real Synapse room and a real ngIRCd channel.

People on the Matrix side are matrix-nio users (tests/matrix_users.py); people
on IRC are raw clients (tests/servers/irc_client.py).
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
import uuid
from contextlib import asynccontextmanager

import pytest
from matrix_users import BotProcess, User, make_room
from servers.irc_client import IrcClient, IrcMessage

pytestmark = [pytest.mark.synapse, pytest.mark.ircd]

ZWSP = "\u200b"
B, I = "\x02", "\x1d"  # noqa: E741 -- IRC's bold and italic codes, by their letter
LINE_LIMIT = 512


def run(coro, timeout: float = 240):
    return asyncio.run(asyncio.wait_for(coro, timeout))


class TimedIrcClient(IrcClient):
    """Records when each line arrived (time.monotonic()), for the pacing check."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.arrivals: list[tuple[float, IrcMessage]] = []

    async def _handle(self, msg: IrcMessage) -> None:
        self.arrivals.append((time.monotonic(), msg))
        await super()._handle(msg)


class RelayBot(BotProcess):
    """`sigbot run` with an [irc] section and the team's channel."""

    def __init__(self, synapse, tmp, ircd, channel: str, team_extra: str = "", irc_extra: str = ""):
        super().__init__(synapse, tmp, "")
        self.nick = f"sigbot{uuid.uuid4().hex[:6]}"
        self.config.write_text(self.config.read_text() + (
            f'irc_channels = ["{channel}"]\nadmins = ["irc:trix"]\n{team_extra}\n'
            f'[irc]\nhost = "{ircd.host}"\nport = {ircd.port}\ntls = false\nnick = "{self.nick}"\n{irc_extra}\n'))


class MatrixWatcher:
    """Every event a Matrix user sees in one room, kept until a test takes it."""

    def __init__(self, user: User, room: str):
        self.user, self.room = user, room
        self.backlog: list[dict] = []

    async def expect(self, predicate, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, source in enumerate(self.backlog):
                if predicate(source):
                    return self.backlog.pop(i)
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.user.display} saw nothing matching in {timeout} s; "
                                     f"last: {[s.get('content', {}).get('body') for s in self.backlog[-5:]]}")
            resp = await self.user.client.sync(timeout=1000)
            rooms = getattr(resp, "rooms", None)
            if rooms and self.room in rooms.join:
                self.backlog += [e.source for e in rooms.join[self.room].timeline.events]

    async def body(self, sender: str, contains: str, timeout: float = 30.0) -> dict:
        return await self.expect(lambda s: s.get("sender") == sender and s.get("type") == "m.room.message"
                                 and contains in s["content"].get("body", ""), timeout)


@asynccontextmanager
async def relayed(synapse, ircd, tmp_path, irc_nicks=("bob",), team_extra="", irc_extra="", client=IrcClient):
    """Alice on Matrix, the given nicks on IRC, sigbot relaying the two; yields them all."""
    channel = f"#wg-{uuid.uuid4().hex[:6]}"
    alice = User(synapse, "Alice")
    await alice.login()
    bot = RelayBot(synapse, tmp_path, ircd, channel, team_extra, irc_extra)
    room = await make_room(alice, bot.user_id, [])
    bot.use_room(room)
    people = []
    try:
        for nick in irc_nicks:
            person = client(ircd.host, ircd.port)
            await person.connect(nick)
            await person.join(channel)
            people.append(person)
        bot.start()
        await bot.wait_ready()
        await people[0].expect(lambda m: m.command == "JOIN" and m.nick == bot.nick, timeout=30)
        yield alice, MatrixWatcher(alice, room), room, bot, channel, people
    finally:
        bot.stop()
        for person in people:
            await person.quit()
        await alice.close()


def irc_text(msg: IrcMessage) -> str:
    return msg.action if msg.action is not None else (msg.text or "")


async def from_bot(person: IrcClient, bot: RelayBot, contains: str = "", command: str = "PRIVMSG",
                   timeout: float = 30) -> IrcMessage:
    return await person.expect(lambda m: m.command == command and m.nick == bot.nick and contains in (m.text or ""),
                               timeout)


def test_lines_formatting_edits_and_me_cross_both_ways(synapse, ircd, tmp_path):
    async def scenario():
        async with relayed(synapse, ircd, tmp_path, ("bob",)) as (alice, watch, room, bot, channel, (bob,)):
            # Matrix -> IRC: the name prefix (zero-width space inside), formatting as control codes
            first = await alice.send(room, "hello there")
            assert (await from_bot(bob, bot, "hello")).text == f"<A{ZWSP}lice> hello there"
            await alice.send(room, "bold it", format="org.matrix.custom.html",
                             formatted_body='<strong>bold</strong> <em>it</em> <a href="https://fedoraproject.org">wiki</a>')
            got = await from_bot(bob, bot, "bold")
            assert got.text == f"<A{ZWSP}lice> {B}bold{B} {I}it{I} wiki (https://fedoraproject.org)"

            # IRC -> Matrix: m.text with the nick shown, codes as HTML, a mention of Alice
            await bob.privmsg(channel, f"{B}Alice{B}: nice <b>")
            source = await watch.body(bot.user_id, "<bob>")
            content = source["content"]
            assert content["body"] == "<bob> Alice: nice <b>"
            assert content["com.beeper.per_message_profile"]["displayname"] == "bob"
            assert f'<strong><a href="https://matrix.to/#/{alice.user_id}">Alice</a></strong>: nice &lt;b&gt;' \
                in content["formatted_body"]
            assert content["m.mentions"] == {"user_ids": [alice.user_id]}
            await bob.privmsg(channel, "\x0304,01red on black\x03 plain")  # colours, as heisenbridge keeps them
            assert (await watch.body(bot.user_id, "red on black"))["content"]["formatted_body"].endswith(
                '<font data-mx-color="#ff0000" data-mx-bg-color="#000000">red on black</font> plain')

            # /me both ways
            await bob.action(channel, "waves")
            assert (await watch.body(bot.user_id, "waves"))["content"]["msgtype"] == "m.emote"
            await alice.send(room, "waves back", msgtype="m.emote")
            got = await bob.expect(lambda m: m.nick == bot.nick and m.action is not None)
            assert got.action == f"A{ZWSP}lice waves back"

            # an edit: relayed as "* text" when it changes something, not at all otherwise
            await alice.edit(room, first, "hello there")  # the same text: nothing on IRC
            await alice.edit(room, first, "hello, corrected")
            got = await from_bot(bob, bot, "corrected")
            assert got.text == f"<A{ZWSP}lice> * hello, corrected"

            # a reply to a relayed IRC line names the IRC user (not escaped: bob is pinged)
            await alice.send(room, "> <bob> nice\n\nthanks", **{"m.relates_to": {"m.in_reply_to": {
                "event_id": source["event_id"]}}})
            assert (await from_bot(bob, bot, "thanks")).text == f"<A{ZWSP}lice> bob: thanks"

            # no line went back the way it came
            await asyncio.sleep(0.5)  # lets any wrongly relayed echo arrive before we look
            assert not [m for m in bob.history if m.command == "PRIVMSG" and "<bob>" in (m.text or "")]
            assert not [m for m in bob.history if "* hello there" in (m.text or "")]

    run(scenario())


def test_long_multi_line_and_utf8_messages_are_split_by_bytes(synapse, ircd, tmp_path):
    async def scenario():
        async with relayed(synapse, ircd, tmp_path, ("bob",)) as (alice, watch, room, bot, channel, (bob,)):
            await alice.send(room, "one\ntwo\nthree")
            lines = [(await from_bot(bob, bot, word)).text for word in ("one", "two", "three")]
            assert lines == [f"<A{ZWSP}lice> {w}" for w in ("one", "two", "three")]

            text = "ü€😀" * 120  # 1080 bytes without a space: split at character boundaries only
            await alice.send(room, text)
            pieces = []
            while "".join(pieces) != text:
                got = await from_bot(bob, bot, "")
                assert len(got.raw) + 2 <= LINE_LIMIT and b"[CUT]" not in got.raw
                head = f"<A{ZWSP}lice> ".encode()
                assert got.params_raw[-1].startswith(head)
                piece = got.params_raw[-1][len(head):].decode("utf-8")  # strict: a cut would raise
                # Marked where it was split, so IRC readers see one message going on.
                assert piece.startswith("… ") == bool(pieces)
                pieces.append(piece.removeprefix("… ").removesuffix(" …"))
                assert piece.endswith(" …") == ("".join(pieces) != text)
            assert len(pieces) == 3

            long = "\n".join(f"line {i} of the long paste" for i in range(12))
            await alice.send(room, long)
            got = [(await from_bot(bob, bot, f"line {i} ")).text for i in range(3)]
            last = (await from_bot(bob, bot, "12 lines in all")).text
            assert got[0] == f"<A{ZWSP}lice> line 0 of the long paste"
            url = last.rsplit(" ", 1)[1].rstrip(")")
            page = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read().decode())
            assert long in page
            await asyncio.sleep(0.5)
            assert not any("line 3 of" in (m.text or "") for m in bob.history)

    run(scenario())


def test_a_meeting_held_half_on_irc_and_half_on_matrix_gives_one_set_of_minutes(synapse, ircd, tmp_path):
    async def scenario():
        masks = '[teams.relay]\nchair_hostmasks = ["*!~carol@127.0.0.1"]\n'
        async with relayed(synapse, ircd, tmp_path, ("bob", "trix", "carol"), team_extra=masks) as (
                alice, watch, room, bot, channel, (bob, trix, carol)):
            await alice.send(room, "#startmeeting Relay WG")
            await watch.body(bot.user_id, "started")
            await from_bot(bob, bot, "started", command="NOTICE")

            await bob.privmsg(channel, "#info hipBLAS builds, said on IRC")
            copy = await watch.body(bot.user_id, "<bob> #info")  # relayed, so the dispatcher has it
            # Acknowledged where Matrix people see it, on the line's copy; nothing said on IRC.
            ack = await watch.expect(lambda s: s.get("type") == "m.reaction" and s["content"].get(
                "m.relates_to", {}).get("event_id") == copy["event_id"])
            assert ack["sender"] == bot.user_id and ack["content"]["m.relates_to"]["key"] == "✅"
            # trix is an admin by services account; this "trix" has the nick and no account
            await trix.privmsg(channel, "#agreed spoofed decision")
            assert "Only the chairs" in (await watch.body(bot.user_id, "Only the chairs"))["content"]["body"]
            await from_bot(bob, bot, "Only the chairs", command="NOTICE")
            await carol.privmsg(channel, "#agreed carol chairs by hostmask")
            await watch.body(bot.user_id, "<carol> #agreed")
            await alice.send(room, "#action bob to test the relay")
            await from_bot(bob, bot, "#action bob")
            await bob.action(channel, "nods")
            await watch.body(bot.user_id, "nods")
            await alice.send(room, "#endmeeting")
            await watch.body(bot.user_id, "Minutes:")
            await from_bot(bob, bot, "Minutes:", command="NOTICE")

            assert not [m for m in bob.history if m.nick == bot.nick and "hipBLAS" in (m.text or "")]
            notes = bot.notes()
            said = [(i["kind"], i["text"]) for t in notes["topics"] for i in t["items"]]
            assert said == [("info", "hipBLAS builds, said on IRC"), ("agreed", "carol chairs by hostmask"),
                            ("action", "bob to test the relay")]
            people = {a["nick"]: a for a in notes["attendees"]}
            assert people["bob"]["network"] == "irc" and people["bob"]["id"] == "bob!~bob@127.0.0.1"
            assert people["Alice"]["network"] == "matrix"
            assert people["trix"]["network"] == "irc"
            assert notes["actions"][0]["owners"] == ["bob"]

    run(scenario())


def test_a_burst_of_200_lines_arrives_complete_in_order_and_paced(synapse, ircd, tmp_path):
    burst, interval = 4, 0.15  # slower than the Matrix user sends (~10 lines/s), so the bucket binds

    async def scenario():
        async with relayed(synapse, ircd, tmp_path, ("bob",), client=TimedIrcClient,
                           irc_extra=f"burst = {burst}\nline_interval = {interval}\n") as (
                alice, watch, room, bot, channel, (bob,)):
            for i in range(200):
                await alice.send(room, f"burst {i}")
            for i in range(200):
                assert (await from_bot(bob, bot, f"burst {i}", timeout=60)).text == f"<A{ZWSP}lice> burst {i}"
            return [(t, m.text) for t, m in bob.arrivals if m.command == "PRIVMSG" and m.nick == bot.nick]

    arrivals = run(scenario())
    texts = [text for _, text in arrivals]
    assert texts == [f"<A{ZWSP}lice> burst {i}" for i in range(200)]
    times = [t for t, _ in arrivals]
    # The token bucket allows `burst` lines, then one per `interval`: in any
    # window from line i to line j, j - i + 1 <= burst + (t_j - t_i) / interval.
    # Arrival times can only bunch lines that were sent apart (a busy test
    # loop reads several at once), so SLACK lines of bunching are allowed.
    slack = 5
    worst = max(j - i + 1 - (t_j - t_i) / interval
                for i, t_i in enumerate(times) for j, t_j in enumerate(times) if j > i)
    assert worst <= burst + slack, worst


def test_an_irc_server_restart_mid_conversation_loses_no_line(synapse, ircd_factory, tmp_path):
    server = ircd_factory()

    async def scenario():
        async with relayed(synapse, server, tmp_path, ("bob",)) as (alice, watch, room, bot, channel, (bob,)):
            await alice.send(room, "before the restart")
            await from_bot(bob, bot, "before")
            await asyncio.to_thread(server.restart)
            await bob.wait_closed()
            await bob.close()
            await bob.connect("bob")
            await bob.join(channel)
            for i in range(5):
                await alice.send(room, f"while IRC restarts {i}")
            await bob.expect(lambda m: m.command == "JOIN" and m.nick == bot.nick, timeout=90)
            for i in range(5):
                assert (await from_bot(bob, bot, f"restarts {i}", timeout=60)).text.endswith(f"restarts {i}")
            await bob.privmsg(channel, "and back")
            await watch.body(bot.user_id, "<bob> and back")

    run(scenario())
