# The two commands of the README. Both create .venv and install the project on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Every dependency, transitive ones included, pinned for Linux with torch's CPU build (`make lock`
# renews them from pyproject.toml): runtime only for the image, with the `dev` extra here.
LOCK     := requirements.lock
DEV_LOCK := requirements-dev.lock
TORCH    := torch==2.13.0
# PyTorch's CPU wheels: from PyPI alone, `pip install torch` on Linux resolves the multi-GB CUDA
# build. For a CUDA machine: make run TORCH_INDEX=https://download.pytorch.org/whl/cu126
CPU_INDEX   := https://download.pytorch.org/whl/cpu
TORCH_INDEX ?= $(CPU_INDEX)
# `make lock LOCK_FLAGS='--find-links DIR'` lets uv resolve torch from local wheels instead.
LOCK_FLAGS ?=

.PHONY: run test lint bench-fast install lock clean

$(STAMP): pyproject.toml $(DEV_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# torch alone from its index beside PyPI (only it lives there; where that index is unreachable,
	# pip warns and takes a wheel it can reach, e.g. a local one), then all else, its needs too, locked.
ifeq ($(shell uname -s)-$(TORCH_INDEX),Linux-$(CPU_INDEX))
	$(PY) -m pip install --no-deps --extra-index-url $(TORCH_INDEX) "$$(grep '^torch==' $(DEV_LOCK))"
	$(PY) -m pip install -r $(DEV_LOCK)
else
	# Another index (CUDA) or another OS: its torch build, with whatever that needs, and the rest of
	# the lock as pinned.
	$(PY) -m pip install --extra-index-url $(TORCH_INDEX) $(TORCH)
	grep -v '^torch==' $(DEV_LOCK) > $(VENV)/lock-without-torch.txt
	$(PY) -m pip install -r $(VENV)/lock-without-torch.txt
endif
	$(PY) -m pip install --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m service serve --host 127.0.0.1 --port 8000

test: $(STAMP)
	$(PY) -m ruff check service modules_store tests benchmarks
	$(PY) -m ruff format --check service modules_store tests benchmarks
	$(PY) -m mypy  # targets and settings: [tool.mypy] in pyproject.toml
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check service modules_store tests benchmarks
	$(PY) -m ruff format --check service modules_store tests benchmarks
	$(PY) -m mypy  # targets and settings: [tool.mypy] in pyproject.toml

bench-fast: $(STAMP)
	$(PY) -m benchmarks.modularity --dataset digits --arch mlp --epochs 10 --json -

# uv (the dev extra, or UV=path). The locks target Linux x86_64 and CPython 3.11, the image's platform.
UV ?= $(VENV)/bin/uv
LOCK_OPTIONS = --python-version 3.11 --python-platform x86_64-manylinux_2_28 --override $(VENV)/torch-cpu.txt \
	--extra-index-url $(TORCH_INDEX) --index-strategy unsafe-best-match $(LOCK_FLAGS) \
	--custom-compile-command 'make lock'
lock:
	mkdir -p $(VENV) && printf '$(TORCH)+cpu\n' > $(VENV)/torch-cpu.txt
	# The runtime lock is the dev lock's subset (constrained by it): the image runs what tests ran.
	$(UV) pip compile pyproject.toml --extra dev -o $(DEV_LOCK) $(LOCK_OPTIONS)
	$(UV) pip compile pyproject.toml -c $(DEV_LOCK) -o $(LOCK) $(LOCK_OPTIONS)

clean:
	rm -rf $(VENV) data
