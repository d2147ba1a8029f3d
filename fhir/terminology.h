#pragma once
// Terminology from the loaded definitions: ValueSet expansion over the CodeSystems the
// Registry holds (the FHIR core ones, the clinic's own), for FHIRPath memberOf() and for
// binding checks.
//
// What it can expand: includes of whole CodeSystems with content "complete", explicit
// concept lists, is-a / descendent-of / is-not-a / "=" filters on such CodeSystems,
// imported ValueSets, excludes, and ValueSets that carry an expansion. Anything else
// (SNOMED CT, LOINC, regex filters, CodeSystems not loaded) makes the expansion
// incomplete: a code found in it is a member, a code not found is unknown.
//
// Thread-safety: all methods may be called from many threads; expansions are cached.
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "fhir/definitions.h"
#include "fhir/fhirpath.h"

namespace hoa::fhir {

struct Expansion {
  bool complete = true;
  std::string why;  // why it is incomplete
  std::unordered_set<std::string> codes;  // "system|code"
  size_t size() const { return codes.size(); }
  bool contains(std::string_view system, std::string_view code) const;
};

class RegistryTerminology : public fhirpath::Terminology {
 public:
  explicit RegistryTerminology(const Registry& registry, size_t maxCodes = 50'000)
      : reg_(registry), maxCodes_(maxCodes) {}

  // The expansion of a ValueSet by canonical URL (optionally url|version); nullptr when the
  // ValueSet is not known.
  std::shared_ptr<const Expansion> expand(std::string_view url) const;

  // memberOf(): a code without a system matches a code of any system in the value set.
  std::optional<bool> memberOf(std::string_view system, std::string_view code,
                               std::string_view valueSetUrl) const override;

  // Whether the CodeSystem (by canonical URL) is loaded and defines the code; nullopt when
  // the CodeSystem is not loaded or not complete.
  std::optional<bool> codeExists(std::string_view system, std::string_view code) const;

  struct Concept {
    bool found = false;
    std::string display;
  };
  // The concept of a loaded, complete CodeSystem; nullopt when the system is not loaded or
  // not complete (then nothing can be said about its codes).
  std::optional<Concept> lookup(std::string_view system, std::string_view code) const;

 private:
  std::shared_ptr<const Expansion> build(std::string_view url, int depth) const;

  const Registry& reg_;
  size_t maxCodes_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<std::string, std::shared_ptr<const Expansion>> cache_;
  // code -> display per complete CodeSystem; null for systems that are not usable.
  using Displays = std::unordered_map<std::string, std::string>;
  mutable std::unordered_map<std::string, std::shared_ptr<const Displays>> systems_;
};

}  // namespace hoa::fhir
