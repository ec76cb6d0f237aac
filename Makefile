# The two commands of the README: `make book` builds the book from the shipped data,
# `make test` runs the tests. Both create the virtual environment on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: book pdf test test-fast lint check install clean

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

install: $(VENV)/.installed

book: $(VENV)/.installed
	$(PY) -m analysis build

# the book and the whole review as one PDF (needs Chromium: apt-get install chromium)
pdf: $(VENV)/.installed
	$(PY) -m analysis build --pdf

# every test, the slow ones (book builds, notebooks, browser) included, on every core: each test
# module runs in one worker (module fixtures build copies of the book once), in the order
# tests/conftest.py gives (--no-loadscope-reorder), and the session's builds run in the background
# while the tests that do not need them run
PYTEST_WORKERS ?= auto
PYTEST_XDIST := -n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder
test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_XDIST)

# the quick loop while editing: everything but the tests marked slow
test-fast: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_XDIST) -m "not slow"

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

check: $(VENV)/.installed
	$(PY) -m analysis check data

clean:
	rm -rf _build chapters/domains chapters/generated
