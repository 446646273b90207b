#!/usr/bin/env bash
# Records a pretraining stage of held_out_arms.sh in this checkout, so that hours of pretraining outlive the machine
# they ran on: commit the folder it writes, and held_out_arms.sh takes the stage from there on any machine.
#
#   bash benchmarks/record_arm.sh OUT NAME     # OUT/NAME -> benchmarks/arms/NAME (ARMS=DIR writes DIR/NAME instead)
#
# A finished stage is recorded as its backbone (model.safetensors, config.json, pretrain.jsonl, about 6 MB); one
# stopped part-way as its resume point (resume.pt, pretrain.jsonl, about 18 MB), which resumes only under the same OUT
# path, as its recipe names it. SHA256SUMS lists the files, and held_out_arms.sh refuses them if they change. A
# stage recorded before is replaced. Record a stage that is not running (its log and resume point agree then).
set -euo pipefail
# Every step reads stages through spasmscope (backbone_step.py): without the environment, say so in one line.
. "$(dirname "$0")/needs_env.sh"
OUT=${1:?usage: record_arm.sh OUT NAME}
NAME=${2:?usage: record_arm.sh OUT NAME}
HERE=$(cd "$(dirname "$0")" && pwd)
FROM="$OUT/$NAME"
TO="${ARMS:-$HERE/arms}/$NAME"
if [ "$(python "$HERE/backbone_step.py" "$FROM")" != 0 ]; then
    FILES=(model.safetensors config.json pretrain.jsonl)
elif [ -f "$FROM/resume.pt" ]; then
    FILES=(resume.pt pretrain.jsonl)
else
    echo "record_arm.sh: $FROM holds neither a finished backbone nor a resume point (resume.pt); give the OUT folder held_out_arms.sh pretrained in and a stage's name" >&2
    exit 2
fi
rm -rf "$TO.part"
mkdir -p "$TO.part"
cp "${FILES[@]/#/$FROM/}" "$TO.part/"
(cd "$TO.part" && sha256sum "${FILES[@]}" > SHA256SUMS)
rm -rf "$TO"
mv "$TO.part" "$TO"
echo "recorded $NAME at step $(python "$HERE/backbone_step.py" "$TO" --logged) in $TO"
