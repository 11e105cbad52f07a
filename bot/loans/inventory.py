"""The inventory: add, edit and retire assets, and CSV import and export, with every change in the history.

Statuses that follow a loan (reserved, on-loan) are never set by hand: an
asset held by a loan changes only through the loan's steps. Every value goes
through the desk's `free_text()` (cleaned, bounded, no addresses in public
fields), whether it came from chat, the CLI or a CSV file.
"""

from __future__ import annotations

import csv
import io

from bot.core.text import clean_text
from bot.loans.desk import Desk, Done, Refused, free_text, one_word
from bot.loans.model import MANUAL_STATUSES, Actor, Asset, AssetStatus, Kind
from bot.loans.store import ASSET_FIELDS

CSV_COLUMNS = ("tag", *ASSET_FIELDS)


def parse_fields(words: list[str]) -> tuple[list[str], dict[str, str]]:
    """`["mi210-1", "gpu", "vendor=AMD", "model=Instinct MI210"]` -> (["mi210-1", "gpu"], {"vendor": ..., ...})."""
    plain = [w for w in words if "=" not in w]
    fields: dict[str, str] = {}
    for key, value in (w.split("=", 1) for w in words if "=" in w):
        if key in fields:
            raise Refused(f"{key}= is given twice; give each field once.")
        fields[key] = value
    unknown = sorted(set(fields) - set(ASSET_FIELDS))
    if unknown:
        raise Refused(f"Unknown field {', '.join(map(repr, unknown))}; fields: {', '.join(ASSET_FIELDS)}.")
    return plain, fields


def _check(fields: dict[str, str]) -> dict[str, str]:
    # The serial number is never published (see _public_fields and publish.py), so only it may look private.
    fields = {k: free_text(v, k, public=k != "serial") for k, v in fields.items()}
    for key in ("kind", "status"):
        if key in fields:
            fields[key] = fields[key].lower()
    if "kind" in fields and fields["kind"] not in {k.value for k in Kind}:
        raise Refused(f"kind must be one of {', '.join(k.value for k in Kind)}, not {fields['kind']!r}.")
    if "status" in fields:
        allowed = {s.value for s in MANUAL_STATUSES}
        if fields["status"] not in allowed:
            raise Refused(f"status can be set to {', '.join(sorted(allowed))}; reserved and on-loan follow the "
                          f"loans, and !hw retire retires an asset.")
    return fields


def _need_admin(actor: Actor) -> None:
    if not actor.admin:
        raise Refused("Only a loan admin can change the inventory. Everyone can see it: !hw list")


def add(desk: Desk, actor: Actor, tag: str, fields: dict[str, str]) -> Done:
    _need_admin(actor)
    tag = one_word(tag, "an asset tag")
    fields = _check(fields)
    if "kind" not in fields:
        raise Refused("Say what kind it is: !hw add TAG KIND [vendor=... model=... target=... memory=...]")
    try:
        asset = desk.store.add_asset(desk.team, tag, fields)
    except ValueError:
        raise Refused(f"There is already an asset {tag}; change it with !hw edit {tag} FIELD=VALUE.") from None
    desk.store.add_event(desk.team, actor.id, desk.now, "hw-add", asset=tag, to_state=asset.status,
                         note=_public_fields(fields))
    allocated = desk.allocate_waiting()
    return Done(f"Added {asset.describe()}, {asset.status}.", desk.allocated_dms(allocated))


def edit(desk: Desk, actor: Actor, tag: str, fields: dict[str, str]) -> Done:
    _need_admin(actor)
    asset = desk.asset(tag)
    fields = _check(fields)
    if not fields:
        raise Refused(f"Say what to change: !hw edit {tag} FIELD=VALUE (fields: {', '.join(ASSET_FIELDS)}).")
    if "status" in fields and asset.status not in MANUAL_STATUSES:
        raise Refused(f"{tag} is {asset.status}; its status follows its loan (see !loan list) or it is retired.")
    desk.store.update_asset(asset.id, fields)
    after = desk.store.asset_by_id(asset.id)
    desk.store.add_event(desk.team, actor.id, desk.now, "hw-edit", asset=tag, from_state=asset.status,
                         to_state=after.status, note=_public_fields(fields))
    allocated = desk.allocate_waiting() if after.status is AssetStatus.AVAILABLE else []
    return Done(f"Changed {after.describe()}, {after.status}.", desk.allocated_dms(allocated))


def retire(desk: Desk, actor: Actor, tag: str, note: str) -> Done:
    _need_admin(actor)
    asset = desk.asset(tag)
    note = free_text(note, "note")
    if not desk.store.set_asset_status(asset.id, AssetStatus.RETIRED, MANUAL_STATUSES):
        raise Refused(f"{tag} is {asset.status}; end its loan first (see !loan list).")
    desk.store.add_event(desk.team, actor.id, desk.now, "hw-retire", asset=tag, from_state=asset.status,
                         to_state=AssetStatus.RETIRED, note=note)
    return Done(f"{tag} is retired.")


def _public_fields(fields: dict[str, str]) -> str:
    # Serial numbers stay out of the history, which chat can show.
    return " ".join(f"{k}={v}" for k, v in fields.items() if k != "serial")


def export_csv(assets: list[Asset]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for asset in assets:
        writer.writerow([asset.tag, *(str(getattr(asset, f)) for f in ASSET_FIELDS)])
    return out.getvalue()


def import_csv(desk: Desk, actor: Actor, data: bytes) -> tuple[int, int, list[str]]:
    """Add or update assets from CSV rows; returns (added, changed, problems by line). Bad rows change nothing.

    The file is UTF-8, with or without a byte-order mark (what Excel's "CSV UTF-8"
    writes). Anything else is refused whole, naming its lines that are not UTF-8:
    guessing an encoding would store wrong names. So is a file the csv module
    cannot read, or whose header has unknown or repeated columns. A tag on two
    rows is refused on both, since which row is meant cannot be told, and a row
    with more cells than the header (an unquoted comma) is refused, since its
    values would land in the wrong columns.
    """
    rows, problems = _read_csv(data)
    if problems:
        return 0, 0, problems
    lines_of: dict[str, list[int]] = {}
    for line, tag, _, _ in rows:
        lines_of.setdefault(tag.lower(), []).append(line)
    added = changed = 0
    for line, tag, cells, overflows in rows:
        others = [n for n in lines_of.get(tag.lower(), []) if n != line]
        if not tag:
            problems.append(f"line {line}: no tag")
        elif overflows:
            problems.append(f"line {line} ({tag}): more cells than the header has columns; quote a value that "
                            f"holds a comma")
        elif others:
            problems.append(f"line {line} ({tag}): the tag is also on line {', '.join(map(str, others))}; "
                            f"give each asset one row")
        else:
            try:
                with desk.store.db.atomic():
                    done = _import_row(desk, actor, tag, cells)
                added, changed = added + (done == "added"), changed + (done == "changed")
            except Refused as exc:
                problems.append(f"line {line} ({tag}): {exc.text}")
    return added, changed, problems


def _import_row(desk: Desk, actor: Actor, tag: str, cells: dict[str, str]) -> str:
    """"added", "changed" or "" (nothing new); an empty cell changes nothing."""
    fields = {k: clean_text(v) for k, v in cells.items() if k in ASSET_FIELDS and clean_text(v)}
    existing = desk.store.asset(desk.team, one_word(tag, "an asset tag"))
    if existing is None:
        add(desk, actor, tag, fields)
        return "added"
    fields = {k: v for k, v in fields.items() if str(getattr(existing, k)) != v}
    if fields:
        edit(desk, actor, tag, fields)
        return "changed"
    return ""


def _read_csv(data: bytes) -> tuple[list[tuple[int, str, dict[str, str], bool]], list[str]]:
    """(line, tag, cells, whether it has more cells than the header) for each row, or the problems
    that refuse the whole file."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], _not_utf8(data)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows = []
    try:
        header = [clean_text(h).lower() for h in next(reader, [])]
        for cells in reader:
            if any(c.strip() for c in cells):
                rows.append((reader.line_num, cells))
    except csv.Error as exc:
        return [], [f"line {reader.line_num}: not CSV that can be read ({exc}); nothing was imported"]
    columns = ", ".join(CSV_COLUMNS)
    if {"tag", "kind"} - set(header):
        missing = ", ".join(sorted({"tag", "kind"} - set(header)))
        return [], [f"line 1: the header lacks {missing} (columns: {columns})"]
    unknown = sorted({h for h in header if h not in CSV_COLUMNS})
    twice = sorted({h for h in header if header.count(h) > 1})
    if unknown or twice:
        what = "; ".join(([f"unknown column(s) {', '.join(map(repr, unknown))}"] if unknown else [])
                         + ([f"repeated column(s) {', '.join(twice)}"] if twice else []))
        return [], [f"line 1: {what} (columns: {columns}); nothing was imported"]
    out = []
    for line, cells in rows:
        named = dict(zip(header, cells, strict=False))  # a row may be short, or long: import_csv refuses that
        out.append((line, clean_text(named.pop("tag", "")), named, len(cells) > len(header)))
    return out, []


def _not_utf8(data: bytes) -> list[str]:
    bad = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad.append(f"line {number}: not UTF-8 (byte 0x{line[exc.start]:02x}); save the file as UTF-8 (in Excel: "
                       f"CSV UTF-8) and import it again; nothing was imported")
    return bad[:5] + ([f"... and {len(bad) - 5} more lines that are not UTF-8"] if len(bad) > 5 else [])
