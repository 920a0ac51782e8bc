# Two commands on a fresh machine:  `make book` builds the book, `make test` runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test book notebooks clean
setup: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml scripts/install.sh
	bash scripts/install.sh $(VENV)

test: setup
	$(PY) -m pytest

notebooks: setup
	$(PY) -m antinb run all --profile book --stale-only

book: setup
	$(PY) -m antinb.book build

clean:
	rm -rf _build
