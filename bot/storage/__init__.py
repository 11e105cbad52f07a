"""Storage: the one place that speaks SQL (SQLite through sqlite-utils)."""

from bot.storage.db import LineRecord, MeetingRecord, Store, open_store

__all__ = ["LineRecord", "MeetingRecord", "Store", "open_store"]
