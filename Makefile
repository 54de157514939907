# Two user-facing targets:
#   make book   execute every chapter and build the HTML book (_build/html/index.html)
#   make test   run the whole test suite (unit, data, model, notebooks)
# Both create .venv and install the package with all extras on first use, and again whenever
# pyproject.toml changes (the stamp file is named after its hash).

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
PYPROJECT_HASH := $(shell $(PYTHON) -c "import hashlib; print(hashlib.sha256(open('pyproject.toml', 'rb').read()).hexdigest()[:16])")
STAMP := $(VENV)/.installed-$(PYPROJECT_HASH)

# The real Telco CSV next to the repository (never committed); otherwise the loader downloads it.
ifeq ($(origin CLOSEDLOOP_DATA_HOME),undefined)
  ifneq ($(wildcard ../shared/data/telco/.),)
    export CLOSEDLOOP_DATA_HOME := $(abspath ../shared/data/telco)
  endif
else
  export CLOSEDLOOP_DATA_HOME
endif
export MLFLOW_DISABLE_TELEMETRY := true
export SPARK_LOCAL_IP := 127.0.0.1
export PYTHONHASHSEED := 0

BOOK_WORKDIR := $(CURDIR)/_build/workdir

.PHONY: help book test install

help:
	@echo "make book   execute every chapter and build _build/html/index.html"
	@echo "make test   run the whole test suite (pytest)"

book: install
	mkdir -p $(BOOK_WORKDIR)
	CLOSEDLOOP_WORKDIR=$(BOOK_WORKDIR) $(VENV)/bin/jupyter-book build . -W -n --keep-going
	test -f _build/html/index.html
	@echo "Open _build/html/index.html"

test: install
	$(VENV_PY) -m pytest

# Internal: (re)create the environment when pyproject.toml changed; a no-op otherwise.
install: $(STAMP)

$(STAMP):
	test -x $(VENV_PY) || $(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --upgrade pip
	$(VENV_PY) -m pip install -e ".[all]"
	rm -f $(VENV)/.installed-*
	touch $@
