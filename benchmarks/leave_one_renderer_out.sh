#!/usr/bin/env bash
# Detection on pictures never seen in pretraining: leave one renderer out (issue "Detection that holds on pictures
# it never saw"). For each renderer of the family in turn, a backbone pretrained on every other renderer, then
# child-level 5-fold CV of the `cpu` preset on a cohort drawn by the held-out renderer (20 children with spasms, 10
# healthy infants in training only, a share of the spasm-free segments holding a startle reflex), beside a CV from
# random weights trained as the preset advises from random weights (RANDOM_RECIPE); also the AUC of spasm segments
# against startle segments.
#
#   bash benchmarks/leave_one_renderer_out.sh OUT [STEPS] [SEED]
#
# STEPS: pretraining steps per backbone (default 5000, about 5 h on 2 CPU cores); STEPS_FOR_<name> sets them for one
# held-out renderer only, and 0 measures the starting backbone as it is (an arm pretrained in stages beforehand, so
# that one run cross-validates every renderer's arm). BACKBONE_START (environment) continues from these weights
# instead of random ones; START_FOR_<name> sets it for one held-out renderer only, e.g. START_FOR_photo=FOLDER. A
# backbone that saw the held-out renderer is refused: the shipped backbone saw all five of the family, so `default` is
# refused for them (the backbone of stages 1-7, articulated alone, is rebuilt by MODEL_CARD.md's commands).
# HELD_OUT="silhouette ..." holds out only those renderers (default: the family,
# synth.renderers.NAMES). `implicit`, kept out of every shipped backbone, is measured with the shipped backbone
# itself: START_FOR_implicit=default HELD_OUT=implicit. Each cohort is also re-recorded through a camera no training
# code uses (benchmarks/rerecord.py: shot noise, exposure hunting, MPEG-4 Part 2) and both CV arms run on that copy
# too (fields auc_rerecorded...): a held-out renderer seen through a held-out sensor; and through the same camera held
# in a shaking hand no training code draws (rerecord.py --hand: tremor, roll, re-grips, a rolling shutter; fields
# auc_hand...). RERECORD=0 skips both copies.
# CONFIG=FILE.toml changes the model for pretraining and both CV arms alike (e.g. `[model] motion = true`);
# PRETRAIN_OPTIONS adds options to every pretraining (e.g. "--texture 0.5 --degrade 0.3"). Prints one JSON line per
# renderer (with the AUC by day and at night, auc_day and auc_night, from the cohort's recorded_night, and against
# each movement the generator drew in the spasm-free segments, auc_by_movement, from its movements.csv) and a
# summary (benchmarks/held_out_summary.py); resumable (each pretraining and each CV resumes where it stopped, and on
# another machine each CV recorded by benchmarks/record_cv.sh). Run it with the project's environment active
# (`spasmscope` and `python` on the PATH).
set -euo pipefail
. "$(dirname "$0")/needs_env.sh"
OUT=${1:?usage: leave_one_renderer_out.sh OUT [STEPS] [SEED]}
STEPS=${2:-5000}
SEED=${3:-21}
S=${SPASMSCOPE:-spasmscope}
# The random-weights arm trains as the cpu preset advises from random weights, not with the backbone's gentle
# fine-tune (lr 1e-5, 4 epochs), so the gain is measured against a control that had its chance to learn (model card).
RANDOM_RECIPE=(--lr 1e-4 --epochs 15)
# One CV arm (backbone or random) on one copy of the held-out cohort ("" as drawn, "-rerecorded", "-hand"), unless it
# finished; folds recorded by benchmarks/record_cv.sh (in CVS, default benchmarks/cvs) are taken, not run again.
cv_arm() {
    local copy=$1 arm=$2 start
    if [ "$arm" = backbone ]; then start=(--weights "$backbone"); else start=(--weights none "${RANDOM_RECIPE[@]}"); fi
    bash "$(dirname "$0")/take_cv.sh" "$OUT" "cv-$held$copy-$arm"
    [ -f "$OUT/cv-$held$copy-$arm/metrics.json" ] || $S cv "$cohort$copy/manifest.csv" --out "$OUT/cv-$held$copy-$arm" --cache "$OUT/cache-$held$copy" --no-table1 "${start[@]}" ${CONFIG:+--config "$CONFIG"}
}
RENDERERS=$(python -c "from spasmscope.synth.renderers import NAMES; print(' '.join(NAMES))")
mkdir -p "$OUT"
for held in ${HELD_OUT:-$RENDERERS}; do
    others=$(python -c "import sys; print(','.join(r for r in sys.argv[2:] if r != sys.argv[1]))" "$held" $RENDERERS)
    start_var="START_FOR_$held"
    start=${!start_var:-${BACKBONE_START:-none}}
    steps_var="STEPS_FOR_$held"
    steps=${!steps_var:-$STEPS}
    backbone="$OUT/backbone-without-$held"
    # The renderers a starting backbone's last stage was pretrained on (backbone_step.renderers_seen).
    start_folder=$([ "$start" = default ] && python -c "from spasmscope.model.weights import embedded_backbone; print(embedded_backbone())" || echo "$start")
    seen=$([ "$start" = none ] || python "$(dirname "$0")/backbone_step.py" "$start_folder" --renderers)
    if [[ " $seen " == *" $held "* ]]; then
        echo "leave_one_renderer_out.sh: the starting backbone $start was pretrained on the $held renderer; start from one that never saw it (BACKBONE_START or START_FOR_$held)" >&2
        exit 2
    fi
    if [ "$steps" = 0 ] && [ "$start" = none ]; then
        echo "leave_one_renderer_out.sh: STEPS_FOR_$held=0 measures a starting backbone as it is; name one with START_FOR_$held" >&2
        exit 2
    fi
    if [ "$start" = default ]; then
        backbone=default
    elif [ "$steps" = 0 ]; then
        backbone=$start
    elif [ "$(python "$(dirname "$0")/backbone_step.py" "$backbone")" != "$steps" ]; then
        # From random weights, the first stages' recipe; continuing a backbone, the later stages' (MODEL_CARD.md).
        recipe=$([ "$start" = none ] && echo "" || echo "--lr 2e-4 --curriculum 0")
        $S pretrain supervised --out "$backbone" --steps "$steps" --renderers "$others" --weights "$start" --seed "$SEED" --augment 0.25 --colour 0.5 --startle-rate 0.3 $recipe ${CONFIG:+--config "$CONFIG"} ${PRETRAIN_OPTIONS:-}
    fi
    cohort="$OUT/cohort-$held"
    [ -f "$cohort/manifest.csv" ] || $S synth "$cohort" --children 20 --healthy 10 --seed "$SEED" --id-prefix r --renderer "$held" --startle-rate 0.3
    cv_arm "" backbone
    cv_arm "" random
    if [ "${RERECORD:-1}" != 0 ]; then
        [ -f "$cohort-rerecorded/manifest.csv" ] || python "$(dirname "$0")/rerecord.py" "$cohort" "$cohort-rerecorded" --workers 2
        [ -f "$cohort-hand/manifest.csv" ] || python "$(dirname "$0")/rerecord.py" "$cohort" "$cohort-hand" --workers 2 --hand
        for copy in -rerecorded -hand; do
            cv_arm $copy backbone
            cv_arm $copy random
        done
    fi
    python - "$OUT" "$held" "$backbone" "$others" "$cohort" "$(dirname "$0")" <<'PY'
import json, os, sys
from pathlib import Path
import pandas as pd
from spasmscope.study.factors import auc_by_light
from spasmscope.data.manifest import read_movements
from spasmscope.data.movements import spasm_against_movements
from spasmscope.digests import sha256
from spasmscope.model.weights import MODEL_FILE
out, held, backbone, others, cohort, here = sys.argv[1:]
sys.path.insert(0, here)
from backbone_step import renderers_seen
m = {arm: json.load(open(f"{out}/cv-{held}-{arm}/metrics.json")) for arm in ("backbone", "random")}
run = json.load(open(f"{out}/cv-{held}-backbone/run.json"))
config = json.load(open(f"{backbone}/config.json")) if backbone != "default" else {}
recipe = config.get("pretrain", {})
# What the backbone's last stage really drew from (a folder pretrained before a renderer was added has not seen it).
seen = ",".join(renderers_seen(Path(backbone)) if backbone != "default" else []) or others
# By light: the cohort's own record of infrared night (the synthetic manifest's recorded_night column).
predictions = pd.read_csv(f"{out}/cv-{held}-backbone/predictions.csv")
light = auc_by_light(predictions.assign(night=predictions["recorded_night"]))
# Which weights were measured: a backbone given as it is (STEPS_FOR_<name>=0) is named by its path and its hash.
row = {"held_out": held, "backbone": backbone, "backbone_sha256": sha256(os.path.join(backbone, MODEL_FILE)) if backbone != "default" else None, "last_stage_steps": config.get("final", {}).get("step"), "motion_channels": run["config"]["model"].get("motion", False), "texture_p": recipe.get("texture_p", 0.0), "degrade_p": recipe.get("degrade_p", 0.0), "pretrained_on": "the shipped backbone" if backbone == "default" else seen,
       "auc": round(m["backbone"]["pooled"]["auc"], 3), "auc_random_weights": round(m["random"]["pooled"]["auc"], 3),
       "auc_day": None if light["day"]["auc"] is None else round(light["day"]["auc"], 3),
       "auc_night": None if light["night"]["auc"] is None else round(light["night"]["auc"], 3),
       "per_child_auc": round(m["backbone"]["per_child"]["auc"]["mean"], 3), "spasm_vs_startle_auc": m["backbone"]["spasm_vs_startle"]["auc"],
       "brier": round(m["backbone"]["calibration"]["brier"], 3), "ece": round(m["backbone"]["calibration"]["ece"], 3)}
row["gain"] = round(row["auc"] - row["auc_random_weights"], 3)
# Which movements it takes for spasms: the AUC of the spasm segments against the spasm-free ones holding each kind the
# generator drew there (movements.csv; a cohort drawn before it was written has none).
if os.path.isfile(f"{cohort}/movements.csv"):
    moved = spasm_against_movements(predictions, read_movements(f"{cohort}/movements.csv"), 0.5)["by_kind"]
    row["auc_by_movement"] = {k: None if v["auc"] is None else round(v["auc"], 3) for k, v in moved.items()}
for copy, arm, field in (("rerecorded", "backbone", "auc_rerecorded"), ("rerecorded", "random", "auc_rerecorded_random_weights"),
                         ("hand", "backbone", "auc_hand"), ("hand", "random", "auc_hand_random_weights")):
    path = f"{out}/cv-{held}-{copy}-{arm}/metrics.json"
    try:
        row[field] = round(json.load(open(path))["pooled"]["auc"], 3)
    except FileNotFoundError:
        pass
json.dump(row, open(f"{out}/result-{held}.json", "w"))
print(json.dumps(row))
PY
done
python "$(dirname "$0")/held_out_summary.py" "$OUT" ${HELD_OUT:-$RENDERERS}
