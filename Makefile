# ticketflow — the two commands that matter: `make demo` and `make test`.
# Every target that runs code first runs `setup` (idempotent; seconds when already done).

SHELL := /bin/bash
CARGO ?= cargo
ENV := source var/env &&
BIN := target/release/ticketflow
DEMO_ROWS ?= 2000

.PHONY: setup build demo test lint unit bench-embed setup-bench clean-var

setup:
	@scripts/setup.sh

build: setup
	$(CARGO) build --release --locked

## demo: set up, build, generate our own tickets, embed them, print a summary.
demo: build
	@mkdir -p var/demo
	$(ENV) $(BIN) generate --rows $(DEMO_ROWS) --output var/demo/tickets.csv
	$(ENV) $(BIN) embed --input var/demo/tickets.csv --output var/demo/vectors.npy
	@echo "outputs: var/demo/vectors.npy (+ .rows.csv, .quarantine.jsonl)"

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings

## test: set up, lint, then every test (the model-backed ones need the exported model).
test: setup lint
	$(ENV) TICKETFLOW_REQUIRE_MODEL=1 TICKETFLOW_REQUIRE_SERVICES=1 $(CARGO) test --workspace --locked

## bench-embed: ticketflow embed vs sentence-transformers on the first 1,000 dev rows.
setup-bench: setup
	@scripts/setup-bench.sh

bench-embed: setup-bench build
	$(ENV) scripts/bench_embed.sh

clean-var:
	rm -rf var
