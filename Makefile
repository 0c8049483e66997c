# The two set-up commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run

.PHONY: install run test test-py test-js lint typecheck bench bench-smoke screenshots vendor clean \
	fault-test-long

install: $(STAMP)

# `make run` installs what running needs; the test tools (the dev extra) come with `make test`.
$(RUN_STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e .
	@touch $(RUN_STAMP)

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	@touch $(STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	$(VENV)/bin/tether serve

# The browser packages from the lock file, for the test that compares the vendored builds with
# them (tests/js/vendor.test.mjs); npm writes node_modules/.package-lock.json last.
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund --silent

test: install node_modules/.package-lock.json
	$(VENV)/bin/python -m pytest -q
	node --test tests/js/

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

# The randomized fault test at length (docs/scaling.md): several seeds, 90 s of faults each.
FAULT_SEEDS ?= 1,2,3,4,5
fault-test-long: install
	TETHER_FAULT_SEEDS=$(FAULT_SEEDS) TETHER_FAULT_SECONDS=90 $(VENV)/bin/python -m pytest -q -s \
		tests/cluster/test_faults.py

bench: install
	$(VENV)/bin/python -m bench run

bench-smoke: install
	$(VENV)/bin/python -m bench run --smoke

# Refresh the README's pictures (docs/screenshots): the e2e tests that take them, saving there
# instead of test-artifacts/. Tests alone never touch tracked files.
screenshots: install
	TETHER_SCREENSHOTS=$(CURDIR)/docs/screenshots $(VENV)/bin/python -m pytest -q \
		tests/e2e/test_chat.py::test_two_tabs_see_each_others_messages_and_streams_live \
		tests/e2e/test_chat.py::test_streamed_markdown_renders_and_html_injection_is_neutralised \
		tests/e2e/test_status.py::test_server_down_with_the_browser_online_says_unreachable_with_retry_now \
		tests/e2e/test_status.py::test_a_wrong_token_is_refused_in_the_dialog_and_forgotten \
		tests/e2e/test_answers.py::test_a_failed_answer_says_why_and_retry_answers_the_question_again \
		tests/e2e/test_offline.py::test_offline_reload_shows_the_chats_and_a_message_composed_then_is_delivered_once \
		"tests/e2e/test_recovery.py::test_frozen_page_with_a_silently_dropped_connection_recovers[absent-5s]"

vendor:
	npm ci
	node scripts/vendor.mjs

clean:
	rm -rf $(VENV) tether-data .pytest_cache .mypy_cache .ruff_cache
