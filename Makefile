# Linli — the targets read like a table of contents. `make help` lists them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Most tests wait on servers and processes, not the CPU: three xdist workers keep 2 cores busy.
TEST_WORKERS ?= 3

.DEFAULT_GOAL := help
.PHONY: help install proto lint test test-fast run run-cluster bench login sms-codes clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Linli needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

# The CLI's Chinese catalogue, compiled (the .po is in git, the .mo is not: linli_cli.i18n
# compiles a missing or stale one in memory, so this only saves that work on every run).
CLI_MO := clients/cli/linli_cli/locale/zh_CN/LC_MESSAGES/linli_cli.mo
$(CLI_MO): clients/cli/linli_cli/locale/zh_CN/LC_MESSAGES/linli_cli.po $(STAMP)
	$(BIN)/python tools/cli_messages.py compile

install: $(STAMP) $(CLI_MO) ## create .venv and install the platform with its dev tools

proto: $(STAMP) ## generate Python code and stubs from protos/ into gen/python
	rm -rf gen/python/linli
	$(BIN)/python tools/genproto.py

# Every package under services/ (the runtime, each service, the portal) and clients/: a new one is
# checked from the day it exists.
PACKAGES := $(wildcard services/*/linli_*) $(wildcard clients/*/linli_*)

.PHONY: lock
lock: $(STAMP) ## requirements*.lock: the image's dependencies pinned by constraints.txt, with hashes
	$(BIN)/python tools/lock.py

# The contract as last released (buf image): `make lint` refuses changes that would break a client
# built against it; `make proto-release` accepts the protos as they are, when a release is cut.
PROTO_BASELINE := protos/baseline.binpb

lint: $(STAMP) ## ruff, mypy --strict on every service, the portal, the runtime and the CLI, buf lint and breaking
	$(BIN)/ruff check .
	$(BIN)/mypy $(PACKAGES)
	$(BIN)/buf lint
	$(BIN)/buf breaking --against $(PROTO_BASELINE)
	$(BIN)/python tools/error_reasons.py --check

.PHONY: proto-release
proto-release: $(STAMP) ## release the protos: the baseline `make lint` checks breaking changes against
	$(BIN)/buf build --exclude-source-info -o $(PROTO_BASELINE)

test: $(STAMP) ## run the whole test suite (real NATS, real PostgreSQL, headless Chromium)
	@command -v chromium >/dev/null 2>&1 || echo "*** chromium is not installed: the web portal's browser tests will be SKIPPED (with CI=true they FAIL). Install it: apt-get install -y chromium ***"
	@command -v pgbouncer >/dev/null 2>&1 || echo "*** pgbouncer is not installed: the test behind a transaction pooler will be SKIPPED (with CI=true it FAILS). Install it: apt-get install -y pgbouncer ***"
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup

test-fast: $(STAMP) ## unit tests only: pure, in memory, under 30 s (no processes, sockets or databases)
	$(BIN)/pytest tests/unit

run: $(STAMP) ## run the platform locally: nats-server + every service on SQLite under var/
	$(BIN)/linli platform run

run-cluster: $(STAMP) ## 3-node NATS cluster, PostgreSQL, 2 replicas of every service (var/cluster)
	$(BIN)/linli platform run-cluster

bench: $(STAMP) ## benchmarks: event path vs raw JetStream, gRPC stack vs bare echo, ledger, POS, a city (year-end close, dashboard, busy hour)
	$(BIN)/python -m bench.event_path
	$(BIN)/python -m bench.event_path --postgres
	$(BIN)/python -m bench.grpc_stack
	$(BIN)/python -m bench.points_ledger
	$(BIN)/python -m bench.pos_redeem
	$(BIN)/python -m bench.city
	$(BIN)/python -m bench.busy_hour

login: $(STAMP) ## sign the CLI in at the local issuer (confirm the code in a browser, phone + SMS code)
	@$(BIN)/linli login

sms-codes: $(STAMP) ## the sign-in codes the development SMS gateway "sent" under make run
	@$(BIN)/linli platform sms-codes

clean: ## remove the venv and local data (var/)
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
