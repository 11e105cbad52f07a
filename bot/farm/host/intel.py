"""Parser for Intel's ``xpu-smi`` (XPU Manager's daemonless CLI) JSON output.

One host needs several calls, all with ``-j`` (real key names from
intel/xpumanager ``cli/src/core_stub/*.cpp``, MIT):

* ``xpu-smi discovery -j``: ``{"device_list": [{"device_id", "device_name",
  "uuid", "pci_bdf_address", "pci_device_id", "vendor_name", "drm_device",
  "device_function_type", "device_type"}]}``; ``"device_list": null`` when
  no device is found.  xpu-smi 2.x (Battlemage) has been seen printing every
  property of ``discovery -d N -j`` inside these entries too
  (intel/xpumanager#127); they are read wherever they appear.
* ``xpu-smi discovery -d N -j``: one flat object, every value a string:
  ``device_name``, ``uuid``, ``pci_bdf_address``, ``driver_version``
  (``I915_23.10.72_PSB_231129.76``), ``memory_physical_size_byte``,
  ``memory_free_size_byte``, ``number_of_tiles``, ... (lowercased XPUM
  property names).  It is the only source of total memory and driver; where
  a device has no stats, physical minus free memory gives memory used.
* ``xpu-smi stats -d N -j``: ``{"device_id": N, "device_level": [...],
  "tile_level": [{"tile_id": T, "data_list": [...]}]}`` where each reading is
  ``{"metrics_type": "XPUM_STATS_POWER", "value": 15.2}``.  The daemon CLI
  (xpumcli) prints ``avg``/``min``/``max`` beside ``value``; ``value`` (the
  current reading) is read first, ``avg`` where it is absent.  Memory used
  is already MiB (the CLI divides bytes by 1048576).  Unsupported metrics
  are simply left out of the list.
* ``xpu-smi ps -j``: ``{"device_util_by_proc_list": [{"process_id",
  "process_name", "device_id", "mem_size", "shared_mem_size"}]}`` with
  memory in kB (the CLI divides bytes by 1000).

Any of these may instead be ``{"error": "...", "errno": N}``.  A stats
object that is such an error is skipped (that device gets no readings); a
discovery or ps error is a ValueError.

Multi-tile devices (Data Center GPU Max 1550: two tiles per card) are one
GPU, as ``xpu-smi discovery`` lists them.  Per Intel's ``xpu-smi dump -h``,
device-level temperature and utilization are the *average* of the tiles and
memory used the sum.  So:

* temperature: the hottest tile where tiles report one (an average would hide
  a tile running hot, and alerts watch this number), the device level else;
* utilization, power, memory used: the device level; where it lacks the
  metric, the mean (utilization) or sum (power, memory) of the tiles.

The power limit is not in any of these outputs (only ``xpu-smi config``
shows it), so ``power_limit_w`` stays None.  ``xpu-smi dump`` CSV is not
read: it carries no identity, and the JSON commands carry everything it does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.farm.host import report, values
from bot.farm.host.report import Gpu, GpuProcess, HostReport, Vendor

_MAX_TILES = 16

# Metric names per field, first present wins.  XPUM_STATS_GPU_TEMPERATURE is
# the name before the core/memory split (XPU Manager 1.0).
_UTILIZATION = ("XPUM_STATS_GPU_UTILIZATION", "XPUM_STATS_ENGINE_GROUP_COMPUTE_ALL_UTILIZATION")
_POWER = ("XPUM_STATS_POWER",)
_TEMPERATURE = ("XPUM_STATS_GPU_CORE_TEMPERATURE", "XPUM_STATS_GPU_TEMPERATURE")
_MEMORY_USED = ("XPUM_STATS_MEMORY_USED",)
# "GPU Memory Errors Uncorrectable" in xpu-smi's own words (dump metric 30).
_ECC = ("XPUM_STATS_RAS_ERROR_CAT_NON_COMPUTE_ERRORS_UNCORRECTABLE",)


def _tool_error(data: Any) -> str | None:
    """The message of an ``{"error": ...}`` answer, None for anything else."""
    if isinstance(data, dict) and "error" in data and "device_id" not in data:
        return values.shorten(data["error"], 80)
    return None


def _device_id(raw: Any) -> int | None:
    """device_id is an int in JSON from the CLI; tolerate a digit string."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if isinstance(raw, int) and 0 <= raw <= report.MAX_INDEX:
        return raw
    return None


def _devices(data: Any) -> list[dict[str, Any]]:
    """Both discovery shapes: the list (``-j``) or one device (``-d N -j``)."""
    error = _tool_error(data)
    if error is not None:
        raise ValueError(f"xpu-smi discovery: the tool reported an error: {error!r}")
    if not isinstance(data, dict):
        raise ValueError("xpu-smi discovery: expected an object with device_list")
    if "device_list" in data:
        devices = data["device_list"]
        if devices is None:  # nlohmann::json prints an empty list as null here
            return []
    elif "device_id" in data:
        devices = [data]
    else:
        raise ValueError("xpu-smi discovery: no device_list (nor device_id)")
    if not isinstance(devices, list):
        raise ValueError("xpu-smi discovery: device_list is not a list")
    if len(devices) > report.MAX_GPUS:
        raise ValueError(f"xpu-smi discovery: more than {report.MAX_GPUS} devices")
    if not all(isinstance(d, dict) for d in devices):
        raise ValueError("xpu-smi discovery: every device must be an object")
    return devices


def device_ids(discovery_text: str) -> list[int]:
    """The device ids of ``xpu-smi discovery -j``: what the agent asks stats for."""
    devices = _devices(values.load_json(discovery_text, "xpu-smi discovery"))
    ids = [_device_id(d.get("device_id")) for d in devices]
    return [i for i in ids if i is not None]


def _by_device(texts: Iterable[str], what: str) -> dict[int, dict[str, Any]]:
    """Per-device captures (``-d N -j``) keyed by their device_id; tool errors skipped."""
    found: dict[int, dict[str, Any]] = {}
    for number, text in enumerate(texts):
        if number >= report.MAX_GPUS:
            raise ValueError(f"{what}: more than {report.MAX_GPUS} captures")
        data = values.load_json(text, what)
        if _tool_error(data) is not None:
            continue
        if not isinstance(data, dict):
            raise ValueError(f"{what}: expected an object")
        device = _device_id(data.get("device_id"))
        if device is None:
            raise ValueError(f"{what}: no valid device_id")
        found[device] = data
    return found


def _readings(entries: Any, what: str) -> dict[str, float]:
    """A data_list / device_level list -> {metrics_type: number}."""
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise ValueError(f"{what}: expected a list of readings")
    found: dict[str, float] = {}
    for entry in entries[:256]:
        if not isinstance(entry, dict):
            raise ValueError(f"{what}: every reading must be an object")
        name = entry.get("metrics_type")
        if not isinstance(name, str):
            raise ValueError(f"{what}: a reading without metrics_type")
        raw = entry.get("value")
        if raw is None:
            raw = entry.get("avg")
        value = values.parse_number(raw, f"{what} {values.shorten(name, 60)}")
        if value is not None:
            found.setdefault(name, value)
    return found


def _first(readings: dict[str, float], names: tuple[str, ...]) -> float | None:
    return next((readings[n] for n in names if n in readings), None)


class _Stats:
    """One ``stats -d N -j`` answer: device-level and per-tile readings."""

    def __init__(self, data: dict[str, Any] | None) -> None:
        data = data or {}
        self.device = _readings(data.get("device_level"), "xpu-smi stats device_level")
        tiles = data.get("tile_level") or []
        if not isinstance(tiles, list):
            raise ValueError("xpu-smi stats: tile_level is not a list")
        if len(tiles) > _MAX_TILES:
            raise ValueError(f"xpu-smi stats: more than {_MAX_TILES} tiles")
        self.tiles = []
        for tile in tiles:
            if not isinstance(tile, dict):
                raise ValueError("xpu-smi stats: every tile must be an object")
            self.tiles.append(_readings(tile.get("data_list"), "xpu-smi stats tile data_list"))

    def _tile_values(self, names: tuple[str, ...]) -> list[float]:
        return [v for t in self.tiles if (v := _first(t, names)) is not None]

    def device_or_tiles(self, names: tuple[str, ...], combine: str) -> float | None:
        value = _first(self.device, names)
        if value is not None:
            return value
        tiles = self._tile_values(names)
        if not tiles:
            return None
        return sum(tiles) if combine == "sum" else sum(tiles) / len(tiles)

    def hottest(self) -> float | None:
        # Only plausible tile readings compete: a sentinel must not win max().
        tiles = [t for t in map(values.celsius, self._tile_values(_TEMPERATURE)) if t is not None]
        return max(tiles) if tiles else values.celsius(_first(self.device, _TEMPERATURE))


def _processes(text: str | None) -> dict[int, list[GpuProcess]]:
    if text is None:
        return {}
    data = values.load_json(text, "xpu-smi ps")
    error = _tool_error(data)
    if error is not None:
        raise ValueError(f"xpu-smi ps: the tool reported an error: {error!r}")
    if not isinstance(data, dict) or "device_util_by_proc_list" not in data:
        raise ValueError("xpu-smi ps: expected an object with device_util_by_proc_list")
    rows = data["device_util_by_proc_list"] or []
    if not isinstance(rows, list):
        raise ValueError("xpu-smi ps: device_util_by_proc_list is not a list")
    if len(rows) > report.MAX_GPUS * report.MAX_PROCESSES_PER_GPU:
        raise ValueError("xpu-smi ps: too many processes")
    by_device: dict[int, list[GpuProcess]] = {}
    for row in rows:
        if not isinstance(row, dict):
            raise ValueError("xpu-smi ps: every process must be an object")
        pid = row.get("process_id")
        if isinstance(pid, bool) or not isinstance(pid, int) or not 0 <= pid <= report.MAX_PID:
            raise ValueError(f"xpu-smi ps: bad process_id {values.shorten(pid)!r}")
        device = _device_id(row.get("device_id"))
        if device is None:
            raise ValueError("xpu-smi ps: a process names no valid device_id")
        kilobytes = values.parse_number(row.get("mem_size"), "mem_size")
        procs = by_device.setdefault(device, [])
        if len(procs) < report.MAX_PROCESSES_PER_GPU:
            procs.append(
                GpuProcess(
                    pid=pid,
                    name=values.clean_text(row.get("process_name"), report.MAX_PROCESS_NAME_CHARS),
                    memory_mib=None if kilobytes is None else values.bytes_to_mib(kilobytes * 1000),
                )
            )
    return by_device


def parse_xpu_smi_json(
    discovery_text: str,
    stats_texts: Iterable[str] = (),
    processes_text: str | None = None,
    *,
    details_texts: Iterable[str] = (),
    host: str = "unknown",
    collected_at: str | None = None,
) -> HostReport:
    """``xpu-smi discovery -j`` (+ per device ``stats -d N -j`` and
    ``discovery -d N -j``, + ``ps -j``) -> HostReport.

    `discovery_text` may also be one device's ``discovery -d N -j``.
    """
    devices = _devices(values.load_json(discovery_text, "xpu-smi discovery"))
    details = _by_device(details_texts, "xpu-smi discovery -d")
    stats = _by_device(stats_texts, "xpu-smi stats")
    processes = _processes(processes_text)
    gpus: list[Gpu] = []
    seen: set[int] = set()
    driver = None
    for position, listed in enumerate(devices):
        index = _device_id(listed.get("device_id"))
        if index is None or index in seen:
            index = position if position not in seen else max(seen) + 1
        seen.add(index)
        # Detailed discovery first: it is a superset of the list entry.
        info = {**listed, **details.get(index, {})}
        readings = _Stats(stats.get(index))
        physical = values.parse_number(info.get("memory_physical_size_byte"), "memory_physical_size_byte")
        used = values.mib(readings.device_or_tiles(_MEMORY_USED, "sum"))
        if used is None and physical is not None:
            # No stats: what Level Zero says is free (discovery -d) gives used.
            free = values.parse_number(info.get("memory_free_size_byte"), "memory_free_size_byte")
            used = None if free is None or free > physical else values.bytes_to_mib(physical - free)
        driver = driver or values.clean_text(info.get("driver_version"), report.MAX_VERSION_CHARS)
        gpus.append(
            Gpu(
                index=index,
                vendor=Vendor.INTEL,
                name=values.clean_text(info.get("device_name"), report.MAX_NAME_CHARS),
                uuid=values.clean_text(info.get("uuid"), report.MAX_ID_CHARS),
                bus_id=values.normalize_bus_id(info.get("pci_bdf_address")),
                memory_total_mib=values.bytes_to_mib(physical),
                memory_used_mib=used,
                utilization_pct=values.percent(readings.device_or_tiles(_UTILIZATION, "mean")),
                temperature_c=readings.hottest(),
                power_w=values.watts(readings.device_or_tiles(_POWER, "sum")),
                power_limit_w=None,
                processes=tuple(processes.get(index, ())),
                ecc_uncorrected=values.count(readings.device_or_tiles(_ECC, "sum")),
            )
        )
    return HostReport(host=host, gpus=tuple(gpus), driver_version=driver, collected_at=collected_at)
