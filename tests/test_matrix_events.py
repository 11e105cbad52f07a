"""Reading Matrix event content and writing replies, without a homeserver."""

import random

from bot.chat.backoff import Backoff
from bot.chat.matrix_events import notice_content, read_message, strip_reply_fallback
from bot.core.message import LineKind


def test_a_reply_fallback_is_stripped_before_the_command_is_read():
    body = "> <@alice:x> #info old\n> second quoted line\n\n#agreed the answer"
    assert strip_reply_fallback(body) == "#agreed the answer"
    content = {"msgtype": "m.text", "body": body, "m.relates_to": {"m.in_reply_to": {"event_id": "$a"}}}
    assert read_message(content).text == "#agreed the answer"


def test_a_line_that_merely_starts_with_a_quote_is_kept_when_it_is_no_reply():
    assert read_message({"msgtype": "m.text", "body": "> quoted\n#info x"}).text == "> quoted\n#info x"


def test_an_edit_names_the_event_it_replaces_and_carries_the_new_text():
    incoming = read_message({"msgtype": "m.text", "body": "* #info fixed",
                             "m.new_content": {"msgtype": "m.text", "body": "#info fixed"},
                             "m.relates_to": {"rel_type": "m.replace", "event_id": "$orig"}})
    assert (incoming.edits, incoming.text) == ("$orig", "#info fixed")


def test_emotes_and_notices_keep_their_kind_and_media_becomes_a_line():
    assert read_message({"msgtype": "m.emote", "body": "waves"}).kind is LineKind.ME
    assert read_message({"msgtype": "m.notice", "body": "#info from a bot"}).kind is LineKind.NOTICE
    media = read_message({"msgtype": "m.image", "body": "plot.png", "info": {"size": 2048}})
    assert media.text == "[image: plot.png, 2048 bytes]"
    assert read_message({"msgtype": "m.text"}) is None and read_message({}) is None


def test_a_reply_is_a_notice_with_html_from_markdown_and_no_raw_html():
    content = notice_content("**Topic:** <script>alert(1)</script>")
    assert content["msgtype"] == "m.notice"
    assert "<strong>Topic:</strong>" in content["formatted_body"]
    assert "<script>" not in content["formatted_body"]


def test_backoff_grows_to_its_cap_with_jitter_and_resets_when_healthy():
    backoff = Backoff(random.Random(1), first=2, cap=30)
    delays = [backoff.next_delay() for _ in range(8)]
    assert all(1 <= d <= 30 for d in delays) and max(delays) > 15
    backoff.healthy()
    assert backoff.next_delay() <= 2
