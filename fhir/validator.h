#pragma once
// The validator: checks a parsed resource against the loaded StructureDefinitions,
// ValueSets and CodeSystems — core R4, the clinic's profiles, any partner's profiles.
//
//   Validator validator(registry);                 // once; shared by all threads
//   ParseResult parsed = parse(registry, text);    // structure problems come from here
//   Issues issues = validator.validate(*parsed.doc.root());
//   issues.toOperationOutcomeJson();
//
// Every check comes from the definitions: cardinality, types, fixed/pattern values,
// maxLength, primitive formats (the regexes of the primitive types and their value
// ranges), bindings (required → error, extensible → warning), invariants (FHIRPath, at
// their severity, with their key), references (format, target types, contained and
// Bundle resolution), narrative XHTML, Bundle rules, and the profiles a resource claims
// in meta.profile or the caller names.
//
// Thread-safety: validate() may be called from many threads at once; compiled invariants
// and value set expansions are cached inside.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fhir/definitions.h"
#include "fhir/element.h"
#include "fhir/issue.h"

namespace hoa::fhir {

namespace fhirpath {
class Terminology;
}

struct ValidationOptions {
  // Profiles (StructureDefinition canonical URLs) to validate against besides the core
  // definition of the resource's type and the profiles in meta.profile.
  std::vector<std::string> profiles;
  // Profiles for every resource of a type, wherever it is (the root, a contained
  // resource, a Bundle entry): how a receiver applies its own profiles to what arrives
  // ("ServiceRequest" → the clinic's referral profile). Keyed by resource type.
  std::map<std::string, std::vector<std::string>, std::less<>> profilesByType;
  // Validate against the profiles the resource claims in meta.profile.
  bool metaProfiles = true;
  // An extension whose definition is not loaded: an error, as the HL7 reference validator
  // has it ("could not be found, so is not allowed here"), or a warning for receivers
  // that accept and ignore extensions they do not know (FHIR allows ignoring unknown
  // non-modifier extensions). Unknown modifier extensions are always errors.
  bool unknownExtensionsAreErrors = true;
  // Stop adding issues past this many (a last issue says so).
  size_t maxIssues = 1000;
};

class Validator {
 public:
  // The terminology defaults to value set expansion over the registry's CodeSystems.
  explicit Validator(const Registry& registry, const fhirpath::Terminology* terminology = nullptr);
  ~Validator();
  Validator(const Validator&) = delete;
  Validator& operator=(const Validator&) = delete;

  // Validates a resource (a document root, or a contained/entry resource node). Issues
  // come in document order; each names the element by FHIRPath (`Patient.name[0].given[1]`),
  // with the source line/column when the tree has them.
  Issues validate(const Node& resource, const ValidationOptions& options = {}) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The FHIRPath location of `target` inside the tree under `root`, in the form the
// validator reports (`Bundle.entry[1].resource.identifier[0].value`); empty when the node
// is not in that tree. A depth-first search: for issue locations, not for hot loops.
std::string fhirPathOf(const Node& root, const Node* target);

// ele-1 ("All FHIR elements must have a @value or children") computed natively:
// `hasValue() or (children().count() > id.count())`. The validator uses it instead of
// evaluating that expression on every element; exposed so tests can prove the two agree.
bool ele1Holds(const Node& node);

}  // namespace hoa::fhir
