# livseg: `make demo` and `make test` set everything up in .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.livseg-installed
TORCH := torch==2.13.0
VENDOR := src/livseg/serve/static/vendor/LICENSES.md
CHROMIUM := /usr/bin/chromium

.PHONY: setup demo test test-fast lint clean

setup: $(STAMP) $(VENDOR) $(CHROMIUM)

# torch is installed first and pinned: on these machines that takes the CPU wheel from
# disk; an unpinned torch would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The web page's libraries (NiiVue, onnxruntime-web) from the npm registry, pinned by
# web/package-lock.json, copied into the package: the page loads nothing from a CDN.
$(VENDOR): web/package-lock.json tools/vendor_web.py
	cd web && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	$(PYTHON) tools/vendor_web.py

# Debian's Chromium for the browser test (Playwright drives it; it downloads no browser).
$(CHROMIUM):
	if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends chromium >/dev/null; fi

demo: $(STAMP)
	$(BIN)/livseg demo --out livseg-demo

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check src tests

clean:
	rm -rf $(VENV) livseg-demo .pytest_cache build src/*.egg-info web/node_modules \
		src/livseg/serve/static/vendor
