import logging as _logging

import pytest as _pytest
from servers.ircd import ircd, ircd_factory  # noqa: F401
from servers.services import services  # noqa: F401
from servers.synapse import synapse  # noqa: F401


@_pytest.fixture(autouse=True)
def _sigbot_log_levels_as_new():
    """`sigbot run` invoked in-process (the CLI tests) sets sigbot's own loggers' levels (setup_logging);
    tests that read the bot's INFO lines must not depend on which test ran before them."""
    for name in ("bot", "sigbot"):
        _logging.getLogger(name).setLevel(_logging.NOTSET)
    yield


# Every reply the suite makes, rendered by bot/chat/reply_markdown.py and by markdown-it-py, must be the same
# HTML, but for what a person typed that replies do not use (tests/reply_oracle.py). The texts are kept as the
# effects are made, in this process, and compared once when the session ends; a difference fails the run and
# names the reply.
_REPLIES: set[str] = set()


def pytest_configure(config):
    from bot.core.message import DirectMessage, Reply

    for cls in (Reply, DirectMessage):
        made = cls.__init__

        def keep(self, *args, __made=made, **kwargs):
            __made(self, *args, **kwargs)
            if isinstance(self.text, str):
                _REPLIES.add(self.text)

        cls.__init__ = keep


def pytest_sessionfinish(session, exitstatus):
    from reply_oracle import agrees

    differ = [text for text in sorted(_REPLIES) if not agrees(text)]
    if differ:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        for text in differ[:10]:
            reporter.write_line(f"reply rendered unlike markdown-it-py: {text!r}", red=True)
        session.exitstatus = _pytest.ExitCode.TESTS_FAILED
