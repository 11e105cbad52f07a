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
