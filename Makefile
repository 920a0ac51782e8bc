# Two commands on a fresh machine:  `make book` builds the book, `make test` runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test book notebooks status clean
setup: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml scripts/install.sh
	bash scripts/install.sh $(VENV)

test: setup
	$(PY) -m pytest

# re-execute the chapters whose published copy (book/executed/) is missing or stale
notebooks: setup
	$(PY) -m antinb run all --profile book --stale-only

# which chapters are stale, and what changed (source, parameter, module, weights or package)
status: setup
	$(PY) -m antinb.book status

book: setup
	$(PY) -m antinb.book build

clean:
	rm -rf _build
