# make demo: a local cluster, a kill -9 of its master under load, and what ha-redis did about it.
# make test: lint, type check, unit, integration and e2e tests against real processes.
SHELL := /bin/bash
.DEFAULT_GOAL := help
# Node 24 from .tools/ when the system Node is older (scripts/setup.sh decides and installs).
NODE_PATH_PREFIX = $(shell test -x .tools/node_modules/.bin/node && echo "$(CURDIR)/.tools/node_modules/.bin:")
RUN = PATH="$(NODE_PATH_PREFIX)$$PATH:/usr/sbin:/sbin"

.PHONY: help setup demo test lint unit integration bench clean

help:
	@echo "make demo   - start a local cluster and show an automatic failover"
	@echo "make test   - lint, type check, unit + integration + e2e tests"
	@echo "make bench  - benchmarks against the baselines (not part of make test)"

setup:
	@bash scripts/setup.sh >/dev/null

demo: setup
	@$(RUN) node cli/ha-redis.ts demo

lint: setup
	@$(RUN) npx biome check .
	@$(RUN) npx tsc -p tsconfig.json

unit: setup
	@$(RUN) npx vitest run --project unit

integration: setup
	@$(RUN) npx vitest run --project integration

test: setup lint
	@$(RUN) npx vitest run

bench: setup
	@$(RUN) node bench/run.ts

clean:
	@for d in .ha-redis/local/*/; do [ -d "$$d" ] && $(RUN) node cli/ha-redis.ts local down --name "$$(basename $$d)" || true; done
	rm -rf .ha-redis
