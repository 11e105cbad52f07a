"""sigbot in a Matrix room on a real Synapse: a whole meeting, a SIGKILL, a homeserver restart."""

import asyncio

import pytest
from matrix_users import User, bot_in_new_room

pytestmark = pytest.mark.synapse


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 180))


def items(notes: dict) -> list[tuple[str, str]]:
    return [(i["kind"], i["text"]) for t in notes["topics"] for i in t["items"]]


def test_a_whole_meeting_held_in_a_matrix_room_gives_the_minutes_said(synapse, tmp_path):
    async def scenario():
        alice, bob, carol = User(synapse, "Alice"), User(synapse, "Bob"), User(synapse, "Carol")
        for u in (alice, bob, carol):
            await u.login()
        bot, room = await bot_in_new_room(synapse, tmp_path, alice, [bob, carol], chair=bob)
        try:
            await alice.send(room, "#startmeeting Matrix WG")
            assert "The chair is Alice" in await alice.wait_for_notice(room, "started")
            await alice.send(room, "#topic Packaging")
            await carol.send(room, "#info hipBLAS builds on rawhide")
            typo = await carol.send(room, "#info teh typo")
            gone = await carol.send(room, "#info delete me")
            await carol.edit(room, typo, "#info the typo, fixed")
            await carol.client.room_redact(room, gone)
            await carol.send(room, "#agreed carol decides")
            assert "Only the chairs" in await carol.wait_for_notice(room, "Only the chairs")
            await bob.send(room, "#agreed ship it")  # bob chairs by power level 50
            await alice.send(room, "#action Carol to update the spec")
            await alice.send(room, "#endmeeting")
            assert "Minutes:" in await alice.wait_for_notice(room, "Minutes:")
            notes = bot.notes()
            assert notes["name"] == "Matrix WG"
            assert items(notes) == [("info", "hipBLAS builds on rawhide"), ("info", "the typo, fixed"),
                                    ("agreed", "ship it"), ("action", "Carol to update the spec")]
            assert notes["actions"][0]["owners"] == ["Carol"]
            ids = {a["nick"]: a["id"] for a in notes["attendees"]}
            assert ids["Carol"] == carol.user_id
            assert "delete me" not in (next((tmp_path / "notes").rglob("*.log.txt"))).read_text()
        finally:
            bot.stop()
            for u in (alice, bob, carol):
                await u.close()

    run(scenario())


def test_a_bot_killed_mid_meeting_loses_no_line_and_repeats_none(synapse, tmp_path):
    async def scenario():
        alice = User(synapse, "Alice")
        await alice.login()
        bot, room = await bot_in_new_room(synapse, tmp_path, alice)
        try:
            await alice.send(room, "#startmeeting Crash test")
            await alice.wait_for_notice(room, "started")
            for i in range(3):
                await alice.send(room, f"#info before {i}")
            await asyncio.sleep(1.0)
            bot.kill()
            # More lines than a sync timeline holds (Synapse gives 10 by
            # default), so the bot must page back through the gap.
            for i in range(25):
                await alice.send(room, f"#info while down {i}")
            bot.start()
            await bot.wait_ready()
            await alice.send(room, "#endmeeting")
            await alice.wait_for_notice(room, "Minutes:", timeout=60)
            said = [text for _, text in items(bot.notes())]
            assert said == [f"before {i}" for i in range(3)] + [f"while down {i}" for i in range(25)]
            assert "missed event(s)" in bot.logs()
        finally:
            bot.stop()
            await alice.close()

    run(scenario())


def test_the_bot_carries_on_when_the_homeserver_restarts(synapse, tmp_path):
    async def scenario():
        alice = User(synapse, "Alice")
        await alice.login()
        bot, room = await bot_in_new_room(synapse, tmp_path, alice)
        try:
            await alice.send(room, "#startmeeting Restart test")
            await alice.wait_for_notice(room, "started")
            await alice.send(room, "#info before the restart")
            synapse.restart()
            await alice.send(room, "#info after the restart")
            await alice.send(room, "#endmeeting")
            await alice.wait_for_notice(room, "Minutes:", timeout=90)
            assert [t for _, t in items(bot.notes())] == ["before the restart", "after the restart"]
        finally:
            bot.stop()
            await alice.close()

    run(scenario())
