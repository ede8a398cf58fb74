# make demo: a local cluster, a kill -9 of its master under load, and what ha-redis did about it.
# make test: lint, type check, unit, integration and e2e tests against real processes.
SHELL := /bin/bash
.DEFAULT_GOAL := help
# Node 24 and every tool come from node_modules/.bin (npm ci installs Node 24 as the devDependency `node`).
RUN = PATH="$(CURDIR)/node_modules/.bin:$$PATH:/usr/sbin:/sbin"

# The layers whose imports `make lint` checks against .dependency-cruiser.cjs (README, "House map").
LAYERS = core config adapters events functions compose local cli infra bench test

# The deployment config for synth and deploy (see README, "Deploying to AWS").
CONFIG ?= config/example.json
# Offline: no notices, no version check; synth needs no AWS credentials (VPC, subnets and zone come by id).
CDK = $(RUN) CDK_DISABLE_VERSION_CHECK=1 npx cdk --no-notices -c config=$(CONFIG)

.PHONY: help setup demo test lint unit integration bench synth deploy clean

help:
	@echo "make demo   - start a local cluster and show an automatic failover"
	@echo "make test   - lint, type check, unit + integration + e2e tests"
	@echo "make bench  - benchmarks against the baselines (not part of make test)"
	@echo "make synth  - cdk synth the AWS stack offline (CONFIG=path/to/ha-redis.config.json)"
	@echo "make deploy - cdk deploy the AWS stack (CONFIG=..., AWS credentials required)"

setup:
	@bash scripts/setup.sh >/dev/null

demo: setup
	@$(RUN) node bin/ha-redis.js demo

lint: setup
	@$(RUN) npx biome check .
	@$(RUN) npx tsc -p tsconfig.json
	@$(RUN) npx depcruise --config .dependency-cruiser.cjs $(LAYERS)

unit: setup
	@$(RUN) npx vitest run --project unit

integration: setup
	@$(RUN) npx vitest run --project integration

test: setup lint
	@$(RUN) npx vitest run

bench: setup
	@$(RUN) node bench/run.ts

synth: setup
	@$(CDK) synth --quiet
	@echo "synthesized into cdk.out/ from $(CONFIG)"

deploy: setup
	@$(CDK) deploy --require-approval broadening

clean:
	@for d in .ha-redis/local/*/; do [ -d "$$d" ] && $(RUN) node bin/ha-redis.js local down --name "$$(basename $$d)" || true; done
	rm -rf .ha-redis
