#!/usr/bin/env bash
# Records a cross-validation of leave_one_renderer_out.sh in this checkout, so that hours of cross-validation outlive
# the machine they ran on: commit the folder it writes, and leave_one_renderer_out.sh copies its folds in
# (benchmarks/take_cv.sh) before it runs that CV on any machine.
#
#   bash benchmarks/record_cv.sh OUT NAME     # OUT/NAME (e.g. OUT/cv-photo-hand-random) -> benchmarks/cvs/NAME
#                                               (CVS=DIR writes DIR/NAME instead)
#
# It records run.json, folds.csv and each finished fold's train.jsonl, weights.json and predictions.csv (tens of kB;
# no model), with SHA256SUMS; a fold still training is left out and runs again where the CV is taken. A CV recorded
# before is replaced. `spasmscope cv` keeps recorded folds only for a run of the same data (the videos' digests),
# config, folds and weights as run.json names them, so a recorded CV is taken under the same OUT path its backbone was
# given from, and a cohort drawn differently is refused in one line.
set -euo pipefail
OUT=${1:?usage: record_cv.sh OUT NAME}
NAME=${2:?usage: record_cv.sh OUT NAME}
FROM="$OUT/$NAME"
TO="${CVS:-$(cd "$(dirname "$0")" && pwd)/cvs}/$NAME"
if [ ! -f "$FROM/run.json" ] || [ ! -f "$FROM/folds.csv" ]; then
    echo "record_cv.sh: $FROM is not a cross-validation's folder (no run.json and folds.csv); give leave_one_renderer_out.sh's OUT folder and a CV's name, such as cv-photo-backbone" >&2
    exit 2
fi
FILES=(run.json folds.csv)
# A fold's predictions.csv comes last in its list, as cv writes it last: copied back in that order, a fold is marked
# finished only once its other files are there.
for fold in $(cd "$FROM" && ls -d fold-* 2>/dev/null | sort -V); do
    if [ -f "$FROM/$fold/predictions.csv" ]; then FILES+=("$fold/train.jsonl" "$fold/weights.json" "$fold/predictions.csv"); fi
done
rm -rf "$TO.part"
for file in "${FILES[@]}"; do
    mkdir -p "$(dirname "$TO.part/$file")"
    cp "$FROM/$file" "$TO.part/$file"
done
(cd "$TO.part" && sha256sum "${FILES[@]}" > SHA256SUMS)
rm -rf "$TO"
mv "$TO.part" "$TO"
echo "recorded $NAME with $(((${#FILES[@]} - 2) / 3)) finished folds in $TO"
