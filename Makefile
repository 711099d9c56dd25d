# The two commands of the README. Both create .venv and install the project on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# PyTorch's CPU wheels: from PyPI alone, `pip install torch` on Linux resolves the multi-GB CUDA
# build. For a CUDA machine: make run TORCH_INDEX=https://download.pytorch.org/whl/cu126
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: run test lint bench-fast install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# torch first and pinned, with its CPU index beside PyPI (its +cpu build wins the resolve; where
	# that index is unreachable, pip warns and takes a wheel it can reach, e.g. a local one).
	$(PY) -m pip install --extra-index-url $(TORCH_INDEX) torch==2.13.0
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m service serve --host 127.0.0.1 --port 8000

test: $(STAMP)
	$(PY) -m ruff check service modules_store tests benchmarks
	$(PY) -m mypy  # targets and settings: [tool.mypy] in pyproject.toml
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check service modules_store tests benchmarks
	$(PY) -m mypy  # targets and settings: [tool.mypy] in pyproject.toml

bench-fast: $(STAMP)
	$(PY) -m benchmarks.modularity --dataset digits --arch mlp --epochs 10 --json -

clean:
	rm -rf $(VENV) data
