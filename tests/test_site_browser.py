"""The archive site in a real headless Chromium: pages, search, screenshots, hostile input.

Screenshots go to tests/artifacts/ (kept by CI, ignored by git).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from site_browser import Browser
from site_samples import publish_feature_files, replay_samples, simple_meeting, write_meeting

from bot.runtime import Runtime
from bot.site.build import build_site
from bot.site.routes import add_site
from bot.web.app import App
from bot.web.server import Listening, build_app, start_web

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
STARTED = datetime(2024, 6, 6, 12, 0, tzinfo=timezone.utc)

# Every name, nick, topic and item a different attack; each would set window.__pwned or open a dialog.
INJECTION_LINES = [
    ("<img src=x onerror=alert(1)>", "#startmeeting <script>window.__pwned='name'</script>"),
    ("<img src=x onerror=alert(1)>", "#chair \"><svg/onload=window.__pwned='chair'>"),
    ("\"><svg/onload=window.__pwned='chair'>", "#topic <iframe src=javascript:alert('topic')></iframe>"),
    ("<b onmouseover=alert(2)>x</b>", "#info [click](javascript:window.__pwned='md-link')"),
    ("javascript:alert(3)", "#idea <javascript:window.__pwned='autolink'>"),
    (
        "'--><script>alert(4)</script>",
        "#action ![img](x\" onerror=\"window.__pwned='img') for '--><script>alert(4)</script>",
    ),
    ("<img src=x onerror=alert(1)>", "#agreed {{ 7*7 }} {% raw %} <style>body{display:none}</style>"),
    ("<img src=x onerror=alert(1)>", "#rejected <a href=\"javascript:window.__pwned='a'\">a</a>"),
    ("x</textarea><script>alert(5)</script>", "#link javascript:window.__pwned='link' label"),
    ("<img src=x onerror=alert(1)>", "#link https://ok.example/\"onmouseover=\"window.__pwned='url' ok"),
    ("<img src=x onerror=alert(1)>", '#help <object data="javascript:alert(6)"></object>'),
    ("<img src=x onerror=alert(1)>", "#meetingname ../../../evil <script>alert(7)</script>"),
    ("<img src=x onerror=alert(1)>", "#endmeeting"),
]


async def _serve(site: Path, csp: bool = True) -> tuple[Listening, str]:
    """The site over HTTP: with sigbot's web server (CSP) or as a plain static host would (no CSP)."""
    app = build_app(Runtime(None, None), routes=[]) if csp else App()  # type: ignore[arg-type]
    add_site(app, site)
    runner = await start_web(app, "127.0.0.1:0")
    return runner, runner.url


@pytest.fixture
def site(tmp_path) -> Path:
    notes = tmp_path / "notes"
    replay_samples(notes)
    simple_meeting(notes, "rocm", date(2024, 5, 2), "ROCm packaging")
    publish_feature_files(notes / "ai-ml")
    build_site(notes, tmp_path / "site")
    return tmp_path / "site"


def test_home_team_and_meeting_pages_show_in_chromium(site):
    async def scenario():
        runner, base = await _serve(site)
        try:
            async with Browser() as browser:
                page = await browser.new_page()
                await page.goto(f"{base}/")
                assert await page.js("document.querySelectorAll('ul.cards > li').length") == 2
                assert await page.js("document.querySelector('h1').textContent") == "Meeting notes"
                # the next meeting, converted to the reader's zone by localtime.js (UTC kept in the title)
                assert await page.js("document.querySelector('.schedule time').title") == "2030-01-08 15:00 UTC"
                await page.screenshot(ARTIFACTS / "site-home.png")

                await page.goto(f"{base}/ai-ml/index.html")
                assert await page.js("document.querySelectorAll('table.meetings tbody tr').length") == 2
                assert "tflink to ask" in await page.js("document.querySelector('ul.actions').textContent")
                await page.screenshot(ARTIFACTS / "site-team.png")

                await page.goto(f"{base}/ai-ml/2023/2023-07-31-1500-fedora-ai-ml-sig.html")
                await page.js("document.querySelector('a[href=\"#l-24\"]').click()")
                assert await page.js("location.hash") == "#l-24"
                assert "#agreed reach out" in await page.js("document.querySelector('li:target').textContent")
                await page.screenshot(ARTIFACTS / "site-meeting.png")
                assert browser.dialogs() == []
                assert [e for e in browser.events if e["method"] == "Runtime.exceptionThrown"] == []
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


def test_typing_a_word_in_search_finds_the_line_and_links_to_it(site):
    async def scenario():
        runner, base = await _serve(site)
        try:
            async with Browser() as browser:
                page = await browser.new_page()
                await page.goto(f"{base}/search.html")
                await page.js("document.getElementById('q').focus()")
                await page.type_text("instinct card")
                await page.press_enter()
                await page.wait_for("document.querySelectorAll('#search-results li .line mark').length > 0")
                first = await page.js("document.querySelector('#search-results li a').getAttribute('href')")
                assert first == "ai-ml/2023/2023-07-31-1500-fedora-ai-ml-sig.html#l-33"
                assert "Instinct card" in await page.js("document.querySelector('#search-results .line').textContent")
                assert await page.js("location.search") == "?q=instinct%20card"
                await page.screenshot(ARTIFACTS / "site-search.png")
                # prefix search, and the result leads to the line
                await page.goto(f"{base}/search.html?q=packag")
                await page.wait_for("document.querySelectorAll('#search-results li').length > 0")
                await page.js("[...document.querySelectorAll('#search-results li a')].find(a => a.hash).click()")
                await page.wait_for("location.pathname.endsWith('.html') && !location.pathname.endsWith('search.html')")
                await page.wait_for("document.readyState === 'complete'")
                assert "packag" in (await page.js("document.querySelector('li:target').textContent")).lower()
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


def test_a_meeting_made_of_injection_payloads_runs_no_script_and_opens_no_dialog(tmp_path):
    notes = tmp_path / "notes"
    md = write_meeting(notes, "wg", STARTED, INJECTION_LINES, room="<svg onload=alert(9)>")
    site = tmp_path / "site"
    build_site(notes, site)
    assert md.parent == notes / "wg" / "2024" and not (tmp_path / "evil").exists()
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))

    async def scenario():
        runner, base = await _serve(site, csp=False)  # as on a static host: no CSP to hide behind
        try:
            async with Browser() as browser:
                page = await browser.new_page()
                for rel in pages:
                    await page.goto(f"{base}/{rel}")
                    # hover and click everything, as a reader would
                    await page.js("""(() => { for (const el of document.querySelectorAll('main *')) {
                        for (const type of ['mouseover', 'focus']) el.dispatchEvent(new Event(type)); }
                        for (const a of document.querySelectorAll('main a[href]'))
                            if (!a.getAttribute('href').match(/^(https?:|[^:]*$)/)) a.click(); })()""")
                    await asyncio.sleep(0.2)
                    assert await page.js("typeof window.__pwned") == "undefined", rel
                    assert await page.js("document.querySelectorAll('main script, main iframe, main object, "
                                         "main svg, main img, main style').length") == 0, rel
                    assert await page.js("[...document.querySelectorAll('main *')].filter(e => "
                                         "[...e.attributes].some(a => a.name.startsWith('on'))).length") == 0, rel
                    assert await page.js("document.body.offsetHeight > 0"), rel  # no injected style hid it
                await page.goto(f"{base}/{[p for p in pages if p.startswith('wg/2024/')][0]}")
                assert (
                    await page.js("document.querySelector('h1').textContent")
                    == "../../../evil <script>alert(7)</script>"
                )
                await page.screenshot(ARTIFACTS / "site-injection.png")
                assert browser.dialogs() == []
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


@contextlib.asynccontextmanager
async def _browsing(site: Path, csp: bool = True):
    """(browser, a fresh page, the site's address): the site served as `_serve` does, Chromium started."""
    runner, base = await _serve(site, csp)
    try:
        async with Browser() as browser:
            yield browser, await browser.new_page(), base
    finally:
        await runner.cleanup()


def _spoof_site(tmp_path) -> Path:
    """A meeting in a team folder named like Fedora's, by a nick holding a right-to-left override, with
    entities typed as text; and an IoT meeting whose name is one word joined by underscores."""
    notes = tmp_path / "notes"
    write_meeting(notes, "ai-ml", STARTED, [
        ("alice", "#startmeeting Sync"),
        ("alice", "#info &lt;script&gt; &amp;"),
        ("ev\u202eil", "#link &#106;avascript:alert(1)"),
        ("ev\u202eil", "moved to 11:30"),
        ("alice", "#topic \u202edrawkcab"),
        ("alice", "#topic Next"),
        ("alice", "#endmeeting"),
    ])
    (notes / "ai-ml").rename(notes / "ai_ml")
    write_meeting(notes, "iot", datetime(2023, 3, 1, 15, 0, tzinfo=timezone.utc), [
        ("bob", "#startmeeting fedora_iot_working_group_meeting"),
        ("bob", "#info hipBLAS builds on rawhide"),
        ("carol", "blas alone, as a word"),
        ("bob", "#endmeeting"),
    ])
    (notes / "iot").rename(notes / "fedora_iot")
    build_site(notes, tmp_path / "site")
    return tmp_path / "site"


def test_typed_entities_and_bidi_overrides_show_as_typed_and_reorder_nothing_in_chromium(tmp_path):
    site = _spoof_site(tmp_path)

    async def scenario():
        async with _browsing(site, csp=False) as (browser, page, base):
            await page.goto(f"{base}/")
            await page.js("[...document.querySelectorAll('a')].find(a => a.textContent === 'ai_ml').click()")
            await page.wait_for("location.pathname === '/ai_ml/index.html' && document.readyState === 'complete'")
            topic = "(n => document.querySelectorAll('.topics bdi')[n].getBoundingClientRect())"
            assert await page.js(f"{topic}(0).right <= {topic}(1).left")  # the override stays in its topic
            await page.js("document.querySelector('table.meetings tbody a').click()")
            await page.wait_for("location.pathname.startsWith('/ai_ml/2024/') && document.readyState === 'complete'")
            minutes = await page.js("document.querySelector('article.minutes').textContent")
            assert "Info: &lt;script&gt; &amp;" in minutes and "Link: &#106;avascript:alert(1)" in minutes
            assert "\u202e" not in minutes
            assert await page.js("document.querySelectorAll('article.minutes .by')[1].textContent") == \
                "ev<U+202E>il 12:02"
            assert "2. <U+202E>drawkcab" in minutes
            assert await page.js("document.querySelectorAll('main a[href*=\"script\"]').length") == 0
            # The log keeps what was typed, and the nick's override stays inside its <bdi>: the line
            # it said is still drawn to the right of the nick, the time to the left.
            box = "(s => document.querySelector('#l-4 ' + s).getBoundingClientRect())"
            assert await page.js("document.querySelector('#l-4 .nick bdi').textContent") == "ev\u202eil"
            assert await page.js(f"{box}('.ts').right <= {box}('.nick').left")
            assert await page.js(f"{box}('.nick').right <= {box}('.said').left")
            assert await page.js("document.querySelector('#l-4 .said').textContent") == "moved to 11:30"
            await page.screenshot(ARTIFACTS / "site-bidi.png")

            await page.goto(f"{base}/search.html?q=moved")
            await page.wait_for("document.querySelectorAll('#search-results li .line mark').length > 0")
            assert await page.js("document.querySelector('#search-results .line').tagName") == "BDI"
            quote = await page.js("document.querySelector('#search-results .line').textContent")
            assert quote.endswith("<ev\u202eil> moved to 11:30")
            assert browser.dialogs() == []

    asyncio.run(scenario())


def test_search_splits_words_finds_inside_them_ranks_quotes_titles_and_filters(tmp_path):
    site = _spoof_site(tmp_path)
    simple_meeting(tmp_path / "notes", "rocm", date(2024, 5, 2), "ROCm packaging")  # hipBLAS, in 2024
    build_site(tmp_path / "notes", site)

    async def scenario():
        async with _browsing(site) as (browser, page, base):
            results = "[...document.querySelectorAll('#search-results li')]"
            # "iot" is one of the words of fedora_iot_working_group_meeting: the title is the hit, quoted
            await page.goto(f"{base}/search.html?q=iot")
            await page.wait_for(f"{results}.length > 0 && !!document.querySelector('#search-results .line mark')")
            assert await page.js(f"{results}[0].querySelector('a').getAttribute('href')") == \
                "fedora_iot/2023/2023-03-01-1500-fedora-iot-working-group-meeting.html"
            assert await page.js(f"{results}[0].querySelector('.line').textContent") == \
                "fedora_iot_working_group_meeting"
            assert await page.js(f"{results}[0].querySelector('.line mark').textContent") == "iot"
            # inside words: "blas" finds hipBLAS; the line with "blas" as a word ranks first
            await page.goto(f"{base}/search.html?q=blas")
            await page.wait_for(f"{results}.length === 3 && {results}.every(li => li.querySelector('mark'))")
            quotes = await page.js(f"{results}.map(li => li.querySelector('.line').textContent)")
            assert quotes[0].endswith("<carol> blas alone, as a word")
            assert all("hipBLAS builds on rawhide" in q for q in quotes[1:])
            hrefs = await page.js(f"{results}.map(li => li.querySelector('a').getAttribute('href'))")
            assert hrefs[1].startswith("rocm/2024/")  # then the newest
            # filters: by team, by year, both given in the address
            await page.goto(f"{base}/search.html?q=blas&team=rocm")
            await page.wait_for(f"{results}.length === 1")
            assert await page.js("document.getElementById('team').value") == "rocm"
            assert (await page.js(f"{results}[0].querySelector('a').getAttribute('href')")).startswith("rocm/")
            await page.js("document.getElementById('team').value = ''; document.getElementById('year').value = '2023';"
                          "document.getElementById('year').dispatchEvent(new Event('change'))")
            await page.wait_for(f"{results}.length === 2 && location.search === '?q=blas&year=2023'")
            assert "in 2023" in await page.js("document.getElementById('search-status').textContent")
            await page.screenshot(ARTIFACTS / "site-search-filters.png")
            assert [e for e in browser.events if e["method"] == "Runtime.exceptionThrown"] == []

    asyncio.run(scenario())


SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


def test_calendar_channels_and_latest_pages_lead_to_the_meetings_in_chromium(site):
    async def scenario():
        async with _browsing(site) as (browser, page, base):
            await page.goto(f"{base}/")
            await page.js("[...document.querySelectorAll('header a')].find(a => a.textContent === 'Calendar').click()")
            await page.wait_for("location.pathname === '/calendar.html' && document.readyState === 'complete'")
            assert await page.js("document.querySelector('.month h2').id") == "m2030-01"  # the coming month first
            assert await page.js("document.querySelectorAll('table.calendar .ev.coming').length") == 2
            await page.js("document.querySelector('table.calendar a[href*=\"fedora-ai-ml\"]').click()")
            await page.wait_for(
                "location.pathname.endsWith('fedora-ai-ml-sig.html') && document.readyState === 'complete'"
            )
            await page.goto(f"{base}/channels.html")
            rooms = await page.js("[...document.querySelectorAll('.channel h2')].map(h => h.textContent)")
            assert rooms == ["#fedora-ai-ml", "#rust-ml-wg", "#wg"]
            # a series' "latest" address lands on its newest meeting
            await page.js(
                "[...document.querySelectorAll('.channel a')].find(a => a.textContent === 'ROCm packaging').click()"
            )
            await page.wait_for("location.pathname === '/rocm/2024/2024-05-02-1500-rocm-packaging.html'")
            await page.wait_for("document.readyState === 'complete'")
            assert await page.js("document.querySelector('nav.crumbs [aria-current]').textContent") == \
                "ROCm packaging 2024-05-02"
            assert [e for e in browser.events if e["method"] == "Runtime.exceptionThrown"] == []

    asyncio.run(scenario())


def test_the_dark_mode_toggle_switches_the_colours_and_is_remembered_across_pages(site):
    background = "getComputedStyle(document.body).backgroundColor"

    async def scenario():
        async with _browsing(site) as (browser, page, base):
            await page.set_viewport(1280, 800, dark=False)
            await page.goto(f"{base}/")
            light = await page.js(background)
            assert await page.js("document.getElementById('theme-toggle').textContent") == "Dark"
            await page.js("document.getElementById('theme-toggle').click()")
            assert await page.js("document.documentElement.dataset.theme") == "dark"
            dark = await page.js(background)
            assert dark != light and await page.js("document.getElementById('theme-toggle').ariaPressed") == "true"
            await page.goto(f"{base}/ai-ml/index.html")  # another page, a new load: still dark
            assert await page.js(background) == dark
            await page.js("document.getElementById('theme-toggle').click()")
            await page.goto(f"{base}/")
            assert (
                await page.js(background) == light
                and await page.js("document.documentElement.dataset.theme") == "light"
            )
            # a reader whose system is dark, who picked light, keeps light
            await page.set_viewport(1280, 800, dark=True)
            await page.goto(f"{base}/")
            assert await page.js(background) == light

    asyncio.run(scenario())


def test_dates_fit_on_one_line_and_log_lines_hang_under_their_text_with_coloured_nicks(site):
    async def scenario():
        async with _browsing(site) as (browser, page, base):
            await page.set_viewport(1280, 800, dark=False)
            await page.goto(f"{base}/ai-ml/index.html")
            heights = await page.js(
                "[...document.querySelectorAll('td.date time')].map(t => t.getClientRects().length)"
            )
            assert heights and set(heights) == {1}  # one line box each: no date wraps
            await page.goto(f"{base}/ai-ml/2023/2023-07-31-1500-fedora-ai-ml-sig.html")
            colours = await page.js("new Set([...document.querySelectorAll('ol.log .nick')].map("
                                    "n => getComputedStyle(n).color)).size")
            assert colours >= 3  # trix, jsteffan, tflink, zodbot: not all one colour
            await page.set_viewport(480, 800)  # narrow: long lines wrap
            wrapped = await page.js("""(() => {
                const li = [...document.querySelectorAll('ol.log li')].find(li => li.getClientRects()[0].height > 40);
                const said = li.querySelector('.said').getClientRects();
                const ts = li.querySelector('.ts').getBoundingClientRect();
                return [said.length, said[said.length - 1].left - ts.left]; })()""")
            assert wrapped[0] > 1 and wrapped[1] > 20  # the continuation starts right of the time, not under it
            # attribution is small and muted: smaller than the item it follows
            sizes = await page.js("(() => { const by = document.querySelector('article.minutes li .by');"
                                  " return [parseFloat(getComputedStyle(by).fontSize),"
                                  " parseFloat(getComputedStyle(by.parentElement).fontSize)]; })()")
            assert sizes[0] < sizes[1]

    asyncio.run(scenario())


def test_screenshots_of_the_home_a_meeting_and_the_farm_page(site):
    """Written to tests/artifacts/; SIGBOT_UPDATE_SCREENSHOTS=1 writes them to docs/screenshots/ for the README."""
    import os

    folder = SCREENSHOTS if os.environ.get("SIGBOT_UPDATE_SCREENSHOTS") else ARTIFACTS / "readme"

    async def scenario():
        async with _browsing(site) as (browser, page, base):
            await page.set_viewport(1280, 800, dark=False)
            for name, rel in (("home", ""), ("meeting", "ai-ml/2023/2023-07-31-1500-fedora-ai-ml-sig.html"),
                              ("farm", "ai-ml/farm.html")):
                await page.goto(f"{base}/{rel}")
                assert await page.js("document.querySelector('footer .updated') !== null") or name == "home"
                await page.screenshot(folder / f"{name}.png", full=False)
                assert (folder / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    asyncio.run(scenario())
