"""The farm's telemetry parsers, on real and hand-built captures.

Expected numbers were read off the raw fixture files (the comments quote the
lines); tests/farm/fixtures/README.md says where each fixture comes from.
The fuzz tests at the end feed random text and mutated fixtures to every
parser: the only exception allowed out is ValueError.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.farm import prometheus
from bot.farm.host.report import Gpu, GpuProcess, HostReport, Vendor
from bot.farm.parsers import (
    FORMATS,
    parse_amd_smi_json,
    parse_capture,
    parse_nvidia_smi_apps_csv,
    parse_nvidia_smi_csv,
    parse_nvidia_smi_version,
    parse_nvidia_smi_xml,
    parse_prometheus,
    parse_rocm_smi_json,
)

FIXTURES = Path(__file__).parent / "farm" / "fixtures"
H100_UUID = "GPU-b3c878d6-8ef6-4801-328c-df727d6fea3d"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def only_gpu(report: HostReport) -> Gpu:
    assert len(report.gpus) == 1
    return report.gpus[0]


# --- nvidia-smi CSV (real H100 captures, driver 580.159.04) ----------------


def test_nvidia_csv_reads_the_idle_h100_with_units_stripped():
    # 0, NVIDIA H100 80GB HBM3, GPU-b3c8..., 00000000:00:06.0, 81559 MiB, 0 MiB,
    # 0 %, 34, 71.26 W, 700.00 W, 580.159.04
    report = parse_nvidia_smi_csv(fixture("nvidia/h100-idle.csv"), host="h100")
    assert report.host == "h100"
    assert report.driver_version == "580.159.04"
    assert report.cuda_version is None  # not a --query-gpu field
    assert only_gpu(report) == Gpu(
        index=0, vendor=Vendor.NVIDIA, name="NVIDIA H100 80GB HBM3", uuid=H100_UUID,
        bus_id="0000:00:06.0", memory_total_mib=81559, memory_used_mib=0,
        utilization_pct=0.0, temperature_c=34.0, power_w=71.26, power_limit_w=700.0,
    )


def test_nvidia_csv_under_load_gets_processes_and_cuda_from_companions():
    # load.csv: 81559 MiB, 16227 MiB, 100 %, 62, 688.14 W, 700.00 W
    # load-apps.csv: 506, python3, 13418 MiB / 507, python3, 2794 MiB
    report = parse_nvidia_smi_csv(
        fixture("nvidia/h100-load.csv"),
        apps_text=fixture("nvidia/h100-load-apps.csv"),
        version_text=fixture("nvidia/h100-version.txt"),
    )
    gpu = only_gpu(report)
    assert (gpu.memory_used_mib, gpu.utilization_pct, gpu.temperature_c) == (16227, 100.0, 62.0)
    assert (gpu.power_w, gpu.power_limit_w) == (688.14, 700.0)
    assert gpu.processes == (
        GpuProcess(pid=506, name="python3", memory_mib=13418),
        GpuProcess(pid=507, name="python3", memory_mib=2794),
    )
    assert report.cuda_version == "13.0"


def test_nvidia_csv_nounits_gives_the_same_numbers_as_with_units():
    # nounits: "81559, 16227, 100, 62, 689.27, 700.00": same columns, bare numbers
    gpu = only_gpu(parse_nvidia_smi_csv(fixture("nvidia/h100-load-nounits.csv")))
    assert (gpu.memory_total_mib, gpu.memory_used_mib, gpu.power_w) == (81559, 16227, 689.27)


def test_nvidia_csv_uses_extra_columns_it_knows_and_ignores_the_rest():
    # wide: "..., compute_cap, ecc.errors.uncorrected.volatile.total, fan.speed [%], ..."
    # with "9.0, 0, [N/A], P0, 1620 MHz, ..." and "name" printed twice.
    gpu = only_gpu(parse_nvidia_smi_csv(fixture("nvidia/h100-load-wide.csv")))
    assert gpu.target == "sm_90"
    assert gpu.ecc_uncorrected == 0
    assert gpu.power_w == 690.50
    assert gpu.name == "NVIDIA H100 80GB HBM3"


def test_nvidia_csv_turns_every_unavailable_marker_into_none_in_any_column_order():
    report = parse_nvidia_smi_csv(fixture("nvidia/mixed-markers.csv"))
    mig, v100, a2 = report.gpus
    assert mig.utilization_pct is None and mig.power_limit_w is None  # [N/A]
    assert v100.power_w is None  # [Requested functionality has been deprecated]
    assert a2.power_w is None and a2.temperature_c is None  # [Unknown Error], [N/A]
    assert a2.memory_used_mib is None and a2.memory_total_mib == 15356
    assert (v100.index, v100.name, v100.bus_id) == (1, "Tesla V100-PCIE-32GB", "0000:3b:00.0")


def test_nvidia_csv_without_a_header_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="noheader"):
        parse_nvidia_smi_csv(fixture("nvidia/h100-idle-noheader-nounits.csv"))


def test_nvidia_csv_with_no_devices_is_a_host_without_gpus():
    assert parse_nvidia_smi_csv("No devices were found\n").gpus == ()


def test_nvidia_csv_error_message_from_the_tool_is_a_value_error():
    with pytest.raises(ValueError, match="NVIDIA-SMI has failed"):
        parse_nvidia_smi_csv("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.")


def test_nvidia_csv_row_with_missing_cells_is_refused():
    text = fixture("nvidia/h100-idle.csv").rstrip().rsplit(",", 2)[0]
    with pytest.raises(ValueError, match="cells"):
        parse_nvidia_smi_csv(text)


def test_nvidia_apps_csv_with_only_a_header_means_no_processes():
    assert parse_nvidia_smi_apps_csv(fixture("nvidia/h100-idle-apps.csv")) == {}


def test_nvidia_apps_csv_reads_timestamped_and_nounits_variants_alike():
    expected = parse_nvidia_smi_apps_csv(fixture("nvidia/h100-load-apps.csv"))
    assert parse_nvidia_smi_apps_csv(fixture("nvidia/h100-load-apps-ts.csv")) == expected
    assert parse_nvidia_smi_apps_csv(fixture("nvidia/h100-load-apps-nounits.csv")) == expected


def test_nvidia_apps_csv_glues_a_comma_in_a_process_name_back_together():
    procs = parse_nvidia_smi_apps_csv(fixture("nvidia/h100-load-apps-comma.csv"))[H100_UUID]
    assert procs[1] == GpuProcess(pid=507, name="/opt/jobs/run, with comma/train.py", memory_mib=2794)
    assert procs[2] == GpuProcess(pid=911, name=None, memory_mib=None)  # [Not Found], [N/A]


def test_nvidia_version_text_gives_driver_and_cuda():
    assert parse_nvidia_smi_version(fixture("nvidia/h100-version.txt")) == {
        "driver_version": "580.159.04",
        "cuda_version": "13.0",
    }


# --- nvidia-smi XML ---------------------------------------------------------


def test_nvidia_xml_reads_the_loaded_h100_with_its_two_processes():
    # <gpu id="00000000:00:06.0">, <total>81559 MiB</total>, <used>16227 MiB</used>,
    # <gpu_util>100 %</gpu_util>, <gpu_temp>61 C</gpu_temp>,
    # <average_power_draw>688.85 W</average_power_draw>, <current_power_limit>700.00 W
    report = parse_nvidia_smi_xml(fixture("nvidia/h100-load.xml"), host="h100")
    assert (report.driver_version, report.cuda_version) == ("580.159.04", "13.0")
    gpu = only_gpu(report)
    assert (gpu.bus_id, gpu.uuid, gpu.index) == ("0000:00:06.0", H100_UUID, 0)
    assert (gpu.memory_total_mib, gpu.memory_used_mib) == (81559, 16227)
    assert (gpu.utilization_pct, gpu.temperature_c) == (100.0, 61.0)
    assert (gpu.power_w, gpu.power_limit_w) == (688.85, 700.0)
    assert gpu.ecc_uncorrected == 0
    assert [p.pid for p in gpu.processes] == [506, 507]
    assert gpu.processes[0].memory_mib == 13418


def test_two_h200s_under_load_each_get_their_own_process_in_csv_and_xml_alike():
    """Real capture, 2 x H200 (tests/farm/fixtures/nvidia/2xh200-meta.txt): one loop per GPU."""
    csv = parse_nvidia_smi_csv(fixture("nvidia/2xh200-load-wide.csv"),
                               apps_text=fixture("nvidia/2xh200-load-apps.csv"))
    xml = parse_nvidia_smi_xml(fixture("nvidia/2xh200-load.xml"))
    for report in (csv, xml):
        first, second = report.gpus
        assert (first.index, first.uuid, first.bus_id) == (0, "GPU-1285417e-c1bb-6123-b38c-ed7cd5d6b518",
                                                           "0000:00:06.0")
        assert (second.index, second.uuid, second.bus_id) == (1, "GPU-d04fba61-51a6-4b0c-e9a2-c8f3d943caf2",
                                                              "0000:00:07.0")
        assert (first.name, first.memory_total_mib, first.power_limit_w) == ("NVIDIA H200", 143771, 700.0)
        assert [(p.pid, p.memory_mib) for p in first.processes] == [(732, 13418)]
        assert [(p.pid, p.memory_mib) for p in second.processes] == [(737, 2794)]
    # the table printed at the same moment: 13427 MiB / 2803 MiB used
    assert [g.memory_used_mib for g in csv.gpus] == [13427, 2803]
    assert [g.utilization_pct for g in csv.gpus] == [100.0, 98.0]
    idle = parse_nvidia_smi_csv(fixture("nvidia/2xh200-idle.csv"), apps_text=fixture("nvidia/2xh200-idle-apps.csv"))
    assert [(g.memory_used_mib, g.processes) for g in idle.gpus] == [(0, ()), (0, ())]


def test_nvidia_xml_with_an_inline_dtd_parses_like_the_plain_log():
    # nvidia-smi -q -x --dtd embeds <!ELEMENT ...> declarations in the DOCTYPE
    inline = parse_nvidia_smi_xml(fixture("nvidia/h100-idle-inline-dtd.xml"))
    plain = parse_nvidia_smi_xml(fixture("nvidia/h100-idle.xml"))
    assert only_gpu(inline).memory_total_mib == only_gpu(plain).memory_total_mib == 81559
    assert only_gpu(inline).processes == ()


def test_nvidia_xml_of_an_old_driver_reads_power_readings_and_mig_na():
    report = parse_nvidia_smi_xml(fixture("nvidia/a100-mig-driver510.xml"))
    mig, plain = report.gpus
    assert mig.utilization_pct is None  # <gpu_util>N/A</gpu_util> under MIG
    assert (mig.power_w, mig.power_limit_w) == (71.38, 400.0)  # power_readings/power_limit
    assert mig.ecc_uncorrected is None  # all volatile counters N/A
    assert mig.processes == (GpuProcess(pid=48213, name="/usr/bin/python3.10", memory_mib=3192),)
    assert plain.power_w is None and plain.ecc_uncorrected == 1
    assert (report.driver_version, report.cuda_version) == ("510.47.03", "11.6")


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE nvidia_smi_log [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>
<nvidia_smi_log><driver_version>&b;</driver_version></nvidia_smi_log>"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE nvidia_smi_log [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<nvidia_smi_log><driver_version>&x;</driver_version></nvidia_smi_log>"""


@pytest.mark.parametrize("text", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["internal", "external"])
def test_nvidia_xml_refuses_entity_declarations(text):
    with pytest.raises(ValueError, match="ENTITY"):
        parse_nvidia_smi_xml(text)


def test_nvidia_xml_refuses_a_second_doctype_and_foreign_roots():
    with pytest.raises(ValueError, match="DOCTYPE"):
        parse_nvidia_smi_xml("<!DOCTYPE a><!DOCTYPE b><nvidia_smi_log/>")
    with pytest.raises(ValueError, match="root element"):
        parse_nvidia_smi_xml("<html/>")


# --- amd-smi ---------------------------------------------------------------


def test_amd_smi_wrapped_shape_with_static_and_version():
    report = parse_amd_smi_json(
        fixture("amd/mi300x-metric.json"),
        fixture("amd/mi300x-static.json"),
        fixture("amd/mi300x-version.json"),
        host="mi300",
    )
    assert (report.driver_version, report.rocm_version) == ("6.10.5", "6.4.0")
    busy, idle = report.gpus
    # gfx_activity 37 %, hotspot 58 C (edge "N/A"), socket_power 352 W, 61440 of 196592 MB
    assert busy == Gpu(
        index=0, vendor=Vendor.AMD, name="AMD Instinct MI300X", bus_id="0000:0c:00.0",
        memory_total_mib=196592, memory_used_mib=61440, utilization_pct=37.0,
        temperature_c=58.0, power_w=352.0, power_limit_w=750.0, target="gfx942",
        ecc_uncorrected=0,
    )
    # "usage": "N/A" and "socket_power": "N/A": whole block and single value missing
    assert idle.utilization_pct is None and idle.power_w is None
    assert (idle.ecc_uncorrected, idle.power_limit_w, idle.memory_used_mib) == (2, 600.0, 288)


def test_amd_smi_bare_list_shape_with_plain_numbers():
    report = parse_amd_smi_json(fixture("amd/mi250x-metric-bare-list.json"))
    first, second = report.gpus
    assert (first.utilization_pct, first.temperature_c, first.power_w) == (100.0, 71.0, 478.0)
    assert (first.memory_total_mib, first.memory_used_mib) == (65520, 60112)
    assert second.temperature_c == 38.0  # hotspot "N/A": falls back to edge
    assert second.ecc_uncorrected is None  # "ecc": "N/A"
    assert first.name is None and first.target is None  # no static capture given


def test_amd_smi_both_shapes_give_the_same_report():
    wrapped = fixture("amd/mi250x-metric-bare-list.json")
    wrapped = json.dumps({"gpu_data": json.loads(wrapped)})
    assert parse_amd_smi_json(wrapped) == parse_amd_smi_json(fixture("amd/mi250x-metric-bare-list.json"))


def test_amd_smi_version_as_a_plain_object_is_read_too():
    version = json.dumps({"tool": "AMDSMI Tool", "rocm_version": "7.0.1"})
    assert parse_amd_smi_json("[]", version_text=version).rocm_version == "7.0.1"


# --- rocm-smi --------------------------------------------------------------


def test_rocm_smi_old_spellings_from_rocm_5():
    report = parse_rocm_smi_json(fixture("amd/mi100-rocm571-showallinfo.json"))
    busy, idle = report.gpus
    # "Card series", "Average Graphics Package Power (W)": "247.0", junction "74.0",
    # VRAM 34342961152 B = 32752 MiB, used 22817013760 B = 21760 MiB
    assert busy == Gpu(
        index=0, vendor=Vendor.AMD, name="Arcturus GL-XL [Instinct MI100]",
        uuid="0x2f7c51a8e03b9d14", bus_id="0000:c3:00.0", memory_total_mib=32752,
        memory_used_mib=21760, utilization_pct=98.0, temperature_c=74.0, power_w=247.0,
        power_limit_w=290.0,
    )
    assert idle.temperature_c == 33.0  # junction N/A -> edge
    assert idle.power_w is None and idle.uuid is None
    assert idle.memory_used_mib == 6  # 6750208 B, rounded down
    assert report.driver_version == "6.3.6"


def test_rocm_smi_new_spellings_from_rocm_6_on_mi300():
    report = parse_rocm_smi_json(fixture("amd/mi300x-rocm612-showallinfo.json"))
    busy, idle = report.gpus
    # "Card Series", "Current Socket Graphics Package Power (W)": "351.0", "GFX Version"
    assert (busy.name, busy.power_w, busy.target) == ("AMD Instinct MI300X", 351.0, "gfx942")
    assert (busy.temperature_c, busy.memory_total_mib, busy.memory_used_mib) == (57.0, 196592, 61440)
    assert (idle.power_w, idle.memory_used_mib) == (139.0, 288)


def test_rocm_smi_key_case_and_spacing_do_not_matter():
    card = {"card SERIES": "Some GPU", "gpu USE (%)": "12", "Average Graphics Package Power(W)": "9.5"}
    gpu = only_gpu(parse_rocm_smi_json(json.dumps({"card0": card})))
    assert (gpu.name, gpu.utilization_pct, gpu.power_w) == ("Some GPU", 12.0, 9.5)


def test_rocm_smi_placeholder_card_series_is_not_a_name():
    gpu = only_gpu(parse_rocm_smi_json(fixture("amd/rx6700xt-rocm430-showallinfo.json")))
    assert gpu.name is None  # "Card series": "0x1002"
    assert (gpu.memory_total_mib, gpu.memory_used_mib, gpu.temperature_c) == (12272, 1547, 47.0)


# --- Prometheus exporters ----------------------------------------------------


def test_dcgm_scrape_drops_blank_sentinels_and_mig_series():
    (report,) = parse_prometheus(fixture("prometheus/dcgm-exporter-2xa100.prom"))
    assert (report.host, report.driver_version) == ("ci-gpu-07", "550.90.07")
    busy, idle = report.gpus
    # FB_USED 71054 + FB_FREE 10319 + FB_RESERVED 547 = 81920 MiB
    assert (busy.memory_total_mib, busy.memory_used_mib) == (81920, 71054)
    assert (busy.power_w, busy.temperature_c, busy.utilization_pct) == (318.642, 67.0, 93.0)
    assert busy.bus_id == "0000:07:00.0"
    assert idle.temperature_c is None  # 9223372036854775794: DCGM_INT64_NOT_SUPPORTED
    assert idle.power_w is None  # 140737488355330.000000: DCGM_FP64_NOT_SUPPORTED
    assert idle.ecc_uncorrected is None  # 2147483634: DCGM_INT32_NOT_SUPPORTED
    assert idle.memory_used_mib == 0  # the GPU_I_ID="9" series (4096) is skipped


@pytest.mark.parametrize(
    ("value", "kind", "blank"),
    [
        (2147483631, "int", False),
        (2147483632, "int", True),  # DCGM_INT32_BLANK
        (2147483635, "int", True),  # DCGM_INT32_NOT_PERMISSIONED
        (2147483636, "int", False),
        (9223372036854775791, "int", False),
        (9223372036854775792, "int", True),  # DCGM_INT64_BLANK
        (9.223372036854776e18, "int", True),  # the same, printed as a float
        (140737488355327.0, "fp64", False),
        (140737488355328.0, "fp64", True),  # DCGM_FP64_BLANK
        (140737488355331.0, "fp64", True),  # DCGM_FP64_NOT_PERMISSIONED
    ],
)
def test_dcgm_blank_rule_is_exactly_the_documented_sentinels(value, kind, blank):
    assert prometheus._dcgm_blank(value, kind) is blank


def test_amd_exporter_scrape_reads_junction_temperature_and_vram():
    (report,) = parse_prometheus(fixture("prometheus/amd-device-metrics-exporter-mi300x.prom"))
    assert (report.host, report.driver_version) == ("ci-mi300-02", "6.10.5")
    busy, idle = report.gpus
    assert (busy.name, busy.utilization_pct, busy.temperature_c) == ("AMD Instinct MI300X OAM", 37.0, 58.0)
    assert (busy.memory_total_mib, busy.memory_used_mib, busy.power_w) == (196592, 61440, 352.0)
    assert idle.ecc_uncorrected == 2


def test_amd_exporter_names_with_a_prefix_or_capitals_are_recognised():
    text = 'amd_gpu_gfx_activity{gpu_id="3",hostname="h"} 55\nGPU_USED_VRAM{gpu_id="3",hostname="h"} 7\n'
    gpu = only_gpu(parse_prometheus(text)[0])
    assert (gpu.index, gpu.utilization_pct, gpu.memory_used_mib) == (3, 55.0, 7)


def test_amd_exporter_ecc_total_is_read_whether_typed_gauge_or_counter():
    for declared in ("gpu_ecc_uncorrect_total gauge", "gpu_ecc_uncorrect counter"):
        text = f'# TYPE {declared}\ngpu_ecc_uncorrect_total{{gpu_id="0",hostname="h"}} 4\n'
        assert only_gpu(parse_prometheus(text)[0]).ecc_uncorrected == 4


def test_intel_xpum_scrape_turns_ratios_into_percent_and_sums_tiles():
    (report,) = parse_prometheus(fixture("prometheus/intel-xpum-max1550.prom"), default_host="pvc-1")
    gpu = only_gpu(report)
    assert report.host == "pvc-1"  # no node label: the caller's name
    assert gpu.utilization_pct == pytest.approx(78.5)  # xpum_engine_ratio 0.785
    assert gpu.temperature_c == 63.0  # hottest tile
    assert gpu.memory_used_mib == 40960  # 32 GiB + 8 GiB over two tiles
    assert (gpu.power_w, gpu.memory_total_mib) == (412.5, None)  # card-level sum skipped


def test_a_scrape_of_two_hosts_gives_two_reports_but_not_one_capture():
    text = fixture("prometheus/dcgm-exporter-2xa100.prom") + fixture(
        "prometheus/amd-device-metrics-exporter-mi300x.prom"
    )
    assert [r.host for r in parse_prometheus(text)] == ["ci-gpu-07", "ci-mi300-02"]
    with pytest.raises(ValueError, match="2 hosts"):
        parse_capture("prometheus", text)


def test_prometheus_text_without_gpu_metrics_is_refused():
    with pytest.raises(ValueError, match="no GPU metrics"):
        parse_prometheus("node_load1 0.5\n")


# --- dispatcher and JSON round trip ---------------------------------------

ALL_CAPTURES = [
    ("nvidia-smi-csv", "nvidia/h100-load.csv", {"apps_text": "nvidia/h100-load-apps.csv"}),
    ("nvidia-smi-csv", "nvidia/mixed-markers.csv", {}),
    ("nvidia-smi-xml", "nvidia/h100-load.xml", {}),
    ("nvidia-smi-xml", "nvidia/a100-mig-driver510.xml", {}),
    ("amd-smi-json", "amd/mi300x-metric.json", {"static_text": "amd/mi300x-static.json"}),
    ("amd-smi-json", "amd/mi250x-metric-bare-list.json", {}),
    ("rocm-smi-json", "amd/mi100-rocm571-showallinfo.json", {}),
    ("rocm-smi-json", "amd/mi300x-rocm612-showallinfo.json", {}),
    ("prometheus", "prometheus/dcgm-exporter-2xa100.prom", {}),
    ("prometheus", "prometheus/intel-xpum-max1550.prom", {}),
]


@pytest.mark.parametrize(("fmt", "path", "companions"), ALL_CAPTURES, ids=[c[1] for c in ALL_CAPTURES])
def test_every_capture_survives_a_json_round_trip(fmt, path, companions):
    extra = {k: fixture(v) for k, v in companions.items()}
    data = parse_capture(fmt, fixture(path), host="farm-1", collected_at="2026-11-22T02:10:28Z", **extra)
    assert set(data) == {"host", "gpus", "driver_version", "cuda_version", "rocm_version", "collected_at"}
    wire = json.loads(json.dumps(data))
    assert HostReport.from_json(wire).to_json() == data


def test_dispatcher_refuses_unknown_formats_and_misplaced_companions():
    with pytest.raises(ValueError, match="unknown capture format"):
        parse_capture("nvidia-smi-yaml", "")
    with pytest.raises(ValueError, match="static_text"):
        parse_capture("nvidia-smi-csv", fixture("nvidia/h100-idle.csv"), static_text="{}")
    assert FORMATS == ("nvidia-smi-csv", "nvidia-smi-xml", "amd-smi-json", "rocm-smi-json", "xpu-smi-json",
                       "prometheus")


def test_absent_values_are_null_in_json():
    data = parse_capture("nvidia-smi-csv", fixture("nvidia/h100-idle.csv"))
    gpu = data["gpus"][0]
    assert gpu["target"] is None and gpu["ecc_uncorrected"] is None and data["collected_at"] is None


def _valid_report() -> dict:
    return parse_capture("nvidia-smi-csv", fixture("nvidia/h100-load.csv"),
                         apps_text=fixture("nvidia/h100-load-apps.csv"))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d["gpus"][0].update(power_w="690 W"), r"gpus\[0\].power_w: expected a number"),
        (lambda d: d["gpus"][0].update(index=True), r"gpus\[0\].index: expected an integer"),
        (lambda d: d["gpus"][0].update(utilization_pct=101), "outside"),
        (lambda d: d["gpus"][0].update(temperature_c=math.nan), "finite"),
        (lambda d: d["gpus"][0].update(vendor="matrox"), "vendor"),
        (lambda d: d["gpus"][0]["processes"][1].update(name="evil\r\nPRIVMSG #x :hi"), "control"),
        (lambda d: d["gpus"][0]["processes"][0].update(pid=-1), r"processes\[0\].pid"),
        (lambda d: d.update(host="x" * 254), "longer than 253"),
        (lambda d: d.update(host="two words"), "whitespace"),
        (lambda d: d.update(collected_at="yesterday"), "ISO 8601"),
        (lambda d: d.update(gpus=[d["gpus"][0]] * 2), "appears twice"),
        (lambda d: d.update(gpus=[dict(d["gpus"][0], index=i) for i in range(65)]), "more than 64"),
        (lambda d: d["gpus"][0].pop("uuid"), "missing key"),
        (lambda d: d.update(extra=1), "unknown key"),
        (lambda d: d["gpus"][0].update(processes=[{"pid": 1, "name": None, "memory_mib": 1}] * 257), "256"),
    ],
)
def test_from_json_refuses_bad_reports_with_a_clear_reason(change, reason):
    data = _valid_report()
    change(data)
    with pytest.raises(ValueError, match=reason):
        HostReport.from_json(data)


def test_from_json_refuses_what_is_not_an_object():
    for junk in (None, [], "report", 3):
        with pytest.raises(ValueError, match="expected an object"):
            HostReport.from_json(junk)


# --- fuzzing: ValueError and nothing else --------------------------------

# FARM_FUZZ_EXAMPLES=5000 for a longer hunt; 150 keeps the suite quick.
FUZZ = settings(
    max_examples=int(os.environ.get("FARM_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

TEXT_PARSERS = {
    "nvidia-csv": (parse_nvidia_smi_csv, "nvidia/h100-load-wide.csv"),
    "nvidia-apps": (parse_nvidia_smi_apps_csv, "nvidia/h100-load-apps-comma.csv"),
    "nvidia-version": (parse_nvidia_smi_version, "nvidia/h100-version.txt"),
    "nvidia-xml": (parse_nvidia_smi_xml, "nvidia/a100-mig-driver510.xml"),
    "amd-smi": (parse_amd_smi_json, "amd/mi300x-metric.json"),
    "rocm-smi": (parse_rocm_smi_json, "amd/mi100-rocm571-showallinfo.json"),
    "prometheus": (parse_prometheus, "prometheus/dcgm-exporter-2xa100.prom"),
    "prometheus-intel": (parse_prometheus, "prometheus/intel-xpum-max1550.prom"),
}


def only_value_errors(parser, text):
    try:
        parser(text)
    except ValueError:
        pass


@st.composite
def mutated(draw, text: str) -> str:
    """The fixture with a few random cuts, insertions, swaps and repeats."""
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 40)))
        op = draw(st.sampled_from(["delete", "insert", "replace", "repeat", "truncate"]))
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "insert":
            text = text[:i] + draw(st.text(max_size=20)) + text[i:]
        elif op == "replace":
            junk = draw(st.sampled_from(["N/A", "[N/A]", "-1", "1e999", "nan", ",", '"', "<", "}", "\x00"]))
            text = text[:i] + junk + text[j:]
        elif op == "repeat":
            text = text[:j] + text[i:j] * draw(st.integers(1, 3)) + text[j:]
        else:
            text = text[:i]
    return text


@pytest.mark.parametrize("name", list(TEXT_PARSERS))
@FUZZ
@given(data=st.data())
def test_random_text_gives_each_parser_a_value_error_or_a_report(name, data):
    parser, _ = TEXT_PARSERS[name]
    only_value_errors(parser, data.draw(st.text(max_size=300)))


@FUZZ
@given(fmt=st.sampled_from(FORMATS), text=st.text(max_size=300))
def test_random_text_through_the_dispatcher_gives_only_value_errors(fmt, text):
    only_value_errors(lambda t: parse_capture(fmt, t), text)


@pytest.mark.parametrize("name", list(TEXT_PARSERS))
@FUZZ
@given(data=st.data())
def test_mutated_fixtures_give_each_parser_a_value_error_or_a_report(name, data):
    parser, path = TEXT_PARSERS[name]
    only_value_errors(parser, data.draw(mutated(fixture(path))))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    | st.sampled_from(["N/A", "12", "1e400", "gfx942", "0x1002"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4)
    | st.fixed_dictionaries({"value": children, "unit": st.sampled_from(["MB", "B", "GB", "%", "W"])}),
    max_leaves=12,
)


@st.composite
def json_with_a_random_leaf(draw, text: str) -> str:
    """The fixture's JSON with one value, anywhere in the tree, replaced."""
    doc = json.loads(text)
    node, key = {"root": doc}, "root"
    while isinstance(node[key], (dict, list)) and node[key] and draw(st.booleans()):
        node = node[key]
        key = draw(st.sampled_from(list(node) if isinstance(node, dict) else range(len(node))))
    node[key] = draw(JSON_VALUES)
    return json.dumps(node if key == "root" else doc)


@pytest.mark.parametrize(
    ("parser", "path"),
    [
        (parse_amd_smi_json, "amd/mi300x-metric.json"),
        (lambda t: parse_amd_smi_json("[]", t), "amd/mi300x-static.json"),
        (lambda t: parse_amd_smi_json("[]", None, t), "amd/mi300x-version.json"),
        (parse_rocm_smi_json, "amd/mi300x-rocm612-showallinfo.json"),
        (lambda t: HostReport.from_json(json.loads(t)), None),
    ],
    ids=["amd-smi-metric", "amd-smi-static", "amd-smi-version", "rocm-smi", "report-from-json"],
)
@FUZZ
@given(data=st.data())
def test_json_with_random_values_in_random_places_gives_only_value_errors(parser, path, data):
    text = fixture(path) if path else json.dumps(_valid_report())
    only_value_errors(parser, data.draw(json_with_a_random_leaf(text)))


@FUZZ
@given(
    name=st.sampled_from(sorted([*prometheus._DCGM, *prometheus._AMD, *prometheus._XPUM])),
    labels=st.dictionaries(
        st.sampled_from(["gpu", "UUID", "gpu_id", "uuid", "pci_bdf", "Hostname", "hostname",
                         "sub_dev", "GPU_I_ID", "instance", "modelName", "pci_bus_id"]),
        st.text(alphabet=st.characters(blacklist_characters='"\\\n'), max_size=12),
        max_size=5,
    ),
    value=st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=True)),
)
def test_exporter_samples_with_random_labels_and_values_give_only_value_errors(name, labels, value):
    rendered = ",".join(f'{k}="{v}"' for k, v in labels.items())
    only_value_errors(parse_prometheus, f"{name}{{{rendered}}} {value!r}\n".replace("inf", "+Inf"))
