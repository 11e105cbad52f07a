"""The inventory: add, edit and retire assets, and CSV import and export, with every change in the history.

Statuses that follow a loan (reserved, on-loan) are never set by hand: an
asset held by a loan changes only through the loan's steps.
"""

from __future__ import annotations

import csv
import io
import shlex

from bot.loans.desk import Desk, Done, Refused
from bot.loans.model import MANUAL_STATUSES, Actor, Asset, AssetStatus, Kind
from bot.loans.store import ASSET_FIELDS

CSV_COLUMNS = ("tag", *ASSET_FIELDS)


def parse_fields(text: str) -> tuple[list[str], dict[str, str]]:
    """`mi210-1 gpu vendor=AMD model="Instinct MI210"` -> (["mi210-1", "gpu"], {"vendor": ..., "model": ...})."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise Refused(f"Cannot read that: {exc}. Quote values with spaces: model=\"Radeon PRO W7900\"") from None
    plain = [w for w in words if "=" not in w]
    fields = dict(w.split("=", 1) for w in words if "=" in w)
    unknown = sorted(set(fields) - set(ASSET_FIELDS))
    if unknown:
        raise Refused(f"Unknown field {', '.join(unknown)}; fields: {', '.join(ASSET_FIELDS)}.")
    return plain, fields


def _check(fields: dict[str, str]) -> dict[str, str]:
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
    asset = _asset(desk, tag)
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
    asset = _asset(desk, tag)
    if not desk.store.set_asset_status(asset.id, AssetStatus.RETIRED, MANUAL_STATUSES):
        raise Refused(f"{tag} is {asset.status}; end its loan first (see !loan list).")
    desk.store.add_event(desk.team, actor.id, desk.now, "hw-retire", asset=tag, from_state=asset.status,
                         to_state=AssetStatus.RETIRED, note=note)
    return Done(f"{tag} is retired.")


def _asset(desk: Desk, tag: str) -> Asset:
    asset = desk.store.asset(desk.team, tag)
    if asset is None:
        raise Refused(f"There is no asset {tag}. Say !hw list to see the inventory.")
    return asset


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


def import_csv(desk: Desk, actor: Actor, text: str) -> tuple[int, int, list[str]]:
    """Add or update assets from CSV rows; returns (added, changed, problems by line). Bad rows change nothing."""
    added = changed = 0
    problems = []
    reader = csv.DictReader(io.StringIO(text))
    missing = {"tag", "kind"} - set(reader.fieldnames or ())
    if missing:
        return 0, 0, [f"line 1: the header lacks {', '.join(sorted(missing))} (columns: {', '.join(CSV_COLUMNS)})"]
    for line, row in enumerate(reader, start=2):
        tag = (row.pop("tag", "") or "").strip()
        fields = {k: (v or "").strip() for k, v in row.items() if k in ASSET_FIELDS and v}
        if not tag:
            problems.append(f"line {line}: no tag")
            continue
        try:
            with desk.store.db.atomic():
                existing = desk.store.asset(desk.team, tag)
                if existing is None:
                    add(desk, actor, tag, fields)
                    added += 1
                else:
                    fields = {k: v for k, v in fields.items() if str(getattr(existing, k)) != v}
                    if fields:
                        edit(desk, actor, tag, fields)
                        changed += 1
        except Refused as exc:
            problems.append(f"line {line} ({tag}): {exc.text}")
    return added, changed, problems
