"""Values and the command registry shared by every part of sigbot (no I/O here)."""
