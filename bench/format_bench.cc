// Throughput of the FHIR JSON and XML formats (fhir/format.h) over the clinical examples
// of the FHIR R4 core package, and the time to load the definitions.
//
// Inputs (loaded once per process, before the first benchmark runs):
//  - the package: $HOA_FHIR_PACKAGE_DIR, else Registry::defaultCorePackageDir();
//  - the example files: the list in the file named by $HOA_BENCH_FILES (one path per
//    line, as bench/npm-fhir/convert.js --list-out writes it, so that this benchmark and
//    the npm comparison read exactly the same files), else the built-in rule below;
//  - the XML twins: every example converted to XML by this library (pretty-printed, as
//    the package JSON is pretty-printed and as FHIR publishes its XML examples).
//
// The selection rule ("clinical examples"), identical in bench/npm-fhir/convert.js:
//  every *.json file of the package folder except package.json and dot-files, whose
//  resourceType is not a conformance resource type (bench/bench_support.cc); a Bundle
//  is excluded when more than half of its entries hold a conformance resource.
//
// Throughput is bytes per second (state.SetBytesProcessed):
//  - parse benchmarks count the input bytes;
//  - serialize benchmarks count the output bytes (compact output, the default);
//  - the JSON→XML conversion counts the JSON input bytes (as the npm comparison does).
// Every benchmark runs on one thread. See docs/benchmarks.md and bench/run-format-bench.sh.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "bench/bench_support.h"
#include "fhir/definitions.h"
#include "fhir/format.h"
#include "fhir/json.h"

namespace {

namespace fs = std::filesystem;
using hoa::fhir::Registry;


// The single referral-sized resource for the latency benchmarks.
constexpr std::string_view kReferralFile = "ServiceRequest-physiotherapy.json";


struct Example {
  std::string name;  // file name
  std::string json;  // the package file, as is
  std::string xml;   // its XML twin (pretty)
  hoa::fhir::Document doc;  // parsed once, for the serialize benchmarks
};

struct Corpus {
  fs::path packageDir;
  std::string listSource;  // where the file list came from
  std::unique_ptr<Registry> registry;
  std::vector<Example> examples;
  Example referral;
  int64_t jsonBytes = 0, xmlBytes = 0, jsonOutBytes = 0, xmlOutBytes = 0;
  std::string error;  // non-empty: the inputs could not be prepared
};


bool prepare(const Registry& reg, const fs::path& file, Example& ex, std::string& error) {
  ex.name = file.filename().string();
  if (!hoa::bench::readFile(file, ex.json)) {
    error = "cannot read " + file.string();
    return false;
  }
  hoa::fhir::ParseResult r = hoa::fhir::parseJson(reg, ex.json);
  if (!r.ok()) {
    error = ex.name + " does not parse: " +
            (r.issues.empty() ? std::string("?") : r.issues.items[0].toString());
    return false;
  }
  hoa::fhir::Issues wi;
  if (!hoa::fhir::writeXml(*r.doc.root(), ex.xml, wi, {.pretty = true})) {
    error = ex.name + ": cannot write XML: " + wi.items[0].toString();
    return false;
  }
  hoa::fhir::ParseResult back = hoa::fhir::parseXml(reg, ex.xml);
  if (!back.ok()) {
    error = ex.name + ": its XML twin does not parse: " +
            (back.issues.empty() ? std::string("?") : back.issues.items[0].toString());
    return false;
  }
  ex.doc = std::move(r.doc);
  return true;
}

Corpus buildCorpus() {
  Corpus c;
  const char* pkgEnv = std::getenv("HOA_FHIR_PACKAGE_DIR");
  c.packageDir = pkgEnv && *pkgEnv ? fs::path(pkgEnv) : Registry::defaultCorePackageDir();
  if (!fs::exists(c.packageDir / "package.json") &&
      fs::exists(c.packageDir / "package" / "package.json"))
    c.packageDir /= "package";
  if (!fs::exists(c.packageDir / "package.json")) {
    c.error = "FHIR package not found at " + c.packageDir.string() +
              " (run ./dev setup, or set HOA_FHIR_PACKAGE_DIR)";
    return c;
  }
  c.registry = std::make_unique<Registry>();
  if (!c.registry->loadPackage(c.packageDir, c.error)) return c;

  std::vector<fs::path> files;
  const char* listEnv = std::getenv("HOA_BENCH_FILES");
  if (listEnv && *listEnv) {
    c.listSource = std::string("HOA_BENCH_FILES=") + listEnv;
    std::ifstream in(listEnv);
    if (!in) {
      c.error = std::string("cannot read the file list ") + listEnv;
      return c;
    }
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      fs::path p(line);
      files.push_back(p.is_absolute() ? p : c.packageDir / p);
    }
    // Cross-check: the list should name the files the built-in rule selects.
    std::vector<fs::path> own = hoa::bench::clinicalExamples(c.packageDir, c.error);
    if (!c.error.empty()) return c;
    auto names = [](const std::vector<fs::path>& paths) {
      std::vector<std::string> n;
      for (const fs::path& p : paths) n.push_back(p.filename().string());
      std::sort(n.begin(), n.end());
      return n;
    };
    c.listSource += names(files) == names(own) ? ", same as the built-in rule"
                                               : ", DIFFERENT from the built-in rule (" +
                                                     std::to_string(own.size()) + " files)";
  } else {
    c.listSource = "built-in rule";
    files = hoa::bench::clinicalExamples(c.packageDir, c.error);
    if (!c.error.empty()) return c;
  }
  if (files.empty()) {
    c.error = "no example files selected (" + c.listSource + ")";
    return c;
  }
  c.examples.resize(files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    Example& ex = c.examples[i];
    if (!prepare(*c.registry, files[i], ex, c.error)) return c;
    c.jsonBytes += static_cast<int64_t>(ex.json.size());
    c.xmlBytes += static_cast<int64_t>(ex.xml.size());
    c.jsonOutBytes += static_cast<int64_t>(hoa::fhir::writeJson(*ex.doc.root()).size());
    std::string xml;
    hoa::fhir::Issues wi;
    hoa::fhir::writeXml(*ex.doc.root(), xml, wi);
    c.xmlOutBytes += static_cast<int64_t>(xml.size());
  }
  if (!prepare(*c.registry, c.packageDir / kReferralFile, c.referral, c.error)) return c;
  std::fprintf(stderr,
               "format_bench: %zu clinical examples from %s (%s): JSON %.2f MB, XML twins "
               "%.2f MB; compact output JSON %.2f MB, XML %.2f MB\n",
               c.examples.size(), c.packageDir.c_str(), c.listSource.c_str(),
               static_cast<double>(c.jsonBytes) / 1e6, static_cast<double>(c.xmlBytes) / 1e6,
               static_cast<double>(c.jsonOutBytes) / 1e6,
               static_cast<double>(c.xmlOutBytes) / 1e6);
  return c;
}

// The inputs, built on first use (outside any timed region: the first benchmark calls
// this before its timing loop starts).
const Corpus& corpus() {
  static const Corpus c = buildCorpus();
  return c;
}

// Returns the corpus, or nullptr after marking the benchmark as failed.
const Corpus* inputsOrSkip(benchmark::State& state) {
  const Corpus& c = corpus();
  if (!c.error.empty()) {
    state.SkipWithError(c.error.c_str());
    return nullptr;
  }
  return &c;
}

void setLabel(benchmark::State& state, const Corpus& c) {
  state.SetLabel(std::to_string(c.examples.size()) + " files");
}

// --- the corpus ----------------------------------------------------------------------

void BM_ParseJson(benchmark::State& state) {
  const Corpus* c = inputsOrSkip(state);
  if (!c) return;
  for (auto _ : state) {
    for (const Example& ex : c->examples) {
      // parseJson takes the text by value: the copy (a memcpy) is part of the job.
      hoa::fhir::ParseResult r = hoa::fhir::parseJson(*c->registry, ex.json);
      benchmark::DoNotOptimize(r.doc.root());
    }
  }
  state.SetBytesProcessed(state.iterations() * c->jsonBytes);
  setLabel(state, *c);
}

void BM_ParseXml(benchmark::State& state) {
  const Corpus* c = inputsOrSkip(state);
  if (!c) return;
  for (auto _ : state) {
    for (const Example& ex : c->examples) {
      hoa::fhir::ParseResult r = hoa::fhir::parseXml(*c->registry, ex.xml);
      benchmark::DoNotOptimize(r.doc.root());
    }
  }
  state.SetBytesProcessed(state.iterations() * c->xmlBytes);
  setLabel(state, *c);
}

void BM_WriteJson(benchmark::State& state) {
  const Corpus* c = inputsOrSkip(state);
  if (!c) return;
  for (auto _ : state) {
    for (const Example& ex : c->examples) {
      std::string out = hoa::fhir::writeJson(*ex.doc.root());
      benchmark::DoNotOptimize(out.data());
    }
  }
  state.SetBytesProcessed(state.iterations() * c->jsonOutBytes);
  setLabel(state, *c);
}

void BM_WriteXml(benchmark::State& state) {
  const Corpus* c = inputsOrSkip(state);
  if (!c) return;
  for (auto _ : state) {
    for (const Example& ex : c->examples) {
      std::string out;
      hoa::fhir::Issues issues;
      bool ok = hoa::fhir::writeXml(*ex.doc.root(), out, issues);
      benchmark::DoNotOptimize(ok);
      benchmark::DoNotOptimize(out.data());
    }
  }
  state.SetBytesProcessed(state.iterations() * c->xmlOutBytes);
  setLabel(state, *c);
}

// The npm comparison's job: JSON text in, XML text out.
void BM_ConvertJsonToXml(benchmark::State& state) {
  const Corpus* c = inputsOrSkip(state);
  if (!c) return;
  for (auto _ : state) {
    for (const Example& ex : c->examples) {
      hoa::fhir::ParseResult r = hoa::fhir::parseJson(*c->registry, ex.json);
      std::string out;
      bool ok = r.doc.root() && hoa::fhir::writeXml(*r.doc.root(), out, r.issues);
      benchmark::DoNotOptimize(ok);
      benchmark::DoNotOptimize(out.data());
    }
  }
  state.SetBytesProcessed(state.iterations() * c->jsonBytes);
  setLabel(state, *c);
}

// --- one referral-sized resource (latency) -------------------------------------------

void BM_ReferralParseJson(benchmark::State& state) {
  const Corpus* c = inputsOrSkip(state);
  if (!c) return;
  for (auto _ : state) {
    hoa::fhir::ParseResult r = hoa::fhir::parseJson(*c->registry, c->referral.json);
    benchmark::DoNotOptimize(r.doc.root());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(c->referral.json.size()));
  state.SetLabel(c->referral.name);
}

void BM_ReferralParseXml(benchmark::State& state) {
  const Corpus* c = inputsOrSkip(state);
  if (!c) return;
  for (auto _ : state) {
    hoa::fhir::ParseResult r = hoa::fhir::parseXml(*c->registry, c->referral.xml);
    benchmark::DoNotOptimize(r.doc.root());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(c->referral.xml.size()));
  state.SetLabel(c->referral.name);
}

void BM_ReferralConvertJsonToXml(benchmark::State& state) {
  const Corpus* c = inputsOrSkip(state);
  if (!c) return;
  for (auto _ : state) {
    hoa::fhir::ParseResult r = hoa::fhir::parseJson(*c->registry, c->referral.json);
    std::string out;
    bool ok = r.doc.root() && hoa::fhir::writeXml(*r.doc.root(), out, r.issues);
    benchmark::DoNotOptimize(ok);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(c->referral.json.size()));
  state.SetLabel(c->referral.name);
}

// --- the definitions -----------------------------------------------------------------

// Registry::loadPackage of the whole core package: what a process pays at start-up.
// Reported as time per load; the bytes are those of the conformance files it reads.
void BM_LoadDefinitions(benchmark::State& state) {
  const Corpus* c = inputsOrSkip(state);
  if (!c) return;
  int64_t bytes = 0;
  size_t files = 0;
  for (auto _ : state) {
    Registry reg;
    std::string error;
    hoa::fhir::LoadStats stats;
    if (!reg.loadPackage(c->packageDir, error, &stats)) {
      state.SkipWithError(error.c_str());
      return;
    }
    bytes = static_cast<int64_t>(stats.bytes);
    files = stats.files;
    benchmark::DoNotOptimize(reg.structureDefinitionCount());
  }
  state.SetBytesProcessed(state.iterations() * bytes);
  state.SetLabel(std::to_string(files) + " files");
}

// Names: bench/run-format-bench.sh selects these with --benchmark_filter=^format/.
BENCHMARK(BM_ParseJson)->Name("format/json_parse")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ParseXml)->Name("format/xml_parse")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WriteJson)->Name("format/json_write")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WriteXml)->Name("format/xml_write")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ConvertJsonToXml)->Name("format/json_to_xml")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReferralParseJson)->Name("format/referral/json_parse")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ReferralParseXml)->Name("format/referral/xml_parse")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ReferralConvertJsonToXml)
    ->Name("format/referral/json_to_xml")
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LoadDefinitions)->Name("format/load_definitions")->Unit(benchmark::kMillisecond);

}  // namespace
