// Acceptance: every resource of the FHIR R4 package (examples and conformance
// resources) parses, and JSON → tree → JSON and JSON → XML → JSON give it back.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "fhir/definitions.h"
#include "fhir/format.h"
#include "tests/fhir/compare_support.h"
#include "tests/test_env.h"

namespace hoa::testing {
namespace {
namespace fs = std::filesystem;

std::vector<fs::path> packageJsonFiles() {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fhirPackageDir())) {
    std::string name = e.path().filename().string();
    if (name.ends_with(".json") && name != "package.json" && !name.starts_with("."))
      files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

class PackageRoundTrip : public CoreRegistryTest {};

TEST_F(PackageRoundTrip, EveryPackageResourceSurvivesJsonAndXmlRoundTrips) {
  auto files = packageJsonFiles();
  ASSERT_GT(files.size(), 5000u) << "the package looks incomplete";
  size_t failures = 0, checked = 0;
  auto fail = [&](const fs::path& f, const std::string& what) {
    if (++failures <= 25) ADD_FAILURE() << f.filename().string() << ": " << what;
  };
  for (const fs::path& f : files) {
    std::string text = readFile(f);
    CValue original = canonicalJson(text);
    fhir::ParseResult r = fhir::parseJson(*reg_, text);
    if (!r.ok()) {
      fail(f, "does not parse: " + (r.issues.empty() ? std::string("?")
                                                      : r.issues.items[0].toString()));
      continue;
    }
    // JSON → tree → JSON: identical after canonical comparison (number text exact).
    std::string json = fhir::writeJson(*r.doc.root());
    std::string d = diffJson(original, canonicalJson(json));
    if (!d.empty()) {
      fail(f, "JSON → JSON differs: " + d);
      continue;
    }
    // JSON → XML → JSON.
    std::string xml;
    fhir::Issues wi;
    if (!fhir::writeXml(*r.doc.root(), xml, wi)) {
      fail(f, "cannot write XML: " + wi.items[0].toString());
      continue;
    }
    fhir::ParseResult back = fhir::parseXml(*reg_, xml);
    if (!back.ok()) {
      fail(f, "the XML written does not parse: " +
                  (back.issues.empty() ? std::string("?") : back.issues.items[0].toString()));
      continue;
    }
    CValue expected = original, actual = canonicalJson(fhir::writeJson(*back.doc.root()));
    applyAllowances(expected, {});
    applyAllowances(actual, {});
    d = diffJson(expected, actual);
    if (!d.empty()) {
      fail(f, "JSON → XML → JSON differs: " + d);
      continue;
    }
    ++checked;
  }
  EXPECT_EQ(failures, 0u) << failures << " of " << files.size() << " files failed";
  std::cout << "[          ] " << checked << " of " << files.size()
            << " package resources round-tripped JSON→JSON and JSON→XML→JSON\n";
}

}  // namespace
}  // namespace hoa::testing
