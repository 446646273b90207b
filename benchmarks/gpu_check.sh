#!/usr/bin/env bash
# The prepared GPU check (issue "Scale out"), under 8 minutes on one lent GPU:
#   bash benchmarks/gpu_check.sh [OUT]
# the paper preset's training steps (bf16 autocast) and scoring rate, peak GPU memory, GPU utilisation,
# screening of a 10-minute 1280x720 recording, then DDP training steps over every GPU present (torchrun).
# Writes OUT/gpu_check.json (read by `python benchmarks/ray_throughput.py --gpu-figures OUT/gpu_check.json`),
# OUT/gpu_check_ddp.json and OUT/log. On a machine without spasmscope's dependencies, wheels carried in .whl/
# are installed first (the device machine reaches no registry; see BENCHMARKS.md for the list).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu-check}
mkdir -p "$OUT"
source benchmarks/device_env.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null | tee "$OUT/log" || echo "no nvidia-smi" | tee "$OUT/log"
"$PY" benchmarks/gpu_check.py --out "$OUT" "${@:2}" 2>&1 | tee -a "$OUT/log"
GPUS=$("$PY" -c "import torch; print(max(torch.cuda.device_count(), 2 if not torch.cuda.is_available() else 1))")
"$PY" -m torch.distributed.run --nproc-per-node "$GPUS" --master-addr 127.0.0.1 --master-port 29511 benchmarks/gpu_check.py --ddp --out "$OUT" "${@:2}" 2>&1 | tee -a "$OUT/log"
