"""notes/<team>/loans.json: the public inventory and queue, for the archive site (see docs/extending.md).

Written atomically (temporary file + rename) and only when something other
than `updated` changed. Never addresses, contact details or serial numbers.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from bot.core.files import write_json_if_changed
from bot.loans.model import WAITING, position
from bot.loans.store import LoanStore


def loans_document(store: LoanStore, team: str, now: datetime) -> dict[str, Any]:
    waiting = store.loans(team, WAITING)
    return {
        "team": team,
        "updated": now.isoformat(),
        "inventory": [{"tag": a.tag, "kind": a.kind.value, "vendor": a.vendor, "model": a.model,
                       "target": a.target, "memory": a.memory, "status": a.status.value}
                      for a in store.assets(team)],
        "queue": [{"n": loan.n, "requester": loan.requester_name, "target": loan.target, "status": loan.state.value,
                   "position": position(loan, waiting), "submitted": loan.submitted.isoformat()}
                  for loan in waiting],
    }


def publish(store: LoanStore, team: str, notes_dir: Path, now: datetime) -> bool:
    """Write the team's loans.json if its content changed; True when written."""
    return write_json_if_changed(notes_dir / "loans.json", loans_document(store, team, now))
