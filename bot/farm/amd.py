"""Parsers for AMD's tools: ``amd-smi ... --json`` and ``rocm-smi --json``.

amd-smi (ROCm 6+):

* ``amd-smi metric --json``: per GPU ``usage.gfx_activity``,
  ``mem_usage.total_vram/used_vram``, ``power.socket_power``,
  ``temperature.edge/hotspot/mem``, ``ecc.total_uncorrectable_count``.
  Values are ``{"value": 64, "unit": "%"}`` in newer releases, bare numbers in
  older ones, and the string ``"N/A"`` when unsupported, sometimes for a whole
  block (``"usage": "N/A"``).  Older releases print a bare list of GPUs,
  newer ones wrap it: ``{"gpu_data": [...]}``.  Memory says "MB" but is MiB:
  amd-smi divides the byte count by 1024*1024 (amdsmi_commands.py, metric).
* ``amd-smi static --json``: ``asic.market_name``,
  ``asic.target_graphics_version`` (``gfx942``), ``bus.bdf``,
  ``driver.version``, ``vram.size``, ``limit.socket_power`` (older:
  ``limit.current_power``).
* ``amd-smi version --json``: ``rocm_version``.

rocm-smi (deprecated in favour of amd-smi, still everywhere):
``rocm-smi --showallinfo --json`` prints ``card0..cardN`` plus ``system``,
every value a string, and key spellings that drift between releases
(``Card series`` -> ``Card Series``; ``Average Graphics Package Power (W)`` ->
``Current Socket Graphics Package Power (W)`` on MI300).  Keys are matched
case- and space-insensitively, trying the spellings listed below in order.

Temperature policy for both: junction ("hotspot") first, as AMD alerts on it
and MI300 reports its edge sensor as N/A; edge only where junction is absent.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bot.farm import report, values
from bot.farm.report import Gpu, HostReport, Vendor

_MAX_JSON_CHARS = 8 * 1024 * 1024


def _load_json(text: str, what: str) -> Any:
    values.check_size(text, what, _MAX_JSON_CHARS)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        # RecursionError: "[[[[..." nested deeper than the interpreter allows.
        raise ValueError(f"{what}: not JSON ({values.shorten(exc, 80)})") from None


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
    return values.parse_number(raw, what), None


def _mib(raw: Any, what: str) -> int | None:
    """amd-smi memory: "MB" means MiB (see module docstring); honour other units."""
    value, unit = _reading(raw, what)
    if value is None:
        return None
    scale = {"b": 1 / 2**20, "kb": 1 / 1024, "gb": 1024}.get((unit or "mb").lower(), 1)
    return values.mib(value * scale)


def _number(raw: Any, what: str) -> float | None:
    return _reading(raw, what)[0]


def _first(entry: dict[str, Any], block: str, keys: tuple[str, ...]) -> float | None:
    """The first of `keys` in `entry[block]` that holds a number."""
    for key in keys:
        value = _number(_dig(entry, block, key), f"{block}.{key}")
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


def _target(raw: Any) -> str | None:
    """``gfx942``-style names only; rocm-smi 4.x filled such keys with PCI ids."""
    text = values.clean_text(raw, report.MAX_TARGET_CHARS)
    return text if text and re.fullmatch(r"gfx[0-9a-f]{3,5}", text.lower()) else None


def _rocm_version(version_text: str | None) -> str | None:
    if version_text is None:
        return None
    data = _load_json(version_text, "amd-smi version")
    if isinstance(data, list) and data:
        data = data[0]
    version = _dig(data, "rocm_version")
    if version is None:
        raise ValueError("amd-smi version: no rocm_version")
    return values.clean_text(version, report.MAX_VERSION_CHARS)


def parse_amd_smi_json(
    metric_text: str,
    static_text: str | None = None,
    version_text: str | None = None,
    *,
    host: str = "unknown",
    collected_at: str | None = None,
) -> HostReport:
    """``amd-smi metric --json`` (+ optional ``static --json``, ``version --json``)."""
    metrics = _gpu_list(_load_json(metric_text, "amd-smi metric"), "amd-smi metric")
    statics: dict[int, dict[str, Any]] = {}
    if static_text is not None:
        entries = _gpu_list(_load_json(static_text, "amd-smi static"), "amd-smi static")
        statics = {_gpu_index(e, i): e for i, e in enumerate(entries)}
    rocm = _rocm_version(version_text)
    gpus = []
    driver = None
    for position, entry in enumerate(metrics):
        index = _gpu_index(entry, position)
        static = statics.get(index, {})
        temperature = _number(_dig(entry, "temperature", "hotspot"), "temperature.hotspot")
        if temperature is None:
            temperature = _number(_dig(entry, "temperature", "edge"), "temperature.edge")
        # socket_power since ROCm 6.1; earlier releases named the reading.
        power = _first(entry, "power", ("socket_power", "current_socket_power", "average_socket_power"))
        limit = _number(_dig(static, "limit", "socket_power"), "limit.socket_power")
        if limit is None:
            limit = _number(_dig(static, "limit", "current_power"), "limit.current_power")
        total = _mib(_dig(entry, "mem_usage", "total_vram"), "mem_usage.total_vram")
        if total is None:
            total = _mib(_dig(static, "vram", "size"), "vram.size")
        ecc = _dig(entry, "ecc", "total_uncorrectable_count")
        if ecc is None:
            ecc = _dig(entry, "ecc", "uncorrectable_count")
        driver = driver or values.clean_text(
            _dig(static, "driver", "version") or _dig(static, "driver", "driver_version"),
            report.MAX_VERSION_CHARS,
        )
        gpus.append(
            Gpu(
                index=index,
                vendor=Vendor.AMD,
                name=values.clean_text(_dig(static, "asic", "market_name"), report.MAX_NAME_CHARS),
                uuid=values.clean_text(entry.get("uuid") or static.get("uuid"), report.MAX_ID_CHARS),
                bus_id=values.normalize_bus_id(_dig(static, "bus", "bdf") or entry.get("bdf")),
                memory_total_mib=total,
                memory_used_mib=_mib(_dig(entry, "mem_usage", "used_vram"), "mem_usage.used_vram"),
                utilization_pct=values.percent(
                    _number(_dig(entry, "usage", "gfx_activity"), "usage.gfx_activity")
                ),
                temperature_c=values.celsius(temperature),
                power_w=values.watts(power),
                power_limit_w=values.watts(limit),
                target=_target(_dig(static, "asic", "target_graphics_version")),
                ecc_uncorrected=values.count(_number(ecc, "ecc.total_uncorrectable_count")),
            )
        )
    return HostReport(
        host=host,
        gpus=tuple(gpus),
        driver_version=driver,
        rocm_version=rocm,
        collected_at=collected_at,
    )


# --- rocm-smi ------------------------------------------------------------

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


def _lookup(card: dict[str, Any], field: str) -> Any:
    """The first spelling of `field` present in `card`, case- and space-insensitive."""
    normalized = {_norm_key(k): v for k, v in card.items() if isinstance(k, str)}
    for spelling in _ROCM_KEYS[field]:
        value = normalized.get(_norm_key(spelling))
        if value is not None:
            return value
    return None


def _rocm_name(card: dict[str, Any]) -> str | None:
    """Product name; skip placeholders such as ``0x1002`` (ROCm 4.3 filled
    Card series with the PCI vendor id)."""
    normalized = {_norm_key(k): v for k, v in card.items() if isinstance(k, str)}
    for spelling in _ROCM_KEYS["name"]:
        text = values.clean_text(normalized.get(_norm_key(spelling)), report.MAX_NAME_CHARS)
        if text and not re.fullmatch(r"0x[0-9a-fA-F]+", text):
            return text
    return None


def parse_rocm_smi_json(
    text: str, *, host: str = "unknown", collected_at: str | None = None
) -> HostReport:
    """``rocm-smi --showallinfo --json`` (or any subset of its --show flags)."""
    data = _load_json(text, "rocm-smi")
    if not isinstance(data, dict):
        raise ValueError("rocm-smi: expected an object with card0..cardN")
    cards = []
    for key, card in data.items():
        m = re.fullmatch(r"card(\d{1,4})", key)
        if m is None:
            continue
        if not isinstance(card, dict):
            raise ValueError(f"rocm-smi: {key} is not an object")
        cards.append((int(m.group(1)), card))
    if not cards and "system" not in data:
        raise ValueError("rocm-smi: no card0..cardN or system entry")
    if len(cards) > report.MAX_GPUS:
        raise ValueError(f"rocm-smi: more than {report.MAX_GPUS} GPUs")
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
                target=_target(_lookup(card, "target")),
            )
        )
    system = data.get("system")
    system = system if isinstance(system, dict) else {}
    normalized = {_norm_key(k): v for k, v in system.items() if isinstance(k, str)}
    return HostReport(
        host=host,
        gpus=tuple(gpus),
        driver_version=values.clean_text(normalized.get("driver version"), report.MAX_VERSION_CHARS),
        rocm_version=values.clean_text(normalized.get("rocm version"), report.MAX_VERSION_CHARS),
        collected_at=collected_at,
    )
