// The command line (hoa::gateway::runCli): exit codes and diagnostics of `convert`, and
// the output of `fhirpath` (one compact JSON line per expression).
// Malformed inputs come from the corpus of tests/data/malformed/; their expected line and
// column are read from its manifest, cases.json, the same one the FHIR tests check.
#include "gateway/cli.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fhir/json.h"
#include "tests/test_env.h"

namespace hoa::testing {
namespace {
namespace fs = std::filesystem;

struct CliRun {
  int code = -1;
  std::string out, err;
};

CliRun cli(const std::vector<std::string>& args, const std::string& stdinText = {}) {
  std::istringstream in(stdinText);
  std::ostringstream out, err;
  CliRun r;
  r.code = gateway::runCli(args, in, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

// The file and expected location of a corpus case.
struct Expected {
  fs::path file;
  uint32_t line = 0, column = 0;
};

Expected corpusCase(const std::string& name) {
  json::Error err;
  json::Document doc =
      json::Document::parse(readFile(testDataDir() / "malformed" / "cases.json"), err);
  if (err) throw std::runtime_error("cases.json: " + err.message);
  const json::Value* cases = doc.root()->find("cases");
  if (!cases || !cases->isArray()) throw std::runtime_error("cases.json has no cases");
  for (const json::Value* c : *cases) {
    if (c->getString("name") != name) continue;
    Expected e;
    e.file = testDataDir() / "malformed" / std::string(c->getString("file"));
    e.line = static_cast<uint32_t>(std::stoul(std::string(c->find("line")->text)));
    e.column = static_cast<uint32_t>(std::stoul(std::string(c->find("column")->text)));
    return e;
  }
  throw std::runtime_error("no case " + name + " in cases.json");
}

class CliConvert : public ::testing::Test {
 protected:
  void SetUp() override {
    package_ = fhirPackageDir();
    if (package_.empty())
      GTEST_SKIP() << "FHIR package hl7.fhir.r4.examples#4.0.1 not found: run ./dev setup";
    tmp_ = fs::temp_directory_path() / ("hoa_cli_test_" + std::to_string(::getpid()));
    fs::create_directories(tmp_);
  }
  void TearDown() override {
    std::error_code ec;
    if (!tmp_.empty()) fs::remove_all(tmp_, ec);
  }
  fs::path write(const std::string& name, const std::string& text) {
    fs::path p = tmp_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  fs::path package_, tmp_;
};

const char* kGoodJson =
    R"({"resourceType": "Patient", "id": "p1", "active": true, "name": [{"family": "Lee", "given": ["Ann"]}], "birthDate": "1970-01-01"})";
const char* kGoodXml =
    "<Patient xmlns=\"http://hl7.org/fhir\"><id value=\"p1\"/><active value=\"true\"/>"
    "<name><family value=\"Lee\"/><given value=\"Ann\"/></name></Patient>";

TEST_F(CliConvert, MalformedFileExitsOneWithPathLineAndColumn) {
  for (const char* name : {"json-duplicate-key-nested", "json-unknown-element",
                           "json-truncated-mid-string", "xml-unknown-element",
                           "xml-doctype-external-entity", "xml-invalid-utf8"}) {
    SCOPED_TRACE(name);
    Expected e = corpusCase(name);
    CliRun r = cli({"convert", "--package", package_.string(), e.file.string()});
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(r.out.empty()) << r.out;
    const std::string where = "line " + std::to_string(e.line) + ", column " + std::to_string(e.column);
    EXPECT_NE(r.err.find(e.file.string() + ": "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(where), std::string::npos) << "expected '" << where << "' in\n" << r.err;
    EXPECT_EQ(r.err.find("root:"), std::string::npos) << "the external entity was read";
  }
}

TEST_F(CliConvert, MalformedStdinExitsOneAndNamesStdin) {
  Expected e = corpusCase("json-duplicate-key-top");
  CliRun r = cli({"convert", "--package", package_.string(), "-"}, readFile(e.file));
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(r.out.empty());
  EXPECT_NE(r.err.find("<stdin>: fatal: line " + std::to_string(e.line) + ", column " +
                       std::to_string(e.column) + ": "),
            std::string::npos)
      << r.err;
}

TEST_F(CliConvert, GoodFilesExitZero) {
  // JSON → XML (the default for JSON input), with the default package folder.
  CliRun r = cli({"convert", write("good.json", kGoodJson).string()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  EXPECT_NE(r.out.find("<Patient xmlns=\"http://hl7.org/fhir\">"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("<family value=\"Lee\"/>"), std::string::npos) << r.out;

  // XML → JSON, pretty.
  r = cli({"convert", "--package", package_.string(), "--pretty", write("good.xml", kGoodXml).string()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  EXPECT_NE(r.out.find("\"resourceType\": \"Patient\""), std::string::npos) << r.out;

  // JSON → JSON from stdin.
  r = cli({"convert", "--package", package_.string(), "--to", "json", "-"}, kGoodJson);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\"family\":\"Lee\""), std::string::npos) << r.out;
}

TEST_F(CliConvert, MissingFileExitsOne) {
  CliRun r = cli({"convert", "--package", package_.string(), (tmp_ / "absent.json").string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("cannot read"), std::string::npos) << r.err;
}

// Usage errors exit 2 (before any definitions are loaded).
TEST(CliUsage, UsageErrorsExitTwo) {
  const std::vector<std::vector<std::string>> usage = {
      {},
      {"frobnicate"},
      {"convert"},
      {"convert", "--to", "yaml", "x.json"},
      {"convert", "--bogus", "x.json"},
      {"convert", "a.json", "b.json"},
  };
  for (const auto& args : usage) {
    std::string joined;
    for (const auto& a : args) joined += " " + a;
    SCOPED_TRACE("fhir-gateway" + joined);
    CliRun r = cli(args);
    EXPECT_EQ(r.code, 2);
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_FALSE(r.err.empty());
  }
  CliRun help = cli({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("usage: fhir-gateway"), std::string::npos);
}

TEST(CliUsage, UnreadablePackageExitsTwo) {
  CliRun r = cli({"convert", "--package", "/nonexistent/hoa/package", "-"}, kGoodJson);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("cannot load the FHIR definitions"), std::string::npos) << r.err;
}

// What convert writes, it can read back. A JSON string may hold any character escaped
// (here U+0001), but no XML 1.0 document can carry it (not even as &#1;) and FHIR strings
// exclude it: convert must refuse it rather than write XML nobody can read.
TEST_F(CliConvert, XmlOutputCanBeReadBack) {
  const std::string json =
      R"({"resourceType": "Patient", "name": [{"family": "Lee\u0001", "given": ["Ann"]}]})";
  CliRun toXml = cli({"convert", "--package", package_.string(), "--to", "xml", "-"}, json);
  if (toXml.code != 0) {
    EXPECT_EQ(toXml.code, 1);
    EXPECT_FALSE(toXml.err.empty());
    return;
  }
  CliRun back = cli({"convert", "--package", package_.string(), "--to", "json", "-"}, toXml.out);
  EXPECT_EQ(back.code, 0) << "the XML written cannot be read back:\n" << back.err;
}


// --- fhirpath ------------------------------------------------------------------------

// The lines of the output, each checked to be one JSON value (compact: no line breaks
// inside).
std::vector<std::string> outputLines(const std::string& out) {
  std::vector<std::string> lines;
  std::istringstream ss(out);
  for (std::string line; std::getline(ss, line);) {
    json::Error err;
    json::Document doc = json::Document::parse(line, err);
    EXPECT_FALSE(err) << "not JSON: " << line << ": " << err.message;
    lines.push_back(line);
  }
  EXPECT_TRUE(out.empty() || out.back() == '\n') << "the last line is not terminated";
  return lines;
}

class CliFhirPath : public CliConvert {
 protected:
  // fhir-gateway fhirpath --package P [--input FILE] EXPR...
  CliRun run(const std::string& input, const std::vector<std::string>& exprs,
             const std::string& stdinText = {}) {
    std::vector<std::string> args = {"fhirpath", "--package", package_.string()};
    if (!input.empty()) {
      args.push_back("--input");
      args.push_back(input);
    }
    args.push_back("--");
    args.insert(args.end(), exprs.begin(), exprs.end());
    return cli(args, stdinText);
  }
};

TEST_F(CliFhirPath, SeveralExpressionsOneLineEach) {
  CliRun r = run(write("p.json", kGoodJson).string(),
                 {"name.given", "birthDate", "active", "name.given.count()", "gender",
                  "name.given | name.family", "'say \"hi\"\\\\' + birthDate.toString()"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  std::vector<std::string> lines = outputLines(r.out);
  ASSERT_EQ(lines.size(), 7u) << r.out;
  EXPECT_EQ(lines[0], R"([{"type":"string","value":"Ann"}])");
  EXPECT_EQ(lines[1], R"([{"type":"date","value":"1970-01-01"}])");
  EXPECT_EQ(lines[2], R"([{"type":"boolean","value":"true"}])");
  EXPECT_EQ(lines[3], R"([{"type":"integer","value":"1"}])");
  EXPECT_EQ(lines[4], "[]");
  EXPECT_EQ(lines[5], R"([{"type":"string","value":"Ann"},{"type":"string","value":"Lee"}])");
  // Escaped in the FHIRPath literal ('\\' is one backslash), escaped again in JSON.
  EXPECT_EQ(lines[6], R"([{"type":"string","value":"say \"hi\"\\1970-01-01"}])");
}

TEST_F(CliFhirPath, ComplexResultsAreFhirJson) {
  const std::string obs =
      R"({"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "weight"},)"
      R"( "valueQuantity": {"value": 1.50, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}})";
  const std::string pat =
      R"({"resourceType": "Patient", "name": [{"use": "official", "family": "Lee", "given": ["Ann", "B"]}],)"
      R"( "_birthDate": {"extension": [{"url": "http://example.org/x", "valueBoolean": true}]},)"
      R"( "contained": [{"resourceType": "Organization", "id": "org", "name": "Acme"}]})";
  CliRun r = run(write("o.json", obs).string(), {"value", "value.value", "Observation"});
  EXPECT_EQ(r.code, 0) << r.err;
  std::vector<std::string> lines = outputLines(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  // Numbers stay numbers, with their exact text; the choice element is the Quantity.
  EXPECT_EQ(lines[0],
            R"([{"type":"Quantity","value":{"value":1.50,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"}}])");
  EXPECT_EQ(lines[1], R"([{"type":"decimal","value":"1.50"}])");
  // A resource is written with its resourceType, as convert writes it.
  EXPECT_EQ(lines[2],
            R"([{"type":"Observation","value":{"resourceType":"Observation","id":"o1","status":"final",)"
            R"("code":{"text":"weight"},"valueQuantity":{"value":1.50,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"}}}])");

  r = run(write("p.json", pat).string(), {"name", "birthDate", "contained", "name.given[1]"});
  EXPECT_EQ(r.code, 0) << r.err;
  lines = outputLines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  // Repeating elements are arrays even with one item.
  EXPECT_EQ(lines[0],
            R"([{"type":"HumanName","value":{"use":"official","family":"Lee","given":["Ann","B"]}}])");
  // A primitive without a value: its id and extensions, as in "_birthDate".
  EXPECT_EQ(lines[1],
            R"([{"type":"date","value":{"extension":[{"url":"http://example.org/x","valueBoolean":true}]}}])");
  EXPECT_EQ(lines[2],
            R"([{"type":"Organization","value":{"resourceType":"Organization","id":"org","name":"Acme"}}])");
  EXPECT_EQ(lines[3], R"([{"type":"string","value":"B"}])");
}

TEST_F(CliFhirPath, MemberOfUsesTheLoadedValueSets) {
  CliRun r = run(write("p.json", kGoodJson).string(),
                 {"'female'.memberOf('http://hl7.org/fhir/ValueSet/administrative-gender')",
                  "'F'.memberOf('http://hl7.org/fhir/ValueSet/administrative-gender')",
                  "gender.memberOf('http://example.org/unknown-valueset')"});
  EXPECT_EQ(r.code, 0) << r.err;
  std::vector<std::string> lines = outputLines(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_EQ(lines[0], R"([{"type":"boolean","value":"true"}])");
  EXPECT_EQ(lines[1], R"([{"type":"boolean","value":"false"}])");
  EXPECT_EQ(lines[2], "[]") << "an unknown value set gives no answer";
}

TEST_F(CliFhirPath, XmlInput) {
  CliRun r = run(write("p.xml", kGoodXml).string(),
                 {"name.family", "active and name.exists()", "name"});
  EXPECT_EQ(r.code, 0) << r.err;
  std::vector<std::string> lines = outputLines(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_EQ(lines[0], R"([{"type":"string","value":"Lee"}])");
  EXPECT_EQ(lines[1], R"([{"type":"boolean","value":"true"}])");
  EXPECT_EQ(lines[2], R"([{"type":"HumanName","value":{"family":"Lee","given":["Ann"]}}])");

  // The same from standard input.
  r = run("-", {"name.given"}, kGoodXml);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "[{\"type\":\"string\",\"value\":\"Ann\"}]\n");
}

TEST_F(CliFhirPath, InvalidExpressionIsAnErrorOnItsLine) {
  CliRun r = run(write("p.json", kGoodJson).string(),
                 {"name.given", "name.where(use = 'official'", "1 + 1", "name.foo",
                  "(1 | 2).single()", "birthDate"});
  EXPECT_EQ(r.code, 1);
  std::vector<std::string> lines = outputLines(r.out);
  ASSERT_EQ(lines.size(), 6u) << r.out;
  EXPECT_EQ(lines[0], R"([{"type":"string","value":"Ann"}])");
  // A syntax error: the message has its position.
  EXPECT_TRUE(lines[1].starts_with(R"({"error":"line 1, column )")) << lines[1];
  EXPECT_EQ(lines[2], R"([{"type":"integer","value":"2"}])");
  // Checked against the input's type: a Patient has no element foo.
  EXPECT_TRUE(lines[3].starts_with(R"({"error":"line 1, column 6: )")) << lines[3];
  EXPECT_NE(lines[3].find("foo"), std::string::npos) << lines[3];
  // An evaluation error: single() on two items.
  EXPECT_TRUE(lines[4].starts_with(R"({"error":")")) << lines[4];
  EXPECT_EQ(lines[5], R"([{"type":"date","value":"1970-01-01"}])");
}

TEST_F(CliFhirPath, WithoutInput) {
  CliRun r = cli({"fhirpath", "--package", package_.string(), "1 + 1", "'a' & 'b'", "{}",
                  "name.given", "2.0 / 4", "@2024-01-02", "4 'mg'", "1.type()"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  std::vector<std::string> lines = outputLines(r.out);
  ASSERT_EQ(lines.size(), 8u) << r.out;
  EXPECT_EQ(lines[0], R"([{"type":"integer","value":"2"}])");
  EXPECT_EQ(lines[1], R"([{"type":"string","value":"ab"}])");
  EXPECT_EQ(lines[2], "[]");
  EXPECT_EQ(lines[3], "[]");  // no focus, no type to check against: empty
  EXPECT_EQ(lines[4], R"([{"type":"decimal","value":"0.5"}])");
  EXPECT_EQ(lines[5], R"([{"type":"date","value":"2024-01-02"}])");
  EXPECT_EQ(lines[6], R"([{"type":"Quantity","value":"4 'mg'"}])");
  // type(): the namespace and name.
  EXPECT_NE(lines[7].find(R"("value":{"namespace":"System","name":"Integer"})"), std::string::npos)
      << lines[7];
}

TEST_F(CliFhirPath, UsageErrorsExitTwo) {
  const fs::path good = write("p.json", kGoodJson);
  const fs::path bad = write("bad.json", R"({"resourceType": "Patient", "bogus": 1})");
  const std::vector<std::vector<std::string>> usage = {
      {"fhirpath"},                                          // no expression
      {"fhirpath", "--input", good.string()},                // no expression
      {"fhirpath", "--input", (tmp_ / "absent.json").string(), "name"},  // unreadable
      {"fhirpath", "--input", bad.string(), "name"},         // invalid input
      {"fhirpath", "--bogus", "name"},                       // unknown option
      {"fhirpath", "--input"},                               // option without its value
  };
  for (auto args : usage) {
    args.insert(args.begin() + 1, {"--package", package_.string()});
    std::string joined;
    for (const auto& a : args) joined += " " + a;
    SCOPED_TRACE("fhir-gateway" + joined);
    CliRun r = cli(args);
    EXPECT_EQ(r.code, 2);
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_FALSE(r.err.empty());
  }
  CliRun r = cli({"fhirpath", "--package", package_.string(), "--input", bad.string(), "name"});
  EXPECT_NE(r.err.find("bogus"), std::string::npos) << r.err;
  r = cli({"fhirpath", "--package", package_.string(), "--input", "-", "name"}, "{not json");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("<stdin>: fatal: line 1, column "), std::string::npos) << r.err;
}

}  // namespace
}  // namespace hoa::testing

namespace hoa::testing {
namespace {

class CliValidate : public CliConvert {};

TEST_F(CliValidate, OneOutcomeLinePerFileAndExitStatus) {
  const std::string bad = R"({"resourceType": "Patient", "gender": "kvinne"})";
  CliRun r = cli({"validate", write("good.json", kGoodJson).string(), write("bad.json", bad).string()}, "");
  EXPECT_EQ(r.code, 1) << r.err;
  std::vector<std::string> lines = outputLines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_NE(lines[0].find("\"file\":"), std::string::npos);
  EXPECT_NE(lines[0].find("\"resourceType\":\"OperationOutcome\""), std::string::npos);
  EXPECT_EQ(lines[0].find("\"severity\":\"error\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("\"severity\":\"error\""), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("\"expression\":[\"Patient.gender\"]"), std::string::npos) << lines[1];

  CliRun ok = cli({"validate", write("good2.json", kGoodJson).string()}, "");
  EXPECT_EQ(ok.code, 0) << ok.out;
  CliRun usage = cli({"validate"}, "");
  EXPECT_EQ(usage.code, 2);
  CliRun profile = cli({"validate", "--profile", "http://hl7.org/fhir/StructureDefinition/vitalsigns",
                        write("obs.json", R"({"resourceType": "Observation", "status": "final", "code": {"text": "x"}})").string()},
                       "");
  EXPECT_EQ(profile.code, 1);
  EXPECT_NE(profile.out.find("vitalsigns"), std::string::npos) << profile.out;
}

class CliMap : public CliConvert {
 protected:
  static std::string example(const char* name) { return (sourceDir() / "mappings" / "package" / "examples" / name).string(); }
};

TEST_F(CliMap, AcceptedReferralPrintsTheInternalModelAndExitsZero) {
  for (const char* name : {"referral-rest-create.json", "referral-transaction.xml", "referral-message.json"}) {
    CliRun r = cli({"map", "--allow-synthetic-ids", "--received-at", "2026-11-20T09:15:00Z", "--id", "r-1", example(name)});
    EXPECT_EQ(r.code, 0) << name << "\n" << r.out << r.err;
    json::Error err;
    json::Document d = json::Document::parse(r.out, err);
    ASSERT_TRUE(d.root()) << name << ": " << err.message << "\n" << r.out;
    const json::Value* referral = d.root()->find("referral");
    ASSERT_NE(referral, nullptr) << r.out;
    EXPECT_EQ(referral->getString("id"), "r-1");
    EXPECT_EQ(referral->getString("assessmentDeadline"), "2026-12-04");
    EXPECT_EQ(referral->getString("status"), "received");
    EXPECT_EQ(referral->find("patient")->getString("idType"), "fnr");
    EXPECT_EQ(d.root()->find("outcome")->getString("resourceType"), "OperationOutcome");
  }
}

TEST_F(CliMap, RejectedReferralPrintsOnlyTheOutcomeAndExitsOne) {
  // The examples use a synthetic national id: refused unless test data is allowed.
  CliRun nb = cli({"map", example("referral-rest-create.json")});
  EXPECT_EQ(nb.code, 1) << nb.out << nb.err;
  EXPECT_EQ(nb.out.find("\"referral\""), std::string::npos) << nb.out;
  EXPECT_NE(nb.out.find("national-id-synthetic"), std::string::npos) << nb.out;
  EXPECT_NE(nb.out.find("syntetisk testnummer"), std::string::npos) << "bokmål by default: " << nb.out;
  CliRun en = cli({"map", "--lang", "en", example("referral-rest-create.json")});
  EXPECT_EQ(en.code, 1);
  EXPECT_NE(en.out.find("synthetic test number"), std::string::npos) << en.out;
  // Not FHIR at all: the parser's outcome, exit 1.
  CliRun junk = cli({"map", write("junk.json", "{\"resourceType\": \"ServiceRequest\", \"status\": 3}").string()});
  EXPECT_EQ(junk.code, 1);
  EXPECT_NE(junk.out.find("\"outcome\""), std::string::npos) << junk.out;
}

TEST_F(CliMap, UsageErrorsExitTwo) {
  EXPECT_EQ(cli({"map"}).code, 2);
  EXPECT_EQ(cli({"map", "--lang", "de", example("referral-rest-create.json")}).code, 2);
  EXPECT_EQ(cli({"map", "--received-at", "yesterday", example("referral-rest-create.json")}).code, 2);
  EXPECT_EQ(cli({"map", (tmp_ / "absent.json").string()}).code, 2);
  EXPECT_EQ(cli({"map", "--mappings", (tmp_ / "nowhere").string(), example("referral-rest-create.json")}).code, 2);
}

}  // namespace
}  // namespace hoa::testing
