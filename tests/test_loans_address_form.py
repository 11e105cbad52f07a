"""`!loan address N`'s one-time link and the form behind it, on a real server and in headless Chromium.

The bot is the real Dispatcher over a SQLite file; the form is served by
sigbot's own web server on 127.0.0.1 (bot/web/server.py with the loans'
routes) and filled in Chromium (tests/site_browser.py). Afterwards the test's
address is looked for in the notes folder, the built site, the captured logs
and the database file with its -wal: it must be in `loan_private` and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from bot.config import parse_config
from bot.core.message import DirectMessage, Message, Network, Relay, Reply
from bot.dispatch import Dispatcher
from bot.loans.links import token_hash
from bot.loans.pages import Pages, render, shapes
from bot.loans.store import LoanStore
from bot.loans.web import PER_CLIENT, PER_LINK, RateLimit
from bot.registry import build_registry
from bot.runtime import Runtime
from bot.site.build import build_site
from bot.storage import open_store
from bot.web.server import build_app, start_web

ROOM, CHANNEL = "!wg:localhost", "#wg"
SHAPES = shapes()
ADMIN = "@trix:localhost"
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
ADDRESS = "Ada Lovelace, 12 Analytical Street, 4242 Engine City, +44 20 7946 0958"
LINK = re.compile(r"https?://[^\s<>]+/loans/address/(\d+)/([A-Za-z0-9_-]+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bot:
    """The dispatcher and the web server's runtime, sharing one clock the test moves."""

    def __init__(self, tmp_path: Path, public_url: str | None = "", loans: int = 2):
        self.port = free_port()
        web_table = {"listen": f"127.0.0.1:{self.port}"}
        if public_url is not None:
            web_table["public_url"] = public_url or f"http://127.0.0.1:{self.port}"
        self.config = parse_config({
            "bot": {"data_dir": str(tmp_path / "var"), "notes_dir": str(tmp_path / "notes")},
            "web": web_table,
            "teams": [{"name": "wg", "matrix_room": ROOM, "irc_channels": [CHANNEL],
                       "loans": {"admins": [ADMIN]}}],
        }, tmp_path / "sigbot.toml")
        self.dispatcher = Dispatcher(self.config, open_store(self.config.database), build_registry())
        self.clock = T0
        self.events = 0
        self.delivered: list = []
        self.rt = Runtime(self.config, self.dispatcher, deliver=self.delivered.extend, now=lambda: self.clock)
        self.say(ADMIN, "!hw add w7900-1 gpu target=gfx1100")
        self.say(ADMIN, "!hw add w7900-2 gpu target=gfx1100")
        for who in ("@ada:localhost", "@bob:localhost")[:loans]:
            self.say(who, "!loan request gfx1100 for rocBLAS CI")
        self.say(ADMIN, "!loan approve 1")

    @property
    def store(self) -> LoanStore:
        return LoanStore(self.dispatcher.store.db)

    def say(self, sender: str, text: str, direct: bool = False, network: Network = Network.MATRIX,
            room: str | None = None) -> list:
        self.events += 1
        self.clock += timedelta(seconds=5)
        nick = sender.strip("@").split(":")[-1 if sender.startswith("irc:") else 0].split("!")[0]
        account = sender[4:] if sender.startswith("irc:") else None
        room = room or (f"!dm-{nick}:localhost" if direct else ROOM)
        return self.dispatcher.handle(Message(network, room, sender, nick, text, self.clock,
                                              event_id=f"$ev{self.events}", direct=direct, account=account))

    def link(self, sender: str, n: int) -> str:
        """Ask for loan `n`'s form as `sender` in a direct chat; the link from the private message."""
        sent = [e for e in self.say(sender, f"!loan address {n}", direct=True) if isinstance(e, DirectMessage)]
        assert len(sent) == 1 and sent[0].user == sender
        return LINK.search(sent[0].text).group(0)

    @contextlib.asynccontextmanager
    async def serving(self):
        runner = await start_web(build_app(self.rt, routes=["bot.loans.web:add_routes"]), self.config.web_listen)
        try:
            yield self.config.web_public_url
        finally:
            await runner.cleanup()


def browserless() -> aiohttp.ClientSession:
    """A client that keeps cookies from 127.0.0.1 as a browser does (aiohttp's default jar drops them)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def texts(effects: list, kind=Reply) -> str:
    return "\n".join(e.text for e in effects if isinstance(e, kind))


# --- the link is asked for in chat and always sent privately -----------------

def test_the_link_goes_privately_to_the_borrower_from_a_room_a_direct_chat_and_irc(tmp_path):
    bot = Bot(tmp_path)
    url = bot.config.web_public_url
    asked = {
        "room": bot.say("@ada:localhost", "!loan address 1"),
        "direct chat": bot.say("@ada:localhost", "!loan address 1", direct=True),
    }
    # An IRC user identified to services as irc:carol borrows, then asks in the channel and in a query.
    bot.say("irc:carol", "!loan request gfx1100 for HIP tests", network=Network.IRC, room=CHANNEL)
    asked["irc channel"] = bot.say("irc:carol", "!loan address 3", network=Network.IRC, room=CHANNEL)
    asked["irc query"] = bot.say("irc:carol", "!loan address 3", direct=True, network=Network.IRC, room="irc:carol")
    for where, effects in asked.items():
        borrower = "irc:carol" if where.startswith("irc") else "@ada:localhost"
        links = [e for e in effects if isinstance(e, DirectMessage)]
        assert len(links) == 1 and links[0].user == borrower, where
        assert LINK.search(links[0].text) and links[0].text.count(url) == 1, where
        assert "private link" in texts(effects), where
        said = [e.text if isinstance(e, Reply) else e.message.text for e in effects if isinstance(e, (Reply, Relay))]
        assert said and not any("/loans/address/" in text for text in said), where
    # Only the hash of a token is kept, and only the newest link of a loan.
    rows = list(bot.dispatcher.store.db.query("SELECT loan, token_hash FROM loan_address_links ORDER BY loan"))
    assert [r["loan"] for r in rows] == [1, 3]
    tokens = [LINK.search(e.text).group(2) for effects in asked.values() for e in effects
              if isinstance(e, DirectMessage)]
    stored = raw(bot.config.database)
    assert not any(token.encode() in stored for token in tokens)
    lines = " ".join(r["text"] for r in bot.dispatcher.store.db.query("SELECT text FROM lines"))
    assert "/loans/address/" not in lines


def test_the_link_survives_markdown_rendering_on_matrix_and_irc_whatever_the_token(tmp_path):
    from bot.chat.matrix_events import notice_content
    from bot.relay.bridge import irc_text

    bot = Bot(tmp_path)
    sent = bot.link("@ada:localhost", 1)
    [message] = [e.text for e in bot.say("@ada:localhost", "!loan address 1") if isinstance(e, DirectMessage)]
    token = LINK.search(message).group(2)
    for nasty in ("_a_-b_", "__a__b", "-_x_-"):  # what token_urlsafe may give, read as emphasis if bare
        link = LINK.search(message).group(0).replace(token, nasty)
        text = message.replace(token, nasty)
        assert link in irc_text(text) and "\x1d" not in irc_text(text)
        assert f'href="{link}"' in notice_content(text)["formatted_body"]
    assert sent != LINK.search(message).group(0)  # and each ask makes a new link


def test_nobody_but_the_identified_borrower_gets_a_link(tmp_path):
    bot = Bot(tmp_path)
    for sender, network, room, refusal in [
            ("@bob:localhost", Network.MATRIX, ROOM, "Only a loan admin or the borrower"),
            ("ada!ada@host", Network.IRC, CHANNEL, "Identify with NickServ"),  # Ada's nick, no account
            ("irc:ada", Network.IRC, CHANNEL, "Only a loan admin or the borrower")]:  # an account of that name
        effects = bot.say(sender, "!loan address 1", network=network, room=room)
        assert refusal in texts(effects) and not any(isinstance(e, DirectMessage) for e in effects)
    # A loan admin reads the details in a direct message only, and gets no link.
    assert "only in a direct message" in texts(bot.say(ADMIN, "!loan address 1"))
    assert "has no shipping details" in texts(bot.say(ADMIN, "!loan address 1", direct=True))
    assert bot.dispatcher.store.db.execute("SELECT count(*) FROM loan_address_links").fetchone()[0] == 0


@pytest.mark.parametrize("public_url", [None, "http://sig.example.org"], ids=["no public_url", "plain http"])
def test_without_an_https_public_url_the_bot_offers_the_direct_chat_instead(tmp_path, public_url):
    bot = Bot(tmp_path, public_url)
    effects = bot.say("@ada:localhost", "!loan address 1")
    assert "in a direct message with me: !loan address 1 NAME, STREET" in texts(effects)
    assert "here: !loan address 1 NAME" in texts(bot.say("@ada:localhost", "!loan address 1", direct=True))
    assert not any(isinstance(e, DirectMessage) for e in effects)

    async def form_is_not_there():
        async with bot.serving(), browserless() as http:
            async with http.get(f"http://127.0.0.1:{bot.port}/loans/address/1/whatever") as response:
                return response.status
    assert asyncio.run(form_is_not_there()) == 404


# --- the form, in Chromium ------------------------------------------------------

async def _attacker(form_url: str, csrf: str) -> tuple[web.AppRunner, str]:
    """Another site (localhost is not 127.0.0.1's site) with a form that posts to the victim's link."""
    page = (f'<!doctype html><form method="post" action="{form_url}"><input type="hidden" name="csrf" '
            f'value="{csrf}"><input type="hidden" name="details" value="Mallory, 1 Evil Road"><button>Win a GPU'
            f'</button></form>')

    async def serve(request):
        return web.Response(text=page, content_type="text/html")
    app = web.Application()
    app.router.add_get("/", serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://localhost:{runner.addresses[0][1]}/"


@pytest.mark.browser
def test_the_form_is_filled_once_in_chromium_and_every_misuse_is_refused(tmp_path, caplog):
    from site_browser import Browser
    caplog.set_level(logging.DEBUG)
    bot = Bot(tmp_path)
    ada = bot.link("@ada:localhost", 1)

    async def scenario():
        async with bot.serving(), Browser() as browser:
            page = await browser.new_page()

            async def open_(url: str) -> str:
                await page.goto(url)
                return await page.js("document.body.innerText")

            async def send() -> str:
                seen = len(browser.events)
                await page.js("document.querySelector('#address-form button').click()")
                await page.wait_for_event("Page.loadEventFired", seen)
                return await page.js("document.getElementById('answer').innerText")

            # Filled once: stored, and the answer does not repeat it.
            assert "Shipping details for loan #1" in await open_(ada)
            # No script of its own: only the site's shared ones, which this server does not even serve.
            assert await page.js("Array.from(document.scripts).every(s => s.src.includes('/static/'))")
            await page.js("document.getElementById('details').focus()")
            await page.type_text(ADDRESS)
            answer = await send()
            assert "stored privately" in answer and "Analytical" not in answer
            assert bot.store.private(1) == ADDRESS
            # Used: refused, with no form.
            assert "used already" in await open_(ada)
            assert not await page.js("document.getElementById('address-form')")

            # Expired: the clock moves past the link's 15 minutes.
            bob = bot.link("@bob:localhost", 2)
            bot.clock += timedelta(minutes=16)
            assert "expired" in await open_(bob)

            # Another borrower's link does not open this loan's form, even with a valid cookie and field.
            bob = bot.link("@bob:localhost", 2)
            bob_on_ada = re.sub(r"/address/2/", "/address/1/", bob)
            assert "not valid" in await open_(bob_on_ada)
            assert "Shipping details for loan #2" in await open_(bob)
            csrf = await page.js("document.querySelector('input[name=csrf]').value")
            await page.js("document.getElementById('details').value = 'Bob, 3 Other Road'")
            await page.js(f"document.getElementById('address-form').action = {bob_on_ada!r}")
            assert "not valid" in await send()
            assert bot.store.private(1) == ADDRESS and bot.store.private(2) is None

            # A cross-site form posting to Bob's live link, with a field the attacker fetched for itself:
            # the browser sends no SameSite cookie and names the other origin; refused, nothing stored.
            runner, evil = await _attacker(bob, csrf)
            try:
                await open_(evil)
                seen = len(browser.events)
                await page.js("document.querySelector('button').click()")
                await page.wait_for_event("Page.loadEventFired", seen)
                assert "only be sent from its own page" in await page.js("document.body.innerText")
            finally:
                await runner.cleanup()
            assert bot.store.private(2) is None
            # Bob's link was not spent by the refused posts: he can still use it.
            assert "Shipping details for loan #2" in await open_(bob)
            await page.js("document.getElementById('details').value = 'Bob Builder, 3 Other Road, 9 Town'")
            assert "stored privately" in await send()
            assert browser.dialogs() == []

    asyncio.run(scenario())
    assert bot.store.private(2) == "Bob Builder, 3 Other Road, 9 Town"
    # The loan admins were told, without the details.
    told = [e for e in bot.delivered if isinstance(e, DirectMessage)]
    assert {e.user for e in told} == {ADMIN} and not any("Analytical" in e.text for e in told)
    _assert_only_in_the_private_table(bot, tmp_path, caplog.text)


def _assert_only_in_the_private_table(bot: Bot, tmp_path: Path, logs: str) -> None:
    needle = "Analytical Street"
    assert needle not in logs
    notes = bot.config.notes_dir
    assert (notes / "wg" / "loans.json").exists()
    site = tmp_path / "site"
    build_site(notes, site)
    for folder in (notes, site):
        for path in folder.rglob("*"):
            assert not path.is_file() or needle.encode() not in path.read_bytes(), path
    # The database file and its -wal hold the address (the grep finds it) only in loan_private's row:
    # with that row securely deleted from a copy, no byte of it is left anywhere in the file.
    copy = tmp_path / "copy.db"
    for suffix in ("", "-wal"):
        shutil.copy(f"{bot.config.database}{suffix}", f"{copy}{suffix}")
    assert needle.encode() in raw(copy)
    db = sqlite3.connect(copy)
    db.execute("PRAGMA secure_delete = ON")
    db.execute("DELETE FROM loan_private")
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    assert needle.encode() not in raw(copy)


def raw(database: Path) -> bytes:
    """The bytes of a database file and of its -wal, where there is one (closing the last connection removes it)."""
    wal = Path(f"{database}-wal")
    return Path(database).read_bytes() + (wal.read_bytes() if wal.exists() else b"")


# --- forged posts, floods and oversized bodies, over HTTP -----------------------

def test_a_post_without_the_csrf_token_or_its_cookie_is_refused_and_spends_nothing(tmp_path):
    bot = Bot(tmp_path)
    ada = bot.link("@ada:localhost", 1)

    async def scenario():
        async with bot.serving(), browserless() as http:
            async def post(data, **kw):
                async with http.post(ada, data=data, **kw) as response:
                    return response.status, await response.text()
            no_field = await post({"details": ADDRESS})  # no cookie yet either
            async with http.get(ada) as response:  # now the session holds the form's cookie
                csrf = re.search(r'name="csrf" value="([^"]+)"', await response.text()).group(1)
            wrong_field = await post({"details": ADDRESS, "csrf": "0" * 64})
            not_ascii = await post({"details": ADDRESS, "csrf": "é" * 64})
            other_origin = await post({"details": ADDRESS, "csrf": csrf}, headers={"Origin": "https://evil.example"})
            http.cookie_jar.clear()
            no_cookie = await post({"details": ADDRESS, "csrf": csrf})
            return no_field, wrong_field, not_ascii, other_origin, no_cookie
    for status, text in asyncio.run(scenario()):
        assert status == 403 and "Analytical" not in text
    assert bot.store.private(1) is None
    assert bot.store.address_link(token_hash(LINK.search(ada).group(2))).used is None


def test_a_burst_of_posts_is_rate_limited_per_link_and_per_client(tmp_path):
    bot = Bot(tmp_path)
    ada = bot.link("@ada:localhost", 1)
    base = bot.config.web_public_url

    async def scenario():
        async with bot.serving(), browserless() as http:
            async def status(method, url, **kw):
                async with http.request(method, url, **kw) as response:
                    return response.status
            on_link = [await status("POST", ada, data={"details": "x"}) for _ in range(PER_LINK + 2)]
            # Guessing tokens: each is another link, but all come from one address.
            guesses = [await status("GET", f"{base}/loans/address/1/guess{i}") for i in range(PER_CLIENT)]
            return on_link, guesses
    on_link, guesses = asyncio.run(scenario())
    assert on_link[:PER_LINK] == [403] * PER_LINK and on_link[PER_LINK:] == [429, 429]
    assert set(guesses[:PER_CLIENT - PER_LINK - 2]) == {404} and guesses[-1] == 429


def test_the_rate_limit_forgets_old_windows_and_never_holds_more_keys_than_its_bound():
    limit = RateLimit(2, timedelta(minutes=15), keys=3)
    assert [limit.allow("a", T0) for _ in range(3)] == [True, True, False]
    assert limit.allow("a", T0 + timedelta(minutes=15))  # a new window
    for i in range(100):
        limit.allow(f"guess{i}", T0)
        assert len(limit.hits) <= 3


@given(st.text(), st.integers(1, 10**9), st.text("0123456789abcdef-_"), st.booleans())
def test_the_page_filled_in_by_the_bot_is_the_page_jinja2_renders(message, loan, csrf, on_file):
    """bot/loans/pages.py: the bot fills in shapes a child rendered once; whatever the message says
    (markup, quotes, the markers themselves), the page is byte for byte the one jinja2 would render."""
    pages = Pages()
    pages._shapes = SHAPES  # what the child prints (bot.loans.pages.main), without a process per example
    assert pages.html(message) == render(message, None)
    assert pages.html(message, loan, csrf, on_file) == render("", {"loan": loan, "csrf": csrf, "on_file": on_file})


def test_the_running_bot_renders_the_form_page_apart_and_holds_no_jinja2(tmp_path):
    """The first request has a child render the shapes (memory, issue 14); the bot itself never imports jinja2."""
    probe = ("import asyncio, sys; from bot.loans.pages import Pages\n"
             "pages = Pages(); asyncio.run(pages.load())\n"
             "html = pages.html('<b>no</b>')\n"
             "print('&lt;b&gt;no&lt;/b&gt;' in html, 'Shipping details' in html, 'jinja2' in sys.modules)")
    out = subprocess.run([sys.executable, "-P", "-c", probe], capture_output=True, text=True, check=True,
                         cwd=tmp_path).stdout
    assert out.split() == ["True", "True", "False"], out


def test_a_body_too_large_for_a_form_is_refused_and_a_bad_one_keeps_the_link(tmp_path):
    bot = Bot(tmp_path)
    ada = bot.link("@ada:localhost", 1)

    async def scenario():
        async with bot.serving(), browserless() as http:
            async with http.get(ada) as response:
                csrf = re.search(r'name="csrf" value="([^"]+)"', await response.text()).group(1)
            results = []
            for details in ("x" * 20_000, "   ", "y" * 1001):
                async with http.post(ada, data={"details": details, "csrf": csrf}) as response:
                    results.append((response.status, await response.text()))
            async with http.post(ada, data={"details": ADDRESS, "csrf": csrf}) as response:
                results.append((response.status, await response.text()))
            return results
    (big, _), (blank, blank_text), (long, long_text), (ok, ok_text) = asyncio.run(scenario())
    assert big == 413 and blank == 400 and long == 400 and "at most 1000 characters" in long_text
    assert ok == 200 and "stored privately" in ok_text and "Analytical" not in ok_text
    assert bot.store.private(1) == ADDRESS


# --- the whole way, on a real Synapse with the live bot ---------------------------

@pytest.mark.synapse
def test_over_matrix_the_link_asked_for_in_the_room_arrives_in_the_direct_chat_and_the_form_stores(
        synapse, tmp_path, caplog, monkeypatch):
    """`sigbot run` in-process (its own web server, every feature's routes) against Synapse."""
    import uuid

    from matrix_users import User, make_room
    from test_loans_matrix import accept_direct_chat

    from bot.run import run_bot

    caplog.set_level(logging.DEBUG)
    logging.getLogger("nio").setLevel(logging.WARNING)  # the test users' own clients
    port = free_port()

    async def scenario() -> tuple[str, list[str]]:
        ada, trix = User(synapse, "Ada"), User(synapse, "Trix")
        for u in (ada, trix):
            await u.login()
        password = "pw-" + uuid.uuid4().hex
        bot_id = synapse.register(f"sigbot-{uuid.uuid4().hex[:6]}", password)
        monkeypatch.setenv("SIGBOT_FORM_TEST_PASSWORD", password)
        room = await make_room(trix, bot_id, [ada])
        config = parse_config({
            "bot": {"data_dir": str(tmp_path / "var"), "notes_dir": str(tmp_path / "notes")},
            "web": {"listen": f"127.0.0.1:{port}", "public_url": f"http://127.0.0.1:{port}"},
            "matrix": {"homeserver": synapse.base_url, "user_id": bot_id, "password_env": "SIGBOT_FORM_TEST_PASSWORD"},
            "teams": [{"name": "wg", "matrix_room": room, "loans": {"admins": [trix.user_id]}}],
        }, tmp_path / "sigbot.toml")
        stop = asyncio.Event()
        bot = asyncio.create_task(run_bot(config, stop=stop))
        try:
            async with asyncio.timeout(120):  # what is said before the bot's first sync is history to it
                while "matrix: synced; reading new messages" not in caplog.text:
                    await asyncio.sleep(0.1)
            await trix.send(room, "!hw add w7900-1 gpu target=gfx1100")
            await trix.wait_for_notice(room, "Added")
            await ada.send(room, "!loan request gfx1100 for rocBLAS CI")
            await ada.wait_for_notice(room, "#1")
            await trix.send(room, "!loan approve 1")
            dm = await accept_direct_chat(ada)
            assert "one-time link" in await ada.wait_for_notice(dm, "reserved for you")
            await ada.send(room, "!loan address 1")
            link = LINK.search(await ada.wait_for_notice(dm, "/loans/address/1/")).group(0)
            async with browserless() as http:
                async with http.get(link) as response:
                    csrf = re.search(r'name="csrf" value="([^"]+)"', await response.text()).group(1)
                async with http.post(link, data={"details": ADDRESS, "csrf": csrf}) as response:
                    stored = await response.text()
            assert "stored privately" in stored
            await trix.sync(timeout=0)  # now, so that the room's history reaches the last answer
            history = await trix.client.room_messages(room, start=trix.client.next_batch, limit=200)
            in_room = [e.source["content"].get("body", "") for e in history.chunk]
            return link, in_room
        finally:
            stop.set()
            await asyncio.wait_for(bot, 30)
            for u in (ada, trix):
                await u.close()

    link, in_room = asyncio.run(asyncio.wait_for(scenario(), 300))
    assert any("private link" in text for text in in_room)
    assert not any("/loans/address/" in text or "Analytical" in text for text in in_room)
    db = sqlite3.connect(tmp_path / "var" / "sigbot.db")
    assert db.execute("SELECT details FROM loan_private WHERE loan = 1").fetchone() == (ADDRESS,)
    db.close()
    assert "Analytical" not in caplog.text and LINK.search(link).group(2) not in caplog.text


@pytest.mark.synapse
@pytest.mark.ircd
def test_on_irc_the_link_goes_by_notice_to_the_nick_identified_as_the_borrower_and_to_no_one_else(
        services, synapse, tmp_path):
    """On the Libera-like network of tests/test_services_network.py: SASL accounts, a nick without one."""
    import uuid

    from test_services_network import WAIT, connected, sigbot_on

    account, password = f"ada{uuid.uuid4().hex[:6]}", "pw-" + uuid.uuid4().hex
    nobody = f"eve{uuid.uuid4().hex[:6]}"
    port = free_port()

    async def inventory(team) -> None:  # an asset to ask for, so that no IRC admin account is needed
        store = open_store(tmp_path / "var" / "sigbot.db")
        LoanStore(store.db).add_asset("wg", "w7900-1", {"kind": "gpu", "target": "gfx1100"})
        store.db.close()

    async def scenario() -> str:
        await services.register(account, password)
        ada, eve = await connected(services, account, account, password), await connected(services, nobody)
        web_table = {"listen": f"127.0.0.1:{port}", "public_url": f"http://127.0.0.1:{port}"}
        async with sigbot_on(services, synapse, tmp_path, [ada, eve], before_start=inventory, web=web_table) as team:
            await team.asks(ada, "!loan request gfx1100 for rocBLAS CI", "#1")
            in_channel = await team.asks(ada, "!loan address 1", "private link")
            notice = await ada.expect(lambda m: m.command == "NOTICE" and m.nick == team.nick
                                      and m.target == account and "/loans/address/1/" in (m.text or ""), WAIT)
            link = LINK.search(notice.text or "").group(0)
            assert "loan #1 is kept by IRC account" in await team.asks(eve, "!loan address 1", "Identify with NickServ")
            # Eve's refusal came after Ada's link: had one been sent to Eve, it would be in her backlog now.
            with pytest.raises(TimeoutError):
                await eve.expect(lambda m: "/loans/address/" in (m.text or ""), timeout=0.5)
            async with browserless() as http:
                async with http.get(link) as response:
                    csrf = re.search(r'name="csrf" value="([^"]+)"', await response.text()).group(1)
                async with http.post(link, data={"details": ADDRESS, "csrf": csrf}) as response:
                    assert "stored privately" in await response.text()
            return in_channel

    in_channel = asyncio.run(asyncio.wait_for(scenario(), 240))
    assert "/loans/address/" not in in_channel
    db = sqlite3.connect(tmp_path / "var" / "sigbot.db")
    assert db.execute("SELECT details FROM loan_private WHERE loan = 1").fetchone() == (ADDRESS,)
    db.close()


@pytest.mark.synapse
def test_in_an_encrypted_direct_chat_both_ways_work_and_every_answer_is_encrypted(synapse, tmp_path):
    """`sigbot run` as its own process (tests/matrix_users.py); Alice's client encrypts (vodozemac)."""
    from matrix_users import BotProcess, EncryptingUser, make_encrypted_room, make_room, seen_join
    from test_matrix_e2e import bot_types

    port = free_port()

    async def scenario() -> None:
        alice = EncryptingUser(synapse, "Alice", tmp_path / "alice-keys")
        await alice.login()
        bot = BotProcess(synapse, tmp_path, "")
        bot.use_room(await make_room(alice, bot.user_id, []))
        bot.config.write_text(bot.config.read_text().replace(
            'listen = "127.0.0.1:0"', f'listen = "127.0.0.1:{port}"\npublic_url = "http://127.0.0.1:{port}"'))
        store = open_store(tmp_path / "var" / "sigbot.db")  # Alice's loan, before the bot starts
        LoanStore(store.db).add_asset("wg", "w7900-1", {"kind": "gpu", "target": "gfx1100"})
        LoanStore(store.db).add_loan("wg", alice.user_id, "Alice", "gfx1100", "rocBLAS CI", "", 4, True, T0)
        store.db.close()
        bot.start()
        try:
            await bot.wait_ready()
            dm = await make_encrypted_room(alice, bot.user_id, direct=True)
            await seen_join(alice, dm, bot.user_id)
            await alice.send(dm, f"!loan address 1 {ADDRESS}")  # the direct-chat way
            await alice.wait_for_notice(dm, "stored privately")
            await alice.send(dm, "!loan address 1")  # the form's way
            link = LINK.search(await alice.wait_for_notice(dm, "/loans/address/1/")).group(0)
            async with browserless() as http:
                async with http.get(link) as response:
                    page = await response.text()
                    assert "Details are on file" in page
                    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
                async with http.post(link, data={"details": "Alice, 1 New Road, 9 Town", "csrf": csrf}) as response:
                    assert "stored privately" in await response.text()
            said = await bot_types(alice, dm, bot)
            assert len(said) >= 3 and set(said) == {"m.room.encrypted"}, said
        finally:
            bot.stop()
            await alice.close()
        assert "Analytical" not in bot.logs()

    asyncio.run(asyncio.wait_for(scenario(), 240))
    store = open_store(tmp_path / "var" / "sigbot.db")
    assert LoanStore(store.db).private(1) == "Alice, 1 New Road, 9 Town"
