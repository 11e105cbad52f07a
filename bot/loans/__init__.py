"""Hardware loans: an inventory, a visible first-come queue, approvals, shipping, returns and reminders.

`model` is the pure state machine, `store` owns the SQL, `desk` carries out one
step (checks, writes, events, notices), `commands` and `cli` are its two faces,
`reminders` the background service, `publish` writes notes/<team>/loans.json.
"""
