# The two commands of the README: `make book` builds the book from the shipped data,
# `make test` runs the tests. Both create the virtual environment on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: book test check install clean

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

install: $(VENV)/.installed

book: $(VENV)/.installed
	$(PY) -m analysis build

test: $(VENV)/.installed
	$(PY) -m pytest

check: $(VENV)/.installed
	$(PY) -m analysis check data

clean:
	rm -rf _build chapters/domains chapters/generated
