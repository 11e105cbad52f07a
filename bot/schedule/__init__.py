"""The meeting schedule: series and their exceptions, the .ics feed, reminders, `!next` and friends.

`expand.occurrences()` is the single source of truth; everything else
(commands, CLI, reminders, feed, schedule.json) derives from it.
"""
