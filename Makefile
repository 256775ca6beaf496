# lastmile — `make demo` serves a seeded demo; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
export LASTMILE_PORT ?= 8000

.PHONY: demo test bench lint venv clean train-sentiment

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP)

demo: venv
	@bash scripts/demo.sh

test: venv
	@bash scripts/test.sh

bench: venv
	@$(BIN)/python bench/run.py $(if $(QUICK),--quick,)

# Trains the sentiment model from ../shared/data/tweeteval-sentiment into the package.
train-sentiment: venv
	$(BIN)/python -m lastmile.listening.sentiment.train

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src/lastmile/*/services.py src/lastmile/*/selectors.py src/lastmile/core/db.py

clean:
	rm -rf $(VENV) var
