// The command line (hoa::gateway::runCli): exit codes and diagnostics of `convert`.
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

}  // namespace
}  // namespace hoa::testing
