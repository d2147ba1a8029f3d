#pragma once
// Problems in data, as FHIR reports them: severity, IssueType code, a message, the
// FHIRPath location of the element, and the line/column in the input where known.
// Code and I/O failures do not travel this way (see docs/architecture.md).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hoa::fhir {

enum class Severity : uint8_t { Fatal, Error, Warning, Information };

std::string_view severityCode(Severity s);

struct Issue {
  Severity severity = Severity::Error;
  std::string code;        // IssueType code: structure, value, invalid, too-long, security, …
  std::string message;     // English text for people
  std::string expression;  // FHIRPath to the element, e.g. Patient.name[0].given[1]
  uint32_t line = 0;       // 1-based; 0 when unknown
  uint32_t column = 0;
  // A finer, machine-readable code of the problem (a named business rule), written as
  // details.coding; empty when there is none.
  std::string detailSystem;
  std::string detailCode;
  // Set on issues that come from a definition outside FHIR core — a profile, or a
  // package's own CodeSystem or extension — so a caller can tell "not valid FHIR" from
  // "valid FHIR, but not what this package wants".
  bool fromProfile = false;

  // "line 3, column 7: Patient.name[0]: message" — for command-line output.
  std::string toString() const;
};

struct Issues {
  std::vector<Issue> items;

  bool hasErrors() const;
  void add(Issue i) { items.push_back(std::move(i)); }
  size_t size() const { return items.size(); }
  bool empty() const { return items.empty(); }
  // The OperationOutcome resource, as FHIR JSON. Locations go into the standard
  // issue.location (line/col as "line N, col M") and expression elements.
  std::string toOperationOutcomeJson(bool pretty = false) const;
};

}  // namespace hoa::fhir
