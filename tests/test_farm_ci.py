"""The CI side of the farm without servers: the job queue, busy machines, xunit counts.

The same paths run over real HTTP in tests/test_farm_live.py; here the clock is injected.
"""

from datetime import datetime, timedelta, timezone

import pytest

from bot.farm import ci
from bot.farm.config import FarmSettings, Machine
from bot.farm.host.report import Gpu, HostReport, Vendor
from bot.farm.publish import HostView, farm_view, runs_on
from bot.farm.render import duration, host_detail, summary
from bot.farm.store import CiJob, FarmStore
from bot.storage import open_store

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
GPU1 = Machine("gpu1", gpus=1, labels=("rocm-gfx942",))
H100 = Machine("h100", gpus=1, labels=("cuda-sm90",))
SETTINGS = FarmSettings(machines=(GPU1, H100), interval_seconds=60)
KNOWN = {"rocm-gfx942", "cuda-sm90"}


def event(job_id: int, action: str, labels=("self-hosted", "rocm-gfx942"), runner=None, created=T0) -> dict:
    """A workflow_job payload with the fields GitHub sends for each action."""
    job = {"id": job_id, "name": f"test-{job_id}", "labels": list(labels), "head_branch": "main",
           "created_at": created.isoformat().replace("+00:00", "Z"), "runner_name": runner,
           "html_url": f"https://github.com/o/r/actions/runs/1/job/{job_id}", "conclusion": None}
    if action in ("in_progress", "completed"):
        job["started_at"] = (created + timedelta(minutes=5)).isoformat()
    if action == "completed":
        job["completed_at"] = (created + timedelta(minutes=20)).isoformat()
        job["conclusion"] = "success"
    return {"action": action, "workflow_job": job}


def feed(store: FarmStore, *events: dict, now: datetime = T0) -> list[bool]:
    return [store.record_job("ml", ci.job_state(e, KNOWN, now), now) for e in events]


def test_every_action_moves_the_job_and_a_late_or_repeated_event_never_moves_it_back():
    store = FarmStore(open_store(":memory:").db)
    # GitHub may deliver in_progress before queued, and redeliver anything.
    moved = feed(store, event(1, "in_progress", runner="gpu1"), event(1, "queued"), event(1, "in_progress"),
                 event(2, "waiting"), event(2, "queued"), event(3, "queued"), event(3, "completed"),
                 event(3, "queued"))
    assert moved == [True, False, False, True, False, True, True, False]
    jobs = {j.job_id: j for j in store.jobs("ml", T0)}
    assert set(jobs) == {"1", "2"}
    assert (jobs["1"].state, jobs["1"].runner, jobs["1"].since) == ("in_progress", "gpu1", T0 + timedelta(minutes=5))
    assert (jobs["2"].state, jobs["2"].since) == ("queued", T0)


def test_unknown_actions_are_ignored_and_a_job_without_labels_or_id_is_refused():
    assert ci.job_state({**event(1, "queued"), "action": "requeued"}, KNOWN, T0) is None
    with pytest.raises(ValueError, match="runner label"):
        ci.job_state(event(1, "queued", labels=()), KNOWN, T0)
    with pytest.raises(ValueError, match="must be a number"):
        ci.job_state({"action": "queued", "workflow_job": {"id": "x", "labels": ["a"]}}, KNOWN, T0)
    with pytest.raises(ValueError, match="no workflow_job"):
        ci.job_state({"action": "queued"}, KNOWN, T0)


def test_a_job_that_never_finishes_leaves_the_queue_after_five_days_and_history_is_compacted():
    store = FarmStore(open_store(":memory:").db)
    feed(store, event(1, "queued"), event(2, "queued"), event(2, "completed"))
    assert [j.job_id for j in store.jobs("ml", T0 + timedelta(days=4))] == ["1"]
    assert store.jobs("ml", T0 + timedelta(days=6)) == []
    store.compact(T0 + timedelta(days=6))
    assert store.counts()["farm_ci_jobs"] == 0


def test_the_queue_counts_the_farms_jobs_per_platform_and_marks_the_machine_running_one():
    store = FarmStore(open_store(":memory:").db)
    feed(store,
         event(1, "queued", created=T0 - timedelta(minutes=42)),
         event(2, "queued", created=T0 - timedelta(minutes=3)),
         event(3, "queued", labels=("self-hosted", "cuda-sm90"), created=T0 - timedelta(minutes=1)),
         event(4, "in_progress", labels=("self-hosted", "cuda-sm90"), runner="h100-2"),
         event(5, "queued", labels=("ubuntu-latest",)))  # GitHub's own runners: not the farm's queue
    store.record_report("ml", HostReport("h100", gpus=(Gpu(index=0, vendor=Vendor.NVIDIA, utilization_pct=0.0),)),
                        T0, "agent")
    view = farm_view(store, "ml", SETTINGS, T0)
    assert view.queue.per_platform() == [("rocm-gfx942", 2, 0), ("cuda-sm90", 1, 1)]
    assert view.queue.oldest_wait() == timedelta(minutes=42)
    h100 = next(h for h in view.hosts if h.machine.name == "h100")
    assert h100.busy and [j.job_id for j in h100.running] == ["4"]
    text = summary(view, None)
    assert len(text.splitlines()) <= 6
    assert "0/2 machines" not in text and "1/2 machines online, 1 busy, 3 CI job(s) waiting (longest 42 min), " \
        "1 running" in text
    assert "Queue: rocm-gfx942 2 waiting, cuda-sm90 1 waiting + 1 running" in text
    assert "CI: test-4 (cuda-sm90)" in host_detail(view, h100, None)


def test_a_farm_with_nothing_queued_says_so():
    view = farm_view(FarmStore(open_store(":memory:").db), "ml", SETTINGS, T0)
    assert "CI queue empty" in summary(view, None) and "Queue:" not in summary(view, None)


@pytest.mark.parametrize(("runner", "on_gpu1"), [
    ("gpu1", True), ("GPU1", True), ("gpu1-2", True), ("gpu1_b", True), ("gpu10", False), ("gpu", False),
    (None, False), ("", False)])
def test_a_runner_belongs_to_the_machine_it_is_named_after(runner, on_gpu1):
    job = CiJob("1", "rocm-gfx942", "in_progress", T0, runner=runner)
    assert runs_on(job, GPU1) is on_gpu1


def test_a_machine_is_busy_above_the_utilization_threshold_even_without_visible_processes():
    # A Prometheus-scraped machine reports no processes: utilization tells.
    def view(util, online=True):
        report = HostReport("gpu1", gpus=(Gpu(index=0, vendor=Vendor.AMD, utilization_pct=util),))
        return HostView(GPU1, T0, report, online, busy_pct=10.0)
    assert view(55.0).busy and view(10.0).busy
    assert not view(9.9).busy and not view(None).busy and not view(90.0, online=False).busy


@pytest.mark.parametrize(("seconds", "text"), [
    (5, "under a minute"), (60, "1 min"), (59 * 60 + 59, "59 min"), (3600, "1 h"), (3 * 3600 + 300, "3 h 5 min"),
    (86400, "1 d"), (2 * 86400 + 4 * 3600 + 120, "2 d 4 h")])
def test_waits_read_as_people_say_them(seconds, text):
    assert duration(timedelta(seconds=seconds)) == text


# Testing Farm's results.xml as tmt writes it: outcomes in a result
# attribute, a plan that ran no test cases as a bare <testsuite>.
TF_XUNIT = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuites overall-result="failed">
  <properties><property name="baseosci.overall-result" value="failed"/></properties>
  <testsuite name="/plans/gpu" result="failed" tests="4" stage="complete">
    <testing-environment name="requested"><property name="arch" value="x86_64"/></testing-environment>
    <testcase name="/tests/smoke" result="passed"><logs><log href="https://a.example/1"
      name="out.log"/></logs></testcase>
    <testcase name="/tests/rocm/hipcc" result="failed"><logs><log href="https://a.example/2"
      name="out.log"/></logs></testcase>
    <testcase name="/tests/rocm/rccl" result="error"/>
    <testcase name="/tests/rocm/info" result="info"/>
    <testcase name="/tests/rocm/multi-gpu" result="skipped"/>
  </testsuite>
  <testsuite name="/plans/empty" result="passed" tests="0" stage="complete"/>
</testsuites>"""


def test_testing_farm_xunit_counts_come_from_result_attributes():
    counts = ci.xunit_counts(TF_XUNIT)
    assert (counts.passed, counts.failed, counts.skipped) == (3, 2, 1)
    assert counts.failing == ("/tests/rocm/hipcc", "/tests/rocm/rccl") and counts.result == "failed"


def test_a_testing_farm_request_takes_its_counts_from_the_inline_xunit_or_stays_a_single_result():
    request = {"id": "6bf8e0a2-7d19-4c39-9d4c-2b5f0c0d1e9a", "state": "complete",
               "result": {"overall": "failed", "xunit": TF_XUNIT.decode()},
               "run": {"artifacts": "https://artifacts.testing-farm.io/6bf8e0a2"}}
    assert ci.testing_farm_xunit(request) == TF_XUNIT
    run = ci.testing_farm(request, "rocm-gfx942", "main", T0, xunit=ci.testing_farm_xunit(request))
    assert (run.passed, run.failed, run.skipped, run.result) == (3, 2, 1, "failed")
    assert run.url == "https://artifacts.testing-farm.io/6bf8e0a2"
    bare = {**request, "result": {"overall": "passed", "xunit_url": "https://artifacts.testing-farm.io/x.xml"}}
    assert ci.testing_farm_xunit(bare) == "https://artifacts.testing-farm.io/x.xml"
    run = ci.testing_farm(bare, "rocm-gfx942", "main", T0)
    assert (run.passed, run.failed, run.skipped, run.failing) == (1, 0, 0, ())
    assert ci.testing_farm({**request, "state": "running"}, "rocm-gfx942", None, T0) is None


def test_testing_farm_requests_posted_while_queued_or_running_are_in_the_ci_queue():
    store = FarmStore(open_store(":memory:").db)
    rid = "6bf8e0a2-7d19-4c39-9d4c-2b5f0c0d1e9a"
    for state, since in (("new", T0), ("queued", T0), ("running", T0 + timedelta(minutes=9)), ("complete", None)):
        request = {"id": rid, "state": state, "created": "2026-03-02T10:00:00Z",
                   "updated": (since or T0).isoformat(), "result": {"overall": "passed"}}
        store.record_job("ml", ci.testing_farm_job(request, "rocm-gfx942", T0), T0)
        jobs = store.jobs("ml", T0)
        if state in ("new", "queued"):
            assert [(j.job_id, j.state, j.since) for j in jobs] == [(f"testing-farm:{rid}", "queued", T0)]
        elif state == "running":
            assert [(j.state, j.since) for j in jobs] == [("in_progress", T0 + timedelta(minutes=9))]
        else:
            assert jobs == []
    with pytest.raises(ValueError, match="unknown state"):
        ci.testing_farm_job({"id": rid, "state": "paused"}, "rocm-gfx942", T0)


@pytest.mark.parametrize(("payload", "why"), [
    ({**event(1, "queued"), "action": []}, "action must be a word"),
    ({**event(1, "completed"), "workflow_job": {**event(1, "completed")["workflow_job"], "conclusion": ["success"]}},
     "conclusion must be a word"),
])
def test_a_list_or_object_where_github_sends_a_word_is_refused_with_the_field_named(payload, why):
    def read():  # as /farm/github does
        return ci.job_state(payload, KNOWN, T0), ci.workflow_job(payload, KNOWN, T0)
    with pytest.raises(ValueError, match=why):
        read()


@pytest.mark.parametrize(("change", "why"), [
    ({"state": ["complete"]}, "unknown state"),
    ({"state": {"complete": 1}}, "unknown state"),
    ({"result": {"overall": ["passed"]}}, "result.overall must be a word"),
    ({"result": ["passed"]}, "result must be an object"),
    ({"run": "https://artifacts.testing-farm.io/x"}, "run must be an object"),
])
def test_a_testing_farm_request_with_the_wrong_kind_of_value_is_refused_before_anything_is_made_of_it(change, why):
    request = {"id": "6bf8e0a2-7d19-4c39-9d4c-2b5f0c0d1e9a", "state": "complete",
               "result": {"overall": "passed"}, **change}
    def read():  # as /farm/testing-farm does
        return ci.testing_farm_job(request, "rocm-gfx942", T0), ci.testing_farm(request, "rocm-gfx942", None, T0)
    with pytest.raises(ValueError, match=why):
        read()


def test_times_at_the_edge_of_the_calendar_fall_back_to_now_instead_of_overflowing():
    job = ci.job_state({**event(1, "queued"), "workflow_job": {**event(1, "queued")["workflow_job"],
                                                               "created_at": "0001-01-01T00:00:00+01:00"}}, KNOWN, T0)
    assert job.since == T0
    late = ci.testing_farm_job({"id": "6bf8e0a2-7d19-4c39-9d4c-2b5f0c0d1e9a", "state": "running",
                                "updated": "9999-12-31T23:59:59-01:00"}, "rocm-gfx942", T0)
    assert late.since == T0


def test_an_xml_declaration_naming_an_unknown_encoding_is_a_reason_not_a_crash():
    with pytest.raises(ValueError, match="unknown encoding"):
        ci.xunit_counts(b'<?xml version="1.0" encoding="no-such"?><testsuite><testcase/></testsuite>')


def test_the_running_bot_counts_xunit_in_a_child_the_same_and_holds_no_xml_parser():
    """bot/farm/ci_apart.py (issue 14: memory): the web routes count an upload in a child process. Its counts
    and its refusals are those of xunit_counts in process; the parent never imports an XML parser."""
    import subprocess
    import sys

    junit = (b'<testsuites><testsuite name="t"><testcase classname="a" name="ok"/>'
             b'<testcase classname="a" name="bad"><failure/></testcase><testcase name="s"><skipped/></testcase>'
             b"</testsuite></testsuites>")
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><testsuite>&a;</testsuite>'
    probe = ("import asyncio, sys\n"
             "from bot.farm.ci_apart import xunit_counts_apart\n"
             f"print(repr(asyncio.run(xunit_counts_apart({junit!r}, 'JUnit XML'))))\n"
             "try:\n"
             f"    asyncio.run(xunit_counts_apart({bomb!r}, 'JUnit XML'))\n"
             "except ValueError as exc:\n"
             "    print(exc)\n"
             "print(sorted(m for m in ('xml.etree', 'defusedxml', 'pyexpat') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-P", "-c", probe], capture_output=True, text=True, check=True)
    counted, refused, loaded = out.stdout.splitlines()
    assert counted == repr(ci.xunit_counts(junit)) == "Counts(passed=1, failed=1, skipped=1, failing=('a.bad',))"
    with pytest.raises(ValueError) as in_process:
        ci.xunit_counts(bomb)
    assert refused == str(in_process.value) and "no DTDs or entities" in refused
    assert loaded == "[]"
