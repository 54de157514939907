# Two user-facing targets:
#   make book   execute every chapter and build the HTML book (_build/html/index.html)
#   make test   run the whole test suite (unit, data, model, notebooks, the book in a browser)
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

.PHONY: help book test install browser

help:
	@echo "make book   execute every chapter and build _build/html/index.html"
	@echo "make test   run the whole test suite (pytest)"

book: install
	mkdir -p $(BOOK_WORKDIR)
	CLOSEDLOOP_WORKDIR=$(BOOK_WORKDIR) $(VENV)/bin/jupyter-book build . -W -n --keep-going
	test -f _build/html/index.html
	@echo "Open _build/html/index.html"

test: install browser
	$(VENV_PY) -m pytest

# Internal: headless Chromium for tests/book/test_browser.py (Debian's `chromium`), installed when
# missing and possible (root with apt-get); otherwise those tests are skipped and say why.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	  >/dev/null; } || echo "chromium not available: the browser tests will be skipped"

# Internal: (re)create the environment when pyproject.toml changed; a no-op otherwise.
install: $(STAMP)

$(STAMP):
	test -x $(VENV_PY) || $(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --upgrade pip
	$(VENV_PY) -m pip install -e ".[all]"
	rm -f $(VENV)/.installed-*
	touch $@
