"""The archive site in a real headless Chromium: pages, search, screenshots, hostile input.

Screenshots go to tests/artifacts/ (kept by CI, ignored by git).
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from aiohttp import web

from bot.runtime import Runtime
from bot.site.build import build_site
from bot.site.routes import add_site
from bot.web.server import build_app
from site_browser import Browser
from site_samples import publish_feature_files, replay_samples, simple_meeting, write_meeting

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
    ("'--><script>alert(4)</script>", "#action ![img](x\" onerror=\"window.__pwned='img') for '--><script>alert(4)</script>"),
    ("<img src=x onerror=alert(1)>", "#agreed {{ 7*7 }} {% raw %} <style>body{display:none}</style>"),
    ("<img src=x onerror=alert(1)>", "#rejected <a href=\"javascript:window.__pwned='a'\">a</a>"),
    ("x</textarea><script>alert(5)</script>", "#link javascript:window.__pwned='link' label"),
    ("<img src=x onerror=alert(1)>", "#link https://ok.example/\"onmouseover=\"window.__pwned='url' ok"),
    ("<img src=x onerror=alert(1)>", "#help <object data=\"javascript:alert(6)\"></object>"),
    ("<img src=x onerror=alert(1)>", "#meetingname ../../../evil <script>alert(7)</script>"),
    ("<img src=x onerror=alert(1)>", "#endmeeting"),
]


async def _serve(site: Path, csp: bool = True) -> tuple[web.AppRunner, str]:
    """The site over HTTP: with sigbot's web server (CSP) or as a plain static host would (no CSP)."""
    app = build_app(Runtime(None, None), routes=[]) if csp else web.Application()  # type: ignore[arg-type]
    add_site(app, site)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


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
                assert await page.js("document.querySelector('h1').textContent") == "../../../evil <script>alert(7)</script>"
                await page.screenshot(ARTIFACTS / "site-injection.png")
                assert browser.dialogs() == []
        finally:
            await runner.cleanup()

    asyncio.run(scenario())
