#!/usr/bin/env node
// The comparison point for bench/validate_bench.cc: validation with the npm library `fhir`
// (FHIR.js) 4.12.0, `new Fhir().validate(resource)`, timed on one thread.
// bench/run-validate-bench.sh runs it after the C++ benchmark, over the same inputs.
//
// usage: node validate.js [--package DIR] [--files LIST] [--bundle FILE]
//                         [--repeat N] [--warmup N] [--min-time S] [--json-out FILE]
//
//   --package DIR    the package folder ($HOA_FHIR_PACKAGE_DIR, else
//                    ~/.fhir/packages/hl7.fhir.r4.examples#4.0.1/package)
//   --files LIST     the example files, one path per line (bench/npm-fhir/convert.js
//                    --list-out writes it; the C++ side reads the same list through
//                    $HOA_BENCH_FILES); without it, convert.js's selection rule is applied
//   --bundle FILE    the referral-sized Bundle (default: bench/data/referral-bundle.json)
//   --repeat N       timed runs of each measurement (default 5); the median is reported
//   --warmup N       untimed runs (like the timed ones) first, to let the JIT settle
//                    (default 2)
//   --min-time S     a timed run of the Bundle measurements lasts at least S seconds
//                    (default 1); a run over the examples is one or more whole passes
//                    over all files, at least S seconds too
//   --json-out FILE  write the results as JSON
//
// Measurements (wall-clock, process.hrtime, as the C++ side with UseRealTime()):
//   examples         fhir.validate(obj) of every example, each JSON.parse'd once before
//                    timing (the C++ side parses once too and times validate() alone):
//                    resources per second and MB/s (JSON input bytes, MB = 10^6 bytes);
//   bundle_validate  fhir.validate(obj) of the Bundle, parsed once before timing;
//   bundle_parse_validate  fhir.validate(text): the library's own JSON.parse + validate.
// One Fhir instance is made before timing and reused (the library at its best;
// validate() makes a new internal Validator per call anyway).
//
// What the library checks (fhir/validator.js): required elements, arrays vs single
// values, unknown properties (warnings), primitive formats (regexes), codes against the
// value sets it has expanded (bindings of every strength: required → error, others →
// warning) and reference target types. It evaluates no invariants (FHIRPath).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

function parseArgs(argv) {
  const opts = { repeat: 5, warmup: 2, minTime: 1 };
  const takesValue = {
    '--package': 'packageDir', '--files': 'files', '--bundle': 'bundle', '--repeat': 'repeat',
    '--warmup': 'warmup', '--min-time': 'minTime', '--json-out': 'jsonOut',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (takesValue[a] && i + 1 < argv.length) {
      opts[takesValue[a]] = argv[++i];
    } else {
      console.error(`validate.js: unknown or incomplete argument: ${a}`);
      process.exit(2);
    }
  }
  opts.repeat = Number(opts.repeat);
  opts.warmup = Number(opts.warmup);
  opts.minTime = Number(opts.minTime);
  if (!(opts.repeat >= 1) || !(opts.warmup >= 0) || !(opts.minTime > 0)) {
    console.error('validate.js: --repeat must be >= 1, --warmup >= 0, --min-time > 0');
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

const now = () => process.hrtime.bigint();
const seconds = (since) => Number(now() - since) / 1e9;

// Counts the messages of one response by severity.
function tally(counts, response) {
  if (!response.valid) counts.invalid++;
  for (const m of response.messages) {
    if (m.severity === 'fatal' || m.severity === 'error') counts.errors++;
    else if (m.severity === 'warning') counts.warnings++;
    else counts.information++;
  }
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  let packageDir = path.resolve(opts.packageDir || defaultPackageDir());
  if (!fs.existsSync(path.join(packageDir, 'package.json')) &&
      fs.existsSync(path.join(packageDir, 'package', 'package.json'))) {
    packageDir = path.join(packageDir, 'package');
  }
  if (!fs.existsSync(path.join(packageDir, 'package.json'))) {
    console.error(`validate.js: FHIR package not found at ${packageDir}`);
    process.exit(1);
  }

  let files;
  if (opts.files) {
    files = fs.readFileSync(opts.files, 'utf8').split(/\r?\n/).filter((l) => l.length > 0)
      .map((l) => (path.isAbsolute(l) ? l : path.join(packageDir, l)));
  } else {
    // convert.js holds the selection rule: let it write the list.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'validate-js-'));
    const list = path.join(tmp, 'files.txt');
    require('child_process').execFileSync(
      process.execPath, [path.join(__dirname, 'convert.js'), '--package', packageDir,
        '--list-out', list, '--list-only'], { stdio: ['ignore', 'ignore', 'inherit'] });
    files = fs.readFileSync(list, 'utf8').split('\n').filter((l) => l.length > 0);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const bundleFile = path.resolve(opts.bundle ||
                                  path.join(__dirname, '..', 'data', 'referral-bundle.json'));

  const objs = files.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
  const bytes = files.reduce((n, f) => n + fs.statSync(f).size, 0);
  const bundleText = fs.readFileSync(bundleFile, 'utf8');
  const bundleObj = JSON.parse(bundleText);
  const bundleBytes = Buffer.byteLength(bundleText);

  const { Fhir } = require('fhir');
  const version = require('fhir/package.json').version;
  let t0 = now();
  const fhir = new Fhir();
  const constructMs = seconds(t0) * 1e3;

  // One pass over the examples; an exception is a failure (the counts would lie).
  const failures = [];
  const validateAll = (counts) => {
    for (let i = 0; i < objs.length; i++) {
      try {
        const r = fhir.validate(objs[i]);
        if (counts) tally(counts, r);
      } catch (e) {
        failures.push(`${path.basename(files[i])}: ${e.message}`);
      }
    }
  };
  const examplesCounts = { invalid: 0, errors: 0, warnings: 0, information: 0 };
  validateAll(examplesCounts);
  if (failures.length > 0) {
    console.error(`validate.js: ${failures.length} validations threw, e.g.:\n  ` +
                  failures.slice(0, 10).join('\n  '));
    process.exit(1);
  }
  const bundleCounts = { invalid: 0, errors: 0, warnings: 0, information: 0 };
  tally(bundleCounts, fhir.validate(bundleObj));

  // Examples: whole passes until min-time has passed, per timed run.
  const examples = (() => {
    for (let i = 0; i < opts.warmup; i++) validateAll(null);
    const runs = [];
    for (let r = 0; r < opts.repeat; r++) {
      const start = now();
      let passes = 0;
      do {
        validateAll(null);
        passes++;
      } while (seconds(start) < opts.minTime);
      const s = seconds(start);
      runs.push({ passes, seconds: s });
    }
    const rps = runs.map((r) => (r.passes * objs.length) / r.seconds);
    const mbps = runs.map((r) => (r.passes * bytes) / 1e6 / r.seconds);
    return {
      runs_resources_per_sec: rps,
      resources_per_sec_median: median(rps),
      mbps_median: median(mbps),
      ms_per_pass_median: median(runs.map((r) => (r.seconds * 1e3) / r.passes)),
    };
  })();

  // The Bundle: batches of calls between clock reads, until min-time has passed.
  const perSecond = (fn) => {
    const run = () => {
      const start = now();
      let calls = 0;
      do {
        for (let i = 0; i < 64; i++) fn();
        calls += 64;
      } while (seconds(start) < opts.minTime);
      return calls / seconds(start);
    };
    for (let r = 0; r < opts.warmup; r++) run();
    const runs = [];
    for (let r = 0; r < opts.repeat; r++) runs.push(run());
    return { runs_per_sec: runs, per_sec_median: median(runs) };
  };
  let sink = 0;
  const bundleValidate = perSecond(() => { sink += fhir.validate(bundleObj).messages.length; });
  const bundleParseValidate = perSecond(() => { sink += fhir.validate(bundleText).messages.length; });
  if (sink < 0) console.log(sink);  // keeps the results alive

  const result = {
    library: 'fhir',
    version,
    node: process.version,
    files: files.length,
    bytes,
    construct_ms: constructMs,
    warmup: opts.warmup,
    repeat: opts.repeat,
    min_time_s: opts.minTime,
    examples: { ...examples, messages: examplesCounts },
    bundle: {
      file: bundleFile,
      bytes: bundleBytes,
      entries: (bundleObj.entry || []).length,
      messages: bundleCounts,
      validate: bundleValidate,
      parse_validate: bundleParseValidate,
    },
  };
  const fmt = (x) => Math.round(x).toLocaleString('en-US');
  console.log(`npm fhir ${version} on node ${process.version}: new Fhir() took ${constructMs.toFixed(0)} ms`);
  console.log(`  examples: ${files.length} files, ${(bytes / 1e6).toFixed(2)} MB: median ` +
              `${fmt(examples.resources_per_sec_median)} resources/s, ${examples.mbps_median.toFixed(2)} MB/s ` +
              `(${examples.ms_per_pass_median.toFixed(1)} ms per pass); runs ` +
              `${examples.runs_resources_per_sec.map(fmt).join(' ')}`);
  console.log(`    messages: ${examplesCounts.invalid} invalid, ${examplesCounts.errors} errors, ` +
              `${examplesCounts.warnings} warnings, ${examplesCounts.information} information`);
  console.log(`  bundle ${path.basename(bundleFile)} (${bundleBytes} bytes, ` +
              `${result.bundle.entries} entries): validate ${fmt(bundleValidate.per_sec_median)}/s, ` +
              `parse+validate ${fmt(bundleParseValidate.per_sec_median)}/s; ` +
              `${bundleCounts.errors} errors, ${bundleCounts.warnings} warnings, ` +
              `${bundleCounts.information} information`);
  if (opts.jsonOut) fs.writeFileSync(opts.jsonOut, `${JSON.stringify(result, null, 2)}\n`);
}

main();
