# `make demo` and `make test` work on a fresh clone with only Python installed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
BACKENDS ?= tensorflow jax torch
PYTEST_ARGS ?= -n 2 --durations=25

.PHONY: venv demo test clean

$(BIN)/keras-mixer: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	$(BIN)/python -m pip install --quiet --no-deps tensorflow-serving-api==2.21.0 timm==1.0.31 \
		keras-cv==0.9.0 regex==2026.12.2
	touch $@

venv: $(BIN)/keras-mixer

demo: venv
	KERAS_BACKEND=$${KERAS_BACKEND:-tensorflow} $(BIN)/keras-mixer demo

# pytest -n 2 runs two workers on 2 cores: one OpenMP thread each, or torch's
# spin-waiting threads slow every op several-fold.
test: venv
	set -e; for backend in $(BACKENDS); do \
		echo "=== tests on the $$backend backend ==="; \
		KERAS_BACKEND=$$backend OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} \
			$(BIN)/python -m pytest $(PYTEST_ARGS) tests; \
	done

clean:
	rm -rf $(VENV) build *.egg-info
