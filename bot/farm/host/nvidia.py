"""Parsers for nvidia-smi output: CSV queries, the XML log, ``--version``.

Captured formats (real examples in tests/farm/fixtures/nvidia/):

* ``nvidia-smi --query-gpu=index,name,... --format=csv[,nounits]``: the header
  row names the columns and, unless ``nounits``, carries the unit
  (``memory.used [MiB]``) while every value repeats it (``16227 MiB``).
  nvidia-smi may rename what was asked for (``clocks.sm`` comes back as
  ``clocks.current.sm``, ``gpu_name`` as ``name``), so columns are found by
  the name printed in the header, in any order; unknown ones are ignored.
* ``--query-compute-apps=gpu_uuid,pid,process_name,used_gpu_memory``: one row
  per process, nothing but the header when there is none.
* ``nvidia-smi -q -x``: ``<nvidia_smi_log>``.  Element names drift between
  drivers; the fallbacks below name the drivers they were seen on.
* ``nvidia-smi --version``: the only plain-text source of the CUDA version
  besides the XML (it is not a --query-gpu field).

Public captures from other machines (tests/farm/fixtures/nvidia/public/, from
Telegraf, netdata and nvidia_gpu_exporter test data) cover drivers 418 to 590,
Windows (WDDM, vGPU), MIG and trimmed logs.  What they taught:

* GPU ``index`` is nvidia-smi's enumeration order: the CSV ``index`` column,
  and in the XML (which has no index element) the position of the ``<gpu>``
  element.  ``<minor_number>`` is the /dev/nvidiaN number, not the index: it
  is ``N/A`` on Windows and differs from the index in containers and on some
  multi-GPU hosts (the Telegraf A100 log lists one GPU with minor number 1),
  so CSV and XML of one host agree only by position.
* ``bus_id``: nvidia-smi prints an 8-digit PCI domain (``00000000:1B:00.0``);
  values.normalize_bus_id makes it ``0000:1b:00.0``, the form AMD tools and
  sysfs use, so addresses compare across vendors.
* A column can be present and empty of a reading while a sibling has one
  (590 on an RTX 2070: ``average_power_draw`` N/A, ``instant_power_draw``
  9.23 W), so CSV aliases are tried in order per row, not per header.
* Windows tools may save captures with a byte-order mark; Windows
  PowerShell 5's ``>`` writes UTF-16, refused with a hint to save as UTF-8.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from bot.farm.host import report, values
from bot.farm.host.report import Gpu, GpuProcess, HostReport, Vendor

# Aliases: the first column found wins.  power.draw is the average over the
# last second on recent drivers (in our 580.159.04 capture it equals
# power.draw.average), so the instant reading is only a last resort.
_GPU_COLUMNS = {
    "index": ("index",),
    "name": ("name", "gpu_name"),
    "uuid": ("uuid", "gpu_uuid"),
    "bus_id": ("pci.bus_id", "gpu_bus_id"),
    "memory_total": ("memory.total",),
    "memory_used": ("memory.used",),
    "utilization": ("utilization.gpu",),
    "temperature": ("temperature.gpu",),
    "power": ("power.draw", "power.draw.average", "power.draw.instant"),
    "power_limit": ("power.limit", "enforced.power.limit"),
    "driver_version": ("driver_version",),
    "compute_cap": ("compute_cap",),
    "ecc": ("ecc.errors.uncorrected.volatile.total",),
}
_APP_COLUMNS = {
    "uuid": ("gpu_uuid",),
    "bus_id": ("gpu_bus_id",),
    "pid": ("pid",),
    "name": ("process_name", "name"),
    "memory": ("used_gpu_memory", "used_memory"),
}

# Messages nvidia-smi prints instead of CSV.  "No devices were found" is a
# real state (driver loaded, GPUs gone) and reported as a host with no GPUs.
_NO_DEVICES = "no devices were found"
_NO_PROCESSES = "no running processes found"


def _check_text(text: object, what: str, limit: int = 8 * 1024 * 1024) -> str:
    """Size-checked text without a byte-order mark; UTF-16 is refused by name.

    Windows PowerShell 5 redirects with UTF-16: read as UTF-8 it is full of
    NUL characters, which nvidia-smi itself never prints.
    """
    text = values.check_size(text, what, limit)
    if "\x00" in text[:4096]:
        raise ValueError(f"{what}: NUL characters, probably UTF-16 (PowerShell's >); save the capture as UTF-8")
    return text.removeprefix("\ufeff")


def _split_header(line: str) -> list[str]:
    """``memory.used [MiB]`` -> ``memory.used``: the unit is dropped, values say it too."""
    return [re.sub(r"\s*\[[^\]]*\]\s*$", "", cell.strip()).lower() for cell in line.split(",")]


def _csv_rows(text: str, columns: dict[str, tuple[str, ...]], free_text: str, what: str) -> Iterator[dict[str, str]]:
    """Yield one {field: raw cell} per data row.

    nvidia-smi separates with ", " and never quotes, so a comma inside a
    process name splits it: surplus cells are glued back into the one
    free-text column (`free_text`).
    """
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise ValueError(f"{what}: empty capture")
    header = _split_header(lines[0])
    # Every column that can answer a field, best first: a row takes the first
    # that holds a reading (power.draw may be [N/A] where power.draw.instant
    # is not).
    candidates: dict[str, list[int]] = {}
    for field, aliases in columns.items():
        found = [pos for alias in aliases for pos, name in enumerate(header) if name == alias]
        if found:
            candidates[field] = found
    if not candidates:
        first = lines[0].strip()
        if first.lower().rstrip(".") in (_NO_DEVICES, _NO_PROCESSES):
            return
        raise ValueError(
            f"{what}: no known column in the first line {values.shorten(first)!r}"
            " (use --format=csv with its header, not noheader)"
        )
    width = len(header)
    for number, line in enumerate(lines[1:], start=2):
        cells = [c.strip() for c in line.split(",")]
        if len(cells) > width and free_text in candidates:
            at = candidates[free_text][0]
            surplus = len(cells) - width
            cells[at : at + surplus + 1] = [", ".join(cells[at : at + surplus + 1])]
        if len(cells) != width:
            raise ValueError(f"{what}: line {number} has {len(cells)} cells, header has {width}")
        yield {field: _first_reading(cells, found) for field, found in candidates.items()}


def _first_reading(cells: list[str], positions: list[int]) -> str:
    """The first cell that is not a no-value marker, else the first cell."""
    return next((cells[p] for p in positions if not values.is_missing(cells[p])), cells[positions[0]])


def _target_from_compute_cap(raw: str | None) -> str | None:
    """nvidia-smi's compute_cap ``9.0`` is the compiler target ``sm_90``."""
    if raw is None or values.is_missing(raw):
        return None
    m = re.fullmatch(r"(\d{1,2})\.(\d)", raw.strip())
    if not m:
        raise ValueError(f"compute_cap: {values.shorten(raw)!r} is not major.minor")
    return f"sm_{m.group(1)}{m.group(2)}"


def parse_nvidia_smi_version(text: str) -> dict[str, str | None]:
    """``nvidia-smi --version`` -> {"driver_version": ..., "cuda_version": ...}."""
    text = _check_text(text, "nvidia-smi --version", 64 * 1024)
    found: dict[str, str | None] = {"driver_version": None, "cuda_version": None}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = " ".join(key.lower().split())
        if key == "driver version":
            found["driver_version"] = values.clean_text(value, report.MAX_VERSION_CHARS)
        elif key == "cuda version":
            found["cuda_version"] = values.clean_text(value, report.MAX_VERSION_CHARS)
    if found["driver_version"] is None and found["cuda_version"] is None:
        raise ValueError("nvidia-smi --version: no 'DRIVER version' or 'CUDA Version' line")
    return found


def parse_nvidia_smi_apps_csv(text: str) -> dict[str, tuple[GpuProcess, ...]]:
    """``--query-compute-apps`` CSV -> processes keyed by GPU UUID (or bus id)."""
    text = _check_text(text, "nvidia-smi apps csv")
    by_gpu: dict[str, list[GpuProcess]] = {}
    for row in _csv_rows(text, _APP_COLUMNS, "name", "nvidia-smi apps csv"):
        if "pid" not in row:
            raise ValueError("nvidia-smi apps csv: no pid column")
        key = values.clean_text(row.get("uuid"), report.MAX_ID_CHARS)
        if key is None:
            key = values.normalize_bus_id(row.get("bus_id"))
        if key is None:
            raise ValueError("nvidia-smi apps csv: a row names no GPU (gpu_uuid or gpu_bus_id)")
        pid = values.parse_number(row["pid"], "pid")
        if pid is None or pid != int(pid) or not 0 <= pid <= report.MAX_PID:
            raise ValueError(f"nvidia-smi apps csv: bad pid {values.shorten(row['pid'])!r}")
        by_gpu.setdefault(key, []).append(
            GpuProcess(
                pid=int(pid),
                # "[Not Found]" when nvidia-smi runs in another PID namespace.
                name=values.clean_text(row.get("name"), report.MAX_PROCESS_NAME_CHARS),
                memory_mib=values.mib(values.parse_number(row.get("memory"), "used_gpu_memory")),
            )
        )
    if sum(len(p) for p in by_gpu.values()) > report.MAX_GPUS * report.MAX_PROCESSES_PER_GPU:
        raise ValueError("nvidia-smi apps csv: too many processes")
    return {key: tuple(procs) for key, procs in by_gpu.items()}


def parse_nvidia_smi_csv(
    text: str,
    *,
    host: str = "unknown",
    apps_text: str | None = None,
    version_text: str | None = None,
    collected_at: str | None = None,
) -> HostReport:
    """``--query-gpu=... --format=csv`` (with or without ``nounits``) -> HostReport.

    `apps_text` (``--query-compute-apps`` CSV) adds processes; `version_text`
    (``nvidia-smi --version``) adds the CUDA version, which CSV cannot carry.
    """
    text = _check_text(text, "nvidia-smi csv")
    processes = parse_nvidia_smi_apps_csv(apps_text) if apps_text is not None else {}
    version = parse_nvidia_smi_version(version_text) if version_text is not None else {}
    gpus: list[Gpu] = []
    driver = None
    for position, row in enumerate(_csv_rows(text, _GPU_COLUMNS, "name", "nvidia-smi csv")):
        if len(gpus) >= report.MAX_GPUS:
            raise ValueError(f"nvidia-smi csv: more than {report.MAX_GPUS} GPUs")
        num = values.parse_number
        index = num(row.get("index"), "index")
        uuid = values.clean_text(row.get("uuid"), report.MAX_ID_CHARS)
        bus_id = values.normalize_bus_id(row.get("bus_id"))
        driver = driver or values.clean_text(row.get("driver_version"), report.MAX_VERSION_CHARS)
        gpus.append(
            Gpu(
                index=position if index is None else _index(index),
                vendor=Vendor.NVIDIA,
                name=values.clean_text(row.get("name"), report.MAX_NAME_CHARS),
                uuid=uuid,
                bus_id=bus_id,
                memory_total_mib=values.mib(num(row.get("memory_total"), "memory.total")),
                memory_used_mib=values.mib(num(row.get("memory_used"), "memory.used")),
                utilization_pct=values.percent(num(row.get("utilization"), "utilization.gpu")),
                temperature_c=values.celsius(num(row.get("temperature"), "temperature.gpu")),
                power_w=values.watts(num(row.get("power"), "power.draw")),
                power_limit_w=values.watts(num(row.get("power_limit"), "power.limit")),
                processes=processes.get(uuid or "", ()) or processes.get(bus_id or "", ()),
                target=_target_from_compute_cap(row.get("compute_cap")),
                ecc_uncorrected=values.count(num(row.get("ecc"), "ecc.errors.uncorrected")),
            )
        )
    return HostReport(
        host=host,
        gpus=tuple(gpus),
        driver_version=driver or version.get("driver_version"),
        cuda_version=version.get("cuda_version"),
        collected_at=collected_at,
    )


def _index(value: float) -> int:
    if value != int(value) or not 0 <= value <= report.MAX_INDEX:
        raise ValueError(f"GPU index {value:g} is not a small whole number")
    return int(value)


# --- XML -----------------------------------------------------------------

# The log starts with <!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v13.dtd">,
# or, with --dtd, an internal subset of <!ELEMENT> declarations.  Expat would
# expand internal entities (the "billion laughs" bomb), so any document that
# declares one is refused, and the DOCTYPE itself is cut out before parsing.
_DOCTYPE = re.compile(r"<!DOCTYPE\s[^\[>]*(?:\[.*?\]\s*)?>", re.DOTALL)


def _strip_doctype(text: str) -> str:
    # Plain substring checks first: a regex search for every "<!DOCTYPE" in
    # a hostile document could take quadratic time.
    lowered = text.lower()
    if "<!entity" in lowered:
        raise ValueError("nvidia-smi xml: ENTITY declarations are refused")
    count = lowered.count("<!doctype")
    if count == 0:
        return text
    if count > 1:
        raise ValueError("nvidia-smi xml: more than one DOCTYPE")
    start = lowered.index("<!doctype")
    m = _DOCTYPE.match(text, start)
    if m is None:
        raise ValueError("nvidia-smi xml: malformed DOCTYPE")
    return text[:start] + text[m.end() :]


def _text(elem: ET.Element | None, path: str) -> str | None:
    """Text at `path` under `elem`, None where the element is absent."""
    if elem is None:
        return None
    found = elem.find(path)
    return None if found is None or found.text is None else found.text.strip()


def _first_number(elem: ET.Element, paths: tuple[str, ...], what: str) -> float | None:
    """The first of `paths` that holds a reading (absent or N/A try the next)."""
    for path in paths:
        value = values.parse_number(_text(elem, path), what)
        if value is not None:
            return value
    return None


# Power: driver 535+ has gpu_power_readings; 580 dropped power_draw there in
# favour of average_power_draw/instant_power_draw (our H100 capture);
# 470-530 had power_readings/power_draw and power_limit.
_POWER_PATHS = (
    "gpu_power_readings/power_draw",
    "gpu_power_readings/average_power_draw",
    "power_readings/power_draw",
    "power_readings/average_power_draw",
    "gpu_power_readings/instant_power_draw",
    "power_readings/instant_power_draw",
)
_POWER_LIMIT_PATHS = (
    "gpu_power_readings/current_power_limit",
    "power_readings/current_power_limit",
    "power_readings/power_limit",
    "gpu_power_readings/enforced_power_limit",
    "power_readings/enforced_power_limit",
)


def _ecc_uncorrected(gpu: ET.Element) -> int | None:
    """Volatile uncorrectable ECC errors, summed over what the schema lists.

    Schema v13 (driver 580) lists dram_uncorrectable plus
    sram_uncorrectable_parity and sram_uncorrectable_secded; v11 (510) has
    dram_uncorrectable and sram_uncorrectable; older drivers have
    double_bit/total.  All N/A (ECC off, MIG) gives None.
    """
    volatile = gpu.find("ecc_errors/volatile")
    if volatile is None:
        return None
    old = values.parse_number(_text(volatile, "double_bit/total"), "ecc double_bit")
    if old is not None:
        return values.count(old)
    total = None
    for child in volatile:
        if "uncorrectable" in child.tag:
            value = values.parse_number(child.text, f"ecc {child.tag}")
            if value is not None:
                total = (total or 0) + value
    return values.count(total)


def _xml_processes(gpu: ET.Element) -> tuple[GpuProcess, ...]:
    procs = []
    for info in gpu.findall("processes/process_info")[: report.MAX_PROCESSES_PER_GPU]:
        pid = values.parse_number(_text(info, "pid"), "pid")
        if pid is None or pid != int(pid) or not 0 <= pid <= report.MAX_PID:
            raise ValueError("nvidia-smi xml: process_info without a valid pid")
        procs.append(
            GpuProcess(
                pid=int(pid),
                name=values.clean_text(_text(info, "process_name"), report.MAX_PROCESS_NAME_CHARS),
                memory_mib=values.mib(values.parse_number(_text(info, "used_memory"), "used_memory")),
            )
        )
    return tuple(procs)


def parse_nvidia_smi_xml(
    text: str, *, host: str = "unknown", collected_at: str | None = None
) -> HostReport:
    """``nvidia-smi -q -x`` -> HostReport; missing elements become None.

    A GPU's index is the position of its ``<gpu>`` element (nvidia-smi's
    enumeration order, what the CSV ``index`` column holds), not
    ``<minor_number>``.
    """
    text = _check_text(text, "nvidia-smi xml")
    body = _strip_doctype(text)
    try:
        root = ET.fromstring(body)
    except (ET.ParseError, ValueError, LookupError) as exc:
        # ValueError/LookupError: an encoding declaration Python cannot honour
        # on already-decoded text, or lone surrogates.
        raise ValueError(f"nvidia-smi xml: not well-formed XML ({values.shorten(exc, 120)})") from None
    if root.tag != "nvidia_smi_log":
        raise ValueError(f"nvidia-smi xml: root element is <{values.shorten(root.tag, 40)}>")
    elements = root.findall("gpu")
    if len(elements) > report.MAX_GPUS:
        raise ValueError(f"nvidia-smi xml: more than {report.MAX_GPUS} GPUs")
    gpus = []
    for position, gpu in enumerate(elements):
        gpus.append(
            Gpu(
                index=position,
                vendor=Vendor.NVIDIA,
                name=values.clean_text(_text(gpu, "product_name"), report.MAX_NAME_CHARS),
                uuid=values.clean_text(_text(gpu, "uuid"), report.MAX_ID_CHARS),
                bus_id=values.normalize_bus_id(gpu.get("id") or _text(gpu, "pci/pci_bus_id")),
                memory_total_mib=values.mib(
                    values.parse_number(_text(gpu, "fb_memory_usage/total"), "fb total")
                ),
                memory_used_mib=values.mib(
                    values.parse_number(_text(gpu, "fb_memory_usage/used"), "fb used")
                ),
                # N/A on a MIG-enabled GPU: utilization is per instance there.
                utilization_pct=values.percent(
                    values.parse_number(_text(gpu, "utilization/gpu_util"), "gpu_util")
                ),
                temperature_c=values.celsius(
                    values.parse_number(_text(gpu, "temperature/gpu_temp"), "gpu_temp")
                ),
                power_w=values.watts(_first_number(gpu, _POWER_PATHS, "power draw")),
                power_limit_w=values.watts(_first_number(gpu, _POWER_LIMIT_PATHS, "power limit")),
                processes=_xml_processes(gpu),
                ecc_uncorrected=_ecc_uncorrected(gpu),
            )
        )
    return HostReport(
        host=host,
        gpus=tuple(gpus),
        driver_version=values.clean_text(_text(root, "driver_version"), report.MAX_VERSION_CHARS),
        cuda_version=values.clean_text(_text(root, "cuda_version"), report.MAX_VERSION_CHARS),
        collected_at=collected_at,
    )
