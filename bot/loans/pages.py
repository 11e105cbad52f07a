"""The address form's page: rendered by jinja2 in a child process once, then filled in by the bot.

The page has the site's look (templates/site/address.html.j2 extends the
site's base). Rendering it in the running bot would keep jinja2 there for good
after the first borrower opens a form: 2 MiB (memory is a figure of issue 14).
So the first request has a short-lived child (bot/core/apart.py) render the
page's shapes with markers where the values go: the page with a message
(a refusal or the thanks), and the form, for a loan with or without details on
file. The bot fills the markers in, escaped as jinja2's autoescape escapes
them (markupsafe's five characters): the page is the one jinja2 would render
(tests/test_loans_address_form.py compares them, hostile values included).
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from typing import TYPE_CHECKING, Any

from bot.core.apart import run_apart
from bot.core.resources import data_dir

if TYPE_CHECKING:
    import jinja2

MESSAGE, LOAN, CSRF = "\0message\0", "\0loan\0", "\0csrf\0"  # markers: no value rendered by the template holds NUL
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "'": "&#39;", '"': "&#34;"})  # as markupsafe


def escape(value: str) -> str:
    return value.translate(_ESCAPES)


@functools.cache
def _template() -> jinja2.Template:
    """The page's template, with the site's templates around it. Lenient about what the site's pages set
    and the form page does not (`updated`): an unset value is left out."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(data_dir("templates") / "site")), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["utc"] = str  # the site's time filter, named by its macros; the form page shows no times
    return env.get_template("address.html.j2")


def render(message: str, form: dict[str, Any] | None) -> str:
    """The page by jinja2: `form` (loan, csrf, on_file) while the link is usable."""
    return _template().render(site_title="sigbot", root="../../../", message=message, form=form)


def shapes() -> dict[str, str]:
    """The shapes of the page, with markers for the values (and the page with nothing to say)."""
    return {"message": render(MESSAGE, None), "empty": render("", None),
            "form": render("", {"loan": LOAN, "csrf": CSRF, "on_file": False}),
            "form_on_file": render("", {"loan": LOAN, "csrf": CSRF, "on_file": True})}


class Pages:
    """The shapes, rendered apart at the first request (`await load()`), then filled in for each answer."""

    def __init__(self) -> None:
        self._shapes: dict[str, str] | None = None
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        async with self._lock:
            if self._shapes is None:
                out = await asyncio.to_thread(run_apart, "bot.loans.pages", what="the address form's page")
                self._shapes = json.loads(out)

    def html(self, message: str, loan: int | None = None, csrf: str = "", on_file: bool = False) -> str:
        """The page with `message`, or (`loan` given) the form; load() must have run."""
        assert self._shapes is not None, "Pages.load() first"
        if loan is None:
            return self._shapes["message"].replace(MESSAGE, escape(message)) if message else self._shapes["empty"]
        shape = self._shapes["form_on_file" if on_file else "form"]
        return shape.replace(LOAN, escape(str(loan))).replace(CSRF, escape(csrf))


def main() -> int:
    sys.stdout.write(json.dumps(shapes()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
