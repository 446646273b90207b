#!/usr/bin/env bash
# How well does the shipped backbone carry over to looks it never saw, and how much does it add over random
# weights? Child-level 5-fold CV of the `cpu` preset on several shifted-look cohorts (issue "Pretraining").
#
#   bash benchmarks/shifted_look.sh [OUT] [SEED...]        (default seeds: 7 8 9 10 11 12)
#
# Each seed draws its own cohort (`synth --shifted-look`: 20 children with spasms + 10 healthy infants in training
# only; other backgrounds, colours, body proportions and camera distances than the pretraining corpus). One cohort
# of 20 children is a small sample: the share of children filmed from afar alone moves its AUC by several
# hundredths, so the figure to quote is the spread over seeds, not one cohort's.
# Arms: "shipped" (the default: the shipped backbone and its spasm head) and "none" (`--weights none`), same
# recipe, folds and segments. Prints one JSON line per seed and a summary line; resumable per cohort and arm.
set -euo pipefail
. "$(dirname "$0")/needs_env.sh"
OUT=${1:-shifted-look}
shift || true
SEEDS=${*:-7 8 9 10 11 12}
S=${SPASMSCOPE:-spasmscope}
mkdir -p "$OUT"
for seed in $SEEDS; do
    cohort="$OUT/seed-$seed"
    [ -f "$cohort/manifest.csv" ] || $S synth "$cohort" --children 20 --healthy 10 --seed "$seed" --id-prefix s --shifted-look
    [ -f "$OUT/cv-$seed-shipped/metrics.json" ] || $S cv "$cohort/manifest.csv" --out "$OUT/cv-$seed-shipped" --cache "$OUT/cache-$seed" --no-table1
    [ -f "$OUT/cv-$seed-none/metrics.json" ] || $S cv "$cohort/manifest.csv" --out "$OUT/cv-$seed-none" --cache "$OUT/cache-$seed" --no-table1 --weights none
done
python - "$OUT" $SEEDS <<'EOF'
import json, statistics, sys
out, seeds = sys.argv[1], sys.argv[2:]
rows = []
for seed in seeds:
    m = {arm: json.load(open(f"{out}/cv-{seed}-{arm}/metrics.json")) for arm in ("shipped", "none")}
    row = {"seed": int(seed), "auc_shipped": round(m["shipped"]["pooled"]["auc"], 3), "auc_none": round(m["none"]["pooled"]["auc"], 3),
           "per_child_auc_shipped": round(m["shipped"]["per_child"]["auc"]["mean"], 3)}
    row["gain"] = round(row["auc_shipped"] - row["auc_none"], 3)
    rows.append(row)
    print(json.dumps(row))
shipped = [r["auc_shipped"] for r in rows]
print(json.dumps({"seeds": len(rows), "auc_shipped_mean": round(statistics.mean(shipped), 3), "auc_shipped_min": min(shipped),
                  "auc_shipped_max": max(shipped), "cohorts_at_or_above_0.90": sum(a >= 0.90 for a in shipped),
                  "auc_none_mean": round(statistics.mean(r["auc_none"] for r in rows), 3),
                  "gain_mean": round(statistics.mean(r["gain"] for r in rows), 3), "gain_min": min(r["gain"] for r in rows)}))
EOF
