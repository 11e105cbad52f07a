"""Parser for AMD's ``amd-smi ... --json``, and helpers rocm.py shares.

amd-smi (ROCm 6+) splits what nvidia-smi prints at once over several
commands, each printing a list of per-GPU objects keyed by ``"gpu"``:

* ``metric --json``: ``usage.gfx_activity``, ``mem_usage.total_vram/used_vram``
  (early releases: ``fb_usage.total/used``), ``power.socket_power`` (ROCm 6.0:
  ``average_socket_power``; MI300 on 6.1: ``current_socket_power``),
  ``temperature.hotspot/edge/mem``, ``ecc.total_uncorrectable_count``.
* ``static --json``: ``asic.market_name``, ``asic.target_graphics_version``,
  ``bus.bdf``, ``driver.version`` (6.0: ``driver_version``), ``vram.size``
  (6.0: ``vram_size_mb``), ``limit.socket_power`` (older: ``current_power``;
  7.2+: per PPT, ``limit.ppt0.socket_power_limit``, PPT1 being the raw-power cap).
* ``list --json``: ``bdf``, ``uuid`` (the only place amd-smi prints a uuid).
* ``process --json``: ``process_list`` of ``{"process_info": {...}}`` with
  ``name``, ``pid``, ``memory_usage.vram_mem`` and ``mem_usage``; an idle GPU
  has ``{"process_info": "No running processes detected"}``.
* ``version --json``: ``rocm_version`` (since 6.1; "N/A" without ROCm), and
  since 6.4 ``amdgpu_version``.

Shapes drift between releases: a bare list (6.0-6.3, and ``metric -w``),
``{"gpu_data": [...]}`` (6.4 and 7.x, beside ``cpu_data`` on APUs); values as
``{"value": 64, "unit": "%"}`` (6.1+) or bare numbers (6.0), and ``"N/A"``
for a value or a whole block (``"usage": "N/A"``).  Memory in metric/static
says "MB" but is MiB (bytes // 1024**2 in amdsmi_commands.py); process memory
is in bytes ("B"), bare process numbers are bytes too.  So every capture is
read the same way: its GPU entries are merged by index with the companions'
and each field is taken from wherever it appears, whichever single capture
is given first (metric, static, list or process).

rocm-smi's JSON is read by rocm.py.

Temperature policy (rocm.py follows it too): junction ("hotspot") first, as AMD alerts on it
and MI300 reports its edge sensor as N/A; edge only where junction is absent.
"""

from __future__ import annotations

import re
from typing import Any

from bot.farm.host import report, values
from bot.farm.host.report import Gpu, GpuProcess, HostReport, Vendor


def _dig(data: Any, *path: str) -> Any:
    """data[path[0]][path[1]]...; None where a level is missing or not an object."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _reading(raw: Any, what: str) -> tuple[float | None, str | None]:
    """An amd-smi value in any of its shapes -> (number, unit)."""
    if isinstance(raw, dict):
        unit = raw.get("unit")
        return values.parse_number(raw.get("value"), what), unit if isinstance(unit, str) else None
    if isinstance(raw, list):
        raise ValueError(f"{what}: expected a value, got a {type(raw).__name__}")
    parts = raw.split() if isinstance(raw, str) else []
    return values.parse_number(raw, what), parts[1] if len(parts) == 2 else None


_MIB_PER_UNIT = {"b": 1 / 2**20, "kb": 1 / 1024, "kib": 1 / 1024, "mb": 1, "mib": 1, "gb": 1024, "gib": 1024}


def _mib(raw: Any, what: str, default_unit: str = "mb") -> int | None:
    """Memory in MiB: amd-smi's "MB" means MiB (see module docstring)."""
    value, unit = _reading(raw, what)
    scale = _MIB_PER_UNIT.get((unit or default_unit).lower())
    if value is None or scale is None:
        return None
    return values.mib(value * scale)


def _first(entry: dict[str, Any], block: str, keys: tuple[str, ...]) -> float | None:
    """The first of `keys` in `entry[block]` that holds a number."""
    for key in keys:
        value = _reading(_dig(entry, block, key), f"{block}.{key}")[0]
        if value is not None:
            return value
    return None


def _first_mib(entry: dict[str, Any], paths: tuple[tuple[str, ...], ...]) -> int | None:
    for path in paths:
        value = _mib(_dig(entry, *path), ".".join(path))
        if value is not None:
            return value
    return None


def _gpu_list(data: Any, what: str) -> list[dict[str, Any]]:
    """Both amd-smi shapes: a bare list, or {"gpu_data": [...]}."""
    if isinstance(data, dict) and "gpu_data" in data:
        data = data["gpu_data"]
    if not isinstance(data, list):
        raise ValueError(f"{what}: expected a list of GPUs or {{\"gpu_data\": [...]}}")
    if len(data) > report.MAX_GPUS:
        raise ValueError(f"{what}: more than {report.MAX_GPUS} GPUs")
    if not all(isinstance(entry, dict) for entry in data):
        raise ValueError(f"{what}: every GPU entry must be an object")
    return data


def _gpu_index(entry: dict[str, Any], position: int) -> int:
    raw = entry.get("gpu")
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= report.MAX_INDEX:
        return position
    return raw


_VERSION_KEYS = ("rocm_version", "amdsmi_library_version")  # 6.0 printed no rocm_version


def _is_version(data: Any) -> bool:
    """``amd-smi version --json``: one object (or a list of one) without "gpu"."""
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    return isinstance(data, dict) and "gpu" not in data and any(k in data for k in _VERSION_KEYS)


def gfx_target(raw: Any) -> str | None:
    """``gfx942``-style names only: major (1-19), minor, hex stepping.  rocm-smi
    4.x filled such keys with PCI ids, and amd-smi before 6.4 printed MI100's
    gfx908 as "gfx9008" (its CHANGELOG, 6.4.0): both give None, not a wrong target."""
    text = values.clean_text(raw, report.MAX_TARGET_CHARS)
    return text.lower() if text and re.fullmatch(r"gfx(?:1[0-9]|[1-9])[0-9][0-9a-f]", text.lower()) else None


def product_name(raw: Any) -> str | None:
    """Product name; skip placeholders such as ``0x1002`` (ROCm 4.3 filled
    Card series with the PCI vendor id, early amd-smi market_name the device id)."""
    text = values.clean_text(raw, report.MAX_NAME_CHARS)
    return text if text and not re.fullmatch(r"0x[0-9a-fA-F]+", text) else None


def _driver(raw: Any) -> str | None:
    """amdgpu's version.  On inbox kernels some amd-smi builds print the whole
    /proc/version with spaces removed ("Linuxversion6.14.0-24-generic(buildd@...")
    (seen in ROCm/device-metrics-exporter test data): keep the kernel release."""
    text = values.clean_text(raw, 4096)
    if text is None:
        return None
    m = re.match(r"Linux\s*version\s*([^\s(]+)", text)
    return values.clean_text(m.group(1) if m else text, report.MAX_VERSION_CHARS)


def _version_fields(version_text: str | None) -> tuple[str | None, str | None]:
    """(rocm_version, amdgpu_version) of ``amd-smi version --json``."""
    if version_text is None:
        return None, None
    data = values.load_json(version_text, "amd-smi version")
    if isinstance(data, list) and data:
        data = data[0]
    if not _is_version(data):
        raise ValueError("amd-smi version: no rocm_version or amdsmi_library_version")
    return (values.clean_text(data.get("rocm_version"), report.MAX_VERSION_CHARS),
            _driver(data.get("amdgpu_version")))


# --- processes --------------------------------------------------------------


def process_pid(raw: Any) -> int | None:
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, str) and re.fullmatch(r"\s*\d{1,10}\s*", raw):
        raw = int(raw)
    return raw if isinstance(raw, int) and 0 < raw <= report.MAX_PID else None


def _amd_smi_process(item: Any) -> GpuProcess | None:
    """One ``process_list`` item; None for "No running processes detected"
    and other entries without a pid.  The flat form (no ``process_info``) is
    what the amdsmi Python library returns; some tools store that."""
    info = item.get("process_info", item) if isinstance(item, dict) else None
    if not isinstance(info, dict):
        return None
    pid = process_pid(info.get("pid"))
    if pid is None:
        return None
    # VRAM like nvidia-smi's used_gpu_memory; the total (VRAM + GTT) only where
    # vram_mem is absent, not where it is "N/A".
    vram = _dig(info, "memory_usage", "vram_mem")
    if vram is not None:
        memory = _mib(vram, "memory_usage.vram_mem", "b")
    else:
        memory = _mib(info.get("mem_usage", info.get("mem")), "mem_usage", "b")
    name = values.clean_text(info.get("name"), report.MAX_PROCESS_NAME_CHARS)
    return GpuProcess(pid=pid, name=name, memory_mib=memory)


def _amd_smi_processes(entry: dict[str, Any]) -> tuple[GpuProcess, ...]:
    items = entry.get("process_list")
    if not isinstance(items, list):  # "N/A", "No running processes detected", absent
        return ()
    found = (_amd_smi_process(item) for item in items)
    return tuple(p for p in found if p is not None)[: report.MAX_PROCESSES_PER_GPU]


# --- amd-smi ----------------------------------------------------------------


def _merge(documents: list[tuple[str, str | None]]) -> dict[int, dict[str, Any]]:
    """Every capture's GPU entries, merged by index; the first capture wins a key."""
    merged: dict[int, dict[str, Any]] = {}
    for what, text in documents:
        if text is None:
            continue
        for position, entry in enumerate(_gpu_list(values.load_json(text, what), what)):
            if "gpu" not in entry and ("cpu" in entry or "core" in entry):
                continue  # amd-smi on hosts with EPYC/MI300A lists CPUs and cores too
            target = merged.setdefault(_gpu_index(entry, position), {})
            for key, value in entry.items():
                target.setdefault(key, value)
    if len(merged) > report.MAX_GPUS:
        raise ValueError(f"amd-smi: more than {report.MAX_GPUS} GPUs")
    return merged


def _power_limit(e: dict[str, Any]) -> float | None:
    """The enforced cap: ROCm 7.2+ prints one block per PPT; PPT0 tracks the
    filtered power and is the card's cap (PPT1, on the raw input, never is)."""
    ppt0 = _reading(_dig(e, "limit", "ppt0", "socket_power_limit"), "limit.ppt0.socket_power_limit")[0]
    return ppt0 if ppt0 is not None else _first(e, "limit", ("socket_power", "current_power"))


def _amd_smi_gpu(index: int, e: dict[str, Any]) -> Gpu:
    temperature = _first(e, "temperature", ("hotspot", "junction", "edge"))
    total = _first_mib(e, (("mem_usage", "total_vram"), ("fb_usage", "total"), ("fb_usage", "fb_total"),
                           ("vram", "size"), ("vram", "vram_size_mb")))
    used = _first_mib(e, (("mem_usage", "used_vram"), ("fb_usage", "used"), ("fb_usage", "fb_used")))
    ecc = _first(e, "ecc", ("total_uncorrectable_count", "uncorrectable_count"))
    return Gpu(
        index=index,
        vendor=Vendor.AMD,
        name=product_name(_dig(e, "asic", "market_name")) or product_name(_dig(e, "board", "product_name")),
        uuid=values.clean_text(e.get("uuid"), report.MAX_ID_CHARS),
        bus_id=values.normalize_bus_id(_dig(e, "bus", "bdf") or e.get("bdf")),
        memory_total_mib=total,
        memory_used_mib=used,
        utilization_pct=values.percent(_first(e, "usage", ("gfx_activity",))),
        temperature_c=values.celsius(temperature),
        # socket_power since ROCm 6.1; earlier releases named the reading.
        power_w=values.watts(_first(e, "power", ("socket_power", "current_socket_power", "average_socket_power"))),
        power_limit_w=values.watts(_power_limit(e)),
        processes=_amd_smi_processes(e),
        target=gfx_target(_dig(e, "asic", "target_graphics_version")),
        ecc_uncorrected=values.count(ecc),
    )


def parse_amd_smi_json(
    metric_text: str,
    static_text: str | None = None,
    version_text: str | None = None,
    *,
    list_text: str | None = None,
    processes_text: str | None = None,
    host: str = "unknown",
    collected_at: str | None = None,
) -> HostReport:
    """``amd-smi metric --json`` with optional companions: ``static --json``,
    ``version --json``, ``list --json`` (uuid), ``process --json``.

    The first capture may be any of them (static alone gives names, VRAM
    totals and limits; version alone gives a host without GPUs)."""
    if _is_version(values.load_json(metric_text, "amd-smi")):
        version_text, metric_text = version_text or metric_text, "[]"
    rocm, amdgpu = _version_fields(version_text)
    merged = _merge([("amd-smi", metric_text), ("amd-smi static", static_text),
                     ("amd-smi list", list_text), ("amd-smi process", processes_text)])
    gpus = tuple(_amd_smi_gpu(index, entry) for index, entry in sorted(merged.items()))
    drivers = (_driver(_dig(e, "driver", "version") or _dig(e, "driver", "driver_version")) for e in merged.values())
    return HostReport(
        host=host,
        gpus=gpus,
        driver_version=next((d for d in drivers if d), None) or amdgpu,
        rocm_version=rocm,
        collected_at=collected_at,
    )
