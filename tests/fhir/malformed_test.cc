// Acceptance: a corpus of malformed FHIR inputs (tests/data/malformed/) each gives the
// expected error — severity, IssueType code, message, element path, line and column — and
// never crashes (run this suite under -DHOA_SANITIZE=ON too).
//
// tests/data/malformed/cases.json lists the cases. Small inputs are files in that folder;
// the big ones (100 MB strings, depth bombs, entity bombs, millions of values) are built
// here in memory by the generators below. An optional "libraryBug" note on a case is
// printed when it fails.
#include <gtest/gtest.h>
#include <libxml/parser.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "fhir/definitions.h"
#include "fhir/format.h"
#include "fhir/json.h"
#include "tests/test_env.h"

namespace hoa::testing {
namespace {
namespace fs = std::filesystem;

fs::path corpusDir() { return testDataDir() / "malformed"; }

// --- the manifest -----------------------------------------------------------------------

struct Case {
  std::string name;
  std::string file;       // in corpusDir(), or empty for a generated input
  std::string generator;  // a name in generators(), or empty
  std::string format = "auto";
  fhir::ParseOptions options;
  std::string severity, code, message;
  std::optional<std::string> expression;
  std::optional<uint32_t> line, column;
  std::string libraryBug;
};

// What loading the manifest found; loaded once (the parameterized tests need it at
// registration time, so errors are kept and reported by MalformedCorpus.ManifestIsValid).
struct Manifest {
  std::vector<Case> cases;
  std::string error;
};

std::string str(const json::Value& obj, std::string_view key, std::string& error,
                bool required = true) {
  const json::Value* v = obj.find(key);
  if (!v) {
    if (required && error.empty()) error = "a case lacks \"" + std::string(key) + "\"";
    return {};
  }
  if (!v->isString()) {
    if (error.empty()) error = "\"" + std::string(key) + "\" must be a string";
    return {};
  }
  return std::string(v->text);
}

std::optional<uint64_t> number(const json::Value& obj, std::string_view key, std::string& error) {
  const json::Value* v = obj.find(key);
  if (!v) return std::nullopt;
  if (v->type != json::Type::Number || v->text.empty() || v->text[0] == '-' ||
      v->text.find_first_not_of("0123456789") != std::string_view::npos) {
    if (error.empty()) error = "\"" + std::string(key) + "\" must be a non-negative integer";
    return std::nullopt;
  }
  return std::stoull(std::string(v->text));
}

Manifest loadManifest() {
  Manifest m;
  std::string text;
  try {
    text = readFile(corpusDir() / "cases.json");
  } catch (const std::exception& e) {
    m.error = e.what();
    return m;
  }
  json::Error err;
  json::Document doc = json::Document::parse(std::move(text), err);
  if (err) {
    m.error = "cases.json:" + std::to_string(err.line) + ":" + std::to_string(err.column) + ": " +
              err.message;
    return m;
  }
  const json::Value* cases = doc.root()->find("cases");
  if (!cases || !cases->isArray()) {
    m.error = "cases.json has no \"cases\" array";
    return m;
  }
  for (const json::Value* v : *cases) {
    std::string error;
    if (!v->isObject()) {
      m.error = "cases.json: a case is not an object";
      return m;
    }
    Case c;
    c.name = str(*v, "name", error);
    c.file = str(*v, "file", error, false);
    c.generator = str(*v, "generator", error, false);
    if (v->find("format")) c.format = str(*v, "format", error);
    c.severity = str(*v, "severity", error);
    c.code = str(*v, "code", error);
    c.message = str(*v, "message", error);
    if (v->find("expression")) c.expression = str(*v, "expression", error);
    if (auto n = number(*v, "line", error)) c.line = static_cast<uint32_t>(*n);
    if (auto n = number(*v, "column", error)) c.column = static_cast<uint32_t>(*n);
    c.libraryBug = str(*v, "libraryBug", error, false);
    if (const json::Value* limits = v->find("limits")) {
      if (!limits->isObject()) error = "\"limits\" must be an object";
      for (uint32_t k = 0; limits->isObject() && k < limits->size; ++k) {
        std::string_view key = limits->members[k].key;
        auto n = number(*limits, key, error);
        if (!n) break;
        if (key == "maxInputBytes") c.options.limits.maxInputBytes = *n;
        else if (key == "maxDepth") c.options.limits.maxDepth = static_cast<uint32_t>(*n);
        else if (key == "maxStringBytes") c.options.limits.maxStringBytes = *n;
        else if (key == "maxValues") c.options.limits.maxValues = *n;
        else if (key == "maxIssues") c.options.maxIssues = *n;
        else error = "unknown limit \"" + std::string(key) + "\"";
      }
    }
    if (error.empty() && c.file.empty() == c.generator.empty())
      error = "a case needs exactly one of \"file\" and \"generator\"";
    if (error.empty() && c.format != "auto" && c.format != "json" && c.format != "xml")
      error = "format must be auto, json or xml";
    // Hand-written files: the whole location is exact.
    if (error.empty() && !c.file.empty() && (!c.expression || !c.line || !c.column))
      error = "a file case needs expression, line and column";
    if (!error.empty()) {
      m.error = "cases.json, case '" + c.name + "': " + error;
      return m;
    }
    m.cases.push_back(std::move(c));
  }
  return m;
}

const Manifest& manifest() {
  static const Manifest m = loadManifest();
  return m;
}

// --- generated inputs -------------------------------------------------------------------

constexpr size_t kMiB = 1u << 20;
constexpr int kBombDepth = 10000;
const std::string kFhirNs = "xmlns=\"http://hl7.org/fhir\"";

std::string repeat(std::string_view s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

// A DOCTYPE whose entity `top` expands to `fanout`^`levels` copies of "lol".
std::string entityBomb(int levels, int fanout) {
  std::string s = "<?xml version=\"1.0\"?>\n<!DOCTYPE Patient [\n  <!ENTITY lol0 \"lol\">\n";
  for (int i = 1; i <= levels; ++i)
    s += "  <!ENTITY lol" + std::to_string(i) + " \"" +
         repeat("&lol" + std::to_string(i - 1) + ";", static_cast<size_t>(fanout)) + "\">\n";
  s += "]>\n<Patient " + kFhirNs + ">\n  <name>\n    <family value=\"&lol" +
       std::to_string(levels) + ";\"/>\n  </name>\n</Patient>\n";
  return s;
}

const std::map<std::string, std::function<std::string()>>& generators() {
  static const std::map<std::string, std::function<std::string()>> g = {
      // One string of 100 MiB (the limit is 8 MiB), on the fast (unescaped) path.
      {"json-100mb-string",
       [] {
         return "{\n  \"resourceType\": \"Patient\",\n  \"name\": [{\"family\": \"" +
                std::string(100 * kMiB, 'A') + "\"}]\n}\n";
       }},
      // 9 MiB after unescaping, on the slow (escaped) path.
      {"json-9mb-escaped-string",
       [] {
         return "{\n  \"resourceType\": \"Patient\",\n  \"name\": [{\"family\": \"\\n" +
                std::string(9 * kMiB, 'A') + "\"}]\n}\n";
       }},
      // 10,000 levels of extensions: [{"url": "u", "extension": [{ ...
      {"json-depth-bomb",
       [] {
         return "{\"resourceType\": \"Patient\", \"extension\": " +
                repeat("[{\"url\": \"u\", \"extension\": ", kBombDepth) + "[]" +
                repeat("}]", kBombDepth) + "}";
       }},
      {"json-nested-arrays-in-element",
       [] {
         return "{\"resourceType\": \"Patient\", \"name\": " + std::string(kBombDepth, '[') +
                std::string(kBombDepth, ']') + "}";
       }},
      {"json-nested-arrays-bare",
       [] { return std::string(kBombDepth, '[') + std::string(kBombDepth, ']'); }},
      // 4 Mi + 16 values (the default limit is 4 Mi).
      {"json-too-many-values",
       [] {
         std::string s = "{\"resourceType\": \"Patient\", \"name\": [{\"given\": [\"a\"";
         s += repeat(",\"a\"", (4 * kMiB) + 16);
         return s + "]}]}";
       }},
      // A value attribute of 100 MiB.
      {"xml-100mb-string",
       [] {
         return "<Patient " + kFhirNs + ">\n  <name>\n    <family value=\"" +
                std::string(100 * kMiB, 'A') + "\"/>\n  </name>\n</Patient>\n";
       }},
      // Over this library's 8 MiB limit but under libxml2's own 10,000,000 bytes.
      {"xml-9mb-attribute",
       [] {
         return "<Patient " + kFhirNs + ">\n  <name>\n    <family value=\"" +
                std::string(9 * kMiB, 'A') + "\"/>\n  </name>\n</Patient>\n";
       }},
      {"xml-9mb-narrative",
       [] {
         return "<Patient " + kFhirNs + ">\n  <text>\n    <status value=\"generated\"/>\n"
                "    <div xmlns=\"http://www.w3.org/1999/xhtml\">" +
                std::string(9 * kMiB, 'A') + "</div>\n  </text>\n</Patient>\n";
       }},
      {"xml-depth-bomb",
       [] {
         return "<Patient " + kFhirNs + ">\n" + repeat("<extension url=\"u\">", kBombDepth) +
                "<valueString value=\"x\"/>" + repeat("</extension>", kBombDepth) +
                "\n</Patient>\n";
       }},
      {"xml-narrative-depth-bomb",
       [] {
         return "<Patient " + kFhirNs + ">\n<text><status value=\"generated\"/>"
                "<div xmlns=\"http://www.w3.org/1999/xhtml\">" +
                repeat("<div>", kBombDepth) + repeat("</div>", kBombDepth) +
                "</div></text>\n</Patient>\n";
       }},
      // Unknown elements are skipped, not built: libxml2's own depth limit must stop them.
      {"xml-unknown-element-depth-bomb",
       [] {
         return "<Patient " + kFhirNs + ">\n" + repeat("<foo>", kBombDepth) +
                repeat("</foo>", kBombDepth) + "\n</Patient>\n";
       }},
      // The classic: 10^9 "lol"s from 10 entities.
      {"xml-billion-laughs", [] { return entityBomb(9, 10); }},
      // One 64 KiB entity referenced 20,000 times (1.3 GB expanded).
      {"xml-quadratic-blowup",
       [] {
         return "<?xml version=\"1.0\"?>\n<!DOCTYPE Patient [\n  <!ENTITY big \"" +
                std::string(64 * 1024, 'A') + "\">\n]>\n<Patient " + kFhirNs +
                ">\n  <name>\n    <family value=\"" + repeat("&big;", 20000) +
                "\"/>\n  </name>\n</Patient>\n";
       }},
      // 4 Mi + 16 elements (the default limit is 4 Mi nodes).
      {"xml-too-many-elements",
       [] {
         return "<Patient " + kFhirNs + ">\n  <name>\n" +
                repeat("<given value=\"a\"/>", (4 * kMiB) + 16) + "\n  </name>\n</Patient>\n";
       }},
  };
  return g;
}

// --- running a case ---------------------------------------------------------------------

std::string inputOf(const Case& c) {
  if (!c.file.empty()) return readFile(corpusDir() / c.file);
  auto it = generators().find(c.generator);
  if (it == generators().end()) throw std::runtime_error("unknown generator " + c.generator);
  return it->second();
}

fhir::ParseResult parseAs(const fhir::Registry& reg, const std::string& format, std::string input,
                          const fhir::ParseOptions& options) {
  if (format == "json") return fhir::parseJson(reg, std::move(input), options);
  if (format == "xml") return fhir::parseXml(reg, input, options);
  return fhir::parse(reg, std::move(input), options);
}

const fhir::Issue* firstError(const fhir::Issues& issues) {
  for (const fhir::Issue& i : issues.items)
    if (i.severity == fhir::Severity::Fatal || i.severity == fhir::Severity::Error) return &i;
  return nullptr;
}

std::string describe(const fhir::Issues& issues) {
  std::string s;
  size_t n = 0;
  for (const fhir::Issue& i : issues.items) {
    if (++n > 5) {
      s += "  ...\n";
      break;
    }
    std::string msg = i.message.size() > 300 ? i.message.substr(0, 300) + "..." : i.message;
    std::string expr = i.expression.size() > 200 ? i.expression.substr(0, 200) + "..." : i.expression;
    s += "  " + std::string(fhir::severityCode(i.severity)) + "/" + i.code + " line " +
         std::to_string(i.line) + ", column " + std::to_string(i.column) + " [" + expr + "] " +
         msg + "\n";
  }
  return s.empty() ? "  (no issues)\n" : s;
}

// What must hold for any rejected input, whatever the case.
void checkInvariants(const fhir::ParseResult& r) {
  EXPECT_FALSE(r.doc.root() && r.issues.empty()) << "a document root and no issues";
  EXPECT_FALSE(r.issues.empty()) << "rejected without any issue";
  for (const fhir::Issue& i : r.issues.items) {
    EXPECT_FALSE(i.code.empty()) << "an issue without a code: " << i.message;
    EXPECT_FALSE(i.message.empty()) << "an issue without a message";
    if (i.severity == fhir::Severity::Fatal) {
      EXPECT_EQ(r.doc.root(), nullptr) << "a fatal issue but a document root: " << i.message;
    }
    EXPECT_TRUE(json::isValidUtf8(i.message)) << "an issue message that is not UTF-8";
    EXPECT_TRUE(json::isValidUtf8(i.expression)) << "an expression that is not UTF-8";
  }
  // The issues make a readable OperationOutcome.
  json::Error err;
  json::Document oo = json::Document::parse(r.issues.toOperationOutcomeJson(), err);
  EXPECT_FALSE(err) << "OperationOutcome JSON: line " << err.line << ", column " << err.column
                    << ": " << err.message;
}

class MalformedInput : public CoreRegistryTestBase<::testing::TestWithParam<Case>> {};

TEST_P(MalformedInput, GivesTheExpectedFirstErrorAndLocation) {
  const Case& c = GetParam();
  SCOPED_TRACE("case " + c.name + (c.file.empty() ? " (generated)" : " (" + c.file + ")") +
               (c.libraryBug.empty() ? "" : "\nnote: " + c.libraryBug));
  std::string input = inputOf(c);
  fhir::ParseResult r = parseAs(*reg_, c.format, std::move(input), c.options);

  ASSERT_FALSE(r.ok()) << "accepted; issues:\n" << describe(r.issues);
  checkInvariants(r);
  const fhir::Issue* first = firstError(r.issues);
  ASSERT_NE(first, nullptr) << "no error or fatal issue:\n" << describe(r.issues);
  std::string all = describe(r.issues);
  EXPECT_EQ(fhir::severityCode(first->severity), c.severity) << all;
  EXPECT_EQ(first->code, c.code) << all;
  EXPECT_NE(first->message.find(c.message), std::string::npos)
      << "expected the message to contain \"" << c.message << "\"\n" << all;
  if (c.expression) {
    EXPECT_EQ(first->expression, *c.expression) << all;
  }
  if (c.line) {
    EXPECT_EQ(first->line, *c.line) << all;
  } else {
    EXPECT_GT(first->line, 0u) << all;
  }
  if (c.column) {
    EXPECT_EQ(first->column, *c.column) << all;
  } else {
    EXPECT_GT(first->column, 0u) << all;
  }

  // A file parsed by format detection gives the same first issue as its own parser.
  if (!c.file.empty() && c.format == "auto") {
    bool isXml = c.file.ends_with(".xml");
    fhir::ParseResult direct =
        parseAs(*reg_, isXml ? "xml" : "json", readFile(corpusDir() / c.file), c.options);
    const fhir::Issue* d = firstError(direct.issues);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->toString(), first->toString()) << "parse() and the " << (isXml ? "XML" : "JSON")
                                                << " parser disagree";
  }
}

// gtest prints parameters of failed tests: the case name, not the bytes.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::string caseName(const ::testing::TestParamInfo<Case>& info) {
  std::string s = info.param.name;
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(Malformed, MalformedInput, ::testing::ValuesIn(manifest().cases),
                         caseName);

// --- the corpus as a whole --------------------------------------------------------------

TEST(MalformedCorpus, ManifestIsValidAndCoversTheCorpus) {
  const Manifest& m = manifest();
  ASSERT_TRUE(m.error.empty()) << m.error;
  EXPECT_GE(m.cases.size(), 45u);
  std::set<std::string> names, listed;
  size_t jsonCases = 0, xmlCases = 0;
  for (const Case& c : m.cases) {
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate case name " << c.name;
    if (!c.file.empty()) {
      listed.insert(c.file);
      EXPECT_TRUE(fs::is_regular_file(corpusDir() / c.file)) << c.name << ": no file " << c.file;
      // Hand-written inputs stay small.
      std::error_code ec;
      EXPECT_LT(fs::file_size(corpusDir() / c.file, ec), 4096u) << c.file;
    } else {
      EXPECT_TRUE(generators().count(c.generator)) << c.name << ": no generator " << c.generator;
    }
    (c.name.starts_with("json") ? jsonCases : xmlCases)++;
  }
  EXPECT_GE(jsonCases, 20u);
  EXPECT_GE(xmlCases, 20u);
  // Every input in the folder is used by a case, and every generator too.
  for (const auto& e : fs::directory_iterator(corpusDir())) {
    std::string f = e.path().filename().string();
    if (f != "cases.json") {
      EXPECT_TRUE(listed.count(f)) << f << " is not in cases.json";
    }
  }
  for (const auto& [name, fn] : generators()) {
    bool used = false;
    for (const Case& c : m.cases) used |= c.generator == name;
    EXPECT_TRUE(used) << "generator " << name << " has no case";
  }
}

class MalformedParse : public CoreRegistryTest {};

// No input of the corpus, whatever it is, yields a document root without issues (nor is
// rejected without an issue saying why).
TEST_F(MalformedParse, NoCaseYieldsADocumentRootWithoutIssues) {
  ASSERT_TRUE(manifest().error.empty()) << manifest().error;
  std::string violations;
  auto check = [&](const Case& c, const fhir::ParseResult& r, const char* how) {
    if (!r.issues.empty() && !r.ok()) return;
    violations += "  " + c.name + " (" + how + "): " +
                  (r.doc.root() && r.issues.empty() ? "a document root and no issues"
                   : r.issues.empty()               ? "rejected without an issue"
                                                    : "accepted") +
                  (c.libraryBug.empty() ? "" : " [note]") + "\n";
  };
  for (const Case& c : manifest().cases) {
    // The 100 MB and 4 Mi-value inputs take most of the suite's time (ASan): their own
    // cases check the same (checkInvariants).
    if (c.name.find("100mb") != std::string::npos || c.name.find("too-many") != std::string::npos)
      continue;
    check(c, parseAs(*reg_, c.format, inputOf(c), c.options), c.format.c_str());
    // Each file also through the other entry points.
    if (!c.file.empty()) {
      std::string text = inputOf(c);
      for (const char* f : {"json", "xml", "auto"})
        if (f != c.format) check(c, parseAs(*reg_, f, text, c.options), f);
    }
  }
  EXPECT_TRUE(violations.empty()) << "cases not rejected with issues:\n" << violations;
}

// --- hardening beyond the corpus ----------------------------------------------------------

// ParseOptions.maxIssues = 0 must not turn a malformed document into an accepted one.
TEST_F(MalformedParse, ZeroMaxIssuesStillRejects) {
  fhir::ParseOptions o;
  o.maxIssues = 0;
  fhir::ParseResult j = fhir::parseJson(
      *reg_, "{\"resourceType\": \"Patient\", \"nickname\": \"Bob\", \"name\": [{\"given\": [null]}]}",
      o);
  EXPECT_FALSE(j.ok()) << "JSON accepted with maxIssues = 0";
  EXPECT_FALSE(j.issues.empty()) << "JSON";
  if (!j.issues.empty()) {
    EXPECT_EQ(j.issues.items[0].code, "too-costly");
    EXPECT_EQ(j.issues.items[0].severity, fhir::Severity::Fatal);
  }
  fhir::ParseResult x =
      fhir::parseXml(*reg_, "<Patient " + kFhirNs + "><nickname value=\"Bob\"/></Patient>", o);
  EXPECT_FALSE(x.ok()) << "XML";
  ASSERT_FALSE(x.issues.empty());
  EXPECT_EQ(x.issues.items[0].code, "too-costly");
  EXPECT_EQ(x.issues.items[0].severity, fhir::Severity::Fatal);
}

// Past maxIssues, both parsers stop collecting and say so with a fatal too-costly issue.
TEST_F(MalformedParse, TooManyIssuesAreCappedWithAFatalIssue) {
  std::string json = "{\"resourceType\": \"Patient\"";
  std::string xml = "<Patient " + kFhirNs + ">\n";
  for (int i = 0; i < 500; ++i) {
    json += ",\n\"unknown" + std::to_string(i) + "\": 1";
    xml += "<unknown" + std::to_string(i) + "/>\n";
  }
  json += "}";
  xml += "</Patient>";
  std::vector<fhir::ParseResult> results;
  results.push_back(fhir::parseJson(*reg_, json));
  results.push_back(fhir::parseXml(*reg_, xml));
  for (const fhir::ParseResult& r : results) {
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.issues.size(), fhir::ParseOptions{}.maxIssues + 1);
    ASSERT_FALSE(r.issues.empty());
    EXPECT_EQ(r.issues.items.front().expression, "Patient.unknown0");
    EXPECT_EQ(r.issues.items.front().line, 2u);
    EXPECT_EQ(r.issues.items.back().code, "too-costly");
    EXPECT_EQ(r.issues.items.back().severity, fhir::Severity::Fatal);
  }
}

// The element path keeps counting repeats after an out-of-order element.
TEST_F(MalformedParse, XmlOutOfOrderRepeatsKeepTheirIndex) {
  const std::string xml = "<Patient " + kFhirNs + ">\n"
                          "  <gender value=\"male\"/>\n"
                          "  <name>\n"
                          "    <family value=\"Smith\"/>\n"
                          "  </name>\n"
                          "  <name>\n"
                          "    <nickname value=\"Bob\"/>\n"
                          "  </name>\n"
                          "</Patient>\n";
  fhir::ParseResult r = fhir::parseXml(*reg_, xml);
  EXPECT_FALSE(r.ok());
  std::vector<const fhir::Issue*> outOfOrder;
  const fhir::Issue* unknown = nullptr;
  for (const fhir::Issue& i : r.issues.items) {
    if (i.message.find("out of order") != std::string::npos) outOfOrder.push_back(&i);
    if (i.message.find("unknown element 'nickname'") != std::string::npos) unknown = &i;
  }
  ASSERT_EQ(outOfOrder.size(), 2u) << describe(r.issues);
  EXPECT_EQ(outOfOrder[0]->expression, "Patient.name[0]");
  EXPECT_EQ(outOfOrder[0]->line, 3u);
  EXPECT_EQ(outOfOrder[1]->expression, "Patient.name[1]") << "index after an out-of-order element";
  EXPECT_EQ(outOfOrder[1]->line, 6u);
  ASSERT_NE(unknown, nullptr) << describe(r.issues);
  EXPECT_EQ(unknown->expression, "Patient.name[1].nickname") << "index after an out-of-order element";
  EXPECT_EQ(unknown->line, 7u);
}

// External entities, external DTDs, parameter entities and XInclude are refused and the
// files they name are never opened: a recording entity loader must never be called and
// the content of the named file must appear nowhere in the result.
TEST_F(MalformedParse, XmlNeverLoadsExternalEntities) {
  const std::string secret = "SECRET-7f3a9c-NEVER-READ";
  fs::path file = fs::temp_directory_path() / ("hoa_malformed_secret_" + std::to_string(::getpid()) + ".txt");
  {
    std::ofstream(file) << secret;
  }
  const std::string uri = "file://" + file.string();

  static int loads = 0;
  loads = 0;
  // Restores libxml2's loader and removes the file however the test ends.
  struct Restore {
    xmlExternalEntityLoader previous = xmlGetExternalEntityLoader();
    fs::path file;
    ~Restore() {
      xmlSetExternalEntityLoader(previous);
      std::error_code ec;
      fs::remove(file, ec);
    }
  } restore{xmlGetExternalEntityLoader(), file};
  xmlSetExternalEntityLoader([](const char*, const char*, xmlParserCtxtPtr) -> xmlParserInputPtr {
    ++loads;
    return nullptr;
  });

  const std::string body = "<Patient " + kFhirNs + ">\n  <name>\n    <family value=\"&xxe;\"/>\n"
                           "  </name>\n</Patient>\n";
  std::vector<std::pair<std::string, std::string>> docs = {
      {"general entity",
       "<?xml version=\"1.0\"?>\n<!DOCTYPE Patient [\n  <!ENTITY xxe SYSTEM \"" + uri + "\">\n]>\n" +
           body},
      {"external DTD", "<?xml version=\"1.0\"?>\n<!DOCTYPE Patient SYSTEM \"" + uri + "\">\n" + body},
      {"parameter entity",
       "<?xml version=\"1.0\"?>\n<!DOCTYPE Patient [\n  <!ENTITY % p SYSTEM \"" + uri +
           "\">\n  %p;\n]>\n" + body},
      {"entity in narrative",
       "<!DOCTYPE Patient [<!ENTITY xxe SYSTEM \"" + uri + "\">]>\n<Patient " + kFhirNs +
           "><text><status value=\"generated\"/><div xmlns=\"http://www.w3.org/1999/xhtml\">"
           "&xxe;</div></text></Patient>"},
      {"xinclude",
       "<Patient " + kFhirNs + " xmlns:xi=\"http://www.w3.org/2001/XInclude\">\n"
           "  <xi:include href=\"" + uri + "\" parse=\"text\"/>\n</Patient>\n"},
      {"corpus /etc/passwd", readFile(corpusDir() / "xml-doctype-external-entity.xml")},
  };
  for (const auto& [what, xml] : docs) {
    SCOPED_TRACE(what);
    for (bool viaParse : {false, true}) {
      fhir::ParseResult r = viaParse ? fhir::parse(*reg_, xml) : fhir::parseXml(*reg_, xml);
      EXPECT_FALSE(r.ok());
      ASSERT_FALSE(r.issues.empty());
      const fhir::Issue* first = firstError(r.issues);
      ASSERT_NE(first, nullptr);
      EXPECT_EQ(first->code, what == "xinclude" ? "structure" : "security") << describe(r.issues);
      for (const fhir::Issue& i : r.issues.items) {
        EXPECT_EQ(i.message.find(secret), std::string::npos);
        EXPECT_EQ(i.message.find("root:"), std::string::npos);
      }
      if (r.doc.root()) {
        std::string out = fhir::writeJson(*r.doc.root());
        EXPECT_EQ(out.find(secret), std::string::npos);
      }
    }
  }
  EXPECT_EQ(loads, 0) << "libxml2 tried to load an external entity";

  // Control: the recording loader does see a load when a parser is allowed to load.
  const std::string& control = docs[3].second;  // the entity in element content
  xmlDocPtr d = xmlReadMemory(control.data(), static_cast<int>(control.size()), "control.xml",
                              nullptr, XML_PARSE_NOENT | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (d) xmlFreeDoc(d);
  EXPECT_GT(loads, 0) << "the recording loader is not used: this test proves nothing";
}

// A valid resource with a bit of everything: contained, extensions, primitive extensions
// with null alignment, narrative, choice types, decimals.
const char* kValidJson = R"({
  "resourceType": "Patient",
  "id": "ex1",
  "meta": {"versionId": "1"},
  "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Ann &amp; Lee</p></div>"},
  "contained": [{"resourceType": "Organization", "id": "o1", "name": "Acme"}],
  "extension": [{"url": "http://example.org/a", "valueDecimal": 1.50}],
  "active": true,
  "name": [{"family": "Lee", "given": ["Ann", null],
            "_given": [null, {"extension": [{"url": "http://example.org/b", "valueString": "x"}]}]}],
  "gender": "female",
  "birthDate": "1970-01-01",
  "multipleBirthInteger": 2,
  "managingOrganization": {"reference": "#o1"}
})";

// Every proper prefix of a valid resource (JSON and XML) is rejected with a located error,
// and no byte substitution anywhere crashes the parsers or the writers.
TEST_F(MalformedParse, TruncationsAndByteSubstitutionsNeverCrash) {
  fhir::ParseResult valid = fhir::parseJson(*reg_, kValidJson);
  ASSERT_TRUE(valid.ok()) << describe(valid.issues);
  std::string xml;
  fhir::Issues wi;
  ASSERT_TRUE(fhir::writeXml(*valid.doc.root(), xml, wi, {.pretty = true}));
  fhir::ParseResult validXml = fhir::parseXml(*reg_, xml);
  ASSERT_TRUE(validXml.ok()) << describe(validXml.issues);

  for (const std::string& text : {std::string(kValidJson), xml}) {
    std::string trimmed = text.substr(0, text.find_last_not_of(" \t\r\n") + 1);
    size_t located = 0, prefixes = 0;
    for (size_t n = 1; n < trimmed.size(); ++n) {
      fhir::ParseResult r = fhir::parse(*reg_, trimmed.substr(0, n));
      ++prefixes;
      ASSERT_FALSE(r.ok()) << "prefix of " << n << " bytes accepted";
      EXPECT_FALSE(r.issues.empty()) << n;
      const fhir::Issue* first = firstError(r.issues);
      ASSERT_NE(first, nullptr) << n;
      if (first->line > 0 && first->column > 0) ++located;
    }
    EXPECT_EQ(located, prefixes) << "every truncation error has a line and column";

    for (char bad : {'\xff', '\xc0', '"', '<', '>', '{', '[', '&', '\0', '\n'}) {
      for (size_t pos = 0; pos < text.size(); ++pos) {
        std::string m = text;
        m[pos] = bad;
        fhir::ParseResult r = fhir::parse(*reg_, m);
        if (r.ok()) {
          // Whatever was accepted can be written out again.
          (void)fhir::writeJson(*r.doc.root());
          std::string x;
          fhir::Issues is;
          (void)fhir::writeXml(*r.doc.root(), x, is);
          continue;
        }
        ASSERT_FALSE(r.issues.empty()) << "pos " << pos;
        for (const fhir::Issue& i : r.issues.items)
          ASSERT_TRUE(json::isValidUtf8(i.message)) << "pos " << pos << ": " << i.message;
      }
    }
  }
}

}  // namespace
}  // namespace hoa::testing
