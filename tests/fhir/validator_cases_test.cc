// The negative validation corpus: tests/data/validation/cases.json. Each case breaks one
// rule and names the one issue it must give; the case passes when
//   - that issue (severity, IssueType code, FHIRPath expression, message fragment) is
//     reported exactly once,
//   - every issue listed in "alsoExpected" is reported exactly once too, and
//   - no other issue of severity error or fatal is reported (warnings may come along).
//
// A case is an object:
//   "name"          unique, for people
//   "rule"          the rule family (kRules below)
//   "known"         optional: a validator problem (see the reason); the case states what
//                   R4 asks for, is skipped loudly and counted, and fails once it passes
//                   (so the mark gets removed when the validator is fixed)
//   "profiles"      optional: profile URLs the caller names (ValidationOptions::profiles)
//   "unknownExtensions" optional: "error" or "warning" (default): how an extension with no
//                   loaded definition is reported (ValidationOptions::unknownExtensionsAreErrors).
//                   Many cases carry the rule they test in an example.org extension, so
//                   the corpus defaults to the receiver's lenient mode.
//   "resource"      the resource as FHIR JSON; it must parse. An object
//                   {"$repeat": "ab", "times": 3} stands for the string "ababab" (the
//                   1 MiB strings of the max-length cases)
//   "expect"        {"severity", "code", "expression", "message"}
//   "alsoExpected"  optional: more issues of the same form the input rightly gives
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fhir/format.h"
#include "fhir/json.h"
#include "fhir/validator.h"
#include "tests/test_env.h"

namespace hoa::fhir {
namespace {

using hoa::testing::CoreRegistryTest;

constexpr const char* kRules[] = {
    "cardinality",     "type",           "choice",           "fixed-pattern",      "max-length",
    "primitive-format", "empty",         "ele-1",            "profile",            "slicing",
    "extension",       "modifier-extension", "invariant-error", "invariant-warning", "reference-format",
    "reference-target", "contained",     "bundle",           "binding-required",   "binding-extensible",
    "display",         "narrative"};
constexpr size_t kMinCases = 120;   // cases that are not marked known
constexpr size_t kMinPerRule = 3;   // of each rule family, not marked known

struct Expected {
  std::string severity, code, expression, message;
  std::string toString() const { return severity + " " + code + " at " + expression + " containing '" + message + "'"; }
};

struct Case {
  std::string name, rule, known;
  std::vector<std::string> profiles;
  bool unknownExtensionsAreErrors = false;
  std::string resource;  // JSON text
  Expected expect;
  std::vector<Expected> also;
};

// Writes a JSON value back as JSON text, expanding {"$repeat": s, "times": n}.
bool writeValue(const json::Value& v, std::string& out, std::string& error) {
  switch (v.type) {
    case json::Type::Null: out += "null"; return true;
    case json::Type::Bool: out += v.boolean ? "true" : "false"; return true;
    case json::Type::Number: out += v.text; return true;
    case json::Type::String: json::appendQuoted(out, v.text); return true;
    case json::Type::Array:
      out += '[';
      for (uint32_t i = 0; i < v.size; ++i) {
        if (i) out += ',';
        if (!writeValue(*v.items[i], out, error)) return false;
      }
      out += ']';
      return true;
    case json::Type::Object: {
      if (const json::Value* rep = v.find("$repeat")) {
        const json::Value* times = v.find("times");
        if (!rep->isString() || !times || times->type != json::Type::Number) {
          error = "$repeat needs a string and a number \"times\"";
          return false;
        }
        std::string s;
        for (unsigned long n = std::strtoul(std::string(times->text).c_str(), nullptr, 10); n > 0; --n) s += rep->text;
        json::appendQuoted(out, s);
        return true;
      }
      out += '{';
      for (uint32_t i = 0; i < v.size; ++i) {
        if (i) out += ',';
        json::appendQuoted(out, v.members[i].key);
        out += ':';
        if (!writeValue(*v.members[i].value, out, error)) return false;
      }
      out += '}';
      return true;
    }
  }
  return true;
}

bool readExpected(const json::Value* v, Expected& e, std::string& error) {
  if (!v || !v->isObject()) {
    error = "an expected issue must be an object";
    return false;
  }
  e.severity = std::string(v->getString("severity"));
  e.code = std::string(v->getString("code"));
  e.expression = std::string(v->getString("expression"));
  e.message = std::string(v->getString("message"));
  if (e.severity != "error" && e.severity != "warning" && e.severity != "information" && e.severity != "fatal") {
    error = "severity '" + e.severity + "' is not error, warning, information or fatal";
    return false;
  }
  if (e.code.empty() || e.expression.empty() || e.message.empty()) {
    error = "an expected issue needs code, expression and message";
    return false;
  }
  return true;
}

// The corpus, read once; `error` says what is wrong with the file.
const std::vector<Case>& corpus(std::string& error) {
  static std::string loadError;
  static const std::vector<Case> cases = [] {
    std::vector<Case> out;
    auto path = hoa::testing::testDataDir() / "validation" / "cases.json";
    std::string text;
    try {
      text = hoa::testing::readFile(path);
    } catch (const std::exception& e) {
      loadError = e.what();
      return out;
    }
    json::Error jerr;
    json::Document doc = json::Document::parse(std::move(text), jerr);
    if (!doc.root() || !doc.root()->isArray()) {
      loadError = path.string() + ": " + (jerr ? jerr.message + " at line " + std::to_string(jerr.line) : "not an array");
      return out;
    }
    for (const json::Value* c : *doc.root()) {
      Case k;
      k.name = std::string(c->getString("name"));
      auto fail = [&](const std::string& why) { loadError = "case '" + k.name + "': " + why; };
      k.rule = std::string(c->getString("rule"));
      k.known = std::string(c->getString("known"));
      if (const json::Value* p = c->find("profiles"))
        for (const json::Value* u : *p) k.profiles.emplace_back(u->text);
      k.unknownExtensionsAreErrors = c->getString("unknownExtensions") == "error";
      const json::Value* res = c->find("resource");
      std::string err;
      if (!res || !res->isObject()) {
        fail("no resource object");
        return out;
      }
      if (!writeValue(*res, k.resource, err) || !readExpected(c->find("expect"), k.expect, err)) {
        fail(err);
        return out;
      }
      if (const json::Value* also = c->find("alsoExpected")) {
        for (const json::Value* a : *also) {
          Expected e;
          if (!readExpected(a, e, err)) {
            fail(err);
            return out;
          }
          k.also.push_back(std::move(e));
        }
      }
      out.push_back(std::move(k));
    }
    return out;
  }();
  error = loadError;
  return cases;
}

bool matches(const Expected& e, const Issue& i) {
  return e.severity == severityCode(i.severity) && e.code == i.code && e.expression == i.expression &&
         i.message.find(e.message) != std::string::npos;
}

std::string listIssues(const Issues& issues) {
  std::string s;
  for (const Issue& i : issues.items)
    s += "    " + std::string(severityCode(i.severity)) + " " + i.code + " " + i.expression + ": " + i.message + "\n";
  return s.empty() ? "    (no issues)\n" : s;
}

class ValidatorCases : public CoreRegistryTest {
 protected:
  void SetUp() override {
    CoreRegistryTest::SetUp();
    if (IsSkipped()) return;
    std::string error;
    cases_ = &corpus(error);
    ASSERT_TRUE(error.empty()) << error;
    ASSERT_FALSE(cases_->empty()) << "no cases in tests/data/validation/cases.json";
  }

  const Validator& validator() {
    static const Validator v(*reg_);  // one for the process, as in the gateway
    return v;
  }

  // Empty when the case gives exactly its issues; else what is wrong, with all issues.
  std::string check(const Case& c) {
    ParseResult parsed = parseJson(*reg_, c.resource);
    if (!parsed.ok()) return "  the resource does not parse:\n" + listIssues(parsed.issues);
    ValidationOptions opts;
    opts.profiles = c.profiles;
    opts.unknownExtensionsAreErrors = c.unknownExtensionsAreErrors;
    Issues issues = validator().validate(*parsed.doc.root(), opts);
    std::string wrong;
    auto count = [&](const Expected& e) {
      size_t n = 0;
      for (const Issue& i : issues.items) n += matches(e, i);
      return n;
    };
    if (size_t n = count(c.expect); n != 1)
      wrong += "  expected once (found " + std::to_string(n) + "): " + c.expect.toString() + "\n";
    for (const Expected& e : c.also)
      if (size_t n = count(e); n != 1)
        wrong += "  also expected once (found " + std::to_string(n) + "): " + e.toString() + "\n";
    for (const Issue& i : issues.items) {
      if (i.severity != Severity::Error && i.severity != Severity::Fatal) continue;
      bool listed = matches(c.expect, i);
      for (const Expected& e : c.also) listed = listed || matches(e, i);
      if (!listed)
        wrong += "  unexpected " + std::string(severityCode(i.severity)) + " " + i.code + " at " + i.expression + ": " +
                 i.message + "\n";
    }
    return wrong.empty() ? wrong : wrong + "  all issues:\n" + listIssues(issues);
  }

  const std::vector<Case>* cases_ = nullptr;
};

TEST_F(ValidatorCases, CorpusIsWellFormed) {
  std::set<std::string> rules(std::begin(kRules), std::end(kRules));
  std::set<std::string> names;
  std::map<std::string, std::pair<size_t, size_t>> perRule;  // rule -> (cases, known)
  size_t active = 0;
  for (const Case& c : *cases_) {
    EXPECT_FALSE(c.name.empty()) << "a case without a name";
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate case name '" << c.name << "'";
    EXPECT_TRUE(rules.count(c.rule)) << "case '" << c.name << "': unknown rule '" << c.rule << "'";
    auto& [n, known] = perRule[c.rule];
    if (c.known.empty()) {
      ++n;
      ++active;
    } else {
      ++known;
    }
  }
  std::string summary;
  for (const char* r : kRules) {
    auto [n, known] = perRule[r];
    summary += "  " + std::string(r) + ": " + std::to_string(n) + (known ? " (+" + std::to_string(known) + " known)" : "") + "\n";
    EXPECT_GE(n, kMinPerRule) << "rule family '" << r << "' has too few cases";
  }
  EXPECT_GE(active, kMinCases);
  std::cout << "[ corpus   ] " << active << " cases, " << (cases_->size() - active) << " known validator problems\n"
            << summary;
}

TEST_F(ValidatorCases, EachCaseGivesExactlyItsIssues) {
  size_t checked = 0, failed = 0;
  std::string report;
  for (const Case& c : *cases_) {
    if (!c.known.empty()) continue;
    ++checked;
    std::string wrong = check(c);
    if (wrong.empty()) continue;
    ++failed;
    report += "case '" + c.name + "' (" + c.rule + "):\n" + wrong;
  }
  EXPECT_EQ(failed, 0u) << failed << " of " << checked << " cases do not give exactly their issues:\n" << report;
}

TEST_F(ValidatorCases, KnownValidatorProblems) {
  std::string list;
  size_t known = 0;
  for (const Case& c : *cases_) {
    if (c.known.empty()) continue;
    ++known;
    std::string wrong = check(c);
    if (wrong.empty())
      ADD_FAILURE() << "case '" << c.name << "' is marked known but now gives exactly its issues: remove its "
                    << "\"known\" mark in tests/data/validation/cases.json";
    else
      list += "  - " + c.name + " (" + c.rule + "): " + c.known + "\n";
  }
  if (known == 0 || HasFailure()) return;
  GTEST_SKIP() << known << " cases skipped as known validator problems (what R4 asks for is in the case):\n"
               << list;
}

}  // namespace
}  // namespace hoa::fhir
