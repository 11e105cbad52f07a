"""`sigbot farm parse`: the normalized JSON of one capture, or a clear error."""

import json
from pathlib import Path

from click.testing import CliRunner

from bot.cli import main

FIXTURES = Path(__file__).resolve().parent / "farm" / "fixtures"


def test_farm_parse_prints_the_normalized_report_of_a_real_h100_capture():
    result = CliRunner().invoke(main, ["farm", "parse", "--format", "nvidia-smi-xml",
                                       str(FIXTURES / "nvidia" / "h100-load.xml"), "--host", "gpu1"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    gpu = report["gpus"][0]
    assert (report["host"], gpu["name"], gpu["memory_total_mib"]) == ("gpu1", "NVIDIA H100 80GB HBM3", 81559)
    assert report["cuda_version"] == "13.0"


def test_farm_parse_of_garbage_is_an_error_with_a_reason():
    result = CliRunner().invoke(main, ["farm", "parse", "--format", "rocm-smi-json", "-"], input="{not json")
    assert result.exit_code == 1 and "Traceback" not in result.output and "json" in result.output.lower()
