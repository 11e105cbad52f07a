"""Every POST endpoint against bad input, and the URL allow-list, on sigbot's real aiohttp app on loopback.

Property-based: authenticated (signed, or with the right token) random JSON,
XML and bytes, most of them a valid body with a few values swapped for
anything JSON can say, must get a 2xx or a 4xx, never a 5xx; and a 4xx
must leave the farm's tables exactly as they were.  The examples pinned
with @example are the ones from issue 18 that used to answer 500.

The artifact host is a second aiohttp server on loopback (Testing Farm
itself is not reachable from here); it records what it was asked for.
"""

import asyncio
import copy
import hashlib
import hmac
import json
import logging
import time
from urllib.parse import quote

import aiohttp
import pytest
import yarl
from aiohttp import web
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from bot.config import parse_config
from bot.dispatch import Dispatcher
from bot.farm.host.signing import signed_headers
from bot.farm.store import FarmStore
from bot.registry import build_registry
from bot.runtime import Runtime
from bot.storage import open_store
from bot.web import urls
from bot.web.server import build_app, start_web

SECRETS = {"T_EDGE_H100": "h100-secret", "T_EDGE_GH": "gh-secret", "T_EDGE_CI": "ci-token"}
TOKEN = {"Authorization": "Bearer ci-token"}
TF_XUNIT = b"""<?xml version="1.0"?><testsuites><testsuite name="/plans/gpu" result="failed">
<testcase name="/tests/smoke" result="passed"/><testcase name="/tests/hipcc" result="failed"/>
</testsuite></testsuites>"""
JUNIT = b"""<testsuites><testsuite name="t"><testcase classname="a" name="ok"/>
<testcase classname="a" name="bad"><failure/></testcase><testcase name="s"><skipped/></testcase></testsuite>
</testsuites>"""

REPORT = {"host": "h100", "driver_version": "580.159.04", "cuda_version": "13.0", "rocm_version": None,
          "collected_at": None, "gpus": [{
              "index": 0, "name": "NVIDIA H100 80GB HBM3", "uuid": None, "bus_id": None,
              "memory_total_mib": 81559, "memory_used_mib": 100, "utilization_pct": 5,
              "temperature_c": 40, "power_w": 100, "power_limit_w": 700, "vendor": "nvidia",
              "target": None, "ecc_uncorrected": 0, "processes": [{"pid": 1, "name": "python3", "memory_mib": 10}]}]}
WORKFLOW_JOB = {"action": "completed", "workflow_job": {
    "id": 7, "name": "gpu-tests", "conclusion": "failure", "head_branch": "main", "runner_name": "h100",
    "labels": ["self-hosted", "cuda-sm90"], "html_url": "https://github.com/o/r/actions/runs/1/job/7",
    "created_at": "2026-03-02T10:00:00Z", "started_at": "2026-03-02T10:01:00Z",
    "completed_at": "2026-03-02T10:09:00Z"}}


def tf_request(xunit_url: str) -> dict:
    return {"id": "6bf8e0a2-7d19-4c39-9d4c-2b5f0c0d1e9a", "state": "complete",
            "created": "2026-03-02T10:00:00Z", "updated": "2026-03-02T10:20:00Z",
            "result": {"overall": "failed", "xunit_url": xunit_url},
            "run": {"artifacts": "https://artifacts.testing-farm.io/6bf8e0a2"}}


class Bot:
    """sigbot's app with the farm routes on loopback, an artifact host beside it, one event loop for all."""

    def __init__(self, tmp_path):
        self.loop = asyncio.new_event_loop()
        self.artifacts_asked: list[str] = []
        self.loop.run_until_complete(self._start_artifacts())
        self.prefix = f"{self.artifact_url}/allowed/"
        site = tmp_path / "site"
        (site / "ml").mkdir(parents=True)
        (site / "index.html").write_text("<p>the archive</p>")
        (site / ".manifest.json").write_text("HIDDEN")
        self.config = parse_config({
            "bot": {"data_dir": str(tmp_path), "notes_dir": str(tmp_path / "notes")}, "site": {"out": str(site)},
            "teams": [{"name": "ml", "matrix_room": "#ml:example.org", "farm": {
                "github_secret_env": "T_EDGE_GH", "ci_token_env": "T_EDGE_CI",
                "testing_farm_artifacts": [self.prefix],
                "machines": [{"name": "h100", "gpus": 1, "labels": ["cuda-sm90"], "secret_env": "T_EDGE_H100"}]}}]})
        self.rt = Runtime(self.config, Dispatcher(self.config, open_store(tmp_path / "db.sqlite"),
                                                  build_registry()))
        self.store = FarmStore(self.rt.store.db)
        self.runner = self.loop.run_until_complete(start_web(build_app(self.rt), "127.0.0.1:0"))  # every route
        self.url = self.rt.state["web_url"]
        self.http = self.loop.run_until_complete(self._session())

    async def _session(self):
        return aiohttp.ClientSession()

    async def _start_artifacts(self):
        async def artifact(request):
            self.artifacts_asked.append(request.path)
            name = request.match_info["name"]
            moves = {"allowed/redirect-in": "ok.xml", "allowed/redirect-up": "../secret.xml",
                     "allowed/redirect-out": "http://[::1]:9/allowed/ok.xml",
                     "allowed/redirect-loop": "redirect-loop"}
            if name in moves:
                raise web.HTTPFound(moves[name])
            return web.Response(body=TF_XUNIT, content_type="application/xml")

        app = web.Application()
        app.router.add_get("/{name:.*}", artifact)
        self.artifact_runner = web.AppRunner(app, access_log=None)
        await self.artifact_runner.setup()
        await web.TCPSite(self.artifact_runner, "127.0.0.1", 0).start()
        self.artifact_url = f"http://127.0.0.1:{self.artifact_runner.addresses[0][1]}"

    def post(self, path: str, body: bytes, headers: dict) -> tuple[int, str]:
        async def send():
            async with self.http.post(self.url + path, data=body, headers=headers) as response:
                return response.status, await response.text()
        return self.loop.run_until_complete(send())

    def get(self, path: str) -> tuple[int, str]:
        async def send():
            async with self.http.get(yarl.URL(self.url + path, encoded=True), allow_redirects=False) as response:
                return response.status, (await response.read()).decode("utf-8", "replace")
        return self.loop.run_until_complete(send())

    def tables(self) -> dict[str, list[dict]]:
        """Every row of the farm's tables: what a refused request must leave alone."""
        db = self.rt.store.db
        return {name: list(db[name].rows) for name in db.table_names() if name.startswith("farm_")}

    def close(self):
        self.loop.run_until_complete(self.http.close())
        self.loop.run_until_complete(self.runner.cleanup())
        self.loop.run_until_complete(self.artifact_runner.cleanup())
        self.loop.close()


@pytest.fixture(scope="module")
def bot(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        for key, value in SECRETS.items():
            mp.setenv(key, value)
        served = Bot(tmp_path_factory.mktemp("edges"))
        yield served
        served.close()


@pytest.fixture
def caplog_errors(caplog):
    caplog.set_level(logging.WARNING)
    return caplog


# --- strategies ---------------------------------------------------------------

scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=10**300, max_value=10**400)
           | st.integers(max_value=-10**300, min_value=-10**400) | st.floats() | st.text(max_size=12)
           | st.sampled_from(["complete", "queued", "completed", "failure", "cuda-sm90", "", "../x", "\r\n"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


def _slots(doc, out):
    """Every (container, key) in a JSON document, for mutating one place of it."""
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        out.append((doc, key))
        _slots(value, out)
    return out


@st.composite
def mutated(draw, template: dict):
    """`template` with up to three values replaced by any JSON, deleted, or joined by an unknown key."""
    doc = copy.deepcopy(template)
    for _ in range(draw(st.integers(0, 3))):
        slots = _slots(doc, [])
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        how = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if how == "replace":
            container[key] = draw(json_values)
        elif how == "delete":
            del container[key]
        elif isinstance(container, dict):
            container[draw(st.text(max_size=6))] = draw(json_values)
    return doc


def bodies(template: dict) -> st.SearchStrategy[bytes]:
    as_json = st.one_of(mutated(template), json_values).map(lambda doc: json.dumps(doc).encode())
    return st.one_of(as_json, as_json, st.binary(max_size=64), st.sampled_from([b"", b"[1,", b"{" * 5000]))


xml_tags = st.sampled_from(["testsuites", "testsuite", "testcase", "failure", "skipped", "error", "x"])
xml_elements = st.recursive(
    st.builds(lambda tag, attrs: f"<{tag}{attrs}/>", xml_tags,
              st.sampled_from(["", ' result="failed"', ' name="&amp;"', ' result="x" name="a\x01"'])),
    lambda inner: st.builds(lambda tag, kids: f"<{tag}>{''.join(kids)}</{tag}>", xml_tags,
                            st.lists(inner, max_size=3)), max_leaves=8)
xml_bodies = st.one_of(xml_elements.map(str.encode), st.binary(max_size=64), st.just(JUNIT),
                       st.sampled_from([b'<?xml version="1.0" encoding="no-such"?><testsuite/>',
                                        b'<!DOCTYPE x [<!ENTITY a "b">]><testsuite><testcase name="&a;"/></testsuite>',
                                        b"\xff\xfe<\x00t\x00"]))
query_values = st.one_of(st.just("cuda-sm90"), st.text(max_size=10), st.just("a" * 65))


def assert_refused_or_stored(bot, status: int, text: str, before: dict) -> None:
    # --hypothesis-show-statistics: how many examples reached the handler's checks
    event(f"HTTP {status} {text[:40] if status == 401 else ''}")
    assert status < 500, text
    if 400 <= status < 500:
        assert text.endswith("\n") and text.count("\n") == 1, text  # one short line
        assert bot.tables() == before, text  # a refusal stores nothing


PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=True)


# --- the endpoints ------------------------------------------------------------

@PROPERTY
@given(body=bodies(REPORT))
@example(body=json.dumps({**REPORT, "gpus": [{**REPORT["gpus"][0], "power_w": 10**400}]}).encode())
def test_signed_agent_reports_of_any_shape_get_a_2xx_or_a_4xx_that_stores_nothing(bot, body):
    before = bot.tables()
    status, text = bot.post("/farm/report", body, signed_headers("h100", "h100-secret", int(time.time()), body))
    assert_refused_or_stored(bot, status, text, before)


def _github(body: bytes, event: str) -> dict:
    sig = "sha256=" + hmac.new(b"gh-secret", body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": sig, "X-GitHub-Event": event}


@PROPERTY
@given(body=bodies(WORKFLOW_JOB), event=st.sampled_from(["workflow_job"] * 4 + ["ping", "push", ""]))
@example(body=json.dumps({**WORKFLOW_JOB, "action": []}).encode(), event="workflow_job")
@example(body=json.dumps({**WORKFLOW_JOB, "workflow_job": {**WORKFLOW_JOB["workflow_job"], "conclusion": {}}}).encode(),
         event="workflow_job")
def test_signed_github_webhooks_of_any_shape_get_a_2xx_or_a_4xx_that_stores_nothing(bot, body, event):
    before = bot.tables()
    status, text = bot.post("/farm/github", body, _github(body, event))
    assert_refused_or_stored(bot, status, text, before)


@PROPERTY
@given(body=xml_bodies, platform=query_values, url=st.one_of(st.none(), st.text(max_size=20)))
def test_junit_uploads_of_any_shape_get_a_2xx_or_a_4xx_that_stores_nothing(bot, body, platform, url):
    before = bot.tables()
    query = {"platform": platform, **({"url": url} if url is not None else {})}
    status, text = bot.post("/farm/junit?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items()),
                            body, TOKEN)
    assert_refused_or_stored(bot, status, text, before)


# The xunit inline, so that mutations reach its parser without any fetch; fetching is tested below.
TF_INLINE = {**tf_request(""), "result": {"overall": "failed", "xunit": TF_XUNIT.decode()}}


@PROPERTY
@given(body=bodies(TF_INLINE), platform=query_values)
@example(body=json.dumps({**TF_INLINE, "state": ["complete"]}).encode(), platform="cuda-sm90")
@example(body=json.dumps({**TF_INLINE, "result": {"overall": ["passed"]}}).encode(), platform="cuda-sm90")
def test_testing_farm_requests_of_any_shape_get_a_2xx_or_a_4xx_that_stores_nothing(bot, body, platform):
    before = bot.tables()
    status, text = bot.post(f"/farm/testing-farm?platform={quote(platform, safe='')}", body, TOKEN)
    assert_refused_or_stored(bot, status, text, before)


def test_the_requests_from_issue_18_are_refused_with_a_reason_and_no_traceback(bot, caplog_errors):
    tf = tf_request(bot.prefix + "ok.xml")
    cases = {
        "/farm/github": (json.dumps({**WORKFLOW_JOB, "action": []}).encode(), "action must be a word"),
        "/farm/testing-farm?platform=cuda-sm90": (json.dumps({**tf, "state": ["complete"]}).encode(),
                                                  "unknown state"),
        "/farm/testing-farm?platform=cuda-sm91": (
            json.dumps({**tf, "result": {"overall": ["passed"]}}).encode(), "result.overall must be a word"),
        "/farm/report": (json.dumps({**REPORT, "gpus": [{**REPORT["gpus"][0], "power_w": 10**400}]}).encode(),
                         "must be a finite number"),
    }
    before = bot.tables()
    for path, (body, why) in cases.items():
        headers = _github(body, "workflow_job") if "github" in path else \
            signed_headers("h100", "h100-secret", int(time.time()), body) if "report" in path else TOKEN
        status, text = bot.post(path, body, headers)
        assert status == 400 and why in text, (path, text)
    assert bot.tables() == before
    assert not [r for r in caplog_errors.records if r.exc_info], "no traceback for bad input"


@PROPERTY
@given(segments=st.lists(st.one_of(
    st.sampled_from(["farm", "ml", "relay", "paste", "calendar", "ml.ics", "calendar.ics", "status.json", "x.svg",
                     "index.html", ".manifest.json", "healthz", "metrics", "..", ".", "%2e%2e", "%2f", "%00", ""]),
    st.text(min_size=1, max_size=300).map(lambda text: quote(text, safe=""))), min_size=1, max_size=4))
@example(segments=["a" * 300])  # longer than a file name may be: was a 500 from the site's catch-all route
def test_any_get_path_is_answered_below_500_and_never_with_a_hidden_file(bot, segments):
    status, text = bot.get("/" + "/".join(segments))
    event(f"HTTP {status}")
    assert status < 500, text
    assert "HIDDEN" not in text


# --- URL allow-lists ----------------------------------------------------------

PREFIX = "http://host/allowed/"


@pytest.mark.parametrize(("url", "fetched"), [
    ("http://host/allowed/run/results.xml", "http://host/allowed/run/results.xml"),
    ("http://host/allowed/../secret.xml", None),
    ("http://host/allowed/%2e%2e/secret.xml", None),
    ("http://host/allowed/%2E%2e/%2e%2E/secret.xml", None),
    ("http://host/allowed/..%2fsecret.xml", None),  # an encoded / is refused, not guessed at
    ("http://host/allowed/a/../../secret.xml", None),
    ("http://host/allowed/a/./../b.xml", "http://host/allowed/b.xml"),
    ("http://host/allowed/%61.xml", "http://host/allowed/a.xml"),
    ("http://host@evil.example/allowed/x.xml", None),  # userinfo: the host is evil.example
    ("http://evil.example@host/allowed/x.xml", None),  # refused too: servers disagree on such URLs
    ("http://host/allowed\\..\\secret.xml", None),
    ("HTTP://HoSt/allowed/x.xml", "http://host/allowed/x.xml"),
    ("http://HOST./allowed/x.xml", "http://host/allowed/x.xml"),
    ("http://host:80/allowed/x.xml", "http://host/allowed/x.xml"),
    ("http://host:8080/allowed/x.xml", None),
    ("https://host/allowed/x.xml", None),
    ("http://host/Allowed/x.xml", None),  # paths are case-sensitive
    ("http://host/allowedx/x.xml", None),
    ("http://host/allowed", None),
    ("http://host.evil.example/allowed/x.xml", None),
    ("http://[::1]/allowed/x.xml", None),
    ("ftp://host/allowed/x.xml", None),
    ("http://host/allowed/x%00.xml", None),
    ("http://host/allowed/x y.xml", None),
])
def test_an_xunit_url_is_allowed_only_when_its_normalised_form_lies_under_the_prefix(url, fetched):
    found = urls.allowed(url, [PREFIX])
    assert (str(found) if found else None) == fetched


@pytest.mark.parametrize(("url", "prefix"), [
    ("http://[::1]:8080/allowed/x.xml", "http://[0:0::1]:8080/allowed/"),
    ("http://[::FFFF:127.0.0.1]/a/x", "http://[::ffff:7f00:1]/a/"),
    ("https://artifacts.testing-farm.io/r/results.xml", "https://ARTIFACTS.testing-farm.io:443/"),
])
def test_ipv6_literals_case_and_default_ports_compare_equal_when_they_name_the_same_place(url, prefix):
    assert urls.allowed(url, [prefix]) is not None


@settings(max_examples=300, deadline=None, derandomize=True)
@given(segments=st.lists(st.sampled_from(["..", ".", "%2e%2e", "%2E.", "a", "allowed", "", "%2f", "b.xml"]),
                         max_size=6))
def test_whatever_the_path_an_allowed_url_is_under_the_prefix_and_normalised(segments):
    found = urls.allowed("http://host/allowed/" + "/".join(segments), [PREFIX])
    if found is not None:
        assert found.path.startswith("/allowed/") and ".." not in found.path.split("/")
        assert urls.normalise(str(found)) == found  # fetching it asks for exactly what was checked


def _tf(bot, xunit_url: str, n: int) -> tuple[int, str]:
    request = {**tf_request(xunit_url), "id": f"6bf8e0a2-7d19-4c39-9d4c-2b5f0c0d1{n:03d}"}
    return bot.post(f"/farm/testing-farm?platform=redirect-{n}", json.dumps(request).encode(), TOKEN)


def test_xunit_urls_and_redirects_leaving_the_allowed_folder_are_never_fetched(bot):
    base = bot.artifact_url
    cases = {
        1: (f"{base}/allowed/ok.xml", ["/allowed/ok.xml"], 2),
        2: (f"{base}/allowed/../secret.xml", [], 1),
        3: (f"{base}/allowed/%2e%2e/secret.xml", [], 1),
        4: (f"{base}/allowed/redirect-in", ["/allowed/redirect-in", "/allowed/ok.xml"], 2),
        5: (f"{base}/allowed/redirect-up", ["/allowed/redirect-up"], 1),  # ../secret.xml: not followed
        6: (f"{base}/allowed/redirect-out", ["/allowed/redirect-out"], 1),  # another host: not followed
        7: (f"{base}/allowed/redirect-loop", ["/allowed/redirect-loop"] * 4, 1),  # gives up after 3
        8: (f"{base.replace('127.0.0.1', 'user@127.0.0.1')}/allowed/ok.xml", [], 1),
    }
    for n, (xunit_url, asked, cases_counted) in cases.items():
        bot.artifacts_asked.clear()
        status, text = _tf(bot, xunit_url, n)
        assert status == 200, text
        assert bot.artifacts_asked == asked, n
        [run] = bot.store.runs("ml", f"redirect-{n}")
        # With the xunit: one passed, one failed test. Without: the overall result alone.
        assert run.passed + run.failed == cases_counted, n


def test_a_calendar_feed_is_the_file_the_schedule_published_and_none_is_a_404(bot):
    """/calendar/<team>.ics serves notes/<team>/calendar.ics as written (bot/schedule/web.py): nothing built."""
    assert bot.get("/calendar/ml.ics") == (404, "no schedule is published here")  # ml has no schedule
    assert bot.get("/calendar.ics")[0] == 404
    assert bot.get("/calendar/nobody.ics") == (404, "no such team")
    published = bot.config.team("ml").notes_dir / "calendar.ics"
    published.parent.mkdir(parents=True, exist_ok=True)
    published.write_bytes(b"BEGIN:VCALENDAR\r\nX-WR-CALNAME:ml meetings\r\nEND:VCALENDAR\r\n")
    async def conditional() -> tuple[str, int]:
        async with bot.http.get(bot.url + "/calendar/ml.ics") as first:
            kind, etag = first.headers["Content-Type"], first.headers["ETag"]
        async with bot.http.get(bot.url + "/calendar/ml.ics", headers={"If-None-Match": etag}) as again:
            return kind, again.status

    try:
        assert bot.get("/calendar/ml.ics") == (200, published.read_bytes().decode())
        # A calendar client polling an unchanged feed is told so, not sent it again.
        assert bot.loop.run_until_complete(conditional()) == ("text/calendar; charset=utf-8", 304)
    finally:
        published.unlink()
