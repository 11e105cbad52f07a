"""Who is in which of our channels, and their services accounts (pure state).

Accounts come from account-tag, extended-join, account-notify and WHOX; a
nick whose account is unknown is simply absent. Names are compared folded by
the server's CASEMAPPING, and reported with the channel's own spelling.
"""

from __future__ import annotations

from bot.chat.irc_proto import casefold

NOT_LOGGED_IN = {"*", "0", ""}  # extended-join/account-notify say "*", WHOX says "0"


class Tracker:
    def __init__(self, casemapping: str = "rfc1459"):
        self.casemapping = casemapping
        self.names: dict[str, str] = {}  # folded channel -> channel as first seen
        self.members: dict[str, set[str]] = {}  # folded channel -> folded nicks
        self.ours: set[str] = set()  # folded channels we are in
        self.accounts: dict[str, str | None] = {}  # folded nick -> account, None: not logged in

    def _fold(self, name: str) -> str:
        return casefold(name, self.casemapping)

    def is_in(self, channel: str) -> bool:
        return self._fold(channel) in self.ours

    def account(self, nick: str) -> str | None:
        return self.accounts.get(self._fold(nick))

    def set_account(self, nick: str, account: str) -> None:
        self.accounts[self._fold(nick)] = None if account in NOT_LOGGED_IN else account

    def join(self, channel: str, nick: str, us: bool = False) -> None:
        key = self._fold(channel)
        self.names.setdefault(key, channel)
        self.members.setdefault(key, set()).add(self._fold(nick))
        if us:
            self.ours.add(key)

    def part(self, channel: str, nick: str, us: bool = False) -> None:
        key = self._fold(channel)
        if us:
            self.ours.discard(key)
            for member in self.members.pop(key, set()):
                self._forget_if_unseen(member)
            return
        self.members.get(key, set()).discard(self._fold(nick))
        self._forget_if_unseen(self._fold(nick))

    def quit(self, nick: str) -> list[str]:
        """Forget ``nick``; return the channels it shared with us."""
        folded = self._fold(nick)
        channels = self.channels_of(nick)
        for key in self.members:
            self.members[key].discard(folded)
        self.accounts.pop(folded, None)
        return channels

    def rename(self, old: str, new: str) -> list[str]:
        """Follow a nick change; return the channels the nick shares with us."""
        folded_old, folded_new = self._fold(old), self._fold(new)
        channels = self.channels_of(old)
        for members in self.members.values():
            if folded_old in members:
                members.discard(folded_old)
                members.add(folded_new)
        if folded_old in self.accounts:
            self.accounts[folded_new] = self.accounts.pop(folded_old)
        return channels

    def channels_of(self, nick: str) -> list[str]:
        """The channels ``nick`` shares with us, as first seen."""
        folded = self._fold(nick)
        return [self.names[key] for key, members in self.members.items() if folded in members]

    def _forget_if_unseen(self, folded_nick: str) -> None:
        if not any(folded_nick in members for members in self.members.values()):
            self.accounts.pop(folded_nick, None)
