"""`sigbot farm-agent`: collect this host's GPUs and send them to sigbot.

Runs whichever vendor tools exist (nvidia-smi; amd-smi, else rocm-smi;
xpu-smi), each with a timeout, turns their output into one `HostReport`
with the parsers of this package, and POSTs
it, signed (see signing.py), every `interval` seconds.  A tool that is missing,
hangs or prints something unreadable costs its GPUs, never the agent.

Standard library only (urllib), so a farm host needs nothing but
``pip install sigbot``.
"""

from __future__ import annotations

import json
import logging
import platform
import random
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from bot.farm.host import report as rep
from bot.farm.host.amd import parse_amd_smi_json
from bot.farm.host.intel import device_ids, parse_xpu_smi_json
from bot.farm.host.nvidia import parse_nvidia_smi_csv, parse_nvidia_smi_xml
from bot.farm.host.report import HostReport
from bot.farm.host.rocm import parse_rocm_smi_json
from bot.farm.host.signing import signed_headers

log = logging.getLogger(__name__)

TOOL_TIMEOUT = 20.0  # nvidia-smi can take seconds on a busy 8-GPU host; a hung driver never returns
MAX_OUTPUT = 8 * 1024 * 1024

NVIDIA_QUERY = ("index,name,uuid,pci.bus_id,memory.total,memory.used,utilization.gpu,temperature.gpu,"
                "power.draw,power.limit,driver_version,compute_cap,ecc.errors.uncorrected.volatile.total")
NVIDIA_APPS = "gpu_uuid,pid,process_name,used_gpu_memory"

# Runs a tool: argv -> stdout, or None when it is missing, fails or hangs.
Runner = Callable[[list[str]], "str | None"]


def run_tool(argv: list[str], timeout: float = TOOL_TIMEOUT) -> str | None:
    path = shutil.which(argv[0])
    if path is None:
        return None
    try:
        done = subprocess.run([path, *argv[1:]], capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        log.warning("%s timed out after %.0f s", " ".join(argv), timeout)
        return None
    except OSError as exc:
        log.warning("%s could not run: %s", argv[0], exc)
        return None
    if done.returncode != 0:
        log.info("%s exited %d: %s", " ".join(argv), done.returncode,
                 done.stderr.decode("utf-8", "replace").strip()[:200])
        return None
    return done.stdout[:MAX_OUTPUT].decode("utf-8", "replace")


def _nvidia(run: Runner, host: str) -> HostReport | None:
    """The CSV query (it carries compute_cap); the XML log where it fails (old drivers lack fields)."""
    csv = run(["nvidia-smi", f"--query-gpu={NVIDIA_QUERY}", "--format=csv,nounits"])
    if csv is not None:
        apps = run(["nvidia-smi", f"--query-compute-apps={NVIDIA_APPS}", "--format=csv,nounits"])
        version = run(["nvidia-smi", "--version"])
        try:
            return parse_nvidia_smi_csv(csv, host=host, apps_text=apps, version_text=version)
        except ValueError as exc:
            log.warning("nvidia-smi CSV unreadable, trying -q -x: %s", exc)
    xml = run(["nvidia-smi", "-q", "-x"])
    try:
        return parse_nvidia_smi_xml(xml, host=host) if xml is not None else None
    except ValueError as exc:
        log.warning("nvidia-smi output unreadable: %s", exc)
        return None


def _amd(run: Runner, host: str) -> HostReport | None:
    """amd-smi where installed; rocm-smi (deprecated) otherwise."""
    try:
        metric = run(["amd-smi", "metric", "--json"])
        if metric is not None:
            companions = {
                "static_text": run(["amd-smi", "static", "--json"]),
                "version_text": run(["amd-smi", "version", "--json"]),
                "list_text": run(["amd-smi", "list", "--json"]),  # the uuids
                "processes_text": run(["amd-smi", "process", "--json"]),
            }
            given = {k: v for k, v in companions.items() if v is not None}
            try:
                return parse_amd_smi_json(metric, host=host, **given)
            except ValueError:
                # Only the metric is essential: keep the companions that read on their own.
                readable = {}
                for key, text in given.items():
                    try:
                        parse_amd_smi_json(metric, host=host, **{key: text})
                        readable[key] = text
                    except ValueError as exc:
                        log.warning("amd-smi %s left out: %s", key.removesuffix("_text"), exc)
                return parse_amd_smi_json(metric, host=host, **readable)
        rocm = run(["rocm-smi", "--showallinfo", "--json"])
        return parse_rocm_smi_json(rocm, host=host) if rocm is not None else None
    except ValueError as exc:
        log.warning("amd-smi/rocm-smi output unreadable: %s", exc)
        return None


def _per_device(run: Runner, ids: list[int], argv: Callable[[int], list[str]]) -> list[str]:
    """One call per device.  The first that fails ends the series: a hung
    xpu-smi would otherwise cost a whole timeout per device."""
    texts = []
    for device in ids:
        text = run(argv(device))
        if text is None:
            break
        texts.append(text)
    return texts


def _intel(run: Runner, host: str) -> HostReport | None:
    """xpu-smi: ``discovery -j``, then per device ``discovery -d N -j`` (memory
    total, driver) and ``stats -d N -j``, then ``ps -j``.  Only the discovery
    is essential: unreadable companions are dropped, details last."""
    discovery = run(["xpu-smi", "discovery", "-j"])
    if discovery is None:
        return None
    try:
        ids = device_ids(discovery)
    except ValueError as exc:
        log.warning("xpu-smi output unreadable: %s", exc)
        return None
    details = _per_device(run, ids, lambda d: ["xpu-smi", "discovery", "-d", str(d), "-j"])
    stats = _per_device(run, ids, lambda d: ["xpu-smi", "stats", "-d", str(d), "-j"])
    ps = run(["xpu-smi", "ps", "-j"])
    for stats_texts, ps_text, details_texts in ((stats, ps, details), ((), None, details), ((), None, ())):
        try:
            return parse_xpu_smi_json(discovery, stats_texts, ps_text, details_texts=details_texts, host=host)
        except ValueError as exc:
            log.warning("xpu-smi output unreadable, retrying with less: %s", exc)
    return None


def merge(host: str, parts: list[HostReport], collected_at: str) -> HostReport:
    """One report from each vendor's: GPUs renumbered after the previous vendor's where indices clash."""
    gpus: list[rep.Gpu] = []
    for part in parts:
        offset = 0 if not gpus else max(g.index for g in gpus) + 1
        clash = any(g.index in {x.index for x in gpus} for g in part.gpus)
        gpus += [replace(g, index=g.index + offset) if clash else g for g in part.gpus]
    first = next((p.driver_version for p in parts if p.driver_version), None)
    return HostReport(
        host=host, gpus=tuple(gpus[: rep.MAX_GPUS]), driver_version=first,
        cuda_version=next((p.cuda_version for p in parts if p.cuda_version), None),
        rocm_version=next((p.rocm_version for p in parts if p.rocm_version), None),
        collected_at=collected_at,
    )


def collect(host: str, now: datetime, run: Runner = run_tool) -> HostReport:
    parts = [p for p in (_nvidia(run, host), _amd(run, host), _intel(run, host)) if p is not None]
    return merge(host, parts, now.isoformat(timespec="seconds"))


@dataclass
class Sender:
    """POSTs signed reports with urllib, retrying with exponential backoff and jitter."""

    url: str
    host: str
    secret: str
    timeout: float = 10.0
    attempts: int = 5
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time

    def send(self, body: bytes) -> bool:
        delay = 1.0
        for attempt in range(1, self.attempts + 1):
            # Re-signed on every attempt: a retry minutes later must not be stale.
            headers = signed_headers(self.host, self.secret, int(self.clock()), body)
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    response.read(4096)
                    return True
            except urllib.error.HTTPError as exc:
                reason = exc.read(300).decode("utf-8", "replace").strip()
                if 400 <= exc.code < 500 and exc.code != 429:
                    # Refused (bad secret, unknown host, malformed): retrying cannot help.
                    log.error("sigbot refused the report: %d %s", exc.code, reason)
                    return False
                log.warning("attempt %d: sigbot answered %d %s", attempt, exc.code, reason)
            except (urllib.error.URLError, OSError) as exc:
                log.warning("attempt %d: cannot reach %s: %s", attempt, self.url, exc)
            if attempt < self.attempts:
                self.sleep(delay + random.uniform(0, delay / 2))
                delay = min(delay * 2, 60.0)
        return False


def report_body(report: HostReport) -> bytes:
    return json.dumps(report.to_json(), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def default_host() -> str:
    return platform.node().split(".")[0] or "unknown"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
