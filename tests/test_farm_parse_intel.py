"""Intel GPUs through xpu-smi: the parser, `sigbot farm parse`, the agent.

No Intel GPU was available, so every fixture under tests/farm/fixtures/intel/
is hand-built from intel/xpumanager's CLI source and docs (see the fixtures
README); expected numbers are read off those files.  For the same reason the
agent tests feed those fixtures through a fake runner, and the one end-to-end
test puts a stand-in `xpu-smi` script on PATH: there is no real xpu-smi here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.cli import main
from bot.farm.host import agent
from bot.farm.host.intel import device_ids, parse_xpu_smi_json
from bot.farm.host.report import HostReport, Vendor
from bot.farm.parsers import parse_capture

INTEL = Path(__file__).parent / "farm" / "fixtures" / "intel"
NOW = datetime(2026, 11, 22, 4, 0, tzinfo=timezone.utc)
FUZZ = settings(
    max_examples=int(os.environ.get("FARM_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def fixture(name: str) -> str:
    return (INTEL / name).read_text(encoding="utf-8")


def max1550(**overrides) -> HostReport:
    """The two-card Max 1550 host with every companion, unless overridden."""
    kwargs = {
        "stats_texts": [fixture("max1550-stats-d0.json"), fixture("max1550-stats-d1.json")],
        "processes_text": fixture("max1550-ps.json"),
        "details_texts": [fixture("max1550-discovery-d0.json"), fixture("max1550-discovery-d1.json")],
        "host": "pvc-01",
        "collected_at": "2026-11-22T04:00:00+00:00",
    }
    kwargs.update(overrides)
    return parse_xpu_smi_json(fixture("max1550-discovery.json"), **kwargs)


# --- the parser on each fixture ---------------------------------------------


def test_max1550_reads_identity_memory_and_driver_from_discovery():
    report = max1550()
    assert report.host == "pvc-01" and report.driver_version == "I915_23.10.32_PSB_231129.32"
    assert report.cuda_version is None and report.rocm_version is None
    first, second = report.gpus
    assert (first.index, first.vendor, first.name) == (0, Vendor.INTEL, "Intel(R) Data Center GPU Max 1550")
    assert first.uuid == "00000000-0000-004b-0000-002f0bd58086"
    assert (first.bus_id, second.bus_id) == ("0000:4b:00.0", "0000:a2:00.0")
    # "memory_physical_size_byte": "130535129088" -> 124488 MiB (2 tiles x 62244)
    assert first.memory_total_mib == second.memory_total_mib == 124488


def test_max1550_takes_device_level_readings_but_the_hottest_tile():
    gpu = max1550().gpus[0]
    # device_level: GPU_UTILIZATION 74.5, POWER 512.37, MEMORY_USED 32768.0;
    # CORE_TEMPERATURE is 54.5 there (the tiles' mean) but tile 1 reads 58.0.
    assert (gpu.utilization_pct, gpu.power_w, gpu.memory_used_mib) == (74.5, 512.37, 32768)
    assert gpu.temperature_c == 58.0
    assert gpu.power_limit_w is None  # xpu-smi stats/discovery do not print it
    assert gpu.ecc_uncorrected == 0


def test_max1550_derives_from_tiles_where_the_device_level_lacks_a_metric():
    gpu = max1550().gpus[1]
    # tiles: POWER 47.36 + 62.01, MEMORY_USED 63.0 + 61.0, UTILIZATION mean of 0.0 and 2.0,
    # CORE_TEMPERATURE max(29.0, 28.0), NON_COMPUTE uncorrectable 1 + 0
    assert gpu.power_w == pytest.approx(109.37)
    assert (gpu.memory_used_mib, gpu.utilization_pct, gpu.temperature_c) == (124, 1.0, 29.0)
    assert gpu.ecc_uncorrected == 1


def test_processes_from_ps_land_on_their_device_in_mib():
    first, second = max1550().gpus
    # "mem_size": 16777216 (kB, bytes/1000) -> 16000 MiB; 5242 kB -> 4 MiB
    assert [(p.pid, p.name, p.memory_mib) for p in first.processes] == [
        (48211, "python3", 16000), (48212, "python3", 16000)]
    assert [(p.pid, p.name, p.memory_mib) for p in second.processes] == [(1907, "ze_peak", 4)]


def test_a_device_without_stats_keeps_its_identity_and_memory_from_discovery():
    report = max1550(stats_texts=[fixture("max1550-stats-d0.json")], processes_text=None)
    gpu = report.gpus[1]
    assert (gpu.name, gpu.memory_total_mib) == ("Intel(R) Data Center GPU Max 1550", 124488)
    # No stats: used = physical - free (130535129088 - 130405105664 bytes = 124 MiB).
    assert gpu.memory_used_mib == 124
    assert (gpu.utilization_pct, gpu.temperature_c, gpu.power_w, gpu.processes) == (None, None, None, ())


def test_discovery_alone_gives_devices_with_nothing_invented():
    report = parse_xpu_smi_json(fixture("max1550-discovery.json"))
    assert [g.index for g in report.gpus] == [0, 1] and report.driver_version is None
    gpu = report.gpus[0]
    assert (gpu.name, gpu.bus_id) == ("Intel(R) Data Center GPU Max 1550", "0000:4b:00.0")
    assert (gpu.memory_total_mib, gpu.memory_used_mib, gpu.power_w, gpu.temperature_c) == (None,) * 4


def test_flex170_single_tile_without_temperature_as_non_root():
    report = parse_xpu_smi_json(
        fixture("flex170-discovery.json"), [fixture("flex170-stats-d0.json")], fixture("flex170-ps.json"),
        details_texts=[fixture("flex170-discovery-d0.json")])
    gpu = report.gpus[0]
    assert gpu.name == "Intel(R) Data Center GPU Flex 170" and report.driver_version == "I915_23.10.72_PSB_231129.76"
    # 14953349120 bytes -> 14260 MiB; MEMORY_USED 24.62 -> 24; no CORE_TEMPERATURE in the list
    assert (gpu.memory_total_mib, gpu.memory_used_mib) == (14260, 24)
    assert (gpu.utilization_pct, gpu.power_w, gpu.temperature_c) == (12.0, 43.72, None)
    assert gpu.processes == ()


def test_arc_detailed_discovery_as_the_file_with_na_values():
    report = parse_xpu_smi_json(fixture("arc-a310-discovery-d0.json"), [fixture("arc-a310-stats-d0.json")])
    gpu = report.gpus[0]
    assert gpu.name == "Intel(R) Arc(TM) A310 LP Graphics"
    # "memory_physical_size_byte": "N/A", "driver_version": "N/A"; no utilization or temperature metric
    assert (gpu.memory_total_mib, report.driver_version) == (None, None)
    assert (gpu.memory_used_mib, gpu.power_w) == (82, 15.97)
    assert (gpu.utilization_pct, gpu.temperature_c) == (None, None)


def test_newer_xpu_smi_listing_every_property_needs_no_per_device_details():
    """xpu-smi 2.x on Battlemage printed full properties inside device_list
    (intel/xpumanager#127); the list entry alone then gives memory and driver."""
    report = parse_xpu_smi_json(fixture("bmg-e211-discovery-dump.json"))
    gpu = report.gpus[0]
    assert report.driver_version == "7B7A46009E666C4D10E1134"
    # 25669140480 bytes -> 24480 MiB; minus free 25447604224 -> 221536256 bytes = 211.3 MiB
    assert (gpu.name, gpu.bus_id, gpu.memory_total_mib, gpu.memory_used_mib) == (
        "Intel(R) Graphics [0xe211]", "0000:97:00.0", 24480, 211)


def test_older_spellings_and_xpumcli_averages_are_read():
    stats = {"device_id": 0, "device_level": [
        {"metrics_type": "XPUM_STATS_GPU_TEMPERATURE", "avg": 40.0, "min": 39, "max": 41},
        {"metrics_type": "XPUM_STATS_ENGINE_GROUP_COMPUTE_ALL_UTILIZATION", "value": "33.5"},
        {"metrics_type": "XPUM_STATS_POWER", "value": "N/A", "avg": 99.0},
    ]}
    gpu = parse_xpu_smi_json(fixture("flex170-discovery.json"), [json.dumps(stats)]).gpus[0]
    assert (gpu.temperature_c, gpu.utilization_pct) == (40.0, 33.5)
    assert gpu.power_w is None  # "N/A" is the reading; the average is not put in its place


def test_a_stats_error_answer_costs_only_that_device_its_readings():
    error = json.dumps({"error": "device not found", "errno": 3})
    report = max1550(stats_texts=[error, fixture("max1550-stats-d1.json")])
    assert report.gpus[0].power_w is None and report.gpus[1].power_w == pytest.approx(109.37)


def test_no_devices_found_is_a_host_without_gpus():
    assert parse_xpu_smi_json('{"device_list": null}').gpus == ()
    assert parse_xpu_smi_json('{"device_list": []}').gpus == ()
    assert device_ids(fixture("max1550-discovery.json")) == [0, 1]


def test_process_and_tile_names_are_made_safe_for_chat():
    ps = {
        "device_util_by_proc_list": [
            {
                "device_id": 0,
                "mem_size": 0,
                "process_id": 7,
                "process_name": "evil\r\nPRIVMSG #x :hi",
                "shared_mem_size": 0,
            }
        ]
    }
    proc = parse_xpu_smi_json(fixture("flex170-discovery.json"), processes_text=json.dumps(ps)).gpus[0].processes[0]
    assert proc.name == "evil PRIVMSG #x :hi" and proc.memory_mib == 0


# --- bad input: a one-line ValueError ------------------------------------------

BAD = [
    ("not json", "xpu-smi discovery: not JSON"),
    ("[]", "expected an object with device_list"),
    ('{"devices": []}', "no device_list"),
    ('{"device_list": {"device_id": 0}}', "device_list is not a list"),
    ('{"device_list": [1, 2]}', "every device must be an object"),
    ('{"error": "Level Zero Initialization Error", "errno": 1}', "the tool reported an error"),
    (json.dumps({"device_list": [{"device_id": i} for i in range(65)]}), "more than 64 devices"),
    ("x" * (8 * 1024 * 1024 + 1), "larger than"),
]


@pytest.mark.parametrize(("text", "reason"), BAD, ids=[r for _, r in BAD])
def test_bad_discovery_is_a_one_line_value_error(text, reason):
    with pytest.raises(ValueError, match=reason) as info:
        parse_xpu_smi_json(text)
    assert "\n" not in str(info.value)


BAD_COMPANIONS = [
    ({"stats_texts": ["{"]}, "xpu-smi stats: not JSON"),
    ({"stats_texts": ['{"device_level": []}']}, "no valid device_id"),
    ({"stats_texts": ['{"device_id": 0, "device_level": {}}']}, "expected a list of readings"),
    ({"stats_texts": ['{"device_id": 0, "device_level": [{"value": 1}]}']}, "without metrics_type"),
    ({"stats_texts": ['{"device_id": 0, "device_level": [{"metrics_type": "XPUM_STATS_POWER", "value": "hot"}]}']},
     "is not a number"),
    ({"stats_texts": ['{"device_id": 0, "tile_level": ' + json.dumps([{}] * 17) + "}"]}, "more than 16 tiles"),
    ({"processes_text": "[]"}, "expected an object with device_util_by_proc_list"),
    ({"processes_text": '{"device_util_by_proc_list": [{"process_id": -1, "device_id": 0}]}'}, "bad process_id"),
    ({"processes_text": '{"error": "Device not found", "errno": 3}'}, "the tool reported an error"),
    ({"details_texts": ['{"device_id": 0, "memory_physical_size_byte": "lots"}']}, "is not a number"),
]


@pytest.mark.parametrize(("companions", "reason"), BAD_COMPANIONS, ids=[r for _, r in BAD_COMPANIONS])
def test_bad_companions_are_one_line_value_errors(companions, reason):
    with pytest.raises(ValueError, match=reason) as info:
        parse_xpu_smi_json(fixture("flex170-discovery.json"), **companions)
    assert "\n" not in str(info.value)


@FUZZ
@given(data=st.data())
def test_random_json_leaves_in_the_stats_give_only_value_errors(data):
    doc = {"root": json.loads(fixture("max1550-stats-d0.json"))}
    node, key = doc, "root"
    while isinstance(node[key], (dict, list)) and node[key] and data.draw(st.booleans()):
        node = node[key]
        key = data.draw(st.sampled_from(list(node) if isinstance(node, dict) else range(len(node))))
    node[key] = data.draw(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
                          | st.lists(st.integers(), max_size=2) | st.sampled_from(["N/A", "1e400", "-5"]))
    try:
        max1550(stats_texts=[json.dumps(doc["root"])])
    except ValueError:
        pass


# --- the dispatcher and `sigbot farm parse` -------------------------------------


def test_dispatcher_takes_the_xpu_smi_companions_and_refuses_them_elsewhere():
    data = parse_capture("xpu-smi-json", fixture("flex170-discovery.json"), host="flex-1",
                         stats_texts=[fixture("flex170-stats-d0.json")],
                         details_texts=[fixture("flex170-discovery-d0.json")],
                         processes_text=fixture("flex170-ps.json"))
    assert HostReport.from_json(json.loads(json.dumps(data))).to_json() == data
    assert data["gpus"][0]["memory_total_mib"] == 14260
    with pytest.raises(ValueError, match="stats_texts"):
        parse_capture("rocm-smi-json", "{}", stats_texts=["{}"])


def test_farm_parse_prints_the_normalized_report_of_the_max1550_host():
    args = ["farm", "parse", "--format", "xpu-smi-json", str(INTEL / "max1550-discovery.json"), "--host", "pvc-01",
            "--stats", str(INTEL / "max1550-stats-d0.json"), "--stats", str(INTEL / "max1550-stats-d1.json"),
            "--details", str(INTEL / "max1550-discovery-d0.json"),
            "--details", str(INTEL / "max1550-discovery-d1.json"),
            "--processes", str(INTEL / "max1550-ps.json")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["host"] == "pvc-01" and report["driver_version"] == "I915_23.10.32_PSB_231129.32"
    first = report["gpus"][0]
    assert (first["memory_total_mib"], first["temperature_c"], first["power_limit_w"]) == (124488, 58.0, None)
    assert [p["pid"] for p in first["processes"]] == [48211, 48212]


def test_farm_parse_of_a_bad_xpu_smi_capture_is_an_error_with_a_reason():
    result = CliRunner().invoke(main, ["farm", "parse", "--format", "xpu-smi-json", "-"], input='{"devices": 1}')
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "no device_list" in result.output


# --- the agent ------------------------------------------------------------------


def fake_runner(answers: dict[str, str | None]):
    """Answers argv (joined by spaces) from `answers`; every other tool is missing.

    A fake because no Intel GPU (and so no xpu-smi) exists on the test machine;
    the answers are the hand-built fixtures above.
    """
    calls: list[str] = []

    def run(argv: list[str]) -> str | None:
        calls.append(" ".join(argv))
        return answers.get(" ".join(argv))

    run.calls = calls
    return run


MAX1550_ANSWERS = {
    "xpu-smi discovery -j": fixture("max1550-discovery.json"),
    "xpu-smi discovery -d 0 -j": fixture("max1550-discovery-d0.json"),
    "xpu-smi discovery -d 1 -j": fixture("max1550-discovery-d1.json"),
    "xpu-smi stats -d 0 -j": fixture("max1550-stats-d0.json"),
    "xpu-smi stats -d 1 -j": fixture("max1550-stats-d1.json"),
    "xpu-smi ps -j": fixture("max1550-ps.json"),
}


def test_agent_collects_intel_gpus_through_xpu_smi():
    run = fake_runner(MAX1550_ANSWERS)
    report = agent.collect("pvc-01", NOW, run)
    assert [g.vendor for g in report.gpus] == [Vendor.INTEL, Vendor.INTEL]
    assert report.driver_version == "I915_23.10.32_PSB_231129.32"
    assert report.gpus[0].temperature_c == 58.0 and report.gpus[1].processes[0].pid == 1907
    assert report.collected_at == "2026-11-22T04:00:00+00:00"
    assert [c for c in run.calls if c.startswith("xpu-smi")] == list(MAX1550_ANSWERS)


def test_agent_without_xpu_smi_reports_no_intel_gpus():
    run = fake_runner({})
    assert agent.collect("plain", NOW, run).gpus == ()
    assert "xpu-smi discovery -j" in run.calls and "xpu-smi ps -j" not in run.calls


def test_agent_drops_garbage_companions_but_keeps_the_devices():
    answers = {**MAX1550_ANSWERS, "xpu-smi stats -d 1 -j": "Segmentation fault"}
    report = agent.collect("pvc-01", NOW, fake_runner(answers))
    gpu = report.gpus[0]
    # Stats and ps were dropped; the details still give memory and driver.
    assert (gpu.memory_total_mib, gpu.power_w, gpu.processes) == (124488, None, ())
    assert report.driver_version == "I915_23.10.32_PSB_231129.32"


def test_agent_stops_asking_per_device_after_the_first_failure():
    answers = {k: v for k, v in MAX1550_ANSWERS.items() if k != "xpu-smi stats -d 0 -j"}
    run = fake_runner(answers)
    report = agent.collect("pvc-01", NOW, run)
    assert "xpu-smi stats -d 1 -j" not in run.calls  # a hung tool costs one timeout, not one per GPU
    assert report.gpus[1].power_w is None and report.gpus[1].memory_total_mib == 124488


def test_agent_survives_garbage_discovery():
    report = agent.collect("pvc-01", NOW, fake_runner({"xpu-smi discovery -j": "<html>oops</html>"}))
    assert report.gpus == ()


def test_farm_agent_runs_an_xpu_smi_on_path_and_prints_its_gpus(tmp_path):
    """The real `sigbot farm-agent --once --print` and its subprocess runner,
    against a stand-in xpu-smi script that prints the Max 1550 fixtures."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "xpu-smi"
    script.write_text(f"""#!/bin/sh
case "$*" in
  "discovery -j") cat '{INTEL}/max1550-discovery.json' ;;
  "discovery -d 0 -j") cat '{INTEL}/max1550-discovery-d0.json' ;;
  "discovery -d 1 -j") cat '{INTEL}/max1550-discovery-d1.json' ;;
  "stats -d 0 -j") cat '{INTEL}/max1550-stats-d0.json' ;;
  "stats -d 1 -j") echo '{{"error": "device not found", "errno": 3}}'; exit 1 ;;
  "ps -j") cat '{INTEL}/max1550-ps.json' ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
""")
    script.chmod(0o755)
    done = subprocess.run([str(Path(sys.executable).with_name("sigbot")), "farm-agent", "--once", "--print",
                           "--host", "pvc-01"], env={**os.environ, "PATH": f"{folder}:/usr/bin:/bin"},
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [g["vendor"] for g in report["gpus"]] == ["intel", "intel"]
    first, second = report["gpus"]
    assert (first["power_w"], first["temperature_c"], len(first["processes"])) == (512.37, 58.0, 2)
    assert (second["power_w"], second["memory_total_mib"]) == (None, 124488)


def test_a_host_with_nvidia_amd_and_intel_gpus_reports_them_all_with_distinct_indices():
    """One machine, three vendors (a fake runner: no such machine exists here)."""
    nvidia = INTEL.parent / "nvidia"
    amd = INTEL.parent / "amd"
    run = fake_runner({
        f"nvidia-smi --query-gpu={agent.NVIDIA_QUERY} --format=csv,nounits":
            (nvidia / "h100-load-nounits.csv").read_text(),
        "nvidia-smi --version": (nvidia / "h100-version.txt").read_text(),
        "amd-smi metric --json": (amd / "mi300x-metric.json").read_text(),
        "amd-smi static --json": (amd / "mi300x-static.json").read_text(),
        "amd-smi version --json": (amd / "mi300x-version.json").read_text(),
        "xpu-smi discovery -j": fixture("flex170-discovery.json"),
    })
    report = agent.collect("mixed", NOW, run)
    assert [(g.index, g.vendor.value) for g in report.gpus] == [(0, "nvidia"), (1, "amd"), (2, "amd"), (3, "intel")]
    assert report.gpus[0].name == "NVIDIA H100 80GB HBM3" and report.gpus[1].name == "AMD Instinct MI300X"
    assert (report.cuda_version, report.rocm_version) == ("13.0", "6.4.0")
    assert report.driver_version == "580.159.04"  # the first vendor's: one field for the host
