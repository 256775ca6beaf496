# lastmile — `make demo` serves a seeded demo; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One stamp per pyproject.toml checksum and set of extras: `run` (what the product needs,
# `pip install -e .`), `dev` (tests, lint, bench) or `train` (scikit-learn). A venv made by
# `make demo` gets the dev extras at the first `make test`; `make demo` after `make test`
# installs nothing and removes nothing. Stamps of an older pyproject.toml are dropped.
CKSUM := $(shell cksum pyproject.toml | cut -d' ' -f1)
STAMP := $(VENV)/.installed-$(CKSUM)
export LASTMILE_PORT ?= 8000

.PHONY: demo test bench soak lint venv clean train-sentiment

$(STAMP)-%: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@find $(VENV) -maxdepth 1 -name '.installed-*' ! -name '.installed-$(CKSUM)-*' -delete
	@# Any extra's install holds the runtime dependencies: `run` then needs nothing more.
	@if [ '$*' != run ] || ! ls $(STAMP)-* >/dev/null 2>&1; then \
	  set -x; \
	  $(BIN)/python -m pip install --quiet --upgrade pip && \
	  $(BIN)/python -m pip install --quiet -e '.$(if $(filter run,$*),,[$*])'; \
	fi
	@touch $@

# The venv `make demo` uses: lastmile and its runtime dependencies only.
venv: $(STAMP)-run

demo: venv
	@bash scripts/demo.sh

test: $(STAMP)-dev
	@bash scripts/test.sh

bench: $(STAMP)-dev
	@$(BIN)/python bench/run.py $(if $(QUICK),--quick,) $(if $(SCALE),--scale $(SCALE),)

# Ten minutes of mixed load on two web processes and two workers (huey on Redis) against
# PostgreSQL, one SIGKILLed every 30 s; writes bench/SOAK.md. Needs PostgreSQL and Redis on
# loopback: LASTMILE_SOAK_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/lastmile).
soak: $(STAMP)-dev
	LASTMILE_DATABASE_URL=$${LASTMILE_SOAK_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/lastmile} \
	  $(BIN)/python scripts/soak.py --duration $${SOAK_SECONDS:-600}

# Trains both sentiment models from ../shared/data/tweeteval-sentiment into the package: the
# linear one (model.npz) and the fine-tuned MiniLM served by default (encoder/, about 10 min
# of one idle core).
train-sentiment: $(STAMP)-train
	$(BIN)/python -m lastmile.sentiment.train
	$(BIN)/python -m lastmile.sentiment.finetune --export src/lastmile/sentiment/encoder

# mypy covers every services and selectors module (also `merge_selectors.py` and the like), also once one is split into a package
# (`services/`) or into `services_*.py` siblings, and every app's `reactions.py` (its
# subscribers and guards); whatever they import is checked with them.
TYPED = $(shell find src/lastmile \( -name tests -o -name migrations \) -prune -o \
  \( -name '*services*.py' -o -name '*selectors*.py' -o -path '*/services/*.py' \
  -o -path '*/selectors/*.py' -o -name 'reactions.py' \) -print | sort) \
  src/lastmile/people/viewers.py src/lastmile/core/db.py src/lastmile/channels/replies.py \
  src/lastmile/loops/bulk.py src/lastmile/macros/placeholders.py src/lastmile/customers/matching.py \
  src/lastmile/scorecards/pay.py src/lastmile/scorecards/rollups.py src/lastmile/scorecards/qa.py

lint: $(STAMP)-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy $(TYPED)

clean:
	rm -rf $(VENV) var
