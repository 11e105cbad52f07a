"""Room state folded from events (bot/chat/matrix_state.py), without a homeserver.

Events are written as Synapse sends them; the sync test feeds a recorded
response shape through matrix-nio's own parser, as the adapter receives it.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nio import SyncResponse

from bot.chat.matrix_state import UNLIMITED, RoomState, RoomStates, first_sync_args, rules_for

ALICE, DAVE, EVE, BOB = "@alice:hs", "@dave:hs", "@eve:hs", "@bob:hs"


def create(version: str, sender: str = ALICE, **content) -> dict:
    body = {"room_version": version, **content}
    if version not in ("11", "12"):
        body.setdefault("creator", sender)  # before v11 the creator is named in the content
    return {"type": "m.room.create", "state_key": "", "sender": sender, "content": body}


def levels(users: dict, users_default=0) -> dict:
    return {"type": "m.room.power_levels", "state_key": "", "sender": ALICE,
            "content": {"users": users, "users_default": users_default}}


def member(user: str, membership: str = "join", name: str | None = None) -> dict:
    content = {"membership": membership, **({"displayname": name} if name is not None else {})}
    return {"type": "m.room.member", "state_key": user, "sender": user, "content": content}


def room(*events: dict) -> RoomState:
    state = RoomState()
    for event in events:
        state.apply(event)
    return state


def test_in_a_v12_room_the_creator_outranks_every_level_without_being_listed():
    state = room(create("12"), levels({EVE: 100}))
    assert state.level(ALICE) == UNLIMITED
    assert state.level(ALICE) > state.level(EVE) == 100
    assert state.level(BOB) == 0


def test_in_a_v12_room_additional_creators_are_creators_too():
    state = room(create("12", additional_creators=[DAVE, 7]), levels({}))
    assert state.creators == {ALICE, DAVE}
    assert state.level(DAVE) == UNLIMITED


def test_in_a_v12_room_a_creator_listed_in_power_levels_still_has_unlimited_power():
    # MSC4289: creators in `users` are ignored; a demotion there does not demote them.
    assert room(create("12"), levels({ALICE: 0})).level(ALICE) == UNLIMITED


@pytest.mark.parametrize("version", ["1", "9", "10", "11"])
def test_before_v12_the_creator_has_only_the_level_listed(version):
    state = room(create(version), levels({ALICE: 30}))
    assert state.level(ALICE) == 30


def test_before_v12_additional_creators_mean_nothing():
    state = room(create("11", additional_creators=[DAVE]), levels({}))
    assert state.creators == {ALICE} and state.level(DAVE) == 0


@pytest.mark.parametrize("version", ["1", "10", "11"])
def test_without_a_power_levels_event_the_creator_has_100_and_others_0(version):
    state = room(create(version), member(BOB))
    assert (state.level(ALICE), state.level(BOB)) == (100, 0)


def test_before_v11_the_creator_is_the_one_named_in_the_content_not_the_sender():
    state = room({"type": "m.room.create", "state_key": "", "sender": BOB,
                  "content": {"room_version": "10", "creator": ALICE}})
    assert (state.level(ALICE), state.level(BOB)) == (100, 0)


def test_a_create_event_without_a_version_is_a_version_1_room():
    state = room({"type": "m.room.create", "state_key": "", "sender": BOB, "content": {"creator": ALICE}})
    assert state.version == "1" and state.creators == {ALICE}


def test_before_v10_levels_written_as_strings_count_from_v10_they_do_not():
    old = room(create("9"), levels({EVE: "50"}, users_default="10"))
    assert (old.level(EVE), old.level(BOB)) == (50, 10)
    new = room(create("10"), levels({EVE: "50"}, users_default=10))
    assert new.level(EVE) == 10  # not an integer: the default applies
    assert room(create("9"), levels({EVE: True})).level(EVE) == 0  # JSON true is no level


def test_a_new_power_levels_event_replaces_the_old_one_so_a_removed_user_is_demoted():
    # matrix-nio merged `users`, so a chair removed from the list stayed a chair.
    state = room(create("10"), levels({EVE: 50}), levels({BOB: 50}))
    assert (state.level(EVE), state.level(BOB)) == (0, 50)


def test_users_default_applies_to_everyone_not_listed():
    assert room(create("10"), levels({}, users_default=50)).level(BOB) == 50


@pytest.mark.parametrize("version,unlimited,sender_creates,integers", [
    ("1", False, False, False), ("9", False, False, False), ("10", False, False, True),
    ("11", False, True, True), ("12", True, True, True), ("13", True, True, True),
    ("org.matrix.hydra.11", True, True, True), ("org.matrix.msc3757.11", False, True, True),
    ("com.example.unknown", False, False, False),
])
def test_each_room_version_reads_power_by_its_own_rules(version, unlimited, sender_creates, integers):
    rules = rules_for(version)
    assert (rules.creators_unlimited, rules.creator_is_sender, rules.integer_levels) == \
        (unlimited, sender_creates, integers)


def test_a_unique_display_name_is_shown_as_it_is():
    assert room(member(BOB, name="Bob")).shown_name(BOB) == "Bob"


def test_a_display_name_two_members_share_is_shown_with_the_user_id():
    state = room(member(BOB, name="Sam"), member(EVE, name="Sam"), member(DAVE, name="Dave"))
    assert state.shown_name(BOB) == f"Sam ({BOB})"
    assert state.shown_name(EVE) == f"Sam ({EVE})"
    assert state.shown_name(DAVE) == "Dave"


def test_without_a_display_name_the_user_id_is_shown_and_outsiders_have_no_name():
    state = room(member(BOB), member(EVE, name="  "))
    assert state.shown_name(BOB) == BOB and state.shown_name(EVE) == EVE
    assert state.shown_name(DAVE) is None


def test_a_rename_changes_the_name_and_leaving_or_a_ban_removes_it():
    state = room(member(BOB, name="Bob"), member(BOB, name="Robert"), member(EVE, name="Eve"))
    assert state.shown_name(BOB) == "Robert"
    state.apply(member(BOB, "leave"))
    state.apply(member(EVE, "ban"))
    assert state.members == {}


def test_an_invited_member_counts_for_clashes_as_in_clients():
    state = room(member(BOB, name="Sam"), member(EVE, "invite", name="Sam"))
    assert state.shown_name(BOB) == f"Sam ({BOB})"


def test_names_for_mentions_map_each_shown_name_to_the_user():
    assert room(member(BOB, name="Bob"), member(EVE)).names() == {"Bob": BOB, EVE: EVE}


def test_events_that_are_not_room_state_change_nothing():
    state = room(create("12"), member(BOB, name="Bob"))
    before = (state.version, state.members.copy(), state.power_levels)
    for event in ({"type": "m.room.message", "sender": BOB, "content": {"body": "hi"}},
                  {"type": "m.room.member", "sender": BOB, "content": {"membership": "leave"}},  # no state_key
                  {"type": "m.room.power_levels", "state_key": "x", "content": {"users": {BOB: 100}}},
                  {"type": "m.room.member", "state_key": BOB, "content": "junk"}):
        state.apply(event)
    assert (state.version, state.members, state.power_levels) == before


@given(st.dictionaries(st.sampled_from([BOB, EVE, DAVE, ALICE]), st.integers(-2**53, 2**53)),
       st.integers(-2**53, 2**53))
def test_in_a_v12_room_no_power_levels_event_ranks_anyone_above_the_creator(users, default):
    state = room(create("12"), levels(users, default))
    assert all(state.level(ALICE) > state.level(user) for user in (BOB, EVE, DAVE))


def sync(rooms_join: dict, rooms_leave: dict | None = None) -> SyncResponse:
    return SyncResponse.from_dict({"next_batch": "s2", "rooms": {"join": rooms_join, "leave": rooms_leave or {},
                                                                 "invite": {}}})


def joined(state: list[dict], timeline: list[dict]) -> dict:
    stamp = {"event_id": "$x", "origin_server_ts": 1}
    return {"state": {"events": [{**stamp, **e} for e in state]},
            "timeline": {"events": [{**stamp, **e} for e in timeline], "limited": False}}


def test_a_full_state_sync_after_a_restart_gives_back_names_and_chairs():
    states = RoomStates()
    states.absorb_sync(sync({"!r:hs": joined([create("12"), levels({EVE: 50}), member(ALICE, name="Alice"),
                                               member(EVE, name="Eve")], [])}))
    state = states.get("!r:hs")
    assert (state.shown_name(ALICE), state.shown_name(EVE)) == ("Alice", "Eve")
    assert (state.level(ALICE), state.level(EVE)) == (UNLIMITED, 50)


def test_a_sync_folds_the_timeline_after_the_state_and_forgets_rooms_left():
    states = RoomStates()
    states.absorb_sync(sync({"!r:hs": joined([member(EVE, name="Eve")], [member(EVE, name="Evelyn")]),
                             "!s:hs": joined([member(BOB, name="Bob")], [])}))
    assert states.get("!r:hs").shown_name(EVE) == "Evelyn"
    states.absorb_sync(sync({}, {"!s:hs": {"timeline": {"events": []}}}))
    assert states.get("!s:hs").members == {}


def test_the_first_sync_after_a_restart_asks_for_full_state_without_a_long_poll():
    assert first_sync_args("s1") == {"timeout": 0, "since": "s1", "full_state": True}
    # A first start syncs without a token, which gives the full state anyway.
    assert first_sync_args(None) == {"timeout": 0, "since": None, "full_state": None}


def test_the_room_name_follows_its_latest_m_room_name_and_an_empty_one_is_no_name():
    state = room(create("12"), {"type": "m.room.name", "state_key": "", "content": {"name": " ROCm packagers "}})
    assert state.name == "ROCm packagers"
    state.apply({"type": "m.room.name", "state_key": "", "content": {"name": ""}})
    assert state.name is None
    state.apply({"type": "m.room.name", "state_key": "x", "content": {"name": "not the room's"}})
    assert state.name is None
