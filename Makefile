# The two commands of the README. Both create .venv and install the project on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench-fast install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# torch first and pinned: an unpinned resolve can pull a multi-GB CUDA build.
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m service serve --host 127.0.0.1 --port 8000

test: $(STAMP)
	$(PY) -m ruff check service modules_store tests benchmarks
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check service modules_store tests benchmarks

bench-fast: $(STAMP)
	$(PY) -m benchmarks.modularity --dataset digits --arch mlp --epochs 10 --json -

clean:
	rm -rf $(VENV) data
