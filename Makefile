# SmartCoders developer entry points. `make run` and `make test` bootstrap everything they need.
#
#   make run    start the app with embedded PostgreSQL and Redis and a demo organisation
#   make test   run the whole test suite (browser tests included)
#   make lint   ruff check, ruff format --check, mypy
#   make notebooks  JupyterLab on notebooks/ (set SMARTCODERS_METRICS_PARQUET or SMARTCODERS_METRICS_ORG first)
#
# Override the interpreter with `make PYTHON=/path/to/python3.12 …`; pass pytest options with
# `make test PYTEST_ARGS="-k login -x"`. The suite runs in TEST_WORKERS pytest-xdist processes
# (default: one per CPU this process may use, at most 4), each test file whole in one of them, each with its
# own embedded PostgreSQL, Redis and live server; `make test TEST_WORKERS=0` runs it in this
# process alone.

VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ "$$n" -gt 4 ] && n=4; echo $$n)

# Arguments that make a Python exit 0 only if it is 3.12 or newer.
IS_PY312 := -c 'import sys; sys.exit(sys.version_info < (3, 12))'

.DEFAULT_GOAL := help
.PHONY: help venv install run test lint notebooks

help:
	@sed -n 's/^#   //p' $(MAKEFILE_LIST)

# Create .venv with the first Python >= 3.12 found; re-create it if it holds an older Python.
venv:
	@if [ -x $(PY) ] && $(PY) $(IS_PY312) 2>/dev/null; then exit 0; fi; \
	found=""; \
	pyenv_312="$$(ls -d $$HOME/.pyenv/versions/3.12*/bin/python 2>/dev/null | sort -V | tail -n 1)"; \
	for candidate in $(PYTHON) python3.12 python3.13 $$pyenv_312 python3; do \
		if "$$candidate" $(IS_PY312) >/dev/null 2>&1; then found="$$candidate"; break; fi; \
	done; \
	if [ -z "$$found" ]; then \
		echo "SmartCoders needs Python 3.12 or newer, and none was found." >&2; \
		echo "Install one with pyenv (pyenv install 3.12) or your package manager," >&2; \
		echo "or point to it: make PYTHON=/path/to/python3.12 $(MAKECMDGOALS)" >&2; \
		exit 1; \
	fi; \
	if [ -d $(VENV) ]; then echo "Re-creating $(VENV): it does not hold Python 3.12+"; rm -rf $(VENV); fi; \
	echo "Creating $(VENV) with $$found ($$("$$found" --version 2>&1))"; \
	"$$found" -m venv $(VENV)

# pip runs only when pyproject.toml is newer than the stamp (or the venv was just created).
install: venv
	@if [ ! -f $(STAMP) ] || [ pyproject.toml -nt $(STAMP) ]; then \
		$(PY) -m pip install --disable-pip-version-check -e '.[dev]' && \
		touch $(STAMP); \
	fi

run: install
	$(VENV)/bin/smartcoders serve --demo

# pytest's exit status 5 means "no tests collected": make fails on it, and says why.
test: install
	@$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests; that is a failure" >&2; fi; \
	exit $$status

# All three checks run even when one fails, so one pass shows every finding.
lint: install
	@status=0; \
	$(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/ruff format --check . || status=1; \
	$(VENV)/bin/mypy || status=1; \
	exit $$status

# The analysts' notebooks; the database route reads this checkout's embedded server unless
# DATABASE_URL is set (notebooks/README.md).
notebooks: install
	SMARTCODERS_HOME="$${SMARTCODERS_HOME:-$(CURDIR)/.smartcoders}" $(VENV)/bin/jupyter lab --notebook-dir=notebooks $$([ "$$(id -u)" = 0 ] && echo --allow-root)
