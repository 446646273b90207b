# Sourced by the benchmark scripts that run the project's own Python (`. "$(dirname "$0")/needs_env.sh"`): where
# `python` on the PATH cannot import spasmscope, one line naming the fix and exit 2, before anything is written.
python -c "import spasmscope" 2>/dev/null || { echo "${0##*/}: python cannot import spasmscope; activate the project's environment (source .venv/bin/activate) and run it again" >&2; exit 2; }
