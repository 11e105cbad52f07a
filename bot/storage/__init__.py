"""Storage: the one place that speaks SQL (SQLite through sqlite-utils)."""

from bot.storage.db import (DatabaseDamaged, DatabaseMissing, LineRecord, MeetingRecord, Store, StoreError,
                            open_store)

__all__ = ["DatabaseDamaged", "DatabaseMissing", "LineRecord", "MeetingRecord", "Store", "StoreError",
           "open_store"]
