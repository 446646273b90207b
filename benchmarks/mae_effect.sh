#!/usr/bin/env bash
# Does MAE pretraining on unlabeled wide-view recordings change the external AUC on a wide-view labeled cohort?
# One run, one machine, both arms from the same starting weights, seeds and cohorts (issue "Pretraining").
#
#   bash benchmarks/mae_effect.sh [OUT] [MAE_STEPS] [MAE_LR]
#
# 1. unlabeled: long wide-view recordings (video-EEG style) of other children;
# 2. derivation: the demo's labeled cohort (mostly close phone-style views);
# 3. external: a labeled cohort of wide views only, other children;
# arm "shipped": fine-tune the shipped backbone on 2, evaluate on 3;
# arm "mae": MAE-pretrain the shipped backbone on 1 first, then the same.
# Prints one JSON line with both external AUCs; everything it writes stays in OUT (resumable per step).
set -euo pipefail
. "$(dirname "$0")/needs_env.sh"
OUT=${1:-mae-effect}
STEPS=${2:-300}
LR=${3:-3e-4}
S=${SPASMSCOPE:-spasmscope}
mkdir -p "$OUT"
[ -f "$OUT/unlabeled/manifest.csv" ] || $S synth "$OUT/unlabeled" --children 3 --healthy 0 --seed 900 --id-prefix u --long-minutes 4 --long-count 3
[ -f "$OUT/derivation/manifest.csv" ] || $S synth "$OUT/derivation" --children 20 --healthy 10 --seed 0
[ -f "$OUT/external/manifest.csv" ] || $S synth "$OUT/external" --children 8 --healthy 4 --seed 901 --id-prefix w --cohort external \
    --healthy-cohort external-healthy --wide-fraction 1.0
$S pretrain mae "$OUT"/unlabeled/long/*.mp4 --out "$OUT/backbone-mae" --weights default --steps "$STEPS" --lr "$LR" --cache "$OUT/cache-mae"
for arm in shipped mae; do
    weights=default
    [ "$arm" = mae ] && weights="$OUT/backbone-mae"
    [ -f "$OUT/model-$arm/model.safetensors" ] || $S train "$OUT/derivation/manifest.csv" --out "$OUT/model-$arm" --weights "$weights" --cache "$OUT/cache"
    [ -f "$OUT/eval-$arm/metrics.json" ] || $S evaluate "$OUT/model-$arm" "$OUT/external/manifest.csv" --out "$OUT/eval-$arm" --cache "$OUT/cache" --no-table1
done
python - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
auc = {arm: json.load(open(f"{out}/eval-{arm}/metrics.json"))["pooled"]["auc"] for arm in ("shipped", "mae")}
print(json.dumps({"external_wide_auc_shipped": round(auc["shipped"], 3), "external_wide_auc_mae": round(auc["mae"], 3),
                  "change": round(auc["mae"] - auc["shipped"], 3)}))
EOF
