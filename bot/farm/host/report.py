"""The normalized farm report: what every telemetry parser produces.

A `HostReport` is one host's GPUs at one moment, whatever tool produced the
capture (nvidia-smi, amd-smi, rocm-smi, a Prometheus exporter).  The same
shape travels as JSON: farm agents POST it, so `HostReport.from_json` treats
its input as untrusted.  Every bound below is checked when an object is built
(`__post_init__`), so an invalid report cannot exist, whether it came from a
parser or from the network; the only error raised is `ValueError`, whose
message names the offending field (``gpus[3].power_w: ...``).

Units are fixed: memory in MiB, power in watts, temperature in degrees
Celsius, utilization in percent (0-100).  A value the tool could not read is
`None` (JSON null), never 0.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

# Size bounds for untrusted reports.  Generous for real hardware (the biggest
# hosts today have 8-16 GPUs; MIG can show more), small enough that a hostile
# POST cannot make the bot store or print much.
MAX_GPUS = 64
MAX_PROCESSES_PER_GPU = 256
MAX_HOST_CHARS = 253  # a DNS name
MAX_NAME_CHARS = 128  # product name
MAX_PROCESS_NAME_CHARS = 256  # nvidia-smi may print a full executable path
MAX_ID_CHARS = 128  # uuid; AMD "Unique ID" and serials are shorter
MAX_BUS_ID_CHARS = 32
MAX_TARGET_CHARS = 32
MAX_VERSION_CHARS = 64
MAX_TIMESTAMP_CHARS = 64

# Plausible ranges.  Parsers turn readings outside them into None (hardware
# and tools emit sentinels such as 0xFFFF W or 65535 C); from_json rejects them.
MAX_MEMORY_MIB = 16 * 1024 * 1024  # 16 TiB
MAX_POWER_W = 10_000.0  # a whole GB200 superchip module is under 3 kW
MIN_TEMPERATURE_C = -60.0
MAX_TEMPERATURE_C = 250.0
MAX_INDEX = 1023
MAX_PID = 2**32 - 1
MAX_ECC_COUNT = 2**53  # exact in a JSON double


class Vendor(StrEnum):
    """Who made the GPU; stored as the lowercase word."""

    NVIDIA = "nvidia"
    AMD = "amd"
    INTEL = "intel"


def _fail(path: str, reason: str) -> None:
    raise ValueError(f"{path}: {reason}")


def _check_text(path: str, value: Any, max_chars: int, *, optional: bool = True) -> None:
    """Strings must be short, non-empty and free of control/format characters.

    Reports end up in chat messages: a CR/LF in a process name could forge an
    IRC line, a bidi override could disguise one, so they are refused here and
    stripped by the parsers (see values.clean_text).
    """
    if value is None:
        if not optional:
            _fail(path, "is required")
        return
    if not isinstance(value, str):
        _fail(path, f"expected a string, got {type(value).__name__}")
    if not value:
        _fail(path, "must not be empty")
    if len(value) > max_chars:
        _fail(path, f"longer than {max_chars} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        _fail(path, "contains control or format characters")
    if value != value.strip():
        _fail(path, "has leading or trailing whitespace")


def _check_int(path: str, value: Any, low: int, high: int) -> None:
    if value is None:
        return
    # bool is an int subclass; JSON true must not pass as 1.
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(path, f"expected an integer or null, got {type(value).__name__}")
    if not low <= value <= high:
        _fail(path, f"{value} is outside {low}..{high}")


def _check_float(path: str, value: Any, low: float, high: float) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(path, f"expected a number or null, got {type(value).__name__}")
    if not math.isfinite(value):
        _fail(path, "must be a finite number")
    if not low <= value <= high:
        _fail(path, f"{value} is outside {low:g}..{high:g}")


def _expect_keys(path: str, data: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    """Exactly these keys: a missing one is an error, so is an unknown one."""
    if not isinstance(data, dict):
        _fail(path, f"expected an object, got {type(data).__name__}")
    missing = [k for k in keys if k not in data]
    if missing:
        _fail(path, f"missing key(s) {', '.join(missing)}")
    extra = sorted(str(k)[:40] for k in data if k not in keys)
    if extra:
        _fail(path, f"unknown key(s) {', '.join(extra[:5])}")
    checked: dict[str, Any] = data  # an object with exactly these keys (each _fail above raises)
    return checked


def _nested(prefix: str, exc: ValueError) -> ValueError:
    """Prefix a nested object's error with where it sits: ``gpus[2].power_w: ...``."""
    msg = str(exc)
    return ValueError(prefix + msg if msg.startswith(":") else f"{prefix}.{msg}")


T = TypeVar("T")


def _parse_list(key: str, value: Any, limit: int, noun: str, parse: Callable[[Any], T]) -> list[T]:
    """A bounded JSON list of nested records, each error named by its index."""
    if not isinstance(value, list):
        _fail(key, f"expected a list, got {type(value).__name__}")
    if len(value) > limit:
        _fail(key, f"more than {limit} {noun}")
    parsed = []
    for i, item in enumerate(value):
        try:
            parsed.append(parse(item))
        except ValueError as exc:
            raise _nested(f"{key}[{i}]", exc) from None
    return parsed


def _as_float(value: Any) -> float | None:
    """JSON integers are fine where a float is expected; keep the type uniform.

    An integer too large for a float (10**400) becomes infinity, which the
    range checks then refuse like any other out-of-range reading."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    checked: float | None = value  # the callers' _check_float let only a float or null through
    return checked


@dataclass(frozen=True, slots=True)
class GpuProcess:
    """One compute process holding memory on a GPU."""

    pid: int
    name: str | None = None
    memory_mib: int | None = None

    FIELDS = ("pid", "name", "memory_mib")

    def __post_init__(self) -> None:
        if self.pid is None:
            _fail("pid", "is required")
        _check_int("pid", self.pid, 0, MAX_PID)
        _check_text("name", self.name, MAX_PROCESS_NAME_CHARS)
        _check_int("memory_mib", self.memory_mib, 0, MAX_MEMORY_MIB)

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "name": self.name, "memory_mib": self.memory_mib}

    @classmethod
    def from_json(cls, data: Any) -> GpuProcess:
        d = _expect_keys("", data, cls.FIELDS)
        return cls(pid=d["pid"], name=d["name"], memory_mib=d["memory_mib"])


@dataclass(frozen=True, slots=True, kw_only=True)
class Gpu:
    """One GPU as the farm sees it.  Keyword-only: fourteen fields are too
    many to pass by position without mixing two of them up.

    `target` is the compiler target where the tool tells it (``sm_90`` from
    nvidia-smi's compute_cap, ``gfx942`` from amd-smi/rocm-smi), else None.
    `temperature_c` is the vendor's main die sensor: NVIDIA's GPU temperature,
    AMD's junction ("hotspot") sensor where reported, else AMD's edge sensor.
    """

    index: int
    name: str | None = None
    uuid: str | None = None
    bus_id: str | None = None
    memory_total_mib: int | None = None
    memory_used_mib: int | None = None
    utilization_pct: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    processes: tuple[GpuProcess, ...] = ()
    vendor: Vendor
    target: str | None = None
    ecc_uncorrected: int | None = None

    FIELDS = (
        "index", "name", "uuid", "bus_id", "memory_total_mib", "memory_used_mib",
        "utilization_pct", "temperature_c", "power_w", "power_limit_w", "processes",
        "vendor", "target", "ecc_uncorrected",
    )

    def __post_init__(self) -> None:
        if self.index is None:
            _fail("index", "is required")
        _check_int("index", self.index, 0, MAX_INDEX)
        if not isinstance(self.vendor, Vendor):
            try:
                object.__setattr__(self, "vendor", Vendor(self.vendor))
            except (ValueError, TypeError):
                _fail("vendor", f"must be one of {', '.join(v.value for v in Vendor)}")
        _check_text("name", self.name, MAX_NAME_CHARS)
        _check_text("uuid", self.uuid, MAX_ID_CHARS)
        _check_text("bus_id", self.bus_id, MAX_BUS_ID_CHARS)
        _check_int("memory_total_mib", self.memory_total_mib, 0, MAX_MEMORY_MIB)
        _check_int("memory_used_mib", self.memory_used_mib, 0, MAX_MEMORY_MIB)
        _check_float("utilization_pct", self.utilization_pct, 0.0, 100.0)
        _check_float("temperature_c", self.temperature_c, MIN_TEMPERATURE_C, MAX_TEMPERATURE_C)
        _check_float("power_w", self.power_w, 0.0, MAX_POWER_W)
        _check_float("power_limit_w", self.power_limit_w, 0.0, MAX_POWER_W)
        _check_text("target", self.target, MAX_TARGET_CHARS)
        _check_int("ecc_uncorrected", self.ecc_uncorrected, 0, MAX_ECC_COUNT)
        if not isinstance(self.processes, tuple):
            _fail("processes", "expected a tuple")
        if len(self.processes) > MAX_PROCESSES_PER_GPU:
            _fail("processes", f"more than {MAX_PROCESSES_PER_GPU} processes")
        for i, proc in enumerate(self.processes):
            if not isinstance(proc, GpuProcess):
                _fail(f"processes[{i}]", "expected a GpuProcess")

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "uuid": self.uuid,
            "bus_id": self.bus_id,
            "memory_total_mib": self.memory_total_mib,
            "memory_used_mib": self.memory_used_mib,
            "utilization_pct": self.utilization_pct,
            "temperature_c": self.temperature_c,
            "power_w": self.power_w,
            "power_limit_w": self.power_limit_w,
            "processes": [p.to_json() for p in self.processes],
            "vendor": self.vendor.value,
            "target": self.target,
            "ecc_uncorrected": self.ecc_uncorrected,
        }

    @classmethod
    def from_json(cls, data: Any) -> Gpu:
        d = _expect_keys("", data, cls.FIELDS)
        parsed = _parse_list("processes", d["processes"], MAX_PROCESSES_PER_GPU, "processes", GpuProcess.from_json)
        if not isinstance(d["vendor"], str):
            _fail("vendor", f"expected a string, got {type(d['vendor']).__name__}")
        return cls(
            index=d["index"],
            vendor=d["vendor"],
            name=d["name"],
            uuid=d["uuid"],
            bus_id=d["bus_id"],
            memory_total_mib=d["memory_total_mib"],
            memory_used_mib=d["memory_used_mib"],
            utilization_pct=_as_float(d["utilization_pct"]),
            temperature_c=_as_float(d["temperature_c"]),
            power_w=_as_float(d["power_w"]),
            power_limit_w=_as_float(d["power_limit_w"]),
            processes=tuple(parsed),
            target=d["target"],
            ecc_uncorrected=d["ecc_uncorrected"],
        )


@dataclass(frozen=True, slots=True)
class HostReport:
    """All GPUs of one host, plus the driver stack that drives them.

    `collected_at` is an ISO 8601 time given by whoever took the capture; the
    parsers never read the clock (nvidia-smi's own timestamp is local time
    without a zone, so it is not trusted for this).
    """

    host: str
    gpus: tuple[Gpu, ...] = ()
    driver_version: str | None = None
    cuda_version: str | None = None
    rocm_version: str | None = None
    collected_at: str | None = None

    FIELDS = ("host", "gpus", "driver_version", "cuda_version", "rocm_version", "collected_at")

    def __post_init__(self) -> None:
        _check_text("host", self.host, MAX_HOST_CHARS, optional=False)
        if any(ch.isspace() for ch in self.host):
            _fail("host", "must not contain whitespace")
        _check_text("driver_version", self.driver_version, MAX_VERSION_CHARS)
        _check_text("cuda_version", self.cuda_version, MAX_VERSION_CHARS)
        _check_text("rocm_version", self.rocm_version, MAX_VERSION_CHARS)
        _check_text("collected_at", self.collected_at, MAX_TIMESTAMP_CHARS)
        if self.collected_at is not None:
            try:
                datetime.fromisoformat(self.collected_at)
            except ValueError:
                _fail("collected_at", "is not an ISO 8601 date and time")
        if not isinstance(self.gpus, tuple):
            _fail("gpus", "expected a tuple")
        if len(self.gpus) > MAX_GPUS:
            _fail("gpus", f"more than {MAX_GPUS} GPUs")
        seen: set[int] = set()
        for i, gpu in enumerate(self.gpus):
            if not isinstance(gpu, Gpu):
                _fail(f"gpus[{i}]", "expected a Gpu")
            if gpu.index in seen:
                _fail(f"gpus[{i}].index", f"GPU index {gpu.index} appears twice")
            seen.add(gpu.index)

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "gpus": [g.to_json() for g in self.gpus],
            "driver_version": self.driver_version,
            "cuda_version": self.cuda_version,
            "rocm_version": self.rocm_version,
            "collected_at": self.collected_at,
        }

    @classmethod
    def from_json(cls, data: Any) -> HostReport:
        """Build a report from decoded JSON, refusing anything malformed."""
        d = _expect_keys("report", data, cls.FIELDS)
        parsed = _parse_list("gpus", d["gpus"], MAX_GPUS, "GPUs", Gpu.from_json)
        return cls(
            host=d["host"],
            gpus=tuple(parsed),
            driver_version=d["driver_version"],
            cuda_version=d["cuda_version"],
            rocm_version=d["rocm_version"],
            collected_at=d["collected_at"],
        )
