# The two set-up commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: install run test test-py test-js lint typecheck bench bench-smoke vendor clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: install
	$(VENV)/bin/tether serve

test: install
	$(VENV)/bin/python -m pytest -q
	node --test tests/js/

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

bench: install
	$(VENV)/bin/python -m bench run

bench-smoke: install
	$(VENV)/bin/python -m bench run --smoke

vendor:
	npm ci
	node scripts/vendor.mjs

clean:
	rm -rf $(VENV) tether-data .pytest_cache .mypy_cache .ruff_cache
