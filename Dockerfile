# syntax=docker/dockerfile:1
# ticketflow: one image for every role.
#
#   docker build -t ticketflow:dev .
#   docker run --rm ticketflow:dev --help
#   docker run ... ticketflow:dev worker embedder      # cleaner | embedder | indexer | trainer
#   docker run ... ticketflow:dev run --input s3://bucket/exports/tickets.csv
#
# Stages:
#   builder  the official Rust image (the toolchain the project is built and tested with):
#            cargo build --release --locked
#   model    Python: runs `scripts/setup.sh model`, the same code `make setup` runs, to export
#            all-MiniLM-L6-v2 to ONNX (models/export_onnx.py, checked against the parity
#            fixture) and to take libonnxruntime.so from the onnxruntime wheel
#   runtime  Debian slim with the binary, the library and the model; non-root (uid 10001)

ARG RUST_IMAGE=rust:1.95-bookworm
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS builder
WORKDIR /src
COPY . .
# The cache mounts keep the registry and incremental artefacts between builds (BuildKit); the
# binary is copied out of the cached target directory in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin ticketflow \
 && install -D -m 0755 target/release/ticketflow /out/ticketflow

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS model
WORKDIR /src
# Exactly what the setup script needs for its `model` step: the script, the exporter and its
# pinned requirements, and the parity fixture the exporter's canary checks the graph against.
COPY scripts/setup.sh scripts/
COPY models/ models/
COPY tests/fixtures/parity/reference.json tests/fixtures/parity/
RUN scripts/setup.sh model \
 && mkdir -p /out/lib /out/models \
 && cp -L var/lib/libonnxruntime.so /out/lib/libonnxruntime.so \
 && cp -rL var/models/all-minilm-l6-v2 /out/models/all-minilm-l6-v2

# ---------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="ticketflow" \
      org.opencontainers.image.description="Support-ticket NLP pipeline: clean, embed (all-MiniLM-L6-v2 on ONNX Runtime), index, classify, watch drift. One image for every role." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://example.invalid/ticketflow" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

# ca-certificates: TLS to S3/Chroma/NATS; curl: the health checks (docker-compose) and debugging;
# libstdc++6: ONNX Runtime's C++ runtime (the library needs nothing else beyond glibc).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl libstdc++6 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 ticketflow \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/ticketflow --create-home \
      --shell /usr/sbin/nologin ticketflow \
 && mkdir -p /var/lib/ticketflow/input /var/lib/ticketflow/nats \
 && chown -R 10001:10001 /var/lib/ticketflow

COPY --from=builder /out/ticketflow /usr/local/bin/ticketflow
COPY --from=model /out/lib/libonnxruntime.so /opt/ticketflow/lib/libonnxruntime.so
COPY --from=model /out/models/all-minilm-l6-v2 /opt/ticketflow/models/all-minilm-l6-v2

ENV ORT_DYLIB_PATH=/opt/ticketflow/lib/libonnxruntime.so \
    TICKETFLOW_MODEL_DIR=/opt/ticketflow/models/all-minilm-l6-v2 \
    TICKETFLOW_METRICS_ADDR=0.0.0.0:9464 \
    TICKETFLOW_LOG_FORMAT=json \
    RUST_LOG=info,ort=warn

# The default object store is file://var/store relative to the working directory; real
# deployments set TICKETFLOW_STORE=s3://... (the root filesystem may be read-only). input/ is
# where docker-compose's one-shot `generate` writes synthetic tickets, nats/ where its
# `nats-secrets` writes the NATS secrets (a volume inherits the directory's owner).
WORKDIR /var/lib/ticketflow
USER 10001:10001
EXPOSE 9464
ENTRYPOINT ["ticketflow"]
CMD ["--help"]
