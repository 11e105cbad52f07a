"""The single-file farm agent: a zipapp of the agent and its parsers.

A farm host runs `python3 sigbot-farm-agent.pyz --url ...` with nothing but
Python's standard library. sigbot serves the file at `/farm/agent.pyz` and
`sigbot farm bundle-agent OUT` writes it, both built from the installed
package, so the agent is always the version of the bot it reports to.
"""

from __future__ import annotations

import io
import zipfile
from importlib.resources import files

# The agent is the package bot.farm.host, whole (standard library only: a test runs the
# bundle under `python3 -I -S`, where any other import fails).
_MAIN = ('"""sigbot\'s farm agent; `python3 sigbot-farm-agent.pyz --help`."""\n'
         "import sys\n\nfrom bot.farm.host.cli import main\n\n"
         'sys.exit(main(prog="sigbot-farm-agent.pyz"))\n')
# Fixed zip timestamps: the same package gives the same bytes (and ETag-friendly downloads).
_EPOCH = (2020, 1, 1, 0, 0, 0)


def agent_zipapp() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        def put(name: str, text: str) -> None:
            z.writestr(zipfile.ZipInfo(name, _EPOCH), text.encode("utf-8"), zipfile.ZIP_DEFLATED)

        put("__main__.py", _MAIN)
        put("bot/__init__.py", '"""sigbot\'s farm agent, bundled alone."""\n')
        put("bot/farm/__init__.py", "")
        host = files("bot.farm.host")
        for module in sorted(host.iterdir(), key=lambda m: m.name):
            if module.name.endswith(".py"):
                put(f"bot/farm/host/{module.name}", module.read_text(encoding="utf-8"))
    return b"#!/usr/bin/env python3\n" + out.getvalue()
