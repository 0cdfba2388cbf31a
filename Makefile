# Two entry points for users (see README "Quick start"): `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-full lint clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## Fit a sparse GPR on the shipped ethanol data, print held-out errors, plot parity and a learning curve.
demo: $(STAMP)
	$(BIN)/atomlearn fit examples/ethanol_energy.yaml -o runs/ethanol/model.alm
	$(BIN)/atomlearn learning-curve examples/ethanol_energy.yaml --train-sizes 25 50 100 200 400 --repeats 2 -o runs/ethanol/learning_curve.csv
	@echo "Pictures: runs/ethanol/parity_energy.png runs/ethanol/learning_curve.png"

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-full: $(STAMP)
	ATOMLEARN_FULL_TESTS=1 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests examples benchmarks

clean:
	rm -rf $(VENV) runs
