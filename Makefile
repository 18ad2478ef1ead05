# Two commands for people: `make run` and `make test`. Each sets up .venv itself when needed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
TEST_STAMP := $(VENV)/.test-installed

.PHONY: run test bench dist clean

$(BIN)/python:
	$(PY) -c 'import sys; assert sys.version_info >= (3, 11), "ksef-local wymaga Pythona 3.11 lub nowszego"'
	$(PY) -m venv $(VENV)

$(RUN_STAMP): $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check -c requirements.lock -e .
	touch $@

$(TEST_STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c requirements.lock -e '.[test]'
	touch $@

run: $(RUN_STAMP)
	$(BIN)/ksef-local run

test: $(TEST_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# One executable in dist/ (build.spec): the window, templates, static files, fonts and the FA(3) XSDs.
dist: $(TEST_STAMP)
	$(BIN)/pyinstaller --noconfirm --clean build.spec
	@echo "Gotowe: dist/ksef-local"

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/list_pages.py
	$(BIN)/python benchmarks/ksef_client_cost.py
	$(BIN)/python benchmarks/ksef_simulator_throughput.py
	$(BIN)/python benchmarks/pdf.py
	$(BIN)/python benchmarks/sending.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build dist
