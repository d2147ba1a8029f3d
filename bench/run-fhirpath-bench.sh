#!/usr/bin/env bash
# FHIRPath benchmark: builds bench/fhirpath_bench.cc (Release, build-bench/), installs the
# npm comparison (bench/npm-fhirpath, fhirpath.js), runs both one after the other on the
# same cases (bench/npm-fhirpath/cases.json: the same expressions on the same example
# resources of the FHIR R4 core package), and prints a summary table of evaluations per
# second, the ratio and the >= 10x target.
#
#   bench/run-fhirpath-bench.sh           full run (5 repetitions, median reported)
#   bench/run-fhirpath-bench.sh --short   quick CI-sized run (1 repetition, short min time)
#
# Results go to build-bench/fhirpath-bench/: cpp.json (Google Benchmark JSON),
# cpp-console.txt, npm.json, summary.txt.
# Environment: HOA_FHIR_PACKAGE_DIR (the package folder), JOBS (build parallelism).
# See docs/benchmarks.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build-bench"
OUT="$BUILD/fhirpath-bench"
NPM_DIR="$ROOT/bench/npm-fhirpath"
CASES="$NPM_DIR/cases.json"

NAME=run-fhirpath-bench
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

SHORT=0
for arg in "$@"; do
  case "$arg" in
    --short) SHORT=1 ;;
    -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $arg (try --help)" ;;
  esac
done

if (( SHORT )); then
  BENCH_ARGS=(--benchmark_min_time=0.05 --benchmark_repetitions=1)
  NPM_ARGS=(--min-time 0.05 --warmup 0.2 --repeat 1)
else
  BENCH_ARGS=(--benchmark_min_time=1 --benchmark_repetitions=5
              --benchmark_display_aggregates_only=true)
  NPM_ARGS=(--min-time 1 --warmup 1 --repeat 5)
fi

bench_prerequisites
[[ -f "$CASES" ]] || die "the cases file $CASES is missing"

# --- build ---------------------------------------------------------------------------------
bench_build

# --- npm comparison ------------------------------------------------------------------------
bench_npm_install "$NPM_DIR" fhirpath

# --- run: C++ first, then npm, one after the other ---------------------------------------------
mkdir -p "$OUT"
log "C++ benchmark: $BENCH_BIN ${BENCH_ARGS[*]}"
HOA_FHIRPATH_CASES="$CASES" "$BENCH_BIN" --benchmark_filter='^fhirpath/' \
  --benchmark_format=console --benchmark_out="$OUT/cpp.json" --benchmark_out_format=json \
  "${BENCH_ARGS[@]}" 2>&1 | tee "$OUT/cpp-console.txt"
[[ ${PIPESTATUS[0]} -eq 0 ]] || die "hoa_bench failed"

log "npm fhirpath: node bench.js ${NPM_ARGS[*]}"
node "$NPM_DIR/bench.js" --package "$PKG_DIR" --cases "$CASES" --json-out "$OUT/npm.json" \
  "${NPM_ARGS[@]}"

# --- summary -------------------------------------------------------------------------------
log "summary"
node - "$CASES" "$OUT/cpp.json" "$OUT/npm.json" <<'EOF' | tee "$OUT/summary.txt"
const fs = require('fs');
const [casesFile, cppFile, npmFile] = process.argv.slice(2);
const cases = JSON.parse(fs.readFileSync(casesFile, 'utf8')).cases;
const cpp = JSON.parse(fs.readFileSync(cppFile, 'utf8'));
const npm = JSON.parse(fs.readFileSync(npmFile, 'utf8'));
const TARGET = 10;

// One C++ row per benchmark: the median aggregate when there are repetitions, else the run.
// Both sides count evaluations per second of wall-clock time.
const rows = new Map();
for (const b of cpp.benchmarks) {
  // UseRealTime() adds "/real_time" to the names.
  const name = (b.run_name || b.name).replace(/\/real_time$/, '');
  const isMedian = b.run_type === 'aggregate' && b.aggregate_name === 'median';
  if (b.run_type === 'aggregate' && !isMedian) continue;
  if (isMedian || !rows.has(name)) rows.set(name, b);
}
const npmRows = new Map(npm.cases.map((c) => [c.name, c]));

// The C++ label: "<file>: 5 results", "<file>: 1 result = true", or "<file>: 96 elements, 96 true".
function cppResult(b) {
  const m = /: (\d+) results?(?: = (.*))?$/.exec(b.label || '');
  return m ? { results: Number(m[1]), sample: m[2] } : null;
}
const fmt = (x) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toPrecision(3));
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);

const lines = [];
lines.push(`${pad('case', 28)}${lpad('C++ evals/s', 14)}${lpad('npm evals/s', 14)}` +
           `${lpad('ratio', 9)}  ${pad('>= 10x', 10)}results (C++ | npm)`);
const missed = [], differ = [], known = [], failed = [];
let minRatio = Infinity;
for (const c of cases) {
  const b = rows.get(`fhirpath/${c.name}`);
  const n = npmRows.get(c.name);
  let ours = NaN, theirs = NaN, ratio = NaN, verdict = '', res = '';
  let cr = null;
  if (!b) {
    res = 'C++: not run';
    failed.push(c.name);
  } else if (b.error_occurred) {
    res = `C++ error: ${b.error_message}`;
    failed.push(c.name);
  } else {
    ours = b.items_per_second;
    cr = cppResult(b);
    res = (b.label || '').replace(/^[^:]*: /, '');
  }
  if (!n || n.skipped) {
    verdict = 'C++ only';
  } else if (n.error) {
    res += ` | npm error: ${n.error}`;
    verdict = 'npm err';
  } else {
    theirs = n.evals_per_sec_median;
    const npmRes = `${n.results} ${n.results === 1 ? 'result' : 'results'}` +
                   (n.sample !== undefined ? ` = ${n.sample}` : '');
    res += ` | ${npmRes}`;
    if (cr && (cr.results !== n.results || (cr.sample !== undefined && n.sample !== undefined &&
                                           cr.sample !== n.sample))) {
      res += c.known_difference ? '  (differ: known)' : '  DIFFERENT';
      (c.known_difference ? known : differ).push(c.name);
    }
    if (!Number.isNaN(ours)) {
      ratio = ours / theirs;
      minRatio = Math.min(minRatio, ratio);
      verdict = ratio >= TARGET ? 'met' : 'NOT MET';
      if (ratio < TARGET) missed.push(`${c.name} (${ratio.toFixed(1)}x)`);
    }
  }
  lines.push(`${pad(c.name, 28)}${lpad(Number.isNaN(ours) ? '-' : fmt(ours), 14)}` +
             `${lpad(Number.isNaN(theirs) ? '-' : fmt(theirs), 14)}` +
             `${lpad(Number.isNaN(ratio) ? '-' : ratio.toFixed(1) + 'x', 9)}  ${pad(verdict, 10)}${res}`);
}
lines.push('');
for (const c of cases) {
  if (c.note) lines.push(`${c.name}: ${c.note}`);
  if (c.known_difference) lines.push(`${c.name}: known difference: ${c.known_difference}`);
}
lines.push('');
lines.push(`npm fhirpath ${npm.version} (R4 model), node ${npm.node}; C++ hoa_bench ` +
           `(${cpp.context.library_build_type === 'debug' ? 'Google Benchmark library built as debug; ' : ''}` +
           `${cpp.context.num_cpus} CPUs, ${cpp.context.mhz_per_cpu} MHz)`);
if (Number.isFinite(minRatio)) {
  lines.push(`target >= ${TARGET}x fhirpath.js on every compared expression: ` +
             (missed.length ? `NOT MET for ${missed.join(', ')}` : `MET (lowest ${minRatio.toFixed(1)}x)`));
}
if (differ.length) lines.push(`results DIFFER between the two sides for: ${differ.join(', ')}`);
if (known.length) {
  lines.push(`results differ as expected (known_difference in the cases file) for: ${known.join(', ')}`);
}
if (failed.length) lines.push(`C++ cases that failed: ${failed.join(', ')}`);
console.log(lines.join('\n'));
EOF
printf '\nresults in %s\n' "$OUT"
