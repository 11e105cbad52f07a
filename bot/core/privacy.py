"""Spotting shipping addresses and contact details said where everyone can read them.

Two heuristics, both pure:

- `looks_private(text)`, for the free text of a loan (a purpose, a reason):
  tuned to refuse rather than leak, it also refuses e-mail addresses and words
  that announce an address ("ship it to", "phone").
- `contact_details(text)`, for every line said in a team room: only what is
  an address or a phone number by its shape (a phone number, or a street word
  beside a house number), since people say "send it to the list" or paste a
  mailing list's address all day. The dispatcher keeps such a line out of the
  log, the relay and the minutes (see bot/dispatch.py).

Links are ignored first, so a project URL with numbers in it is fine; dates,
times and version numbers are not phone numbers.
"""

from __future__ import annotations

import re

_URL = re.compile(r"https?://\S+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# Digits glued to letters are a tracking number or a serial (1Z999AA10123456784, JJD0099999999), not a phone.
_PHONE = re.compile(r"(?<![A-Za-z0-9])\+?\(?\d[\d ()./-]{6,}\d(?![A-Za-z0-9])")
_STREET = re.compile(r"\b(street|st\.|road|rd\.|avenue|ave\.?|lane|strasse|straße|str\.|rue|via|calle|"
                     r"apt\.?|apartment|suite|p\.?o\.? box|zip|postcode|postal)\b"
                     # German street names are compounds: Hauptstraße, Lindenweg, Marktplatz
                     r"|\b\w+(straße|strasse|gasse|weg|allee|platz)\b", re.IGNORECASE)
_ANNOUNCE = re.compile(r"\b(my address|ship (it )?to|send (it )?to|deliver(y)? to|phone|mobile|tel\.?|e-?mail)\b",
                       re.IGNORECASE)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_HOUSE_NUMBER = re.compile(r"\b\d{1,5}[a-z]?\b")


_NOT_PHONE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}:\d{2}(?::\d{2})?)?|\b\d{1,2}:\d{2}(?::\d{2})?\b|"
                        r"\bv?\d+(?:\.\d+){2,}\b")


def looks_private(text: str) -> bool:
    text = _URL.sub(" ", text)
    if _EMAIL.search(text) or _ANNOUNCE.search(text) or any(_is_phone(m.group()) for m in _PHONE.finditer(text)):
        return True
    return bool(_STREET.search(text) and _HOUSE_NUMBER.search(text))


def contact_details(text: str) -> bool:
    """A phone number, or a street word beside a house number, anywhere in `text`."""
    text = _NOT_PHONE.sub(" ", _URL.sub(" ", text))
    if any(_is_phone(m.group()) and _phone_shaped(m.group()) for m in _PHONE.finditer(text)):
        return True
    return bool(_STREET.search(text) and _HOUSE_NUMBER.search(text))


def _phone_shaped(candidate: str) -> bool:
    # In everyday chat a bare run of digits is a bug number, a count or a timestamp; a phone number is
    # written with a leading + or 0, or in groups (+49 170 5550123, 0170-5550123, (555) 010-0123).
    digits = candidate.strip()
    return digits.startswith(("+", "0", "(")) or bool(re.search(r"\d[ ./-]+\d", digits))


def _is_phone(candidate: str) -> bool:
    # Dates (2026-01-10) and version numbers (6.4.1) are not phone numbers; eight digits or more are, up to
    # the fifteen of E.164 (https://www.itu.int/rec/T-REC-E.164): longer runs are parcel tracking numbers.
    return not _DATE.fullmatch(candidate.strip()) and 8 <= sum(c.isdigit() for c in candidate) <= 15


HINT = ("That looks like a shipping address or contact details, so I did not keep it here. "
        "Send it to me in a direct message instead: !loan address N DETAILS")
