// Every resource of the FHIR R4 package validates without errors, apart from examples
// that really break a rule of the specification (listed with the reason).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "fhir/format.h"
#include "fhir/validator.h"
#include "tests/test_env.h"

namespace hoa::fhir {
namespace {

namespace fs = std::filesystem;
using hoa::testing::CoreRegistryTest;
using hoa::testing::fhirPackageDir;
using hoa::testing::readFile;

// file -> why it is allowed to have errors (checked against the specification).
const std::map<std::string, std::string>& knownInvalid() {
  static const std::map<std::string, std::string> m = {
      {"ActivityDefinition-blood-tubes-supply.json",
       "text.div is only whitespace (txt-2; txt-1 has the same expression, htmlChecks(), in R4)"},
      {"ActivityDefinition-heart-valve-replacement.json",
       "text.div is only whitespace (txt-1/txt-2)"},
      {"Bundle-hla-1.json",
       "the hla-genotyping-results-glstring extension defines the sub-extensions 'url' and 'text'; the example "
       "uses 'uri'"},
      {"EventDefinition-example.json",
       "text.div is only whitespace (txt-1/txt-2)"},
      {"Questionnaire-zika-virus-exposure-assessment.json",
       "text.div holds only an empty <pre> (txt-1/txt-2)"},
      {"Bundle-dataelements.json",
       "repeats fullUrls without distinct meta.versionId (bdl-7)"},
      {"Questionnaire-bb.json",
       "que-7 in R4 says answer is Boolean (System type) where the FHIR element is boolean: the invariant is wrong, the example right"},
      {"Questionnaire-qs1.json",
       "nested items without linkId, which is 1..1 in Questionnaire.item"},
      {"StructureDefinition-Definition.json",
       "logical model, not abstract, without baseDefinition (sdf-4)"},
      {"StructureDefinition-Event.json",
       "logical model, not abstract, without baseDefinition (sdf-4)"},
      {"StructureDefinition-FiveWs.json",
       "logical model, not abstract, without baseDefinition (sdf-4)"},
      {"StructureDefinition-Request.json",
       "logical model, not abstract, without baseDefinition (sdf-4)"},
      {"DeviceMetric-example.json",
       "parent references a DeviceDefinition; DeviceMetric.parent allows Device only"},
      {"DeviceUseStatement-example.json",
       "reasonReference to a Procedure; R4 allows Condition, Observation, DiagnosticReport, DocumentReference, Media"},
      {"MedicationRequest-medrx0301.json",
       "dispenseRequest.performer references a Practitioner; R4 allows Organization only"},
      {"Observation-clinical-gender.json",
       "performer references an Encounter, which Observation.performer does not allow"},
      {"Basic-referral.json",
       "three modifierExtensions under example.org/do-not-use that no loaded definition describes: a receiver "
       "must refuse what it cannot understand"},
      {"Bundle-10bb101f-a121-4264-a920-67be9cb82c74.json",
       "entry fullUrl .../Patient/pat12 holds the Patient with id pat2"},
      {"Bundle-3a0707d3-549e-4467-b8b8-5a2ab3800efe.json",
       "entry fullUrl .../Patient/pat12 holds the Patient with id pat2"},
      {"Bundle-lri-example.json",
       "fullUrls .../Observation/lri-gramstain1 etc. hold Observations whose ids lack the 'lri-' prefix"},
      {"ig-r4.json",
       "the same ImplementationGuide as ImplementationGuide-fhir.json, with the same errors"},
      {"ImplementationGuide-fhir.json",
       "no name and no status (both 1..1), and a manifest reference whose id has 67 characters (ids are at most 64)"},
      {"SearchParameter-questionnaireresponse-extensions-QuestionnaireResponse-item-subject.json",
       "its id has 67 characters; ids are at most 64"},
      {"SearchParameter-codesystem-extensions-CodeSystem-author.json",
       "no base, which is 1..* in SearchParameter"},
      {"SearchParameter-codesystem-extensions-CodeSystem-effective.json",
       "no base, which is 1..* in SearchParameter"},
      {"SearchParameter-codesystem-extensions-CodeSystem-end.json",
       "no base, which is 1..* in SearchParameter"},
      {"SearchParameter-codesystem-extensions-CodeSystem-keyword.json",
       "no base, which is 1..* in SearchParameter"},
      {"SearchParameter-codesystem-extensions-CodeSystem-workflow.json",
       "no base, which is 1..* in SearchParameter"},
      {"SearchParameter-valueset-extensions-ValueSet-author.json",
       "no base, which is 1..* in SearchParameter"},
      {"SearchParameter-valueset-extensions-ValueSet-effective.json",
       "no base, which is 1..* in SearchParameter"},
      {"SearchParameter-valueset-extensions-ValueSet-end.json",
       "no base, which is 1..* in SearchParameter"},
      {"SearchParameter-valueset-extensions-ValueSet-keyword.json",
       "no base, which is 1..* in SearchParameter"},
      {"SearchParameter-valueset-extensions-ValueSet-workflow.json",
       "no base, which is 1..* in SearchParameter"},
  };
  return m;
}

// Errors the R4 package's own definitional resources make throughout, by the start of the
// message: each a real violation of R4's published definitions (checked in the JSON).
struct IssueRule {
  const char* messageStart;
  const char* why;
};
const IssueRule kKnownIssueRules[] = {
    // An extension needs a published definition; these illustrative ones have none in the
    // package (the HL7 validator reports them the same way: "could not be found").
    {"The extension http://example.org/",
     "examples use illustrative example.org extensions that have no definition (an error, as in the HL7 validator)"},
    {"The extension http://nema.org/",
     "DICOM examples use nema.org extension URLs that have no FHIR definition"},
    {"The extension http://hl7.org/fhir/us/core/",
     "an example uses a US Core extension; US Core is not part of the R4 package"},
    {"The extension http://hl7.org/fhir/StructureDefinition/translation is not allowed on ValueSet.expansion.contains",
     "R4's expansions put translation on contains; its context is string, code and markdown (it belongs on "
     "contains.display)"},
    {"The extension http://hl7.org/fhir/StructureDefinition/structuredefinition-normative-version is not allowed",
     "R4's CodeSystems, ValueSets, OperationDefinitions and snapshot elements carry normative-version, whose "
     "context is StructureDefinition only"},
    {"The extension http://hl7.org/fhir/StructureDefinition/regex is not allowed on ElementDefinition.type",
     "R4's primitive type definitions put regex on ElementDefinition.type; its context is ElementDefinition and "
     "Questionnaire.item"},
    {"The extension http://hl7.org/fhir/StructureDefinition/valueset-concept-comments is not allowed on "
     "CodeSystem.concept",
     "used on CodeSystem.concept; its context is ValueSet.compose.include.concept"},
};

class ValidatorExamples : public CoreRegistryTest {};

TEST_F(ValidatorExamples, PackageExamplesHaveNoErrors) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fhirPackageDir()))
    if (e.path().extension() == ".json" && e.path().filename() != "package.json" &&
        e.path().filename().string().find(".index.") == std::string::npos)
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  ASSERT_GT(files.size(), 5000u);

  Validator validator(*reg_);
  auto start = std::chrono::steady_clock::now();
  size_t validated = 0, withErrors = 0, warnings = 0;
  std::set<std::string> listedAndFailing;
  std::map<std::string, size_t> byMessageKind;
  std::string unexpected;
  size_t unexpectedCount = 0;
  std::map<const IssueRule*, size_t> ruleUse;
  for (const fs::path& p : files) {
    ParseResult r = parseJson(*reg_, readFile(p));
    ASSERT_TRUE(r.ok()) << p;
    Issues issues = validator.validate(*r.doc.root());
    ++validated;
    bool errors = false;
    std::vector<Issue> kept;
    for (const Issue& i : issues.items) {
      if (i.severity == Severity::Warning) ++warnings;
      if (i.severity != Severity::Error && i.severity != Severity::Fatal) continue;
      const IssueRule* rule = nullptr;
      for (const IssueRule& k : kKnownIssueRules)
        if (i.message.rfind(k.messageStart, 0) == 0) rule = &k;
      if (rule) {
        ++ruleUse[rule];
        continue;
      }
      errors = true;
      kept.push_back(i);
    }
    issues.items = std::move(kept);
    if (!errors) continue;
    ++withErrors;
    const std::string name = p.filename().string();
    if (knownInvalid().count(name)) {
      listedAndFailing.insert(name);
      continue;
    }
    for (const Issue& i : issues.items) {
      if (i.severity != Severity::Error && i.severity != Severity::Fatal) continue;
      std::string kind = i.code + ": " + i.message.substr(0, i.message.find_first_of("'0123456789"));
      ++byMessageKind[kind];
      if (++unexpectedCount <= 60) unexpected += name + ": " + i.toString() + "\n";
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[          ] %zu resources validated in %.1f s; %zu with errors (%zu listed); %zu warnings\n",
              validated, secs, withErrors, listedAndFailing.size(), warnings);
  for (const auto& [kind, n] : byMessageKind) std::printf("[          ]   %6zu  %s\n", n, kind.c_str());
  for (const IssueRule& k : kKnownIssueRules) {
    std::printf("[          ] %6zu issues: %s\n", ruleUse[&k], k.why);
    EXPECT_GT(ruleUse[&k], 0u) << "the rule for '" << k.messageStart << "' is not used any more";
  }
  EXPECT_EQ(unexpectedCount, 0u) << unexpected;
  for (const auto& [name, why] : knownInvalid())
    EXPECT_TRUE(listedAndFailing.count(name)) << name << " is listed as invalid (" << why << ") but has no errors";
}

}  // namespace
}  // namespace hoa::fhir
