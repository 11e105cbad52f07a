"""Drive the pure meeting engine like a conversation: say("nick", "#info ...")."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot.core.message import Effect, LineKind, React, Reply
from bot.meeting import engine
from bot.meeting.minutes import Minutes, build_minutes
from bot.meeting.model import LogLine, MeetingState
from bot.registry import build_registry

START = datetime(2025, 8, 21, 2, 0, 0, tzinfo=timezone.utc)


class Talk:
    def __init__(self, room: str = "#wg") -> None:
        self.room = room
        self.registry = build_registry()
        self.state: MeetingState | None = None
        self.clock = START
        self.log: list[LogLine] = []

    def say(self, nick: str, text: str, kind: LineKind = LineKind.SAID, privileged: bool = False,
            sender: str | None = None) -> list[Effect]:
        self.clock += timedelta(seconds=30)
        effects: list[Effect] = []
        for part in engine.split_lines(text):
            line = LogLine(0, self.clock, nick, sender or nick, kind, part, privileged=privileged,
                           event_id=f"$e{len(self.log)}")
            self.log.append(line)
            if self.state is None:
                call = self.registry.parse(part)
                if call is None or call.command.name != "startmeeting":
                    continue
                self.state = engine.begin(line, self.room)
            effects += engine.apply(self.state, line, self.registry)
        return effects

    def replies(self, nick: str, text: str, **kw) -> list[str]:
        return [e.text for e in self.say(nick, text, **kw) if isinstance(e, Reply)]

    def acked(self, nick: str, text: str, **kw) -> bool:
        effects = self.say(nick, text, **kw)
        return any(isinstance(e, React) for e in effects) and not any(isinstance(e, Reply) for e in effects)

    def minutes(self) -> Minutes:
        assert self.state is not None
        return build_minutes(self.state)
