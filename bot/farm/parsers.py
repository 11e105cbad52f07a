"""The farm's parsing entry points, and `parse_capture`, which picks one by name.

Every parser is pure (no I/O, no clock): text in, `HostReport` out, and
`ValueError` with a reason for anything it cannot read.  The vendor modules
hold the format details: nvidia.py, amd.py, rocm.py, intel.py, prometheus.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bot.farm.host.amd import parse_amd_smi_json
from bot.farm.host.intel import parse_xpu_smi_json
from bot.farm.host.nvidia import (
    parse_nvidia_smi_apps_csv,
    parse_nvidia_smi_csv,
    parse_nvidia_smi_version,
    parse_nvidia_smi_xml,
)
from bot.farm.host.report import HostReport
from bot.farm.host.rocm import parse_rocm_smi_json
from bot.farm.prometheus import parse_prometheus

__all__ = [
    "FORMATS",
    "parse_amd_smi_json",
    "parse_capture",
    "parse_nvidia_smi_apps_csv",
    "parse_nvidia_smi_csv",
    "parse_nvidia_smi_version",
    "parse_nvidia_smi_xml",
    "parse_prometheus",
    "parse_rocm_smi_json",
    "parse_xpu_smi_json",
]


def _prometheus_one_host(text: str, *, host: str, collected_at: str | None) -> HostReport:
    reports = parse_prometheus(text, default_host=host, collected_at=collected_at)
    if len(reports) != 1:
        names = ", ".join(r.host for r in reports[:5])
        raise ValueError(
            f"prometheus: capture holds {len(reports)} hosts ({names}); "
            "a capture is one host's scrape (parse_prometheus reads several)"
        )
    return reports[0]


# name -> (parser, the companion captures it accepts)
_PARSERS: dict[str, tuple[Callable[..., HostReport], frozenset[str]]] = {
    "nvidia-smi-csv": (parse_nvidia_smi_csv, frozenset({"apps_text", "version_text"})),
    "nvidia-smi-xml": (parse_nvidia_smi_xml, frozenset()),
    "amd-smi-json": (parse_amd_smi_json,
                     frozenset({"static_text", "version_text", "list_text", "processes_text"})),
    "rocm-smi-json": (parse_rocm_smi_json, frozenset({"processes_text"})),
    "xpu-smi-json": (parse_xpu_smi_json, frozenset({"stats_texts", "details_texts", "processes_text"})),
    "prometheus": (_prometheus_one_host, frozenset()),
}

FORMATS = tuple(_PARSERS)


def parse_capture(
    fmt: str,
    text: str,
    *,
    host: str = "unknown",
    collected_at: str | None = None,
    apps_text: str | None = None,
    static_text: str | None = None,
    version_text: str | None = None,
    stats_texts: Sequence[str] | None = None,
    details_texts: Sequence[str] | None = None,
    processes_text: str | None = None,
    list_text: str | None = None,
) -> dict[str, Any]:
    """Parse one capture named by `fmt`; return the normalized report as JSON.

    `host` names the machine for tools that do not print it (everything but
    Prometheus, where it is only the fallback).  The companion captures are
    ``--query-compute-apps`` CSV (`apps_text`), ``amd-smi static --json``
    (`static_text`) and ``nvidia-smi --version`` / ``amd-smi version --json``
    (`version_text`); for xpu-smi, ``stats -d N -j`` and ``discovery -d N -j``
    per device (`stats_texts`, `details_texts`) and ``ps -j`` (`processes_text`);
    for AMD, ``amd-smi process --json`` or ``rocm-smi --showpids --json``
    (`processes_text`) and ``amd-smi list --json`` (`list_text`, for uuids).
    Passing one the format does not use is an error.
    """
    if not isinstance(fmt, str) or fmt not in _PARSERS:
        raise ValueError(f"unknown capture format {str(fmt)[:40]!r}; known: {', '.join(FORMATS)}")
    parser, accepted = _PARSERS[fmt]
    companions = {"apps_text": apps_text, "static_text": static_text, "version_text": version_text,
                  "stats_texts": stats_texts, "details_texts": details_texts, "processes_text": processes_text,
                  "list_text": list_text}
    given = {k: v for k, v in companions.items() if v is not None}
    unexpected = sorted(set(given) - accepted)
    if unexpected:
        raise ValueError(f"{fmt}: does not take {', '.join(unexpected)}")
    return parser(text, host=host, collected_at=collected_at, **given).to_json()
