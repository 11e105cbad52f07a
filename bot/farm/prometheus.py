"""Prometheus text from the GPU exporters -> one HostReport per host.

Three exporters are understood; any other metric in the scrape is ignored:

* NVIDIA dcgm-exporter (port 9400): ``DCGM_FI_DEV_*`` with labels ``gpu``,
  ``UUID``, ``pci_bus_id``, ``modelName``, ``Hostname`` and, when configured,
  ``DCGM_FI_DRIVER_VERSION``.  Memory is in MiB; the total is
  ``DCGM_FI_DEV_FB_TOTAL`` where exported, else used + free (+ reserved:
  since DCGM 3.3 FB_RESERVED is split out of FB_USED, and nvidia-smi's
  total = used + free + reserved, 81559 = 16227 + 64853 + 480 in our capture,
  give or take rounding).  MIG instance series (a non-empty ``GPU_I_ID``)
  are skipped: this report is per physical GPU.
* AMD device-metrics-exporter (port 5000): lowercase ``gpu_*`` names (an
  ``amd_`` prefix, which the exporter can be configured to add, is accepted)
  with labels ``gpu_id``, ``gpu_uuid``, ``card_series``, ``card_model``,
  ``hostname``, ``driver_version``; VRAM in MB, which like amd-smi is MiB.
* Intel XPU Manager exporter: ``xpum_*`` with labels ``uuid``, ``dev_name``,
  ``pci_bdf``, ``dev_file``, ``node``; per-tile series carry ``sub_dev``,
  per-card sums carry ``card`` and no device labels (skipped).  Its
  ``*_ratio`` metrics are fractions, not percent: the exporter multiplies
  the percentage by 0.01 (prometheus_exporter_types.py, ``scale=0.01``).
  It exports no memory total, so that stays None.

DCGM "blank" values.  When DCGM cannot read a field it stores a sentinel
instead (NVIDIA/DCGM dcgmlib/dcgm_structs.h, DCGM_BLANK_VALUES):

* int64 fields: DCGM_INT64_BLANK = 0x7ffffffffffffff0 and +1..+3
  (NOT_FOUND, NOT_SUPPORTED, NOT_PERMISSIONED).  Printed as integers
  9223372036854775792..95, they all parse to the double 2**63
  (~9.22e18); DCGM_INT64_IS_BLANK is ``value >= DCGM_INT64_BLANK``.
* int64 fields holding an int32 sentinel: DCGM_INT32_BLANK = 0x7ffffff0 and
  +1..+3, i.e. exactly 2147483632..2147483635.  dcgm-exporter's own filter
  (pkg/dcgmexporter: isInt64Blank) drops exactly these four values.
* double fields: DCGM_FP64_BLANK = 2**47 = 140737488355328.0 and +1..+3;
  DCGM_FP64_IS_BLANK is ``value >= DCGM_FP64_BLANK``.

Recent dcgm-exporters filter these themselves; older ones printed them, so
samples matching the rule for the field's type are dropped here.  NaN and
infinite samples are dropped for every exporter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from bot.farm.host import report, values
from bot.farm.host.report import Gpu, HostReport, Vendor

# Integers, not doubles: prometheus_client returns integer literals as int,
# and Python compares int with float exactly, so these catch both spellings.
DCGM_INT32_BLANKS = frozenset(0x7FFFFFF0 + i for i in range(4))
DCGM_INT64_BLANK = 0x7FFFFFFFFFFFFFF0
DCGM_FP64_BLANK = 2**47

MAX_HOSTS = 1024

# metric name -> (field, DCGM value type)
_DCGM = {
    "DCGM_FI_DEV_GPU_UTIL": ("util", "int"),
    "DCGM_FI_DEV_GPU_TEMP": ("temperature", "int"),
    "DCGM_FI_DEV_POWER_USAGE": ("power", "fp64"),
    "DCGM_FI_DEV_POWER_MGMT_LIMIT": ("power_limit", "fp64"),
    "DCGM_FI_DEV_ENFORCED_POWER_LIMIT": ("power_limit_enforced", "fp64"),
    "DCGM_FI_DEV_FB_TOTAL": ("fb_total", "int"),
    "DCGM_FI_DEV_FB_USED": ("fb_used", "int"),
    "DCGM_FI_DEV_FB_FREE": ("fb_free", "int"),
    "DCGM_FI_DEV_FB_RESERVED": ("fb_reserved", "int"),
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": ("ecc", "int"),
}
_AMD = {
    "gpu_gfx_activity": "util",
    "gpu_junction_temperature": "temperature",  # MI3xx
    "gpu_edge_temperature": "temperature_edge",  # MI2xx
    "gpu_package_power": "power",  # MI3xx
    "gpu_average_package_power": "power_average",  # MI2xx
    "gpu_power_usage": "power_usage",
    "gpu_total_vram": "fb_total",
    "gpu_used_vram": "fb_used",
    "gpu_ecc_uncorrect_total": "ecc",
}
_XPUM = {
    "xpum_engine_ratio": "util_ratio",
    "xpum_power_watts": "power",
    "xpum_temperature_celsius": "temperature",
    "xpum_memory_used_bytes": "used_bytes",
}


@dataclass
class _Device:
    """Readings gathered for one GPU while walking the samples."""

    vendor: Vendor
    index: int | None = None
    name: str | None = None
    uuid: str | None = None
    bus_id: str | None = None
    driver: str | None = None
    device: dict[str, float] = field(default_factory=dict)
    tiles: dict[str, dict[str, float]] = field(default_factory=dict)  # Intel per-tile


def _dcgm_blank(value: int | float, kind: str) -> bool:
    """DCGM_*_IS_BLANK for the field's type; see the module docstring."""
    if kind == "fp64":
        return value >= DCGM_FP64_BLANK
    return value in DCGM_INT32_BLANKS or value >= DCGM_INT64_BLANK


def _host(labels: dict[str, str], default_host: str) -> str:
    for key in ("Hostname", "hostname", "node", "instance"):
        raw = labels.get(key)
        if raw:
            host = raw
            if key == "instance":  # "10.0.0.7:9400" -> "10.0.0.7"
                host = re.sub(r":\d+$", "", host)
            text = values.clean_text(host, report.MAX_HOST_CHARS)
            if text:
                return text.replace(" ", "_")
    return default_host


def _label_index(raw: str | None) -> int | None:
    if raw is not None and re.fullmatch(r"\d{1,4}", raw) and int(raw) <= report.MAX_INDEX:
        return int(raw)
    return None


def _classify(name: str, labels: dict[str, str]) -> tuple[Vendor, str, str] | None:
    """(vendor, field, DCGM type) for metrics we read, None for the rest."""
    if name in _DCGM:
        if labels.get("GPU_I_ID"):
            return None  # a MIG instance, not the physical GPU
        fld, kind = _DCGM[name]
        return Vendor.NVIDIA, fld, kind
    lowered = name.lower()
    lowered = lowered[4:] if lowered.startswith("amd_gpu_") else lowered
    if lowered + "_total" in _AMD:  # gpu_ecc_uncorrect_total declared as a counter
        lowered += "_total"
    if lowered in _AMD:
        return Vendor.AMD, _AMD[lowered], ""
    if name == "xpum_engine_group_ratio" and labels.get("type") == "compute":
        return Vendor.INTEL, "util_compute_ratio", ""
    if name == "xpum_temperature_celsius" and labels.get("location") != "gpu":
        return None
    if name in _XPUM:
        return Vendor.INTEL, _XPUM[name], ""
    return None


def _device_key(vendor: Vendor, labels: dict[str, str]) -> str | None:
    if vendor is Vendor.NVIDIA:
        return labels.get("gpu") or labels.get("UUID")
    if vendor is Vendor.AMD:
        return labels.get("gpu_id") or labels.get("gpu_uuid")
    return labels.get("uuid") or labels.get("pci_bdf")  # card-level sums have neither


def _note_identity(dev: _Device, labels: dict[str, str]) -> None:
    """Fill identity fields from whichever sample carries them first."""
    if dev.vendor is Vendor.NVIDIA:
        index, name, uuid, bus, driver = "gpu", "modelName", "UUID", "pci_bus_id", "DCGM_FI_DRIVER_VERSION"
    elif dev.vendor is Vendor.AMD:
        index, name, uuid, bus, driver = "gpu_id", "card_series", "gpu_uuid", "pci_bus_id", "driver_version"
    else:
        index, name, uuid, bus, driver = "", "dev_name", "uuid", "pci_bdf", ""
    dev.index = dev.index if dev.index is not None else _label_index(labels.get(index))
    dev.name = dev.name or values.clean_text(labels.get(name), report.MAX_NAME_CHARS)
    if dev.vendor is Vendor.AMD and dev.name is None:
        dev.name = values.clean_text(labels.get("card_model"), report.MAX_NAME_CHARS)
    dev.uuid = dev.uuid or values.clean_text(labels.get(uuid), report.MAX_ID_CHARS)
    dev.bus_id = dev.bus_id or values.normalize_bus_id(labels.get(bus))
    dev.driver = dev.driver or values.clean_text(labels.get(driver), report.MAX_VERSION_CHARS)


def _samples(text: str) -> Iterator[tuple[str, dict[str, str], float]]:
    """(name, labels, value) for every sample; the library's errors become ValueError."""
    # Imported here: only a farm that scrapes exporters needs the parser (and the library behind it).
    from prometheus_client.parser import text_string_to_metric_families

    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                name = sample.name
                # prometheus_client renames the samples of a family declared
                # "# TYPE X counter" to X_total: dcgm-exporter declares
                # DCGM_FI_DEV_ECC_DBE_VOL_TOTAL that way.
                if family.type == "counter" and name == family.name + "_total":
                    name = family.name
                yield name, sample.labels, sample.value
    except (ValueError, IndexError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"prometheus: not exposition text ({values.shorten(exc, 80)})") from None


def _collect(text: str, default_host: str) -> dict[str, dict[tuple[Vendor, str], _Device]]:
    hosts: dict[str, dict[tuple[Vendor, str], _Device]] = {}
    for name, labels, value in _samples(text):
        kind = _classify(name, labels)
        if kind is None:
            continue
        vendor, fld, dcgm_type = kind
        # Integer literals arrive as int (exact, which the blank test needs).
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        if vendor is Vendor.NVIDIA and _dcgm_blank(value, dcgm_type):
            continue
        if abs(value) > 2**63:
            continue  # beyond any reading; keeps float() below exact enough
        value = float(value)
        key = _device_key(vendor, labels)
        if not key:
            continue
        host = _host(labels, default_host)
        devices = hosts.get(host)
        if devices is None:
            if len(hosts) >= MAX_HOSTS:
                raise ValueError(f"prometheus: more than {MAX_HOSTS} hosts")
            devices = hosts[host] = {}
        dev = devices.get((vendor, key))
        if dev is None:
            if len(devices) >= report.MAX_GPUS:
                raise ValueError(f"prometheus: more than {report.MAX_GPUS} GPUs on {host}")
            dev = devices[(vendor, key)] = _Device(vendor)
        _note_identity(dev, labels)
        tile = labels.get("sub_dev") if vendor is Vendor.INTEL else None
        if tile:
            if tile not in dev.tiles and len(dev.tiles) >= 16:
                continue
            dev.tiles.setdefault(tile, {})[fld] = value
        else:
            dev.device[fld] = value
    return hosts


def _intel_fill(dev: _Device) -> dict[str, float]:
    """Device-level values, else derived from the tiles (summed power and
    memory, mean utilization).  Temperature is the hottest tile's wherever
    tiles report one: Intel's device-level reading is their average and would
    hide a hot tile (the same rule as intel.py for xpu-smi)."""
    merged = dict(dev.device)
    how: dict[str, Callable[[list[float]], float]] = {"temperature": max, "power": sum, "used_bytes": sum}
    for fld in ("temperature", "power", "used_bytes", "util_ratio", "util_compute_ratio"):
        if fld in merged and fld != "temperature":
            continue
        readings = [t[fld] for t in dev.tiles.values() if fld in t]
        if readings:
            merged[fld] = how.get(fld, _mean)(readings)
    return merged


def _mean(readings: list[float]) -> float:
    return sum(readings) / len(readings)


def _first(readings: dict[str, float], *fields: str) -> float | None:
    for fld in fields:
        if fld in readings:
            return readings[fld]
    return None


def _to_gpu(dev: _Device, index: int) -> Gpu:
    r = _intel_fill(dev) if dev.vendor is Vendor.INTEL else dev.device
    total = r.get("fb_total")
    if total is None and "fb_used" in r and "fb_free" in r:
        total = r["fb_used"] + r["fb_free"] + r.get("fb_reserved", 0.0)
    used = r.get("fb_used")
    util = r.get("util")
    if dev.vendor is Vendor.INTEL:
        used_bytes = r.get("used_bytes")
        used = None if used_bytes is None else used_bytes // 2**20
        ratio = _first(r, "util_ratio", "util_compute_ratio")
        util = None if ratio is None else ratio * 100
    return Gpu(
        index=index,
        vendor=dev.vendor,
        name=dev.name,
        uuid=dev.uuid,
        bus_id=dev.bus_id,
        memory_total_mib=values.mib(total),
        memory_used_mib=values.mib(used),
        utilization_pct=values.percent(util),
        temperature_c=values.celsius(_first(r, "temperature", "temperature_edge")),
        power_w=values.watts(_first(r, "power", "power_average", "power_usage")),
        power_limit_w=values.watts(_first(r, "power_limit", "power_limit_enforced")),
        ecc_uncorrected=values.count(r.get("ecc")),
    )


def parse_prometheus(
    text: str, *, default_host: str = "unknown", collected_at: str | None = None
) -> list[HostReport]:
    """Exporter scrape -> HostReports sorted by host; GPUs sorted by index.

    The host comes from the exporter's hostname label (``Hostname``,
    ``hostname``, ``node``), else the scrape's ``instance``, else
    `default_host`.  Text without any known GPU metric is a ValueError.
    """
    values.check_size(text, "prometheus")
    hosts = _collect(text, default_host)
    if not hosts:
        raise ValueError(
            "prometheus: no GPU metrics from dcgm-exporter, AMD device-metrics-exporter"
            " or Intel XPU Manager"
        )
    reports = []
    for host in sorted(hosts):
        devices = list(hosts[host].values())
        # Intel series carry no index: number devices by PCI address.
        unnumbered = sorted((d for d in devices if d.index is None), key=lambda d: d.bus_id or "")
        taken = {d.index for d in devices if d.index is not None}
        spare = (i for i in range(report.MAX_INDEX + 1) if i not in taken)
        for dev in unnumbered:
            dev.index = next(spare)
        # Every device has its index by now: the filter only tells the type checker so.
        gpus = sorted((_to_gpu(d, d.index) for d in devices if d.index is not None), key=lambda g: g.index)
        driver = next((d.driver for d in devices if d.driver), None)
        reports.append(
            HostReport(host=host, gpus=tuple(gpus), driver_version=driver, collected_at=collected_at)
        )
    return reports
