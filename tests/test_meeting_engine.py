"""The meeting engine, told as conversations (MeetBot semantics, ../shared/REFERENCE.md)."""

from datetime import timedelta

from meeting_talk import Talk

from bot.core.message import LineKind, Reply
from bot.meeting import engine
from bot.meeting.minutes import build_minutes, minutes_json
from bot.meeting.model import ItemKind, LogLine


def started(name: str = "WG") -> Talk:
    talk = Talk()
    talk.say("alice", f"#startmeeting {name}")
    return talk


def test_a_meeting_starts_names_its_owner_and_says_so():
    talk = Talk()
    replies = talk.replies("alice", "#startmeeting Accelerator WG")
    assert "started" in replies[0] and "The chair is alice" in replies[0]
    assert talk.state.owner == "alice" and talk.state.name == "Accelerator WG"


def test_items_are_acknowledged_quietly_and_recorded_in_order():
    talk = started()
    assert talk.acked("bob", "#info OpenReg supports streams")
    assert talk.acked("bob", "!idea a Python-level registration API")
    assert talk.acked("carol", "#link https://github.com/pytorch-fdn/accelerator-integration-wg")
    kinds = [e.kind for e in talk.state.entries]
    assert kinds == [ItemKind.INFO, ItemKind.IDEA, ItemKind.LINK]


def test_both_prefixes_and_any_case_work():
    talk = started()
    talk.say("bob", "#INFO loud")
    talk.say("bob", "!Info mixed")
    assert [e.text for e in talk.state.entries] == ["loud", "mixed"]


def test_chair_commands_are_refused_in_words_to_others_and_change_nothing():
    talk = started()
    replies = talk.replies("mallory", "#agreed we ship it")
    assert replies and "Only the chairs" in replies[0] and "alice" in replies[0]
    assert talk.state.entries == []
    assert "Only the chairs" in talk.replies("mallory", "#endmeeting")[0]
    assert talk.state.running


def test_a_chair_added_by_the_owner_can_decide():
    talk = started()
    talk.say("bob", "hello")
    assert "Current chairs: alice bob" in talk.replies("alice", "#chair bob")
    talk.say("bob", "#agreed meet every two weeks")
    assert talk.state.entries[-1].kind is ItemKind.AGREED


def test_accepted_and_its_aliases_are_agreed_and_reject_is_rejected():
    talk = started()
    for word in ("agreed", "agree", "accepted", "accept"):
        talk.say("alice", f"#{word} yes {word}")
    talk.say("alice", "#reject no")
    talk.say("alice", "#rejected never")
    kinds = [e.kind.value for e in talk.state.entries]
    assert kinds == ["agreed"] * 4 + ["rejected"] * 2


def test_the_owner_cannot_be_unchaired_and_others_can():
    talk = started()
    talk.say("alice", "#chair bob carol")
    reply = talk.replies("bob", "#unchair alice carol")[0]
    assert "alice started the meeting and stays a chair" in reply
    assert talk.state.chair_nicks() == ["alice", "bob"]


def test_a_privileged_sender_is_a_chair_without_being_chaired():
    talk = started()
    talk.say("admin", "#topic Budget", privileged=True)
    assert talk.state.entries[-1].kind is ItemKind.TOPIC


def test_a_chair_is_bound_to_who_spoke_so_a_new_nick_holder_is_not_a_chair():
    talk = started()
    talk.say("bob", "hi", sender="bob!b@trusted.example")
    talk.say("alice", "#chair bob")
    assert "Only the chairs" in talk.replies("bob", "#topic spoofed", sender="bob!x@evil.example")[0]
    talk.say("bob", "#topic real", sender="bob!b@trusted.example")
    assert talk.state.entries[-1].text == "real"


def test_undo_removes_the_latest_item_and_says_which():
    talk = started()
    talk.say("bob", "#action bob to write the RFC")
    talk.say("bob", "#action oops")
    reply = talk.replies("alice", "#undo")[0]
    assert reply.startswith("Removing item from minutes: ACTION by bob at 02:01:30 : oops")
    assert [e.text for e in talk.state.entries] == ["bob to write the RFC"]


def test_undo_can_remove_a_topic_as_meetbot_does():
    talk = started()
    talk.say("alice", "#topic Wrong")
    talk.say("alice", "#undo")
    assert talk.state.entries == []
    assert "nothing" in talk.replies("alice", "#undo")[0]


def test_a_line_starting_with_a_url_is_a_link():
    talk = started()
    talk.say("bob", "https://pagure.io/fedora-infrastructure/issue/11439 is the ticket")
    entry = talk.state.entries[-1]
    assert entry.kind is ItemKind.LINK and entry.url == "https://pagure.io/fedora-infrastructure/issue/11439"


def test_a_link_with_a_label_keeps_the_label_as_text_and_the_url_as_url():
    talk = started()
    talk.say("bob", "#link Board: https://example.org/board.")
    entry = talk.state.entries[-1]
    assert entry.text == "Board: https://example.org/board." and entry.url == "https://example.org/board"


def test_numbers_channels_unknown_words_and_mid_line_commands_are_not_commands():
    talk = started()
    for text in ("#123 is the bug", "#fedora-ai-ml is the channel", "#infoo x", "proposed #agreed x",
                 "#proposed #agreed x", " #info leading space"):
        assert talk.say("alice", text) == []
    assert talk.state.entries == []


def test_a_multi_line_message_is_read_line_by_line():
    talk = started()
    talk.say("bob", "#info first\nsome chatter\n#action bob to do the second\n\n#idea third")
    assert [(e.kind.value, e.text) for e in talk.state.entries] == [
        ("info", "first"), ("action", "bob to do the second"), ("idea", "third")]
    assert talk.state.attendees["bob"] == 4  # four lines with words


def test_an_empty_item_gets_its_usage_instead_of_an_empty_entry():
    talk = started()
    assert talk.replies("bob", "#action")[0].startswith("Usage: #action TEXT")
    assert talk.state.entries == []


def test_help_alone_answers_and_help_with_text_is_a_call_for_help():
    talk = started()
    assert "Meetings:" in talk.replies("bob", "#help")[0]
    assert "action" in talk.replies("bob", "!help action")[0]
    talk.say("bob", "#halp we need a packager for hipBLAS")
    assert talk.state.entries[-1].kind is ItemKind.HELP


def test_attendees_count_every_line_including_me_and_list_named_people():
    talk = started()
    talk.say("bob", "hi")
    talk.say("bob", "waves", kind=LineKind.ME)
    talk.say("carol", "#nick dave, erin")
    talk.say("alice", "#chair frank")
    assert talk.state.attendees == {"alice": 2, "bob": 2, "carol": 1, "dave": 0, "erin": 0, "frank": 0}


def test_actions_belong_to_named_attendees_by_whole_word_and_alias():
    talk = started()
    talk.say("bob", "hi")
    talk.say("Zesheng Zong", "#here zeshengzong")
    talk.say("alice", "#action bob and Alice to sync")
    talk.say("alice", "#action bobby to write docs")
    talk.say("alice", "#action zeshengzong to organise a draft run")
    talk.say("alice", "#endmeeting")
    m = talk.minutes()
    assert [a.owners for a in m.actions] == [("alice", "bob"), (), ("Zesheng Zong",)]
    assert [nick for nick, _ in m.by_person()] == ["alice", "bob", "Zesheng Zong", "UNASSIGNED"]


def test_a_notice_or_me_or_bot_line_is_logged_but_never_obeyed():
    talk = started()
    for kind in (LineKind.NOTICE, LineKind.ME, LineKind.BOT):
        talk.say("bob", "#info not a command", kind=kind)
    # the BOT line is sigbot's own: logged, but sigbot is no attendee (issue 19)
    assert talk.state.entries == [] and talk.state.attendees["bob"] == 2 and len(talk.state.lines) == 4


def test_endmeeting_ends_and_later_lines_are_not_part_of_it():
    talk = started()
    talk.say("alice", "#endmeeting")
    talk.say("bob", "#info too late")
    assert not talk.state.running and talk.state.entries == []


def test_a_second_startmeeting_is_answered_not_obeyed():
    talk = started("First")
    assert "already running" in talk.replies("bob", "#startmeeting Second")[0]
    assert talk.state.name == "First"


def test_meetingname_renames():
    talk = started("x")
    assert "set to 'rocm packagers'" in talk.replies("alice", "#meetingname rocm packagers")[0]


def test_items_before_the_first_topic_go_to_a_topic_without_title():
    talk = started()
    talk.say("bob", "#info early")
    talk.say("alice", "#topic Later")
    talk.say("bob", "#info inside")
    talk.say("alice", "#endmeeting")
    data = minutes_json(talk.minutes())
    assert [t["title"] for t in data["topics"]] == [None, "Later"]
    assert data["topics"][0]["items"][0]["text"] == "early"


def test_the_minutes_are_a_pure_function_of_the_log():
    talk = started()
    for i in range(5):
        talk.say("bob", f"#info item {i}")
        talk.say("alice", f"#topic t{i}")
    talk.say("alice", "#endmeeting")
    refolded = engine.fold(talk.log, talk.room, talk.registry)
    assert minutes_json(talk.minutes()) == minutes_json(build_minutes(refolded))


def test_attendees_in_json_are_ordered_by_lines_said():
    talk = started()
    for _ in range(3):
        talk.say("carol", "x")
    talk.say("bob", "y")
    talk.say("alice", "#endmeeting")
    data = minutes_json(talk.minutes())
    assert [(a["nick"], a["lines"]) for a in data["attendees"]] == [("carol", 3), ("alice", 2), ("bob", 1)]


def live(talk: Talk, nick: str, sender: str, text: str, seen: tuple[tuple[str, str], ...] = ()) -> list[str]:
    """`nick` (identity `sender`) says `text` on IRC, with what the adapter saw stored with the line."""
    talk.clock += timedelta(seconds=30)
    line = LogLine(0, talk.clock, nick, sender, LineKind.SAID, text, "irc", seen=seen)
    talk.log.append(line)
    talk.state = talk.state or engine.begin(line, talk.room)
    return [e.text for e in engine.apply(talk.state, line, talk.registry) if isinstance(e, Reply)]


def test_on_a_live_network_chairing_a_name_nobody_spoke_under_binds_nothing():
    talk = Talk()
    live(talk, "bob", "bob!b@example.org", "#startmeeting x")
    assert "Nobody called ada has spoken" in live(talk, "bob", "bob!b@example.org", "#chair ada")[0]
    assert "Only the chairs" in live(talk, "ada", "ada!a@example.net", "#topic mine")[0]
    assert [c.sender for c in talk.state.chairs] == []


def test_who_holds_the_nick_as_the_chair_line_is_said_outranks_who_spoke_under_it_before():
    talk = Talk()
    live(talk, "bob", "bob!b@example.org", "#startmeeting x")
    live(talk, "ada", "ada!x@impostor.example", "#topic early")
    live(talk, "bob", "bob!b@example.org", "#chair ada", seen=(("ada", "irc:ada"),))
    assert "Only the chairs" in live(talk, "ada", "ada!x@impostor.example", "#topic again")[0]
    assert live(talk, "ada", "irc:ada", "#topic Mine") == ["Topic: Mine"]
    refolded = engine.fold(talk.log, talk.room, talk.registry)
    assert refolded.chair_ids() == talk.state.chair_ids() == ["bob!b@example.org", "irc:ada"]


def test_a_replayed_log_binds_a_chair_by_name_as_meetbot_does():
    talk = started()
    talk.say("alice", "#chair frank")
    assert talk.state.chair_ids() == ["alice", "frank"]
    talk.say("frank", "#agreed replayed")
    assert talk.state.entries[-1].kind is ItemKind.AGREED
