# egressguard: `make run` serves the example rules; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
# The tests other than e2e run in JOBS pytest-xdist workers (one a core, at most 4), a test
# file to a worker; those marked under_load or alone wait for their turn (tests/conftest.py).
JOBS     ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n > 4 ? 4 : n )))
PARALLEL := -n $(JOBS) --dist loadfile

.PHONY: setup run test lint unit e2e controlplane meshtools demo bench bench-quick bench-profile render-golden release-check version clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "egressguard needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	@rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

## Serve the bundled example rules on https://127.0.0.1:8443 (self-signed certificate in certs/).
run: $(STAMP)
	$(BIN)/egressguard serve --host 127.0.0.1

## Everything: lint, types, layering, unit, policy cases, server, the release build, then the
## end-to-end tests (one control plane for the whole run, so in a pytest run of their own).
test: lint controlplane meshtools
	$(BIN)/pytest -ra --hypothesis-profile=ci -m 'not e2e' $(PARALLEL)
	$(BIN)/pytest -ra --hypothesis-profile=ci -m e2e

lint: $(STAMP)
	$(BIN)/ruff check webhook tests bench tools setup.py
	$(BIN)/mypy
	$(BIN)/mypy bench tools
	$(BIN)/lint-imports

## Every test but e2e and the release build (`make release-check`; `make test` runs both).
unit: $(STAMP)
	$(BIN)/pytest -ra -m 'not e2e and not release' --hypothesis-profile=ci $(PARALLEL)

## Build (once, cached in ~/.cache/egressguard) the kube-apiserver, kube-controller-manager,
## kubectl and etcd the e2e tests run.
controlplane:
	bash tests/e2e/build-controlplane.sh >/dev/null

## Build (once, cached in ~/.cache/egressguard) the istioctl and helm that produce the
## injection corpus of tests/inject from Istio's own charts.
meshtools:
	bash tests/inject/build-meshtools.sh >/dev/null

e2e: $(STAMP) controlplane
	$(BIN)/pytest -ra -m e2e

demo: $(STAMP) controlplane
	$(BIN)/python -m tests.e2e.demo $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick

## Where a request's CPU goes: pyinstrument on the real server under load, 100,000 grants.
bench-profile: $(STAMP)
	$(BIN)/python -m bench.profile --grants 100000

## Regenerate the render golden files after an intended change (then review the diff).
render-golden: $(STAMP)
	EGRESSGUARD_UPDATE_GOLDEN=1 $(BIN)/pytest -q tests/render/test_golden.py

## What a release ships, checked: build the sdist and wheel, twine check, install the wheel
## into a clean virtualenv outside the checkout, `egressguard --version`, serve, /readyz.
release-check: $(STAMP)
	$(BIN)/pytest -ra -m release tests/packaging

## Set the release version in pyproject.toml and write it (and the image) wherever it is named:
## make version VERSION=1.2.3 (without VERSION: write pyproject.toml's current one).
version: $(STAMP)
	$(BIN)/python -m tools.release stamp $(VERSION)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
