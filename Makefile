# eov: `make demo` (set up, generate data, train, test) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.eov-setup-done
# torch and torchvision must come as this pair (local wheel cache; PyPI's
# torchvision does not import beside the CPU torch wheel).
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

DEMO_DATA := data/eov_synth
DEMO_WORK := work_dirs/demo
DEMO_CONFIG := configs/eov_tiny_synth.py
DEMO_TRAIN ?= 10000
DEMO_TEST ?= 500

.PHONY: setup test demo clean

setup: $(STAMP)

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet $(TORCH_PINS)
	$(BIN)/pip install --quiet -e '.[test]' $(TORCH_PINS)
	touch $(STAMP)

test: setup
	$(BIN)/python -m pytest tests -ra --durations=15 --junitxml=.pytest-results.xml

demo: setup
	$(BIN)/python -m eov.datasets.synth $(DEMO_DATA) --train $(DEMO_TRAIN) --test $(DEMO_TEST)
	$(BIN)/python tools/train.py $(DEMO_CONFIG) --work-dir $(DEMO_WORK) \
		--cfg-options data_root=$(DEMO_DATA)
	$(BIN)/python tools/test.py $(DEMO_CONFIG) "$$(cat $(DEMO_WORK)/last_checkpoint)" \
		--work-dir $(DEMO_WORK) --cfg-options data_root=$(DEMO_DATA)
	@echo "metrics: $(DEMO_WORK)/metrics.json"

clean:
	rm -rf $(DEMO_WORK) $(DEMO_DATA) .pytest-results.xml
