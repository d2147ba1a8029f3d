// Negative cases for the validator: each input breaks one rule and must give exactly the
// expected issue (severity, code, expression).
#include <gtest/gtest.h>

#include "fhir/format.h"
#include "fhir/validator.h"
#include "tests/test_env.h"

namespace hoa::fhir {
namespace {

using hoa::testing::CoreRegistryTest;

struct Case {
  const char* name;
  const char* json;
  Severity severity;
  const char* code;
  const char* expression;
  const char* messagePart;
};

const Case kCases[] = {
    {"min cardinality", R"({"resourceType": "Observation", "status": "final"})", Severity::Error, "required",
     "Observation", "Observation.code: minimum required = 1"},
    {"primitive format: uri", R"({"resourceType": "Patient", "implicitRules": "http://example.org/a b"})",
     Severity::Error, "value", "Patient.implicitRules", "http://example.org/a b"},
    {"primitive format: id", R"({"resourceType": "Patient", "id": "a_b"})", Severity::Error, "value", "Patient.id",
     "does not match"},
    {"required binding: code", R"({"resourceType": "Patient", "gender": "kvinne"})", Severity::Error, "code-invalid",
     "Patient.gender", "administrative-gender"},
    {"required binding: Coding in CodeableConcept", R"({"resourceType": "Observation", "status": "final",
       "code": {"text": "x"}, "dataAbsentReason": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "nope"}]}})",
     Severity::Warning, "code-invalid", "Observation.dataAbsentReason", "extensible"},
    {"invariant error with key", R"({"resourceType": "Patient", "name": [{"period": {"start": "2024-05-01", "end": "2024-04-01"}}]})",
     Severity::Error, "invariant", "Patient.name[0].period", "per-1"},
    {"invariant warning", R"({"resourceType": "Patient", "contained": [{"resourceType": "Organization", "id": "o1", "name": "A"}],
       "managingOrganization": {"reference": "#o1"}})",
     Severity::Warning, "invariant", "Patient", "dom-6"},
    {"reference format", R"({"resourceType": "Patient", "managingOrganization": {"reference": "Organization/a b"}})",
     Severity::Error, "invalid", "Patient.managingOrganization.reference", "Invalid reference"},
    {"reference target type", R"({"resourceType": "Patient", "managingOrganization": {"reference": "Patient/1"}})",
     Severity::Error, "structure", "Patient.managingOrganization", "Reference to a Patient is not allowed"},
    {"contained reference not found", R"({"resourceType": "Patient", "managingOrganization": {"reference": "#nope"}})",
     Severity::Error, "not-found", "Patient.managingOrganization.reference", "contained resource '#nope'"},
    {"unknown reference type", R"({"resourceType": "Patient", "managingOrganization": {"reference": "Organisation/1"}})",
     Severity::Error, "invalid", "Patient.managingOrganization.reference", "unknown resource type"},
    {"contained resource not referenced (dom-3)", R"({"resourceType": "Patient",
       "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
       "contained": [{"resourceType": "Organization", "id": "o1", "name": "A"}]})",
     Severity::Error, "invariant", "Patient", "dom-3"},
    {"narrative without content (txt-2)", R"({"resourceType": "Patient",
       "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"> </div>"}})",
     Severity::Error, "invariant", "Patient.text.div", "txt-2"},
    {"choice element path", R"({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
       "valueQuantity": {"value": 1, "code": "kg"}})",
     Severity::Error, "invariant", "Observation.value.ofType(Quantity)", "qty-3"},
    {"bundle fullUrl unique (bdl-7)", R"({"resourceType": "Bundle", "type": "collection", "entry": [
       {"fullUrl": "urn:uuid:9d8a7c5e-0000-4000-8000-000000000001", "resource": {"resourceType": "Basic", "code": {"text": "a"}}},
       {"fullUrl": "urn:uuid:9d8a7c5e-0000-4000-8000-000000000001", "resource": {"resourceType": "Basic", "code": {"text": "b"}}}]})",
     Severity::Error, "invariant", "Bundle", "bdl-7"},
    {"bundle entry resource validated", R"({"resourceType": "Bundle", "type": "collection", "entry": [
       {"fullUrl": "urn:uuid:9d8a7c5e-0000-4000-8000-000000000002", "resource": {"resourceType": "Patient", "gender": "x"}}]})",
     Severity::Error, "code-invalid", "Bundle.entry[0].resource.gender", "administrative-gender"},
    {"bundle fullUrl and id disagree", R"({"resourceType": "Bundle", "type": "collection", "entry": [
       {"fullUrl": "http://example.org/fhir/Patient/1", "resource": {"resourceType": "Patient", "id": "2"}}]})",
     Severity::Error, "invalid", "Bundle.entry[0]", "must end with the resource's type and id ('Patient/2')"},
    {"unknown modifier extension", R"({"resourceType": "Patient", "modifierExtension": [
       {"url": "http://example.org/unknown-modifier", "valueBoolean": true}]})",
     Severity::Error, "extension", "Patient.modifierExtension[0]", "Unknown modifier extension"},
    {"unknown extension", R"({"resourceType": "Patient", "extension": [
       {"url": "http://example.org/unknown", "valueBoolean": true}]})",
     Severity::Error, "structure", "Patient.extension[0]", "could not be found, so it is not allowed here"},
    {"extension value type", R"({"resourceType": "Patient", "extension": [
       {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace", "valueString": "Skien"}]})",
     Severity::Error, "structure", "Patient.extension[0].value.ofType(string)", "does not allow a value of type string"},
    {"extension context", R"({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "extension": [
       {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace", "valueAddress": {"city": "Skien"}}]})",
     Severity::Error, "structure", "Observation", "is not allowed on Observation"},
    {"complex extension with a value", R"({"resourceType": "Patient", "extension": [
       {"url": "http://hl7.org/fhir/StructureDefinition/patient-nationality", "valueString": "NO"}]})",
     Severity::Error, "structure", "Patient.extension[0]", "is complex and must not have a value"},
    {"unknown code in a loaded CodeSystem", R"({"resourceType": "Patient", "maritalStatus": {"coding": [
       {"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "XX"}]}})",
     Severity::Error, "code-invalid", "Patient.maritalStatus.coding[0].code", "Unknown code 'XX'"},
    {"wrong display", R"({"resourceType": "Patient", "maritalStatus": {"coding": [
       {"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M", "display": "Gift"}]}})",
     Severity::Warning, "invalid", "Patient.maritalStatus.coding[0].display", "Wrong display 'Gift'"},
    // Profiles (meta.profile) from the R4 package: vitalsigns and bodyweight.
    {"profile: cardinality narrowed", R"({"resourceType": "Observation",
       "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/vitalsigns"]}, "status": "final",
       "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
       "code": {"text": "puls"}, "effectiveDateTime": "2026-11-22T10:00:00+01:00"})",
     Severity::Error, "required", "Observation", "Observation.subject: minimum required = 1"},
    {"profile: required slice missing", R"({"resourceType": "Observation",
       "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/vitalsigns"]}, "status": "final",
       "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
       "code": {"text": "puls"}, "subject": {"reference": "Patient/1"}, "effectiveDateTime": "2026-11-22T10:00:00+01:00"})",
     Severity::Error, "required", "Observation", "Slice 'VSCat'"},
    {"profile: fixed code in a slice", R"({"resourceType": "Observation",
       "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/bodyweight"]}, "status": "final",
       "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
       "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]}, "subject": {"reference": "Patient/1"},
       "effectiveDateTime": "2026-11-22T10:00:00+01:00",
       "valueQuantity": {"value": 80, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}})",
     Severity::Error, "required", "Observation.code", "Slice 'BodyWeightCode'"},
    {"profile: its own invariant", R"({"resourceType": "Observation",
       "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/vitalsigns"]}, "status": "final",
       "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
       "code": {"text": "puls"}, "subject": {"reference": "Patient/1"}, "effectiveDateTime": "2026-11-22T10:00:00+01:00"})",
     Severity::Error, "invariant", "Observation", "vs-2"},
    {"profile: its own required binding in a type slice", R"({"resourceType": "Observation",
       "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/bodyweight"]}, "status": "final",
       "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
       "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]}, "subject": {"reference": "Patient/1"},
       "effectiveDateTime": "2026-11-22T10:00:00+01:00",
       "valueQuantity": {"value": 80000, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}})",
     Severity::Error, "code-invalid", "Observation.value.ofType(Quantity).code", "ucum-bodyweight"},
    {"profile: fixed value", R"({"resourceType": "Observation",
       "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/bodyweight"]}, "status": "final",
       "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
       "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]}, "subject": {"reference": "Patient/1"},
       "effectiveDateTime": "2026-11-22T10:00:00+01:00",
       "valueQuantity": {"value": 80, "unit": "kg", "system": "http://example.org/units", "code": "kg"}})",
     Severity::Error, "value", "Observation.value.ofType(Quantity).system", "'http://unitsofmeasure.org'"},
    {"profile for another type", R"({"resourceType": "Patient",
       "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/vitalsigns"]}})",
     Severity::Error, "structure", "Patient", "is for Observation, not Patient"},
};

class Validation : public CoreRegistryTest {
 protected:
  Issues check(const std::string& json, const ValidationOptions& opts = {}) {
    ParseResult r = parseJson(*reg_, json);
    EXPECT_TRUE(r.ok()) << (r.issues.empty() ? "" : r.issues.items[0].toString());
    if (!r.ok()) return r.issues;
    static Validator* validator = nullptr;
    if (!validator) validator = new Validator(*reg_);  // one for the process, as in the gateway
    return validator->validate(*r.doc.root(), opts);
  }
};

TEST_F(Validation, EachRuleGivesItsIssue) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Issues issues = check(c.json);
    bool found = false;
    std::string all;
    for (const Issue& i : issues.items) {
      all += "  " + std::string(severityCode(i.severity)) + " " + i.code + " " + i.expression + ": " + i.message + "\n";
      if (i.severity == c.severity && i.code == c.code && i.expression == c.expression &&
          i.message.find(c.messagePart) != std::string::npos)
        found = true;
    }
    EXPECT_TRUE(found) << "expected " << severityCode(c.severity) << " " << c.code << " at " << c.expression
                       << " containing '" << c.messagePart << "', got:\n"
                       << all;
  }
}

TEST_F(Validation, ValidResourcesHaveNoErrors) {
  Issues issues = check(R"({"resourceType": "Patient", "id": "p1",
    "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Kari</div>"},
    "gender": "female", "birthDate": "1980-02-29", "managingOrganization": {"reference": "Organization/o1"}})");
  for (const Issue& i : issues.items) EXPECT_NE(i.severity, Severity::Error) << i.toString();
  EXPECT_FALSE(issues.hasErrors());
}

TEST_F(Validation, UnknownProfilesAreReported) {
  ValidationOptions opts;
  opts.profiles = {"http://example.org/StructureDefinition/unknown"};
  Issues issues = check(R"({"resourceType": "Patient", "meta": {"profile": ["http://example.org/StructureDefinition/other"]}})", opts);
  int warnings = 0;
  for (const Issue& i : issues.items)
    if (i.code == "not-found" && i.severity == Severity::Warning) ++warnings;
  EXPECT_EQ(warnings, 2);
}

TEST_F(Validation, ProfileExamplesConform) {
  // A body weight as the profile wants it: no errors.
  Issues issues = check(R"({"resourceType": "Observation",
       "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/bodyweight"]}, "status": "final",
       "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
       "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]}, "subject": {"reference": "Patient/1"},
       "effectiveDateTime": "2026-11-22T10:00:00+01:00",
       "valueQuantity": {"value": 80, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}})");
  for (const Issue& i : issues.items) EXPECT_NE(i.severity, Severity::Error) << i.toString();
  // The caller can name profiles too.
  ValidationOptions opts;
  opts.profiles = {"http://hl7.org/fhir/StructureDefinition/vitalsigns"};
  Issues named = check(R"({"resourceType": "Observation", "status": "final", "code": {"text": "x"}})", opts);
  bool subject = false;
  for (const Issue& i : named.items) subject = subject || i.message.find("Observation.subject: minimum") != std::string::npos;
  EXPECT_TRUE(subject);
}

TEST_F(Validation, IssuesCarryLineAndColumn) {
  Issues issues = check("{\"resourceType\": \"Patient\",\n  \"gender\": \"kvinne\"}");
  ASSERT_FALSE(issues.empty());
  bool found = false;
  for (const Issue& i : issues.items)
    if (i.expression == "Patient.gender") {
      EXPECT_EQ(i.line, 2u);
      found = true;
    }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace hoa::fhir
