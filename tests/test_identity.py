"""Identity that holds (issue 16): rights, credit and actions follow people, never the name they show.

Each attack of the issue is played through the real Dispatcher over a real
SQLite file (the harness of tests/test_dispatch.py), with Matrix members and
IRC users who share a name: `irc()` builds a line as the IRC bridge hands it
in, its sender `irc:ACCOUNT` when the user is identified to services and
`nick!user@host` when not (bot/relay/bridge.py `_message`).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from test_dispatch import ROOM, Room, irc_line

from bot.core.message import Message, Network, Relay, Reply


class Mixed(Room):
    """The team room with IRC users in it too."""

    def irc(self, nick: str, text: str, account: str | None = None, host: str = "203.0.113.9") -> str:
        """What the bot answers to `nick` saying `text` on IRC."""
        self.events += 1
        self.clock += timedelta(seconds=20)
        msg = irc_line(ROOM, nick, text, self.clock, self.events, account, host)
        return answers(e for e in self.bot.handle(msg) if not isinstance(e, Relay))

    def matrix_as(self, user_id: str, display_name: str, text: str) -> str:
        """What the bot answers to the Matrix user `user_id`, shown as `display_name`, saying `text`."""
        self.events += 1
        self.clock += timedelta(seconds=20)
        msg = Message(Network.MATRIX, ROOM, user_id, display_name, text, self.clock, event_id=f"$ev{self.events}")
        return answers(e for e in self.bot.handle(msg) if not isinstance(e, Relay))

    def matrix(self, who: str, text: str) -> str:
        """What the bot answers to the Matrix member @who:localhost (shown as Who) saying `text`."""
        return answers(self.say(who, text))

    def minutes_md(self) -> str:
        (path,) = (self.config.notes_dir / "wg").glob("[0-9]*/*.md")
        return path.read_text()


def answers(effects) -> str:
    return "\n".join(e.text for e in effects if isinstance(e, Reply))


@pytest.fixture
def room(tmp_path):
    return Mixed(tmp_path)


def test_chairing_a_name_that_a_matrix_member_and_an_irc_nick_share_asks_who_was_meant(room):
    room.matrix("alice", "#startmeeting identity")
    room.matrix("carol", "I am here")
    room.irc("carol", "me too", host="198.51.100.66")  # mallory, taking the nick carol
    answer = room.matrix("alice", "#chair carol")
    assert "More than one person here is called carol" in answer
    assert "@carol:localhost" in answer and "carol!~carol@198.51.100.66" in answer
    assert "Only the chairs" in room.irc("carol", "#agreed mallory decides", host="198.51.100.66")
    assert "Current chairs: Alice Carol" in room.matrix("alice", "#chair @carol:localhost")
    assert "Only the chairs" in room.irc("carol", "#agreed still mallory", host="198.51.100.66")
    room.matrix("carol", "#agreed carol decides")
    room.matrix("alice", "#endmeeting")
    items = room.notes()["topics"][0]["items"]
    assert [(i["text"], i["author_id"]) for i in items] == [("carol decides", "@carol:localhost")]


def test_chairing_someone_who_has_not_spoken_binds_nothing_and_says_so(room):
    room.matrix("alice", "#startmeeting identity")
    answer = room.matrix("alice", "#chair dave")
    assert "Nobody called dave has spoken in this meeting" in answer and "Current chairs: Alice" in answer
    assert "Only the chairs" in room.irc("dave", "#topic taken over")
    assert "Only the chairs" in room.matrix("dave", "#topic taken over")  # display name Dave, same words
    room.matrix("alice", "#endmeeting")
    assert room.notes()["chairs"] == ["Alice"]


def test_a_chair_named_by_services_account_before_speaking_follows_the_account(room):
    room.matrix("alice", "#startmeeting identity")
    assert "Current chairs: ada Alice" in room.matrix("alice", "#chair irc:ada")
    assert "Only the chairs" in room.irc("ada", "#topic not ada")  # the nick, without the account
    assert room.irc("ada_away", "#topic Mine", account="ada") == "Topic: Mine"  # the account, any nick


def test_chairing_an_irc_nick_binds_the_account_behind_it_and_a_later_holder_of_the_nick_is_refused(room):
    room.matrix("alice", "#startmeeting identity")
    room.irc("ada", "hello", account="ada")
    assert "Current chairs: ada Alice" in room.matrix("alice", "#chair ada")
    assert "Only the chairs" in room.irc("ada", "#topic hijacked")
    assert "Only the chairs" in room.irc("ada", "#topic hijacked", account="mallory")
    assert room.irc("ada", "#topic Real", account="ada") == "Topic: Real"


def test_a_meeting_started_by_a_nick_without_an_account_says_so(room):
    answer = room.irc("trix", "#startmeeting taken over")
    assert "The chair is trix (IRC, no account)." in answer
    assert "started by trix (IRC, no account)" in room.matrix("bob", "#startmeeting again")


def test_an_impostor_is_credited_apart_from_the_real_person_in_the_minutes(room):
    room.matrix("alice", "#startmeeting identity")
    room.matrix("bob", "#info the real bob")
    for n in range(8):
        room.irc("Bob", f"#info impostor line {n}")
    room.matrix("alice", "#endmeeting")
    data = room.notes()
    people = {(a["nick"], a["id"]): a["lines"] for a in data["attendees"]}
    assert people[("Bob", "@bob:localhost")] == 1
    assert people[("Bob (IRC, no account)", "Bob!~Bob@203.0.113.9")] == 8
    authors = {(i["author"], i["author_id"]) for i in data["topics"][0]["items"]}
    assert authors == {("Bob", "@bob:localhost"), ("Bob (IRC, no account)", "Bob!~Bob@203.0.113.9")}
    md = room.minutes_md().splitlines()
    real = next(line for line in md if "the real bob" in line)
    impostor = next(line for line in md if "impostor line 0" in line)
    assert "Bob" in real and "no account" not in real and "Bob (IRC, no account)" in impostor
    present = [line for line in md if line.startswith("- Bob")]
    # Each says its network once: the qualifier names IRC already, the Matrix member is marked (Matrix)
    assert present == ["- Bob (IRC, no account): 8", "- Bob (Matrix): 1"], present


def test_an_irc_nick_like_a_matrix_members_name_neither_owns_nor_closes_their_action(room):
    room.matrix("alice", "#startmeeting identity")
    room.matrix("carol", "hi")
    room.irc("carol", "hi from mallory")
    room.matrix("alice", "#action carol to update the spec")
    room.matrix("alice", "#endmeeting")
    assert room.notes()["actions"][0]["owners"] == ["Carol"]  # the Matrix member; the bare nick owns nothing
    assert "#1 Carol: carol to update the spec" in room.matrix("bob", "!actions carol")
    assert "only they or a chair" in room.irc("carol", "!done 1")
    assert "only they or a chair" in room.irc("Carol", "!done 1", account="carol")  # another network's carol
    assert "Closed action #1" in room.matrix("carol", "!done 1")
    actions = json.loads((room.config.notes_dir / "wg" / "actions.json").read_text())
    assert actions["open"] == []


def test_a_here_alias_belongs_to_the_identity_that_said_it(room):
    room.matrix("alice", "#startmeeting identity")
    room.matrix("zesheng", "#here zz")
    room.irc("zesheng", "#here zz-too")  # same nick on IRC, another person
    room.matrix("alice", "#action zz to organise a draft run")
    room.matrix("alice", "#endmeeting")
    assert room.notes()["actions"][0]["owners"] == ["Zesheng"]
    assert "Closed action #1" in room.matrix("zesheng", "!done 1")


def test_a_person_links_their_matrix_id_and_irc_account_and_closes_their_action_from_either(room):
    room.matrix("alice", "#startmeeting identity")
    room.matrix("ada", "hi")
    room.matrix("alice", "#action ada to write the guide")
    room.matrix("alice", "#endmeeting")
    assert "only they or a chair" in room.irc("ada", "!done 1", account="ada")
    assert "waits" not in room.matrix("ada", "!whoami") and "linked to nothing" in room.matrix("ada", "!whoami")
    assert "!linkto matrix @ada:localhost" in room.matrix("ada", "!linkto irc ada")
    assert "waits for its confirmation" in room.matrix("ada", "!whoami")
    assert "only they or a chair" in room.irc("ada", "!done 1", account="ada")  # asked, not confirmed
    assert "identified to services" in room.irc("ada", "!linkto matrix @ada:localhost")  # the nick alone
    assert "has not asked" in room.irc("mallory", "!linkto matrix @ada:localhost", account="mallory")
    assert "Linked" in room.irc("ada_", "!linkto matrix @ada:localhost", account="ada")
    assert "linked to @ada:localhost" in room.irc("ada_", "!whoami", account="ada")
    assert "Closed action #1" in room.irc("ada_", "!done 1", account="ada")
    assert "Unlinked" in room.matrix("ada", "!unlink")
    assert "linked to nothing" in room.irc("ada", "!whoami", account="ada")


def test_a_link_asked_for_by_someone_else_gives_them_nothing(room):
    room.matrix("alice", "#startmeeting identity")
    room.irc("ada", "hi", account="ada")
    room.matrix("alice", "#action ada to write the guide")
    room.matrix("alice", "#endmeeting")
    room.matrix("mallory", "!linkto irc ada")  # mallory asks; ada never confirms
    assert "only they or a chair" in room.matrix("mallory", "!done 1")
    assert "not identified to services" in room.irc("ada", "!whoami")
    assert "Usage: !linkto irc ACCOUNT (from Matrix)" in room.matrix("ada", "!linkto irc")


def test_actions_of_a_name_follow_the_person_behind_it_and_their_link(room):
    room.matrix("alice", "#startmeeting one")
    room.matrix("ada", "hi")
    room.matrix("alice", "#action ada to write the guide")
    room.matrix("alice", "#endmeeting")
    room.clock += timedelta(days=7)
    room.matrix("alice", "#startmeeting two")
    room.irc("ada", "hi from IRC", account="ada")
    room.irc("Ada", "and from a nick without an account")
    room.matrix("alice", "#action ada to review the guide")
    room.matrix("alice", "#endmeeting")
    mine = room.matrix("bob", "!actions @ada:localhost")
    assert "#1" in mine and "#2" not in mine
    impostor = room.matrix("bob", "!actions Ada (IRC, no account)")
    assert "no open actions" in impostor  # the nick without an account owns nothing
    link(room, "ada", "ada")
    both = room.matrix("bob", "!actions @ada:localhost")
    assert "#1" in both and "#2" in both


def test_a_display_name_change_is_one_person_and_two_matrix_users_of_one_name_are_two(room):
    room.matrix("alice", "#startmeeting identity")
    room.matrix_as("@ada:localhost", "Ada", "#info first")
    room.matrix_as("@ada:localhost", "Ada Lovelace", "#info renamed")
    room.matrix_as("@ada:example.org", "Ada", "#info another Ada")
    assert "More than one person here is called Ada" not in room.matrix("alice", "#chair Ada")  # one is Ada now
    room.matrix("alice", "#endmeeting")
    data = room.notes()
    people = {a["id"]: (a["nick"], a["lines"]) for a in data["attendees"]}
    assert people["@ada:localhost"] == ("Ada (@ada:localhost)", 2)
    assert people["@ada:example.org"] == ("Ada (@ada:example.org)", 1)
    assert "Ada (@ada:example.org)" in data["chairs"]


def link(room: Mixed, matrix_who: str, account: str) -> None:
    """@matrix_who:localhost and the IRC services account `account` become one person (both sides say so)."""
    assert "!linkto matrix" in room.matrix(matrix_who, f"!linkto irc {account}")
    assert "Linked" in room.irc(account, f"!linkto matrix @{matrix_who}:localhost", account=account)


def test_a_team_admin_linked_to_an_irc_account_holds_the_rights_from_irc_until_unlinked(room):
    room.matrix("alice", "#startmeeting identity")
    assert "Only the chairs" in room.irc("boss", "#agreed from IRC before the link", account="boss")
    room.matrix("admin", "!linkto irc boss")
    assert "Only the chairs" in room.irc("boss", "#agreed asked, not confirmed", account="boss")
    assert "Linked" in room.irc("boss", "!linkto matrix @admin:localhost", account="boss")
    room.irc("boss", "#agreed the admin decides from IRC", account="boss")
    assert "Only the chairs" in room.irc("boss", "#agreed a nick, no account", host="198.51.100.66")
    room.boot()  # a restart: the link is stored, the rights stay
    room.irc("boss", "#agreed still the admin after a restart", account="boss")
    assert "Unlinked" in room.irc("boss", "!unlink", account="boss")
    assert "Only the chairs" in room.irc("boss", "#agreed after the unlink", account="boss")
    room.matrix("alice", "#endmeeting")
    agreed = [(i["text"], i["author_id"]) for i in room.notes()["topics"][0]["items"]]
    assert agreed == [("the admin decides from IRC", "irc:boss"), ("still the admin after a restart", "irc:boss")]


def test_a_chair_bound_to_a_matrix_member_chairs_from_their_linked_irc_account_and_not_from_the_nick(room):
    link(room, "carol", "carol")
    room.matrix("alice", "#startmeeting identity")
    room.matrix("carol", "here")
    assert "Current chairs: Alice Carol" in room.matrix("alice", "#chair @carol:localhost")
    room.irc("carol", "#agreed carol decides from IRC", account="carol")
    assert "Only the chairs" in room.irc("carol", "#agreed mallory with carol's nick", host="198.51.100.66")
    assert "Only the chairs" in room.irc("carol", "#agreed mallory's own account", account="mallory")
    room.matrix("alice", "#endmeeting")
    agreed = [(i["text"], i["author_id"]) for i in room.notes()["topics"][0]["items"]]
    assert agreed == [("carol decides from IRC", "irc:carol")]


def test_an_agenda_item_added_on_matrix_is_removed_by_its_owner_from_irc_once_linked(room):
    assert "Added" in room.matrix("ada", "!agenda add the guide")
    assert "only they or a chair" in room.irc("ada", "!agenda remove 1", account="ada")
    assert "only they or a chair" in room.irc("ada", "!agenda remove 1")  # the nick alone, linked or not
    link(room, "ada", "ada")
    assert "only they or a chair" in room.irc("ada", "!agenda remove 1", host="198.51.100.66")
    assert "Removed item 1" in room.irc("ada", "!agenda remove 1", account="ada")
