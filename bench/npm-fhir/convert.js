#!/usr/bin/env node
// The comparison point for bench/format_bench.cc: JSON→XML conversion of the clinical
// examples of the FHIR R4 core package with the npm library `fhir` (FHIR.js), timed on
// one thread. bench/run-format-bench.sh runs it after the C++ benchmark.
//
// usage: node convert.js [--package DIR] [--files LIST] [--list-out FILE] [--list-only]
//                        [--repeat N] [--warmup N] [--json-out FILE]
//
//   --package DIR    the package folder ($HOA_FHIR_PACKAGE_DIR, else
//                    ~/.fhir/packages/hl7.fhir.r4.examples#4.0.1/package)
//   --files LIST     read the example files from LIST (one path per line) instead of
//                    applying the selection rule
//   --list-out FILE  write the selected files (absolute paths, one per line) to FILE;
//                    the C++ benchmark reads the same list through $HOA_BENCH_FILES
//   --list-only      stop after writing the list
//   --repeat N       timed passes over all files (default 5)
//   --warmup N       untimed passes first, to let the JIT settle (default 1)
//   --json-out FILE  write the results as JSON
//
// The selection rule ("clinical examples"), identical in bench/format_bench.cc: every
// *.json file of the package folder except package.json and dot-files, whose
// resourceType is not a conformance resource type (CONFORMANCE_TYPES below); a Bundle is
// excluded when more than half of its entries hold a conformance resource.
//
// Throughput is JSON input bytes per second, MB = 10^6 bytes; the median of the timed
// passes is reported. `fhir.jsonToXml(text)` is JSON.parse + conversion to an XML string.
// It is timed twice: reusing one Fhir instance made before timing ("reuse", the library
// at its best: the speed-up is computed against this), and as `new Fhir().jsonToXml(text)`
// per file ("per_call": the constructor sets up the definitions' metadata each time).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

const CONFORMANCE_TYPES = new Set([
  'StructureDefinition', 'ValueSet', 'CodeSystem', 'SearchParameter', 'ConceptMap',
  'OperationDefinition', 'NamingSystem', 'CompartmentDefinition', 'CapabilityStatement',
  'ImplementationGuide', 'StructureMap',
]);

function parseArgs(argv) {
  const opts = { repeat: 5, warmup: 1, listOnly: false };
  const takesValue = {
    '--package': 'packageDir', '--files': 'files', '--list-out': 'listOut',
    '--repeat': 'repeat', '--warmup': 'warmup', '--json-out': 'jsonOut',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--list-only') {
      opts.listOnly = true;
    } else if (takesValue[a] && i + 1 < argv.length) {
      opts[takesValue[a]] = argv[++i];
    } else {
      console.error(`convert.js: unknown or incomplete argument: ${a}`);
      process.exit(2);
    }
  }
  opts.repeat = Number(opts.repeat);
  opts.warmup = Number(opts.warmup);
  if (!(opts.repeat >= 1) || !(opts.warmup >= 0)) {
    console.error('convert.js: --repeat must be >= 1 and --warmup >= 0');
    process.exit(2);
  }
  return opts;
}

function defaultPackageDir() {
  if (process.env.HOA_FHIR_PACKAGE_DIR) return process.env.HOA_FHIR_PACKAGE_DIR;
  return path.join(os.homedir(), '.fhir', 'packages', 'hl7.fhir.r4.examples#4.0.1', 'package');
}

function isClinicalExample(file) {
  const res = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (res === null || typeof res !== 'object' || Array.isArray(res)) {
    throw new Error(`${file}: not a JSON object`);
  }
  if (CONFORMANCE_TYPES.has(res.resourceType)) return false;
  if (res.resourceType !== 'Bundle') return true;
  const entries = Array.isArray(res.entry) ? res.entry : [];
  if (entries.length === 0) return true;
  let conformance = 0;
  for (const e of entries) {
    const r = e && typeof e === 'object' ? e.resource : undefined;
    if (r && typeof r === 'object' && CONFORMANCE_TYPES.has(r.resourceType)) conformance++;
  }
  return 2 * conformance <= entries.length;
}

function selectFiles(dir) {
  // Sorted by byte order of the names, as std::sort of the paths does in the C++ bench.
  const names = fs.readdirSync(dir)
    .filter((n) => n.endsWith('.json') && n !== 'package.json' && !n.startsWith('.'))
    .filter((n) => fs.statSync(path.join(dir, n)).isFile())
    .sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b))));
  return names.map((n) => path.join(dir, n)).filter(isClinicalExample);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  let packageDir = path.resolve(opts.packageDir || defaultPackageDir());
  if (!fs.existsSync(path.join(packageDir, 'package.json')) &&
      fs.existsSync(path.join(packageDir, 'package', 'package.json'))) {
    packageDir = path.join(packageDir, 'package');
  }
  if (!fs.existsSync(path.join(packageDir, 'package.json'))) {
    console.error(`convert.js: FHIR package not found at ${packageDir}`);
    process.exit(1);
  }

  let files;
  if (opts.files) {
    files = fs.readFileSync(opts.files, 'utf8').split(/\r?\n/).filter((l) => l.length > 0)
      .map((l) => (path.isAbsolute(l) ? l : path.join(packageDir, l)));
  } else {
    files = selectFiles(packageDir);
  }
  if (opts.listOut) fs.writeFileSync(opts.listOut, files.map((f) => `${f}\n`).join(''));
  if (opts.listOnly) {
    console.log(`convert.js: ${files.length} clinical examples listed in ${opts.listOut || '(nowhere)'}`);
    return;
  }

  const texts = files.map((f) => fs.readFileSync(f, 'utf8'));
  const bytes = files.reduce((n, f) => n + fs.statSync(f).size, 0);

  const { Fhir } = require('fhir');
  const version = require('fhir/package.json').version;
  let t0 = process.hrtime.bigint();
  const fhir = new Fhir();
  const constructMs = Number(process.hrtime.bigint() - t0) / 1e6;

  // Two ways to call it, both timed:
  //  reuse     one `new Fhir()` made before timing, then fhir.jsonToXml(text) per file:
  //            the library at its best, the figure the speed-up is computed against;
  //  per_call  `new Fhir().jsonToXml(text)` per file, as a one-off script writes it.
  const failures = [];
  const convertAll = (perCall) => {
    let outChars = 0;
    for (let i = 0; i < texts.length; i++) {
      try {
        outChars += (perCall ? new Fhir() : fhir).jsonToXml(texts[i]).length;
      } catch (e) {
        failures.push(`${path.basename(files[i])}: ${e.message}`);
      }
    }
    return outChars;
  };
  const measure = (perCall) => {
    for (let i = 0; i < opts.warmup; i++) convertAll(perCall);
    const passes = [];
    let outChars = 0;
    for (let i = 0; i < opts.repeat; i++) {
      const start = process.hrtime.bigint();
      outChars = convertAll(perCall);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      passes.push(bytes / 1e6 / seconds);
    }
    if (failures.length > 0) {
      // Every file must convert: a failure would make the byte count a lie.
      console.error(`convert.js: ${failures.length} conversions failed, e.g.:\n  ` +
                    failures.slice(0, 10).join('\n  '));
      process.exit(1);
    }
    return {
      passes_mbps: passes,
      mbps_median: median(passes),
      mbps_best: Math.max(...passes),
      xml_output_chars: outChars,
    };
  };
  const reuse = measure(false);
  const perCall = measure(true);

  const result = {
    library: 'fhir',
    version,
    node: process.version,
    files: files.length,
    bytes,
    construct_ms: constructMs,
    warmup_passes: opts.warmup,
    timed_passes: opts.repeat,
    reuse,
    per_call: perCall,
  };
  const fmt = (xs) => xs.map((x) => x.toFixed(2)).join(' ');
  console.log(`npm fhir ${version} on node ${process.version}: ${files.length} files, ` +
              `${(bytes / 1e6).toFixed(2)} MB JSON; new Fhir() took ${constructMs.toFixed(0)} ms`);
  console.log(`  reuse    (one Fhir, fhir.jsonToXml(text)):  median ${reuse.mbps_median.toFixed(2)} ` +
              `MB/s, best ${reuse.mbps_best.toFixed(2)}; passes ${fmt(reuse.passes_mbps)}`);
  console.log(`  per_call (new Fhir().jsonToXml(text)):      median ${perCall.mbps_median.toFixed(2)} ` +
              `MB/s, best ${perCall.mbps_best.toFixed(2)}; passes ${fmt(perCall.passes_mbps)}`);
  if (opts.jsonOut) fs.writeFileSync(opts.jsonOut, `${JSON.stringify(result, null, 2)}\n`);
}

main();
