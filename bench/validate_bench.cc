// Validations per second of the validator (fhir/validator.h), compared with the npm
// library fhir (FHIR.js) by bench/run-validate-bench.sh.
//
// Inputs (loaded once per process, before the first timed loop):
//  - the package: $HOA_FHIR_PACKAGE_DIR, else Registry::defaultCorePackageDir();
//  - the example files: the list in the file named by $HOA_BENCH_FILES (one path per
//    line, as bench/npm-fhir/convert.js --list-out writes it, so that this benchmark, the
//    format benchmark and the npm comparison read exactly the same files), else the
//    selection rule of bench/format_bench.cc ("clinical examples", repeated below);
//  - the referral-sized Bundle: $HOA_VALIDATE_BUNDLE, else bench/data/referral-bundle.json
//    beside this source file (a transaction Bundle: ServiceRequest, Patient,
//    Practitioner, Organization, Condition, Observation; synthetic data).
//
// Every example and the Bundle are parsed once (parseJson) outside any timing; one
// Validator is made, and every input validated once before timing (compiled invariants
// and value set expansions are cached inside the Validator: the timed loops measure a
// warm validator, as a server sees it; validate/cold measures the first pass).
//
// Benchmarks (names: validate/...; wall-clock time, UseRealTime(), because the npm side
// measures wall-clock time too):
//  - validate/examples: one iteration = validate() of every parsed example;
//    items_per_second = resources per second, bytes_per_second = JSON input bytes;
//  - validate/referral/validate: validate() of the parsed Bundle;
//  - validate/referral/parse_validate: parseJson + validate() of the Bundle's text;
//  - validate/referral/parse: parseJson alone, for reference;
//  - validate/referral/validate_mt: validate() of the Bundle on every hardware thread at
//    once, one shared Validator (items_per_second summed over the threads);
//  - validate/cold: a new Validator, then validate() of every example once (what the
//    first requests of a process pay while the caches fill).
// The labels carry the issue counts (errors, warnings) so that the summary can show
// them. See docs/benchmarks.md.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "bench/bench_support.h"
#include "fhir/definitions.h"
#include "fhir/format.h"
#include "fhir/json.h"
#include "fhir/validator.h"

namespace {

namespace fs = std::filesystem;
using hoa::fhir::Issues;
using hoa::fhir::Registry;
using hoa::fhir::Severity;
using hoa::fhir::Validator;




struct Input {
  std::string name;  // file name
  std::string json;  // the file, as is
  hoa::fhir::Document doc;
};

// Issues of validate(), summed.
struct Tally {
  size_t errors = 0, warnings = 0, information = 0, invalid = 0;
  std::map<std::string, size_t> errorKinds;  // "code: message head" → count

  void add(const Issues& issues) {
    bool bad = false;
    for (const hoa::fhir::Issue& i : issues.items) {
      if (i.severity == Severity::Error || i.severity == Severity::Fatal) {
        ++errors;
        bad = true;
        // Group by the message up to its first quote or digit, so that one false positive
        // over many files shows as one line.
        std::string head = i.message.substr(0, i.message.find_first_of("'\"0123456789"));
        ++errorKinds[i.code + ": " + head.substr(0, 90)];
      } else if (i.severity == Severity::Warning) {
        ++warnings;
      } else {
        ++information;
      }
    }
    invalid += bad;
  }
  std::string label() const {
    return std::to_string(errors) + " errors, " + std::to_string(warnings) + " warnings";
  }
};

struct Corpus {
  fs::path packageDir;
  std::string listSource;
  std::unique_ptr<Registry> registry;
  std::unique_ptr<Validator> validator;
  std::vector<Input> examples;
  Input bundle;
  int64_t jsonBytes = 0;
  Tally examplesTally, bundleTally;
  std::string examplesLabel, bundleLabel;
  std::string error;  // non-empty: the inputs could not be prepared
};

bool load(const Registry& reg, const fs::path& file, Input& in, std::string& error) {
  in.name = file.filename().string();
  if (!hoa::bench::readFile(file, in.json)) {
    error = "cannot read " + file.string();
    return false;
  }
  hoa::fhir::ParseResult r = hoa::fhir::parseJson(reg, in.json);
  if (!r.ok()) {
    error = in.name + " does not parse: " +
            (r.issues.empty() ? std::string("?") : r.issues.items[0].toString());
    return false;
  }
  in.doc = std::move(r.doc);
  return true;
}

fs::path bundlePath() {
  const char* env = std::getenv("HOA_VALIDATE_BUNDLE");
  if (env && *env) return env;
  return fs::path(__FILE__).parent_path() / "data" / "referral-bundle.json";
}

fs::path packageDir() {
  const char* env = std::getenv("HOA_FHIR_PACKAGE_DIR");
  fs::path dir = env && *env ? fs::path(env) : Registry::defaultCorePackageDir();
  if (!fs::exists(dir / "package.json") && fs::exists(dir / "package" / "package.json"))
    dir /= "package";
  return dir;
}

Corpus buildCorpus() {
  Corpus c;
  c.packageDir = packageDir();
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
    if (!load(*c.registry, files[i], c.examples[i], c.error)) return c;
    c.jsonBytes += static_cast<int64_t>(c.examples[i].json.size());
  }
  if (!load(*c.registry, bundlePath(), c.bundle, c.error)) return c;

  // One validator for all benchmarks, warmed by one pass over everything.
  c.validator = std::make_unique<Validator>(*c.registry);
  for (const Input& ex : c.examples) c.examplesTally.add(c.validator->validate(*ex.doc.root()));
  Issues bundleIssues = c.validator->validate(*c.bundle.doc.root());
  c.bundleTally.add(bundleIssues);
  c.examplesLabel = std::to_string(c.examples.size()) + " files: " + c.examplesTally.label() +
                    " (" + std::to_string(c.examplesTally.invalid) + " files with errors)";
  c.bundleLabel = c.bundle.name + ", " + std::to_string(c.bundle.json.size()) +
                  " bytes: " + c.bundleTally.label();

  std::fprintf(stderr,
               "validate_bench: %zu clinical examples from %s (%s), %.2f MB JSON: %zu "
               "errors in %zu files, %zu warnings, %zu information\n",
               c.examples.size(), c.packageDir.c_str(), c.listSource.c_str(),
               static_cast<double>(c.jsonBytes) / 1e6, c.examplesTally.errors,
               c.examplesTally.invalid, c.examplesTally.warnings,
               c.examplesTally.information);
  std::vector<std::pair<size_t, std::string>> kinds;
  for (const auto& [k, n] : c.examplesTally.errorKinds) kinds.emplace_back(n, k);
  std::sort(kinds.begin(), kinds.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  for (size_t i = 0; i < kinds.size() && i < 15; ++i)
    std::fprintf(stderr, "  %6zu x %s\n", kinds[i].first, kinds[i].second.c_str());
  std::fprintf(stderr, "validate_bench: %s: %zu errors, %zu warnings, %zu information\n",
               bundlePath().c_str(), c.bundleTally.errors, c.bundleTally.warnings,
               c.bundleTally.information);
  for (const hoa::fhir::Issue& i : bundleIssues.items)
    std::fprintf(stderr, "  %s %s\n", std::string(hoa::fhir::severityCode(i.severity)).c_str(),
                 i.toString().c_str());
  return c;
}

const Corpus& corpus() {
  static const Corpus c = buildCorpus();
  return c;
}

const Corpus* inputsOrSkip(benchmark::State& state) {
  const Corpus& c = corpus();
  if (!c.error.empty()) {
    state.SkipWithError(c.error.c_str());
    return nullptr;
  }
  return &c;
}

// --- the examples --------------------------------------------------------------------

void BM_ValidateExamples(benchmark::State& state) {
  const Corpus* c = inputsOrSkip(state);
  if (!c) return;
  for (auto _ : state) {
    for (const Input& ex : c->examples) {
      Issues issues = c->validator->validate(*ex.doc.root());
      benchmark::DoNotOptimize(issues.items.data());
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(c->examples.size()));
  state.SetBytesProcessed(state.iterations() * c->jsonBytes);
  state.SetLabel(c->examplesLabel);
}

// A fresh Validator, then every example once: the caches fill during the pass.
void BM_ValidateCold(benchmark::State& state) {
  const Corpus* c = inputsOrSkip(state);
  if (!c) return;
  for (auto _ : state) {
    Validator v(*c->registry);
    for (const Input& ex : c->examples) {
      Issues issues = v.validate(*ex.doc.root());
      benchmark::DoNotOptimize(issues.items.data());
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(c->examples.size()));
  state.SetBytesProcessed(state.iterations() * c->jsonBytes);
  state.SetLabel(std::to_string(c->examples.size()) + " files, new Validator each pass");
}

// --- the referral-sized Bundle -------------------------------------------------------

void BM_ReferralValidate(benchmark::State& state) {
  const Corpus* c = inputsOrSkip(state);
  if (!c) return;
  const hoa::fhir::Node& root = *c->bundle.doc.root();
  for (auto _ : state) {
    Issues issues = c->validator->validate(root);
    benchmark::DoNotOptimize(issues.items.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(c->bundle.json.size()));
  state.SetLabel(c->bundleLabel);
}

void BM_ReferralParseValidate(benchmark::State& state) {
  const Corpus* c = inputsOrSkip(state);
  if (!c) return;
  for (auto _ : state) {
    // parseJson takes the text by value: the copy is part of the job, as in format_bench.
    hoa::fhir::ParseResult r = hoa::fhir::parseJson(*c->registry, c->bundle.json);
    Issues issues = c->validator->validate(*r.doc.root());
    benchmark::DoNotOptimize(issues.items.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(c->bundle.json.size()));
  state.SetLabel(c->bundleLabel);
}

void BM_ReferralParse(benchmark::State& state) {
  const Corpus* c = inputsOrSkip(state);
  if (!c) return;
  for (auto _ : state) {
    hoa::fhir::ParseResult r = hoa::fhir::parseJson(*c->registry, c->bundle.json);
    benchmark::DoNotOptimize(r.doc.root());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(c->bundle.json.size()));
  state.SetLabel(c->bundle.name);
}

int hardwareThreads() {
  unsigned n = std::thread::hardware_concurrency();
  return n < 2 ? 2 : static_cast<int>(n);
}

// Names: bench/run-validate-bench.sh selects these with --benchmark_filter=^validate/.
BENCHMARK(BM_ValidateExamples)->Name("validate/examples")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ReferralValidate)
    ->Name("validate/referral/validate")
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK(BM_ReferralParseValidate)
    ->Name("validate/referral/parse_validate")
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK(BM_ReferralParse)
    ->Name("validate/referral/parse")
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK(BM_ReferralValidate)
    ->Name("validate/referral/validate_mt")
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime()
    ->Threads(hardwareThreads());
BENCHMARK(BM_ValidateCold)->Name("validate/cold")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
