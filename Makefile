# livseg: `make demo` and `make test` set everything up in .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.livseg-installed
TORCH := torch==2.13.0
VENDOR := src/livseg/serve/static/vendor/LICENSES.md
CHROMIUM := /usr/bin/chromium

.PHONY: setup demo test test-fast fuzz lint clean

setup: $(STAMP) $(VENDOR) $(CHROMIUM)

# torch is installed first and pinned: on these machines that takes the CPU wheel from
# disk; an unpinned torch would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev,train]'
	touch $(STAMP)

# The web page's libraries (NiiVue, onnxruntime-web) from the npm registry, pinned by
# web/package-lock.json, copied into the package: the page loads nothing from a CDN.
# Without npm the page has no viewer and its browser tests skip; nothing else depends on it.
$(VENDOR): web/package-lock.json tools/vendor_web.py
	(cd web && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) \
		&& $(PYTHON) tools/vendor_web.py \
		|| echo "WARNING: npm could not vendor the web page's libraries; browser tests will skip"

# Debian's Chromium for the browser test (Playwright drives it; it downloads no browser).
# If apt cannot install it, the browser tests skip (and say why); nothing else needs it.
$(CHROMIUM):
	SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	($$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends chromium >/dev/null) \
		|| echo "WARNING: apt could not install chromium; the browser tests will skip"

# the demo vendors the web page's libraries too, so that `livseg serve` works after it
demo: $(STAMP) $(VENDOR)
	$(BIN)/livseg demo --out livseg-demo

# hypothesis is seeded: CI passes or fails the same way every time (fuzz with another
# seed, or none, by hand: pytest tests/io/test_fuzz.py --hypothesis-seed=N)
HYPOTHESIS_SEED := --hypothesis-seed=0
# one worker per core (pytest-xdist), each test file on one worker, so that a module's
# fixture (a training run, an export, a browser) is built once; files in the order
# tests/conftest.py gives them (costliest first)
PARALLEL := -n auto --dist loadfile --no-loadscope-reorder

test: setup
	$(BIN)/python -m pytest -q $(PARALLEL) $(HYPOTHESIS_SEED)

test-fast: setup
	$(BIN)/python -m pytest -q $(PARALLEL) -m "not slow" $(HYPOTHESIS_SEED)

# a longer, unseeded search for corrupt files the readers mishandle; what it finds becomes
# a regression test in tests/io/test_fuzz.py
fuzz: setup
	LIVSEG_FUZZ_EXAMPLES=5000 $(BIN)/python -m pytest -q tests/io/test_fuzz.py \
		-k "corrupted_files or header_grammar" --hypothesis-show-statistics

lint: setup
	$(BIN)/ruff check src tests

clean:
	rm -rf $(VENV) livseg-demo .pytest_cache build src/*.egg-info web/node_modules \
		src/livseg/serve/static/vendor
