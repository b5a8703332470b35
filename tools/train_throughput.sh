#!/usr/bin/env bash
# Training throughput (slices/s at 256x256) of the three networks on this machine, measured
# through the real training step; usage: tools/train_throughput.sh [cpu|cuda] [BATCH] [STEPS]
set -euo pipefail
device=${1:-cpu}; batch=${2:-8}; steps=${3:-10}
"${PYTHON:-python3}" - "$device" "$batch" "$steps" <<'PY'
import platform, sys, torch
from livseg.train.throughput import training_throughput
device, batch, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
name = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu"
print(f"# {name}, torch {torch.__version__}, {torch.get_num_threads()} threads, batch {batch}")
for arch in ("mobileunet", "unet", "resunet"):
    rate = training_throughput(arch, device, batch, steps)
    print(f"{arch:<11} {device} batch={batch} train_slices_per_second={rate:.1f}", flush=True)
PY
