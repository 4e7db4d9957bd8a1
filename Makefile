# Milepost developer commands. Everything lives in scripts/*.sh; see scripts/lib.sh for layout.
#   make run                  run Milepost (web + worker + beat) with local PostgreSQL/Redis
#   make test [ARGS="-k foo"] whole test suite (what CI runs via .ci/run)
SHELL := /bin/bash
ARGS ?=

.PHONY: run test soak bench lint format services stop clean-local

run:
	bash scripts/run.sh

test:
	bash scripts/test.sh $(ARGS)

soak:
	bash scripts/soak.sh $(ARGS)

bench:
	bash scripts/bench.sh

lint:
	bash scripts/lint.sh

format:
	bash scripts/format.sh

services:
	bash scripts/services.sh

stop:
	bash scripts/stop.sh

clean-local:
	bash scripts/clean-local.sh
