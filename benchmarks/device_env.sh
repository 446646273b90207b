# Sourced by the scripts that run on a lent GPU machine (gpu_check.sh, gpu_pretrain.sh), from the repository root:
# sets PY (PYTHON, else python3) and puts spasmscope's source and, on a machine without its dependencies, the wheels
# carried in .whl/ on PYTHONPATH (the device machine reaches no registry; BENCHMARKS.md lists the wheels).
PY=${PYTHON:-python3}
if [ -d .whl ] && ! "$PY" -c "import av" 2>/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
