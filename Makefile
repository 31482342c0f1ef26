# ticketflow — the two commands that matter: `make demo` and `make test`.
# Every target that runs code first runs `setup` (idempotent; seconds when already done).

SHELL := /bin/bash
CARGO ?= cargo
ENV := source var/env &&
BIN := target/release/ticketflow

.PHONY: setup build demo test test-containers lint deny bench bench-embed bench-pipeline bench-chroma bench-chroma-scale bench-coordinator bench-memory bench-incremental bench-trainer bench-routing bench-control-plane bench-backlog setup-bench clean-var

setup:
	@scripts/setup.sh

build: setup
	$(CARGO) build --release --locked

## demo: set up what the demo needs (scripts/setup.sh demo: not the test-only tools), build,
## start the local stack (NATS, Chroma, workers), run the main job on our own synthetic tickets
## (or INPUT=path), print a summary, stop the stack.
## It uses the dev build that `make test` shares (dependencies at opt-level 2: as fast here as
## the release build, which only benchmarks and images need; `make build`).
demo:
	@scripts/setup.sh demo
	$(CARGO) build --locked -p ticketflow
	@scripts/demo.sh

## lint: formatting, clippy, no import cycle between source files and no source file over 600
## lines (scripts/check_structure.py).
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	python3 scripts/check_structure.py

## deny: licenses, bans and sources of every dependency (deny.toml; advisories need GitHub).
## cargo-deny's `cargo metadata` needs every crate of Cargo.lock for every target (windows-sys,
## android_system_properties …), which a host build never downloads: fetch them first, so a
## fresh cargo home works (CI runs with an empty one, see .ci/run).
deny: setup
	$(CARGO) fetch --locked
	var/bin/cargo-deny --offline check licenses bans sources

## test: set up, lint, deny, then every test (the model-backed ones need the exported model).
## The test binaries run TEST_JOBS at a time (scripts/run_tests.py; every test takes its own
## ports and directories): 455-510 s instead of 570 s one after the other on 2 cores.
TEST_JOBS ?= 2
test: setup lint deny
	$(ENV) TICKETFLOW_REQUIRE_MODEL=1 TICKETFLOW_REQUIRE_SERVICES=1 TICKETFLOW_REQUIRE_CHROMIUM=1 python3 scripts/run_tests.py --jobs $(TEST_JOBS) -- --locked

## test-containers: the Dockerfile built and docker-compose.yml brought up for real (Debian's podman,
## or ENGINE=docker): the pipeline end to end in containers, checked from outside, then torn
## down (scripts/test_containers.sh, docs/deploy.md). Not part of `make test`: about 25 minutes
## the first time (engine, base images, a release build in the image), 1 to 15 minutes after.
test-containers: build
	@scripts/test_containers.sh

## bench: every number in docs/benchmarks.md and docs/capacity.md, one benchmark after the other
## (about 25 minutes on 2 cores; results in var/bench/*.json).
bench: bench-embed bench-pipeline bench-coordinator bench-memory bench-chroma bench-incremental bench-trainer bench-routing

## bench-embed: ticketflow embed vs sentence-transformers on the first 1,000 dev rows.
setup-bench: setup
	@scripts/setup-bench.sh

bench-embed: setup-bench build
	$(ENV) scripts/bench_embed.sh

## bench-pipeline: end-to-end tickets/s with 1 and 2 embedders vs `ticketflow embed` alone.
bench-pipeline: build
	scripts/bench_pipeline.sh
	SHARD_SIZE=100 OUT_JSON=var/bench/pipeline-shard100.json scripts/bench_pipeline.sh

## bench-coordinator: time and peak RSS to shard and queue 100k, 1M and 10M generated tickets
## (flat memory: 38 MB at 1M, 40 MB at 10M; 10M needs ~5.6 GB of free disk for a minute or two).
bench-coordinator: build
	@scripts/setup-bench.sh time
	$(ENV) scripts/bench_coordinator.sh

## bench-incremental: day 1 = the dev file, day 2 = it plus 500 new tickets, on one stack:
## day 2's embedder time, wall time and Chroma writes against day 1's (REUSE=false: baseline).
bench-incremental: build
	$(ENV) scripts/bench_incremental.sh

## bench-trainer: the trainer's time and peak RSS on generated runs of 100k and 1M tickets,
## against the same trainer without its sample limit at 100k (scripts/bench_trainer.sh).
bench-trainer: setup
	$(ENV) scripts/bench_trainer.sh

## bench-routing: over 20 id-hash splits of the dev file, auto-routing's precision on the held-out
## 20 % (goal: >= 0.85 in >= 90 % of splits) and its coverage, against the point-estimate rule it
## replaced; then the 5-language sample (scripts/bench_routing.sh, workers/benches/routing.rs).
bench-routing: build
	$(ENV) scripts/bench_routing.sh

## bench-memory: peak RSS of every worker role and the coordinator over a full dev-file run.
bench-memory: build
	@scripts/setup-bench.sh time
	$(ENV) scripts/bench_memory.sh
	$(ENV) scripts/bench_embed_memory.sh

## bench-chroma: Chroma upsert records/s by client batch size (first write and re-upsert) on a
## server it starts itself; ROWS, REPEATS, BATCH_SIZES override (connectors/benches/chroma_upsert.rs).
## make bench uses 5,000 records per batch size (about 5 minutes); the binary's own default is 20,000.
bench-chroma: setup
	$(ENV) ROWS=$${ROWS:-5000} $(CARGO) bench --locked -p ticketflow-connectors --bench chroma_upsert

## bench-chroma-scale: one Chroma node at 1,000,000 records: ingest records/s with 1, 2 and 4
## concurrent 500-record batches (100k records each), then the best over 1M per 100k slice, query
## latency p50/p99, disk and memory (connectors/benches/chroma_scale.rs; ROWS, SWEEP_ROWS,
## CONCURRENCY override). 96 minutes on 2 cores shared with other builds, 3.2 GB of temporary
## disk at 1M (removed at the end): not part of make bench.
bench-chroma-scale: setup
	$(ENV) $(CARGO) bench --locked -p ticketflow-connectors --bench chroma_scale

## bench-control-plane: the pipeline's bookkeeping alone at 2,000 and 20,000 shards (a 10M-ticket
## run): stage loops that do no work on a real nats-server; per-shard messages, bytes, KV writes,
## and the ratio of the two sizes' per-shard costs (workers/benches/control_plane.rs; ~3 minutes).
bench-control-plane: setup
	mkdir -p var/bench && $(ENV) $(CARGO) bench --locked -p ticketflow-workers --bench control_plane | tee var/bench/control-plane.jsonl

## bench-backlog: 1M generated tickets end to end, 2 int8 embedders, against embed-only throughput
## in the same run; coordinator and worker RSS, NATS and KV cost per shard, Chroma ingest and
## search latency (scripts/bench_backlog.sh; about 50 minutes on 2 cores).
bench-backlog: build
	@scripts/setup-bench.sh time
	$(ENV) scripts/bench_backlog.sh

clean-var:
	rm -rf var
