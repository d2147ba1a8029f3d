// Acceptance: the official XML examples parse and equal their JSON twins; their JSON
// twins serialized to XML equal the official XML (which proves element order); the
// fhir-test-cases round-trip twins convert into each other exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>

#include "fhir/definitions.h"
#include "fhir/format.h"
#include "fhir/json.h"
#include "tests/fhir/compare_support.h"
#include "tests/test_env.h"

namespace hoa::testing {
namespace {
namespace fs = std::filesystem;

struct XmlExample {
  std::string file;
  std::string jsonTwin;  // file name in the package
  bool narrativeTextEqual = true;
  bool htest = true;
};

std::vector<XmlExample> loadIndex(const fs::path& dir) {
  json::Error err;
  json::Document doc = json::Document::parse(readFile(dir / "index.json"), err);
  if (err) throw std::runtime_error("index.json: " + err.message);
  std::vector<XmlExample> out;
  for (const json::Value* item : *doc.root()->find("items")) {
    XmlExample e;
    e.file = std::string(item->getString("file"));
    e.jsonTwin = fs::path(std::string(item->getString("jsonTwin"))).filename().string();
    if (const json::Value* v = item->find("narrativeTextEqual")) e.narrativeTextEqual = v->boolean;
    if (const json::Value* v = item->find("xmlHasExtraHTESTSecurityTag")) e.htest = v->boolean;
    out.push_back(std::move(e));
  }
  return out;
}

class XmlConformance : public CoreRegistryTest {
 protected:
  void SetUp() override {
    CoreRegistryTest::SetUp();
    if (IsSkipped()) return;
    if (sharedDir().empty())
      GTEST_SKIP() << "../shared/conformance is absent: the XML conformance tests need it";
  }
};

TEST_F(XmlConformance, OfficialXmlExamplesEqualTheirJsonTwinsBothWays) {
  fs::path dir = sharedDir() / "conformance/xml-examples";
  auto examples = loadIndex(dir);
  ASSERT_EQ(examples.size(), 502u);
  size_t failures = 0, passed = 0;
  auto fail = [&](const XmlExample& e, const std::string& what) {
    if (++failures <= 25) ADD_FAILURE() << e.file << ": " << what;
  };
  for (const XmlExample& e : examples) {
    std::string xml = readFile(dir / e.file);
    std::string twin = readFile(fhirPackageDir() / e.jsonTwin);
    Allowances allow;
    allow.dropHtestSecurityTag = e.htest;
    allow.ignoreNarrativeDiv = !e.narrativeTextEqual;
    allow.foldNarrativeWhitespace = true;
    // 1. XML → tree → JSON equals the JSON twin.
    fhir::ParseResult r = fhir::parseXml(*reg_, xml);
    if (!r.ok()) {
      fail(e, "does not parse: " + r.issues.items.at(0).toString());
      continue;
    }
    CValue expected = canonicalJson(twin), actual = canonicalJson(fhir::writeJson(*r.doc.root()));
    applyAllowances(expected, allow);
    applyAllowances(actual, allow);
    if (std::string d = diffJson(expected, actual); !d.empty()) {
      fail(e, "XML → JSON differs from the JSON twin: " + d);
      continue;
    }
    // 2. JSON twin → XML equals the official XML (canonical XML comparison).
    fhir::ParseResult j = fhir::parseJson(*reg_, twin);
    if (!j.ok()) {
      fail(e, "JSON twin does not parse: " + j.issues.items.at(0).toString());
      continue;
    }
    std::string written;
    fhir::Issues wi;
    if (!fhir::writeXml(*j.doc.root(), written, wi)) {
      fail(e, "cannot write XML: " + wi.items.at(0).toString());
      continue;
    }
    CElement ex = canonicalXml(xml), ac = canonicalXml(written);
    applyAllowances(ex, allow);
    applyAllowances(ac, allow);
    if (std::string d = diffXml(ex, ac); !d.empty()) {
      fail(e, "JSON twin → XML differs from the official XML: " + d);
      continue;
    }
    ++passed;
  }
  EXPECT_EQ(failures, 0u) << failures << " of " << examples.size() << " examples failed";
  std::cout << "[          ] " << passed << " of " << examples.size()
            << " XML examples equal their JSON twins both ways\n";
}

TEST_F(XmlConformance, RoundTripTwinsConvertIntoEachOtherExactly) {
  fs::path dir = sharedDir() / "conformance/roundtrip/fhir-test-cases-r4";
  size_t pairs = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".xml") continue;
    fs::path xmlPath = entry.path(), jsonPath = entry.path();
    jsonPath.replace_extension(".json");
    SCOPED_TRACE(xmlPath.filename().string());
    ASSERT_TRUE(fs::exists(jsonPath));
    ++pairs;
    std::string xml = readFile(xmlPath), jsonText = readFile(jsonPath);
    fhir::ParseResult fromXml = fhir::parseXml(*reg_, xml);
    ASSERT_TRUE(fromXml.ok()) << fromXml.issues.items.at(0).toString();
    fhir::ParseResult fromJson = fhir::parseJson(*reg_, jsonText);
    ASSERT_TRUE(fromJson.ok()) << fromJson.issues.items.at(0).toString();
    // XML → JSON equals the JSON twin; JSON → XML equals the XML twin.
    CValue ej = canonicalJson(jsonText), aj = canonicalJson(fhir::writeJson(*fromXml.doc.root()));
    applyAllowances(ej, {});
    applyAllowances(aj, {});
    CElement ex = canonicalXml(xml);
    // The published twins of observation-example differ in their data: the XML has a
    // top-level patient-age extension that the JSON lacks. Compare the rest.
    if (xmlPath.stem() == "observation-example") {
      ASSERT_TRUE(aj.members.count("extension"));
      aj.members.erase("extension");
      std::erase_if(ex.children, [](const CElement& c) { return c.name == "extension"; });
    }
    // observation-decimal writes each value in another form in each twin: equal by value
    // here; that each direction keeps its own text is the next test.
    bool byValue = xmlPath.stem() == "observation-decimal";
    EXPECT_EQ(diffJson(ej, aj, byValue), "");
    std::string written;
    fhir::Issues wi;
    ASSERT_TRUE(fhir::writeXml(*fromJson.doc.root(), written, wi));
    CElement ax = canonicalXml(written);
    EXPECT_EQ(diffXml(ex, ax, byValue), "");
  }
  EXPECT_EQ(pairs, 5u);
}

TEST_F(XmlConformance, ObservationDecimalKeepsEveryDecimalsText) {
  fs::path dir = sharedDir() / "conformance/roundtrip/fhir-test-cases-r4";
  std::string jsonText = readFile(dir / "observation-decimal.json");
  std::string xml = readFile(dir / "observation-decimal.xml");
  // The decimal literals of each twin, in document order.
  json::Error err;
  json::Document src = json::Document::parse(jsonText, err);
  ASSERT_FALSE(err);
  std::vector<std::string> jsonNumbers, xmlNumbers;
  std::function<void(const json::Value&)> collect = [&](const json::Value& v) {
    if (v.type == json::Type::Number) jsonNumbers.emplace_back(v.text);
    if (v.isArray())
      for (const json::Value* i : v) collect(*i);
    if (v.isObject())
      for (uint32_t k = 0; k < v.size; ++k) collect(*v.members[k].value);
  };
  collect(*src.root());
  for (size_t pos = 0; (pos = xml.find("<value value=\"", pos)) != std::string::npos;) {
    pos += 14;
    xmlNumbers.push_back(xml.substr(pos, xml.find('"', pos) - pos));
  }
  ASSERT_EQ(xmlNumbers.size(), 7u);
  EXPECT_NE(std::find(xmlNumbers.begin(), xmlNumbers.end(), "1.0e0"), xmlNumbers.end());
  EXPECT_NE(std::find(xmlNumbers.begin(), xmlNumbers.end(), "0.0000000000000000000001"),
            xmlNumbers.end());

  // XML → JSON keeps the XML's text of every decimal; JSON → XML keeps the JSON's.
  fhir::ParseResult fromXml = fhir::parseXml(*reg_, xml);
  ASSERT_TRUE(fromXml.ok());
  std::string outJson = fhir::writeJson(*fromXml.doc.root());
  for (const std::string& n : xmlNumbers)
    EXPECT_NE(outJson.find("\"value\":" + n + ","), std::string::npos) << n << " lost in XML → JSON";
  fhir::ParseResult fromJson = fhir::parseJson(*reg_, jsonText);
  ASSERT_TRUE(fromJson.ok());
  std::string outXml;
  fhir::Issues wi;
  ASSERT_TRUE(fhir::writeXml(*fromJson.doc.root(), outXml, wi));
  for (const std::string& n : jsonNumbers)
    EXPECT_NE(outXml.find("value=\"" + n + "\""), std::string::npos) << n << " lost in JSON → XML";
  // And back again: XML → JSON → XML gives the XML's texts.
  fhir::ParseResult again = fhir::parseJson(*reg_, outJson);
  ASSERT_TRUE(again.ok());
  std::string xml2;
  ASSERT_TRUE(fhir::writeXml(*again.doc.root(), xml2, wi));
  for (const std::string& n : xmlNumbers)
    EXPECT_NE(xml2.find("value=\"" + n + "\""), std::string::npos) << n << " lost in XML → JSON → XML";
}

}  // namespace
}  // namespace hoa::testing
