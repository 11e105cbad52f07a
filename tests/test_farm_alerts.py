"""Farm alerts, history and chat answers, with an injected clock (no sleeping, no servers)."""

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.chat.matrix_events import notice_content
from bot.config import parse_config
from bot.core.message import Message, Network, Reply
from bot.dispatch import Dispatcher
from bot.farm.alerts import HostSnapshot, Snapshot, evaluate
from bot.farm.config import FarmSettings, Machine
from bot.farm.host.nvidia import parse_nvidia_smi_csv
from bot.farm.host.report import Gpu, GpuProcess, HostReport, Vendor
from bot.farm.service import publish, tick
from bot.farm.store import CiRun, FarmStore
from bot.registry import build_registry
from bot.runtime import Runtime
from bot.storage import open_store

FIX = Path(__file__).resolve().parent / "farm" / "fixtures" / "nvidia"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
H100 = Machine("h100", gpus=1, driver="580.159.04", cuda="13.0")
S = FarmSettings(machines=(H100,), interval_seconds=60, temperature_c=85, temperature_minutes=5,
                 hysteresis_c=5, alerts_per_hour=10)


def h100_report(temp: float = 50.0, gpus: int = 1, ecc: int | None = 0, driver: str = "580.159.04") -> HostReport:
    gpu = Gpu(index=0, vendor=Vendor.NVIDIA, name="NVIDIA H100 80GB HBM3", temperature_c=temp,
              utilization_pct=100.0, memory_total_mib=81559, memory_used_mib=16227, ecc_uncorrected=ecc)
    return HostReport("h100", gpus=tuple(replace(gpu, index=i) for i in range(gpus)),
                      driver_version=driver, cuda_version="13.0")


def snap(last_seen: datetime | None, report: HostReport | None = None, ci=()) -> Snapshot:
    return Snapshot((HostSnapshot(H100, last_seen, report),), tuple(ci))


def run(steps, settings=S):
    """Feed (now, snapshot) steps through evaluate; return every event text in order."""
    state, texts = {}, []
    for now, snapshot in steps:
        state, events = evaluate(state, snapshot, settings, now)
        texts += [("start " if e.started else "end ") + e.kind for e in events]
    return texts


def test_a_silent_machine_goes_offline_after_three_intervals_and_recovers_once_each():
    report = h100_report()
    steps = [(T0, snap(T0, report))]
    # Reports stop at T0; the clock goes on minute by minute for ten minutes.
    steps += [(T0 + timedelta(minutes=m), snap(T0, report)) for m in range(1, 11)]
    # It reports again, and keeps reporting.
    back = T0 + timedelta(minutes=11)
    steps += [(back + timedelta(minutes=m), snap(back + timedelta(minutes=m), report)) for m in range(5)]
    assert run(steps) == ["start offline", "end offline"]


def test_offline_starts_only_after_more_than_three_missed_intervals():
    report = h100_report()
    at_limit = [(T0, snap(T0, report)), (T0 + timedelta(seconds=180), snap(T0, report))]
    assert run(at_limit) == []
    assert run(at_limit + [(T0 + timedelta(seconds=181), snap(T0, report))]) == ["start offline"]


def test_a_machine_that_never_reports_is_offline_three_intervals_after_the_bot_starts():
    steps = [(T0 + timedelta(minutes=m), snap(None)) for m in range(6)]
    assert run(steps) == ["start offline"]


def test_a_temperature_hovering_at_the_threshold_alerts_once_and_clears_once():
    temps = [80, 86, 87, 86, 88, 86, 87, 86]  # above 85 for 7 minutes -> starts after 5
    temps += [84, 86, 83, 85.5, 81, 86]  # hovering across 85: inside the 5 degree band, stays on
    temps += [80, 79, 86, 84]  # 80 = 85 - 5 ends it; a brief 86 does not start it again
    steps = [(T0 + timedelta(minutes=i), snap(T0 + timedelta(minutes=i), h100_report(t)))
             for i, t in enumerate(temps)]
    assert run(steps) == ["start temperature", "end temperature"]


def test_short_spikes_above_the_threshold_never_alert():
    temps = [86, 87, 84, 86, 90, 84] * 5  # never 5 minutes in a row
    steps = [(T0 + timedelta(minutes=i), snap(T0 + timedelta(minutes=i), h100_report(t)))
             for i, t in enumerate(temps)]
    assert run(steps) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=20, max_value=110), min_size=1, max_size=60))
def test_temperature_events_alternate_start_end_whatever_the_readings(temps):
    steps = [(T0 + timedelta(minutes=i), snap(T0 + timedelta(minutes=i), h100_report(t)))
             for i, t in enumerate(temps)]
    events = run(steps)
    assert events == ["start temperature", "end temperature"] * (len(events) // 2) + \
        (["start temperature"] if len(events) % 2 else [])


def test_fewer_gpus_ecc_growth_and_a_driver_off_baseline_alert_and_clear():
    t = [T0 + timedelta(minutes=i) for i in range(8)]
    reports = [h100_report(), h100_report(gpus=0), h100_report(), h100_report(ecc=2),
               h100_report(ecc=2, driver="575.1"), h100_report(ecc=2)]
    steps = [(t[i], snap(t[i], r)) for i, r in enumerate(reports)]
    quiet = t[5] + timedelta(hours=25)
    steps.append((quiet, snap(quiet, h100_report(ecc=2))))
    assert run(steps) == ["start gpus", "end gpus", "start ecc", "start baseline", "end baseline", "end ecc"]


def test_only_gpus_of_the_declared_model_and_target_count_and_unknown_names_never_disqualify():
    mi300 = Machine("gpu1", gpus=2, model="MI300X", target="gfx942")
    settings = replace(S, machines=(mi300,))

    def host(*gpus):
        return HostReport("gpu1", gpus=tuple(Gpu(index=i, vendor=Vendor.AMD, name=n, target=t)
                                             for i, (n, t) in enumerate(gpus)))

    def events(report):
        state, out = evaluate({}, Snapshot((HostSnapshot(mi300, T0, report),)), settings, T0)
        return [e.text for e in out]
    assert events(host(("AMD Instinct MI300X", "gfx942"), ("AMD Instinct MI300X", "gfx942"))) == []
    assert events(host((None, None), ("AMD Instinct MI300X", None))) == []  # the tool gave no name or target
    assert events(host(("AMD Instinct MI300X", "gfx942"), ("AMD Radeon RX 7900 XTX", "gfx1100"))) == \
        ["gpu1 shows 1 of 2 MI300X gfx942 GPUs"]


def test_ci_failing_twice_in_a_row_on_main_alerts_and_a_pass_clears_it():
    def ci(*results):
        return [("rocm-gfx1100", results)]
    now = T0
    steps = [(now, snap(now, h100_report(), ci("failed"))),
             (now, snap(now, h100_report(), ci("failed", "failed"))),
             (now, snap(now, h100_report(), ci("failed", "failed", "failed"))),
             (now, snap(now, h100_report(), ci("passed", "failed")))]
    assert run(steps) == ["start ci", "end ci"]


def test_alerts_are_rate_limited_per_team_with_one_summary():
    machines = tuple(Machine(f"m{i}", gpus=1, secret=None) for i in range(6))
    s = replace(S, machines=machines, alerts_per_hour=3)
    later = T0 + timedelta(minutes=10)
    steps = [(T0, Snapshot(tuple(HostSnapshot(m, T0, h100_report()) for m in machines))),
             (later, Snapshot(tuple(HostSnapshot(m, T0, h100_report()) for m in machines)))]
    assert run(steps, s) == ["start offline"] * 3 + ["start suppressed"]
    # The suppressed ones are active all the same: they do not come back later.
    state, _ = evaluate({}, steps[0][1], s, T0)
    state, _ = evaluate(state, steps[1][1], s, later)
    assert len(state["active"]) == 6


def test_history_keeps_raw_samples_a_day_then_hourly_means_for_a_month():
    store = FarmStore(open_store(":memory:").db)
    for minute in range(0, 48 * 60, 10):
        store.record_report("ml", h100_report(temp=40 + minute % 60 / 10), T0 + timedelta(minutes=minute), "agent")
    end = T0 + timedelta(hours=48)
    store.compact(end)
    counts = store.counts()
    assert counts["farm_samples"] == 24 * 6  # the last day, raw
    assert counts["farm_hourly"] == 24  # the day before, one row an hour
    hourly = [s for s in store.samples("ml", "h100", T0) if s.time < end - timedelta(days=1)]
    assert abs(hourly[0].temp - 42.5) < 1e-9  # the mean of 40, 41, ... 45
    store.compact(end + timedelta(days=40))
    assert store.counts() == {"farm_samples": 0, "farm_hourly": 0, "farm_ci_runs": 0, "farm_ci_jobs": 0}


def test_samples_are_bounded_however_often_a_host_reports():
    store = FarmStore(open_store(":memory:").db)
    for second in range(100):
        store.record_report("ml", h100_report(), T0 + timedelta(seconds=second), "agent")
    assert store.counts()["farm_samples"] == 20  # one per 5 s


def _rt(tmp_path: Path, now: datetime) -> Runtime:
    config = parse_config({"bot": {"notes_dir": "notes"}, "web": {"public_url": "https://sig.example.org"},
                           "teams": [{"name": "ml", "matrix_room": "#ml:example.org", "irc_channels": ["#ml"],
                                      "farm": {"interval_seconds": 60, "digest_time": "09:00", "machines": [
                                          {"name": "h100", "gpus": 1, "secret_env": "UNUSED"},
                                          {"name": "mi300", "gpus": 8, "secret_env": "UNUSED"}]}}]},
                          tmp_path / "sigbot.toml")
    return Runtime(config, Dispatcher(config, open_store(":memory:"), build_registry()), now=lambda: now)


def _say(rt: Runtime, text: str, network=Network.IRC, room="#ml") -> str:
    msg = Message(network, room, "irc:alice", "alice", text, T0 + timedelta(minutes=1), event_id=text + str(network))
    return "\n".join(e.text for e in rt.dispatcher.handle(msg) if isinstance(e, Reply))


def test_farm_answers_in_a_few_lines_and_never_lets_a_report_inject_markup(tmp_path):
    rt = _rt(tmp_path, T0)
    store = FarmStore(rt.store.db)
    evil = "[click](https://evil.example)<img src=x onerror=alert(1)>*boom*"
    gpu = Gpu(index=0, vendor=Vendor.NVIDIA, name=evil, temperature_c=91.0, utilization_pct=97.0,
              processes=(GpuProcess(pid=7, name="`rm -rf`<script>"),))
    store.record_report("ml", HostReport("h100", gpus=(gpu,), driver_version=evil), T0, "agent")
    store.record_run("ml", CiRun("rocm-gfx1100", "junit", "a", "main", T0, "failed", 10, 2, 1,
                                 ("test_[x](http://e)",), "https://ci.example/1"))
    summary = _say(rt, "!farm")
    assert len(summary.splitlines()) <= 6
    assert "1/2 machines online, 1 busy" in summary and "Offline: mi300" in summary
    assert "rocm-gfx1100 FAILED" in summary and "test\\_\\[x\\](http://e)" in summary
    detail = _say(rt, "!farm H100")
    assert "https://sig.example.org/farm/ml/h100-day.svg" in detail
    for text in (summary, detail):  # rendered as the Matrix adapter renders replies
        html = notice_content(text)["formatted_body"]
        assert "<a " not in html and "<img" not in html and "<script" not in html and "<em>" not in html
    assert "\\[click\\]" in detail and "\\<img" in detail and "\\`rm -rf\\`" in detail
    assert "No machine nope" in _say(rt, "!farm nope")
    matrix = _say(rt, "!farm", Network.MATRIX, "#ml:example.org")
    assert "| machine | state | GPUs | util | max temp |" in matrix and "| h100 | busy | 1/1 | 97 % | 91 °C |" in matrix


def test_the_watch_posts_each_alert_once_publishes_status_and_plots_and_a_daily_digest(tmp_path):
    rt = _rt(tmp_path, T0)
    store = FarmStore(rt.store.db)
    csv = (FIX / "h100-load-wide.csv").read_text()
    apps = (FIX / "h100-load-apps.csv").read_text()
    for minute in range(10):
        now = T0 + timedelta(minutes=minute)
        report = parse_nvidia_smi_csv(csv, host="h100", apps_text=apps)
        store.record_report("ml", report, now, "agent")
    posts = []
    for minute in range(10, 70):  # h100 stops at minute 9; mi300 never reported; 09:00 passes
        posts += [e.text for e in tick(rt, T0 + timedelta(minutes=minute))]
    # Last report at minute 9, the first tick after three 60 s intervals is minute 13; mi300
    # never reported: three intervals after the watch started (minute 10).
    assert [p for p in posts if not p.startswith("Daily")] == ["🔴 h100 is offline (no report for 4 min)",
                                                               "🔴 mi300 is offline (no report for 4 min)"]
    assert sum(p.startswith("Daily farm digest") for p in posts) == 1
    publish(rt, T0 + timedelta(minutes=40))
    folder = tmp_path / "notes" / "ml" / "farm"
    status = json.loads((folder / "status.json").read_text())
    assert [h["host"] for h in status["hosts"]] == ["h100", "mi300"]
    h100 = status["hosts"][0]
    assert h100["gpus"][0]["memory_used_mib"] == 16227 and h100["gpus"][0]["processes"][0]["pid"] == 506
    assert {a["kind"] for a in status["alerts"]} == {"offline"}
    assert {p["file"] for p in status["plots"]} == {"h100-day.svg", "h100-week.svg", "mi300-day.svg",
                                                    "mi300-week.svg"}
    svg = (folder / "h100-day.svg").read_bytes()
    assert svg.startswith(b"<?xml") and b"<svg" in svg
    before = (folder / "status.json").stat().st_mtime_ns
    publish(rt, T0 + timedelta(minutes=41))  # nothing changed but the time: not rewritten
    assert (folder / "status.json").stat().st_mtime_ns == before


def test_the_farm_config_reports_every_problem_with_its_key_path():
    import pytest

    from bot.config import ConfigError
    with pytest.raises(ConfigError) as info:
        parse_config({"teams": [{"name": "ml", "matrix_room": "#ml:example.org", "farm": {
            "interval_seconds": 0, "digest_time": "25:00", "github_secret": "literal", "machines": [
                {"name": "gpu 1", "gpus": 99, "labels": ["ok", "bad label"]},
                {"name": "gpu2", "secret_env": "X", "prometheus": "ftp://x"},
                {"name": "gpu3", "prometheus_server": "http://prom:9090"},
                {"name": "gpu4", "secret_env": "X"}, {"name": "gpu4", "secret_env": "Y"}]}}]})
    errors = info.value.errors
    p = "teams[0].farm"
    for expected in (f"{p}.interval_seconds: must be more than 0", f"{p}.digest_time:",
                     f"{p}.github_secret: secrets are never written", f"{p}.machines[0].name:",
                     f"{p}.machines[0].gpus: must be 0..64", f"{p}.machines[0].labels[1]:",
                     f"{p}.machines[0]: give exactly one way", f"{p}.machines[1].prometheus:",
                     f"{p}.machines[2].prometheus_selector: is required", f"{p}.machines: machine 'gpu4'"):
        assert any(e.startswith(expected) for e in errors), (expected, errors)
