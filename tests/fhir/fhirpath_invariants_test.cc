// Acceptance: every invariant of the R4 core definitions holds on the examples of the R4
// package, evaluated by the FHIRPath engine the way a validator does, except where an
// example really breaks one (the list below, each checked in the example's JSON).
//
// Which invariants apply to a node (an element or resource of an example):
//   - the constraints of its element definition (ElementDef::definition, the snapshot
//     ElementDefinition of the type that holds the element), and for a contentReference
//     (Questionnaire.item.item) those of the element it refers to;
//   - the constraints of the root element of its type's StructureDefinition, for resources
//     (dom-2, …), data types (per-1 on Period, qty-3 on Quantity, ref-1 on Reference, …)
//     and primitives (ele-1); backbone elements have no type of their own.
// Each applies once per node (by key). Profiles play no part: only the core types' own
// snapshots are read.
//
// The environment (FHIR R4 fhirpath.html, "FHIR Specific Variables"): %resource is the
// nearest resource that holds the node; %rootResource is the resource that contains it
// when %resource is a contained resource, else %resource itself. A Bundle entry's (or a
// Parameters part's) resource is not contained, so it is its own %resource and
// %rootResource (ref-1 checks '#id' references against %rootResource.contained).
//
// Outcome: true passes, false fails, an evaluation error fails. An empty result passes:
// FHIRPath's boolean logic gives empty for "unknown" (comparing dates of different
// precision, for one), which says nothing against the data; the FHIR specification does
// not say otherwise. (The Java validator converts empty to false; the count of empty
// results is reported so the difference stays visible.) Invariants of severity "warning"
// (dom-6: should have a narrative, …) may be false on valid data: their false results
// are counted, not failures; their errors are failures.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fhir/definitions.h"
#include "fhir/element.h"
#include "fhir/fhirpath.h"
#include "fhir/format.h"
#include "fhir/json.h"
#include "fhir/validator.h"
#include "tests/test_env.h"

namespace hoa::testing {
namespace {
namespace fs = std::filesystem;
namespace fp = hoa::fhir::fhirpath;

// Examples that really break an invariant (or meet a broken one): (file, key, element
// path), and why. Each was checked in the example's JSON.
struct Exception {
  const char* file;
  const char* key;
  const char* path;
  const char* why;
};
constexpr const char* kEmptyNarrative =
    "text.div is only whitespace: breaks txt-2 (the narrative SHALL have some non-whitespace "
    "content); R4 gives txt-1 the same expression, htmlChecks(), so it fails too";
constexpr const char* kLogicalModel =
    "a logical model with abstract = false and no baseDefinition: breaks sdf-4";
const std::vector<Exception> kExceptions = {
    {"ActivityDefinition-blood-tubes-supply.json", "txt-1", "ActivityDefinition.text.div",
     kEmptyNarrative},
    {"ActivityDefinition-blood-tubes-supply.json", "txt-2", "ActivityDefinition.text.div",
     kEmptyNarrative},
    {"ActivityDefinition-heart-valve-replacement.json", "txt-1", "ActivityDefinition.text.div",
     kEmptyNarrative},
    {"ActivityDefinition-heart-valve-replacement.json", "txt-2", "ActivityDefinition.text.div",
     kEmptyNarrative},
    {"EventDefinition-example.json", "txt-1", "EventDefinition.text.div", kEmptyNarrative},
    {"EventDefinition-example.json", "txt-2", "EventDefinition.text.div", kEmptyNarrative},
    // The div holds only an empty <pre>.
    {"Questionnaire-zika-virus-exposure-assessment.json", "txt-1", "Questionnaire.text.div",
     kEmptyNarrative},
    {"Questionnaire-zika-virus-exposure-assessment.json", "txt-2", "Questionnaire.text.div",
     kEmptyNarrative},
    {"StructureDefinition-Definition.json", "sdf-4", "StructureDefinition", kLogicalModel},
    {"StructureDefinition-Event.json", "sdf-4", "StructureDefinition", kLogicalModel},
    {"StructureDefinition-FiveWs.json", "sdf-4", "StructureDefinition", kLogicalModel},
    {"StructureDefinition-Request.json", "sdf-4", "StructureDefinition", kLogicalModel},
    {"Bundle-dataelements.json", "bdl-7", "Bundle",
     "entries repeat fullUrls without a versionId (de-Quantity.value, .comparator, .unit, "
     ".system, .code three times each, …): breaks bdl-7"},
    {"Questionnaire-bb.json", "que-7",
     "Questionnaire.item[0].item[1].item[2].item[0].enableWhen[0]",
     "R4's que-7 is wrong: 'answer is Boolean' asks for System.Boolean, but answerBoolean is a "
     "FHIR.boolean (suite test testType12); later versions read 'answer is boolean'. The "
     "example (operator exists, answerBoolean true) is right"},
};

// Invariants whose expression is wrong for the type that carries them in R4: compiled
// without a focus type (evaluated as the FHIR validator does, where the unknown element is
// empty), so the strict type check does not reject them.
struct UntypedInvariant {
  const char* type;
  const char* key;
  const char* why;
};
const UntypedInvariant kUntypedInvariants[] = {
    {"ChargeItemDefinition", "cid-0",
     "name.matches(...) comes from the canonical-resource pattern, but R4's "
     "ChargeItemDefinition has no element 'name'"},
};

struct Invariant {
  std::string_view key;
  std::string_view severity;
  std::string_view expression;
  const fp::Expression* compiled = nullptr;  // null when it does not compile
  std::string compileError;
};

class InvariantIndex {
 public:
  explicit InvariantIndex(const fhir::Registry& reg) : reg_(reg) {
    for (const json::Value* sd : reg.resourcesOfType("StructureDefinition")) {
      if (sd->getString("derivation") == "constraint") continue;
      const json::Value* snap = sd->find("snapshot");
      const json::Value* elements = snap ? snap->find("element") : nullptr;
      if (!elements) continue;
      for (const json::Value* e : *elements)
        if (!e->find("sliceName")) byPath_.emplace(e->getString("path"), e);
    }
  }

  // The invariants that apply to a node with this definition and type.
  const std::vector<const Invariant*>& forNode(const fhir::Node& n) {
    auto key = std::make_pair(n.def, n.type);
    auto it = byNode_.find(key);
    if (it != byNode_.end()) return it->second;
    std::vector<const Invariant*> list;
    std::set<std::string_view> keys;
    auto add = [&](const json::Value* ed, const fhir::TypeInfo* focusType) {
      const json::Value* cs = ed ? ed->find("constraint") : nullptr;
      if (!cs) return;
      for (const json::Value* c : *cs) {
        std::string_view k = c->getString("key"), expr = c->getString("expression");
        if (expr.empty() || !keys.insert(k).second) continue;
        const fhir::TypeInfo* type = focusType;
        for (const UntypedInvariant& u : kUntypedInvariants)
          if (type && k == u.key && type->name == u.type) type = nullptr;
        list.push_back(invariant(k, c->getString("severity"), expr, type));
      }
    };
    if (n.def && n.def->definition) {
      // The constraints of a choice of several types (RiskAssessment.prediction.
      // probability[x], ras-1) are written for all of them: no one focus type.
      bool choice = n.def->isChoice && n.def->types.size() > 1;
      add(n.def->definition, choice ? nullptr : n.type);
      std::string_view ref = n.def->definition->getString("contentReference");
      if (!ref.empty()) {
        auto hash = ref.find('#');
        auto target = byPath_.find(ref.substr(hash == std::string_view::npos ? 0 : hash + 1));
        if (target != byPath_.end()) add(target->second, n.type);
      }
    }
    if (n.type->kind != fhir::TypeKind::Backbone && n.type->structureDefinition) {
      const json::Value* snap = n.type->structureDefinition->find("snapshot");
      const json::Value* elements = snap ? snap->find("element") : nullptr;
      if (elements && elements->size) add(elements->items[0], n.type);
    }
    return byNode_.emplace(key, std::move(list)).first->second;
  }

  size_t compiledCount() const { return invariants_.size(); }

 private:
  const Invariant* invariant(std::string_view key, std::string_view severity,
                             std::string_view expression, const fhir::TypeInfo* type) {
    auto k = std::make_tuple(std::string(key), std::string(expression), type);
    auto it = invariants_.find(k);
    if (it != invariants_.end()) return it->second.get();
    auto inv = std::make_unique<Invariant>();
    inv->key = key;
    inv->severity = severity;
    inv->expression = expression;
    auto cit = compiled_.find({std::string(expression), type});
    if (cit == compiled_.end()) {
      fp::CompileOptions opts;
      opts.focusType = type;
      fp::CompileError ce;
      fp::ExpressionPtr e;
      std::string err;
      try {
        e = fp::compile(reg_, expression, ce, opts);
        if (!e) err = ce.toString();
      } catch (const std::exception& ex) {
        err = std::string("exception: ") + ex.what();
      }
      cit = compiled_.emplace(std::make_pair(std::string(expression), type), std::make_pair(e, err))
                .first;
    }
    inv->compiled = cit->second.first.get();
    inv->compileError = cit->second.second;
    return invariants_.emplace(std::move(k), std::move(inv)).first->second.get();
  }

  struct PairHash {
    size_t operator()(const std::pair<const fhir::ElementDef*, const fhir::TypeInfo*>& p) const {
      return std::hash<const void*>{}(p.first) * 31 + std::hash<const void*>{}(p.second);
    }
  };
  const fhir::Registry& reg_;
  std::unordered_map<std::string_view, const json::Value*> byPath_;
  std::unordered_map<std::pair<const fhir::ElementDef*, const fhir::TypeInfo*>,
                     std::vector<const Invariant*>, PairHash>
      byNode_;
  std::map<std::tuple<std::string, std::string, const fhir::TypeInfo*>, std::unique_ptr<Invariant>>
      invariants_;
  std::map<std::pair<std::string, const fhir::TypeInfo*>, std::pair<fp::ExpressionPtr, std::string>>
      compiled_;
};

struct Failure {
  std::string file, key, path, expression, what;  // what: "false" or the error
  bool warning = false;
};

// Outcomes that pass but are worth a look, by invariant: how many, and the first place.
struct Tally {
  size_t count = 0;
  std::string example;
};

struct Counts {
  size_t examples = 0, nodes = 0, evaluations = 0, empty = 0, failures = 0, exceptions = 0,
         warningsFalse = 0, ele1Compared = 0, ele1Disagreements = 0;
  std::string ele1Example;
  std::map<std::string, Tally> emptyByKey, warningsFalseByKey;
};

class Walker {
 public:
  Walker(InvariantIndex& index, Counts& counts, std::vector<Failure>& failures)
      : index_(index), counts_(counts), failures_(failures) {}

  const std::set<const Exception*>& usedExceptions() const { return used_; }

  void example(const std::string& file, const fhir::Node& root) {
    file_ = file;
    walk(root, std::string(root.type->name), &root, &root);
  }

 private:
  void walk(const fhir::Node& n, const std::string& path, const fhir::Node* resource,
            const fhir::Node* rootResource) {
    if (n.isResource() && &n != resource) {
      bool contained = n.def && n.def->name == "contained";
      resource = &n;
      if (!contained) rootResource = &n;
    }
    ++counts_.nodes;
    const auto& invariants = index_.forNode(n);
    if (!invariants.empty()) {
      fp::Environment env;
      env.resource = resource;
      env.rootResource = rootResource;
      for (const Invariant* inv : invariants) check(*inv, n, path, env);
    }
    // Children, with an index on repeating elements: name[i].
    const fhir::ElementDef* prev = nullptr;
    size_t i = 0;
    for (const fhir::Node* c : n.children) {
      i = c->def == prev ? i + 1 : 0;
      prev = c->def;
      std::string p = path + "." + std::string(c->name());
      if (c->def && c->def->repeats()) p += "[" + std::to_string(i) + "]";
      walk(*c, p, resource, rootResource);
    }
  }

  void tally(Tally& t, const std::string& path) {
    if (t.count++ == 0) t.example = file_ + " " + path;
  }

  void check(const Invariant& inv, const fhir::Node& n, const std::string& path,
             const fp::Environment& env) {
    ++counts_.evaluations;
    bool warning = inv.severity == "warning";
    std::string what;
    if (!inv.compiled) {
      what = "compile error: " + inv.compileError;
    } else {
      fp::BoolResult r;
      try {
        r = fp::evaluateBoolean(*inv.compiled, &n, env);
      } catch (const std::exception& e) {
        r.error = std::string("exception: ") + e.what();
      }
      if (inv.key == "ele-1" && r.error.empty() && r.value) {
        // The validator computes ele-1 natively (fhir::ele1Holds): it must agree with
        // the expression on every element of the corpus.
        ++counts_.ele1Compared;
        if (*r.value != fhir::ele1Holds(n) && counts_.ele1Disagreements++ == 0) counts_.ele1Example = file_ + " " + path;
      }
      if (r.error.empty() && !r.value) {
        ++counts_.empty;
        tally(counts_.emptyByKey[std::string(inv.key)], path);
        return;
      }
      if (r.error.empty() && *r.value) return;
      if (r.error.empty() && warning) {
        ++counts_.warningsFalse;
        tally(counts_.warningsFalseByKey[std::string(inv.key)], path);
        return;
      }
      what = r.error.empty() ? "false" : "error: " + r.error;
    }
    Failure f{file_, std::string(inv.key), path, std::string(inv.expression), what, warning};
    for (const Exception& e : kExceptions)
      if (f.file == e.file && f.key == e.key && f.path == e.path) {
        ++counts_.exceptions;
        used_.insert(&e);
        return;
      }
    ++counts_.failures;
    failures_.push_back(std::move(f));
  }

  InvariantIndex& index_;
  Counts& counts_;
  std::vector<Failure>& failures_;
  std::string file_;
  std::set<const Exception*> used_;
};

std::vector<fs::path> exampleFiles() {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fhirPackageDir())) {
    std::string name = e.path().filename().string();
    if (!name.ends_with(".json") || name == "package.json" || name.starts_with(".")) continue;
    files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

fs::path buildDir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec || exe.parent_path().filename() != "tests") return fs::current_path();
  return exe.parent_path().parent_path();
}

class FhirPathInvariants : public CoreRegistryTest {};

TEST_F(FhirPathInvariants, CoreInvariantsHoldOnThePackageExamples) {
  auto start = std::chrono::steady_clock::now();
  auto files = exampleFiles();
  ASSERT_GT(files.size(), 5000u) << "the package looks incomplete";
  InvariantIndex index(*reg_);
  Counts counts;
  std::vector<Failure> failures;
  Walker walker(index, counts, failures);
  std::vector<std::string> unparsed;
  for (const fs::path& f : files) {
    fhir::ParseResult r = fhir::parseJson(*reg_, readFile(f));
    if (!r.doc.root()) {
      unparsed.push_back(f.filename().string());
      continue;
    }
    ++counts.examples;
    walker.example(f.filename().string(), *r.doc.root());
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // Failures grouped by invariant and outcome, with one example each; all in the report.
  std::map<std::pair<std::string, std::string>, std::pair<size_t, const Failure*>> groups;
  for (const Failure& f : failures) {
    auto& g = groups[{f.key, f.what}];
    if (g.first++ == 0) g.second = &f;
  }
  fs::path reportPath = buildDir() / "fhirpath-invariants-report.txt";
  std::ofstream report(reportPath);
  report << "# " << counts.failures << " failures in " << groups.size() << " groups\n\n";
  for (const auto& [k, g] : groups)
    report << g.first << " × " << k.first << " (" << g.second->expression << "): " << k.second
           << "\n    e.g. " << g.second->file << " " << g.second->path << "\n";
  report << "\n# Listed exceptions (file | key | path | why)\n";
  for (const Exception& e : kExceptions)
    report << e.file << " | " << e.key << " | " << e.path << " | " << e.why
           << (walker.usedExceptions().count(&e) ? "" : " [DOES NOT OCCUR]") << "\n";
  report << "\n# Empty results (passes; the Java validator would count them as failures)\n";
  for (const auto& [k, t] : counts.emptyByKey)
    report << t.count << " × " << k << ", e.g. " << t.example << "\n";
  report << "\n# Warnings that are false (not failures)\n";
  for (const auto& [k, t] : counts.warningsFalseByKey)
    report << t.count << " × " << k << ", e.g. " << t.example << "\n";
  report << "\n# All failures: file | key | path | outcome\n";
  for (const Failure& f : failures)
    report << f.file << " | " << f.key << " | " << f.path << " | " << f.what << "\n";
  report.close();

  std::printf(
      "[          ] %zu examples, %zu nodes, %zu invariant evaluations (%zu distinct "
      "compiled), %zu empty, %zu warnings false, %zu failures in %zu groups, %zu "
      "listed exceptions; %.1f s\n",
      counts.examples, counts.nodes, counts.evaluations, index.compiledCount(), counts.empty,
      counts.warningsFalse, counts.failures, groups.size(), counts.exceptions, seconds);
  std::printf("[          ] report: %s\n", reportPath.c_str());
  RecordProperty("examples", static_cast<int>(counts.examples));
  RecordProperty("nodes", static_cast<int>(counts.nodes));
  RecordProperty("evaluations", static_cast<int>(counts.evaluations));
  RecordProperty("empty", static_cast<int>(counts.empty));
  RecordProperty("failures", static_cast<int>(counts.failures));
  RecordProperty("exceptions", static_cast<int>(counts.exceptions));

  EXPECT_TRUE(unparsed.empty()) << unparsed.size() << " examples do not parse, e.g. "
                                << unparsed.front();
  EXPECT_GT(counts.ele1Compared, 1000000u) << "ele-1 should be evaluated on every element";
  EXPECT_EQ(counts.ele1Disagreements, 0u) << "fhir::ele1Holds disagrees with the ele-1 expression, e.g. at "
                                          << counts.ele1Example;
  std::string summary;
  size_t shown = 0;
  for (const auto& [k, g] : groups) {
    if (++shown > 40) break;
    summary += std::to_string(g.first) + " × " + k.first + ": " + k.second + "\n    e.g. " +
               g.second->file + " " + g.second->path + "\n";
  }
  EXPECT_EQ(counts.failures, 0u) << counts.failures << " invariant failures in " << groups.size()
                                 << " groups (first 40; all in " << reportPath << "):\n"
                                 << summary;
  for (const Exception& e : kExceptions)
    if (!walker.usedExceptions().count(&e))
      ADD_FAILURE() << "listed exception does not occur: " << e.file << " " << e.key << " "
                    << e.path;
}

}  // namespace
}  // namespace hoa::testing
