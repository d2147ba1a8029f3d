#!/usr/bin/env bash
# Load test of the running gateway over HTTPS (mutual TLS, keep-alive), from a second
# process (bench/loadgen/hoa_loadgen.cc).
#
#   bench/run-load-bench.sh           # full run (~2.5 min): 20 s per scenario
#   bench/run-load-bench.sh --short   # CI-sized (~40 s): 3 s per scenario, checks every answer is 2xx
#
# It builds fhir-gateway and hoa-loadgen (Release) in build-bench/, makes development
# certificates and an empty data folder in a temporary folder, starts the gateway with the
# development configuration on a free loopback port, and runs:
#   1. submit-max   transaction Bundles (JSON), closed loop, as fast as 64 connections go
#   2. submit-500   transaction Bundles at a fixed 500 referrals/s (open loop, latency from
#                   the scheduled start)
#   3. submit-rest  REST create of a ServiceRequest (POST /fhir/ServiceRequest), closed loop
#   4. get-task-1   GET /fhir/Task/{id}, one connection (latency of a single client)
#   5. get-task-max GET /fhir/Task/{id}, 64 connections (throughput)
# Every submission is a new referral (unique identifier), fully validated (FHIR core +
# clinic profile + business rules) and committed durably (SQLite WAL, synchronous=FULL)
# before the answer. For each scenario it prints throughput, p50/p90/p99 latency, the
# gateway's CPU use (cores) over the scenario and its peak RSS; results go to
# build-bench/load-bench/ (one JSON per scenario, summary.txt).
#
# Environment: BUILD (default build-bench), DURATION / WARMUP (seconds, override),
# CONNECTIONS (default 64), HOA_FHIR_PACKAGE_DIR.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NAME=run-load-bench
die() { printf '%s: error: %s\n' "$NAME" "$*" >&2; exit 1; }
log() { printf '\n== %s\n' "$*" >&2; }

short=0
case "${1:-}" in
  --short) short=1 ;;
  "") ;;
  *) die "usage: $0 [--short]" ;;
esac
if ((short)); then
  DURATION=${DURATION:-3}
  WARMUP=${WARMUP:-1}
else
  DURATION=${DURATION:-20}
  WARMUP=${WARMUP:-3}
fi
CONNECTIONS=${CONNECTIONS:-64}

for tool in cmake openssl curl python3; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
PKG_DIR=${HOA_FHIR_PACKAGE_DIR:-$HOME/.fhir/packages/hl7.fhir.r4.examples#4.0.1/package}
[[ -f "$PKG_DIR/package.json" ]] || die "FHIR package not found at $PKG_DIR (run ./dev setup)"
export HOA_FHIR_PACKAGE_DIR="$PKG_DIR"

BUILD=${BUILD:-$ROOT/build-bench}
log "building fhir-gateway and hoa-loadgen (Release) in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DHOA_BUILD_BENCH=ON -DHOA_BUILD_TESTS=OFF \
  -DCMAKE_CXX_FLAGS="-Wno-error=restrict" >/dev/null
cmake --build "$BUILD" --target fhir-gateway hoa-loadgen -j "${JOBS:-$(nproc)}"
GATEWAY=$BUILD/gateway/fhir-gateway
LOADGEN=$BUILD/bench/hoa-loadgen
[[ -x "$GATEWAY" && -x "$LOADGEN" ]] || die "the binaries were not built"

OUT=$BUILD/load-bench
mkdir -p "$OUT"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hoa-load-bench.XXXXXX")
pid=""
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

bash "$ROOT/certs/make-dev-certs.sh" "$tmp/certs" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
log "starting the gateway on https://127.0.0.1:$port (data in $tmp/data)"
"$GATEWAY" serve --config "$ROOT/gateway/config/development.json" --data-dir "$tmp/data" --certs "$tmp/certs" \
  --port "$port" >"$tmp/gateway.log" 2>&1 &
pid=$!
CURL=(curl -sS --cacert "$tmp/certs/ca.crt" --cert "$tmp/certs/referrer-a.crt" --key "$tmp/certs/referrer-a.key")
for _ in $(seq 1 300); do
  if "${CURL[@]}" -o /dev/null -w '%{http_code}' "https://localhost:$port/readyz" 2>/dev/null | grep -q 200; then break; fi
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/gateway.log" >&2; die "the gateway exited"; }
  sleep 0.1
done

# Gateway CPU ticks (user+system) and peak RSS from /proc.
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$pid/status"; }
HZ=$(getconf CLK_TCK)

EX=$ROOT/mappings/package/examples
summary=$OUT/summary.txt
{
  echo "load bench $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')),"
  echo "duration ${DURATION}s after ${WARMUP}s warm-up per scenario, gateway and loader on the same machine"
  printf '%-13s %5s %7s %9s %9s %8s %8s %8s %9s %9s %8s\n' scenario conns rate req/s ok/s p50ms p90ms p99ms gw-cores gw-rssMB ld-cores
} | tee "$summary"

failed=0
scenario() { # name connections rate loadgen-args...
  local name=$1 conns=$2 rate=$3
  shift 3
  local t0 t1 res
  t0=$(ticks)
  if ! "$LOADGEN" --port "$port" --certs "$tmp/certs" --connections "$conns" --rate "$rate" \
    --duration "$DURATION" --warmup "$WARMUP" "$@" >"$OUT/$name.json"; then
    failed=1
    echo "$name: not every answer was 2xx: $(cat "$OUT/$name.json")" >&2
  fi
  t1=$(ticks)
  python3 - "$OUT/$name.json" "$name" "$conns" "$rate" "$((t1 - t0))" "$HZ" "$(hwm_kb)" "$DURATION" "$WARMUP" <<'EOF' | tee -a "$summary"
import json, sys
r = json.load(open(sys.argv[1]))
name, conns, rate, dt, hz, hwm, dur, warm = sys.argv[2:10]
wall = float(dur) + float(warm)
cores = int(dt) / int(hz) / wall
lat = r["latencyMs"]
print("%-13s %5s %7s %9.0f %9.0f %8.2f %8.2f %8.2f %9.2f %9.0f %8.2f" % (
    name, conns, rate if float(rate) > 0 else "max", r["throughput"], r["okThroughput"], lat["p50"], lat["p90"],
    lat["p99"], cores, int(hwm) / 1024, r["loaderCpuSeconds"] / wall))
EOF
}

scenario submit-max "$CONNECTIONS" 0 --mode submit --path /fhir --body "$EX/referral-transaction.json"
scenario submit-500 "$CONNECTIONS" 500 --mode submit --path /fhir --body "$EX/referral-transaction.json"
scenario submit-rest "$CONNECTIONS" 0 --mode submit --path /fhir/ServiceRequest --body "$EX/referral-rest-create.json"

task=$("${CURL[@]}" "https://localhost:$port/fhir/Task?_count=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["entry"][0]["resource"]["id"])')
scenario get-task-1 1 0 --mode get --path "/fhir/Task/$task"
scenario get-task-max "$CONNECTIONS" 0 --mode get --path "/fhir/Task/$task"

stored=$("${CURL[@]}" -H 'Accept: application/json' "https://localhost:$port/fhir/ServiceRequest?_count=1&_total=accurate" |
  python3 -c 'import json,sys; print(json.load(sys.stdin).get("total", "?"))' 2>/dev/null || echo "?")
echo "referrals stored by the gateway at the end: $stored" | tee -a "$summary"
echo "results: $OUT" >&2
((failed == 0)) || die "some requests failed (see above)"
