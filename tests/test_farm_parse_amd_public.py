"""AMD parsers on public captures, every amd-smi shape, and GPU processes.

tests/farm/fixtures/amd/public/ holds real tool output kept byte-for-byte
from public repositories (tests/farm/fixtures/README.md names each source);
the expected numbers below were read off those files, and the comments quote
the lines.  The amd-smi process/list fixtures are hand-built from amdsmi's
documented structures.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from test_farm_parse import FUZZ, json_with_a_random_leaf

from bot.cli import main
from bot.farm.host import agent
from bot.farm.host.amd import parse_amd_smi_json
from bot.farm.host.report import Gpu, GpuProcess, HostReport
from bot.farm.host.rocm import parse_rocm_smi_json
from bot.farm.parsers import parse_capture

AMD = Path(__file__).parent / "farm" / "fixtures" / "amd"
PUBLIC = ["public/telegraf-mi100-rocm602.json", "public/telegraf-rx6700xt-rocm612.json",
          "public/telegraf-vega10xt.json"]
MI300_UUID = "56ff74a1-0000-1000-802b-9a2b4c6d8e0f"


def amd(name: str) -> str:
    return (AMD / name).read_text(encoding="utf-8")


def only(report: HostReport) -> Gpu:
    assert len(report.gpus) == 1
    return report.gpus[0]


def report_of(fmt: str, name: str, **companions: str) -> dict:
    data = parse_capture(fmt, amd(name), host="farm-1", **{k: amd(v) for k, v in companions.items()})
    assert HostReport.from_json(json.loads(json.dumps(data))).to_json() == data
    return data


# --- rocm-smi: real captures (Telegraf's amd_rocm_smi test data) ------------


def test_rocm_smi_602_on_four_mi100s_reads_every_card():
    data = report_of("rocm-smi-json", "public/telegraf-mi100-rocm602.json")
    assert data["driver_version"] == "6.3.6" and data["rocm_version"] is None
    assert [g["index"] for g in data["gpus"]] == [0, 1, 2, 3]
    first, second = data["gpus"][:2]
    # "Unique ID": "0x79ccd55167a2124a", "PCI Bus": "0000:83:00.0", junction "55.0",
    # "Average Graphics Package Power (W)": "36.0", max "290.0",
    # VRAM 34342961152 B = 32752 MiB, used 6750208 B = 6 MiB
    assert first == {
        "index": 0, "name": "Arcturus GL-XL [Instinct MI100]", "uuid": "0x79ccd55167a2124a",
        "bus_id": "0000:83:00.0", "memory_total_mib": 32752, "memory_used_mib": 6,
        "utilization_pct": 0.0, "temperature_c": 55.0, "power_w": 36.0, "power_limit_w": 290.0,
        "processes": [], "vendor": "amd", "target": None, "ecc_uncorrected": None,
    }
    # "PCI Bus": "0000:A3:00.0" in capitals; junction "58.0"; power "44.0"
    assert (second["bus_id"], second["temperature_c"], second["power_w"]) == ("0000:a3:00.0", 58.0, 44.0)


def test_rocm_smi_612_on_an_rx6700xt_reads_device_name_and_gfx_version():
    # The file starts with an empty line; "Unique ID": "N/A".
    (gpu,) = report_of("rocm-smi-json", "public/telegraf-rx6700xt-rocm612.json")["gpus"]
    assert gpu["name"] == "Navi 22 [Radeon RX 6700/6700 XT / 6800M]" and gpu["uuid"] is None
    assert (gpu["target"], gpu["bus_id"], gpu["temperature_c"]) == ("gfx1031", "0000:07:00.0", 47.0)
    # 12868124672 B = 12272 MiB; 1572745216 B = 1499.9 MiB, rounded down
    assert (gpu["memory_total_mib"], gpu["memory_used_mib"]) == (12272, 1499)
    assert (gpu["power_w"], gpu["power_limit_w"]) == (6.0, 211.0)


def test_rocm_smi_on_a_vega10_without_a_card_series_has_no_name_and_no_invented_one():
    data = report_of("rocm-smi-json", "public/telegraf-vega10xt.json")
    (gpu,) = data["gpus"]
    assert gpu["name"] is None  # only "Card model": "0xc1e" and "GPU ID": "0x6861"
    # junction "40.0" (the memory sensor's "92.0" is not the die); 17163091968 B, 17776640 B
    assert (gpu["temperature_c"], gpu["memory_total_mib"], gpu["memory_used_mib"]) == (40.0, 16368, 16)
    assert (gpu["power_w"], gpu["power_limit_w"], data["driver_version"]) == (15.0, 170.0, "5.9.25")


def test_rocm_smi_pids_are_attached_on_a_single_gpu_host():
    report = parse_rocm_smi_json(amd("public/telegraf-rx6700xt-rocm612.json"),
                                 processes_text=amd("rx6700xt-showpids.json"))
    # "PID48213": "blender, 1, 1073741824, 0, 0"
    assert report.gpus[0].processes == (GpuProcess(pid=48213, name="blender", memory_mib=1024),)


def test_rocm_smi_pids_in_showallinfo_system_are_read_but_not_guessed_onto_one_of_many_gpus():
    card = json.loads(amd("public/telegraf-rx6700xt-rocm612.json"))
    card["system"]["PID7"] = "my, odd, name, 1, 2097152, 0, 0"
    single = parse_rocm_smi_json(json.dumps(card))
    assert single.gpus[0].processes == (GpuProcess(pid=7, name="my, odd, name", memory_mib=2),)
    four = json.loads(amd("public/telegraf-mi100-rocm602.json"))
    four["system"]["PID7"] = "python3, 1, 2097152, 0, 0"
    assert all(g.processes == () for g in parse_rocm_smi_json(json.dumps(four)).gpus)


@pytest.mark.parametrize("text", ["WARNING: No JSON data to report\n", '{"system": {}}'])
def test_rocm_smi_showpids_without_processes_means_none(text):
    report = parse_rocm_smi_json(amd("public/telegraf-vega10xt.json"), processes_text=text)
    assert report.gpus[0].processes == ()


def test_rocm_smi_pid_entries_with_unknown_columns_keep_the_process_without_memory():
    text = json.dumps({"system": {"PID12": "rccl-tests, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN", "PIDx": "a, 1, 2, 3, 4"}})
    report = parse_rocm_smi_json(amd("public/telegraf-vega10xt.json"), processes_text=text)
    assert report.gpus[0].processes == (GpuProcess(pid=12, name="rccl-tests", memory_mib=None),)


# --- amd-smi static: real MI210 capture (ROCm device-metrics-exporter) ------


def test_amd_smi_static_alone_gives_name_vram_limit_target_and_driver():
    data = report_of("amd-smi-json", "public/dme-mi210-static.json")
    (gpu,) = data["gpus"]
    # "market_name": "AMD Instinct MI210", "target_graphics_version": "gfx90a",
    # "vram": {"size": {"value": 65520, "unit": "MB"}}, "limit": {"socket_power": {"value": 300}}
    assert (gpu["name"], gpu["target"], gpu["memory_total_mib"], gpu["power_limit_w"]) == (
        "AMD Instinct MI210", "gfx90a", 65520, 300.0)
    # "bus" has no "bdf" in this capture; static carries no readings
    assert gpu["bus_id"] is None and gpu["memory_used_mib"] is None and gpu["power_w"] is None
    # "version": "Linuxversion6.14.0-24-generic(buildd@...": the kernel release, not the junk
    assert data["driver_version"] == "6.14.0-24-generic"


# --- amd-smi: single captures of each kind ---------------------------------


def test_amd_smi_list_alone_gives_indices_bus_ids_and_uuids():
    report = parse_amd_smi_json(amd("mi300x-list.json"))
    assert [(g.index, g.bus_id, g.uuid) for g in report.gpus] == [
        (0, "0000:0c:00.0", MI300_UUID), (1, "0000:22:00.0", "e4ff74a1-0000-1000-8040-1c3e5a7b9d0f")]
    assert all(g.memory_total_mib is None and g.name is None for g in report.gpus)


def test_amd_smi_version_alone_is_a_host_without_gpus():
    report = parse_amd_smi_json(amd("mi300x-version.json"))
    # "rocm_version": "6.4.0", "amdgpu_version": "6.10.5"
    assert (report.gpus, report.rocm_version, report.driver_version) == ((), "6.4.0", "6.10.5")


def test_amd_smi_every_companion_merges_by_gpu_index():
    report = parse_amd_smi_json(amd("mi300x-metric.json"), amd("mi300x-static.json"), amd("mi300x-version.json"),
                                list_text=amd("mi300x-list.json"), processes_text=amd("mi300x-process-rocm63.json"))
    busy, idle = report.gpus
    assert (busy.uuid, busy.name, busy.memory_used_mib, busy.power_limit_w) == (
        MI300_UUID, "AMD Instinct MI300X", 61440, 750.0)
    assert [p.pid for p in busy.processes] == [51234, 51301] and idle.processes == ()


def test_amd_smi_watch_mode_prefix_line_and_a_second_sample_are_tolerated():
    sample = json.dumps([{"timestamp": 1769014607, "gpu": 0, "usage": {"gfx_activity": {"value": 3, "unit": "%"}}}])
    text = "'CTRL' + 'C' to stop watching output:\n" + sample + "\n" + sample.replace("3", "4") + "\n"
    assert only(parse_amd_smi_json(text)).utilization_pct == 3.0


def test_amd_smi_memory_units_are_honoured_and_unknown_units_give_null():
    entry = {
        "gpu": 0,
        "mem_usage": {"total_vram": {"value": 64, "unit": "GB"}, "used_vram": {"value": 5, "unit": "GT/s"}},
    }
    gpu = only(parse_amd_smi_json(json.dumps([entry])))
    assert (gpu.memory_total_mib, gpu.memory_used_mib) == (65536, None)


def test_amd_smi_early_fb_usage_and_driver_version_keys_are_read():
    entry = {"gpu": 0, "fb_usage": {"total": 32752, "used": 1024}, "driver": {"driver_version": "6.2.4"},
             "asic": {"market_name": "0x740f"}}
    report = parse_amd_smi_json(json.dumps([entry]))
    assert (only(report).memory_total_mib, only(report).memory_used_mib, report.driver_version) == (
        32752,
        1024,
        "6.2.4",
    )
    assert only(report).name is None  # a device id is not a name


def test_amd_smi_cpu_and_core_entries_are_not_gpus():
    text = json.dumps([{"cpu": 0, "power": {"socket_power": 200}}, {"core": 3},
                       {"gpu": 0, "power": {"socket_power": {"value": 210, "unit": "W"}}}])
    assert only(parse_amd_smi_json(text)).power_w == 210.0


def test_amd_smi_text_that_is_not_a_gpu_list_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="list of GPUs"):
        parse_amd_smi_json('{"card0": {}}')
    with pytest.raises(ValueError, match="not JSON"):
        parse_amd_smi_json("ERROR: amdgpu driver not loaded")


# --- amd-smi across releases (ROCm/amdsmi CHANGELOG.md, 6.0 to 7.2) ---------


def test_amd_smi_rocm72_static_limit_is_read_per_ppt_from_ppt0():
    # "amd_smi_lib for ROCm 7.2.0", `amd-smi static --limit --json`: "ppt0":
    # {"max_power_limit": 203 W, "min_power_limit": 0 W, "socket_power_limit": 100 W},
    # "ppt1": all "N/A"; GPU 1 from the CSV sample (213, 0, 100, N/A, ...)
    first, second = parse_amd_smi_json(amd("rocm72-static-limit.json")).gpus
    assert (first.power_limit_w, second.power_limit_w) == (100.0, 100.0)


def test_amd_smi_rocm72_with_ppt1_supported_still_reports_ppt0_and_never_ppt1():
    # 7.2.0's human-readable sample: PPT0 1000/0/1000 W, PPT1 1300/1100/1250 W
    def ppt(cap, low, top):
        return {"max_power_limit": {"value": top, "unit": "W"}, "min_power_limit": {"value": low, "unit": "W"},
                "socket_power_limit": cap if cap == "N/A" else {"value": cap, "unit": "W"}}
    both = {"gpu": 0, "limit": {"ppt0": ppt(1000, 0, 1000), "ppt1": ppt(1250, 1100, 1300)}}
    assert only(parse_amd_smi_json(json.dumps({"gpu_data": [both]}))).power_limit_w == 1000.0
    no_ppt0 = {"gpu": 0, "limit": {"ppt0": ppt("N/A", 0, 1000), "ppt1": ppt(1250, 1100, 1300)}}
    assert only(parse_amd_smi_json(json.dumps({"gpu_data": [no_ppt0]}))).power_limit_w is None


def test_amd_smi_rocm612_static_limit_keys_are_still_read():
    # "amd_smi_lib for ROCm 6.1.2" added MIN_POWER: MAX_POWER 213 W, MIN_POWER 213 W, SOCKET_POWER 213 W
    limit = {"max_power": {"value": 213, "unit": "W"}, "min_power": {"value": 213, "unit": "W"},
             "socket_power": {"value": 213, "unit": "W"}, "slowdown_edge_temperature": {"value": 109, "unit": "C"}}
    assert only(parse_amd_smi_json(json.dumps([{"gpu": 1, "limit": limit}]))).power_limit_w == 213.0


def test_amd_smi_cpx_partitions_are_one_gpu_each_without_invented_readings():
    # "amd_smi_lib for ROCm 6.4.1", corrected CPX outputs: `list -e` gives GPU 1 at
    # BDF 0000:0c:00.1 (PARTITION_ID 1); `monitor` shows 202 W, 46 °C, 0.3/192.0 GB
    # on GPU 0 and N/A readings with 0.5/24.0 GB on the other partitions.
    report = parse_amd_smi_json(amd("mi300x-cpx-metric.json"), list_text=amd("mi300x-cpx-list.json"))
    assert [g.bus_id for g in report.gpus] == [f"0000:0c:00.{i}" for i in range(8)]
    primary, partition = report.gpus[:2]
    assert (primary.power_w, primary.temperature_c, primary.memory_total_mib, primary.memory_used_mib) == (
        202.0, 46.0, 196608, 307)
    assert (partition.power_w, partition.temperature_c, partition.utilization_pct) == (None, None, None)
    assert (partition.memory_total_mib, partition.memory_used_mib) == (24576, 512)


def test_amd_smi_wrong_pre_64_target_names_give_no_target():
    # "amd_smi_lib for ROCm 6.4.0", resolved: MI100 printed TARGET_GRAPHICS_VERSION
    # gfx9008 before the fix, gfx908 after.
    def target(raw):
        return only(parse_amd_smi_json(json.dumps([{"gpu": 0, "asic": {"target_graphics_version": raw}}]))).target
    assert (target("gfx9008"), target("gfx908"), target("gfx90a"), target("gfx1100"), target("N/A")) == (
        None, "gfx908", "gfx90a", "gfx1100", None)


def test_amd_smi_version_without_rocm_is_null_and_60_without_the_key_is_read():
    # "amd_smi_lib for ROCm 6.1.0": "if ROCm is not installed it will report N/A"
    text = json.dumps([{"tool": "AMDSMI Tool", "version": "24.7.1+b446d6c", "amdsmi_library_version": "24.7.2.0",
                        "rocm_version": "N/A", "amdgpu_version": "6.10.10", "amd_hsmp_driver_version": "2.2"}])
    report = parse_amd_smi_json(text)
    assert (report.gpus, report.rocm_version, report.driver_version) == ((), None, "6.10.10")
    # 6.0 printed the tool and library versions only (6.1.0 "Added ... ROCm version")
    old = json.dumps({"tool": "AMDSMI Tool", "version": "23.4.2", "amdsmi_library_version": "23.4.2.0"})
    assert parse_amd_smi_json(amd("mi300x-metric.json"), version_text=old).rocm_version is None
    assert parse_amd_smi_json(old).gpus == ()


def test_amd_smi_rocm62_process_json_with_several_processes_and_mem_usage_only():
    # "amd_smi_lib for ROCm 6.2.0", resolved: the new valid JSON for several processes
    item = {"process_info": {"name": "TransferBench", "pid": 420157, "mem_usage": {"value": 0, "unit": "B"}}}
    other = {"process_info": {"name": "rvs", "pid": 420315, "mem_usage": {"value": 0, "unit": "B"}}}
    gpu = only(parse_amd_smi_json("[]", processes_text=json.dumps([{"gpu": 0, "process_list": [item, other]}])))
    assert gpu.processes == (GpuProcess(pid=420157, name="TransferBench", memory_mib=0),
                             GpuProcess(pid=420315, name="rvs", memory_mib=0))


def test_amd_smi_rocm71_metric_with_board_temperatures_and_xcp_arrays():
    # "amd_smi_lib for ROCm 7.1.0": GFX_ACTIVITY 0 %, SOCKET_POWER 140 W, EDGE N/A,
    # HOTSPOT 37 °C, GPUBOARD/BASEBOARD temperature blocks, TOTAL_VRAM 196592 MB,
    # USED_VRAM 283 MB; 7.0.0's VCN/JPEG activity lists of "N/A" and per-XCP arrays
    entry = {"gpu": 0,
             "usage": {"gfx_activity": {"value": 0, "unit": "%"}, "vcn_activity": ["N/A"] * 4,
                       "gfx_busy_inst": {"xcp_0": [{"value": 0, "unit": "%"}, "N/A"]}},
             "power": {"socket_power": {"value": 140, "unit": "W"}, "gfx_voltage": "N/A"},
             "temperature": {"edge": "N/A", "hotspot": {"value": 37, "unit": "C"}},
             "gpuboard": {"temperature": {"node_retimer_x": {"value": 43, "unit": "C"}}},
             "baseboard": {"temperature": {"ubb_fpga": {"value": 78, "unit": "C"}}},
             "mem_usage": {"total_vram": {"value": 196592, "unit": "MB"}, "used_vram": {"value": 283, "unit": "MB"}}}
    gpu = only(parse_amd_smi_json(json.dumps({"gpu_data": [entry]})))
    assert (gpu.utilization_pct, gpu.power_w, gpu.temperature_c, gpu.memory_total_mib, gpu.memory_used_mib) == (
        0.0, 140.0, 37.0, 196592, 283)


# --- amd-smi process --------------------------------------------------------


def test_amd_smi_process_rocm63_values_with_units_in_bytes():
    busy, idle = parse_amd_smi_json(amd("mi300x-process-rocm63.json")).gpus
    # vram_mem 62277025792 B = 59392 MiB; the second: "name": "N/A", vram_mem 268435456 B
    assert busy.processes == (GpuProcess(pid=51234, name="python3", memory_mib=59392),
                              GpuProcess(pid=51301, name=None, memory_mib=256))
    assert idle.processes == ()  # {"process_info": "No running processes detected"}


def test_amd_smi_process_rocm70_wrapped_with_new_fields_and_an_empty_list():
    busy, idle = parse_amd_smi_json(amd("mi300x-process-rocm70.json")).gpus
    # vram_mem 137438953472 B = 128 GiB; GPU 1: "process_list": []
    assert busy.processes == (GpuProcess(pid=70211, name="pt_main_thread", memory_mib=131072),)
    assert idle.processes == ()


def test_amd_smi_process_rocm60_bare_numbers_are_bytes():
    busy, _ = parse_amd_smi_json(amd("mi300x-process-rocm60.json")).gpus
    assert busy.processes == (GpuProcess(pid=9120, name="hipMemtest", memory_mib=8192),)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"process_info": {"pid": "42", "name": "x"}}, GpuProcess(pid=42, name="x")),
        ({"name": "flat", "pid": 43, "mem": 1048576}, GpuProcess(pid=43, name="flat", memory_mib=1)),
        ({"process_info": {"pid": 44, "memory_usage": {"vram_mem": "N/A"}, "mem_usage": 9 << 20}},
         GpuProcess(pid=44)),
        ({"process_info": {"pid": 45, "memory_usage": {"vram_mem": "2 GiB"}}}, GpuProcess(pid=45, memory_mib=2048)),
        ({"process_info": {"pid": 0, "name": "no pid"}}, None),
        ({"process_info": {"pid": True}}, None),
        ({"process_info": {"name": "no pid"}}, None),
        ({"process_info": "Something else"}, None),
        ("N/A", None),
    ],
)
def test_amd_smi_process_item_shapes(item, expected):
    gpu = only(parse_amd_smi_json(json.dumps([{"gpu": 0, "process_list": [item]}])))
    assert gpu.processes == (() if expected is None else (expected,))


@pytest.mark.parametrize("process_list", ["N/A", "No running processes detected", None])
def test_amd_smi_process_list_that_is_not_a_list_means_no_processes(process_list):
    assert only(parse_amd_smi_json(json.dumps([{"gpu": 0, "process_list": process_list}]))).processes == ()


def test_amd_smi_process_names_are_cleaned_for_chat():
    item = {"process_info": {"pid": 5, "name": "evil\r\nPRIVMSG #x :hi\u202e"}}
    assert only(parse_amd_smi_json(json.dumps([{"gpu": 0, "process_list": [item]}]))).processes[0].name == (
        "evil PRIVMSG #x :hi")


# --- the real CLI -----------------------------------------------------------


def run_cli(*args: str) -> dict:
    result = CliRunner().invoke(main, ["farm", "parse", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_cli_parses_a_public_rocm_smi_capture_with_a_showpids_companion():
    data = run_cli("--format", "rocm-smi-json", str(AMD / "public" / "telegraf-rx6700xt-rocm612.json"),
                   "--processes", str(AMD / "rx6700xt-showpids.json"), "--host", "navi")
    assert data["host"] == "navi"
    assert data["gpus"][0]["processes"] == [{"pid": 48213, "name": "blender", "memory_mib": 1024}]


def test_cli_parses_amd_smi_metric_with_every_companion():
    data = run_cli("--format", "amd-smi-json", str(AMD / "mi300x-metric.json"),
                   "--static", str(AMD / "mi300x-static.json"), "--version-file", str(AMD / "mi300x-version.json"),
                   "--gpu-list", str(AMD / "mi300x-list.json"), "--processes", str(AMD / "mi300x-process-rocm63.json"))
    gpu = data["gpus"][0]
    assert (gpu["uuid"], gpu["processes"][0]["memory_mib"], data["rocm_version"]) == (MI300_UUID, 59392, "6.4.0")


def test_cli_parses_the_public_mi210_static_capture_alone():
    gpu = run_cli("--format", "amd-smi-json", str(AMD / "public" / "dme-mi210-static.json"))["gpus"][0]
    assert (gpu["name"], gpu["memory_total_mib"]) == ("AMD Instinct MI210", 65520)


def test_cli_refuses_a_gpu_list_for_nvidia():
    result = CliRunner().invoke(main, ["farm", "parse", "--format", "nvidia-smi-xml", "-",
                                       "--gpu-list", str(AMD / "mi300x-list.json")], input="<nvidia_smi_log/>")
    assert result.exit_code == 1 and "list_text" in result.output and "Traceback" not in result.output


# --- the agent's AMD collection, with a runner returning fixture text --------


AMD_SMI = {
    ("amd-smi", "metric", "--json"): "mi300x-metric.json",
    ("amd-smi", "static", "--json"): "mi300x-static.json",
    ("amd-smi", "version", "--json"): "mi300x-version.json",
    ("amd-smi", "list", "--json"): "mi300x-list.json",
    ("amd-smi", "process", "--json"): "mi300x-process-rocm63.json",
}


def runner(outputs: dict[tuple[str, ...], str], calls: list | None = None):
    def run(argv: list[str]) -> str | None:
        if calls is not None:
            calls.append(tuple(argv))
        name = outputs.get(tuple(argv))
        return None if name is None else (name[1:] if name.startswith("=") else amd(name))
    return run


def test_agent_amd_runs_every_amd_smi_capture_and_merges_them():
    calls: list = []
    report = agent._amd(runner(AMD_SMI, calls), "mi300")
    assert set(AMD_SMI) <= set(calls) and not any(c[0] == "rocm-smi" for c in calls)
    busy, idle = report.gpus
    assert (busy.uuid, busy.name, busy.processes[0].pid, report.rocm_version) == (
        MI300_UUID, "AMD Instinct MI300X", 51234, "6.4.0")
    assert idle.processes == ()  # "No running processes detected"


def test_agent_amd_drops_only_the_unreadable_companion():
    outputs = {**AMD_SMI, ("amd-smi", "process", "--json"): "=Traceback (most recent call last):"}
    busy, _ = agent._amd(runner(outputs), "mi300").gpus
    assert busy.uuid == MI300_UUID and busy.name == "AMD Instinct MI300X" and busy.processes == ()


def test_agent_amd_without_a_readable_metric_reports_nothing():
    assert agent._amd(runner({**AMD_SMI, ("amd-smi", "metric", "--json"): "=oops"}), "mi300") is None


def test_agent_amd_falls_back_to_rocm_smi():
    outputs = {("rocm-smi", "--showallinfo", "--json"): "public/telegraf-mi100-rocm602.json"}
    report = agent._amd(runner(outputs), "mi100")
    assert len(report.gpus) == 4 and report.gpus[3].bus_id == "0000:e3:00.0"


# --- fuzzing the public captures and the new shapes: ValueError only --------


CASES = {
    "process": lambda t: parse_amd_smi_json("[]", processes_text=t),
    "list": lambda t: parse_amd_smi_json(t),
    "static": lambda t: parse_amd_smi_json(t),
    "static-7.2": lambda t: parse_amd_smi_json(t),
    "rocm-smi": lambda t: parse_rocm_smi_json(t),
    "showpids": lambda t: parse_rocm_smi_json('{"card0": {}}', processes_text=t),
}
CASE_FILES = {"process": "mi300x-process-rocm70.json", "list": "mi300x-list.json",
              "static": "public/dme-mi210-static.json",
              "static-7.2": "rocm72-static-limit.json", "rocm-smi": "public/telegraf-mi100-rocm602.json",
              "showpids": "rx6700xt-showpids.json"}


@pytest.mark.parametrize("case", list(CASES))
@FUZZ
@given(data=st.data())
def test_random_values_in_amd_captures_give_only_value_errors(case, data):
    try:
        CASES[case](data.draw(json_with_a_random_leaf(amd(CASE_FILES[case]))))
    except ValueError:
        pass


def test_every_amd_fixture_is_read_or_refused_cleanly():
    for path in sorted(AMD.rglob("*.json")):
        text = path.read_text(encoding="utf-8")
        parser = parse_rocm_smi_json if "card0" in text or '"system"' in text else parse_amd_smi_json
        assert isinstance(parser(text), HostReport), path


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_rocm_smi_capture_gives_amd_gpus_with_bus_ids_and_a_driver(name):
    data = report_of("rocm-smi-json", name)
    assert data["driver_version"] and data["gpus"]
    assert all(g["vendor"] == "amd" and g["bus_id"] and g["memory_total_mib"] for g in data["gpus"])
