# ticketflow — the two commands that matter: `make demo` and `make test`.
# Every target that runs code first runs `setup` (idempotent; seconds when already done).

SHELL := /bin/bash
CARGO ?= cargo
ENV := source var/env &&
BIN := target/release/ticketflow

.PHONY: setup build demo test lint deny bench-embed bench-pipeline setup-bench clean-var

setup:
	@scripts/setup.sh

build: setup
	$(CARGO) build --release --locked

## demo: set up, build, start the local stack (NATS, Chroma, workers), run the main job on
## our own synthetic tickets (or INPUT=path), print a summary, stop the stack.
demo: build
	@scripts/demo.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings

## deny: licenses, bans and sources of every dependency (deny.toml; advisories need GitHub).
deny: setup
	var/bin/cargo-deny --offline check licenses bans sources

## test: set up, lint, deny, then every test (the model-backed ones need the exported model).
test: setup lint deny
	$(ENV) TICKETFLOW_REQUIRE_MODEL=1 TICKETFLOW_REQUIRE_SERVICES=1 TICKETFLOW_REQUIRE_CHROMIUM=1 $(CARGO) test --workspace --locked

## bench-embed: ticketflow embed vs sentence-transformers on the first 1,000 dev rows.
setup-bench: setup
	@scripts/setup-bench.sh

bench-embed: setup-bench build
	$(ENV) scripts/bench_embed.sh

## bench-pipeline: end-to-end tickets/s with 1 and 2 embedders vs `ticketflow embed` alone.
bench-pipeline: build
	scripts/bench_pipeline.sh

clean-var:
	rm -rf var
