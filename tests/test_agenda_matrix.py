"""The agenda and open actions in a Matrix room on a real Synapse: gathered, announced, taken, minuted."""

import asyncio

import pytest
from matrix_users import User, bot_in_new_room

pytestmark = pytest.mark.synapse


def test_an_agenda_gathered_in_the_room_is_announced_taken_and_minuted(synapse, tmp_path):
    async def scenario():
        alice, bob = User(synapse, "Alice"), User(synapse, "Bob")
        for u in (alice, bob):
            await u.login()
        bot, room = await bot_in_new_room(synapse, tmp_path, alice, [bob])
        try:
            # An earlier meeting leaves an action open.
            await alice.send(room, "#startmeeting Kickoff")
            await alice.wait_for_notice(room, "started")
            await bob.send(room, "#action Bob to fix the CI runners")
            await alice.send(room, "#endmeeting")
            await alice.wait_for_notice(room, "Minutes:")

            # The agenda is gathered from two people before the next meeting.
            await alice.send(room, "!agenda add Packaging review")
            await alice.wait_for_notice(room, "as item 1")
            await bob.send(room, "!agenda add CI on the farm")
            await alice.wait_for_notice(room, "as item 2")

            await alice.send(room, "#startmeeting WG")
            agenda = await alice.wait_for_notice(room, "Agenda item 1")
            assert "Agenda item 1 (Alice): Packaging review" in agenda
            assert "Agenda item 2 (Bob): CI on the farm" in agenda
            open_actions = await alice.wait_for_notice(room, "Open actions")
            assert "#1 Bob: Bob to fix the CI runners" in open_actions
            await alice.send(room, "#topic 1")
            assert await alice.wait_for_notice(room, "Topic:") == "Topic: Packaging review"
            await alice.send(room, "#endmeeting")
            await alice.wait_for_notice(room, "Minutes:")

            md = next((tmp_path / "notes" / "wg").glob("*/*-wg.md")).read_text()
            assert "## Agenda" in md
            assert "1. Packaging review (added by Alice) — covered" in md
            assert "2. CI on the farm (added by Bob) — carried over" in md
            assert "## Action items from earlier meetings" in md
            assert "Bob to fix the CI runners" in md
        finally:
            bot.stop()
            for u in (alice, bob):
                await u.close()

    asyncio.run(asyncio.wait_for(scenario(), 180))
