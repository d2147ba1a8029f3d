#!/usr/bin/env node
// The comparison point for bench/fhirpath_bench.cc: FHIRPath evaluations per second with
// the npm library `fhirpath` (fhirpath.js) and its R4 model, on one thread.
// bench/run-fhirpath-bench.sh runs it after the C++ benchmark.
//
// usage: node bench.js [--package DIR] [--cases FILE] [--min-time SEC] [--repeat N]
//                      [--warmup SEC] [--json-out FILE]
//
//   --package DIR    the package folder ($HOA_FHIR_PACKAGE_DIR, else
//                    ~/.fhir/packages/hl7.fhir.r4.examples#4.0.1/package)
//   --cases FILE     the cases (default: cases.json beside this script, the file the C++
//                    benchmark reads too)
//   --min-time SEC   each timed run evaluates for at least this long, wall-clock (default 1)
//   --repeat N       timed runs per case (default 5); the median is reported
//   --warmup SEC     untimed evaluation first, to let the JIT settle (default 1)
//   --json-out FILE  write the results as JSON
//
// Each case's resource is read and JSON.parse'd once; its expression is compiled once,
// `fhirpath.compile(expression, r4model, {traceFn})`, and the compiled function is called
// repeatedly with the resource as its input and %resource, as the C++ side calls
// evaluate() on a parsed tree with a compiled expression. traceFn is a no-op: by default
// fhirpath.js prints every trace() call to the console, and the C++ engine has no trace
// sink by default. Results keep the library's default resolveInternalTypes.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const fhirpath = require('fhirpath');
const r4model = require('fhirpath/fhir-context/r4');

function parseArgs(argv) {
  const opts = { minTime: 1, repeat: 5, warmup: 1 };
  const takesValue = {
    '--package': 'packageDir', '--cases': 'cases', '--min-time': 'minTime',
    '--repeat': 'repeat', '--warmup': 'warmup', '--json-out': 'jsonOut',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (takesValue[a] && i + 1 < argv.length) {
      opts[takesValue[a]] = argv[++i];
    } else {
      console.error(`bench.js: unknown or incomplete argument: ${a}`);
      process.exit(2);
    }
  }
  opts.minTime = Number(opts.minTime);
  opts.repeat = Number(opts.repeat);
  opts.warmup = Number(opts.warmup);
  if (!(opts.minTime > 0) || !(opts.repeat >= 1) || !(opts.warmup >= 0)) {
    console.error('bench.js: --min-time must be > 0, --repeat >= 1, --warmup >= 0');
    process.exit(2);
  }
  return opts;
}

function defaultPackageDir() {
  if (process.env.HOA_FHIR_PACKAGE_DIR) return process.env.HOA_FHIR_PACKAGE_DIR;
  return path.join(os.homedir(), '.fhir', 'packages', 'hl7.fhir.r4.examples#4.0.1', 'package');
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const now = () => Number(process.hrtime.bigint()) / 1e9;

// Evaluates for at least `seconds` of wall-clock time; returns evaluations per second of
// wall-clock time (what the summary compares, as the C++ side uses real time) and per
// second of the process's CPU time (for reference: it includes node's helper threads,
// the JIT compiler and the garbage collector). Batches grow so that the clock is read
// rarely.
function timedRun(fn, seconds) {
  let evals = 0;
  let batch = 1;
  const cpu0 = process.cpuUsage();
  const start = now();
  let elapsed = 0;
  for (;;) {
    for (let i = 0; i < batch; i++) fn();
    evals += batch;
    elapsed = now() - start;
    if (elapsed >= seconds) break;
    if (elapsed < seconds / 10) batch *= 2;
  }
  const cpu = process.cpuUsage(cpu0);
  return { wall: evals / elapsed, cpu: evals / ((cpu.user + cpu.system) / 1e6) };
}

// The result as the summary compares it with the C++ side: the number of items and, for
// a single primitive item, its value as a string.
function describe(result) {
  const d = { results: result.length };
  if (result.length === 1 && (typeof result[0] !== 'object' || result[0] === null)) {
    d.sample = String(result[0]);
  }
  return d;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  let packageDir = path.resolve(opts.packageDir || defaultPackageDir());
  if (!fs.existsSync(path.join(packageDir, 'package.json')) &&
      fs.existsSync(path.join(packageDir, 'package', 'package.json'))) {
    packageDir = path.join(packageDir, 'package');
  }
  if (!fs.existsSync(path.join(packageDir, 'package.json'))) {
    console.error(`bench.js: FHIR package not found at ${packageDir}`);
    process.exit(1);
  }
  const casesFile = path.resolve(opts.cases || path.join(__dirname, 'cases.json'));
  const cases = JSON.parse(fs.readFileSync(casesFile, 'utf8')).cases;
  const version = require('fhirpath/package.json').version;

  const out = {
    library: 'fhirpath',
    version,
    node: process.version,
    min_time_s: opts.minTime,
    repeat: opts.repeat,
    warmup_s: opts.warmup,
    cases: [],
  };
  const noTrace = () => {};
  const resources = new Map();
  for (const c of cases) {
    const row = { name: c.name, file: c.file, expression: c.expression };
    out.cases.push(row);
    if (c.npm === false) {
      row.skipped = 'C++ only (npm: false in the cases file)';
      console.log(`${c.name.padEnd(30)} skipped: C++ only`);
      continue;
    }
    if (!resources.has(c.file)) {
      resources.set(c.file, JSON.parse(fs.readFileSync(path.join(packageDir, c.file), 'utf8')));
    }
    const resource = resources.get(c.file);
    const env = { resource, rootResource: resource };
    let fn;
    try {
      const compiled = fhirpath.compile(c.expression, r4model, { traceFn: noTrace });
      fn = () => compiled(resource, env);
      Object.assign(row, describe(fn()));
    } catch (e) {
      row.error = String(e.message || e).split('\n')[0];
      console.log(`${c.name.padEnd(30)} error: ${row.error}`);
      continue;
    }
    if (opts.warmup > 0) timedRun(fn, opts.warmup);
    const runs = [];
    for (let r = 0; r < opts.repeat; r++) runs.push(timedRun(fn, opts.minTime));
    row.evals_per_sec = runs.map((x) => x.wall);
    row.evals_per_sec_median = median(row.evals_per_sec);
    row.cpu_evals_per_sec_median = median(runs.map((x) => x.cpu));
    console.log(`${c.name.padEnd(30)} ${row.evals_per_sec_median.toFixed(1).padStart(12)} evals/s` +
                `  (${row.results} result${row.results === 1 ? '' : 's'}${row.sample !== undefined ? ` = ${row.sample}` : ''})`);
  }
  if (opts.jsonOut) fs.writeFileSync(opts.jsonOut, JSON.stringify(out, null, 2) + '\n');
}

main();
