"""What runs on a farm host: the agent and the telemetry parsers, with Python's standard library alone.

Nothing here imports the rest of sigbot or any library outside the standard
library (tests/test_layers.py checks it; the single-file agent, bot/farm/bundle.py,
is these modules zipped, and a test runs it under `python3 -I -S`). The bot's
side of the farm (bot/farm/) imports from here: one parser for the agent and
the server.
"""
