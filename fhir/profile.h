#pragma once
// Profiles (constraint StructureDefinitions) prepared for validation: the snapshot's
// elements as a tree by element id, with slicing, fixed/pattern values, types, bindings
// and constraints; and the check of an instance against it. Used by the validator.
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "fhir/definitions.h"
#include "fhir/element.h"
#include "fhir/issue.h"

namespace hoa::fhir::profile {

struct Discriminator {
  std::string type;  // value, pattern, exists, type, profile
  std::string path;  // "url", "coding.code", "$this"
};

struct Element {
  const json::Value* ed = nullptr;
  std::string id;         // "Observation.category:VSCat.coding"
  std::string name;       // last segment without [x] and slice: "coding"
  std::string sliceName;  // "VSCat" for a slice entry
  bool choice = false;
  uint32_t min = 0;
  uint32_t max = kUnbounded;
  const json::Value* fixedOrPattern = nullptr;  // the fixed[x]/pattern[x] value
  bool isFixed = false;
  std::vector<std::string> typeCodes;
  std::vector<std::string> typeProfiles;    // type[].profile (extension slices name their URL here)
  std::vector<std::string> targetProfiles;  // type[].targetProfile (Reference elements)
  // Slicing (on the base element of a sliced set).
  std::vector<Discriminator> discriminators;
  std::string rules;  // closed, open, openAtEnd
  bool ordered = false;
  std::vector<size_t> children;  // direct child elements (not slices)
  std::vector<size_t> slices;    // slices of this element
};

struct Profile {
  std::string url;
  std::string type;
  std::vector<Element> elements;
  std::unordered_map<std::string, size_t> byId;
  const Element* find(const std::string& id) const {
    auto it = byId.find(id);
    return it == byId.end() ? nullptr : &elements[it->second];
  }
};

// The FHIRPath location of child `c` (its `index`th repeat) of the element at `parent`:
// `Patient.name[0]`, `Observation.value.ofType(Quantity)`. Shared with the validator so
// both report the same locations.
std::string childPath(const std::string& parent, const Node* c, size_t index);
// The same, appended in place to `path` (the walk keeps one buffer, no string per element).
void appendChildPath(std::string& path, const Node* c, size_t index);

// Builds a profile from a StructureDefinition with a snapshot; nullptr (and `error`)
// when it has none.
std::shared_ptr<const Profile> build(const json::Value& sd, std::string& error);

// What the profile adds that the caller checks with its own machinery: the profile's
// constraints (FHIRPath) and bindings, with the element they apply to.
struct Deferred {
  const Node* node = nullptr;
  std::string path;
  const json::Value* ed = nullptr;  // the profile's ElementDefinition
  std::string profileUrl;
};

// Resolves a Reference node to the resource it points to within the instance (a contained
// resource, another entry of the enclosing Bundle), or nullptr. Used for discriminators
// that go through resolve().
using Resolver = std::function<const Node*(const Node* reference)>;

// Checks the resource against the profile: cardinality where the profile narrows the
// core definition, fixed and pattern values, types, slicing (value, pattern, exists and
// type discriminators, including paths into nested slices and through resolve(); closed
// slicing). Issues go to `out` with FHIRPath locations; the elements whose profile
// definition has constraints, a binding or reference targets go to `deferred`.
void check(const Registry& reg, const Profile& p, const Node& resource, const std::string& path, Issues& out,
           std::vector<Deferred>* deferred = nullptr, const Resolver* resolver = nullptr);

}  // namespace hoa::fhir::profile
