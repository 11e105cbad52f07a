"""The shipping-address form behind `!loan address N`'s one-time link.

    GET  /loans/address/<loan>/<token>   the form (plain HTML, no script), with its CSRF cookie and field
    POST /loans/address/<loan>/<token>   the details: stored in `loan_private`, the link spent

A link works once, for LINK_MINUTES, for the loan it names and the borrower it
was sent to (bot/loans/links.py); the desk stores what is typed exactly as a
direct message would (`Desk.give_details`), so the same checks apply. Every
path here answers 404 unless `web.public_url` is https (or http on loopback):
the form carries an address, which must not cross a network in the clear.

Against forged posts: the form page sets a random cookie (HttpOnly,
SameSite=Strict, Secure over https) and puts HMAC(server key, link, cookie) in
a hidden field; a POST needs both, and an Origin header, when sent, must be
sigbot's own. Against guessing and floods: a small bounded rate limit per link
and per client address, and a body of at most MAX_FORM bytes. Answers are one
line and never repeat what was typed; nothing typed is logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Protocol

from bot.loans.config import settings_of
from bot.loans.desk import Desk, Refused
from bot.loans.links import FORM_PATH, LINK_MINUTES, form_base, form_origin, token_hash
from bot.loans.model import Actor
from bot.loans.pages import Pages
from bot.loans.store import AddressLink, LoanStore
from bot.runtime import Runtime
from bot.web import app as web

log = logging.getLogger(__name__)

MAX_FORM = 8 * 1024  # bytes of a posted form: 1,000 characters of details, escaped, and the CSRF field
COOKIE = "sigbot_form"
PER_LINK = 10  # requests for one link within a window (a person needs two or three)
PER_CLIENT = 30  # requests from one client address within a window
WINDOW = timedelta(minutes=LINK_MINUTES)
REMEMBERED = 4096  # keys each rate limit keeps; the least recent are forgotten first


class RateLimit:
    """At most `most` requests per key within `window`, remembering at most `keys` keys (bounded memory).

    Forgetting the least recent key can only let a forgotten client start afresh; with
    REMEMBERED keys that takes thousands of other clients or links in one window.
    """

    def __init__(self, most: int, window: timedelta, keys: int = REMEMBERED):
        self.most, self.window, self.keys = most, window, keys
        self.hits: OrderedDict[str, tuple[datetime, int]] = OrderedDict()

    def allow(self, key: str, now: datetime) -> bool:
        start, count = self.hits.pop(key, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        self.hits[key] = (start, count + 1)
        while len(self.hits) > self.keys:
            self.hits.popitem(last=False)
        return count + 1 <= self.most


class _Page(Protocol):
    """The address form's page with a message, or the form itself (`loan` given)."""

    def __call__(self, status: int, message: str, loan: int | None = None, csrf: str = "",
                 on_file: bool = False) -> web.Response: ...


def add_routes(rt: Runtime, app: web.App) -> None:
    key = secrets.token_bytes(32)  # signs the CSRF field; a restart only means reopening the link
    per_link, per_client = RateLimit(PER_LINK, WINDOW), RateLimit(PER_CLIENT, WINDOW)

    pages = Pages()  # rendered apart at the first request: the bot does not keep jinja2 (bot/loans/pages.py)

    def page(status: int, message: str, loan: int | None = None, csrf: str = "", on_file: bool = False
             ) -> web.Response:
        html = pages.html(message, loan, csrf, on_file)
        # The token is in the URL: no Referer may carry it anywhere, and nothing may be cached.
        return web.Response(status=status, text=html, content_type="text/html", charset="utf-8",
                            headers={"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})

    def csrf(link: AddressLink, nonce: str) -> str:
        return hmac.new(key, f"{link.token_hash}:{nonce}".encode(), hashlib.sha256).hexdigest()

    def usable_link(request: web.Request, now: datetime) -> AddressLink | web.Response:
        """The link the URL names, or the one-line refusal to answer."""
        if form_base(rt.config.web_public_url) is None:
            raise web.HTTPNotFound(text="Not found.\n")
        hashed = token_hash(request.match_info["token"])
        if not (per_client.allow(f"client:{request.remote}", now) and per_link.allow(hashed, now)):
            return page(429, "Too many tries. Wait a few minutes, then open the link again or ask for a new one.")
        link = LoanStore(rt.store.db).address_link(hashed)
        n = request.match_info["loan"]
        if link is None or str(link.loan) != n:
            return page(404, f"This link is not valid. Say !loan address {_n(n)} to the bot for a new one.")
        if link.used is not None:
            return page(410, f"This link was used already. Say !loan address {link.loan} to the bot for a new one.")
        if link.expires <= now:
            return page(410, f"This link has expired. Say !loan address {link.loan} to the bot for a new one.")
        return link

    async def show(request: web.Request) -> web.Response:
        await pages.load()
        link = usable_link(request, rt.now())
        if isinstance(link, web.Response):
            return link
        nonce = secrets.token_urlsafe(16)
        response = page(200, "", loan=link.loan, csrf=csrf(link, nonce),
                        on_file=LoanStore(rt.store.db).private(link.loan) is not None)
        # Scoped to this link's own path: two forms open at once keep a cookie each.
        response.set_cookie(COOKIE, nonce, max_age=int(WINDOW.total_seconds()), path=request.path, httponly=True,
                            samesite="Strict", secure=str(form_origin(rt.config.web_public_url)).startswith("https:"))
        return response

    async def give(request: web.Request) -> web.Response:
        await pages.load()
        now = rt.now()
        link = usable_link(request, now)
        if isinstance(link, web.Response):
            return link
        if len(await request.read()) > MAX_FORM:
            return page(413, "That is more than a form of shipping details can hold.")
        origin = request.headers.get("Origin")
        if origin is not None and origin.lower() != form_origin(rt.config.web_public_url):
            return page(403, "This form can only be sent from its own page.")
        fields = await request.post()
        nonce, field = request.cookies.get(COOKIE, ""), fields.get("csrf", "")
        # As bytes: compare_digest refuses a str that is not ASCII with a TypeError.
        if not (nonce and isinstance(field, str) and hmac.compare_digest(field.encode(), csrf(link, nonce).encode())):
            return page(403, "This form could not be verified (it needs a cookie from its own page). "
                             "Open the link again and send it from there.")
        details = fields.get("details", "")
        return _store(rt, link, details if isinstance(details, str) else "", now, page)

    app.add_get(FORM_PATH + "{loan}/{token}", show)
    app.add_post(FORM_PATH + "{loan}/{token}", give)


def _store(rt: Runtime, link: AddressLink, details: str, now: datetime, page: _Page) -> web.Response:
    """Spend the link and store the details, both or neither: a refused text leaves the link usable."""
    store = LoanStore(rt.store.db)
    loan = store.loan(link.loan)
    team = rt.config.team(loan.team) if loan else None
    if loan is None or team is None:
        return page(404, "This loan is not kept here any more.")
    # The link holds the borrower it was sent to; the desk checks that this is still the loan's borrower.
    desk = Desk(store, team.name, settings_of(team), now, private=True)
    try:
        with store.db.atomic():
            store.lock()
            if not store.use_address_link(link.token_hash, now):
                raise Refused("This link was used already or has expired. Say !loan address "
                              f"{link.loan} to the bot for a new one.")
            done = desk.give_details(Actor(link.borrower, loan.requester_name, admin=False), link.loan, details)
    except Refused as refused:
        return page(400, refused.text.splitlines()[0])
    log.info("loans: shipping details of loan #%d given through the form", link.loan)
    rt.deliver(list(done.dms))
    return page(200, done.text)


def _n(text: str) -> str:
    """A loan number from the URL as an answer may repeat it: digits only."""
    return text if text.isdigit() and len(text) < 10 else "N"
