"""The agenda gathered before a meeting, and the action items followed from one meeting to the next.

- `store.py` owns the SQL; `agenda.py` and `actions.py` the rules and wording;
  `hooks.py` is what the dispatcher calls when a meeting starts, ends and is
  published; `commands.py` the chat commands, `cli.py` the CLI; `api.py` what
  other features (the schedule's reminders) read.
"""
