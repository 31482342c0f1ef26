# The shared start of the bench scripts, sourced after they `cd` to the checkout. BENCH names the
# bench in messages. Sets BIN (the release binary, which must be built: `make build`), DATA (the
# dev file, TICKETFLOW_DEV_DATA to override) and OUT (var/bench, created).
# shellcheck source=/dev/null
source var/env
BIN="$PWD/target/release/ticketflow"
DATA="${TICKETFLOW_DEV_DATA:-../shared/data/tickets_dev.csv}"
OUT=var/bench
mkdir -p "$OUT"
[ -x "$BIN" ] || { echo "$BENCH: $BIN not built (make build)" >&2; exit 1; }

# need_data: fail unless the dev file is there.
need_data() {
  [ -f "$DATA" ] || { echo "$BENCH: $DATA not found (it lives in ../shared/data beside the checkout)" >&2; exit 1; }
}
