"""Farm alerts as a pure function: (previous state, snapshot, settings, now) -> (state, events).

Each condition has a key (``offline:gpu1``, ``temperature:gpu1:0``); an event
is emitted once when a condition starts and once when it ends.  Hysteresis:

* offline: no report for `offline_after_intervals` intervals; a report clears it.
* temperature: above `temperature_c` without a break for `temperature_minutes`
  starts it; only at or below `temperature_c - hysteresis_c` does it end, so a
  value hovering at the threshold neither starts nor ends it repeatedly.
* ECC: the uncorrected count grew; ends after it stayed still `ecc_quiet_hours`.
* GPU count (of the declared model/target, where given), driver/runtime
  baseline: start when wrong, end when right.
* CI: the two newest runs on the main branch of a platform failed; ends when
  the newest passes.

Rate limit: at most `alerts_per_hour` events per team an hour; the rest are
counted in one summary event (at most one an hour).  State changes either
way, so a suppressed alert is never posted late.

The state is plain JSON (stored by store.py), times as ISO 8601 strings.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.core.record import record
from bot.farm.config import FarmSettings, Machine
from bot.farm.host.report import Gpu, HostReport

FAILED = frozenset({"failed", "error", "timed_out"})


@record
class HostSnapshot:
    machine: Machine
    last_seen: datetime | None
    report: HostReport | None


@record
class Snapshot:
    hosts: tuple[HostSnapshot, ...] = ()
    ci_main: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (platform, results on main, newest first)


@record
class AlertEvent:
    kind: str  # offline | gpus | temperature | ecc | baseline | ci | suppressed
    subject: str  # host or platform
    started: bool  # True: the condition began; False: it ended
    text: str  # plain text; escaped when rendered
    since: str  # ISO time the condition began


@record
class _Decision:
    on: bool | None  # None: keep the current state (inside the hysteresis band, or unknown)
    kind: str
    subject: str
    text: str = ""


def _age(prev: dict[str, Any], snap: HostSnapshot, now: datetime) -> timedelta:
    start = datetime.fromisoformat(prev["started"]) if "started" in prev else now
    return now - (snap.last_seen or start)


def _host_decisions(
    prev: dict[str, Any], new: dict[str, Any], snap: HostSnapshot, s: FarmSettings, now: datetime
) -> dict[str, _Decision]:
    m, host = snap.machine, snap.machine.name
    out: dict[str, _Decision] = {}
    limit = timedelta(seconds=s.interval_seconds * s.offline_after_intervals)
    age = _age(prev, snap, now)
    offline = age > limit
    minutes = int(age.total_seconds() // 60)
    out[f"offline:{host}"] = _Decision(offline, "offline", host,
                                       f"{host} is offline (no report for {minutes} min)" if offline
                                       else f"{host} is back online")
    report = snap.report
    if offline or report is None:
        return out
    if m.gpus is not None:
        have = sum(_expected_kind(g, m) for g in report.gpus)
        kind = " ".join(filter(None, (m.model, m.target)))
        what = f"{m.gpus} {kind} GPUs" if kind else f"{m.gpus} GPUs"
        few = have < m.gpus
        out[f"gpus:{host}"] = _Decision(few, "gpus", host, f"{host} shows {have} of {what}"
                                        if few else f"{host} shows all {what} again")
    wrong = [f"{what} {have} (expected {want})" for what, want, have in
             (("driver", m.driver, report.driver_version), ("CUDA", m.cuda, report.cuda_version),
              ("ROCm", m.rocm, report.rocm_version)) if want and have and have != want]
    out[f"baseline:{host}"] = _Decision(bool(wrong), "baseline", host,
                                        f"{host} runs " + ", ".join(wrong) if wrong
                                        else f"{host} is back on its driver/runtime baseline")
    for gpu in report.gpus:
        key = f"temperature:{host}:{gpu.index}"
        out[key] = _temperature(prev, new, key, gpu.temperature_c, host, gpu.index, s, now)
        key = f"ecc:{host}:{gpu.index}"
        out[key] = _ecc(prev, new, key, gpu.ecc_uncorrected, host, gpu.index, s, now)
    return out


def _expected_kind(gpu: Gpu, m: Machine) -> bool:
    """The GPU is of the declared model and target; a value the tool did not give never disqualifies."""
    if m.model and gpu.name and m.model.lower() not in gpu.name.lower():
        return False
    return not (m.target and gpu.target and m.target.lower() != gpu.target.lower())


def _temperature(prev: dict[str, Any], new: dict[str, Any], key: str, temp: float | None, host: str, index: int,
                 s: FarmSettings, now: datetime) -> _Decision:
    active = key in prev.get("active", {})
    where = f"GPU {index} of {host}"
    if temp is None:
        return _Decision(None, "temperature", host)
    if active:
        cool = temp <= s.temperature_c - s.hysteresis_c
        return _Decision(False if cool else None, "temperature", host, f"{where} cooled to {temp:g} °C")
    if temp <= s.temperature_c:
        return _Decision(False, "temperature", host)
    since = prev.get("pending", {}).get(key, now.isoformat())
    new["pending"][key] = since
    hot_for = now - datetime.fromisoformat(since)
    on = hot_for >= timedelta(minutes=s.temperature_minutes)
    return _Decision(
        on,
        "temperature",
        host,
        f"{where} at {temp:g} °C, above {s.temperature_c:g} °C for {int(hot_for.total_seconds() // 60)} min",
    )


def _ecc(prev: dict[str, Any], new: dict[str, Any], key: str, count: int | None, host: str, index: int,
         s: FarmSettings, now: datetime) -> _Decision:
    if count is None:
        return _Decision(None, "ecc", host)
    seen = prev.get("ecc", {}).get(key)
    if seen is None or count < seen[0]:  # first sight, or a reset (reboot): a new baseline
        new["ecc"][key] = [count, now.isoformat()]
        return _Decision(None, "ecc", host)
    if count > seen[0]:
        new["ecc"][key] = [count, now.isoformat()]
        return _Decision(True, "ecc", host, f"uncorrected ECC errors on GPU {index} of {host} grew "
                                             f"from {seen[0]} to {count}")
    new["ecc"][key] = seen
    quiet = now - datetime.fromisoformat(seen[1]) >= timedelta(hours=s.ecc_quiet_hours)
    return _Decision(True if key in prev.get("active", {}) and not quiet else (False if quiet else None),
                     "ecc", host, f"uncorrected ECC errors on GPU {index} of {host} stopped growing at {count}")


def _ci_decisions(snap: Snapshot, main: str) -> dict[str, _Decision]:
    out = {}
    for platform, results in snap.ci_main:
        if len(results) >= 2 and results[0] in FAILED and results[1] in FAILED:
            out[f"ci:{platform}"] = _Decision(True, "ci", platform,
                                              f"CI on {platform} failed twice in a row on {main}")
        elif results and results[0] == "passed":
            out[f"ci:{platform}"] = _Decision(False, "ci", platform, f"CI on {platform} passes again on {main}")
    return out


def evaluate(
    prev: dict[str, Any], snap: Snapshot, settings: FarmSettings, now: datetime
) -> tuple[dict[str, Any], list[AlertEvent]]:
    """The next alert state and the events to post.  Pure: `prev` is not modified."""
    new: dict[str, Any] = {"started": prev.get("started", now.isoformat()), "active": {}, "pending": {}, "ecc": {}}
    decisions: dict[str, _Decision] = {}
    for host in snap.hosts:
        decisions.update(_host_decisions(prev, new, host, settings, now))
    decisions.update(_ci_decisions(snap, settings.main_branch))
    known = {h.machine.name for h in snap.hosts}
    events = []
    for key, alert in prev.get("active", {}).items():
        d = decisions.get(key)
        if d is None or d.on is None or d.on:
            if d is not None or alert["subject"] in known or key.startswith("ci:"):
                new["active"][key] = alert  # still on, or unknown right now: keep
        else:
            events.append(AlertEvent(alert["kind"], alert["subject"], False, d.text, alert["since"]))
    for key, d in decisions.items():
        if d.on and key not in new["active"]:
            alert = {"kind": d.kind, "subject": d.subject, "since": now.isoformat(), "text": d.text}
            new["active"][key] = alert
            events.append(AlertEvent(d.kind, d.subject, True, d.text, alert["since"]))
    return _rate_limit(prev, new, events, settings, now)


def _rate_limit(prev: dict[str, Any], new: dict[str, Any], events: list[AlertEvent], s: FarmSettings,
                now: datetime) -> tuple[dict[str, Any], list[AlertEvent]]:
    hour_ago = now - timedelta(hours=1)
    posted = [t for t in prev.get("posted", []) if datetime.fromisoformat(t) > hour_ago]
    room = max(s.alerts_per_hour - len(posted), 0)
    sent, dropped = events[:room], events[room:]
    posted += [now.isoformat()] * len(sent)
    new["posted"] = posted
    summary_at = prev.get("summary_at")
    new["summary_at"] = summary_at
    if dropped and (summary_at is None or datetime.fromisoformat(summary_at) <= hour_ago):
        new["summary_at"] = now.isoformat()
        sent.append(AlertEvent("suppressed", "", True,
                               f"{len(dropped)} more alert change(s) not posted (at most {s.alerts_per_hour} "
                               "an hour); say !farm for the current state", now.isoformat()))
    return new, sent
