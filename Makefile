# eov: `make demo` (set up, write the EOV-Synth v2 test split, adapt the shipped optical base
# to every sensor by PCMA -- the base frozen, modality-gated LoRA; training records built on
# the fly --, test, report the scoreboard), `make test` (all tests, as CI), `make test-fast` (all but the slow-marked),
# and `make base` (reproduce the shipped base).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.eov-setup-done
# torch and torchvision must come as this pair (local wheel cache; PyPI's
# torchvision does not import beside the CPU torch wheel).
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

DEMO_DATA := data/eov_synth_v2
DEMO_WORK := work_dirs/demo
DEMO_CONFIG := configs/eov_tiny_pcma.py
# the test split is balanced: at least this many records in every scoreboard cell
DEMO_TEST_PER_CELL ?= 50
# generation seed of the demo data, training and test (check a result on other draws:
# make demo DEMO_SEED=1)
DEMO_SEED ?= 0
# how the test split's multiple-choice questions ask to be answered: as the demo config's
# `choice_answer` (the option's text; tests/stages/test_pcma_configs.py checks they agree)
DEMO_CHOICE_ANSWER := option

# the tiny pretrained base the demo starts from (configs/eov_tiny_base.py; `make base`
# reproduces weights/eov_tiny_base/ -- about 110 minutes on 2 cores, see its model card)
BASE_DATA := data/eov_synth_base
BASE_WORK := work_dirs/base
BASE_CONFIG := configs/eov_tiny_base.py
BASE_WEIGHTS := weights/eov_tiny_base
BASE_SEED := 1000

.PHONY: setup test test-fast demo base clean

setup: $(STAMP)
	@# the web demo's browser tests drive Debian's chromium + chromedriver (root + apt only)
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
	      --no-install-recommends chromium chromium-driver) || \
	    echo 'warning: could not install chromium: the web demo browser tests will skip'; \
	  else \
	    echo 'note: no /usr/bin/chromium (install chromium chromium-driver as root): the web demo browser tests will skip'; \
	  fi; \
	fi

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet $(TORCH_PINS)
	$(BIN)/pip install --quiet -e '.[test]' $(TORCH_PINS)
	touch $(STAMP)

test: setup
	$(BIN)/python -m pytest tests -ra --durations=15 --junitxml=.pytest-results.xml

# everyday lane: everything but the tests marked slow (real trainings / torchrun launches);
# CI (`make test`) still runs all of them
test-fast: setup
	$(BIN)/python -m pytest tests -m 'not slow' -q -ra --durations=10

demo: setup
	$(BIN)/python -m eov.datasets.synth $(DEMO_DATA) --train 0 \
		--test-per-cell $(DEMO_TEST_PER_CELL) --seed $(DEMO_SEED) \
		--choice-answer $(DEMO_CHOICE_ANSWER)
	$(BIN)/python tools/train.py $(DEMO_CONFIG) --work-dir $(DEMO_WORK) \
		--cfg-options data_root=$(DEMO_DATA) demo_seed=$(DEMO_SEED)
	$(BIN)/python tools/test.py $(DEMO_CONFIG) $(DEMO_WORK)/final.pth \
		--work-dir $(DEMO_WORK) --cfg-options data_root=$(DEMO_DATA) > $(DEMO_WORK)/test.log
	@# the base on the same optical cells: what the chain kept of it (report: Forgetting)
	mkdir -p $(DEMO_WORK)/base
	$(BIN)/python tools/test.py $(DEMO_CONFIG) $(BASE_WEIGHTS)/model.safetensors \
		--work-dir $(DEMO_WORK)/base --cfg-options data_root=$(DEMO_DATA) \
		"test_dataloader.dataset.only_modalities=[optical]" > $(DEMO_WORK)/base/test.log
	$(BIN)/python tools/report.py $(DEMO_WORK) --data $(DEMO_DATA) --config $(DEMO_CONFIG)

base: setup
	@start=$$(date +%s); set -e; \
	$(BIN)/python -m eov.datasets.synth $(BASE_DATA) --modalities optical --train 0 \
		--test-per-cell 50 --seed $(BASE_SEED); \
	$(BIN)/python tools/train.py $(BASE_CONFIG) --work-dir $(BASE_WORK) \
		--cfg-options base_seed=$(BASE_SEED) data_root=$(BASE_DATA); \
	$(BIN)/python tools/test.py $(BASE_CONFIG) $(BASE_WORK)/final.pth --work-dir $(BASE_WORK) \
		--cfg-options data_root=$(BASE_DATA) > $(BASE_WORK)/test.log; \
	$(BIN)/python tools/publish_weights.py $(BASE_WORK) --config $(BASE_CONFIG) \
		--out $(BASE_WEIGHTS) --wall-seconds $$(( $$(date +%s) - start ))

clean:
	rm -rf $(DEMO_WORK) $(DEMO_DATA) .pytest-results.xml
