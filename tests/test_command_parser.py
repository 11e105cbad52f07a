"""The command parser and registry: never raises, only known words, help from declarations."""

import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from meeting_talk import Talk

from bot.core.commands import Registry, Role, Scope
from bot.meeting.paths import contained, slugify
from bot.registry import build_registry

REGISTRY = build_registry()


@settings(max_examples=500)
@given(st.text())
def test_parsing_any_text_never_raises(text):
    call = REGISTRY.parse(text)
    assert call is None or REGISTRY.lookup(call.word) is call.command


@settings(max_examples=300)
@given(st.sampled_from(["#", "!"]), st.sampled_from([w for c in REGISTRY for w in c.words]), st.text())
def test_every_command_word_is_recognised_with_either_prefix(prefix, word, rest):
    rest = rest.replace("\n", " ").replace("\r", " ")
    call = REGISTRY.parse(f"{prefix}{word} {rest}")
    assert call is not None and call.word == word and call.args == rest.strip()


@settings(max_examples=200)
@given(st.lists(st.text(max_size=80), max_size=30))
def test_a_meeting_fed_any_lines_never_raises(lines):
    talk = Talk()
    talk.say("alice", "#startmeeting fuzz")
    for i, text in enumerate(lines):
        talk.say(["alice", "bob", "carol"][i % 3], text)
    talk.minutes()


def test_every_example_of_every_command_runs_in_a_meeting():
    for cmd in REGISTRY:
        for example in cmd.examples:
            talk = Talk()
            talk.say("alice", "#startmeeting examples")
            talk.say("alice", example, privileged=True)
            assert talk.state is not None, example


def test_every_command_has_help_and_the_readme_table_lists_it():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for cmd in REGISTRY:
        assert cmd.summary and cmd.examples, cmd.name
        assert REGISTRY.describe(cmd.name).startswith("!" + cmd.usage)
        assert f"`!{cmd.usage}`" in readme, f"README's command table lacks {cmd.name}: run sigbot help --markdown"


def test_a_word_declared_twice_is_refused():
    reg = Registry()
    reg.command("x", role=Role.ANYONE, scope=Scope.ROOM, summary="x")(lambda *a: [])
    try:
        reg.command("y", role=Role.ANYONE, scope=Scope.ROOM, summary="y", aliases=("x",))(lambda *a: [])
    except ValueError as exc:
        assert "twice" in str(exc)
    else:
        raise AssertionError("a duplicate word was accepted")


@settings(max_examples=500)
@given(st.text())
def test_slugs_are_short_safe_ascii(text):
    slug = slugify(text)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug) and len(slug) <= 60


def test_no_name_can_leave_the_notes_folder(tmp_path: Path):
    for evil in ("../../etc/passwd", "/etc/passwd", "a/../../b"):
        try:
            contained(tmp_path, evil)
        except ValueError:
            continue
        raise AssertionError(f"{evil} escaped")
    assert contained(tmp_path, slugify("../../etc")).parent == tmp_path.resolve()
