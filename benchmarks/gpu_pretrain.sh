#!/usr/bin/env bash
# Supervised pretraining on a lent GPU machine inside a fixed wall-clock budget (issue "Detection that holds on
# pictures it never saw": where a GPU is available, the same code runs there):
#   bash benchmarks/gpu_pretrain.sh OUT SECONDS [options of `spasmscope pretrain supervised`]
# The options are the recipe (renderers, --weights, --lr, --seed, ...), without --out, --steps and --workers. Clips are
# drawn on the CPU, by every core but one (WORKERS overrides), and the model trains on the GPU; drawing is the
# bottleneck, so the steps that fit depend on the cores. A 200-step probe of the same recipe measures the rate over its
# second hundred (the first holds the workers' start and the GPU's warm-up), --steps is set to what fits in the rest of
# SECONDS (whole hundreds, written to OUT/steps), and the run goes into OUT/backbone.
# A run longer than one loan: STEPS=N skips the probe and runs (or resumes) N steps in OUT/backbone, stopping before
# SECONDS are spent. What was done is kept in OUT/backbone/resume.pt (every 100 steps); the same command with the same
# STEPS and that folder resumes it on the next machine, GPU or not. Exit status 0: the backbone is written; 75: stopped
# at the budget with a checkpoint to resume from.
# Also writes OUT/probe/ (the probe's backbone: thrown away), OUT/gpu.csv (GPU load and memory every 2 s) and OUT/log.
# On a machine without spasmscope's dependencies, wheels carried in .whl/ are installed first (device_env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: gpu_pretrain.sh OUT SECONDS [pretrain options]}
BUDGET=${2:?usage: gpu_pretrain.sh OUT SECONDS [pretrain options]}
shift 2
began=$(date +%s)
mkdir -p "$OUT"
source benchmarks/device_env.sh
WORKERS=${WORKERS:-$(($(nproc) - 1))}
{
    echo "machine: $(nproc) cores; $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo 'no nvidia-smi')"
    "$PY" -c "import torch; from spasmscope.model.inference import device_name; print('torch', torch.__version__, '| trains on', device_name())"
} | tee "$OUT/log"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 2 >"$OUT/gpu.csv" 2>/dev/null &
    trap 'kill $! 2>/dev/null || true' EXIT
fi
if [ -z "${STEPS:-}" ]; then
    "$PY" -m spasmscope pretrain supervised "$@" --out "$OUT/probe" --steps 200 --val-clips 32 --workers "$WORKERS" 2>&1 | tail -n 1 | tee -a "$OUT/log"
    # Steps that fit: the probe's rate over what is left, less a minute for the validation clips, the workers' start
    # and the last checkpoint, and a tenth for safety.
    STEPS=$("$PY" - "$OUT/probe" "$((BUDGET - ($(date +%s) - began) - 60))" <<'PY'
import json, sys
from pathlib import Path
probe, left = Path(sys.argv[1]), float(sys.argv[2])
rate = json.loads((probe / "pretrain.jsonl").read_text().splitlines()[-1])["clips_per_s"]
batch = json.loads((probe / "config.json").read_text())["pretrain"]["batch_size"]
print(max(100, int(0.9 * rate * left / batch) // 100 * 100))
PY
    )
    echo "probe: $(tail -n 1 "$OUT/probe/pretrain.jsonl")" | tee -a "$OUT/log"
fi
echo "$STEPS" >"$OUT/steps"
echo "running $STEPS steps with $WORKERS workers" | tee -a "$OUT/log"
# Stopped 20 s before the budget, so that the copy of OUT back from the machine has time; the last checkpoint stays.
status=0
left=$((BUDGET - ($(date +%s) - began) - 20))
timeout --signal=INT $((left > 1 ? left : 1)) "$PY" -m spasmscope pretrain supervised "$@" --out "$OUT/backbone" --steps "$STEPS" --workers "$WORKERS" >"$OUT/run.out" 2>&1 || status=$?
tail -n 1 "$OUT/run.out" | tee -a "$OUT/log"
if [ "$("$PY" benchmarks/backbone_step.py "$OUT/backbone")" = "$STEPS" ]; then
    status=0
elif [ -f "$OUT/backbone/resume.pt" ] && { [ "$status" = 124 ] || [ "$status" = 130 ]; }; then
    echo "stopped at the budget after step $("$PY" benchmarks/backbone_step.py "$OUT/backbone" --logged) of $STEPS: run again with STEPS=$STEPS to resume" | tee -a "$OUT/log"
    status=75
fi
echo "wall time: $(($(date +%s) - began)) s" | tee -a "$OUT/log"
exit "$status"
