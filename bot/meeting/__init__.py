"""The meeting engine: MeetBot-style commands folded over a durable log into minutes."""
