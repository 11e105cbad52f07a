"""Run every benchmark, each measuring its figure beside its floor in the same run,
and gather their results into bench/results.md (with the machine they ran on).

    make bench          # or: .venv/bin/python bench/run_all.py [--quick]
    .venv/bin/python bench/run_all.py --gather   # only gather the latest results-*.md
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (results name, script, arguments, arguments with --quick)
BENCHMARKS = [
    ("matrix", "matrix_roundtrip.py", [], ["--rounds", "15"]),
    ("relay", "relay_latency.py", [], ["--rounds", "15"]),
    ("site", "site_build.py", [], ["--runs", "1"]),
    ("load", "load_teams.py", [], ["--seconds", "60"]),
    ("restart", "restart_ready.py", [], ["--rounds", "2"]),
    ("footprint", "footprint.py", [], ["--rounds", "3", "--commands", "6"]),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer rounds: a smoke run, not figures to keep")
    parser.add_argument("--gather", action="store_true",
                        help="run nothing: gather the results-*.md each benchmark wrote last (after running one alone)")
    args = parser.parse_args()
    failed = []
    for _name, script, full, quick in [] if args.gather else BENCHMARKS:
        print(f"==> {script}", flush=True)
        done = subprocess.run([sys.executable, str(HERE / script), *(quick if args.quick else full)])
        if done.returncode != 0:
            failed.append(script)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "cpu")
    when = "Gathered" if args.gather else "Run"  # --gather: each section is its benchmark's latest run
    parts = [f"# Benchmark results\n\n{when} {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {cpu}, "
             f"{os.cpu_count()} cores, Python {platform.python_version()}"
             + (" (--quick: smoke run)" if args.quick else "") + ". Each figure is measured beside its floor "
             "in the same run; the machine is shared and noisy, so compare ratios, not absolute times.\n"]
    for name, *_ in BENCHMARKS:
        result = HERE / f"results-{name}.md"
        parts.append(result.read_text() if result.exists() else f"## {name}\n\nno result\n")
    (HERE / "results.md").write_text("\n".join(parts))
    print(f"wrote {HERE / 'results.md'}")
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
