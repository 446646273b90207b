#!/usr/bin/env bash
# The leave-one-renderer-out table in one run of the benchmark: builds each held-out renderer's arm as BENCHMARKS.md
# records it, then runs benchmarks/leave_one_renderer_out.sh once over all five with START_FOR_<name> set to the arm
# and STEPS_FOR_<name>=0, so every row is measured by the same tree, cohorts and control.
#
#   bash benchmarks/held_out_arms.sh OUT
#
# The arms (none saw the renderer it is measured on):
#   silhouette   SILHOUETTE_ARM=S (default; RULE 16 chose it on a second silhouette cohort, BENCHMARKS.md 2026-12-06):
#                stages 1-7 continued 5,300 steps on articulated, photo, shaded, splat, arm G's recipe with silhouette
#                held out in place of shaded (recorded in benchmarks/arms/S). SILHOUETTE_ARM=stages-1-7: the backbone
#                of stages 1-7, articulated renderer alone (shipped at commit 9ad484b; MODEL_CARD.md)
#   splat        stage 10: articulated, silhouette, photo, shaded (shipped at commit e77cf6a)
#   shaded       arm G (RULE 10): stages 1-7 continued 5,300 steps on articulated, silhouette, photo, splat
#   photo        arm P4 (RULE 18 chose it over P3 on a second photo cohort, BENCHMARKS.md 2026-12-07, session 71):
#                arm P3 (RULES 10b-12: stages 1-7 continued 2,400 + 2,600 + 2,600 steps on articulated, silhouette,
#                shaded, splat) continued 2,600 steps more by the same recipe (recorded in benchmarks/arms/P4)
#   articulated  ARTICULATED_ARM=C8 (default; RULE 14 chose it over C7 on the articulated cohort, BENCHMARKS.md
#                2026-12-07, session 66): RULE 14's arm C, the shipped stages 1-7's recipe on silhouette, photo, shaded,
#                splat (C1-C7, 20,100 steps from random weights), then 5,300 steps more with the later stages' options
#                (recorded in benchmarks/arms/C8). ARTICULATED_ARM=C7 stops after C7; ARTICULATED_ARM=A5: the
#                four-renderer arm of 2026-12-03, 5,000 steps from random weights on those four, then 1,500 + 1,200 +
#                2,000 + 2,400 (the row's figure until RULE 14 was decided)
# The two shipped backbones come out of this checkout's git history and are checked against their SHA-256; the other
# arms are taken from benchmarks/arms where recorded (S, C8, G, and P4 with its first stages P, P2 and P3) or pretrained
# here (every arm with nothing recorded, about 46,000 steps: 17-29 clips/s on 2 CPU cores, some 21 hours; where torch
# sees a GPU, pretraining runs there, about 20 times faster with WORKERS=15 processes drawing on 16 cores; the clips
# drawn do not depend on WORKERS, default 1). A rebuilt arm is the recorded recipe, not the recorded bytes (threads,
# processors and GPUs do not add up in the same order), so its figure is measured anew by this run. How far anew: arm
# C's C1-C5, rebuilt on one training thread, score the articulated cohort 0.15-0.19 above the same recipe's first build
# on two threads (BENCHMARKS.md, 2026-12-07); on one kind of processor with the same threads a stage is repeated to the
# last digit, and each log line names the processor.
# Stages recorded by record_arm.sh in ARMS (default: this checkout's benchmarks/arms; take_recorded below) are taken
# from there rather than pretrained again.
# Resumable: run it again after an interruption. DRY_RUN=1 prints the pretraining commands, pretrains and measures
# nothing; BUILD_ONLY=1 builds the arms and measures nothing (pretraining queued ahead of the run that measures, which
# then finds the arms built). HELD_OUT="photo ..." builds and measures only those rows; RERECORD and SPASMSCOPE pass
# through to leave_one_renderer_out.sh. Run it from a git checkout with the project's environment active (`spasmscope`
# and `python` on the PATH).
set -euo pipefail
# Every step reads stages through spasmscope (backbone_step.py): without the environment, say so in one line.
. "$(dirname "$0")/needs_env.sh"
OUT=${1:?usage: held_out_arms.sh OUT}
HERE=$(cd "$(dirname "$0")" && pwd)
S=${SPASMSCOPE:-spasmscope}
mkdir -p "$OUT"
printf '[model]\nmotion = true\n' > "$OUT/motion.toml"
# Every continued arm's recipe (the shipped stages 8-12's): no curriculum, the paper's augmentations, colour, startles.
LATER=(--lr 2e-4 --curriculum 0 --augment 0.25 --colour 0.5 --startle-rate 0.3 --config "$OUT/motion.toml")

# A backbone as it was shipped at a commit, refused if its bytes are not the ones the figures were measured with.
shipped() {
    local name=$1 commit=$2 digest=$3 file
    mkdir -p "$OUT/$name"
    for file in model.safetensors config.json; do
        git -C "$HERE/.." show "$commit:src/spasmscope/backbones/cpu-synth/$file" > "$OUT/$name/$file.part" 2>/dev/null || {
            echo "held_out_arms.sh: commit $commit (the $name backbone) is not in this checkout's history; run from a full clone of the project (git fetch --unshallow)" >&2
            exit 2
        }
        mv "$OUT/$name/$file.part" "$OUT/$name/$file"
    done
    if [ "$(sha256sum "$OUT/$name/model.safetensors" | cut -c1-64)" != "$digest" ]; then
        echo "held_out_arms.sh: $OUT/$name/model.safetensors from commit $commit has SHA-256 $(sha256sum "$OUT/$name/model.safetensors" | cut -c1-12)..., not the measured backbone's $digest; run from a clone of the project's own history" >&2
        exit 2
    fi
}

# A stage recorded in ARMS/NAME: a finished backbone (model.safetensors, config.json, pretrain.jsonl), or a stage
# stopped part-way (resume.pt, pretrain.jsonl; it resumes only under the OUT it ran in, which its recipe names),
# committed so that a pretraining of hours outlives the machine it ran on. Copied into OUT/NAME unless that folder got
# as far; refused unless its files match the SHA256SUMS recorded with them.
ARMS=${ARMS:-$HERE/arms}
take_recorded() {
    local name=$1 from="$ARMS/$1" file
    [ -f "$from/SHA256SUMS" ] || return 0
    (cd "$from" && sha256sum --check --quiet SHA256SUMS) >/dev/null 2>&1 || {
        echo "held_out_arms.sh: $from does not hold the files its SHA256SUMS lists; restore them (git checkout -- $from) or remove the folder to pretrain $name here" >&2
        exit 2
    }
    if [ "$(python "$HERE/backbone_step.py" "$from" --logged)" -gt "$(python "$HERE/backbone_step.py" "$OUT/$name" --logged)" ]; then
        mkdir -p "$OUT/$name"
        rm -f "$OUT/$name/resume.pt"
        for file in $(cut -c67- "$from/SHA256SUMS"); do
            cp "$from/$file" "$OUT/$name/$file.part"
            mv "$OUT/$name/$file.part" "$OUT/$name/$file"
        done
    fi
}

# One pretraining stage: NAME STEPS OPTIONS...; skipped when NAME already ended at STEPS, resumed when it stopped.
stage() {
    local name=$1 steps=$2
    shift 2
    take_recorded "$name"
    local command=("$S" pretrain supervised --out "$OUT/$name" --steps "$steps" --workers "${WORKERS:-1}" "$@")
    if [ "${DRY_RUN:-0}" = 1 ]; then
        echo "${command[*]}"
    elif [ "$(python "$HERE/backbone_step.py" "$OUT/$name")" != "$steps" ]; then
        "${command[@]}"
    fi
}

# Each held-out renderer's arm: builds it in OUT/${FOLDER[name]}, or finds it built there.
arm() {
    case $1 in
    stages-1-7) shipped stages-1-7 9ad484b 0332bc265ae36975a4908159c8b901401a7d3179f19faa56e31b3c941b6546c8 ;;
    silhouette)
        arm stages-1-7
        [ "$SILHOUETTE_ARM" = stages-1-7 ] || stage S 5300 --weights "$OUT/stages-1-7" --seed 35 --night-fraction 0.25 --renderers articulated,photo,shaded,splat "${LATER[@]}" ;;
    splat) shipped stage-10 e77cf6a e860aa29f39ed26185bd1045af5c890662135cf918e038712fdfea5a4e9788ea ;;
    shaded)
        arm stages-1-7
        stage G 5300 --weights "$OUT/stages-1-7" --seed 31 --night-fraction 0.25 --renderers articulated,silhouette,photo,splat "${LATER[@]}" ;;
    photo)
        arm stages-1-7
        local others=(--night-fraction 0.25 --renderers articulated,silhouette,shaded,splat "${LATER[@]}")
        stage P 2400 --weights "$OUT/stages-1-7" --seed 32 "${others[@]}"
        stage P2 2600 --weights "$OUT/P" --seed 33 "${others[@]}"
        stage P3 2600 --weights "$OUT/P2" --seed 34 "${others[@]}"
        stage P4 2600 --weights "$OUT/P3" --seed 36 "${others[@]}" ;;
    articulated)
        local four=(--renderers silhouette,photo,shaded,splat --augment 0.25 --colour 0.5 --startle-rate 0.3 --config "$OUT/motion.toml")
        stage A1 5000 --weights none --seed 21 "${four[@]}"
        stage A2 1500 --weights "$OUT/A1" --lr 5e-4 --seed 22 --curriculum 0 "${four[@]}"
        stage A3 1200 --weights "$OUT/A2" --lr 5e-4 --seed 23 --curriculum 0 "${four[@]}"
        stage A4 2000 --weights "$OUT/A3" --lr 3e-4 --seed 24 --curriculum 0 "${four[@]}"
        stage A5 2400 --weights "$OUT/A4" --lr 2e-4 --seed 25 --curriculum 0 "${four[@]}" ;;
    articulated-C)
        local four=(--renderers silhouette,photo,shaded,splat --config "$OUT/motion.toml")
        local later=(--curriculum 0 --augment 0.25 --colour 0.5)
        stage C1 5000 --weights none --batch-size 32 --seed 0 "${four[@]}"
        stage C2 4000 --weights "$OUT/C1" --lr 5e-4 --seed 1 --curriculum 0 "${four[@]}"
        stage C3 3300 --weights "$OUT/C2" --lr 5e-4 --seed 2 --curriculum 0 --augment 0.25 "${four[@]}"
        stage C4 2200 --weights "$OUT/C3" --lr 3e-4 --seed 3 --curriculum 0 --augment 0.25 "${four[@]}"
        stage C5 2400 --weights "$OUT/C4" --lr 2e-4 --seed 4 --curriculum 0 --augment 0.25 "${four[@]}"
        stage C6 2000 --weights "$OUT/C5" --lr 2e-4 --seed 5 "${later[@]}" "${four[@]}"
        stage C7 1200 --weights "$OUT/C6" --lr 1e-4 --seed 6 "${later[@]}" "${four[@]}"
        [ "$ARTICULATED_ARM" = C7 ] || stage C8 5300 --weights "$OUT/C7" --lr 2e-4 --seed 31 --startle-rate 0.3 --night-fraction 0.25 "${later[@]}" "${four[@]}" ;;
    esac
}
ARTICULATED_ARM=${ARTICULATED_ARM:-C8}
case $ARTICULATED_ARM in
A5 | C7 | C8) ;;
*) echo "held_out_arms.sh: ARTICULATED_ARM=$ARTICULATED_ARM is not a recorded arm; give A5, C7 or C8" >&2; exit 2 ;;
esac
SILHOUETTE_ARM=${SILHOUETTE_ARM:-S}
case $SILHOUETTE_ARM in
S | stages-1-7) ;;
*) echo "held_out_arms.sh: SILHOUETTE_ARM=$SILHOUETTE_ARM is not a recorded arm; give S or stages-1-7" >&2; exit 2 ;;
esac
declare -A FOLDER=([silhouette]=$SILHOUETTE_ARM [splat]=stage-10 [shaded]=G [photo]=P4 [articulated]=$ARTICULATED_ARM)
HELD=${HELD_OUT:-articulated silhouette photo shaded splat}
for held in $HELD; do
    [ -n "${FOLDER[$held]:-}" ] || { echo "held_out_arms.sh: no recorded arm for the renderer '$held'; HELD_OUT takes articulated, silhouette, photo, shaded, splat" >&2; exit 2; }
    # An arm recorded finished in this checkout needs none of the stages before it.
    take_recorded "${FOLDER[$held]}"
    if [ "$(python "$HERE/backbone_step.py" "$OUT/${FOLDER[$held]}")" = 0 ]; then
        if [ "$held" = articulated ] && [ "$ARTICULATED_ARM" != A5 ]; then arm articulated-C; else arm "$held"; fi
    fi
    export "START_FOR_$held=$OUT/${FOLDER[$held]}" "STEPS_FOR_$held=0"
done
[ "${DRY_RUN:-0}" = 1 ] || [ "${BUILD_ONLY:-0}" = 1 ] && exit 0
CONFIG="$OUT/motion.toml" HELD_OUT="$HELD" bash "$HERE/leave_one_renderer_out.sh" "$OUT/benchmark"
