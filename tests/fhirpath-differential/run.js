#!/usr/bin/env node
// Differential test: evaluates every expression of cases.txt with our engine (the
// `fhir-gateway fhirpath` CLI) and with fhirpath.js, normalises both results and writes
// a report of every disagreement. See README.md.
//
//   node tests/fhirpath-differential/run.js [--cli PATH] [--fhirpath DIR] [--out FILE]
//                                          [--json FILE] [--filter SUBSTRING]
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const HERE = __dirname;
const ROOT = path.resolve(HERE, '..', '..');

function argValue(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const CLI = argValue('--cli', path.join(ROOT, 'build', 'gateway', 'fhir-gateway'));
const FHIRPATH_DIR = argValue('--fhirpath', path.join(ROOT, 'bench', 'npm-fhirpath', 'node_modules', 'fhirpath'));
const OUT = argValue('--out', path.join(HERE, 'report.md'));
const JSON_OUT = argValue('--json', path.join(ROOT, 'build', 'fhirpath-differential', 'results.json'));
const FILTER = argValue('--filter', null);
const EXAMPLES = path.join(os.homedir(), '.fhir', 'packages', 'hl7.fhir.r4.examples#4.0.1', 'package');

// fhirpath.js resolve() fetches absolute and relative references over HTTP. The
// comparison must not depend on the network: every fetch fails at once.
globalThis.fetch = () => Promise.reject(new Error('network disabled in the differential test'));

const fhirpath = require(FHIRPATH_DIR);
const r4model = require(path.join(FHIRPATH_DIR, 'fhir-context', 'r4'));

// ---------------------------------------------------------------------------------
// cases.txt

function readCases(file) {
  const groups = [];
  let current = null;
  fs.readFileSync(file, 'utf8').split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#')) return;
    const m = /^==\s*(.+?)\s*$/.exec(line);
    if (m) {
      current = { input: m[1], cases: [] };
      groups.push(current);
      return;
    }
    if (!current) throw new Error(`${file}:${i + 1}: expression before the first "== input" line`);
    current.cases.push({ expr: line, line: i + 1 });
  });
  return groups;
}

function inputPath(input) {
  if (input === 'none') return null;
  const local = path.join(HERE, input);
  if (fs.existsSync(local)) return local;
  const pkg = path.join(EXAMPLES, input);
  if (fs.existsSync(pkg)) return pkg;
  throw new Error(`input not found: ${input} (looked in ${HERE} and ${EXAMPLES})`);
}

// triage.tsv: input <TAB> expression <TAB> category <TAB> note (one line per triaged
// disagreement; see README.md for the categories).
function readTriage(file) {
  const map = new Map();
  if (!fs.existsSync(file)) return map;
  fs.readFileSync(file, 'utf8').split('\n').forEach((raw) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#')) return;
    const [input, expr, category, ...rest] = line.split('\t');
    map.set(`${input}\t${expr}`, { category, note: rest.join('\t') });
  });
  return map;
}

// ---------------------------------------------------------------------------------
// Our engine: the CLI, many expressions per call.

function runCliBatch(file, exprs) {
  const args = ['fhirpath'];
  if (file) args.push('--input', file);
  args.push('--', ...exprs);
  const r = spawnSync(CLI, args, { encoding: 'utf8', timeout: 120000, maxBuffer: 256 * 1024 * 1024 });
  const lines = (r.stdout || '').split('\n').filter((l) => l.length > 0);
  if (r.error || r.signal || lines.length !== exprs.length) {
    return null;
  }
  return lines.map((l) => JSON.parse(l));
}

function runCli(file, exprs) {
  const batch = runCliBatch(file, exprs);
  if (batch) return batch;
  // A crash or a missing line: evaluate one by one to isolate the culprit.
  return exprs.map((e) => {
    const one = runCliBatch(file, [e]);
    if (one) return one[0];
    const r = spawnSync(CLI, ['fhirpath', ...(file ? ['--input', file] : []), '--', e],
      { encoding: 'utf8', timeout: 30000 });
    return { error: `CLI failed: signal=${r.signal} status=${r.status} stderr=${(r.stderr || '').trim()}`, crash: true };
  });
}

// ---------------------------------------------------------------------------------
// fhirpath.js

const ENV_STATIC = {
  sct: 'http://snomed.info/sct',
  loinc: 'http://loinc.org',
  'vs-administrative-gender': 'http://hl7.org/fhir/ValueSet/administrative-gender',
  'ext-patient-birthTime': 'http://hl7.org/fhir/StructureDefinition/patient-birthTime',
  'ext-patient-birthPlace': 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace',
};

async function runFhirpathJs(resourceJson, expr) {
  const resource = resourceJson ? JSON.parse(resourceJson) : {};
  const env = { ...ENV_STATIC };
  if (resourceJson) {
    env.resource = JSON.parse(resourceJson);
    env.rootResource = JSON.parse(resourceJson);
  }
  const options = { resolveInternalTypes: false, async: true, preciseMath: true, traceFn: () => {} };
  try {
    let timer;
    const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('timeout')), 10000); });
    let res;
    try {
      res = await Promise.race([fhirpath.evaluate(resource, expr, env, r4model, options), timeout]);
    } finally {
      clearTimeout(timer);
    }
    let types;
    try {
      types = fhirpath.types(res);
    } catch (e) {
      types = res.map(() => '?');
    }
    const values = fhirpath.resolveInternalTypes(res);
    return values.map((v, i) => ({ type: types[i], value: v }));
  } catch (e) {
    return { error: String(e && e.message ? e.message : e) };
  }
}

// ---------------------------------------------------------------------------------
// Normalisation

const NUMERIC_TYPES = new Set(['integer', 'decimal', 'unsignedInt', 'positiveInt', 'integer64', 'long']);

function canonNumber(s) {
  let t = String(s).trim();
  if (!/^[+-]?\d+(\.\d+)?$/.test(t)) return t;
  let neg = t.startsWith('-');
  t = t.replace(/^[+-]/, '');
  let [int, frac = ''] = t.split('.');
  int = int.replace(/^0+(?=\d)/, '');
  frac = frac.replace(/0+$/, '');
  const out = frac ? `${int}.${frac}` : int;
  if (out === '0') neg = false;
  return (neg ? '-' : '') + out;
}

function canonQuantityString(s) {
  const m = /^([+-]?\d+(?:\.\d+)?)\s*(.*)$/.exec(s);
  if (!m) return s;
  return `${canonNumber(m[1])} ${m[2]}`;
}

function sortedJson(v) {
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${sortedJson(v[k])}`).join(',')}}`;
  }
  if (typeof v === 'number') return canonNumber(numberToPlain(v));
  return JSON.stringify(v);
}

function numberToPlain(n) {
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return String(n);
  const s = String(n);
  if (!/e/i.test(s)) return s;
  // Expand exponent notation.
  return n.toFixed(20).replace(/0+$/, '').replace(/\.$/, '');
}

// Our item -> {v: canonical value string, t: type name}
function normOurs(item) {
  const { type, value } = item;
  if (value && typeof value === 'object') return { v: sortedJson(value), t: type, num: null };
  if (NUMERIC_TYPES.has(type)) return { v: canonNumber(value), t: type, num: Number(value) };
  if (type === 'Quantity') return { v: canonQuantityString(value), t: type, num: null };
  return { v: String(value), t: type, num: null };
}

const SYSTEM_TYPE_MAP = {
  'System.Boolean': 'boolean', 'System.String': 'string', 'System.Integer': 'integer',
  'System.Decimal': 'decimal', 'System.Date': 'date', 'System.DateTime': 'dateTime',
  'System.Time': 'time', 'System.Quantity': 'Quantity', 'System.Long': 'long',
};

function normJs(item) {
  const { type, value } = item;
  let t = SYSTEM_TYPE_MAP[type] || (type && type.startsWith('FHIR.') ? type.slice(5) : null);
  if (typeof value === 'number') return { v: canonNumber(numberToPlain(value)), t, num: value };
  if (typeof value === 'boolean') return { v: String(value), t, num: null };
  if (typeof value === 'string') {
    if (t === 'Quantity') return { v: canonQuantityString(value), t, num: null };
    if (t && NUMERIC_TYPES.has(t)) return { v: canonNumber(value), t, num: Number(value) };
    return { v: value, t, num: null };
  }
  if (value && typeof value === 'object') {
    // TypeInfo objects ({name, namespace}) compare as JSON like ours.
    return { v: sortedJson(value), t: t || null, num: null };
  }
  return { v: String(value), t, num: null };
}

function compare(ours, js) {
  const oErr = !Array.isArray(ours);
  const jErr = !Array.isArray(js);
  if (oErr && jErr) return { same: true, kind: 'both-error' };
  if (oErr) return { same: false, kind: ours.crash ? 'CRASH' : 'ours-error' };
  if (jErr) return { same: false, kind: 'js-error' };
  const o = ours.map(normOurs);
  const j = js.map(normJs);
  const ov = o.map((x) => x.v);
  const jv = j.map((x) => x.v);
  if (ov.length === jv.length && ov.every((v, i) => v === jv[i])) {
    const typeDiff = o.some((x, i) => j[i].t && x.t && x.t !== j[i].t);
    return typeDiff ? { same: false, kind: 'type-only' } : { same: true, kind: 'same' };
  }
  if (ov.length === jv.length && [...ov].sort().join('\u0000') === [...jv].sort().join('\u0000')) {
    return { same: false, kind: 'order-only' };
  }
  if (ov.length === jv.length && o.every((x, i) => x.num !== null && j[i].num !== null &&
      Math.abs(x.num - j[i].num) <= 1e-7 * Math.max(1, Math.abs(x.num)))) {
    return { same: false, kind: 'precision-only' };
  }
  if (ov.length === 0 || jv.length === 0) return { same: false, kind: 'empty-vs-value' };
  return { same: false, kind: 'value' };
}

function show(result) {
  if (!Array.isArray(result)) return `ERROR: ${result.error}`;
  if (result.length === 0) return '{ }';
  return result.map((it) => {
    const v = typeof it.value === 'object' && it.value !== null ? JSON.stringify(it.value) : String(it.value);
    const short = v.length > 160 ? `${v.slice(0, 157)}...` : v;
    return `${short} (${it.type})`;
  }).join(', ');
}

function mdEscape(s) {
  return String(s).replace(/\|/g, '\\|').replace(/\n/g, '\\n');
}

// ---------------------------------------------------------------------------------

async function main() {
  if (!fs.existsSync(CLI)) {
    console.error(`CLI not found: ${CLI} (build it: cmake --build build -j2)`);
    process.exit(2);
  }
  const groups = readCases(path.join(HERE, 'cases.txt'));
  const triage = readTriage(path.join(HERE, 'triage.tsv'));
  const results = [];
  for (const g of groups) {
    const file = inputPath(g.input);
    const cases = FILTER ? g.cases.filter((c) => c.expr.includes(FILTER)) : g.cases;
    if (cases.length === 0) continue;
    const resourceJson = file ? fs.readFileSync(file, 'utf8') : null;
    const ours = runCli(file, cases.map((c) => c.expr));
    for (let i = 0; i < cases.length; ++i) {
      const js = await runFhirpathJs(resourceJson, cases[i].expr);
      const cmp = compare(ours[i], js);
      const t = triage.get(`${g.input}\t${cases[i].expr}`);
      results.push({ input: g.input, line: cases[i].line, expr: cases[i].expr, ours: ours[i], js, ...cmp,
        category: t ? t.category : null, note: t ? t.note : null });
    }
  }

  fs.mkdirSync(path.dirname(JSON_OUT), { recursive: true });
  fs.writeFileSync(JSON_OUT, JSON.stringify(results, null, 1));

  const diffs = results.filter((r) => !r.same);
  const byKind = {};
  for (const r of diffs) byKind[r.kind] = (byKind[r.kind] || 0) + 1;
  const byCat = {};
  for (const r of diffs) byCat[r.category || 'untriaged'] = (byCat[r.category || 'untriaged'] || 0) + 1;

  const out = [];
  out.push('# FHIRPath differential report');
  out.push('');
  const head = spawnSync('git', ['-C', ROOT, 'log', '-1', '--format=%h %ci'], { encoding: 'utf8' }).stdout.trim();
  out.push(`Generated by \`node tests/fhirpath-differential/run.js\`: our engine (\`${path.relative(ROOT, CLI)}\`, ` +
    `checkout at ${head || 'unknown commit'}) ` +
    `against fhirpath.js ${fhirpath.version} (preciseMath, R4 model). ${results.length} expressions on ` +
    `${groups.length} inputs; ${diffs.length} disagreements.`);
  out.push('');
  out.push('Categories (triage.tsv): **a** our engine wrong, **b** fhirpath.js wrong / deviates from the ' +
    'specification, **c** unspecified or both acceptable, **d** normalisation artefact of this runner.');
  out.push('');
  out.push('| kind | count |');
  out.push('|---|---|');
  for (const k of Object.keys(byKind).sort()) out.push(`| ${k} | ${byKind[k]} |`);
  out.push('');
  out.push('| category | count |');
  out.push('|---|---|');
  for (const k of Object.keys(byCat).sort()) out.push(`| ${k} | ${byCat[k]} |`);
  out.push('');
  let lastInput = null;
  for (const r of diffs) {
    if (r.input !== lastInput) {
      out.push('');
      out.push(`## ${r.input}`);
      out.push('');
      out.push('| line | expression | ours | fhirpath.js | kind | cat | note |');
      out.push('|---|---|---|---|---|---|---|');
      lastInput = r.input;
    }
    out.push(`| ${r.line} | \`${mdEscape(r.expr)}\` | ${mdEscape(show(r.ours))} | ${mdEscape(show(r.js))} | ` +
      `${r.kind} | ${r.category || '?'} | ${mdEscape(r.note || '')} |`);
  }
  out.push('');
  fs.writeFileSync(OUT, out.join('\n'));
  console.log(`${results.length} expressions, ${diffs.length} disagreements ` +
    `(${Object.entries(byKind).map(([k, v]) => `${k} ${v}`).join(', ')}); ` +
    `untriaged ${byCat.untriaged || 0}. Report: ${path.relative(process.cwd(), OUT)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
