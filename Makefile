# paycore — the commands a newcomer needs. `make dev` runs it; `make test` tests it.
SHELL := bash
.DEFAULT_GOAL := help

.PHONY: help setup build proto typecheck lint graph contract test test-unit chaos cluster cluster-test mutation dev sandbox bench slo-rules clean

help:
	@echo "make dev        set up and run paycore with the sandbox PSP"
	@echo "make test       run every test (installs and starts what they need)"
	@echo "make proto      regenerate proto/gen from proto/"
	@echo "make typecheck  type-check everything, tests included"
	@echo "make lint       ESLint (layers, cycles, sizes) and knip (dead code); part of make test"
	@echo "make graph      print the module graph's cycles and layers (madge)"
	@echo "make chaos      the full fault-injection run (test/chaos.test.ts at full length)"
	@echo "make cluster    3 NATS nodes, a 3-master Redis Cluster, the sandbox and 2 paycore processes (Ctrl-C stops them)"
	@echo "make cluster-test  the cluster chaos suite at full length (test/cluster.test.ts)"
	@echo "make mutation   mutation-test the pure domain modules (orders, routing, validate, recon file by file, payouts, ledger rules, splits)"
	@echo "make contract   lint the gRPC contract and check it for breaking changes"
	@echo "make slo-rules  regenerate ops/prometheus/slo.yml from slo-rules.js"

# npm ci refuses a lock file that lacks some other platform's optional binaries (buf, swc),
# which the registry reachable here does not always carry; npm install --no-save then
# installs exactly the locked tree without rewriting the lock.
node_modules: package-lock.json
	npm ci --no-audit --no-fund 2>/dev/null || { echo "npm ci refused the lock; installing it with npm install --no-save"; npm install --no-save --no-audit --no-fund; }
	@touch node_modules

setup: node_modules
	bash scripts/ensure-services.sh

build: node_modules
	npm run --silent build

proto: node_modules
	bash scripts/gen-proto.sh

typecheck: node_modules
	npx --no-install tsc -p tsconfig.json --noEmit

# The linters live in tools/lint with their own lock: typescript-eslint and madge read sources
# through TypeScript 6's compiler API, which the root's TypeScript 7 does not have.
tools/lint/node_modules: tools/lint/package-lock.json
	npm ci --prefix tools/lint --no-audit --no-fund
	@touch tools/lint/node_modules

# docs/style.md, "Rules a machine checks": the layers and no cycles (docs/architecture.md),
# sizes, typescript-eslint's recommended rules; knip: no export, type or file nothing uses.
lint: node_modules tools/lint/node_modules
	tools/lint/node_modules/.bin/eslint core workers channels testing bench test
	tools/lint/node_modules/.bin/madge --circular --no-spinner --extensions ts core workers channels
	tools/lint/node_modules/.bin/knip --no-progress --include exports,types,files,duplicates

# The module graph: which layer imports which, every upward import (scripts/layers.mjs), then
# the cycles (type-only imports included; none expected).
graph: tools/lint/node_modules
	tools/lint/node_modules/.bin/madge --json --no-spinner --extensions ts core workers channels | node scripts/layers.mjs
	tools/lint/node_modules/.bin/madge --circular --no-spinner --extensions ts core workers channels

# The gRPC contract: buf lint, and buf breaking against the released baseline and the
# merge-base with main (docs/api.md, "Compatibility and versioning").
contract: node_modules
	bash scripts/check-contract.sh

# Unit and integration tests against the real NATS, Redis, sandbox PSP and gRPC gateway.
# Then mutation testing of the lines of the pure domain modules changed since main (none on
# main itself: skipped at once); `make mutation` runs every module in full.
test: setup build typecheck lint contract
	npx --no-install jest --ci
	bash test/mutation/run.sh changed

# The fault-injection run at full length: paycore's own NATS and Redis stopped under 30
# creates/s, paycore SIGKILLed, a hanging provider (about 2 minutes). `make test` runs the
# short form of the same file.
chaos: setup build
	CHAOS=full npx --no-install jest --ci test/chaos.test.ts

# paycore as a deployment on clustered engines, on this machine (testing/cluster.ts): a 3-node
# NATS JetStream cluster, a 3-master Redis Cluster, the sandbox PSP and two paycore processes,
# all on free ports; Ctrl-C stops every one of them (ops/topology.md).
cluster: setup build
	node dist/testing/cluster-main.js

# The cluster chaos suite at full length: one paycore process SIGKILLed, one NATS node and the
# Redis master of the routing configuration restarted, under load (about 3 minutes). `make
# test` runs its short form (one kill, one restart).
cluster-test: setup build
	CLUSTER=full npx --no-install jest --ci test/cluster.test.ts

test-unit: node_modules
	npx --no-install jest --ci core channels testing

# StrykerJS over the pure domain modules, module by module, each against its own unit tests;
# fails below an 85 % mutation score (test/mutation/equivalent.md lists the survivors no test
# can kill). Recon runs file by file. About an hour at concurrency 1 on a loaded 2-core machine.
mutation: node_modules
	bash test/mutation/run.sh full

dev:
	bash scripts/dev.sh

sandbox: build
	node dist/testing/sandbox/main.js

# Load benchmarks (bench/README.md): the echo ceiling and paycore's sustainable CreatePayment
# rate, in about 3 minutes; writes bench/results/<date>-<host>.json. BENCH_ARGS=--profile DIR etc.
bench: setup build
	node dist/bench/run.js $(BENCH_ARGS)

# ops/prometheus/slo.yml (SLO recording rules and burn-rate alerts) from slo-rules.js.
slo-rules:
	node ops/prometheus/slo-rules.js > ops/prometheus/slo.yml

clean:
	rm -rf dist .dev
