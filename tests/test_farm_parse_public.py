"""The NVIDIA parsers on public captures from other people's machines.

tests/farm/fixtures/nvidia/public/ holds nvidia-smi output kept as test data
by Telegraf, netdata and nvidia_gpu_exporter (provenance and licences in
tests/farm/fixtures/README.md): drivers 418 to 590, GeForce, Quadro-era
Tesla, a vGPU under Windows, an A100 and an H100 with MIG.  Every expected
value below was read off the capture by eye; the comments quote the lines.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.farm.parsers import parse_capture

PUBLIC = Path(__file__).resolve().parent / "farm" / "fixtures" / "nvidia" / "public"
ROOT = Path(__file__).resolve().parent.parent

H100_QUERY = "gpu-exporter-h100-mig-590-load-query-gpu.csv"
H100_APPS = "gpu-exporter-h100-mig-590-load-apps.csv"
H100_VERSION = "gpu-exporter-h100-mig-590-version.txt"
# the capture tool masks UUIDs with this placeholder
MASKED_UUID = "GPU-00000000-0000-0000-0000-000000000000"


def capture(name: str) -> str:
    return (PUBLIC / name).read_text(encoding="utf-8")


def parse(name: str, **companions: str) -> dict:
    fmt = "nvidia-smi-xml" if name.endswith(".xml") else "nvidia-smi-csv"
    return parse_capture(fmt, capture(name), host="public", **companions)


def gpu_fields(gpu: dict) -> tuple:
    keys = ("index", "name", "uuid", "bus_id", "memory_total_mib", "memory_used_mib", "utilization_pct",
            "temperature_c", "power_w", "power_limit_w")
    return tuple(gpu[k] for k in keys)


# (file, driver, cuda, GPU fields as in gpu_fields, pids)
XML_CASES = [
    pytest.param(
        # schema v10, trimmed by Telegraf: no driver or CUDA version, no
        # minor_number, <power_draw>N/A</power_draw> and nothing else under power
        "telegraf-gtx-1070-ti.xml", None, None,
        (0, "GeForce GTX 1070 Ti", "GPU-f9ba66fc-a7f5-94c5-da19-019ef2f9c665", "0000:01:00.0",
         4096, 42, 0.0, 39.0, None, None), [],
        id="gtx-1070-ti-trimmed-v10-log-without-versions-or-power",
    ),
    pytest.param(
        # driver 418.43, no DOCTYPE, product_name "Graphics Device" (the
        # driver did not know the card yet), power_readings/power_limit 130.00 W
        "telegraf-gtx-1660-ti.xml", "418.43", "10.1",
        (0, "Graphics Device", "GPU-304a277d-3545-63b8-3a36-dfde3c992989", "0000:43:00.0",
         5912, 0, 0.0, 40.0, 8.93, 130.0), [],
        id="gtx-1660-ti-driver-418-without-doctype",
    ),
    pytest.param(
        # Windows WDDM vGPU (GRID P4-1Q), driver 513.46: minor_number N/A,
        # gpu_temp "0 C", all power readings N/A, 13 C+G processes with empty
        # <process_name></process_name> but the last, and used_memory N/A
        "telegraf-tesla-p4-vgpu-windows.xml", "513.46", "11.6",
        (0, "GRID P4-1Q", "GPU-1b1ea7c7-1c4b-ed49-1c72-26c65f2dd207", "0000:00:0b.0",
         1024, 807, 0.0, 0.0, None, None),
        [1188, 2124, 3696, 3972, 7208, 7284, 7880, 8788, 9468, 9804, 11528, 12804, 15104],
        id="tesla-p4-vgpu-on-windows-with-nameless-processes",
    ),
    pytest.param(
        # driver 535.54.03, schema v12, MIG enabled: gpu_util N/A, four MIG
        # devices each with its own <fb_memory_usage> (used 12 MiB) before the
        # GPU's own (total 81920, used 50); gpu_power_readings/power_draw 67.03 W,
        # current_power_limit 500.00 W; <minor_number>1</minor_number>
        "telegraf-a100-sxm4-mig-v12.xml", "535.54.03", "12.2",
        (0, "NVIDIA A100-SXM4-80GB", "GPU-513536b6-7d19-9063-b049-1e69664bb298", "0000:01:00.0",
         81920, 50, None, 27.0, 67.03, 500.0), [],
        id="a100-mig-driver-535-schema-v12",
    ),
]


@pytest.mark.parametrize("name, driver, cuda, fields, pids", XML_CASES)
def test_public_xml_capture_reads_as_printed(name, driver, cuda, fields, pids):
    report = parse(name)
    assert (report["driver_version"], report["cuda_version"]) == (driver, cuda)
    (gpu,) = report["gpus"]
    assert gpu_fields(gpu) == fields
    assert [p["pid"] for p in gpu["processes"]] == pids


def test_dual_rtx_2070_on_driver_590_reads_the_instant_power_when_the_average_is_na():
    # schema v13, driver 590.44.01, CUDA 13.1; each GPU has
    # <average_power_draw>N/A</average_power_draw> beside
    # <instant_power_draw>9.23 W</instant_power_draw> (11.82 W on the second),
    # current_power_limit 175.00 W; gpu_temp 14 C and 13 C; uuids anonymised
    # by the contributor
    report = parse("telegraf-dual-rtx-2070-v13.xml")
    assert (report["driver_version"], report["cuda_version"]) == ("590.44.01", "13.1")
    first, second = report["gpus"]
    assert gpu_fields(first) == (0, "NVIDIA GeForce RTX 2070", "GPU-12345678-aaaa-bbbb-cccc-0123456789ab",
                                 "0000:01:00.0", 8192, 1, 0.0, 14.0, 9.23, 175.0)
    assert gpu_fields(second) == (1, "NVIDIA GeForce RTX 2070", "GPU-12345678-aaaa-bbbb-cccc-0123456789cd",
                                  "0000:02:00.0", 8192, 1, 0.0, 13.0, 11.82, 175.0)
    assert first["ecc_uncorrected"] is None  # every volatile counter N/A (no ECC on GeForce)


def test_windows_vgpu_processes_keep_the_one_name_printed_and_invent_no_memory():
    (gpu,) = parse("telegraf-tesla-p4-vgpu-windows.xml")["gpus"]
    named = [p for p in gpu["processes"] if p["name"] is not None]
    assert named == [{"pid": 15104, "name": "C:\\Windows\\explorer.exe", "memory_mib": None}]
    assert all(p["memory_mib"] is None for p in gpu["processes"])  # <used_memory>N/A</used_memory>


def test_a100_mig_volatile_ecc_counters_sum_to_zero():
    # <volatile><sram_uncorrectable>0 ... <dram_uncorrectable>0</volatile>
    (gpu,) = parse("telegraf-a100-sxm4-mig-v12.xml")["gpus"]
    assert gpu["ecc_uncorrected"] == 0


def test_xml_index_is_the_position_of_the_gpu_element_not_its_minor_number():
    # The A100 log lists a single <gpu> whose <minor_number> is 1.
    assert parse("telegraf-a100-sxm4-mig-v12.xml")["gpus"][0]["index"] == 0
    # Swap the two minor numbers of a two-GPU log: the order stays the order.
    text = capture("telegraf-dual-rtx-2070-v13.xml")
    swapped = (text.replace("<minor_number>0</minor_number>", "<minor_number>X</minor_number>")
               .replace("<minor_number>1</minor_number>", "<minor_number>0</minor_number>")
               .replace("<minor_number>X</minor_number>", "<minor_number>1</minor_number>"))
    assert swapped != text
    before = parse_capture("nvidia-smi-xml", text)["gpus"]
    after = parse_capture("nvidia-smi-xml", swapped)["gpus"]
    assert [g["index"] for g in after] == [0, 1]
    assert [g["uuid"] for g in after] == [g["uuid"] for g in before]


# --- CSV --------------------------------------------------------------------


def test_netdata_p100_csv_without_index_total_or_bus_id_leaves_them_unknown():
    # "name, uuid, fan.speed [%], pstate, memory.reserved [MiB], memory.used [MiB],
    #  memory.free [MiB], utilization.gpu [%], ..., temperature.gpu, power.draw [W], ..."
    # "Tesla P100-PCIE-16GB, GPU-ef1b..., [N/A], P0, 103, 0, 16280, 0, 0, 37, 28.16, ..."
    # (no trailing newline; nounits-style values under a header with units)
    report = parse("netdata-tesla-p100.csv")
    (gpu,) = report["gpus"]
    assert gpu_fields(gpu) == (0, "Tesla P100-PCIE-16GB", "GPU-ef1b2c9b-38d8-2090-2bd1-f567a3eb42a6", None,
                               None, 0, 0.0, 37.0, 28.16, None)
    assert report["driver_version"] is None


def test_windows_wddm_csv_with_the_index_column_last():
    # "uuid, name, driver_model.current, ..., driver_version, fan.speed [%], memory.used [MiB],
    #  pci.bus_id, serial, compute_cap, pci.sub_device_id, index"
    # The second row is nvidia_gpu_exporter's own ("Some Other GPU", driver 123.45).
    report = parse("gpu-exporter-query.csv")
    first, second = report["gpus"]
    assert gpu_fields(first) == (0, "NVIDIA GeForce RTX 2080 SUPER", "GPU-df6e7a7c-7314-46f8-abc4-b88b36dcf3aa",
                                 "0000:01:00.0", None, 575, None, None, None, None)
    assert (first["target"], second["target"]) == ("sm_75", "sm_86")  # compute_cap 7.5, 8.6
    assert (second["index"], second["bus_id"], second["memory_used_mib"]) == (1, "0000:02:00.0", 1234)
    assert report["driver_version"] == "466.63"  # the first GPU's


def test_h100_mig_wide_csv_with_apps_and_version_reads_every_field():
    # 212 columns from driver 590.48.01 under load: "index" 0, "memory.total [MiB]"
    # 81559 MiB, "memory.used [MiB]" 11125 MiB, "utilization.gpu [%]" [N/A] (MIG),
    # "temperature.gpu" 53 (no unit), "power.draw [W]" 433.78 W,
    # "power.limit [W]" 700.00 W, "compute_cap" 9.0,
    # "ecc.errors.uncorrected.volatile.total" 0, and an empty
    # platform.chassis_serial_number cell.
    report = parse(H100_QUERY, apps_text=capture(H100_APPS), version_text=capture(H100_VERSION))
    assert (report["driver_version"], report["cuda_version"]) == ("590.48.01", "13.1")
    (gpu,) = report["gpus"]
    assert gpu_fields(gpu) == (0, "NVIDIA H100 80GB HBM3", MASKED_UUID, "0000:00:09.0",
                               81559, 11125, None, 53.0, 433.78, 700.0)
    assert (gpu["target"], gpu["ecc_uncorrected"]) == ("sm_90", 0)
    # "..., 21180, /root/tools/memhog, 2296 MiB" and so on, timestamped rows
    assert gpu["processes"] == [
        {"pid": 21180, "name": "/root/tools/memhog", "memory_mib": 2296},
        {"pid": 21181, "name": "/root/tools/memhog", "memory_mib": 1272},
        {"pid": 21198, "name": "./gpu_burn", "memory_mib": 7484},
    ]


def test_csv_power_falls_back_per_row_to_the_instant_reading():
    # 590 prints average_power_draw N/A beside an instant reading on some
    # boards (Telegraf's dual RTX 2070 log); here both averaged columns of the
    # real H100 row are blanked: "433.78 W, 433.78 W, 447.35 W" -> instant.
    text = capture(H100_QUERY)
    assert text.count("433.78 W, 433.78 W, 447.35 W") == 1
    blanked = text.replace("433.78 W, 433.78 W, 447.35 W", "[N/A], [N/A], 447.35 W")
    (gpu,) = parse_capture("nvidia-smi-csv", blanked)["gpus"]
    assert gpu["power_w"] == 447.35


def test_csv_and_apps_with_windows_line_endings_and_a_byte_order_mark_read_the_same():
    plain = parse(H100_QUERY, apps_text=capture(H100_APPS))
    windows = parse_capture("nvidia-smi-csv", "\ufeff" + capture(H100_QUERY).replace("\n", "\r\n"),
                            host="public", apps_text="\ufeff" + capture(H100_APPS).replace("\n", "\r\n"))
    assert windows == plain
    # the P100 header starts with "name": a BOM glued to it would lose the name
    bom = parse_capture("nvidia-smi-csv", "\ufeff" + capture("netdata-tesla-p100.csv"))
    assert bom["gpus"][0]["name"] == "Tesla P100-PCIE-16GB"


def test_xml_with_a_byte_order_mark_reads_the_same():
    name = "telegraf-gtx-1660-ti.xml"
    assert parse_capture("nvidia-smi-xml", "\ufeff" + capture(name), host="public") == parse(name)


@pytest.mark.parametrize("name", ["gpu-exporter-query.csv", "telegraf-gtx-1660-ti.xml"])
def test_a_utf16_capture_is_refused_with_a_hint(name):
    # What Windows PowerShell 5's `nvidia-smi ... > file` writes, read as UTF-8.
    garbled = capture(name).encode("utf-16").decode("utf-8", errors="replace")
    fmt = "nvidia-smi-xml" if name.endswith(".xml") else "nvidia-smi-csv"
    with pytest.raises(ValueError, match="UTF-16"):
        parse_capture(fmt, garbled)


# --- through the real command line --------------------------------------------


def sigbot(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).with_name("sigbot")), "farm", "parse", *args], input=stdin,
                          capture_output=True, timeout=60, check=False)


@pytest.mark.parametrize("name", ["telegraf-tesla-p4-vgpu-windows.xml", "netdata-tesla-p100.csv"])
def test_cli_prints_what_parse_capture_returns(name):
    fmt = "nvidia-smi-xml" if name.endswith(".xml") else "nvidia-smi-csv"
    result = sigbot("--format", fmt, "--host", "public", str(PUBLIC / name))
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout) == parse(name)


def test_cli_reads_the_h100_csv_with_its_apps_and_version_files():
    result = sigbot("--format", "nvidia-smi-csv", str(PUBLIC / H100_QUERY), "--apps", str(PUBLIC / H100_APPS),
                    "--version-file", str(PUBLIC / H100_VERSION))
    assert result.returncode == 0, result.stderr.decode()
    report = json.loads(result.stdout)
    assert (report["cuda_version"], report["gpus"][0]["power_limit_w"]) == ("13.1", 700.0)
    assert [p["pid"] for p in report["gpus"][0]["processes"]] == [21180, 21181, 21198]


def test_cli_refuses_a_utf16_file_in_one_line_without_a_traceback():
    result = sigbot("--format", "nvidia-smi-csv", "-", stdin=capture("gpu-exporter-query.csv").encode("utf-16"))
    err = result.stderr.decode()
    assert result.returncode == 1 and "UTF-16" in err and "Traceback" not in err


@pytest.mark.parametrize("name", sorted(p.name for p in PUBLIC.iterdir() if p.suffix in (".xml", ".csv")
                                        and "-apps" not in p.name))
def test_every_public_capture_parses_to_at_least_one_named_gpu(name):
    gpus = parse(name)["gpus"]
    assert gpus and all(g["name"] and g["uuid"] and g["vendor"] == "nvidia" for g in gpus)
