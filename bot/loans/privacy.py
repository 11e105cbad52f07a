"""Spotting shipping addresses and contact details said where everyone can read them.

A heuristic, tuned to refuse rather than leak: an e-mail address, a phone
number, a postal code beside a street word, or words that announce an address.
Links are ignored first, so a project URL with numbers in it is fine.
"""

from __future__ import annotations

import re

_URL = re.compile(r"https?://\S+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# Digits glued to letters are a tracking number or a serial (1Z999AA10123456784, JJD0099999999), not a phone.
_PHONE = re.compile(r"(?<![A-Za-z0-9])\+?\(?\d[\d ()./-]{6,}\d(?![A-Za-z0-9])")
_STREET = re.compile(r"\b(street|st\.|road|rd\.|avenue|ave\.?|lane|strasse|straße|str\.|rue|via|calle|"
                     r"apt\.?|apartment|suite|p\.?o\.? box|zip|postcode|postal)\b", re.IGNORECASE)
_ANNOUNCE = re.compile(r"\b(my address|ship (it )?to|send (it )?to|deliver(y)? to|phone|mobile|tel\.?|e-?mail)\b",
                       re.IGNORECASE)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_HOUSE_NUMBER = re.compile(r"\b\d{1,5}[a-z]?\b")


def looks_private(text: str) -> bool:
    text = _URL.sub(" ", text)
    if _EMAIL.search(text) or _ANNOUNCE.search(text) or any(_is_phone(m.group()) for m in _PHONE.finditer(text)):
        return True
    return bool(_STREET.search(text) and _HOUSE_NUMBER.search(text))


def _is_phone(candidate: str) -> bool:
    # Dates (2026-01-10) and version numbers (6.4.1) are not phone numbers; eight digits or more are, up to
    # the fifteen of E.164 (https://www.itu.int/rec/T-REC-E.164): longer runs are parcel tracking numbers.
    return not _DATE.fullmatch(candidate.strip()) and 8 <= sum(c.isdigit() for c in candidate) <= 15


HINT = ("That looks like a shipping address or contact details, so I did not keep it here. "
        "Send it to me in a direct message instead: !loan address N DETAILS")
