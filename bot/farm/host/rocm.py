"""Parser for ``rocm-smi --json`` (deprecated in favour of amd-smi, still everywhere).

``rocm-smi --showallinfo --json`` prints ``card0..cardN`` plus ``system``,
every value a string, and key spellings that drift between releases
(``Card series`` -> ``Card Series``; ``Average Graphics Package Power (W)`` ->
``Current Socket Graphics Package Power (W)`` on MI300).  Keys are matched
case- and space-insensitively, trying the spellings listed below in order.
``--showpids`` adds ``"PID<n>": "name, gpus, vram bytes, sdma, cu"`` entries
to ``system``; they name a GPU count, not which GPU, so they are attached
only on a single-GPU host.

Temperature: junction first, edge where it is absent (as in amd.py).
"""

from __future__ import annotations

import re
from typing import Any

from bot.farm.host import report, values
from bot.farm.host.amd import gfx_target, process_pid, product_name
from bot.farm.host.report import Gpu, GpuProcess, HostReport, Vendor

# Spellings per field, most recent first.  "Card series" became "Card Series"
# in ROCm 6.x and "Device Name" appeared beside it; MI300 reports "Current
# Socket Graphics Package Power" where older parts report "Average ...".
_ROCM_KEYS = {
    "name": ("Device Name", "Card Series", "Card series"),
    "uuid": ("Unique ID",),
    "bus_id": ("PCI Bus",),
    "total": ("VRAM Total Memory (B)",),
    "used": ("VRAM Total Used Memory (B)",),
    "util": ("GPU use (%)",),
    "junction": ("Temperature (Sensor junction) (C)", "Temperature (Sensor hotspot) (C)"),
    "edge": ("Temperature (Sensor edge) (C)",),
    "power": (
        "Current Socket Graphics Package Power (W)",
        "Average Graphics Package Power (W)",
        "Average Graphics Package Power(W)",
    ),
    "limit": ("Max Graphics Package Power (W)",),
    "target": ("GFX Version",),
}


def _norm_key(key: str) -> str:
    return " ".join(key.lower().replace("(", " (").split())


def _normalized(card: dict[str, Any]) -> dict[str, Any]:
    return {_norm_key(k): v for k, v in card.items() if isinstance(k, str)}


def _lookup(card: dict[str, Any], field: str) -> Any:
    """The first spelling of `field` present in `card` (keys already normalized)."""
    for spelling in _ROCM_KEYS[field]:
        value = card.get(_norm_key(spelling))
        if value is not None:
            return value
    return None


def _rocm_name(card: dict[str, Any]) -> str | None:
    for spelling in _ROCM_KEYS["name"]:
        name = product_name(card.get(_norm_key(spelling)))
        if name:
            return name
    return None


def _rocm_processes(system: dict[str, Any]) -> list[GpuProcess]:
    """``"PID1234": "python3, 1, 1073741824, 0, 0"`` entries (name, GPU count,
    VRAM bytes, SDMA, CU occupancy; a name may hold commas, so fields are
    taken from the right).  An entry without a readable pid is skipped."""
    found = []
    for key, raw in system.items():
        m = re.fullmatch(r"pid\s*(\d{1,10})", key)
        pid = process_pid(m.group(1)) if m else None
        if pid is None or not isinstance(raw, str):
            continue
        fields = raw.rsplit(",", 4)  # the name keeps its commas
        name, memory = fields[0].strip(), None
        if name.startswith(f"{pid},"):  # the PID column repeated
            name = name[len(str(pid)) + 1:].strip()
        if len(fields) == 5:
            try:
                memory = values.bytes_to_mib(values.parse_number(fields[2], f"{key} VRAM"))
            except ValueError:  # one process's odd column must not cost the report
                memory = None
        found.append(GpuProcess(pid=pid, name=values.clean_text(name, report.MAX_PROCESS_NAME_CHARS),
                                memory_mib=memory))
    return found[: report.MAX_PROCESSES_PER_GPU]


def _rocm_system(data: Any) -> dict[str, Any]:
    """The ``system`` object of a rocm-smi capture, keys normalized."""
    system = data.get("system") if isinstance(data, dict) else None
    return _normalized(system) if isinstance(system, dict) else {}


def _rocm_pids(text: str | None) -> dict[str, Any]:
    """``rocm-smi --showpids --json``: its ``system`` object.  With no KFD
    process it prints no JSON at all, only this warning (ROCm/rocm-smi's
    printJson when nothing was logged)."""
    if text is None or text.strip() == "WARNING: No JSON data to report":
        return {}
    data = values.load_json(text, "rocm-smi --showpids")
    if not isinstance(data, dict):
        raise ValueError("rocm-smi --showpids: expected an object with a system entry")
    return _rocm_system(data)


def parse_rocm_smi_json(
    text: str,
    *,
    processes_text: str | None = None,
    host: str = "unknown",
    collected_at: str | None = None,
) -> HostReport:
    """``rocm-smi --showallinfo --json`` (or any subset of its --show flags);
    `processes_text` is ``rocm-smi --showpids --json`` where the main capture
    lacks the PID entries."""
    data = values.load_json(text, "rocm-smi")
    if not isinstance(data, dict):
        raise ValueError("rocm-smi: expected an object with card0..cardN")
    cards = []
    for key, card in data.items():
        m = re.fullmatch(r"card(\d{1,4})", key)
        if m is None:
            continue
        if not isinstance(card, dict):
            raise ValueError(f"rocm-smi: {key} is not an object")
        cards.append((int(m.group(1)), _normalized(card)))
    if not cards and "system" not in data:
        raise ValueError("rocm-smi: no card0..cardN or system entry")
    if len(cards) > report.MAX_GPUS:
        raise ValueError(f"rocm-smi: more than {report.MAX_GPUS} GPUs")
    system = _rocm_system(data)
    processes = _rocm_processes({**_rocm_pids(processes_text), **system})
    gpus = []
    for index, card in sorted(cards, key=lambda c: c[0]):
        if index > report.MAX_INDEX:
            raise ValueError(f"rocm-smi: card{index} index too large")
        num = values.parse_number
        temperature = num(_lookup(card, "junction"), "junction temperature")
        if temperature is None:
            temperature = num(_lookup(card, "edge"), "edge temperature")
        gpus.append(
            Gpu(
                index=index,
                vendor=Vendor.AMD,
                name=_rocm_name(card),
                uuid=values.clean_text(_lookup(card, "uuid"), report.MAX_ID_CHARS),
                bus_id=values.normalize_bus_id(_lookup(card, "bus_id")),
                memory_total_mib=values.bytes_to_mib(num(_lookup(card, "total"), "VRAM total")),
                memory_used_mib=values.bytes_to_mib(num(_lookup(card, "used"), "VRAM used")),
                utilization_pct=values.percent(num(_lookup(card, "util"), "GPU use")),
                temperature_c=values.celsius(temperature),
                power_w=values.watts(num(_lookup(card, "power"), "package power")),
                power_limit_w=values.watts(num(_lookup(card, "limit"), "max package power")),
                # The PID entries give a GPU count, not which GPU: only a single
                # GPU can be named without guessing.
                processes=tuple(processes) if len(cards) == 1 else (),
                target=gfx_target(_lookup(card, "target")),
            )
        )
    return HostReport(
        host=host,
        gpus=tuple(gpus),
        driver_version=values.clean_text(system.get("driver version"), report.MAX_VERSION_CHARS),
        rocm_version=values.clean_text(system.get("rocm version"), report.MAX_VERSION_CHARS),
        collected_at=collected_at,
    )
