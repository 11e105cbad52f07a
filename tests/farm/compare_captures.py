"""Parse every capture of capture_nvidia.sh with `sigbot farm parse`; check that the formats agree.

    python3 tests/farm/compare_captures.py captures.tar

For idle and load, the CSV (with and without units, the wide query) and the
XML log of one moment must name the same GPUs with the same identity and
memory total; readings taken a moment apart (utilization, power) are only
printed.  Exit 1 on any disagreement or parse failure.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

IDENTITY = ("index", "name", "uuid", "bus_id", "memory_total_mib", "power_limit_w")
SHOWN = ("memory_used_mib", "utilization_pct", "temperature_c", "power_w")


def parse(fmt: str, path: Path, *extra: str) -> dict:
    done = subprocess.run(["sigbot", "farm", "parse", "--format", fmt, str(path), *extra],
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"{path.name}: {done.stderr.strip()}")
    return json.loads(done.stdout)


def main(tar: Path) -> int:
    folder = Path(tempfile.mkdtemp())
    with tarfile.open(tar) as archive:
        archive.extractall(folder, filter="data")
    d = folder / "nvidia"
    failures = 0
    for moment in ("idle", "load"):
        if not (d / f"{moment}.xml").exists():
            continue
        reports = {}
        try:
            reports["xml"] = parse("nvidia-smi-xml", d / f"{moment}.xml")
            for name in (f"{moment}.csv", f"{moment}-nounits.csv", f"{moment}-wide.csv"):
                reports[name] = parse("nvidia-smi-csv", d / name, "--apps", str(d / f"{moment}-apps.csv"))
        except RuntimeError as exc:
            print(f"FAIL {exc}")
            failures += 1
            continue
        base = reports["xml"]
        print(f"== {moment}: driver {base['driver_version']}, CUDA {base['cuda_version']}")
        for label, r in reports.items():
            for gpu, ref in zip(r["gpus"], base["gpus"], strict=False):
                same = all(gpu[k] == ref[k] for k in IDENTITY)
                pids = sorted(p["pid"] for p in gpu["processes"])
                print(f"{'ok  ' if same else 'FAIL'} {label:22} " + " ".join(f"{k}={gpu[k]}" for k in IDENTITY + SHOWN)
                      + f" pids={pids}")
                failures += not same
            if len(r["gpus"]) != len(base["gpus"]):
                print(f"FAIL {label}: {len(r['gpus'])} GPUs, the XML has {len(base['gpus'])}")
                failures += 1
    print(f"{failures} disagreement(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
