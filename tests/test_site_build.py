"""The archive site built from real notes: pages, links, incremental builds, published files, safety."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest
from hypothesis import given
from hypothesis import strategies as st
from site_samples import publish_feature_files, replay_samples, simple_meeting, write_meeting

from bot.config import parse_config
from bot.site.build import MANIFEST, build_site
from bot.site.markup import MinutesRenderer, log_html, safe_link


@pytest.fixture
def notes(tmp_path) -> Path:
    notes = tmp_path / "notes"
    replay_samples(notes)
    return notes


def read(site: Path, rel: str) -> str:
    return (site / rel).read_text(encoding="utf-8")


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        for key in ("href", "src"):
            if a.get(key):
                self.links.append(a[key])


class _Active(HTMLParser):
    """Tags and attributes that could run code or load from elsewhere (text that merely shows them is fine)."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("img", "svg", "iframe", "object", "embed", "style", "base", "form") and tag != "form":
            self.found.append(f"<{tag}>")
        if tag == "script" and not re.match(r"^(\.\./)*static/[a-z]+\.js$", a.get("src") or ""):
            self.found.append(f"<script {a}>")
        for name, value in attrs:
            if name.startswith("on") or name in ("style", "srcdoc", "formaction"):
                self.found.append(f"{tag} {name}")
            if name in ("href", "src", "action") and not safe_link(value or ""):
                self.found.append(f"{tag} {name}={value}")
            if name in ("href", "src") and (value or "").startswith("//"):
                self.found.append(f"{tag} {name}={value}")


def active(html: str) -> list[str]:
    parser = _Active()
    parser.feed(html)
    return parser.found


def crawl(site: Path) -> list[str]:
    """Every internal link of every page, followed: the missing files and missing #anchors."""
    broken = []
    parsed: dict[Path, _Links] = {}

    def page(path: Path) -> _Links:
        if path not in parsed:
            parser = _Links()
            parser.feed(path.read_text(encoding="utf-8"))
            parsed[path] = parser
        return parsed[path]

    for html in site.rglob("*.html"):
        for link in page(html).links:
            if urlparse(link).scheme or link.startswith("//"):
                continue
            target_rel, fragment = urldefrag(link)
            target = (html.parent / unquote(urlparse(target_rel).path)).resolve() if target_rel else html
            if not target.is_file():
                broken.append(f"{html.relative_to(site)} -> {link}")
            elif fragment and target.suffix == ".html" and fragment not in page(target).ids:
                broken.append(f"{html.relative_to(site)} -> {link} (no #{fragment})")
    return broken


def test_every_internal_link_of_the_built_site_resolves(notes, tmp_path):
    publish_feature_files(notes / "ai-ml")
    simple_meeting(notes, "rocm", date(2024, 5, 2))
    site = tmp_path / "site"
    build_site(notes, site)
    assert crawl(site) == []
    assert len(list(site.rglob("*.html"))) > 8


def test_a_meeting_page_links_every_item_of_the_minutes_to_its_log_line(notes, tmp_path):
    site = tmp_path / "site"
    build_site(notes, site)
    page = read(site, "ai-ml/2023/2023-07-31-1500-fedora-ai-ml-sig.html")
    record = json.loads(read(site, "ai-ml/2023/2023-07-31-1500-fedora-ai-ml-sig.json"))
    log_lines = read(site, "ai-ml/2023/2023-07-31-1500-fedora-ai-ml-sig.log.txt").splitlines()
    anchors = set(re.findall(r'<li id="l-(\d+)">', page))
    assert anchors == {str(n) for n in range(1, len(log_lines) + 1)}
    for topic in record["topics"]:
        for item in topic["items"]:
            assert f'href="#l-{item["line"]}"' in page
            assert item["text"].split()[-1] in log_lines[item["line"] - 1]
    for action in record["actions"]:  # the summary list links too, not only the topic's items
        assert re.search(re.escape(action["text"]) + r' <span class="by"><a href="#l-' + str(action["line"]), page), (
            action
        )
    for ext in (".md", ".log.txt", ".json"):
        assert f'href="2023-07-31-1500-fedora-ai-ml-sig{ext}"' in page
        assert (site / f"ai-ml/2023/2023-07-31-1500-fedora-ai-ml-sig{ext}").is_file()


def test_team_page_lists_meetings_by_year_with_counts_and_the_feed_has_them(notes, tmp_path):
    site = tmp_path / "site"
    build_site(notes, site)
    team = read(site, "ai-ml/index.html")
    assert team.index('id="y2023"') < team.index('id="y2021"')
    row = re.search(r'2023-07-31-1500-fedora-ai-ml-sig.html">Fedora AI/ML SIG</a>.*?</tr>', team, re.S).group(0)
    assert re.findall(r'<td class="num">(\d+)</td>', row) == ["2", "4"]  # decisions, actions
    feed = read(site, "ai-ml/atom.xml")
    assert feed.count("<entry>") == 2 and "Fedora AI/ML SIG (2023-07-31)" in feed
    assert "calendar.ics" not in team and "loans.html" not in team  # nothing published: nothing shown


def test_published_feature_files_become_pages_without_private_fields(notes, tmp_path):
    publish_feature_files(notes / "ai-ml")
    site = tmp_path / "site"
    build_site(notes, site)
    team = read(site, "ai-ml/index.html")
    assert 'href="calendar.ics"' in team and (site / "ai-ml/calendar.ics").is_file()
    assert '<time datetime="2030-01-08T15:00:00Z" data-local>2030-01-08 15:00 UTC</time>' in team
    assert "FOSDEM" in team
    assert 'href="2023/2023-07-31-1500-fedora-ai-ml-sig.html">2023-07-31</a>' in team  # open action -> minutes
    home = read(site, "index.html")
    assert "2030-01-08 15:00 UTC" in home and "FOSDEM" not in home  # only the next meeting that takes place
    loans = read(site, "ai-ml/loans.html")
    farm = read(site, "ai-ml/farm.html")
    assert "Radeon PRO W7900" in loans and "Tom R." in loans
    assert "NVIDIA H100 80GB HBM3" in farm and "test_conv2d" in farm and 'src="farm/gpu-util.svg"' in farm
    everything = "".join(p.read_text(errors="replace") for p in site.rglob("*") if p.is_file())
    assert "PRIVATE" not in everything
    assert "passwd" not in farm and not (site / "etc").exists()


def test_broken_or_missing_published_files_render_nothing_and_do_not_stop_the_build(notes, tmp_path):
    team = notes / "ai-ml"
    (team / "schedule.json").write_text("{not json")
    (team / "actions.json").write_text(json.dumps({"open": "not a list"}))
    (team / "loans.json").write_text(json.dumps([1, 2, 3]))
    (team / "farm").mkdir()
    (team / "farm" / "status.json").write_text(json.dumps({"hosts": [{"host": None, "gpus": "x"}], "ci": [{}]}))
    site = tmp_path / "site"
    report = build_site(notes, site)
    assert report.meetings == 2
    assert "Next meetings" not in read(site, "ai-ml/index.html")
    assert "No hardware listed." in read(site, "ai-ml/loans.html")


def test_a_build_after_one_new_meeting_renders_only_what_it_changes(notes, tmp_path, monkeypatch):
    monkeypatch.setattr("bot.site.search.SEGMENT_SIZE", 2)  # 2021 + 2023-07, then the two of August
    site = tmp_path / "site"
    for day in (date(2023, 8, 14), date(2023, 8, 28)):
        simple_meeting(notes, "ai-ml", day)
    first = build_site(notes, site)
    assert build_site(notes, site).written == []  # nothing changed, nothing written
    simple_meeting(notes, "ai-ml", date(2023, 9, 11))
    again = build_site(notes, site)
    new = "ai-ml/2023/2023-09-11-1500-weekly-sync"
    written = set(again.written)
    assert {f"{new}.html", f"{new}.md", f"{new}.log.txt", f"{new}.json"} <= written
    assert "ai-ml/2023/2023-08-28-1500-weekly-sync.html" in written  # its "next" link
    assert {"ai-ml/index.html", "ai-ml/atom.xml", "index.html", "search/s0002/docs.json"} <= written
    assert "ai-ml/2023/2023-08-14-1500-weekly-sync.html" not in written
    assert not any(w.startswith(("search/s0000/", "search/s0001/")) for w in written)
    assert {w for w in written if not w.startswith("search/")} == {
        f"{new}.html", f"{new}.md", f"{new}.log.txt", f"{new}.json", "ai-ml/2023/2023-08-28-1500-weekly-sync.html",
        "ai-ml/index.html", "ai-ml/atom.xml", "index.html",
        "ai-ml/latest/weekly-sync.html", "calendar.html", "channels.html"}  # the series' latest, the indexes
    assert len(written) < len(first.written)
    assert crawl(site) == []


def test_a_removed_meeting_disappears_from_the_site(notes, tmp_path):
    site = tmp_path / "site"
    md = simple_meeting(notes, "ai-ml", date(2024, 1, 4))
    build_site(notes, site)
    for ext in (".md", ".json", ".log.txt"):
        md.with_suffix("").with_suffix(ext).unlink(missing_ok=True)
    md.unlink(missing_ok=True)
    report = build_site(notes, site)
    assert "ai-ml/2024/2024-01-04-1500-weekly-sync.html" in report.removed
    assert not (site / "ai-ml/2024/2024-01-04-1500-weekly-sync.html").exists()
    assert "2024-01-04" not in read(site, "ai-ml/index.html")
    assert json.loads(read(site, MANIFEST))["pages"]


def test_the_search_index_finds_a_word_on_its_line(notes, tmp_path):
    site = tmp_path / "site"
    build_site(notes, site)
    index = json.loads(read(site, "search/index.json"))
    assert "ro" in index["segments"]["s0000"]
    shard = json.loads(read(site, "search/s0000/ro.json"))
    docs = json.loads(read(site, "search/s0000/docs.json"))
    doc, lines = shard["rocm"].split(";")[0].split(":")
    log = read(site, docs[int(doc)][4]).splitlines()
    assert all("rocm" in log[int(n) - 1].lower() for n in lines.split(","))
    assert docs[int(doc)][0] == "ai-ml/2023/2023-07-31-1500-fedora-ai-ml-sig.html"


def test_search_words_split_on_underscores_dashes_dots_and_slashes_and_long_ones_form_the_vocabulary():
    from bot.site.search import SearchDoc, build_segment, words

    assert words("fedora_iot_working_group see fedoraproject.org/wiki/ROCm-6.1 x") == {
        "fedora", "iot", "working", "group", "see", "fedoraproject", "org", "wiki", "rocm"}
    files = build_segment([SearchDoc("u.html", "fedora_iot_meeting", "t", "2024-01-01", "u.log.txt",
                                     "12:00:00 <bob> hipblas_rocm builds\n")])
    assert json.loads(files["fe.json"]) == {"fedora": "0:0"} and json.loads(files["hi.json"]) == {"hipblas": "0:1"}
    assert json.loads(files["words.json"]).split(" ") == ["builds", "fedora", "hipblas", "meeting", "rocm"]


def test_the_search_index_lists_each_segments_dates_and_never_a_vocabulary_as_a_shard(notes, tmp_path):
    site = tmp_path / "site"
    build_site(notes, site)
    index = json.loads(read(site, "search/index.json"))
    assert index["version"] == 2 and index["spans"] == {"s0000": ["2021-03-03", "2023-07-31"]}
    assert "words" not in index["segments"]["s0000"] and "docs" not in index["segments"]["s0000"]
    assert "acceleration" in json.loads(read(site, "search/s0000/words.json")).split(" ")


def test_folder_names_that_are_not_slugs_never_become_paths(tmp_path):
    notes = tmp_path / "notes"
    simple_meeting(notes, "wg", date(2024, 3, 1))
    (notes / "Evil Team").mkdir()
    (notes / "wg" / "2024" / "2024-03-01-1500-x.md.evil").write_text("x")
    (notes / "wg" / "2024" / "..2024-03-01-1500-y.md").write_text("x")
    site = tmp_path / "site"
    report = build_site(notes, site)
    assert sorted(p.name for p in site.iterdir() if p.is_dir()) == ["search", "static", "wg"]
    assert report.refused == []  # an empty folder is no team, and says nothing


def test_team_folders_with_underscores_are_published_and_unsafe_ones_refused_by_name(tmp_path):
    import shutil

    notes = tmp_path / "notes"
    simple_meeting(notes, "wg", date(2024, 3, 1))
    for name in ("fedora_ai_ml", "IoT_WG-2", "Evil Team", "search", "calendar.ics", "x\u202e\nlmth.exe"):
        shutil.copytree(notes / "wg", notes / name)
    site = tmp_path / "site"
    report = build_site(notes, site)
    assert sorted(p.name for p in site.iterdir() if p.is_dir()) == ["IoT_WG-2", "fedora_ai_ml", "search",
                                                                   "static", "wg"]
    assert (site / "fedora_ai_ml" / "2024" / "2024-03-01-1500-weekly-sync.html").is_file()
    assert 'href="fedora_ai_ml/index.html"' in read(site, "index.html")
    assert report.meetings == 3 and len(report.refused) == 4
    for name, line in zip(("Evil Team", "calendar.ics", "search", "x\u202e\nlmth.exe"), report.refused, strict=True):
        assert line.startswith(repr(str(notes / name))[:-1]) and "skipped 1 meeting(s)" in line, line
        assert "\n" not in line and "\u202e" not in line
    assert not (site / "calendar.ics").exists() and json.loads(read(site, "search/index.json"))


def test_a_site_folder_inside_the_notes_folder_is_not_a_team(tmp_path):
    notes = tmp_path / "notes"
    simple_meeting(notes, "wg", date(2024, 3, 1))
    build_site(notes, notes / "site")
    build_site(notes, notes / "site")
    assert "site/index.html" not in read(notes / "site", "index.html")


@given(st.text())
def test_a_link_is_allowed_only_with_a_safe_scheme(url):
    compact = re.sub(r"[\x00-\x20\x7f]", "", url).lower()
    if safe_link(url):
        scheme = compact.split(":", 1)[0] if re.match(r"^[a-z][a-z0-9+.\-]*:", compact) else None
        assert scheme in (None, "http", "https", "mailto", "irc", "ircs")
        assert not compact.startswith("//")


@pytest.mark.parametrize("markdown", [
    "[x](javascript:alert(1))", "[x](JaVaScRiPt:alert(1))", "[x](java\tscript:alert(1))", "<javascript:alert(1)>",
    "[x](data:text/html;base64,PHNjcmlwdD4=)", "[x](vbscript:msgbox)", "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>", "![x](https://tracker.example/p.gif)", "[x](//evil.example/)",
])
def test_minutes_markdown_cannot_carry_scripts_or_outside_resources(markdown):
    assert active(MinutesRenderer().render(markdown, "x.log.txt")) == []


def test_log_lines_are_escaped_and_only_web_urls_become_links():
    html = log_html('12:00:00 <a"><b> <script>x</script> javascript:alert(1) https://ok.example/a?b=1&c=2\n'
                    "12:00:01 * me waves\nnot a log line")
    assert "<script>" not in html and "<b>" not in html
    assert 'href="https://ok.example/a?b=1&amp;c=2"' in html
    assert 'id="l-3"' in html and re.search(r'<span class="me n\d">\* <bdi>me</bdi></span>', html)


def test_a_right_to_left_override_in_a_nick_or_line_is_isolated_in_the_html_log():
    html = log_html("11:00:00 <\u202eeve> moved to 11:30\n11:01:00 <bob> ok\u202e")
    assert '&lt;<bdi>\u202eeve</bdi>&gt;</span> <bdi class="said">moved to 11:30</bdi>' in html
    assert '<bdi class="said">ok\u202e</bdi>' in html


def test_raw_bidi_controls_in_hand_edited_minutes_are_isolated_and_other_text_left_alone():
    html = MinutesRenderer().render("- note (\u202eeve, [11:00](x.log.txt#l-3))\n- plain & \"quoted\"", "x.log.txt")
    assert "<li><bdi>note (\u202eeve, </bdi>" in html and 'href="#l-3"' in html
    assert "<li>plain &amp; &quot;quoted&quot;</li>" in html


def test_the_site_section_of_the_config_is_checked(tmp_path):
    config = parse_config({"bot": {"notes_dir": "notes"}, "teams": [],
                           "site": {"out": "public", "git_push": True, "remote": "backup", "branch": "pages"}},
                          tmp_path / "sigbot.toml")
    site = config.section("site")
    assert (site.out, site.git_push, site.remote, site.branch) == (tmp_path / "public", True, "backup", "pages")
    with pytest.raises(Exception) as failure:
        parse_config({"teams": [], "site": {"git_push": "yes", "remote": "--upload-pack=x", "colour": 1}},
                     tmp_path / "sigbot.toml")
    errors = failure.value.errors
    assert any("site.git_push" in e for e in errors) and any("site.remote" in e for e in errors)
    assert any("site.colour" in e for e in errors)


def test_an_injected_meeting_renders_nothing_active(tmp_path):
    from test_site_browser import INJECTION_LINES, STARTED  # the meeting the browser test renders

    notes = tmp_path / "notes"
    write_meeting(notes, "wg", STARTED, INJECTION_LINES, room="<svg onload=alert(9)>")
    site = tmp_path / "site"
    build_site(notes, site)
    for page in site.rglob("*.html"):
        assert active(page.read_text()) == [], page
    assert not (tmp_path / "evil").exists() and not list(tmp_path.glob("*.html"))


def test_the_web_server_serves_the_site_with_its_csp_and_nothing_hidden_or_outside(notes, tmp_path):
    import asyncio

    import aiohttp

    from bot.runtime import Runtime
    from bot.site.routes import add_site
    from bot.web.server import build_app, start_web

    site = tmp_path / "site"
    build_site(notes, site)
    (tmp_path / "secret.txt").write_text("secret")

    async def scenario():
        app = build_app(Runtime(None, None), routes=[])  # type: ignore[arg-type]
        add_site(app, site)
        runner = await start_web(app, "127.0.0.1:0")
        base = runner.url
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{base}/") as r:
                    assert r.status == 200 and "script-src 'self'" in r.headers["Content-Security-Policy"]
                    assert r.headers["Content-Type"].startswith("text/html")
                async with http.get(f"{base}/healthz") as r:
                    assert r.status == 200
                async with http.get(f"{base}/ai-ml/", allow_redirects=False) as r:
                    assert r.status == 302 and r.headers["Location"] == "/ai-ml/index.html"
                for path in (f"/{MANIFEST}", "/../secret.txt", "/%2e%2e/secret.txt", "/static/../../secret.txt"):
                    async with http.get(base + path) as r:
                        assert r.status == 404, path
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


_SHOWN = st.text(st.sampled_from("ab1 #+-=.)&;<>[]()!*_`\\|~:/\"'\r\n\u202e\u2066\u2069\u200f\u061c"),
                 min_size=1, max_size=30)


@given(_SHOWN.filter(lambda t: t == t.strip(" \r\n")))
def test_escaped_user_text_renders_as_typed_in_a_list_item_and_a_heading(text):
    from html import unescape

    from bot.meeting.render import BIDI_CONTROLS, md_escape
    typed = BIDI_CONTROLS.sub(lambda m: f"<U+{ord(m.group(0)):04X}>", re.sub(r"\r\n?|\n", " ", text))
    for prefix, tag in (("- ", "li"), ("# ", "h1"), ("1. ", "li")):
        html = MinutesRenderer().render(prefix + md_escape(text) + " (bob)", "x.log.txt")
        inner = re.fullmatch(rf"(?:<[uo]l>\n)?<{tag}>(.*) \(bob\)</{tag}>\n(?:</[uo]l>\n)?", html, re.S)
        assert inner is not None, html
        assert unescape(inner.group(1)) == typed


def test_the_minutes_show_entities_and_bidi_controls_as_typed(tmp_path):
    notes = tmp_path / "notes"
    md = write_meeting(notes, "wg", datetime(2024, 6, 6, 11, 0, tzinfo=timezone.utc), [
        ("alice", "#startmeeting Sync"),
        ("alice", "#info &lt;script&gt; &amp;"),
        ("ev\u202eil", "#link &#106;avascript:alert(1)"),
        ("alice", "#endmeeting"),
    ]).read_text()
    assert r"\&lt;script\&gt; \&amp;" in md and r"\&#106;avascript:alert(1)" in md
    assert r"· ev\<U+202E\>il [11:02]" in md
    site = tmp_path / "site"
    build_site(notes, site)
    page = next(site.glob("wg/2024/*.html")).read_text()
    assert "&amp;lt;script&amp;gt; &amp;amp;" in page and "&amp;#106;avascript:alert(1)" in page
    assert (
        '<span class="by">ev&lt;U+202E&gt;il <a href="#l-3" class="at">11:02</a></span>' in page
        and "javascript" not in page.replace("&amp;#106;avascript", "")
    )


def test_prev_and_next_lead_to_meetings_of_the_same_series_only(notes, tmp_path):
    for day in (date(2023, 8, 14), date(2023, 8, 28)):
        simple_meeting(notes, "ai-ml", day)
    site = tmp_path / "site"
    build_site(notes, site)
    first = read(site, "ai-ml/2023/2023-08-14-1500-weekly-sync.html")
    second = read(site, "ai-ml/2023/2023-08-28-1500-weekly-sync.html")
    assert 'rel="prev"' not in first  # the Fedora meeting of July is another series
    assert '<a rel="next" href="2023-08-28-1500-weekly-sync.html">' in first
    assert '<a rel="prev" href="2023-08-14-1500-weekly-sync.html">' in second
    # the breadcrumb ends in the meeting's name, not its date alone
    assert re.search(r'<span aria-current="page">Weekly sync <small>2023-08-28</small></span>', second)


def test_each_series_has_a_latest_address_that_follows_its_newest_meeting(notes, tmp_path):
    site = tmp_path / "site"
    simple_meeting(notes, "ai-ml", date(2023, 8, 14))
    build_site(notes, site)
    assert 'url=../2023/2023-08-14-1500-weekly-sync.html"' in read(site, "ai-ml/latest/weekly-sync.html")
    simple_meeting(notes, "ai-ml", date(2024, 1, 8))
    build_site(notes, site)
    latest = read(site, "ai-ml/latest/weekly-sync.html")
    assert 'url=../2024/2024-01-08-1500-weekly-sync.html"' in latest
    assert '<a id="latest" href="../2024/2024-01-08-1500-weekly-sync.html">' in latest
    assert 'href="latest/weekly-sync.html"' in read(site, "ai-ml/index.html")
    assert 'href="../latest/weekly-sync.html"' in read(site, "ai-ml/2023/2023-08-14-1500-weekly-sync.html")
    assert crawl(site) == []


def test_the_channel_index_names_matrix_aliases_and_irc_channels(tmp_path):
    from bot.meeting.render import team_context

    config = parse_config({"bot": {"data_dir": str(tmp_path / "var"), "notes_dir": str(tmp_path / "notes")},
                           "teams": [{"name": "gpu", "matrix_room": "#gpu:example.org", "irc_channels": ["#gpu-wg"]}]},
                          tmp_path / "sigbot.toml")
    notes = tmp_path / "notes"
    write_meeting(notes, "gpu", datetime(2024, 6, 6, 11, 0, tzinfo=timezone.utc),
                  [("alice", "#startmeeting GPU sync"), ("alice", "#endmeeting")], room="!_tyPgzB:example.org",
                  ctx=team_context(config.teams[0]))
    simple_meeting(notes, "rocm", date(2024, 5, 2), "ROCm packaging")
    site = tmp_path / "site"
    build_site(notes, site)
    page = read(site, "channels.html")
    rooms = re.findall(r'<h2 id="ch\d+"><bdi>([^<]*)</bdi></h2>', page)
    assert rooms == ["#gpu-wg", "#gpu:example.org", "#wg"]  # never the opaque id
    assert page.count('href="gpu/latest/gpu-sync.html"') == 2 and 'href="rocm/latest/rocm-packaging.html"' in page
    assert crawl(site) == []


def test_the_calendar_shows_past_meetings_linked_and_coming_ones_from_the_schedule(notes, tmp_path):
    publish_feature_files(notes / "ai-ml")
    site = tmp_path / "site"
    build_site(notes, site)
    page = read(site, "calendar.html")
    months = re.findall(r'<h2 id="m(\d{4}-\d\d)">', page)
    assert months[0] == "2030-01" and "2023-07" in months and months == sorted(months, reverse=True)
    assert '<a href="ai-ml/2023/2023-07-31-1500-fedora-ai-ml-sig.html">Fedora AI/ML SIG</a>' in page
    assert re.search(r'<div class="ev coming">15:00 <bdi>Weekly sync</bdi>', page)
    assert re.search(r'<div class="ev coming cancelled">15:00 <bdi>Weekly sync</bdi>', page)
    assert crawl(site) == []


def test_every_page_says_when_its_data_was_last_updated(notes, tmp_path):
    publish_feature_files(notes / "ai-ml")
    site = tmp_path / "site"
    build_site(notes, site)
    actions = notes / "ai-ml" / "actions.json"
    actions.write_text(actions.read_text().replace("2030-01-01T00:00:00Z", "2030-03-17T17:46:40Z", 1))  # `!done`
    build_site(notes, site)

    def updated(rel: str) -> str:
        match = re.search(r'<span class="updated">Data updated <time datetime="([^"]+)"', read(site, rel))
        assert match, rel
        return match.group(1)

    assert updated("ai-ml/index.html") == "2030-03-17T17:46:40Z" == updated("index.html")
    assert updated("ai-ml/farm.html") == "2030-01-01T00:00:00Z"  # the farm's own report time
    assert updated("ai-ml/2023/2023-07-31-1500-fedora-ai-ml-sig.html") == "2023-07-31T15:13:00Z"
