"""The relay's pure parts: Matrix HTML to IRC lines, IRC codes to Matrix HTML, splitting, config."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.chat.matrix_events import download_url, human_size, line_message, media_text, notice_content, read_message
from bot.config.load import parse_config
from bot.config.model import ConfigError
from bot.relay.config import RelaySettings
from bot.relay.to_irc import (
    ZWSP,
    edit_line,
    html_to_irc,
    irc_lines,
    irc_name,
    matrix_line,
)
from bot.relay.to_matrix import irc_to_html, plain_text, relayed_content

B, I, U, S, M, O = "\x02", "\x1d", "\x1f", "\x1e", "\x11", "\x0f"  # noqa: E741 -- IRC format codes by letter


# --- Matrix HTML -> IRC --------------------------------------------------------


def test_bold_italic_underline_and_strike_become_control_codes_and_inline_code_backticks():
    # Not \x11 for code: irssi and HexChat show it as a reverse-video Q around the word.
    html = "<strong>bold</strong> <em>it</em> <u>under</u> <del>gone</del> <code>x = 1</code>"
    assert html_to_irc(html) == f"{B}bold{B} {I}it{I} {U}under{U} {S}gone{S} `x = 1`"
    assert M not in html_to_irc(notice_content("run `make test` now")["formatted_body"])


def test_lines_of_a_multi_line_answer_start_without_a_space():
    html = notice_content("Meeting started.\nUseful commands: #topic #info")["formatted_body"]
    assert "<br />\n" in html  # markdown-it's soft break: a newline the line after would start with
    assert html_to_irc(html).split("\n") == ["Meeting started.", "Useful commands: #topic #info"]


def test_matrix_colours_become_the_nearest_irc_colour_codes_kept_apart_from_digits():
    html = ('<font data-mx-color="#ff0000">red</font>5 <span data-mx-bg-color="#0000fc">on blue '
            '<font color="#009300">green</font>,3</span> <font data-mx-color="#FF8800">orange</font>')
    assert html_to_irc(html, colours=True) == (
        "\x0304red\x03\x02\x025 \x0399,12on blue \x0303,12green\x0399,12,3\x03 \x0353orange\x03")
    assert html_to_irc(html) == "red5 on blue green,3 orange"  # without colours: the words alone


def test_colours_bold_italic_underline_and_monospace_go_to_matrix_and_back():
    said = f"\x0304red\x03 \x0312,01blue on black\x03 {B}b{B} {I}i{I} {U}u{U} {M}code{M}"
    html, _ = irc_to_html(said)
    assert html == ('<font data-mx-color="#ff0000">red</font> <font data-mx-color="#0000fc" '
                    'data-mx-bg-color="#000000">blue on black</font> <strong>b</strong> <em>i</em> <u>u</u> '
                    '<code>code</code>')
    assert html_to_irc(html, colours=True) == (
        f"\x0304red\x03 \x0312,01blue on black\x03 {B}b{B} {I}i{I} {U}u{U} `code`")


def test_colour_codes_typed_into_a_matrix_message_colour_nothing_on_irc():
    assert matrix_line(None, "a\x0304b\x04ff0000c") == "a04bff0000c"
    assert matrix_line("<b>a</b>\x0304b", "x", colours=True) == f"{B}a{B}04b"


def test_a_table_becomes_aligned_columns_and_the_line_after_it_stays_out():
    markdown = (
        "Farm:\n\n| machine | state | util |\n|---|---|---|\n| vm | idle | - |\n| gpu-box-2 | busy | 45 % |\n\nDetails"
    )
    assert html_to_irc(notice_content(markdown)["formatted_body"]).split("\n") == [
        "Farm:", "machine    state  util", "vm         idle   -", "gpu-box-2  busy   45 %", "Details"]


def test_a_table_too_wide_for_a_terminal_becomes_a_compact_list():
    wide = "x" * 70
    markdown = f"| name | note | size |\n|---|---|---|\n| a | {wide} | 1 |\n| b | short | |"
    assert html_to_irc(notice_content(markdown)["formatted_body"]).split("\n") == [
        f"a: note {wide}, size 1", "b: note short"]
    assert html_to_irc(f"<table><tr><td>a</td><td>{wide * 2}</td><td>b</td></tr></table>") == f"a, {wide * 2}, b"


def test_wide_letters_take_two_columns_when_a_table_is_lined_up():
    html = (
        "<table><tr><th>who</th><th>n</th></tr><tr><td>日本</td><td>1</td></tr><tr><td>ab</td><td>2</td></tr></table>"
    )
    assert html_to_irc(html).split("\n") == ["who   n", "日本  1", "ab    2"]


def test_the_farm_tables_details_line_is_a_paragraph_of_its_own_on_matrix():
    from bot.farm.config import FarmSettings, Machine
    from bot.farm.publish import farm_view
    from bot.farm.render import summary
    from bot.farm.store import FarmStore
    from bot.storage import open_store

    settings_ = FarmSettings(machines=(Machine("vm"), Machine("gpu1", gpus=2)), interval_seconds=60)
    view = farm_view(FarmStore(open_store(":memory:").db), "ml", settings_, NOON)
    html = notice_content(summary(view, "https://sig.example.org", table=True))["formatted_body"]
    table = html[html.index("<table>"):html.index("</table>")]
    assert "Details" not in table and "<td>gpu1</td>" in table
    lines = html_to_irc(html).split("\n")
    assert lines[-3:] == ["vm       offline  0/?   -     -", "gpu1     offline  0/2   -     -",
                          "Details: !farm HOST · plots: https://sig.example.org/farm/ml/"]


def test_nested_tags_of_one_style_toggle_once():
    assert html_to_irc("<b>a <strong>b</strong> c</b>") == f"{B}a b c{B}"


def test_a_link_becomes_text_and_url_unless_they_are_the_same():
    assert html_to_irc('<a href="https://fedoraproject.org">the wiki</a>') == "the wiki (https://fedoraproject.org)"
    assert html_to_irc('<a href="https://x.org/a">https://x.org/a</a>') == "https://x.org/a"


def test_a_user_pill_becomes_the_name_alone():
    assert html_to_irc('<a href="https://matrix.to/#/@trix:fp.org">trix</a>: ping') == "trix: ping"


def test_a_code_block_is_sent_as_its_plain_lines():
    html = "<p>look:</p><pre><code class=\"language-sh\">make test\n  <b>not bold</b>\n</code></pre><p>done</p>"
    assert html_to_irc(html).split("\n") == ["look:", "make test", "  not bold", "done"]


def test_lists_quotes_and_line_breaks_become_lines():
    html = "<ul><li>one</li><li>two</li></ul><ol><li>first</li></ol><blockquote>quoted</blockquote>a<br>b"
    assert html_to_irc(html).split("\n") == ["- one", "- two", "1. first", "> quoted", "a", "b"]


def test_the_reply_fallback_is_never_relayed():
    html = "<mx-reply><blockquote>In reply to <a href='x'>@bob</a><br>old</blockquote></mx-reply>new answer"
    assert html_to_irc(html) == "new answer"
    body = "> <@bob:hs> old\n\nnew answer"
    # The Matrix adapter reads the line without it; the relay carries what the adapter read.
    assert read_message({"msgtype": "m.text", "body": body, "m.relates_to": {"m.in_reply_to": {"event_id": "$x"}}}
                        ).text == "new answer"


def test_html_entities_are_decoded_for_irc():
    assert html_to_irc("a &lt;b&gt; &amp; c") == "a <b> & c"


def test_media_becomes_a_link_with_its_file_name_and_size():
    content = {"msgtype": "m.image", "body": "cat pic.png", "url": "mxc://hs.org/AbC",
               "info": {"size": 123_456, "mimetype": "image/png"}}
    assert media_text(content, "https://hs.org/") == (
        "[image] cat pic.png (120.6 KB) https://hs.org/_matrix/media/v3/download/hs.org/AbC/cat%20pic.png")
    assert media_text({"msgtype": "m.text", "body": "x"}, "https://hs") is None
    assert download_url("https://not-mxc", "https://hs", "f") is None
    assert [human_size(n) for n in (10, 2048, 5 * 1024**3)] == ["10 B", "2.0 KB", "5.0 GB"]


def test_a_name_gets_a_zero_width_space_after_its_first_letter_only_when_asked():
    assert irc_name("Alice", True) == "A" + ZWSP + "lice"
    assert irc_name("Alice", False) == "Alice"
    assert irc_name("  x  ", True) == "x"


# --- splitting ---------------------------------------------------------------------


def test_each_line_carries_the_prefix_and_fits_the_budget():
    lines = irc_lines("<bob> ", "word " * 40, 50, 100)
    assert all(line.startswith("<bob> ") and len(line.encode()) <= 50 for line in lines)
    assert " ".join(line[len("<bob> "):] for line in lines).replace("…", "").split() == ["word"] * 40


def test_a_split_line_is_marked_where_it_continues_and_where_it_goes_on():
    lines = irc_lines("<bob> ", "one two three four five six seven", 27, 100)
    assert lines == ["<bob> one two three …", "<bob> … four five six …", "<bob> … seven"]
    assert irc_lines("<bob> ", "one two\nthree", 27, 100) == ["<bob> one two", "<bob> three"]  # lines: no marks


def test_a_long_message_is_cut_to_its_first_lines_and_a_link():
    text = "\n".join(f"line {i}" for i in range(10))
    lines = irc_lines("<bob> ", text, 400, 4, paste_url="http://h/relay/paste/x")
    assert lines == ["<bob> line 0", "<bob> line 1", "<bob> line 2",
                             "<bob> … (10 lines in all: http://h/relay/paste/x)"]
    assert irc_lines("<bob> ", "a\nb\nc\nd", 400, 4, paste_url="u") == ["<bob> a", "<bob> b", "<bob> c", "<bob> d"]


def test_a_word_longer_than_the_budget_is_split_too():
    assert irc_lines("<b> ", "x" * 25, 22, 10) == ["<b> " + "x" * 14 + " …", "<b> … " + "x" * 11]
    # Too narrow for the marks (a test-sized budget): split all the same, unmarked.
    assert irc_lines("<b> ", "x" * 25, 14, 10) == ["<b> " + "x" * 10, "<b> " + "x" * 10, "<b> " + "x" * 5]


@given(st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=400), st.integers(20, 120))
def test_every_line_fits_its_budget_carries_the_prefix_and_is_whole_utf8(text, budget):
    prefix = "<A​lice> "
    lines = irc_lines(prefix, text, budget, 10**6)
    for line in lines:
        assert line.startswith(prefix.rstrip()) and len(line.encode()) <= budget
        line.encode().decode()
    said = "".join(line[len(prefix):] for line in lines)
    # The split marks (…) are the only words added.
    assert said.replace(" ", "").replace("…", "") == (text.replace(" ", "").replace("…", "") if text.strip() else "")


# --- IRC -> Matrix -----------------------------------------------------------------


def test_irc_codes_become_escaped_html():
    html, _ = irc_to_html(f"{B}bold{B} {I}it{O} <script> {U}u{U} {S}s{S} {M}m{M}")
    assert html == "<strong>bold</strong> <em>it</em> &lt;script&gt; <u>u</u> <del>s</del> <code>m</code>"


def test_colours_become_matrix_font_colours_and_unclosed_codes_are_closed():
    assert irc_to_html("\x0304,01red\x03 and \x02open")[0] == (
        '<font data-mx-color="#ff0000" data-mx-bg-color="#000000">red</font> and <strong>open</strong>')
    assert plain_text("\x0312blue\x03 \x02b\x02\x16") == "blue b"


def test_a_style_inside_a_colour_keeps_the_colour_and_a_reset_ends_both():
    html, _ = irc_to_html("a \x0312blue \x02bold\x02 still\x0f plain \x04FF8800hex\x04 \x0399,04bg\x0f x\x0304,5")
    assert html == ('a <font data-mx-color="#0000fc">blue <strong>bold</strong> still</font> plain '
                    '<font data-mx-color="#ff8800">hex</font> <font data-mx-bg-color="#ff0000">bg</font> x')


def test_stray_ctcp_bytes_bells_and_terminal_escapes_from_irc_never_reach_matrix():
    content = relayed_content("bob", "a\x01VERSION\x01 \x07\x1b[31mred\x9b\tend \x02b\x02", False)
    assert content["body"] == "<bob> aVERSION [31mred end b"
    assert content["formatted_body"].endswith("</strong>aVERSION [31mred end <strong>b</strong>")


def test_members_names_become_mention_pills_and_urls_links():
    members = {"Alice Smith": "@alice:hs", "Bob": "@bob:hs"}
    html, mentioned = irc_to_html("alice smith, bob: see https://x.org/?a=1&b=2. bobby is not Bob", members)
    assert html == ('<a href="https://matrix.to/#/@alice:hs">alice smith</a>, '
                    '<a href="https://matrix.to/#/@bob:hs">bob</a>: see '
                    '<a href="https://x.org/?a=1&amp;b=2">https://x.org/?a=1&amp;b=2</a>. bobby is not '
                    '<a href="https://matrix.to/#/@bob:hs">Bob</a>')
    assert mentioned == ["@alice:hs", "@bob:hs"]
    assert irc_to_html(f"B{ZWSP}ob: hi", members)[1] == ["@bob:hs"]  # a relayed name said back


def test_an_irc_line_becomes_text_with_the_nick_shown_as_sender():
    content = relayed_content("trix", f"hi {B}all{B}", False, {}, profile_id="irc:trix")
    assert content["msgtype"] == "m.text"
    assert content["body"] == "<trix> hi all"
    assert content["formatted_body"] == "<strong data-mx-profile-fallback>&lt;trix&gt; </strong>hi <strong>all</strong>"
    assert content["com.beeper.per_message_profile"]["displayname"] == "trix"
    emote = relayed_content("trix", "waves", True)
    assert (emote["msgtype"], emote["body"]) == ("m.emote", "trix waves")


# --- config ----------------------------------------------------------------------------


def config(team_extra: str = "", top: str = "") -> dict:
    import tomllib

    return tomllib.loads(f"""
{top}
[[teams]]
name = "wg"
matrix_room = "!r:hs.org"
irc_channels = ["#wg"]
{team_extra}
""")


def test_relay_settings_have_defaults_and_are_checked():
    cfg = parse_config(config())
    assert cfg.teams[0].section("relay") == RelaySettings(True, 4, False, ())
    cfg = parse_config(config('[teams.relay]\nmax_lines = 6\nzero_width_names = false\n'
                              'chair_hostmasks = ["*!*@fedora/contributor/trix"]'))
    settings = cfg.teams[0].section("relay")
    assert settings.max_lines == 6 and not settings.zero_width_names
    assert settings.chairs_by_hostmask("Trix!~t@Fedora/Contributor/trix")
    assert not settings.chairs_by_hostmask("trix!~t@evil.example")
    with pytest.raises(ConfigError) as err:
        parse_config(config('[teams.relay]\nmax_lines = 0\nchair_hostmasks = ["trix!*@*", "trix"]\nfoo = 1'))
    text = str(err.value)
    assert "max_lines" in text and "matches any host" in text and "not a hostmask" in text and "foo" in text


def test_relaying_an_irc_bridge_portal_again_is_refused_as_double_bridging():
    data = config()
    data["teams"][0]["matrix_room"] = "#fedora-ai-ml:libera.chat"
    data["irc"] = {"host": "irc.libera.chat"}
    with pytest.raises(ConfigError, match="double bridging"):
        parse_config(data)
    data = config()
    data["irc"] = {"host": "irc.libera.chat"}
    data["matrix"] = {"homeserver": "https://hs.org", "user_id": "@libera_sigbot:libera.chat", "password_env": "X"}
    with pytest.raises(ConfigError, match="puppet"):
        parse_config(data)



# --- the bridge, between two recorders standing in for the networks ---------------------

from dataclasses import dataclass, field  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

from bot.chat.irc import IrcEvent  # noqa: E402
from bot.core.message import DirectMessage, React, Reply  # noqa: E402
from bot.relay.bridge import Relay  # noqa: E402
from bot.relay.store import get_paste  # noqa: E402
from bot.runtime import Runtime  # noqa: E402

NOON = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
ROOM = "!wg:hs.org"


@dataclass
class IrcRecorder:
    nick: str = "sigbot"
    sent: list[tuple[str, str, bool, bool]] = field(default_factory=list)

    def send(self, target, text, action=False, notice=False):
        self.sent.append((target, text, action, notice))

    def text_budget(self, target, action=False):
        return 120 - (9 if action else 0)


@dataclass
class MatrixRecorder:
    on_own_event: list = field(default_factory=list)
    delivered: list = field(default_factory=list)
    posted: list = field(default_factory=list)

    def deliver(self, effects):
        self.delivered.extend(effects)

    def post(self, room, content):
        self.posted.append((room, content))

    def members(self, room):
        return {"Alice": "@alice:hs.org"}


def relay_for(tmp_path, relay_section: str = "") -> tuple[Relay, IrcRecorder, MatrixRecorder]:
    import tomllib

    from bot.app import build_dispatcher

    data = tomllib.loads(f"""
[bot]
data_dir = "{tmp_path}/var"
[web]
public_url = "https://sig.example.org"
[matrix]
homeserver = "https://hs.org"
user_id = "@sigbot:hs.org"
password_env = "X"
[irc]
host = "irc.test"
[[teams]]
name = "wg"
matrix_room = "{ROOM}"
irc_channels = ["#wg", "#wg-2"]
admins = ["irc:trix", "@trix:hs.org"]
{relay_section}
""")
    config = parse_config(data)
    rt = Runtime(config, build_dispatcher(config), now=lambda: NOON)
    irc, matrix = IrcRecorder(), MatrixRecorder()
    relay = Relay(rt, matrix, irc)
    rt.deliver = relay.deliver
    return relay, irc, matrix


def said(nick, text, kind="privmsg", account=None, host="gateway/x", target="#wg"):
    return IrcEvent(kind, nick, "~" + nick, host, account, target, text, NOON, {})


def matrix_event(text, sender="@alice:hs.org", event_id="$1", **content):
    return {"type": "m.room.message", "sender": sender, "event_id": event_id,
            "content": {"msgtype": "m.text", "body": text, **content}}


def matrix_says(relay, source, name):
    """A Matrix event on the one road in: read as the Matrix adapter reads it, handled by the dispatcher,
    its effects carried by the relay's outbox (the bot's own events only teach the relay who they stand for)."""
    if source["sender"] == relay.bot_user:
        relay.on_own_event(relay.config.teams[0], source)
        return
    msg = line_message(source, ROOM, name, "https://hs.org")
    relay.deliver(relay.rt.dispatcher.handle(msg))


def stored(relay):
    return list(relay.rt.store.db.query("SELECT network, sender, nick, account, text, privileged FROM lines"))


def test_an_irc_line_goes_to_matrix_and_to_the_dispatcher_once(tmp_path):
    relay, irc, matrix = relay_for(tmp_path)
    relay.on_irc_event(said("bob", "hello \x02Alice\x02"))
    [(room, content)] = matrix.posted
    assert room == ROOM and content["body"] == "<bob> hello Alice"
    assert content["m.mentions"] == {"user_ids": ["@alice:hs.org"]}
    assert stored(relay) == [{"network": "irc", "sender": "bob!~bob@gateway/x", "nick": "bob", "account": None,
                              "text": "hello Alice", "privileged": 0}]
    assert irc.sent == []


def test_the_bots_own_irc_lines_are_never_relayed_or_read(tmp_path):
    relay, irc, matrix = relay_for(tmp_path)
    relay.on_irc_event(said("SigBot", "#startmeeting echo"))
    assert matrix.posted == [] and stored(relay) == [] and irc.sent == []


def test_a_nick_alone_gives_no_rights_but_an_account_or_a_hostmask_does(tmp_path):
    relay, _, _ = relay_for(tmp_path, '[teams.relay]\nchair_hostmasks = ["*!*@fedora/contributor/jsteffan"]')
    relay.on_irc_event(said("trix", "spoofed"))
    relay.on_irc_event(said("trix", "real", account="trix"))
    relay.on_irc_event(said("js", "by mask", host="fedora/contributor/jsteffan"))
    assert [(r["sender"], r["privileged"]) for r in stored(relay)] == [
        ("trix!~trix@gateway/x", 0), ("irc:trix", 1), ("js!~js@fedora/contributor/jsteffan", 1)]


def test_an_answer_to_the_team_goes_to_matrix_and_each_channel_once(tmp_path):
    relay, irc, matrix = relay_for(tmp_path)
    relay.deliver([Reply(ROOM, "Meeting **started**"), React(ROOM, "$ev"), React(ROOM, "irc:msgid")])
    assert matrix.delivered == [Reply(ROOM, "Meeting **started**"), React(ROOM, "$ev")]
    assert irc.sent == [
        ("#wg", "Meeting \x02started\x02", False, True),
        ("#wg-2", "Meeting \x02started\x02", False, True),
    ]


def test_a_command_said_on_irc_is_answered_on_both_networks(tmp_path):
    relay, irc, matrix = relay_for(tmp_path)
    relay.on_irc_event(said("bob", "#startmeeting from IRC"))
    assert any(isinstance(e, Reply) and "started" in e.text for e in matrix.delivered)
    assert [t for t, text, *_ in irc.sent if "started" in text] == ["#wg", "#wg-2"]


def test_a_command_said_on_irc_is_acknowledged_on_its_matrix_copy_and_irc_stays_quiet(tmp_path):
    relay, irc, matrix = relay_for(tmp_path)
    team = relay.config.teams[0]
    relay.on_irc_event(said("trix", "#startmeeting", account="trix"))
    irc.sent.clear()
    matrix.posted.clear()
    relay.on_irc_event(said("bob", "#info the relay acknowledges this"))
    [(room, copy)] = matrix.posted
    assert room == ROOM and copy["body"] == "<bob> #info the relay acknowledges this"
    assert irc.sent == [] and not [e for e in matrix.delivered if isinstance(e, React)]
    relay.on_own_event(team, {"event_id": "$copy", "sender": "@sigbot:hs.org", "content": copy})
    assert [e for e in matrix.delivered if isinstance(e, React)] == [React(ROOM, "$copy", "✅")]
    relay.on_own_event(team, {"event_id": "$copy", "sender": "@sigbot:hs.org", "content": copy})  # seen again
    assert len([e for e in matrix.delivered if isinstance(e, React)]) == 1
    matrix.posted.clear()
    relay.on_irc_event(said("bob", "just talk"))
    assert "org.sigbot.relay.ack" not in matrix.posted[0][1]  # only acknowledged lines carry the mark


def test_a_direct_message_to_an_irc_account_goes_to_its_nick_when_known(tmp_path, caplog):
    relay, irc, _ = relay_for(tmp_path)
    relay.deliver([DirectMessage("irc:trix", "your loan is ready")])
    assert irc.sent == [] and "no nick is logged in" in caplog.text
    relay.on_irc_event(said("trix_", "hi", account="trix", target="#elsewhere"))
    relay.deliver([DirectMessage("irc:trix", "your loan is ready")])
    assert irc.sent == [("trix_", "your loan is ready", False, True)]


def test_matrix_lines_reach_irc_with_the_name_prefix_replies_and_edits(tmp_path):
    relay, irc, _ = relay_for(tmp_path, "[teams.relay]\nzero_width_names = false")
    matrix_says(relay, matrix_event("hi all"), "Alice")
    matrix_says(relay, {"type": "m.room.message", "sender": "@sigbot:hs.org", "event_id": "$2",
                                 "content": {"msgtype": "m.text", "body": "<bob> yo",
                                             "com.beeper.per_message_profile": {"displayname": "bob"}}}, "sigbot")
    matrix_says(relay, matrix_event("> <@bob> yo\n\nsure", event_id="$3",
                                             **{"m.relates_to": {"m.in_reply_to": {"event_id": "$2"}}}), "Alice")
    matrix_says(relay, matrix_event("* hi all", event_id="$4", **{
        "m.new_content": {"msgtype": "m.text", "body": "hi all"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": "$1"}}), "Alice")
    matrix_says(relay, matrix_event("* hi y'all", event_id="$5", **{
        "m.new_content": {"msgtype": "m.text", "body": "hi y'all"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": "$1"}}), "Alice")
    matrix_says(relay, matrix_event("waves", event_id="$6", msgtype="m.emote"), "Alice")
    on_wg = [(text, action) for target, text, action, _ in irc.sent if target == "#wg"]
    assert on_wg == [("<Alice> hi all", False), ("<Alice> bob: sure", False), ("<Alice> * all → y'all", False),
                     ("Alice waves", True)]


def test_an_edit_names_the_words_it_changed_or_gives_the_whole_line_when_most_changed():
    assert edit_line("the build is broken on gfx90a", "the build is fixed on gfx90a") == "* broken → fixed"
    assert edit_line("the build is broken", "the build is really broken") == "* is → is really"
    assert edit_line("a b c d", "b c d") == "* a b → b"
    assert edit_line("hello there", "hello, corrected") == "* hello, corrected"
    assert edit_line("helo", "hello") == "* hello"
    assert edit_line("one two three four", "ONE two three FOUR") == "* ONE two three FOUR"  # two places
    assert edit_line(None, "not seen before") == "* not seen before"


def test_the_bots_answers_of_up_to_8_lines_reach_irc_whole_and_the_agenda_always(tmp_path):
    relay, irc, _ = relay_for(tmp_path)
    eight = "\n".join(f"answer {i}" for i in range(8))
    relay.deliver([Reply(ROOM, eight)])
    assert [text for target, text, *_ in irc.sent if target == "#wg"] == eight.split("\n")
    irc.sent.clear()
    relay.deliver([Reply(ROOM, eight + "\nanswer 8")])
    on_wg = [text for target, text, *_ in irc.sent if target == "#wg"]
    assert len(on_wg) == 8 and on_wg[-1].startswith("… (9 lines in all: https://sig.example.org/relay/paste/")
    irc.sent.clear()
    agenda = "\n".join(f"{i}. item (bob)" for i in range(1, 23))
    relay.deliver([Reply(ROOM, agenda, whole=True)])
    assert [text for target, text, *_ in irc.sent if target == "#wg"] == agenda.split("\n")


def test_the_agenda_announced_at_startmeeting_is_marked_whole(tmp_path):
    from bot.agenda.hooks import meeting_started
    from bot.agenda.store import AgendaStore

    relay, _, _ = relay_for(tmp_path)
    db = relay.rt.store.db
    for i in range(12):
        AgendaStore(db).add_item("wg", f"item {i}", "bob", "@bob:hs.org", NOON)
    [announced] = meeting_started(db, "wg", 1, ROOM)
    assert announced.whole and "item 11" in announced.text


def test_a_long_matrix_message_is_cut_to_a_paste_link(tmp_path):
    relay, irc, _ = relay_for(tmp_path)
    text = "\n".join(f"line {i}" for i in range(9))
    matrix_says(relay, matrix_event(text), "Alice")
    on_wg = [text for target, text, *_ in irc.sent if target == "#wg"]
    assert len(on_wg) == 4 and on_wg[-1].startswith("<A\u200blice> … (9 lines in all: https://sig.example.org/relay/paste/")
    paste_id = on_wg[-1].rsplit("/", 1)[1].rstrip(")")
    assert get_paste(relay.rt.store.db, paste_id).text == text
    assert on_wg[-1] == [t for target, t, *_ in irc.sent if target == "#wg-2"][-1]  # one paste for both channels


def test_a_private_message_to_the_bot_is_answered_privately(tmp_path):
    relay, irc, matrix = relay_for(tmp_path)
    relay.on_irc_event(said("bob", "!help startmeeting", target="sigbot"))
    assert irc.sent and all(target == "bob" and notice for target, _, _, notice in irc.sent)
    assert "startmeeting" in irc.sent[0][1] and matrix.posted == [] and matrix.delivered == []


def test_joins_and_parts_reach_matrix_only_when_asked(tmp_path):
    relay, _, matrix = relay_for(tmp_path)
    relay.on_irc_event(said("bob", "", kind="join"))
    assert matrix.posted == []
    relay, _, matrix = relay_for(tmp_path / "2", "[teams.relay]\nrelay_joins = true")
    relay.on_irc_event(said("bob", "", kind="join"))
    relay.on_irc_event(said("bob", "bye", kind="quit"))
    assert [c["body"] for _, c in matrix.posted] == ["bob joined #wg", "bob quit IRC (bye)"]


# --- what reaches the wire: control characters from Matrix never act on IRC ----------------

from bot.chat.irc import WORST_HOST, IrcConnection  # noqa: E402
from bot.chat.irc_proto import LINE_LIMIT, build_line  # noqa: E402
from bot.config import IrcSettings  # noqa: E402

CTCP = "\x01"


def wired(relay) -> tuple[Relay, IrcConnection]:
    """The relay with a real IrcConnection (never connected) in place of the recorder."""
    relay.irc = IrcConnection(IrcSettings(host="irc.test", nick="sigbot"), ["#wg", "#wg-2"], "bot", lambda e: None)
    return relay, relay.irc


def wire(irc: IrcConnection) -> list[bytes]:
    """The bytes the connection would write for what is queued, as its send loop builds them
    (IrcConnection._send_loop: `_pieces`, then `build_line`), CR LF included; the queue is emptied."""
    lines = [build_line(command, target, piece) + b"\r\n" for command, target, text, action in irc._queue
             for piece in irc._pieces(target, text, action)]
    irc._queue.clear()
    return lines


def test_an_emote_holding_a_ctcp_byte_stays_one_action_with_only_our_framing(tmp_path):
    relay, irc = wired(relay_for(tmp_path, "[teams.relay]\nzero_width_names = false")[0])
    matrix_says(relay, matrix_event("waves\x01 \x01VERSION\x01", msgtype="m.emote"), "Alice")
    assert wire(irc) == [b"PRIVMSG #wg :\x01ACTION Alice waves VERSION\x01\r\n",
                         b"PRIVMSG #wg-2 :\x01ACTION Alice waves VERSION\x01\r\n"]


def test_a_line_holding_crlf_and_a_command_cannot_start_a_line_of_its_own(tmp_path):
    relay, irc = wired(relay_for(tmp_path, "[teams.relay]\nzero_width_names = false")[0])
    matrix_says(relay, matrix_event("hi\r\nPRIVMSG NickServ :IDENTIFY pw\rQUIT"), "Alice")
    assert wire(irc)[:3] == [b"PRIVMSG #wg :<Alice> hi\r\n", b"PRIVMSG #wg :<Alice> PRIVMSG NickServ :IDENTIFY pw\r\n",
                             b"PRIVMSG #wg :<Alice> QUIT\r\n"]


def test_nul_bell_colours_and_lone_surrogates_are_dropped_and_our_formatting_kept(tmp_path):
    relay, irc = wired(relay_for(tmp_path, "[teams.relay]\nzero_width_names = false")[0])
    html = "<b>bold</b> a\x00b\x07 \x0304red\x03 \ud800x\x9b"
    matrix_says(relay, matrix_event(
        "x", format="org.matrix.custom.html", formatted_body=html), "Al\x01ice\x00")
    assert wire(irc)[0] == b"PRIVMSG #wg :<Alice> \x02bold\x02 ab 04red x\r\n"


def test_the_bots_own_answers_cannot_carry_a_ctcp_either(tmp_path):
    relay, irc = wired(relay_for(tmp_path)[0])
    relay.deliver([Reply(ROOM, "no such command: \x01PING 1\x01"), DirectMessage("irc:trix", "x")])
    assert wire(irc) == [b"NOTICE #wg :no such command: PING 1\r\n", b"NOTICE #wg-2 :no such command: PING 1\r\n"]


_TAGS = ["<b>", "</b>", "<em>", "</em>", "<p>", "</p>", "<br>", "<pre>", "</pre>", "<code>", "</code>", "<ol>",
         "<li>", "</ol>", "<blockquote>", "</blockquote>", "<mx-reply>", "</mx-reply>", '<a href="https://x.org/\x01">',
         '<a href="\r\nQUIT">', "</a>", "&#1;", "&#13;&#10;", "&#0;", "&#x1f;"]
_ANY_CHAR = st.characters(blacklist_categories=("Cs",))  # every code point; a lone surrogate is tested above
_TRAPS = st.sampled_from(["\x01", "\x01ACTION ", "\r\n", "\r", "\n", "\0", "PRIVMSG #wg :", "\x03", "\x02", " ",
                          "é", "🏳️‍🌈", "\u202e", "x" * 300])
_TEXT = st.lists(st.one_of(st.text(_ANY_CHAR, max_size=40), _TRAPS), max_size=30).map("".join)
_HTML = st.lists(st.one_of(st.sampled_from(_TAGS), _TEXT), max_size=12).map("".join)


@settings(max_examples=150, deadline=None)
@given(body=_TEXT, html=st.none() | _HTML, msgtype=st.sampled_from(["m.text", "m.emote", "m.notice"]),
       name=st.text(_ANY_CHAR, min_size=1, max_size=40) | _TRAPS)
def test_any_matrix_message_gives_irc_lines_that_fit_stay_single_and_carry_only_our_ctcp(
        relay_and_irc, body, html, msgtype, name):
    relay, irc = relay_and_irc
    content = {"msgtype": msgtype, "body": body}
    if html is not None:
        content |= {"format": "org.matrix.custom.html", "formatted_body": html}
    matrix_says(relay, {"type": "m.room.message", "sender": "@alice:hs.org",
                                                  "event_id": "$fuzz", "content": content}, name)
    assert_fits_and_carries_only_our_ctcp(irc, action=msgtype == "m.emote")


def assert_fits_and_carries_only_our_ctcp(irc: IrcConnection, action: bool) -> None:
    relayed_prefix = len(f":{irc.nick}!~{irc.settings.username}@{'x' * WORST_HOST} ".encode())
    for line in wire(irc):
        assert line.endswith(b"\r\n") and len(line) <= LINE_LIMIT and relayed_prefix + len(line) <= LINE_LIMIT
        inside = line[:-2]
        assert b"\r" not in inside and b"\n" not in inside and b"\0" not in inside
        head, _, text = inside.decode("utf-8").partition(" :")
        if action:
            assert head.startswith("PRIVMSG ") and text.startswith(CTCP + "ACTION ") and text.endswith(CTCP)
            text = text[len(CTCP + "ACTION "):-1]
        assert CTCP not in text


@settings(max_examples=60, deadline=None)
@given(markdown=_TEXT)
def test_any_answer_of_the_bot_gives_irc_lines_that_fit_stay_single_and_carry_no_ctcp(relay_and_irc, markdown):
    relay, irc = relay_and_irc
    relay.deliver([Reply(ROOM, markdown)])
    assert_fits_and_carries_only_our_ctcp(irc, action=False)


@pytest.fixture(scope="module")
def relay_and_irc(tmp_path_factory):
    """One relay for every example (a database per example would be slow); each example empties the queue."""
    relay, irc = wired(relay_for(tmp_path_factory.mktemp("fuzz"))[0])
    irc.queue_limit = 10**6
    return relay, irc


@pytest.mark.ircd
def test_through_a_real_ircd_an_emote_with_ctcp_bytes_is_one_action_and_crlf_starts_no_command(ircd, tmp_path):
    import asyncio

    from servers.irc_client import IrcClient

    relay = relay_for(tmp_path, "[teams.relay]\nzero_width_names = false")[0]
    settings_ = IrcSettings(host=ircd.host, port=ircd.port, tls=False, nick="ctcpbot", username="ctcpbot",
                            burst=20, line_interval=0.05)

    async def scenario() -> list:
        alice = IrcClient(ircd.host, ircd.port)
        await alice.connect("alice_ctcp")
        await alice.join("#wg")
        relay.irc = IrcConnection(settings_, ["#wg", "#wg-2"], "bot", lambda e: None)
        stop = asyncio.Event()
        task = asyncio.create_task(relay.irc.run(stop))
        try:
            await alice.expect(lambda m: m.command == "JOIN" and m.nick == "ctcpbot")
            matrix_says(relay, matrix_event("waves\x01 \x01VERSION\x01", msgtype="m.emote"), "Alice")
            matrix_says(relay, matrix_event("hi\r\nQUIT :pwned\x00\rPRIVMSG #wg :\x01PING 1\x01", event_id="$2"),
                        "Alice")
            matrix_says(relay, matrix_event("last", event_id="$3"), "Alice")
            await alice.wait_for_privmsg("#wg", "ctcpbot", "last")
            return [m for m in alice.history if m.nick == "ctcpbot" and m.command != "JOIN"]
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
            await alice.quit()

    seen = asyncio.run(asyncio.wait_for(scenario(), 120))
    assert [(m.command, m.params_raw[-1]) for m in seen] == [
        ("PRIVMSG", b"\x01ACTION Alice waves VERSION\x01"), ("PRIVMSG", b"<Alice> hi"),
        ("PRIVMSG", b"<Alice> QUIT :pwned"), ("PRIVMSG", b"<Alice> PRIVMSG #wg :PING 1"), ("PRIVMSG", b"<Alice> last")]


def test_an_encrypted_room_is_not_relayed_to_irc_unless_the_team_allows_it(tmp_path):
    relay, irc, matrix = relay_for(tmp_path)
    for n, text in enumerate(("our secret plans", "more of them"), 1):
        msg = line_message(matrix_event(text, event_id=f"$e{n}"), ROOM, "Alice", "https://hs.org", encrypted=True)
        relay.deliver(relay.rt.dispatcher.handle(msg))
    assert irc.sent == []
    notices = [e for e in matrix.delivered if isinstance(e, Reply) and "end-to-end encrypted" in e.text]
    assert len(notices) == 1 and "#wg, #wg-2" in notices[0].text  # said once, naming the channels
    relay.on_irc_event(said("bob", "hello from IRC"))  # IRC is public anyway: it still reaches the room
    assert [c["body"] for _, c in matrix.posted] == ["<bob> hello from IRC"]

    relay, irc, _ = relay_for(tmp_path / "2", "[teams.relay]\nallow_encrypted = true\nzero_width_names = false")
    msg = line_message(matrix_event("agreed to relay"), ROOM, "Alice", "https://hs.org", encrypted=True)
    relay.deliver(relay.rt.dispatcher.handle(msg))
    assert [text for target, text, *_ in irc.sent if target == "#wg"] == ["<Alice> agreed to relay"]


def test_a_coloured_matrix_line_reaches_irc_in_colour_and_typed_codes_do_not(tmp_path):
    relay, irc, _ = relay_for(tmp_path, "[teams.relay]\nzero_width_names = false")
    matrix_says(relay, matrix_event("red alert", format="org.matrix.custom.html",
                                    formatted_body='<font data-mx-color="#ff0000">red</font> alert'), "Alice")
    matrix_says(relay, matrix_event("\x0304not red", event_id="$2"), "Alice")
    on_wg = [text for target, text, *_ in irc.sent if target == "#wg"]
    assert on_wg == ["<Alice> \x0304red\x03 alert", "<Alice> 04not red"]
