"""The IRC relay: each team's Matrix room and its IRC channels, both ways.

- `config`: the `[teams.relay]` settings, and the double-bridging checks.
- `to_irc`: Matrix events (HTML, replies, edits, media) as IRC lines (pure).
- `to_matrix`: IRC lines (control codes, mentions) as Matrix content (pure).
- `store`: long messages kept as pastes; `web`: the page that serves them.
- `bridge`: the wiring between the Matrix adapter, the IRC connection and the
  dispatcher (loops, identity, the router of the bot's own answers).
"""
