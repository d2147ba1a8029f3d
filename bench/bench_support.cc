#include "bench/bench_support.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "fhir/json.h"

namespace hoa::bench {
namespace {

namespace fs = std::filesystem;

const std::set<std::string, std::less<>> kConformanceTypes = {
    "StructureDefinition", "ValueSet",      "CodeSystem",          "SearchParameter",
    "ConceptMap",          "OperationDefinition", "NamingSystem", "CompartmentDefinition",
    "CapabilityStatement", "ImplementationGuide", "StructureMap"};

}  // namespace

bool readFile(const fs::path& p, std::string& out) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = std::move(ss).str();
  return !in.bad();
}

bool isClinicalExample(const fs::path& file, std::string& error) {
  std::string text;
  if (!readFile(file, text)) {
    error = "cannot read " + file.string();
    return false;
  }
  hoa::json::Error jerr;
  hoa::json::Document doc = hoa::json::Document::parse(std::move(text), jerr);
  if (!doc.root() || !doc.root()->isObject()) {
    error = file.string() + ": not a JSON object: " + jerr.message;
    return false;
  }
  std::string_view rt = doc.root()->getString("resourceType");
  if (kConformanceTypes.count(rt)) return false;
  if (rt != "Bundle") return true;
  const hoa::json::Value* entries = doc.root()->find("entry");
  if (!entries || !entries->isArray() || entries->size == 0) return true;
  uint32_t conformance = 0;
  for (const hoa::json::Value* e : *entries) {
    const hoa::json::Value* res = e->isObject() ? e->find("resource") : nullptr;
    if (res && res->isObject() && kConformanceTypes.count(res->getString("resourceType"))) ++conformance;
  }
  return 2 * static_cast<uint64_t>(conformance) <= entries->size;
}

std::vector<fs::path> clinicalExamples(const fs::path& dir, std::string& error) {
  std::vector<fs::path> all, selected;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (e.is_regular_file() && name.ends_with(".json") && name != "package.json" && !name.starts_with("."))
      all.push_back(e.path());
  }
  std::sort(all.begin(), all.end());
  for (const fs::path& f : all) {
    if (isClinicalExample(f, error)) selected.push_back(f);
    if (!error.empty()) return {};
  }
  return selected;
}

}  // namespace hoa::bench
