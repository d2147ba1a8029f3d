// Value set expansion from the loaded definitions and FHIRPath memberOf() through it.
#include <gtest/gtest.h>

#include "fhir/fhirpath.h"
#include "fhir/format.h"
#include "fhir/terminology.h"
#include "tests/test_env.h"

namespace hoa::fhir {
namespace {

using hoa::testing::CoreRegistryTest;
class Terminology : public CoreRegistryTest {};

TEST_F(Terminology, ExpandsWholeCodeSystems) {
  RegistryTerminology t(*reg_);
  auto e = t.expand("http://hl7.org/fhir/ValueSet/administrative-gender");
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->complete) << e->why;
  EXPECT_EQ(e->size(), 4u);
  EXPECT_TRUE(e->contains("http://hl7.org/fhir/administrative-gender", "female"));
  EXPECT_TRUE(e->contains("", "unknown")) << "a code without a system matches any system";
  EXPECT_FALSE(e->contains("http://hl7.org/fhir/administrative-gender", "F"));
  EXPECT_EQ(t.expand("http://example.org/no-such-valueset"), nullptr);
}

TEST_F(Terminology, FollowsIsAFiltersDownTheHierarchy) {
  RegistryTerminology t(*reg_);
  const std::string vs = "http://hl7.org/fhir/ValueSet/account-type";
  const std::string actCode = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
  EXPECT_EQ(t.memberOf(actCode, "_ActAccountCode", vs), true);
  EXPECT_EQ(t.memberOf(actCode, "CASH", vs), true);
  EXPECT_EQ(t.memberOf(actCode, "MC", vs), true) << "a grandchild of the filter's concept";
  EXPECT_EQ(t.memberOf(actCode, "AMB", vs), false) << "an ActCode outside the hierarchy";
}

TEST_F(Terminology, ExternalCodeSystemsAreUnknownNotFalse) {
  RegistryTerminology t(*reg_);
  // SNOMED CT is not loaded: membership of a code not listed cannot be decided.
  auto e = t.expand("http://hl7.org/fhir/ValueSet/clinical-findings");
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->complete);
  EXPECT_FALSE(e->why.empty());
  EXPECT_EQ(t.memberOf("http://snomed.info/sct", "404684003", "http://hl7.org/fhir/ValueSet/clinical-findings"),
            std::nullopt);
  EXPECT_EQ(t.codeExists("http://hl7.org/fhir/administrative-gender", "other"), true);
  EXPECT_EQ(t.codeExists("http://hl7.org/fhir/administrative-gender", "x"), false);
  EXPECT_EQ(t.codeExists("http://snomed.info/sct", "404684003"), std::nullopt);
}

TEST_F(Terminology, FhirPathMemberOfAsksTheTerminology) {
  ParseResult p = parseJson(*reg_, R"({"resourceType": "Patient", "gender": "female",
    "maritalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M"}]}})");
  ASSERT_TRUE(p.ok());
  RegistryTerminology t(*reg_);
  fhirpath::Environment env;
  env.terminology = &t;
  auto check = [&](const std::string& expr) -> std::string {
    fhirpath::CompileError err;
    auto e = fhirpath::compile(*reg_, expr, err);
    if (!e) return "compile error: " + err.toString();
    auto r = fhirpath::evaluate(*e, p.doc.root(), env);
    if (!r.ok()) return "error: " + r.error;
    return r.items.empty() ? "empty" : r.items[0].toString();
  };
  EXPECT_EQ(check("gender.memberOf('http://hl7.org/fhir/ValueSet/administrative-gender')"), "true");
  EXPECT_EQ(check("maritalStatus.memberOf('http://hl7.org/fhir/ValueSet/marital-status')"), "true");
  EXPECT_EQ(check("maritalStatus.coding.memberOf('http://hl7.org/fhir/ValueSet/administrative-gender')"), "false");
  EXPECT_EQ(check("gender.memberOf('http://example.org/unknown')"), "empty");
  env.terminology = nullptr;
  EXPECT_EQ(check("gender.memberOf('http://hl7.org/fhir/ValueSet/administrative-gender')"), "empty")
      << "without a terminology service the answer is unknown";
}

}  // namespace
}  // namespace hoa::fhir
