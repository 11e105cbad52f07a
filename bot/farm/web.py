"""The farm's web endpoints: agent reports, CI webhooks and uploads, and the published plots.

    POST /farm/report                          signed agent report (signing.py)
    POST /farm/github                          GitHub workflow_job webhook (X-Hub-Signature-256)
    POST /farm/junit?platform=P[&branch=B&url=U]         JUnit XML, Authorization: Bearer <ci token>
    POST /farm/testing-farm?platform=P[&branch=B]        Testing Farm request JSON, same token; its
                                               xunit (inline, or fetched from testing_farm_artifacts)
                                               gives the counts and failing tests
    GET  /farm/<team>/                         redirects to the archive site's farm page (one page)
    GET  /farm/<team>/<file>                   status.json and the SVG plots

Refusals say why (in a short text body) and store nothing: 401 for a
missing, bad, stale or replayed signature or token, 403 for an unknown host,
400 for a malformed body, 413 (from the web server) for one over 1 MiB.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

import aiohttp
import yarl

from bot.config.model import Config, ConfigError, Secret, Team
from bot.farm import ci, service
from bot.farm.ci_apart import xunit_counts_apart
from bot.farm.config import FarmSettings
from bot.farm.host.report import HostReport
from bot.farm.host.signing import HOST_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, ReportVerifier, github_signature_ok
from bot.farm.host.values import shorten
from bot.farm.publish import farm_dir
from bot.farm.store import CiJob, CiRun, FarmStore
from bot.features import provided
from bot.runtime import Runtime
from bot.web import app as web
from bot.web import urls

log = logging.getLogger(__name__)
_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.(svg|json)")
_TYPES = {"svg": "image/svg+xml", "json": "application/json"}
XUNIT_TIMEOUT = 20.0
MAX_REDIRECTS = 3
# A CI upload's parser: (body, platform, branch, url, teams) -> the queue job and the run it reports.
CiParser = Callable[[bytes, str, str | None, str | None, list[str]], Awaitable[tuple[CiJob | None, CiRun | None]]]


def farm_teams(rt: Runtime) -> list[tuple[str, FarmSettings]]:
    return [(team.name, settings) for team, settings in service.farm_teams(rt)]


def _secret(secret: Secret | None) -> str | None:
    """The secret's value; None (and an error in the log) where it cannot be read."""
    if secret is None:
        return None
    try:
        return secret.get()
    except ConfigError as exc:
        log.error("farm: %s", exc)
        return None


def _refuse(status: int, why: str) -> web.Response:
    return web.Response(status=status, text=why + "\n")


async def agent_file(request: web.Request) -> web.Response:
    """The single-file agent (bundle.py) for farm hosts: public, it holds no secret."""
    from bot.farm.bundle import agent_zipapp  # here: zipfile only when a host downloads the agent

    return web.Response(body=agent_zipapp(), content_type="application/zip",
                        headers={"Content-Disposition": 'attachment; filename="sigbot-farm-agent.pyz"'})


def add_routes(rt: Runtime, app: web.App) -> None:
    verifier = ReportVerifier()
    store = FarmStore(rt.store.db)

    async def report(request: web.Request) -> web.Response:
        body = await request.read()
        host = request.headers.get(HOST_HEADER, "")
        declared = [(team, s.machine(host)) for team, s in farm_teams(rt)]
        machines = [(team, m) for team, m in declared if m is not None and m.secret is not None]
        if not machines:
            log.warning("farm report from unknown host %r refused (from %s)", shorten(host), request.remote)
            return _refuse(403, "unknown host")
        now = rt.now().timestamp()
        ts, sig = request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER)
        why, good = "bad signature", None
        # A host declared by several teams: each secret is tried once, so the
        # replay memory does not mistake the second try for a replay.
        for secret in dict.fromkeys(filter(None, (_secret(m.secret) for _, m in machines))):
            if (refused := verifier.check(secret, ts, sig, body, now)) is None:
                good = secret
                break
            why = refused
        accepted = [team for team, m in machines if good is not None and _secret(m.secret) == good]
        if not accepted:
            log.warning("farm report from %s refused: %s", host, why)
            return _refuse(401, why)
        try:
            parsed = HostReport.from_json(json.loads(body))
        except (ValueError, RecursionError) as exc:
            return _refuse(400, f"malformed report: {shorten(exc, 200)}")
        if parsed.host != host:
            return _refuse(400, f"malformed report: host {shorten(parsed.host)!r} is not the signing host")
        with rt.store.transaction():
            for team in accepted:
                store.record_report(team, parsed, rt.now(), "agent")
        return web.json_response({"ok": True, "gpus": len(parsed.gpus)})

    async def github(request: web.Request) -> web.Response:
        body = await request.read()
        header = request.headers.get("X-Hub-Signature-256")
        teams = [(team, s) for team, s in farm_teams(rt)
                 if (want := _secret(s.github_secret)) and github_signature_ok(want, body, header)]
        if not teams:
            log.warning("GitHub webhook with a missing or bad signature refused (from %s)", request.remote)
            return _refuse(401, "bad or missing X-Hub-Signature-256")
        event = request.headers.get("X-GitHub-Event", "")
        if event == "ping":
            return web.json_response({"ok": True, "pong": True})
        if event != "workflow_job":
            return web.json_response({"ok": True, "ignored": shorten(event, 40)}, status=202)
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError) as exc:
            return _refuse(400, f"malformed JSON: {shorten(exc, 120)}")
        now = rt.now()
        records = []  # every team's job and run, all read before any is stored
        for team, settings in teams:
            labels = {label for m in settings.machines for label in m.labels}
            try:
                records.append((team, ci.job_state(payload, labels, now), ci.workflow_job(payload, labels, now)))
            except ValueError as exc:
                return _refuse(400, str(exc))
        return web.json_response({"ok": True, "stored": _record(records, now)})

    def _record(records: list[tuple[str, CiJob | None, CiRun | None]], now: datetime) -> int:
        """Store (team, job, run) triples in one transaction; the number of runs that were new."""
        stored = 0
        with rt.store.transaction():
            for team, job, run in records:
                if job is not None:
                    store.record_job(team, job, now)
                if run is not None:
                    stored += store.record_run(team, run)
        return stored

    def _token_teams(request: web.Request) -> list[str]:
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        return [team for team, s in farm_teams(rt)
                if token and (want := _secret(s.ci_token))
                and hmac.compare_digest(want.encode(), token.encode("utf-8", "replace"))]

    async def upload(request: web.Request, parse: CiParser) -> web.Response:
        body = await request.read()
        teams = _token_teams(request)
        if not teams:
            log.warning("CI upload to %s without a valid token refused (from %s)", request.path, request.remote)
            return _refuse(401, "missing or bad bearer token")
        try:
            platform = ci.check_platform(request.query.get("platform"))
            branch = request.query.get("branch") or None
            job, run = await parse(body, platform, branch, request.query.get("url"), teams)
        except ValueError as exc:
            return _refuse(400, str(exc))
        return web.json_response({"ok": True, "stored": _record([(team, job, run) for team in teams], rt.now())})

    async def _junit(
        body: bytes, platform: str, branch: str | None, url: str | None, teams: list[str]
    ) -> tuple[CiJob | None, CiRun | None]:
        counts = await xunit_counts_apart(body, "JUnit XML")  # in a child: the bot keeps no XML parser
        return None, ci.junit(body, platform, branch, url, rt.now(), counts)

    async def junit(request: web.Request) -> web.Response:
        return await upload(request, _junit)

    async def _testing_farm(
        body: bytes, platform: str, branch: str | None, url: str | None, teams: list[str]
    ) -> tuple[CiJob | None, CiRun | None]:
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"malformed JSON: {shorten(exc, 120)}") from None
        now = rt.now()
        # The whole request is read before anything is stored: a refused one leaves no job behind.
        job = ci.testing_farm_job(payload, platform, now)
        run = ci.testing_farm(payload, platform, branch, now)
        where = ci.testing_farm_xunit(payload) if run is not None else None
        if isinstance(where, str):
            prefixes = [prefix for team, s in farm_teams(rt) if team in teams for prefix in s.testing_farm_artifacts]
            where = await _fetch_xunit(where, prefixes)
        if where is not None:
            try:
                counts = await xunit_counts_apart(where, "Testing Farm xunit")
                run = ci.testing_farm(payload, platform, branch, now, counts=counts)
            except ValueError as exc:
                # The request itself is good: keep its overall result, say why the details are missing.
                log.warning("Testing Farm request %s: %s", shorten(payload["id"]), exc)
        return job, run

    async def testing_farm(request: web.Request) -> web.Response:
        return await upload(request, _testing_farm)

    async def page(request: web.Request) -> web.Response:
        """One farm page, the archive site's (rebuilt within a minute of every status.json change,
        bot/site/publish.py): this address leads there, so two renderings can never disagree."""
        team = rt.config.team(request.match_info["team"])
        folder = _team_folder(rt, request.match_info["team"])
        target = site_farm_page(rt.config, team) if folder is not None and team is not None else None
        if target is None:
            raise web.HTTPNotFound(text="no farm status for this team\n")
        raise web.HTTPFound(target)

    async def file(request: web.Request) -> web.StreamResponse:
        team, name = request.match_info["team"], request.match_info["name"]
        folder = _team_folder(rt, team)
        m = _FILE.fullmatch(name)
        if folder is None or m is None or not (folder / name).is_file():
            raise web.HTTPNotFound(text="no such file\n")
        return web.Response(body=(folder / name).read_bytes(), content_type=_TYPES[m.group(1)])

    app.add_post("/farm/report", report)
    app.add_post("/farm/github", github)
    app.add_post("/farm/junit", junit)
    app.add_post("/farm/testing-farm", testing_farm)
    app.add_get("/farm/agent.pyz", agent_file)  # a longer literal start than /farm/{team}/...: tried first
    app.add_get("/farm/{team}/", page)
    app.add_get("/farm/{team}/{name}", file)


async def _fetch_xunit(url: str, prefixes: list[str]) -> bytes | None:
    """The xunit at `url` if it lies under an allowed prefix; None (logged) otherwise or on any failure.

    Both are compared normalised (bot/web/urls.py) and the normalised URL is
    what is fetched; redirects are followed by hand, each target checked again."""
    try:
        timeout = aiohttp.ClientTimeout(total=XUNIT_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for _ in range(MAX_REDIRECTS + 1):
                target = urls.allowed(url, prefixes)
                if target is None:
                    log.info("Testing Farm xunit %s is not under testing_farm_artifacts; not fetched",
                             shorten(url, 120))
                    return None
                async with session.get(yarl.URL(str(target), encoded=True), allow_redirects=False) as response:
                    if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                        url = urls.resolve(target, response.headers["Location"])
                        continue
                    if response.status != 200:
                        log.warning("Testing Farm xunit %s: HTTP %d", shorten(url, 120), response.status)
                        return None
                    body = bytearray()  # read() gives one chunk at a time, not the whole body
                    while len(body) <= ci.MAX_XUNIT_BYTES and \
                            (chunk := await response.content.read(ci.MAX_XUNIT_BYTES + 1 - len(body))):
                        body += chunk
                    if len(body) > ci.MAX_XUNIT_BYTES:
                        log.warning("Testing Farm xunit %s: larger than %d bytes", shorten(url, 120),
                                    ci.MAX_XUNIT_BYTES)
                        return None
                    return bytes(body)
            log.warning("Testing Farm xunit %s: more than %d redirects", shorten(url, 120), MAX_REDIRECTS)
            return None
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
        log.warning("Testing Farm xunit %s: %s", shorten(url, 120), shorten(exc, 120))
        return None


def _team_folder(rt: Runtime, name: str) -> Path | None:
    team = rt.config.team(name)
    if team is None or not isinstance(team.sections.get("farm"), FarmSettings):
        return None
    return farm_dir(team)


def site_farm_page(config: Config, team: Team) -> str | None:
    """The address of the team's farm page on the archive site ("/<team folder>/farm.html") when the
    site feature is there and has built it."""
    site_page = provided("site_page")
    try:
        rel = team.notes_dir.resolve().relative_to(config.notes_dir.resolve()).as_posix()
    except ValueError:
        return None  # notes kept outside the notes folder are not on the site
    return site_page(config, f"{rel}/farm.html") if site_page else None
