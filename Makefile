# SPDX-License-Identifier: BSD-3-Clause
# `make demo` and `make test` create .venv on first use and install the project into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench evaluate-cnn clean clean-numba venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, pinned, so the CPU wheel is used and nothing pulls a CUDA build
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/dualmod demo --out out/demo

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(VENV)/bin/dualmod bench --json out/bench.json

# The CNN's held-out evaluation (issue 6): the test split of ../shared/data/hdr on two panels.
SHARED_HDR ?= ../shared/data/hdr
TEST_IMAGES = $(shell awk -F, '$$2=="test"{print "$(SHARED_HDR)/"$$1}' $(SHARED_HDR)/SPLIT.csv 2>/dev/null)
CNN_SWEEP = cnn:power_weight=0/0.0003/0.001/0.003/0.01/0.03
EVAL_METHODS = global,max,mean,sqrt,cho,percentile,seetzen2004,optimal,optimal:power_budget=max,$(CNN_SWEEP),cnn:power_budget=max/0.2/0.15/0.1/0.06,optimal:power_weight=0.0003/0.001/0.003/0.01,cnn:power_weight=0/0.0003/0.001/0.003/0.01:refine=3,cnn:power_weight=0/0.0003/0.001/0.003/0.01:refine=12,cnn:power_budget=max:refine=3,cnn:power_budget=max:refine=12
evaluate-cnn: $(STAMP)
	$(VENV)/bin/dualmod compare $(TEST_IMAGES) --panel fald-1080p-576 --methods $(EVAL_METHODS),min_power_lp \
		--out out/cnn-eval/fald-1080p-576 --pareto pareto.png --report
	$(VENV)/bin/dualmod compare $(TEST_IMAGES) --panel sim2-hdr47 --methods $(EVAL_METHODS) \
		--out out/cnn-eval/sim2-hdr47 --pareto pareto.png --report

clean: clean-numba
	rm -rf $(VENV) out build *.egg-info

# numba's cache keys a kernel on its own file only: after editing a helper that other files' kernels inline
# (display/_fastmath.py; metrics/pu21.py's pu21_rgb_row, pu21_px_slope and luminance_px, which the learned metrics'
# and dimming/_pu21_loss.py's kernels inline),
# those kernels would still run the old code until their cache is dropped
clean-numba:
	find dualmod -name '*.nbi' -delete -o -name '*.nbc' -delete
