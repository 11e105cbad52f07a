"""The layers of bot/ are enforced, not claimed: who may import whom, and which library where.

Every import counts, at the top of a module or inside a function; only imports
under `if TYPE_CHECKING:` (types, never run) are left out. The rules, from the
bottom up (docs/extending.md):

- the core (`bot.core`, `bot.config`, `bot.features`, `bot.storage`, the meeting
  engine `bot.meeting`, `bot.dispatch`, `bot.runtime`, `bot.metrics`) never
  imports a feature, an adapter or the edge;
- a feature (agenda, schedule, loans, farm, site, relay) imports the core, the
  web server's helpers and itself, never another feature (they meet through
  declared hooks and `bot.features.provided`); the relay, which joins the two
  networks, may use the chat adapters;
- adapter libraries stay in their adapter: matrix-nio in bot/chat/matrix*.py,
  sockets in the IRC client, aiohttp in the web server, the features' route
  modules, the Matrix adapter and the farm's scraper, sqlite3 and sqlite_utils
  in storage and the features' stores;
- no import cycle between the packages of bot/;
- the farm host package (`bot.farm.host`: the agent and its parsers) imports
  the standard library and itself only, so a farm host runs it with nothing else.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[1] / "bot"
CORE = {"bot.core", "bot.config", "bot.features", "bot.storage", "bot.meeting", "bot.dispatch", "bot.runtime",
        "bot.metrics", "bot"}
FEATURES = {"bot.agenda", "bot.schedule", "bot.loans", "bot.farm", "bot.site", "bot.relay"}
INFRA = {"bot.web"}  # the one web server and its helpers, for the features' routes
ADAPTERS = {"bot.chat"}
# Where each adapter library may be imported (module names, or package prefixes ending in ".").
LIBRARIES = {
    "nio": ("bot.chat.matrix", "bot.chat.matrix_crypto", "bot.chat.matrix_state", "bot.chat.matrix_events"),
    "socket": ("bot.chat.irc",),
    "aiohttp": ("bot.web.", "bot.farm.web", "bot.relay.web", "bot.schedule.web", "bot.site.routes",
                "bot.loans.web", "bot.chat.matrix", "bot.farm.scrape"),
    "sqlite3": ("bot.storage.", "bot.agenda.store", "bot.relay.store", "bot.schedule.store", "bot.loans.store",
                "bot.farm.store"),
    "sqlite_utils": ("bot.storage.", "bot.agenda.store", "bot.relay.store", "bot.schedule.store",
                     "bot.loans.store", "bot.farm.store"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(BOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def imports(path: Path) -> set[str]:
    """Every module `path` imports when it runs (TYPE_CHECKING blocks left out), as full dotted names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(block.test) for node in ast.walk(block)}
    found: set[str] = set()
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


MODULES = {module_name(p): imports(p) for p in sorted(BOT.rglob("*.py"))}


def bot_imports(module: str) -> set[str]:
    """The bot modules and packages `module` imports (a `from bot.x import name` counts as bot.x)."""
    known = set(MODULES)
    out = set()
    for name in MODULES[module]:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name.startswith("bot") and name != module:
            out.add(name)
    return out


def layer(package: str) -> str:
    if package in CORE:
        return "core"
    if package in FEATURES:
        return "feature"
    if package in INFRA:
        return "infra"
    if package in ADAPTERS:
        return "adapter"
    return "edge"  # bot.cli, bot.run, bot.app, bot.registry, bot.__main__: they wire everything


def test_the_core_imports_no_feature_adapter_or_edge():
    wrong = [(m, i) for m in MODULES if layer(package_of(m)) == "core"
             for i in bot_imports(m) if layer(package_of(i)) != "core"]
    assert not wrong, wrong


def test_features_never_import_each_other():
    wrong = []
    for m in MODULES:
        mine = package_of(m)
        if layer(mine) != "feature":
            continue
        for i in bot_imports(m):
            theirs = package_of(i)
            if theirs == mine or layer(theirs) in ("core", "infra"):
                continue
            if mine == "bot.relay" and theirs == "bot.chat":
                continue  # the relay joins the two chat adapters
            wrong.append((m, i))
    assert not wrong, wrong


def test_infra_and_adapters_import_no_feature():
    wrong = [(m, i) for m in MODULES if layer(package_of(m)) in ("infra", "adapter")
             for i in bot_imports(m) if layer(package_of(i)) in ("feature", "edge")]
    assert not wrong, wrong


@pytest.mark.parametrize("library", sorted(LIBRARIES))
def test_each_adapter_library_stays_in_its_adapter(library):
    allowed = LIBRARIES[library]
    wrong = sorted(m for m, found in MODULES.items()
                   if any(name == library or name.startswith(library + ".") for name in found)
                   and not any(m == a.rstrip(".") or (a.endswith(".") and m.startswith(a)) for a in allowed))
    assert not wrong, f"{library} imported by {wrong}"


def test_there_is_no_import_cycle_between_the_packages_of_bot():
    graph: dict[str, set[str]] = defaultdict(set)
    for m in MODULES:
        for i in bot_imports(m):
            if package_of(i) != package_of(m) and package_of(i) != "bot":
                graph[package_of(m)].add(package_of(i))
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in path:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif len(path) < 12:
                visit(nxt, path + [nxt])

    for start in sorted(graph):
        visit(start, [start])
    assert not cycles, cycles[:5]


def test_the_farm_host_package_needs_nothing_but_the_standard_library():
    host = [m for m in MODULES if m == "bot.farm.host" or m.startswith("bot.farm.host.")]
    assert len(host) >= 9, host  # the agent, its CLI, the report and the vendor parsers
    wrong = sorted((m, name) for m in host for name in MODULES[m]
                   if name.split(".")[0] not in sys.stdlib_module_names | {"__future__"}
                   and not (name == "bot.farm.host" or name.startswith("bot.farm.host.")))
    assert not wrong, wrong


def test_the_rules_see_what_they_claim_to_see():
    """A check that cannot fail proves nothing: the scanner must find imports it is meant to find."""
    assert "bot.dispatch" in bot_imports("bot.runtime")
    assert any(n == "nio" or n.startswith("nio.") for n in MODULES["bot.chat.matrix"])
    assert "bot.core.commands" in bot_imports("bot.agenda.commands")
    # An import inside a function counts; one under TYPE_CHECKING does not.
    assert "bot.runtime" not in bot_imports("bot.meeting.timers")
    assert "prometheus_client.parser" in MODULES["bot.farm.prometheus"]  # why it is not in bot.farm.host


# Libraries the resident bot does without (issue 14: memory). Each is imported where it is used, by a
# command line (jinja2 for `notes replay`), a child process (the site build with jinja2 and markdown-it,
# a meeting's Markdown and the address form's page with jinja2, calendar feeds with icalendar, a CI
# upload's XML), a first use (the Prometheus parser when a farm scrapes exporters: it stays), or not at
# all (the version is a literal; /metrics is written by bot/metrics.py; replies are rendered by
# bot/chat/reply_markdown.py; routes and files are served by bot/web/app.py on aiohttp's low-level
# server, without aiohttp.web's application layer).
NOT_RESIDENT = ("prometheus_client", "importlib.metadata", "jinja2", "icalendar", "xml.etree", "defusedxml",
                "aiohttp.web", "aiohttp.web_app", "aiohttp.web_urldispatcher", "aiohttp.web_fileresponse",
                "matplotlib", "bot.site.build", "http.server", "wsgiref", "markdown_it", "markupsafe")


def test_the_resident_bot_does_not_import_what_it_does_not_use():
    """What `sigbot run` loads before its first line: its modules, every command, hook, service and route."""
    probe = ("import sys, bot.run\n"
             "from bot.core.feature import HOOKS\n"
             "from bot.core.targets import load\n"
             "from bot.features import hooks, targets\n"
             "from bot.registry import build_registry\n"
             "build_registry()\n"
             "[hooks(name) for name in HOOKS]\n"
             "[load(t) for kind in ('services', 'web_routes', 'config_checks') for t in targets(kind)]\n"
             f"print(' '.join(m for m in {NOT_RESIDENT!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=BOT.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [], f"the resident bot imports {done.stdout.strip()}"
