#pragma once
// The definitions registry: loads FHIR packages (StructureDefinition, ValueSet, CodeSystem,
// SearchParameter, …) and answers structural questions about types and their elements:
// cardinality, allowed types, choice types, order, content references, XML representation.
//
// Thread-safety: load packages first (not thread-safe), then share the Registry read-only;
// every const member function may be called from any number of threads at once.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fhir/json.h"

namespace hoa::fhir {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

enum class TypeKind : uint8_t { Primitive, Complex, Resource, Backbone };

// How a primitive's value is written in JSON.
enum class JsonKind : uint8_t { String, Boolean, Integer, Decimal, Xhtml };

struct TypeInfo;

// One allowed type of an element.
struct ElementType {
  std::string code;                 // the type code, e.g. "Quantity", "Age", "string"
  const TypeInfo* type = nullptr;   // resolved definition of that type
  const json::Value* raw = nullptr; // the ElementDefinition.type entry (profiles, targetProfile)
};

inline constexpr uint32_t kUnbounded = UINT32_MAX;

// One element of a type, from the type's snapshot.
struct ElementDef {
  std::string name;  // "value" for "value[x]"
  std::string path;  // "Observation.value[x]"
  uint32_t min = 0;
  uint32_t max = 1;  // kUnbounded for "*"
  uint16_t index = 0;  // position among the type's elements (the order in XML)
  bool isChoice = false;
  bool xmlAttr = false;     // written as an XML attribute (ids of elements, Extension.url)
  bool isResource = false;  // holds a whole resource (contained, Bundle.entry.resource)
  bool isModifier = false;
  bool isSummary = false;
  std::vector<ElementType> types;
  // Inline children (BackboneElement, or a contentReference's target); null when the
  // element's structure is its type's.
  const TypeInfo* inlineType = nullptr;
  const json::Value* definition = nullptr;  // the ElementDefinition, for validation

  bool repeats() const { return max > 1; }
  // The type with this code, or nullptr.
  const ElementType* typeFor(std::string_view code) const;
  // For a choice element, the type whose name makes the suffix of `jsonName`.
};

// A type: a primitive, a data type, a resource, or the inline type of a backbone element.
struct TypeInfo {
  // A property as it is named in JSON and XML: "valueQuantity" → (value[x], Quantity).
  struct Property {
    const ElementDef* element = nullptr;
    const TypeInfo* type = nullptr;  // the structure of the value (inline type for backbones)
  };

  std::string name;  // "Patient", "HumanName", "string", "Age"; for backbones their path
  std::string url;   // canonical URL of the StructureDefinition (empty for backbones)
  TypeKind kind = TypeKind::Complex;
  JsonKind jsonKind = JsonKind::String;  // primitives only
  bool isAbstract = false;
  const TypeInfo* base = nullptr;  // the type it specializes or constrains
  std::vector<ElementDef> elements;
  const json::Value* structureDefinition = nullptr;

  // The property with this JSON/XML name, or nullptr.
  const Property* property(std::string_view name) const {
    auto it = properties_.find(name);
    return it == properties_.end() ? nullptr : &it->second;
  }
  // The element with this name ("value" for value[x]), or nullptr.
  const ElementDef* element(std::string_view name) const;
  // Whether this type is `other` or derives from it ("Age" is a "Quantity").
  bool isA(std::string_view other) const;

  StringMap<Property> properties_;
};

// The name of an element's property for a value of `type`: "valueQuantity" for a choice
// element, the element's name otherwise.
std::string propertyName(const ElementDef& element, const TypeInfo& type);

struct LoadStats {
  size_t files = 0;
  size_t structureDefinitions = 0;
  size_t bytes = 0;
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Loads every conformance resource of a FHIR package folder (the folder holding
  // package.json, or its parent). Returns false and sets `error` on I/O or parse failure.
  bool loadPackage(const std::filesystem::path& dir, std::string& error, LoadStats* stats = nullptr);
  // Adds one conformance resource given as JSON text. `origin` names it in errors.
  bool addResource(std::string json, const std::string& origin, std::string& error);
  // Builds the type model from the loaded StructureDefinitions. Call after loading.
  // First generates the snapshot of every constraint profile loaded with only a
  // differential (fhir/snapshot.h); resource() then gives the completed definition. A
  // profile whose snapshot cannot be generated fails with `error` naming it and the element.
  bool finalize(std::string& error);

  // A type by name ("Patient", "string", "Age"), or nullptr.
  const TypeInfo* type(std::string_view name) const;
  // A concrete (non-abstract) resource type by name, or nullptr.
  const TypeInfo* resourceType(std::string_view name) const;
  // A conformance resource by canonical URL (optionally "url|version"), or nullptr.
  const json::Value* resource(std::string_view url) const;
  // All loaded conformance resources of one resource type, in load order.
  const std::vector<const json::Value*>& resourcesOfType(std::string_view resourceType) const;
  size_t structureDefinitionCount() const;

  // The default core package folder: $HOA_FHIR_PACKAGE_DIR, else
  // ~/.fhir/packages/hl7.fhir.r4.examples#4.0.1/package.
  static std::filesystem::path defaultCorePackageDir();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hoa::fhir
