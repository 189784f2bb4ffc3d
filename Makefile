# m3t_bench: every target works from a fresh clone; `install` creates .venv on first use.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
WORK    ?= runs/demo
JOBS    ?= 2
export NUMBA_CACHE_DIR ?= $(CURDIR)/.numba_cache

.PHONY: install demo test bench clean reproduce-m3t

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

## demo: the main job on the embedded default (stand-in body model, SynthSign)
demo: install
	$(BIN)/python -m baselines.demo --work $(WORK)

## reproduce-m3t: the whole M3T pipeline on SynthSign small (tiny config, 2-core CPU), one folder with index.html
REPRODUCE_OUT ?= runs/reproduce
REPRODUCE_CONFIG ?= tiny
reproduce-m3t: install
	$(BIN)/m3t-bench reproduce --config $(REPRODUCE_CONFIG) --out $(REPRODUCE_OUT)

## test: the whole test suite and the metric functions' docstring examples (what CI runs)
test: install
	$(BIN)/python -m pytest -q -n $(JOBS) --dist loadfile tests m3t_bench/metrics

## bench: speed figures, each measured against the peers' way of doing the same work in one run
bench: install
	$(BIN)/python -m m3t_bench.bench
	$(BIN)/python -m reference_models.bench

clean:
	rm -rf $(VENV) runs .numba_cache .pytest_cache .hypothesis
