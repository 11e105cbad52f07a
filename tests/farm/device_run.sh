#!/usr/bin/env bash
# Check the farm code on a real NVIDIA machine, in one go:
#   1. capture nvidia-smi idle and under load (capture_nvidia.sh -> $OUT/captures.tar);
#   2. parse every capture with `sigbot farm parse` and check that CSV and XML agree
#      (compare_captures.py -> $OUT/parse-check.txt);
#   3. `sigbot farm-agent --once --print` idle, then under a PyTorch load
#      (-> $OUT/agent-print.txt);
#   4. the agent posting signed reports to sigbot's endpoint on loopback for 30 s
#      under load, then `!farm` (loopback_run.py -> $OUT/loopback.txt).
#
#   OUT=/some/dir bash tests/farm/device_run.sh
#
# Needs python3 with sigbot's dependencies importable (PYTHONPATH) and, for the
# load, PyTorch with CUDA.  `sigbot` is run as `python3 -m bot` from this tree.
set -u
OUT=${OUT:?set OUT to an output folder}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(mktemp -d)
printf '#!/bin/sh\nexec python3 -m bot "$@"\n' > "$BIN/sigbot"
chmod +x "$BIN/sigbot"
export PATH="$BIN:$PATH" PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$ROOT"
cd "$ROOT" || exit 1

OUT="$OUT" bash tests/farm/capture_nvidia.sh > "$OUT/capture.log" 2>&1
python3 tests/farm/compare_captures.py "$OUT/captures.tar" > "$OUT/parse-check.txt" 2>&1
echo "compare_captures: exit $?" >> "$OUT/parse-check.txt"

burn() {  # seconds: two bf16 matmul loops, as capture_nvidia.sh does
  python3 - "$1" <<'PY' &
import sys, time, torch
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
end = time.time() + float(sys.argv[1])
while time.time() < end:
    for _ in range(20): a @ a
    torch.cuda.synchronize()
PY
}

{
  echo "## nvidia-smi (idle)"; nvidia-smi --query-gpu=index,name,memory.used,utilization.gpu,temperature.gpu,power.draw --format=csv
  echo "## sigbot farm-agent --once --print --host dev (idle)"; sigbot farm-agent --once --print --host dev 2>&1
  burn 25; sleep 12
  echo "## nvidia-smi (load)"; nvidia-smi --query-gpu=index,name,memory.used,utilization.gpu,temperature.gpu,power.draw --format=csv
  echo "## sigbot farm-agent --once --print --host dev (load)"; sigbot farm-agent --once --print --host dev 2>&1
  wait
} > "$OUT/agent-print.txt" 2>&1

burn 45; sleep 5
python3 tests/farm/loopback_run.py --seconds 30 --out "$(mktemp -d)" > "$OUT/loopback.txt" 2>&1
echo "loopback_run: exit $?" >> "$OUT/loopback.txt"
wait
tail -n 5 "$OUT/parse-check.txt" "$OUT/loopback.txt"
