# Two commands: `make run` (install, migrate, demo data on an empty database, serve on 127.0.0.1:5000)
# and `make test` (install, then the whole test suite). Both work on a fresh clone with Python 3.11.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
STAMP := $(VENV)/.installed

.PHONY: run test install translations lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) translations

# Each catalogue is compiled when its .po is newer than its .mo (so two `make test` at once write nothing).
PO := $(wildcard translations/*/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)

translations: $(MO)

translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile --statistics -l $* -d translations 2>&1 | tail -n 2

# The job service (imports, label sheets, exports, documents) runs beside the web server and stops with it.
run: install
	$(FLASK) db upgrade
	$(FLASK) demo load --if-empty
	$(FLASK) jobs worker & worker=$$!; trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(FLASK) run --host 127.0.0.1 --port 5000

test: install
	$(BIN)/python -m pytest -q

# One code style (ruff), and types that check (mypy, configured in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Refresh the message catalogue after changing strings, then translate the new entries in
# translations/*/LC_MESSAGES/messages.po.
extract: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k _l -o translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) instance
