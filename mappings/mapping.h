#pragma once
// Declarative mappings: a JSON file names fields and gives, for each, the FHIRPath
// expression that finds its value in a FHIR resource. The C++ that fills the internal
// model asks for fields by name; where a field comes from is an edit to the file.
//
// File format (mappings/referral.map.json is the real one):
//   {
//     "name": "referral-to-internal",
//     "focus": "ServiceRequest",              // the type expressions start from
//     "constants": {"fnr": "urn:oid:…"},      // %fnr in expressions: a string
//     "parameters": ["clinicHerId"],          // %clinicHerId: a string the caller gives
//                                             // per evaluation (configuration)
//     "let": [{"name": "patient", "expression": "subject.resolve().ofType(Patient)"}],
//                                             // evaluated in order; %patient afterwards
//     "fields": [{"field": "patient.nationalId", "expression": "%patient.identifier…",
//                 "doc": "…"}]
//   }
// Every expression is compiled when the file is loaded, checked against the focus type
// (unknown elements are load errors), so a broken mapping fails at start-up, not on the
// first referral. Variable names (constants, lets) must be unique, and so must field
// names; a field may share a variable's name.
//
// Thread-safety: a loaded Mapping is immutable; evaluate() may run on many threads.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/definitions.h"
#include "fhir/element.h"
#include "fhir/fhirpath.h"

namespace hoa::clinic {

class Mapping;

// The values of a mapping's fields for one focus resource. Items may point into the
// evaluated document: keep it alive while reading them.
class FieldValues {
 public:
  // The field's items (empty when absent). Unknown names are a programming error and
  // throw std::out_of_range, so a typo in C++ cannot pass silently.
  const fhir::fhirpath::Collection& items(std::string_view field) const;
  // The first item's text (primitive value or System value), or nullopt when empty.
  std::optional<std::string> text(std::string_view field) const;
  // All items' texts.
  std::vector<std::string> texts(std::string_view field) const;
  // The first item that is a FHIR element, or nullptr (for issue locations).
  const fhir::Node* node(std::string_view field) const;
  // Evaluation errors (an expression failed on this input), "field: message".
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  friend class Mapping;
  const Mapping* mapping_ = nullptr;
  std::vector<fhir::fhirpath::Result> results_;  // by field index
  std::vector<fhir::fhirpath::Result> lets_;     // keep variable values alive
  std::vector<std::string> errors_;
};

class Mapping {
 public:
  // Loads and compiles a mapping file's JSON text; nullptr and `error` on any problem
  // (JSON, unknown focus type, compile errors with the field name and position).
  static std::shared_ptr<const Mapping> load(const fhir::Registry& registry, std::string_view json,
                                             std::string& error);
  static std::shared_ptr<const Mapping> loadFile(const fhir::Registry& registry, const std::string& path,
                                                 std::string& error);

  const std::string& name() const { return name_; }
  const std::string& focus() const { return focus_; }
  // A constant's value ("" when not defined).
  std::string_view constant(std::string_view name) const;
  bool hasField(std::string_view field) const;
  std::vector<std::string> fieldNames() const;

  // Evaluates every field on `focus`. `rootResource` is where resolve() looks for Bundle
  // entries (the Bundle for transaction and message forms; the focus itself otherwise).
  // `parameters` gives the values of the file's "parameters" (absent ones are empty).
  FieldValues evaluate(const fhir::Node& focus, const fhir::Node* rootResource,
                       const std::map<std::string, std::string, std::less<>>& parameters = {}) const;
  // Fields the caller needs that the file does not define (a load-time check).
  std::vector<std::string> missingFields(const std::vector<std::string_view>& needed) const;

 private:
  friend class FieldValues;
  struct Step {
    std::string name;  // variable (let) or field name
    fhir::fhirpath::ExpressionPtr expr;
  };
  std::string name_, focus_;
  std::vector<std::pair<std::string, std::string>> constants_;
  std::vector<std::string> parameters_;
  std::vector<Step> lets_;
  std::vector<Step> fields_;
  std::map<std::string, size_t, std::less<>> fieldIndex_;
};

}  // namespace hoa::clinic
