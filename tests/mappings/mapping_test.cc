// The declarative mapping engine (mappings/mapping.h): load-time checks and parameters.
#include "mappings/mapping.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fhir/format.h"
#include "mappings/clinic_package.h"
#include "mappings/intake.h"
#include "tests/mappings/clinic_support.h"
#include "tests/test_env.h"

namespace hoa::clinic {
namespace {

TEST(Mapping, RefusesBrokenFilesAtLoad) {
  HOA_REQUIRE_CLINIC_REGISTRY(reg, validator);
  std::string error;
  EXPECT_FALSE(Mapping::load(*reg, R"({"name": "x", "focus": "Nope", "fields": []})", error));
  EXPECT_NE(error.find("focus"), std::string::npos) << error;
  EXPECT_FALSE(Mapping::load(*reg, R"({"name": "x", "focus": "Patient",
      "fields": [{"field": "a", "expression": "nmae.given"}]})", error));
  EXPECT_NE(error.find("'a'"), std::string::npos) << "an unknown element is a load error: " << error;
  EXPECT_FALSE(Mapping::load(*reg, R"({"name": "x", "focus": "Patient",
      "fields": [{"field": "a", "expression": "name"}, {"field": "a", "expression": "gender"}]})", error));
  EXPECT_NE(error.find("twice"), std::string::npos) << error;
}

TEST(Mapping, ParametersComeFromTheCaller) {
  HOA_REQUIRE_CLINIC_REGISTRY(reg, validator);
  std::string error;
  auto m = Mapping::load(*reg, R"({"name": "x", "focus": "Patient", "parameters": ["wanted"],
      "fields": [{"field": "match", "expression": "identifier.where(value = %wanted).value"}]})", error);
  ASSERT_TRUE(m) << error;
  fhir::ParseResult p = fhir::parse(*reg, R"({"resourceType": "Patient",
      "identifier": [{"value": "a"}, {"value": "b"}]})");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(m->evaluate(*p.doc.root(), nullptr, {{"wanted", "b"}}).texts("match"), std::vector<std::string>{"b"});
  EXPECT_TRUE(m->evaluate(*p.doc.root(), nullptr).texts("match").empty()) << "an absent parameter is empty";
  EXPECT_THROW(m->evaluate(*p.doc.root(), nullptr).items("nope"), std::out_of_range);
}

TEST(Mapping, TheIntakeRefusesAMappingWithoutAFieldItReads) {
  HOA_REQUIRE_CLINIC_REGISTRY(reg, validator);
  std::string text = testing::readFile(defaultMappingsDir() / "referral.map.json");
  const std::string field = R"({"field": "work.occupation",)";
  size_t at = text.find(field);
  ASSERT_NE(at, std::string::npos);
  text.replace(at, field.size(), R"({"field": "work.occupationX",)");
  std::filesystem::path tmp = std::filesystem::temp_directory_path() / "hoa-mapping-test.map.json";
  std::ofstream(tmp) << text;
  std::string error;
  EXPECT_FALSE(ReferralIntake::create(*reg, *validator, tmp.string(), IntakeConfig{}, error));
  EXPECT_NE(error.find("lacks the field 'work.occupation'"), std::string::npos) << error;
  std::filesystem::remove(tmp);
}

}  // namespace
}  // namespace hoa::clinic
