"""bot/chat/reply_markdown.py renders replies as markdown-it-py does, without markdown-it-py (issue 14).

markdown-it-py (commonmark, breaks, tables) is the oracle, installed with the
project for the minutes and the site. Three attacks on "byte for byte":
- replies built as sigbot builds them (sentences, **names**, `commands`,
  lists, tables), with whatever a person said put in through md_escape;
- any text at all over Markdown's busiest characters, wherever markdown-it
  reads none of what the module documents as shown as typed (tests/reply_oracle.py:
  rules, headings, code blocks, quotes, lists in lists, links in brackets);
- every reply the suite's own commands produce: conftest.py keeps the text
  of every Reply and DirectMessage made in the test process and compares
  them all when the session ends, so a new reply that leaves the subset
  fails `make test` (unless it is a person's own text that does).
And a reply must stay cheap however hostile what it quotes: long runs of
delimiters, backticks and list lines render in linear time.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reply_oracle import ORACLE, outside

from bot.chat.reply_markdown import reply_html
from bot.meeting.render import md_escape

# Anything a person types; a command's words arrive stripped (Registry.parse, bot/core/commands.py), so here too.
said = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
word = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9.,:;()/'#@!?-]{0,12}", fullmatch=True)
token = st.text("ABCXYZabcxyz0189_-", min_size=1, max_size=43)  # what secrets.token_urlsafe gives
link = token.map(lambda t: f"<https://sig.example.org/loans/address/1/{t}>")  # the address form's link
quoted = said.map(lambda s: md_escape(s).strip()).filter(bool)  # (no reply has an empty list item)
inline = st.lists(st.one_of(word, quoted, word.map(lambda w: f"**{w}**"), link,
                            st.from_regex(r"![a-z]{2,8}( [A-Z]{1,6})?", fullmatch=True).map(lambda c: f"`{c}`")),
                  min_size=1, max_size=6).map(" ".join)
paragraph = st.lists(inline, min_size=1, max_size=3).map("\n".join)
bullets = st.lists(inline, min_size=1, max_size=4).map(lambda items: "\n".join(f"- {i}" for i in items))
numbered = st.tuples(st.integers(1, 12), st.lists(inline, min_size=1, max_size=4)).map(
    lambda n: "\n".join(f"{n[0] + k}. {i}" for k, i in enumerate(n[1])))
cell = st.one_of(word, said.map(lambda s: md_escape(s).strip()), word.map(lambda w: f"**{w}**"))
table = st.tuples(st.integers(1, 4), st.lists(st.lists(cell, min_size=4, max_size=4), min_size=1, max_size=4),
                  st.sampled_from(["---", ":--", "--:", ":-:"])).map(
    lambda t: "\n".join([" | ".join(["| name"] * t[0]) + " |", "|" + f"{t[2]}|" * t[0],
                         *("| " + " | ".join(row[:t[0]]) + " |" for row in t[1])]))
reply = st.lists(st.one_of(paragraph, bullets, numbered, table), min_size=1, max_size=4).flatmap(
    lambda blocks: st.sampled_from(["\n", "\n\n"]).map(lambda sep: sep.join(blocks)))


@given(reply)
@settings(max_examples=400)
def test_replies_as_sigbot_writes_them_render_as_markdown_it_renders_them(text: str) -> None:
    # What a person said may still hold something replies do not use (a lone "=" under a line makes
    # markdown-it a heading): the renderer shows that as typed; all the rest is markdown-it's HTML.
    assert reply_html(text) == ORACLE.render(text) or outside(text) is not None


busy = st.lists(st.sampled_from(list("ab c*_`\\|:.!(\"é\t<>@") + [
    "\n", "\n\n", "\n- ", "\n1. ", "\n2. ", "**", "  ", "\n  ", "\n| a | b |\n|---|:-:|\n", "\u3000", "http://",
    "https://é.org/", "mailto:", "javascript:", "%41", "xn--mnchen-3ya"]), max_size=40).map("".join)


@given(busy)
@settings(max_examples=1500)
def test_any_text_renders_as_markdown_it_renders_it_within_the_subset(text: str) -> None:
    if outside(text) is None:
        assert reply_html(text) == ORACLE.render(text)


def test_a_link_a_person_typed_never_becomes_a_link_in_the_bots_reply() -> None:
    """Replies repeat what people typed ("Topic: ..."); markdown-it made their [text](url) a link in the bot's
    own message (found by the suite's check of every reply). Shown as typed, it points nowhere."""
    for typed in ("[x](https://evil.example)", "![i](https://evil.example/p.png)", "[x]\n\n[x]: https://evil.example"):
        html = reply_html(f"Topic: {typed}")
        assert "<a " not in html and "<img" not in html and "evil.example" in html
        assert outside(f"Topic: {typed}") is not None  # markdown-it would have made it markup


def test_what_is_outside_the_subset_is_shown_as_typed_and_never_as_html() -> None:
    assert reply_html("[a](https://x) &amp; # t") == "<p>[a](https://x) &amp;amp; # t</p>\n"
    assert reply_html("<javascript:alert(1)>") == "<p>&lt;javascript:alert(1)&gt;</p>\n"  # never a link
    assert reply_html("<script>alert(1)</script>") == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"
    assert reply_html("a\n---") == "<p>a<br />\n---</p>\n"  # no heading made of a line
    assert reply_html('say "hi" & go') == "<p>say &quot;hi&quot; &amp; go</p>\n"


@pytest.mark.parametrize("hostile", ["*a " * 30000, "_a_ " * 20000, "`a " * 30000, "``a`" * 20000, "- a\n" * 20000,
                                     "| a |\n|---|\n" + "| x |\n" * 20000, "*a" * 30000 + "a*" * 30000])
def test_hostile_replies_render_in_linear_time(hostile: str) -> None:
    """A reply may quote a long message; no run of delimiters or backticks makes it quadratic."""
    start = time.perf_counter()
    html = reply_html(hostile)
    assert time.perf_counter() - start < 2.0  # linear: ~0.1 s here; quadratic would be minutes
    assert html == ORACLE.render(hostile)
