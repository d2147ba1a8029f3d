#!/usr/bin/env bash
# FHIR format benchmark: builds bench/format_bench.cc (Release, build-bench/), installs the
# npm comparison (bench/npm-fhir), runs both one after the other over the same list of
# clinical examples of the FHIR R4 core package, and prints a summary table.
#
#   bench/run-format-bench.sh           full run (5 repetitions, median reported)
#   bench/run-format-bench.sh --short   quick CI-sized run (1 repetition, short min time)
#
# Results go to build-bench/format-bench/: files.txt (the example list both sides read),
# cpp.json (Google Benchmark JSON), cpp-console.txt, npm.json, summary.txt.
# Environment: HOA_FHIR_PACKAGE_DIR (the package folder), JOBS (build parallelism).
# See docs/benchmarks.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build-bench"
OUT="$BUILD/format-bench"
NPM_DIR="$ROOT/bench/npm-fhir"

NAME=run-format-bench
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

SHORT=0
for arg in "$@"; do
  case "$arg" in
    --short) SHORT=1 ;;
    -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $arg (try --help)" ;;
  esac
done

if (( SHORT )); then
  BENCH_ARGS=(--benchmark_min_time=0.05 --benchmark_repetitions=1)
  NPM_ARGS=(--warmup 1 --repeat 1)
else
  BENCH_ARGS=(--benchmark_min_time=1 --benchmark_repetitions=5
              --benchmark_display_aggregates_only=true)
  NPM_ARGS=(--warmup 2 --repeat 5)
fi

bench_prerequisites

# --- build ---------------------------------------------------------------------------------
bench_build

# --- npm comparison ------------------------------------------------------------------------
bench_npm_install "$NPM_DIR" fhir

# --- the same example list for both sides ----------------------------------------------------
mkdir -p "$OUT"
FILES="$OUT/files.txt"
node "$NPM_DIR/convert.js" --package "$PKG_DIR" --list-out "$FILES" --list-only

# --- run: C++ first, then npm, one after the other ---------------------------------------------
log "C++ benchmark: $BENCH_BIN ${BENCH_ARGS[*]}"
HOA_BENCH_FILES="$FILES" "$BENCH_BIN" --benchmark_filter='^format/' \
  --benchmark_format=console --benchmark_out="$OUT/cpp.json" --benchmark_out_format=json \
  "${BENCH_ARGS[@]}" 2>&1 | tee "$OUT/cpp-console.txt"
[[ ${PIPESTATUS[0]} -eq 0 ]] || die "hoa_bench failed"

log "npm fhir: node convert.js ${NPM_ARGS[*]}"
node "$NPM_DIR/convert.js" --package "$PKG_DIR" --files "$FILES" --json-out "$OUT/npm.json" \
  "${NPM_ARGS[@]}"

# --- summary -------------------------------------------------------------------------------
log "summary"
node - "$OUT/cpp.json" "$OUT/npm.json" <<'EOF' | tee "$OUT/summary.txt"
const fs = require('fs');
const [cppFile, npmFile] = process.argv.slice(2);
const cpp = JSON.parse(fs.readFileSync(cppFile, 'utf8'));
const npm = JSON.parse(fs.readFileSync(npmFile, 'utf8'));

// One row per benchmark: the median aggregate when there are repetitions, else the run.
const rows = new Map();
for (const b of cpp.benchmarks) {
  const name = b.run_name || b.name;
  if (b.error_occurred) throw new Error(`${name}: ${b.error_message}`);
  const isMedian = b.run_type === 'aggregate' && b.aggregate_name === 'median';
  if (b.run_type === 'aggregate' && !isMedian) continue;
  if (isMedian || !rows.has(name)) rows.set(name, b);
}
const mbps = (name) => (rows.has(name) ? rows.get(name).bytes_per_second / 1e6 : NaN);
// Google Benchmark computes bytes_per_second from the CPU time: show that time.
const time = (b) => `${b.cpu_time.toFixed(b.time_unit === 'us' ? 1 : 2)} ${b.time_unit}`;
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);

const lines = [];
lines.push(`${pad('benchmark', 30)}${lpad('CPU time/iter', 16)}${lpad('MB/s', 10)}  input`);
for (const [name, b] of rows) {
  lines.push(`${pad(name, 30)}${lpad(time(b), 16)}${lpad(mbps(name).toFixed(1), 10)}  ${b.label || ''}`);
}
const ours = mbps('format/json_to_xml');
lines.push(`${pad(`npm fhir ${npm.version} jsonToXml (reuse)`, 30)}${lpad('', 16)}` +
           `${lpad(npm.reuse.mbps_median.toFixed(2), 10)}  ${npm.files} files, node ${npm.node}`);
lines.push(`${pad(`npm fhir ${npm.version} (new Fhir() per call)`, 30)}${lpad('', 16)}` +
           `${lpad(npm.per_call.mbps_median.toFixed(2), 10)}`);
lines.push('');
lines.push(`JSON->XML convert: ours ${ours.toFixed(1)} MB/s vs npm fhir ${npm.reuse.mbps_median.toFixed(2)} MB/s` +
           ` = ${(ours / npm.reuse.mbps_median).toFixed(1)}x` +
           ` (vs new Fhir() per call ${npm.per_call.mbps_median.toFixed(2)} MB/s:` +
           ` ${(ours / npm.per_call.mbps_median).toFixed(1)}x)`);
const check = (label, value, target) =>
  `${label}: ${value.toFixed(1)} MB/s, target >= ${target}: ${value >= target ? 'MET' : 'NOT MET'}`;
lines.push(check('JSON parse', mbps('format/json_parse'), 150));
lines.push(check('XML parse ', mbps('format/xml_parse'), 60));
if (rows.has('format/load_definitions')) {
  const b = rows.get('format/load_definitions');
  const ms = b.cpu_time * { ns: 1e-6, us: 1e-3, ms: 1, s: 1e3 }[b.time_unit];
  lines.push(`definitions load: ${ms.toFixed(0)} ms per Registry::loadPackage ` +
             `(${b.label || ''}): ${ms < 1000 ? 'under' : 'NOT under'} a second`);
}
lines.push(`MB = 10^6 bytes; the console output above uses MiB ("M/s" = 2^20 bytes/s).`);
console.log(lines.join('\n'));
EOF
printf '\nresults in %s\n' "$OUT"
