// The FHIR JSON and XML rules, one behaviour at a time.
#include "fhir/format.h"

#include <gtest/gtest.h>

#include "tests/fhir/compare_support.h"
#include "tests/test_env.h"

namespace hoa::fhir {
namespace {

class FhirFormat : public testing::CoreRegistryTest {
 protected:
  ParseResult json(const std::string& text) { return parseJson(*reg_, text); }
  ParseResult xml(const std::string& text) { return parseXml(*reg_, text); }
  std::string toXml(const ParseResult& r) {
    std::string out;
    Issues issues;
    EXPECT_TRUE(writeXml(*r.doc.root(), out, issues));
    return out;
  }
  // JSON → XML → JSON gives back the same JSON.
  void expectRoundTrip(const std::string& text) {
    ParseResult r = json(text);
    ASSERT_TRUE(r.ok()) << r.issues.items.at(0).toString();
    ParseResult back = xml(toXml(r));
    ASSERT_TRUE(back.ok()) << back.issues.items.at(0).toString();
    EXPECT_EQ(testing::diffJson(testing::canonicalJson(text),
                                testing::canonicalJson(writeJson(*back.doc.root()))),
              "");
  }
  const Issue& firstIssue(const ParseResult& r) {
    EXPECT_FALSE(r.issues.empty());
    return r.issues.items.at(0);
  }
};

TEST_F(FhirFormat, BuildsOneTypedTreeWithChoiceTypesResolved) {
  ParseResult r = json(R"({"resourceType":"Observation","status":"final",
    "code":{"text":"x"},"valueQuantity":{"value":1.50,"unit":"kg"}})");
  ASSERT_TRUE(r.ok());
  const Node* root = r.doc.root();
  EXPECT_EQ(root->type->name, "Observation");
  const Node* value = root->child("value");
  ASSERT_NE(value, nullptr);
  EXPECT_EQ(value->type->name, "Quantity");
  EXPECT_EQ(value->child("value")->value, "1.50");
  EXPECT_EQ(value->child("value")->type->name, "decimal");
  EXPECT_EQ(root->child("status")->line, 1u);
}

TEST_F(FhirFormat, KeepsPrimitiveIdsAndExtensionsAlignedInArrays) {
  expectRoundTrip(R"({"resourceType":"Patient","name":[{"given":["Ola",null,"Kari"],
    "_given":[null,{"id":"g2","extension":[{"url":"http://example.org/x","valueString":"y"}]},
    {"id":"g3"}]}],"birthDate":"1970-03-30","_birthDate":{"extension":[{"url":
    "http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":
    "1970-03-30T14:35:45+01:00"}]}})");
}

TEST_F(FhirFormat, WritesPrimitiveExtensionsAndIdsAsXmlAttributesAndChildren) {
  ParseResult r = json(R"({"resourceType":"Patient","birthDate":"1970",
    "_birthDate":{"id":"b","extension":[{"url":"http://e.org/u","valueBoolean":true}]}})");
  ASSERT_TRUE(r.ok());
  std::string x = toXml(r);
  EXPECT_NE(x.find(R"(<birthDate id="b" value="1970"><extension url="http://e.org/u"><valueBoolean value="true"/></extension></birthDate>)"),
            std::string::npos)
      << x;
}

TEST_F(FhirFormat, PrimitiveWithOnlyAnExtensionHasNoValue) {
  ParseResult r = xml(R"(<Patient xmlns="http://hl7.org/fhir"><gender><extension url="http://e.org/u"><valueCode value="x"/></extension></gender></Patient>)");
  ASSERT_TRUE(r.ok());
  std::string j = writeJson(*r.doc.root());
  EXPECT_EQ(j, R"({"resourceType":"Patient","_gender":{"extension":[{"url":"http://e.org/u","valueCode":"x"}]}})");
}

TEST_F(FhirFormat, ContainedResourcesAndBundleEntriesAreResources) {
  expectRoundTrip(R"({"resourceType":"ServiceRequest","contained":[{"resourceType":"Patient",
    "id":"p","active":true}],"status":"active","intent":"order","subject":{"reference":"#p"}})");
  ParseResult r = json(R"({"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":
    "urn:uuid:1","resource":{"resourceType":"Patient","active":false},"request":{"method":"POST",
    "url":"Patient"}}]})");
  ASSERT_TRUE(r.ok());
  const Node* res = r.doc.root()->child("entry")->child("resource");
  ASSERT_NE(res, nullptr);
  EXPECT_TRUE(res->isResource());
  EXPECT_EQ(res->type->name, "Patient");
  std::string x = toXml(r);
  EXPECT_NE(x.find("<resource><Patient><active value=\"false\"/></Patient></resource>"),
            std::string::npos)
      << x;
}

TEST_F(FhirFormat, AcceptsResourceTypeAnywhereInTheObject) {
  ParseResult r = json(R"({"active":true,"resourceType":"Patient"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.doc.root()->type->name, "Patient");
}

TEST_F(FhirFormat, WritesElementsInDefinitionOrderWhateverTheJsonOrder) {
  ParseResult r = json(R"({"resourceType":"Patient","gender":"female","active":true,"id":"x"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(writeJson(*r.doc.root()),
            R"({"resourceType":"Patient","id":"x","active":true,"gender":"female"})");
  EXPECT_EQ(toXml(r), R"(<?xml version="1.0" encoding="UTF-8"?><Patient xmlns="http://hl7.org/fhir"><id value="x"/><active value="true"/><gender value="female"/></Patient>)");
}

TEST_F(FhirFormat, EscapesXmlAttributeValuesSoWhitespaceSurvives) {
  expectRoundTrip(R"({"resourceType":"Patient","id":"x","name":[{"text":"a\n\tb \"c\" <d> & e\r"}]})");
}

TEST_F(FhirFormat, PrettyOutputReadsBackTheSame) {
  std::string text = testing::readFile(testing::fhirPackageDir() / "Bundle-bundle-transaction.json");
  ParseResult r = json(text);
  ASSERT_TRUE(r.ok());
  WriteOptions pretty{true};
  ParseResult again = json(writeJson(*r.doc.root(), pretty));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(writeJson(*again.doc.root()), writeJson(*r.doc.root()));
  std::string x;
  Issues issues;
  ASSERT_TRUE(writeXml(*r.doc.root(), x, issues, pretty));
  ParseResult fromXml = xml(x);
  ASSERT_TRUE(fromXml.ok());
  EXPECT_EQ(writeJson(*fromXml.doc.root()), writeJson(*r.doc.root()));
}

TEST_F(FhirFormat, ReportsErrorsWithElementPathsInsideBundles) {
  ParseResult r = json(R"({"resourceType":"Bundle","type":"collection","entry":[{"resource":
    {"resourceType":"Patient"}},{"resource":{"resourceType":"Patient","name":[{"given":[true]}]}}]})");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(firstIssue(r).expression, "Bundle.entry[1].resource.name[0].given[0]");
  EXPECT_EQ(firstIssue(r).code, "structure");
  EXPECT_EQ(firstIssue(r).line, 2u);
}

TEST_F(FhirFormat, RejectsIntegersOutside32Bits) {
  ParseResult r = json(R"({"resourceType":"Patient","multipleBirthInteger":2147483648})");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(firstIssue(r).code, "value");
  EXPECT_EQ(firstIssue(r).expression, "Patient.multipleBirthInteger");
  EXPECT_TRUE(json(R"({"resourceType":"Patient","multipleBirthInteger":-2147483648})").ok());
  EXPECT_FALSE(json(R"({"resourceType":"Patient","multipleBirthInteger":1.0})").ok());
  EXPECT_FALSE(xml(R"(<Patient xmlns="http://hl7.org/fhir"><multipleBirthInteger value="99999999999"/></Patient>)").ok());
}

TEST_F(FhirFormat, ChecksXmlPrimitiveLexicalForms) {
  EXPECT_FALSE(xml(R"(<Patient xmlns="http://hl7.org/fhir"><active value="yes"/></Patient>)").ok());
  ParseResult r = xml(R"(<Observation xmlns="http://hl7.org/fhir"><status value="final"/><code><text value="x"/></code><valueQuantity><value value="01.5"/></valueQuantity></Observation>)");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(firstIssue(r).expression, "Observation.valueQuantity.value");
  EXPECT_FALSE(xml(R"(<Patient xmlns="http://hl7.org/fhir"><id value=""/></Patient>)").ok());
}

TEST_F(FhirFormat, KeepsTheNarrativeAsXhtml) {
  ParseResult r = xml(R"(<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><p class='a'>x &amp; <b>y</b><br/></p></div></text></Patient>)");
  ASSERT_TRUE(r.ok()) << firstIssue(r).toString();
  const Node* div = r.doc.root()->child("text")->child("div");
  ASSERT_NE(div, nullptr);
  EXPECT_EQ(div->type->name, "xhtml");
  EXPECT_EQ(div->value, R"(<div xmlns="http://www.w3.org/1999/xhtml"><p class="a">x &amp; <b>y</b><br/></p></div>)");
}

TEST_F(FhirFormat, RefusesToWriteANarrativeThatIsNotXhtml) {
  ParseResult r = json(R"({"resourceType":"Patient","text":{"status":"generated","div":"<div>unclosed"}})");
  ASSERT_TRUE(r.ok());
  std::string out;
  Issues issues;
  EXPECT_FALSE(writeXml(*r.doc.root(), out, issues));
  ASSERT_FALSE(issues.empty());
  EXPECT_NE(issues.items[0].message.find("not well-formed XHTML"), std::string::npos);
}

TEST_F(FhirFormat, SniffsTheFormat) {
  EXPECT_EQ(sniffFormat("  \n<Patient/>"), Format::Xml);
  EXPECT_EQ(sniffFormat("\xEF\xBB\xBF{}"), Format::Json);
  EXPECT_EQ(sniffFormat("hello"), std::nullopt);
  ParseResult r = parse(*reg_, "<Patient xmlns=\"http://hl7.org/fhir\"><active value=\"true\"/></Patient>");
  EXPECT_TRUE(r.ok());
}

TEST(Xhtml, CanonicalFormIsStable) {
  std::string out, error;
  ASSERT_TRUE(canonicalXhtml("<div xmlns='http://www.w3.org/1999/xhtml'><img src='a' alt=\"b\"></img>&#160;<!-- c --></div>", out, error));
  EXPECT_EQ(out, "<div xmlns=\"http://www.w3.org/1999/xhtml\"><img src=\"a\" alt=\"b\"/>\xC2\xA0</div>");
  ASSERT_TRUE(canonicalXhtml("<div xmlns='http://www.w3.org/1999/xhtml'><img src='a' alt='b'/></div>", out, error, true));
  EXPECT_EQ(out, "<div xmlns=\"http://www.w3.org/1999/xhtml\"><img alt=\"b\" src=\"a\"/></div>");
  EXPECT_FALSE(canonicalXhtml("<!DOCTYPE div><div xmlns='http://www.w3.org/1999/xhtml'/>", out, error));
  EXPECT_FALSE(canonicalXhtml("<p xmlns='http://www.w3.org/1999/xhtml'/>", out, error));
  EXPECT_FALSE(canonicalXhtml("<div xmlns='http://www.w3.org/1999/xhtml'>&nbsp;</div>", out, error));
}

}  // namespace
}  // namespace hoa::fhir
