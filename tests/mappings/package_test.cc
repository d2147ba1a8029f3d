// The clinic's FHIR package (mappings/package): every resource validates clean with the
// generic validator, and every example against the profile it claims.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "fhir/format.h"
#include "fhir/json.h"
#include "mappings/clinic_package.h"
#include "tests/mappings/clinic_support.h"
#include "tests/test_env.h"

namespace hoa::clinic {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> filesIn(const fs::path& dir, std::initializer_list<std::string_view> extensions) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    for (std::string_view ext : extensions)
      if (e.is_regular_file() && e.path().extension() == ext && e.path().filename() != "package.json")
        out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// Parse and validate; returns the errors (and warnings when `strict`) as text.
std::string problems(const fhir::Registry& reg, const fhir::Validator& v, const fs::path& file, bool strict,
                     const std::vector<std::string>& profiles = {}) {
  fhir::ParseResult parsed = fhir::parse(reg, testing::readFile(file));
  std::string out;
  for (const fhir::Issue& i : parsed.issues.items) out += "  parse: " + i.toString() + "\n";
  if (!parsed.doc.root()) return out;
  fhir::ValidationOptions opts;
  opts.profiles = profiles;
  for (const fhir::Issue& i : v.validate(*parsed.doc.root(), opts).items)
    if (i.severity == fhir::Severity::Error || i.severity == fhir::Severity::Fatal ||
        (strict && i.severity == fhir::Severity::Warning))
      out += "  " + i.toString() + "\n";
  return out;
}

TEST(ClinicPackage, ConformanceResourcesValidateWithoutErrorsOrWarnings) {
  HOA_REQUIRE_CLINIC_REGISTRY(reg, validator);
  std::vector<fs::path> files = filesIn(defaultMappingsDir() / "package", {".json"});
  ASSERT_GE(files.size(), 30u) << "the package looks incomplete";
  size_t profiles = 0;
  for (const fs::path& f : files) {
    EXPECT_EQ(problems(*reg, *validator, f, true), "") << f.filename();
    json::Error err;
    json::Document d = json::Document::parse(testing::readFile(f), err);
    ASSERT_TRUE(d.root()) << f << ": " << err.message;
    if (d.root()->getString("resourceType") == "StructureDefinition") {
      ++profiles;
      // Loaded, and given a snapshot by the registry (profiles are written as differentials).
      const json::Value* sd = reg->resource(d.root()->getString("url"));
      ASSERT_NE(sd, nullptr) << f.filename();
      EXPECT_NE(sd->find("snapshot"), nullptr) << f.filename();
    }
  }
  EXPECT_GE(profiles, 12u);
}

TEST(ClinicPackage, ExamplesAreValidAgainstTheProfilesTheyClaim) {
  HOA_REQUIRE_CLINIC_REGISTRY(reg, validator);
  std::vector<fs::path> files = filesIn(defaultMappingsDir() / "package" / "examples", {".json", ".xml"});
  ASSERT_GE(files.size(), 10u);
  for (const fs::path& f : files) {
    EXPECT_EQ(problems(*reg, *validator, f, true), "") << f.filename();
    // Each example claims a clinic profile somewhere (the root, or its Bundle entries).
    std::string text = testing::readFile(f);
    EXPECT_NE(text.find("https://fhir.sthf.no/helse-og-arbeid/StructureDefinition/hoa-"), std::string::npos)
        << f.filename() << " claims no clinic profile";
  }
}

TEST(ClinicPackage, ReferralExamplesMeetTheReferralProfileAsARestCreate) {
  HOA_REQUIRE_CLINIC_REGISTRY(reg, validator);
  for (const char* name : {"referral-rest-create.json", "referral-rest-create.xml"})
    EXPECT_EQ(problems(*reg, *validator, defaultMappingsDir() / "package" / "examples" / name, true,
                       {"https://fhir.sthf.no/helse-og-arbeid/StructureDefinition/hoa-referral"}),
              "")
        << name;
}

}  // namespace
}  // namespace hoa::clinic
