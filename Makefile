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

## Fit a sparse GPR potential (energies and forces) on the shipped ethanol data, print
## held-out errors and calibration, plot parity plots and a learning curve.
demo: $(STAMP)
	$(BIN)/atomlearn fit examples/ethanol_gpr.yaml -o runs/ethanol/model.alm
	$(BIN)/atomlearn learning-curve examples/ethanol_gpr.yaml --train-sizes 25 50 100 200 400 --repeats 1 -o runs/ethanol/learning_curve.csv
	@echo "Pictures: runs/ethanol/parity_energy.png runs/ethanol/parity_forces.png runs/ethanol/learning_curve.png"

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-full: $(STAMP)
	ATOMLEARN_FULL_TESTS=1 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests examples benchmarks

clean:
	rm -rf $(VENV) runs
