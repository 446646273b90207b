# Two entry points for a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo-run

.PHONY: setup browser demo test test-fast clean

setup: $(VENV)/.installed

# torch goes in first and pinned, so nothing later can resolve an unpinned (CUDA) build.
# The official hiera-transformer goes in without its dependencies (timm and torchvision do not install
# beside a CPU torch): only the compatibility test imports it, supplying the two timm layers it needs.
$(VENV)/.installed: pyproject.toml constraints.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps hiera-transformer==0.1.4
	touch $@

demo: setup
	$(BIN)/spasmscope demo --out $(DEMO_OUT)

# The review station's browser test drives Debian's chromium (Playwright's own browser downloads are not used).
browser:
	@command -v chromium >/dev/null 2>&1 || { S=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$S apt-get update -q && $$S apt-get install -y -q chromium; }

# One worker per core, each test file on one worker (its module fixtures are built once), the longest files first
# (tests/conftest.py orders them).
PYTEST := $(BIN)/python -m pytest -n auto --dist loadfile --no-loadscope-reorder

test: setup browser
	$(PYTEST)

test-fast: setup browser
	$(PYTEST) -m "not slow"

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
