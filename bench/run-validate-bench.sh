#!/usr/bin/env bash
# Validation benchmark: builds bench/validate_bench.cc (Release, build-bench/), installs the
# npm comparison (bench/npm-fhir, FHIR.js), runs both one after the other over the same
# inputs — the clinical examples of the FHIR R4 core package (the format benchmark's list)
# and the referral-sized Bundle bench/data/referral-bundle.json — and prints a summary
# table of validations per second, the ratio to npm fhir and the targets (>= 100x npm
# fhir; >= 10,000 referral-sized validations per second per core).
#
#   bench/run-validate-bench.sh           full run (5 repetitions, median reported)
#   bench/run-validate-bench.sh --short   quick CI-sized run (1 repetition, short min time)
#
# Results go to build-bench/validate-bench/: files.txt (the example list both sides read),
# cpp.json (Google Benchmark JSON), cpp-console.txt, npm.json, summary.txt.
# Environment: HOA_FHIR_PACKAGE_DIR (the package folder), HOA_VALIDATE_BUNDLE (another
# Bundle), JOBS (build parallelism). See docs/benchmarks.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build-bench"
OUT="$BUILD/validate-bench"
NPM_DIR="$ROOT/bench/npm-fhir"
BUNDLE=${HOA_VALIDATE_BUNDLE:-$ROOT/bench/data/referral-bundle.json}

NAME=run-validate-bench
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

SHORT=0
for arg in "$@"; do
  case "$arg" in
    --short) SHORT=1 ;;
    -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $arg (try --help)" ;;
  esac
done

if (( SHORT )); then
  BENCH_ARGS=(--benchmark_min_time=0.05 --benchmark_repetitions=1)
  NPM_ARGS=(--min-time 0.05 --warmup 1 --repeat 1)
else
  BENCH_ARGS=(--benchmark_min_time=1 --benchmark_repetitions=5
              --benchmark_display_aggregates_only=true)
  NPM_ARGS=(--min-time 1 --warmup 2 --repeat 5)
fi

bench_prerequisites
[[ -f "$BUNDLE" ]] || die "the referral Bundle $BUNDLE is missing"
export HOA_VALIDATE_BUNDLE="$BUNDLE"

# --- build ---------------------------------------------------------------------------------
bench_build

# --- npm comparison ------------------------------------------------------------------------
bench_npm_install "$NPM_DIR" fhir

# --- the same example list for both sides (the format benchmark's rule) ----------------------
mkdir -p "$OUT"
FILES="$OUT/files.txt"
node "$NPM_DIR/convert.js" --package "$PKG_DIR" --list-out "$FILES" --list-only

# --- run: C++ first, then npm, one after the other ---------------------------------------------
log "C++ benchmark: $BENCH_BIN ${BENCH_ARGS[*]}"
HOA_BENCH_FILES="$FILES" "$BENCH_BIN" --benchmark_filter='^validate/' \
  --benchmark_format=console --benchmark_out="$OUT/cpp.json" --benchmark_out_format=json \
  "${BENCH_ARGS[@]}" 2>&1 | tee "$OUT/cpp-console.txt"
[[ ${PIPESTATUS[0]} -eq 0 ]] || die "hoa_bench failed"

log "npm fhir: node validate.js ${NPM_ARGS[*]}"
node "$NPM_DIR/validate.js" --package "$PKG_DIR" --files "$FILES" --bundle "$BUNDLE" \
  --json-out "$OUT/npm.json" "${NPM_ARGS[@]}"

# --- summary -------------------------------------------------------------------------------
log "summary"
node - "$OUT/cpp.json" "$OUT/npm.json" <<'EOF' | tee "$OUT/summary.txt"
const fs = require('fs');
const [cppFile, npmFile] = process.argv.slice(2);
const cpp = JSON.parse(fs.readFileSync(cppFile, 'utf8'));
const npm = JSON.parse(fs.readFileSync(npmFile, 'utf8'));
const RATIO_TARGET = 100;        // x npm fhir
const REFERRAL_TARGET = 10000;   // referral-sized validations per second per core

// One row per benchmark: the median aggregate when there are repetitions, else the run.
// UseRealTime() adds "/real_time", Threads(n) "/threads:n" to the names.
const rows = new Map();
const threadsOf = new Map();
for (const b of cpp.benchmarks) {
  const full = b.run_name || b.name;
  const m = /\/threads:(\d+)/.exec(full);
  const name = full.replace(/\/real_time/, '').replace(/\/threads:\d+/, '');
  if (b.error_occurred) throw new Error(`${name}: ${b.error_message}`);
  const isMedian = b.run_type === 'aggregate' && b.aggregate_name === 'median';
  if (b.run_type === 'aggregate' && !isMedian) continue;
  if (isMedian || !rows.has(name)) rows.set(name, b);
  threadsOf.set(name, m ? Number(m[1]) : 1);
}
const get = (name) => {
  const b = rows.get(name);
  if (!b) throw new Error(`C++ benchmark ${name} did not run`);
  return b;
};
const fmt = (x) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toPrecision(3));
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
const time = (b) => `${b.real_time.toFixed(b.time_unit === 'ms' ? 2 : 1)} ${b.time_unit}`;

const lines = [];
lines.push(`${pad('measurement', 36)}${lpad('time/iter', 12)}${lpad('C++ /s', 12)}${lpad('MB/s', 9)}` +
           `${lpad('npm /s', 10)}${lpad('npm MB/s', 10)}${lpad('ratio', 9)}  ${pad('>= 100x', 9)}issues (C++)`);
const verdicts = [];
const row = (label, name, theirs, theirsMbps) => {
  const b = get(name);
  const threads = threadsOf.get(name);
  const ours = b.items_per_second;
  const mbps = b.bytes_per_second / 1e6;
  let ratio = NaN, verdict = '';
  if (theirs !== undefined) {
    ratio = ours / theirs;
    verdict = ratio >= RATIO_TARGET ? 'met' : 'NOT MET';
    verdicts.push({ label, ratio });
  }
  lines.push(`${pad(label + (threads > 1 ? ` (${threads} threads)` : ''), 36)}${lpad(time(b), 12)}` +
             `${lpad(fmt(ours), 12)}${lpad(mbps.toFixed(1), 9)}` +
             `${lpad(theirs === undefined ? '' : fmt(theirs), 10)}` +
             `${lpad(theirsMbps === undefined ? '' : theirsMbps.toFixed(2), 10)}` +
             `${lpad(Number.isNaN(ratio) ? '' : ratio.toFixed(1) + 'x', 9)}  ${pad(verdict, 9)}` +
             `${(b.label || '').replace(/^[^:]*: /, '')}`);
  return ours;
};
row(`examples (${npm.files} files), validate`, 'validate/examples',
    npm.examples.resources_per_sec_median, npm.examples.mbps_median);
const referral = row('referral Bundle, validate', 'validate/referral/validate',
                     npm.bundle.validate.per_sec_median);
const referralPV = row('referral Bundle, parse + validate', 'validate/referral/parse_validate',
                       npm.bundle.parse_validate.per_sec_median);
row('referral Bundle, parse only', 'validate/referral/parse');
const mt = row('referral Bundle, validate', 'validate/referral/validate_mt');
row('examples, cold (new Validator)', 'validate/cold');
lines.push('');
lines.push(`npm fhir ${npm.version}, node ${npm.node}: examples ${npm.examples.messages.errors} errors, ` +
           `${npm.examples.messages.warnings} warnings (${npm.examples.messages.invalid} files not valid); ` +
           `Bundle ${npm.bundle.messages.errors} errors, ${npm.bundle.messages.warnings} warnings`);
lines.push(`C++ hoa_bench: ${cpp.context.num_cpus} CPUs, ${cpp.context.mhz_per_cpu} MHz` +
           `${cpp.context.library_build_type === 'debug' ? ' (Google Benchmark library built as debug)' : ''}; ` +
           `wall-clock time on both sides; MB = 10^6 bytes of JSON input`);
lines.push('');
for (const v of verdicts) {
  lines.push(`target >= ${RATIO_TARGET}x npm fhir, ${v.label}: ${v.ratio.toFixed(1)}x: ` +
             `${v.ratio >= RATIO_TARGET ? 'MET' : 'NOT MET'}`);
}
const perCore = (label, x) =>
  lines.push(`target >= ${REFERRAL_TARGET.toLocaleString('en-US')} referral validations/s per core, ` +
             `${label}: ${fmt(x)}/s: ${x >= REFERRAL_TARGET ? 'MET' : 'NOT MET'}`);
perCore('validate', referral);
perCore('parse + validate', referralPV);
const nt = threadsOf.get('validate/referral/validate_mt');
lines.push(`(${nt} threads, one shared Validator: ${fmt(mt)}/s in all, ${fmt(mt / nt)}/s per thread, ` +
           `${(mt / referral).toFixed(2)}x one thread)`);
console.log(lines.join('\n'));
EOF
printf '\nresults in %s\n' "$OUT"
