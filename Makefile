# The two set-up-and-go commands of the README: `make run` and `make test`.
VENV ?= .venv
N ?= 500
OUT ?= runs/default

.PHONY: setup run test test-slow bench

setup:
	@bash scripts/setup.sh

run: setup
	$(VENV)/bin/platonic run --n $(N) --out $(OUT)

test: setup
	$(VENV)/bin/python -m pytest -q

test-slow: setup
	$(VENV)/bin/python -m pytest -q -m slow || [ $$? -eq 5 ]

bench: setup
	$(VENV)/bin/python benchmarks/extract.py
