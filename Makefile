# Two commands for people: `make run` and `make test`. Each sets up what it needs itself: .venv with the pinned
# Python packages, and what only the operating system gives (tools/system-packages.sh installs it when it can,
# or prints the one command to run).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
TEST_STAMP := $(VENV)/.test-installed
SYSTEM := tools/system-packages.sh

.PHONY: run test lint bench dist clean

$(BIN)/python:
	$(PY) -c 'import sys; assert sys.version_info >= (3, 11), "ksef-local wymaga Pythona 3.11 lub nowszego"'
	$(SYSTEM) venv $(PY)
	$(PY) -m venv $(VENV)

$(RUN_STAMP): $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check -c requirements.lock -e .
	touch $@

$(TEST_STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c requirements.lock -e '.[test]'
	touch $@

run: $(RUN_STAMP)
	$(BIN)/ksef-local run

# Lint first: it takes a second and fails before anything slow. Then the system packages (Chromium for the
# browser tests; Xvfb, ImageMagick, xdotool and Qt's xcb libraries for the window test; binutils for PyInstaller).
test: lint
	$(SYSTEM) test $(BIN)/python
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Rules and the findings still to fix: [tool.ruff] in pyproject.toml.
lint: $(TEST_STAMP)
	$(BIN)/ruff check .

# A folder, dist/ksef-local/, with the executable dist/ksef-local/ksef-local inside (build.spec says why a folder).
dist: $(TEST_STAMP)
	$(SYSTEM) dist $(BIN)/python
	$(BIN)/pyinstaller --noconfirm --clean build.spec
	@echo "Gotowe: dist/ksef-local/ksef-local (cały folder dist/ksef-local: $$(du -sh dist/ksef-local | cut -f1))"

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/list_pages.py
	$(BIN)/python benchmarks/ksef_client_cost.py
	$(BIN)/python benchmarks/ksef_simulator_throughput.py
	$(BIN)/python benchmarks/pdf.py
	$(BIN)/python benchmarks/pdf_concurrency.py
	$(BIN)/python benchmarks/sending.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build dist
