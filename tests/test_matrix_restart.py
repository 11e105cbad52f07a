"""Who people are survives a restart, and room version 12 creators chair: on a real Synapse and ngIRCd.

sigbot runs as its own process (`sigbot run`), stopped with SIGTERM or killed
with SIGKILL and started again from its stored sync token. Before the fix, the
restarted bot had no member or power-level state for the room: it relayed
`<@carol:localhost>` instead of `<Carol>`, split Carol across two names in the
minutes and refused her #agreed though she holds the chair power level.

The suite's Synapse (1.163) creates room version 12 rooms by default
(`default_room_version`); the v12 test asks for "12" explicitly all the same.
"""

import asyncio
import json
import time

import pytest
from matrix_users import BotProcess, User
from nio import Api, RoomPreset
from test_relay import ZWSP, from_bot, relayed

pytestmark = pytest.mark.synapse
LONG_POLL_S = 30  # what the bot's syncs wait for news; a restart must not wait for one


def run(coro, timeout: float = 300):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def items(notes: dict) -> list[tuple[str, str]]:
    return [(i["kind"], i["text"]) for t in notes["topics"] for i in t["items"]]


async def give_level(owner: User, room: str, user: str, level: int) -> None:
    state = await owner.client.room_get_state_event(room, "m.room.power_levels")
    content = dict(state.content)
    content["users"] = {**content.get("users", {}), user: level}
    await owner.client.room_put_state(room, "m.room.power_levels", content)


@pytest.mark.ircd
@pytest.mark.parametrize("how", ["stop", "kill"])
def test_after_a_restart_relayed_names_chairs_and_minutes_are_what_they_were(synapse, ircd, tmp_path, how):
    async def scenario():
        async with relayed(synapse, ircd, tmp_path, ("bob",)) as (alice, watch, room, bot, channel, (bob,)):
            carol = User(synapse, "Carol")
            await carol.login()
            try:
                await alice.client.room_invite(room, carol.user_id)
                await carol.client.join(room)
                await give_level(alice, room, carol.user_id, 50)  # the team's chair_power_level
                await alice.send(room, "#startmeeting Restart")
                await alice.wait_for_notice(room, "started")
                await carol.send(room, "before the restart")
                assert (await from_bot(bob, bot, "before")).text == f"<C{ZWSP}arol> before the restart"
                await carol.send(room, "#agreed agreed before")
                await from_bot(bob, bot, "agreed before")  # the line is handled before the restart

                bot.stop() if how == "stop" else bot.kill()
                said_while_down = how == "kill"
                if said_while_down:  # read from the homeserver after the restart
                    await carol.send(room, "said while down")
                started = time.monotonic()
                bot.start()
                await bot.wait_ready()
                ready_s = time.monotonic() - started
                await bob.expect(lambda m: m.command == "JOIN" and m.nick == bot.nick, timeout=60)
                if said_while_down:
                    assert (await from_bot(bob, bot, "while down")).text == f"<C{ZWSP}arol> said while down"
                else:  # a quiet room: the first sync must not sit out a long poll
                    assert ready_s < LONG_POLL_S / 2, f"ready {ready_s:.1f} s after the restart"

                await carol.send(room, "after the restart")
                assert (await from_bot(bob, bot, "after the")).text == f"<C{ZWSP}arol> after the restart"
                await bob.privmsg(channel, "Carol: noted")  # IRC to Matrix: her name still mentions her
                assert (await watch.body(bot.user_id, "<bob>"))["content"]["m.mentions"] == \
                    {"user_ids": [carol.user_id]}
                await carol.send(room, "#agreed agreed after")  # still a chair by power level
                await alice.send(room, "#action Carol writes it up")
                await alice.send(room, "#endmeeting")
                await alice.wait_for_notice(room, "Minutes:", timeout=90)
                notes = bot.notes()
                assert items(notes) == [("agreed", "agreed before"), ("agreed", "agreed after"),
                                        ("action", "Carol writes it up")]
                # One name per person: not "Carol" before the restart and "@carol-…:localhost" after it.
                names = {a["id"]: [b["nick"] for b in notes["attendees"] if b["id"] == a["id"]]
                         for a in notes["attendees"]}
                assert (names[alice.user_id], names[carol.user_id]) == (["Alice"], ["Carol"])
                assert notes["actions"][0]["owners"] == ["Carol"]
                # The room as people know it (its m.room.name, known again after the restart), not its id.
                assert notes["room"]["name"] == "WG"
                assert "- **Room:** WG" in next((bot.tmp / "notes" / "wg").glob("[0-9]*/*.md")).read_text()
            finally:
                await carol.close()

    run(scenario())


async def make_v12_room(owner: User, invite: list[str], additional_creators: list[str]) -> str:
    """A room version 12 room; nio's room_create cannot set creation_content, so the body is extended here."""
    method, path, data = Api.room_create(owner.client.access_token, name="WG", room_version="12",
                                         preset=RoomPreset.private_chat, invite=invite)
    body = json.loads(data)
    body["creation_content"] = {"additional_creators": additional_creators}
    resp = await owner.client.send(method, path, json.dumps(body), headers={"Content-Type": "application/json"})
    reply = await resp.json()
    assert resp.status == 200, reply
    return reply["room_id"]


def test_in_a_room_version_12_the_creators_chair_and_a_plain_member_does_not(synapse, tmp_path):
    async def scenario():
        alice, dave, eve, frank = (User(synapse, n) for n in ("Alice", "Dave", "Eve", "Frank"))
        for u in (alice, dave, eve, frank):
            await u.login()
        bot = BotProcess(synapse, tmp_path, "")
        room = await make_v12_room(alice, [bot.user_id, dave.user_id, eve.user_id, frank.user_id], [dave.user_id])
        try:
            for u in (dave, eve, frank):
                await u.client.join(room)
            create = await alice.client.room_get_state_event(room, "m.room.create")
            assert create.content["room_version"] == "12"
            levels = await alice.client.room_get_state_event(room, "m.room.power_levels")
            assert not {alice.user_id, dave.user_id} & set(levels.content.get("users", {}))  # not listed
            bot.use_room(room)
            bot.start()
            await bot.wait_ready()

            await eve.send(room, "#startmeeting Version 12")  # Eve chairs the meeting she started
            await eve.wait_for_notice(room, "started")
            await frank.send(room, "#agreed frank decides")
            assert "Only the chairs" in await frank.wait_for_notice(room, "Only the chairs")
            await alice.send(room, "#agreed alice decides")
            await dave.send(room, "#agreed dave decides")
            await alice.send(room, "#endmeeting")
            await alice.wait_for_notice(room, "Minutes:", timeout=90)
            assert items(bot.notes()) == [("agreed", "alice decides"), ("agreed", "dave decides")]
        finally:
            bot.stop()
            for u in (alice, dave, eve, frank):
                await u.close()

    run(scenario())
