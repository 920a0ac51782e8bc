# Two commands on a fresh machine:  `make book` builds the book, `make test` runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test book notebooks status clean
setup: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml scripts/install.sh
	bash scripts/install.sh $(VENV)

# two pytest-xdist workers of one thread each (tests/conftest.py), a test file per worker at a time,
# in collection order (the longest file first; --no-loadscope-reorder needs pytest-xdist 3.8);
# TEST_WORKERS=0 runs everything in this process
TEST_WORKERS ?= 2
test: setup
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

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
