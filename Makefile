# The two set-up commands of the quick start: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
VENV ?= .venv
export HUB_HOME ?= $(CURDIR)/.crmhub

.PHONY: run test stop install lint bench

run:            ## install, init the hub home, run the main job on the samples, start Airflow
	bash scripts/run.sh

test:           ## install test dependencies (servers included) and run the whole suite
	bash scripts/test.sh

stop:           ## stop the Airflow started by `make run`
	bash scripts/airflow.sh stop

install:
	bash scripts/install.sh

lint:
	$(VENV)/bin/ruff check .

bench:          ## list the benchmarks; each runs as `.venv/bin/python -m bench.<name>` and measures its own baseline
	@echo "benchmarks (docs/*.md hold the figures):"; for d in bench/*/; do n=$$(basename $$d); [ -f $$d/__main__.py ] || n=$$n.run; echo "  .venv/bin/python -m bench.$$n"; done
