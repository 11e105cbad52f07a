#!/usr/bin/env bash
# Capture real nvidia-smi output for tests/farm/fixtures/nvidia/.
#
# Run on a machine with an NVIDIA GPU (and, for the "load" half, python3 with
# PyTorch+CUDA):   OUT=/some/dir bash tests/farm/capture_nvidia.sh
# Everything lands in one tarball, $OUT/captures.tar, because the lent test
# machines return at most 8 files.  Nothing here changes GPU settings.
set -u
OUT=${OUT:?set OUT to an output folder}
D=$(mktemp -d)/nvidia
mkdir -p "$D"
Q=index,name,uuid,pci.bus_id,memory.total,memory.used,utilization.gpu,temperature.gpu,power.draw,power.limit,driver_version
APPS=gpu_uuid,pid,process_name,used_gpu_memory
APPS_TS=timestamp,gpu_uuid,pid,process_name,used_gpu_memory

{
  echo "## date";        date -u +%Y-%m-%dT%H:%M:%SZ
  echo "## uname -a";    uname -a
  echo "## nvidia-smi --version"; nvidia-smi --version
  echo "## nvidia-smi -L"; nvidia-smi -L
  echo "## torch";       python3 -c 'import torch,sys; print(sys.version.split()[0], torch.__version__, torch.version.cuda, torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)' 2>&1
  echo "## dcgm tools";  command -v dcgmi nv-hostengine dcgm-exporter 2>&1
  echo "## nvcc";        nvcc --version 2>&1 | tail -2
} > "$D/meta.txt" 2>&1

# Extra fields worth seeing (N/A, [Not Supported], deprecated markers);
# each is tried alone first because one unknown field fails the whole query.
EXTRA=""
for f in compute_cap ecc.errors.uncorrected.volatile.total fan.speed pstate \
         clocks.sm memory.reserved power.draw.instant power.draw.average \
         temperature.memory mig.mode.current reset_status.reset_required \
         reset_status.drain_and_reset_recommended enforced.power.limit \
         serial gpu_name; do
  if nvidia-smi --query-gpu="$f" --format=csv >/dev/null 2>&1; then EXTRA="$EXTRA,$f"
  else echo "invalid field: $f" >> "$D/meta.txt"; fi
done
WIDE="$Q$EXTRA"

snap() {  # $1 = idle | load
  nvidia-smi -q -x > "$D/$1.xml" 2> "$D/$1.xml.err"
  nvidia-smi -q > "$D/$1-q.txt" 2>&1
  nvidia-smi > "$D/$1-table.txt" 2>&1
  nvidia-smi --query-gpu=$Q --format=csv > "$D/$1.csv" 2>&1
  nvidia-smi --query-gpu=$Q --format=csv,nounits > "$D/$1-nounits.csv" 2>&1
  nvidia-smi --query-gpu=$Q --format=csv,noheader,nounits > "$D/$1-noheader-nounits.csv" 2>&1
  nvidia-smi --query-gpu="$WIDE" --format=csv > "$D/$1-wide.csv" 2>&1
  nvidia-smi --query-compute-apps=$APPS --format=csv > "$D/$1-apps.csv" 2>&1
  nvidia-smi --query-compute-apps=$APPS --format=csv,nounits > "$D/$1-apps-nounits.csv" 2>&1
  nvidia-smi --query-compute-apps=$APPS_TS --format=csv > "$D/$1-apps-ts.csv" 2>&1
}

snap idle
nvidia-smi -q -x --dtd > "$D/dtd.xml" 2>&1

# Load: two PyTorch processes doing bf16 matmuls for ~40 s, so that two
# compute apps with different memory footprints appear.
cat > "$D/burn.py" <<'PY'
import sys, time, torch
n, secs, ready = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
keep = torch.empty(int(sys.argv[4]) << 20, dtype=torch.uint8, device="cuda")
torch.cuda.synchronize(); open(ready, "w").close()
end = time.time() + secs
while time.time() < end:
    for _ in range(20): c = a @ b
    torch.cuda.synchronize()
PY
if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  python3 "$D/burn.py" 8192 40 "$D/r1" 12288 > "$D/burn1.log" 2>&1 &
  P1=$!
  # On a host of several GPUs the second loop runs on the last one, so the
  # processes must be told apart by GPU.
  LAST=$(( $(nvidia-smi -L | grep -c '^GPU ') - 1 ))
  CUDA_VISIBLE_DEVICES=$LAST python3 "$D/burn.py" 4096 40 "$D/r2" 2048 > "$D/burn2.log" 2>&1 &
  P2=$!
  for i in $(seq 60); do [ -e "$D/r1" ] && [ -e "$D/r2" ] && break; sleep 1; done
  sleep 12   # let clocks, power and temperature settle under load
  echo "burn pids: $P1 $P2" >> "$D/meta.txt"
  snap load
  wait $P1 $P2
else
  echo "no torch+cuda: no load capture" >> "$D/meta.txt"
fi
tar -C "$(dirname "$D")" -cf "$OUT/captures.tar" nvidia
cat "$D/meta.txt"; cat "$D/idle.csv" "$D/load.csv" "$D/load-apps.csv" "$D/idle-wide.csv" "$D/load-wide.csv" 2>/dev/null
