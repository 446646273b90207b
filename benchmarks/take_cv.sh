#!/usr/bin/env bash
# Copies a cross-validation recorded by benchmarks/record_cv.sh into OUT/NAME, where `spasmscope cv` then keeps its
# finished folds and runs the others (leave_one_renderer_out.sh calls it before each CV).
#
#   bash benchmarks/take_cv.sh OUT NAME       # benchmarks/cvs/NAME -> OUT/NAME (CVS=DIR reads DIR/NAME instead)
#
# Nothing recorded: nothing done. A recorded file changed since: refused in one line. OUT/NAME holding a run of its
# own (another run.json) is left alone, as is every fold it finished; a fold it left part-way is replaced by the
# recorded one.
set -euo pipefail
OUT=${1:?usage: take_cv.sh OUT NAME}
NAME=${2:?usage: take_cv.sh OUT NAME}
FROM="${CVS:-$(cd "$(dirname "$0")" && pwd)/cvs}/$NAME"
TO="$OUT/$NAME"
[ -f "$FROM/SHA256SUMS" ] || exit 0
(cd "$FROM" && sha256sum --check --quiet SHA256SUMS) >/dev/null 2>&1 || {
    echo "take_cv.sh: $FROM does not hold the files its SHA256SUMS lists; restore them (git checkout -- $FROM) or remove the folder to run $NAME anew" >&2
    exit 2
}
[ ! -f "$TO/run.json" ] || cmp -s "$FROM/run.json" "$TO/run.json" || exit 0
for file in $(cut -c67- "$FROM/SHA256SUMS"); do
    # A fold finished here keeps its own files; the run's own files are copied once.
    [ "$(dirname "$file")" != . ] && [ -f "$TO/$(dirname "$file")/predictions.csv" ] && continue
    [ "$(dirname "$file")" = . ] && [ -f "$TO/$file" ] && continue
    mkdir -p "$(dirname "$TO/$file")"
    cp "$FROM/$file" "$TO/$file.part"
    mv "$TO/$file.part" "$TO/$file"
done
