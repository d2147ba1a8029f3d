// FHIRPath evaluations per second (fhir/fhirpath.h) on examples of the FHIR R4 core
// package, compared with the npm library fhirpath (fhirpath.js) by
// bench/run-fhirpath-bench.sh.
//
// The cases (name, example file, expression) come from bench/npm-fhirpath/cases.json,
// the file the npm side (bench/npm-fhirpath/bench.js) reads too, so both evaluate the
// same expressions on the same resources: $HOA_FHIRPATH_CASES, else the cases.json beside
// this source file. The package: $HOA_FHIR_PACKAGE_DIR, else
// Registry::defaultCorePackageDir().
//
// Before the first timed loop (lazily, outside any timing): the definitions are loaded,
// every example is parsed once, every expression compiled once (CompileOptions.focusType =
// the resource's type) and evaluated once to check that it works and to record its
// result. One timed iteration = one Evaluator::run() with the resource root as focus (and
// %resource), the reusable API a validator uses in its loop; items_per_second = evaluations per
// second of wall-clock time (UseRealTime: the npm side measures wall-clock time too, so
// both are measured alike on a shared machine). Cases with "focus": "each-element" (C++ only) evaluate once per element of
// the resource, each element as the focus: one iteration = one pass over all elements.
//
// The label says the file and the result ("5 results", "1 result = true") so that the
// summary can check both sides agree. Every benchmark runs on one thread. See
// docs/benchmarks.md.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "bench/bench_support.h"
#include "fhir/definitions.h"
#include "fhir/element.h"
#include "fhir/fhirpath.h"
#include "fhir/format.h"
#include "fhir/json.h"

namespace {

namespace fs = std::filesystem;
namespace fp = hoa::fhir::fhirpath;
using hoa::fhir::Registry;


struct CaseDef {
  std::string name, file, expression;
  bool eachElement = false;
};

struct CaseList {
  fs::path path;
  std::vector<CaseDef> cases;
  std::string error;
};

fs::path casesPath() {
  const char* env = std::getenv("HOA_FHIRPATH_CASES");
  if (env && *env) return env;
  return fs::path(__FILE__).parent_path() / "npm-fhirpath" / "cases.json";
}

// Read at static initialization: the benchmarks are registered from it.
CaseList readCases() {
  CaseList l;
  l.path = casesPath();
  std::string text;
  if (!hoa::bench::readFile(l.path, text)) {
    l.error = "cannot read the cases file " + l.path.string() + " (set HOA_FHIRPATH_CASES)";
    return l;
  }
  hoa::json::Error err;
  hoa::json::Document doc = hoa::json::Document::parse(std::move(text), err);
  const hoa::json::Value* cases = doc.root() ? doc.root()->find("cases") : nullptr;
  if (err || !cases || !cases->isArray()) {
    l.error = l.path.string() + ": not a JSON object with a cases array " + err.message;
    return l;
  }
  for (const hoa::json::Value* c : *cases) {
    CaseDef d;
    d.name = c->getString("name");
    d.file = c->getString("file");
    d.expression = c->getString("expression");
    d.eachElement = c->getString("focus") == "each-element";
    if (d.name.empty() || d.file.empty() || d.expression.empty()) {
      l.error = l.path.string() + ": a case needs name, file and expression";
      return l;
    }
    l.cases.push_back(std::move(d));
  }
  return l;
}

const CaseList& caseList() {
  static const CaseList l = readCases();
  return l;
}

struct Prepared {
  const hoa::fhir::Node* root = nullptr;
  std::vector<const hoa::fhir::Node*> elements;  // each-element cases: root and descendants
  fp::ExpressionPtr expr;
  fp::Environment env;
  std::string label;
  double results = 0;
  std::string error;  // non-empty: this case cannot run
};

struct Context {
  std::unique_ptr<Registry> registry;
  std::map<std::string, hoa::fhir::Document> docs;  // by file name
  std::vector<Prepared> cases;                       // parallel to caseList().cases
  std::string error;                                 // non-empty: nothing can run
};

void collect(const hoa::fhir::Node* n, std::vector<const hoa::fhir::Node*>& out) {
  out.push_back(n);
  for (const hoa::fhir::Node* c : n->children) collect(c, out);
}

std::string describe(const fp::Result& r) {
  std::string s = std::to_string(r.items.size()) + (r.items.size() == 1 ? " result" : " results");
  if (r.items.size() == 1 && (!r.items[0].isNode() || r.items[0].node()->isPrimitive()))
    s += " = " + r.items[0].toString();
  return s;
}

void prepare(Context& c, const CaseDef& def, Prepared& p) {
  auto it = c.docs.find(def.file);
  if (it == c.docs.end()) {
    fs::path dir = [] {
      const char* env = std::getenv("HOA_FHIR_PACKAGE_DIR");
      return env && *env ? fs::path(env) : Registry::defaultCorePackageDir();
    }();
    std::string text;
    if (!hoa::bench::readFile(dir / def.file, text)) {
      p.error = "cannot read " + (dir / def.file).string();
      return;
    }
    hoa::fhir::ParseResult r = hoa::fhir::parse(*c.registry, std::move(text));
    if (!r.ok()) {
      p.error = def.file + " does not parse: " +
                (r.issues.empty() ? std::string("?") : r.issues.items[0].toString());
      return;
    }
    it = c.docs.emplace(def.file, std::move(r.doc)).first;
  }
  p.root = it->second.root();
  fp::CompileOptions options;
  if (!def.eachElement) options.focusType = p.root->type;
  fp::CompileError cerr;
  p.expr = fp::compile(*c.registry, def.expression, cerr, options);
  if (!p.expr) {
    p.error = "does not compile: " + cerr.toString();
    return;
  }
  p.env.resource = p.root;
  if (def.eachElement) {
    collect(p.root, p.elements);
    size_t trues = 0;
    for (const hoa::fhir::Node* n : p.elements) {
      fp::Result r = fp::evaluate(*p.expr, n, p.env);
      if (!r.ok()) {
        p.error = "evaluation failed on a " + std::string(n->type->name) + ": " + r.error;
        return;
      }
      trues += r.items.size() == 1 && r.items[0].kind() == fp::ItemKind::Boolean &&
               r.items[0].boolean();
    }
    p.results = static_cast<double>(p.elements.size());
    p.label = def.file + ": " + std::to_string(p.elements.size()) + " elements, " +
              std::to_string(trues) + " true";
    return;
  }
  fp::Result r = fp::evaluate(*p.expr, p.root, p.env);
  if (!r.ok()) {
    p.error = "evaluation failed: " + r.error;
    return;
  }
  p.results = static_cast<double>(r.items.size());
  p.label = def.file + ": " + describe(r);
}

Context buildContext() {
  Context c;
  const CaseList& list = caseList();
  if (!list.error.empty()) {
    c.error = list.error;
    return c;
  }
  const char* pkgEnv = std::getenv("HOA_FHIR_PACKAGE_DIR");
  fs::path dir = pkgEnv && *pkgEnv ? fs::path(pkgEnv) : Registry::defaultCorePackageDir();
  c.registry = std::make_unique<Registry>();
  if (!c.registry->loadPackage(dir, c.error)) return c;
  c.cases.resize(list.cases.size());
  for (size_t i = 0; i < list.cases.size(); ++i) {
    prepare(c, list.cases[i], c.cases[i]);
    if (!c.cases[i].error.empty())
      std::fprintf(stderr, "fhirpath_bench: %s: %s\n", list.cases[i].name.c_str(),
                   c.cases[i].error.c_str());
  }
  std::fprintf(stderr, "fhirpath_bench: %zu cases from %s, package %s\n", list.cases.size(),
               list.path.c_str(), dir.c_str());
  return c;
}

const Context& context() {
  static const Context c = buildContext();
  return c;
}

void runCase(benchmark::State& state, size_t index) {
  const Context& c = context();
  if (!c.error.empty()) {
    state.SkipWithError(c.error.c_str());
    return;
  }
  const Prepared& p = c.cases[index];
  if (!p.error.empty()) {
    state.SkipWithError(p.error.c_str());
    return;
  }
  // One Evaluator per run, as a validator or indexer keeps one per thread: each run() is a
  // full evaluation whose results stay valid until the next.
  fp::Evaluator evaluator;
  if (!p.elements.empty()) {
    for (auto _ : state) {
      for (const hoa::fhir::Node* n : p.elements) {
        evaluator.run(*p.expr, n, p.env);
        benchmark::DoNotOptimize(evaluator.items().data());
      }
    }
  } else {
    for (auto _ : state) {
      evaluator.run(*p.expr, p.root, p.env);
      benchmark::DoNotOptimize(evaluator.items().data());
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["results"] = p.results;
  state.SetLabel(p.label);
}

void failCases(benchmark::State& state) { state.SkipWithError(caseList().error.c_str()); }

// Names: bench/run-fhirpath-bench.sh selects these with --benchmark_filter=^fhirpath/.
[[maybe_unused]] const int registered = [] {
  const CaseList& list = caseList();
  if (!list.error.empty()) {
    benchmark::RegisterBenchmark("fhirpath/cases", failCases);
    return 0;
  }
  for (size_t i = 0; i < list.cases.size(); ++i) {
    benchmark::RegisterBenchmark(("fhirpath/" + list.cases[i].name).c_str(),
                                 [i](benchmark::State& state) { runCase(state, i); })
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
  }
  return 0;
}();

}  // namespace
