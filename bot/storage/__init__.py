"""Storage: the one place that speaks SQL (SQLite through sqlite-utils)."""

import sqlite3

from bot.storage.db import DatabaseDamaged, DatabaseMissing, LineRecord, MeetingRecord, Store, StoreError, open_store

# What the database raises, for the adapters and the CLI, which must tell a failing disk from a bug
# without speaking SQL themselves (tests/test_layers.py keeps sqlite3 here and in the stores).
DatabaseError = sqlite3.Error
DatabaseCorrupt = sqlite3.DatabaseError

__all__ = ["DatabaseCorrupt", "DatabaseDamaged", "DatabaseError", "DatabaseMissing", "LineRecord", "MeetingRecord",
           "Store", "StoreError", "open_store"]
