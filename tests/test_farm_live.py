"""The farm's endpoints on a real socket: the agent as a subprocess, webhooks, uploads, a Prometheus exporter.

No GPU machine is available in CI: a fake `nvidia-smi` on PATH prints the
output captured on a real H100 (tests/farm/fixtures/nvidia/).  Everything
else is real: sigbot's aiohttp app on loopback, `sigbot farm-agent` as a
process, HTTP with signatures.
"""

import asyncio
import hashlib
import hmac
import json
import os
import stat
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.config import parse_config
from bot.dispatch import Dispatcher
from bot.farm import scrape
from bot.farm.host.report import HostReport
from bot.farm.host.signing import signed_headers
from bot.farm.store import FarmStore
from bot.registry import build_registry
from bot.runtime import Runtime
from bot.storage import open_store
from bot.web.server import build_app, start_web

FIX = Path(__file__).resolve().parent / "farm" / "fixtures"
SIGBOT = Path(sys.executable).with_name("sigbot")
SECRETS = {"T_FARM_H100": "h100-secret", "T_FARM_GH": "gh-secret", "T_FARM_CI": "ci-token"}


@pytest.fixture
def farm(tmp_path, monkeypatch):
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    config = parse_config({
        "bot": {"notes_dir": "notes"},
        "teams": [{"name": "ml", "matrix_room": "#ml:example.org", "farm": {
            "interval_seconds": 10, "github_secret_env": "T_FARM_GH", "ci_token_env": "T_FARM_CI",
            "machines": [
                {"name": "h100", "gpus": 1, "labels": ["cuda-sm90"], "secret_env": "T_FARM_H100"},
                {"name": "mi300", "gpus": 2, "labels": ["rocm-gfx942"], "prometheus": "http://127.0.0.1:1/metrics"},
            ]}}]}, tmp_path / "sigbot.toml")
    rt = Runtime(config, Dispatcher(config, open_store(tmp_path / "db.sqlite"), build_registry()))
    return rt, FarmStore(rt.store.db)


async def _loopback_server(path: str, handler) -> tuple[web.AppRunner, int]:
    """A second HTTP server on loopback (an exporter, an artifact host) answering GET `path`."""
    app = web.Application()
    app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, runner.addresses[0][1]


async def _serve(rt):
    runner = await start_web(build_app(rt, ["bot.farm.web:add_routes"]), "127.0.0.1:0")
    return runner, rt.state["web_url"]


def _fake_nvidia_smi(folder: Path) -> Path:
    """nvidia-smi that answers the agent's queries with the real H100 capture under load."""
    folder.mkdir()
    script = folder / "nvidia-smi"
    n = FIX / "nvidia"
    script.write_text(f"""#!/bin/sh
case "$*" in
  *--query-gpu=*) cat '{n}/h100-load-wide.csv' ;;
  *--query-compute-apps=*) cat '{n}/h100-load-apps.csv' ;;
  *--version*) cat '{n}/h100-version.txt' ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder


def test_the_agent_reports_a_real_h100_capture_to_sigbot_over_loopback(farm, tmp_path):
    rt, store = farm
    env = {**os.environ, "PATH": f"{_fake_nvidia_smi(tmp_path / 'bin')}:/usr/bin:/bin",
           "SIGBOT_FARM_SECRET": "h100-secret"}

    async def main():
        runner, url = await _serve(rt)
        try:
            agent = await asyncio.create_subprocess_exec(
                str(SIGBOT), "farm-agent", "--url", url + "/farm/report", "--host", "h100", "--once", env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            out, _ = await asyncio.wait_for(agent.communicate(), 60)
            wrong = await asyncio.create_subprocess_exec(
                str(SIGBOT), "farm-agent", "--url", url + "/farm/report", "--host", "h100", "--once",
                env={**env, "SIGBOT_FARM_SECRET": "guessed"},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            wrong_out, _ = await asyncio.wait_for(wrong.communicate(), 60)
            return agent.returncode, out.decode(), wrong.returncode, wrong_out.decode()
        finally:
            await runner.cleanup()

    rc, out, wrong_rc, wrong_out = asyncio.run(main())
    assert rc == 0, out
    seen = store.host("ml", "h100")
    gpu = seen.report.gpus[0]
    assert (gpu.name, gpu.memory_total_mib, gpu.memory_used_mib, gpu.utilization_pct) == \
        ("NVIDIA H100 80GB HBM3", 81559, 16227, 100.0)
    assert (gpu.temperature_c, gpu.power_w, gpu.power_limit_w, gpu.target) == (62.0, 690.5, 700.0, "sm_90")
    assert [(p.pid, p.memory_mib) for p in gpu.processes] == [(506, 13418), (507, 2794)]
    assert (seen.report.driver_version, seen.report.cuda_version) == ("580.159.04", "13.0")
    assert wrong_rc == 1 and "401 bad signature" in wrong_out
    assert store.counts()["farm_samples"] == 1  # the refused report stored nothing


def test_the_agent_prints_a_report_without_gpu_tools_as_an_empty_list(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    import subprocess
    done = subprocess.run([str(SIGBOT), "farm-agent", "--once", "--print", "--host", "bare"],
                          env={**os.environ, "PATH": f"{empty}:/usr/bin:/bin"}, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["gpus"] == [] and json.loads(done.stdout)["host"] == "bare"


async def _post(url: str, body: bytes, headers: dict) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=body, headers=headers) as response:
            return response.status, await response.text()


def _report(host="h100", process="python3") -> bytes:
    return json.dumps({"host": host, "driver_version": "580.159.04", "cuda_version": "13.0", "rocm_version": None,
                       "collected_at": None, "gpus": [{
                           "index": 0, "name": "NVIDIA H100 80GB HBM3", "uuid": None, "bus_id": None,
                           "memory_total_mib": 81559, "memory_used_mib": 100, "utilization_pct": 5,
                           "temperature_c": 40, "power_w": 100, "power_limit_w": 700, "vendor": "nvidia",
                           "target": None, "ecc_uncorrected": 0,
                           "processes": [{"pid": 1, "name": process, "memory_mib": 10}]}]}).encode()


def test_reports_that_are_unsigned_badly_signed_stale_replayed_oversized_or_malformed_store_nothing(farm):
    rt, store = farm

    async def main():
        runner, url = await _serve(rt)
        report_url = url + "/farm/report"
        body = _report()
        now = int(time.time())
        good = signed_headers("h100", "h100-secret", now, body)
        results = {
            "unsigned": await _post(report_url, body, {"X-Sigbot-Host": "h100"}),
            "bad signature": await _post(report_url, body, {**good, "X-Sigbot-Signature": "sha256=" + "0" * 64}),
            "stale": await _post(report_url, body, signed_headers("h100", "h100-secret", now - 3600, body)),
            "unknown host": await _post(report_url, body, signed_headers("gpu9", "h100-secret", now, body)),
            "oversized": await _post(report_url, b"x" * (2 * 1024 * 1024),
                                     signed_headers("h100", "h100-secret", now, b"x")),
            "good": await _post(report_url, body, good),
            "replayed": await _post(report_url, body, good),
        }
        for name, bad in (("malformed", b"{not json"), ("not a report", b'{"host": "h100"}'),
                          ("other host", _report("gpu2"))):
            results[name] = await _post(report_url, bad, signed_headers("h100", "h100-secret", now, bad))
        await runner.cleanup()
        return results

    r = asyncio.run(main())
    assert r["unsigned"] == (401, "unsigned\n") and r["bad signature"] == (401, "bad signature\n")
    assert r["stale"] == (401, "stale timestamp\n") and r["replayed"] == (401, "replayed\n")
    assert r["unknown host"] == (403, "unknown host\n") and r["oversized"][0] == 413
    assert r["good"][0] == 200
    assert r["malformed"][0] == 400 and "malformed report" in r["malformed"][1]
    assert r["not a report"][0] == 400 and "missing key" in r["not a report"][1]
    assert r["other host"][0] == 400 and "not the signing host" in r["other host"][1]
    assert store.counts()["farm_samples"] == 1  # only the good one


def test_an_injection_attempt_in_a_host_or_process_name_reaches_neither_chat_nor_page(farm, tmp_path):
    rt, store = farm
    evil = '<script>alert(1)</script>[x](javascript:alert(1))'

    async def main():
        # The farm's endpoints and, since there is one farm page, the archive site that shows it.
        runner = await start_web(build_app(rt, ["bot.farm.web:add_routes", "bot.site.routes:add_routes"]),
                                 "127.0.0.1:0")
        url = rt.state["web_url"]
        body = _report(process=evil)
        ok = await _post(url + "/farm/report", body, signed_headers("h100", "h100-secret", int(time.time()), body))
        bad_host = _report(host="h100\r\nPRIVMSG #x :hi")
        refused = await _post(url + "/farm/report", bad_host,
                              signed_headers("h100", "h100-secret", int(time.time()), bad_host))
        from bot.farm.service import publish
        from bot.site.build import build_site
        from bot.site.config import SiteOptions, site_settings
        publish(rt, datetime.now(timezone.utc))
        build_site(rt.config.notes_dir, site_settings(rt.config).out, SiteOptions())
        async with aiohttp.ClientSession() as session:
            async with session.get(url + "/farm/ml/") as response:
                page = await response.text()
            async with session.get(url + "/farm/ml/../../sigbot.toml") as response:
                traversal = response.status
        await runner.cleanup()
        return ok, refused, page, traversal

    ok, refused, page, traversal = asyncio.run(main())
    assert ok[0] == 200 and refused[0] == 400 and traversal == 404
    assert "<script>" not in page, page
    assert "h100" in page, page
    assert "h100-day.svg" in page, page
    from bot.core.message import Message, Network, Reply

    reply = next(
        e.text
        for e in rt.dispatcher.handle(
            Message(
                Network.IRC, "#ml:example.org", "irc:a", "a", "!farm h100", datetime.now(timezone.utc), event_id="e1"
            )
        )
        if isinstance(e, Reply)
    )
    assert "\\<script\\>" in reply and "\\[x\\]" in reply


def _github(secret: str, payload: dict, event="workflow_job") -> tuple[bytes, dict]:
    body = json.dumps(payload).encode()
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Hub-Signature-256": sig, "X-GitHub-Event": event, "Content-Type": "application/json"}


def _job(job_id: int, conclusion: str, action="completed") -> dict:
    return {"action": action, "workflow_job": {
        "id": job_id, "name": "test-rocm", "conclusion": conclusion, "head_branch": "main",
        "labels": ["self-hosted", "rocm-gfx942"], "html_url": f"https://github.com/o/r/actions/runs/1/job/{job_id}",
        "completed_at": f"2026-03-02T10:0{job_id}:00Z"}}


JUNIT = b"""<?xml version="1.0"?>
<testsuites><testsuite name="torch" tests="4" failures="1" errors="1" skipped="1">
<testcase classname="test_ops" name="test_add"/>
<testcase classname="test_ops" name="test_mul"><failure message="bad"/></testcase>
<testcase classname="test_nn" name="test_conv"><error/></testcase>
<testcase classname="test_nn" name="test_big"><skipped/></testcase>
</testsuite></testsuites>"""
BOMB = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>
<testsuite><testcase name="&lol2;"/></testsuite>"""


def test_ci_webhooks_and_uploads_are_stored_only_with_good_signatures_and_tokens(farm):
    rt, store = farm

    async def main():
        runner, url = await _serve(rt)
        out = {}
        out["gh good 1"] = await _post(url + "/farm/github", *_github("gh-secret", _job(1, "failure")))
        out["gh good 2"] = await _post(url + "/farm/github", *_github("gh-secret", _job(2, "failure")))
        out["gh queued"] = await _post(url + "/farm/github", *_github("gh-secret", _job(3, None, "queued")))
        out["gh redelivered"] = await _post(url + "/farm/github", *_github("gh-secret", _job(2, "failure")))
        out["gh bad"] = await _post(url + "/farm/github", *_github("wrong", _job(4, "success")))
        body, headers = _github("gh-secret", _job(5, "success"))
        out["gh unsigned"] = await _post(url + "/farm/github", body, {"X-GitHub-Event": "workflow_job"})
        out["gh ping"] = await _post(url + "/farm/github", *_github("gh-secret", {"zen": "hi"}, "ping"))
        auth = {"Authorization": "Bearer ci-token"}
        junit = url + "/farm/junit?platform=rocm-gfx1100&branch=main&url=https://ci.example/9"
        out["junit good"] = await _post(junit, JUNIT, auth)
        out["junit bad token"] = await _post(junit, JUNIT, {"Authorization": "Bearer nope"})
        out["junit no token"] = await _post(junit, JUNIT, {})
        out["junit malformed"] = await _post(junit, b"<testsuite><testcase", auth)
        out["junit bomb"] = await _post(junit, BOMB, auth)
        out["junit no platform"] = await _post(url + "/farm/junit", JUNIT, auth)
        tf = {"id": "6bf8e0a2-7d19-4c39-9d4c-2b5f0c0d1e9a", "state": "complete",
              "result": {"overall": "passed", "xunit_url": "https://artifacts.testing-farm.io/6bf8/results.xml"}}
        tf_url = url + "/farm/testing-farm?platform=cuda-sm90&branch=main"
        out["tf good"] = await _post(tf_url, json.dumps(tf).encode(), auth)
        out["tf bad token"] = await _post(tf_url, json.dumps(tf).encode(), {"Authorization": "Bearer x"})
        out["tf malformed"] = await _post(tf_url, b"[1,", auth)
        await runner.cleanup()
        return out

    r = asyncio.run(main())
    assert (
        r["gh good 1"] == (200, '{"ok": true, "stored": 1}') and r["gh redelivered"][1] == '{"ok": true, "stored": 0}'
    )
    assert r["gh queued"][1] == '{"ok": true, "stored": 0}' and r["gh ping"][0] == 200
    assert r["gh bad"][0] == 401 and r["gh unsigned"][0] == 401
    assert r["junit good"][0] == 200 and r["tf good"][0] == 200
    assert {r[k][0] for k in ("junit bad token", "junit no token", "tf bad token")} == {401}
    assert r["junit malformed"][0] == 400 and "not well-formed" in r["junit malformed"][1]
    assert r["junit bomb"][0] == 400 and "refused" in r["junit bomb"][1]
    assert r["junit no platform"][0] == 400 and r["tf malformed"][0] == 400
    runs = {run.platform: run for run in store.runs("ml")}
    assert set(runs) == {"rocm-gfx942", "rocm-gfx1100", "cuda-sm90"}
    j = runs["rocm-gfx1100"]
    assert (j.passed, j.failed, j.skipped, j.failing) == (1, 2, 1, ("test_ops.test_mul", "test_nn.test_conv"))
    assert j.url == "https://ci.example/9" and runs["cuda-sm90"].result == "passed"
    assert [x.result for x in store.runs("ml", "rocm-gfx942")] == ["failed", "failed"]
    from bot.farm.service import tick
    posts = [e.text for e in tick(rt, datetime(2026, 3, 2, 10, 30, tzinfo=timezone.utc))]
    assert "🔴 CI on rocm-gfx942 failed twice in a row on main" in posts


def test_a_prometheus_exporter_on_loopback_is_scraped_into_the_machine_report(farm):
    rt, store = farm
    text = (FIX / "prometheus" / "amd-device-metrics-exporter-mi300x.prom").read_text()

    async def metrics(request):
        return web.Response(text=text, content_type="text/plain")

    async def main():
        runner, port = await _loopback_server("/metrics", metrics)
        machine = rt.config.team("ml").sections["farm"].machine("mi300")
        from dataclasses import replace
        targets = [("ml", 10, replace(machine, prometheus=f"http://127.0.0.1:{port}/metrics")),
                   ("ml", 10, replace(machine, prometheus=f"http://127.0.0.1:{port}/missing"))]
        async with aiohttp.ClientSession(timeout=scrape.TIMEOUT) as session:
            answered = await scrape.scrape_once(session, store, targets, datetime.now(timezone.utc), rt)
        await runner.cleanup()
        return answered

    assert asyncio.run(main()) == 1  # the 404 is logged, not fatal
    seen = store.host("ml", "mi300")
    assert seen.source == "prometheus" and len(seen.report.gpus) == 2
    g0 = seen.report.gpus[0]
    assert (g0.utilization_pct, g0.temperature_c, g0.memory_total_mib, g0.power_w) == (37.0, 58.0, 196592, 352.0)


def test_a_prometheus_server_answer_reads_like_an_exporter_scrape():
    answer = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "DCGM_FI_DEV_GPU_TEMP", "gpu": "0", "UUID": "GPU-1", "Hostname": "a100",
                    "modelName": 'NVIDIA "A100"'}, "value": [1767225600, "71"]},
        {"metric": {"__name__": "DCGM_FI_DEV_GPU_UTIL", "gpu": "0", "UUID": "GPU-1", "Hostname": "a100"},
         "value": [1767225600, "88"]}]}}
    from bot.farm.prometheus import parse_prometheus
    [report] = parse_prometheus(scrape.vector_to_text(answer))
    assert (report.host, report.gpus[0].temperature_c, report.gpus[0].utilization_pct) == ("a100", 71.0, 88.0)
    with pytest.raises(ValueError, match="did not succeed"):
        scrape.vector_to_text({"status": "error"})


def _queue_event(job_id: int, action: str, labels: list[str], created: datetime, runner: str | None = None) -> dict:
    stamp = created.isoformat().replace("+00:00", "Z")
    return {"action": action, "workflow_job": {
        "id": job_id, "name": f"gpu-tests-{job_id}", "labels": labels, "head_branch": "main", "conclusion": None,
        "created_at": stamp, "started_at": stamp if action != "queued" else None, "runner_name": runner,
        "html_url": f"https://github.com/o/r/actions/runs/7/job/{job_id}"}}


def test_workflow_job_webhooks_fill_the_ci_queue_that_farm_shows(farm):
    rt, store = farm
    from bot.core.message import Message, Network, Reply
    now = datetime.now(timezone.utc).replace(microsecond=0)
    rocm, cuda = ["self-hosted", "rocm-gfx942"], ["self-hosted", "cuda-sm90"]
    events = [
        _queue_event(21, "queued", rocm, now - timedelta(minutes=17)),
        _queue_event(22, "queued", rocm, now - timedelta(minutes=2)),
        _queue_event(23, "in_progress", cuda, now - timedelta(minutes=4), runner="h100"),
        _queue_event(23, "queued", cuda, now - timedelta(minutes=4)),  # arrives late: ignored
        _queue_event(24, "queued", ["ubuntu-latest"], now),  # GitHub-hosted: not the farm's
        _queue_event(25, "queued", rocm, now - timedelta(minutes=30)),
        {**_queue_event(25, "completed", rocm, now - timedelta(minutes=30), runner="mi300"),
         "workflow_job": {**_queue_event(25, "completed", rocm, now)["workflow_job"], "conclusion": "success",
                          "completed_at": now.isoformat()}},
    ]

    async def main():
        runner, url = await _serve(rt)
        try:
            return [await _post(url + "/farm/github", *_github("gh-secret", e)) for e in events]
        finally:
            await runner.cleanup()

    answers = asyncio.run(main())
    assert [a[0] for a in answers] == [200] * len(events)
    assert answers[-1][1] == '{"ok": true, "stored": 1}'  # the completed job is also a run
    store.record_report("ml", HostReport.from_json(json.loads(_report())), now, "agent")

    def say(text):
        msg = Message(Network.MATRIX, "#ml:example.org", "@alice:example.org", "alice", text, now, event_id=text)
        return "\n".join(e.text for e in rt.dispatcher.handle(msg) if isinstance(e, Reply))

    answer = say("!farm")
    assert "2 CI job(s) waiting (longest 17 min), 1 running" in answer, answer
    assert "Queue: rocm-gfx942 2 waiting, cuda-sm90 1 running" in answer
    assert "1/2 machines online, 1 busy" in answer and "| h100 | busy |" in answer
    assert "CI: gpu-tests-23 (cuda-sm90)" in say("!farm h100")


# A Testing Farm results.xml (tmt's xunit): outcomes in result attributes.
TF_XUNIT = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuites overall-result="failed">
  <testsuite name="/plans/gpu" result="failed" tests="3" stage="complete">
    <testcase name="/tests/smoke" result="passed"/>
    <testcase name="/tests/rocm/hipcc" result="failed"/>
    <testcase name="/tests/rocm/rccl" result="skipped"/>
  </testsuite>
</testsuites>"""


def test_testing_farm_requests_get_their_counts_from_the_xunit_fetched_only_from_artifact_hosts(farm):
    rt, store = farm
    from dataclasses import replace
    fetched = []

    async def results(request):
        fetched.append(request.path)
        return web.Response(body=TF_XUNIT, content_type="application/xml")

    async def main():
        art_runner, port = await _loopback_server("/{rid}/results.xml", results)
        team = rt.config.team("ml")
        # The artifact host is this loopback server (Testing Farm itself is not reachable from CI).
        team.sections["farm"] = replace(team.sections["farm"], testing_farm_artifacts=(f"http://127.0.0.1:{port}/",))
        runner, url = await _serve(rt)
        auth = {"Authorization": "Bearer ci-token"}
        out = []
        try:
            for n, xunit_url in enumerate([f"http://127.0.0.1:{port}/aa/results.xml",
                                           f"http://127.0.0.1:{port}/bb/missing.xml",
                                           "https://evil.example/results.xml"]):
                request = {"id": f"6bf8e0a2-7d19-4c39-9d4c-2b5f0c0d1e9{n}", "state": "complete",
                           "result": {"overall": "failed", "xunit_url": xunit_url}}
                out.append(await _post(url + f"/farm/testing-farm?platform=rocm-gfx94{n}&branch=main",
                                       json.dumps(request).encode(), auth))
        finally:
            await runner.cleanup()
            await art_runner.cleanup()
        return out

    answers = asyncio.run(main())
    assert [a[0] for a in answers] == [200, 200, 200]
    assert fetched == ["/aa/results.xml"]  # the missing one 404s before the handler; evil.example never asked
    runs = {r.platform: r for r in store.runs("ml")}
    good = runs["rocm-gfx940"]
    assert (good.passed, good.failed, good.skipped, good.failing) == (1, 1, 1, ("/tests/rocm/hipcc",))
    for platform in ("rocm-gfx941", "rocm-gfx942"):  # no xunit: the overall result alone
        assert (runs[platform].passed, runs[platform].failed, runs[platform].result) == (0, 1, "failed")


def test_the_single_file_agent_from_farm_agent_pyz_runs_on_the_standard_library_alone(farm, tmp_path):
    """A farm host with nothing but Python: download /farm/agent.pyz and run it with -I -S, so
    no site-packages (and no sigbot, click or aiohttp) can be imported; its report is stored."""
    rt, store = farm
    bundle = tmp_path / "sigbot-farm-agent.pyz"
    env = {"PATH": f"{_fake_nvidia_smi(tmp_path / 'bin')}:/usr/bin:/bin", "SIGBOT_FARM_SECRET": "h100-secret"}

    async def main():
        runner, url = await _serve(rt)
        try:
            async with aiohttp.ClientSession() as http, http.get(url + "/farm/agent.pyz") as r:
                assert r.status == 200 and r.content_type == "application/zip"
                bundle.write_bytes(await r.read())
            agent = await asyncio.create_subprocess_exec(
                sys.executable, "-I", "-S", str(bundle), "--url", url + "/farm/report", "--host", "h100", "--once",
                env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            out, _ = await asyncio.wait_for(agent.communicate(), 60)
            return agent.returncode, out.decode()
        finally:
            await runner.cleanup()

    rc, out = asyncio.run(main())
    assert rc == 0, out
    assert store.host("ml", "h100").report.gpus[0].name == "NVIDIA H100 80GB HBM3"
    bad = subprocess.run([sys.executable, "-I", "-S", str(bundle), "--interval", "1"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].endswith("1 is not between 5 and 3600")
