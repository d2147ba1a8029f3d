// The value rules of the FHIR R4 primitive types (fhir/primitives.h): every primitive with
// valid and invalid values, calendars, time zones, integer bounds, base64, the 1 MiB
// string rule, messages, the regexes of the R4 package, the native matchers against the
// regex engine, registries with other patterns, and threads.
#include "fhir/primitives.h"

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "fhir/definitions.h"
#include "fhir/json.h"
#include "fhir/regex.h"
#include "tests/test_env.h"

namespace hoa::fhir {
namespace {

class Primitives : public testing::CoreRegistryTest {
 protected:
  void SetUp() override {
    testing::CoreRegistryTest::SetUp();
    if (IsSkipped()) return;
    if (!rules_) rules_ = new PrimitiveRules(*reg_);  // shared by the tests, never freed
  }
  const TypeInfo& type(std::string_view name) const {
    const TypeInfo* t = reg_->type(name);
    EXPECT_NE(t, nullptr) << name;
    return *t;
  }
  std::optional<std::string> check(std::string_view typeName, std::string_view value) const {
    return rules_->check(type(typeName), value);
  }
  void valid(std::string_view typeName, std::initializer_list<std::string_view> values) const {
    for (std::string_view v : values) {
      auto problem = check(typeName, v);
      EXPECT_FALSE(problem) << typeName << " '" << v << "': " << problem.value_or("");
    }
  }
  void invalid(std::string_view typeName, std::initializer_list<std::string_view> values) const {
    for (std::string_view v : values)
      EXPECT_TRUE(check(typeName, v)) << typeName << " '" << v << "'";
  }
  // The message for an invalid value (fails the test when the value is accepted).
  std::string message(std::string_view typeName, std::string_view value) const {
    auto problem = check(typeName, value);
    EXPECT_TRUE(problem) << typeName << " '" << value << "' was accepted";
    return problem.value_or("");
  }
  static inline PrimitiveRules* rules_ = nullptr;
};

constexpr std::string_view kPrimitiveNames[] = {
    "base64Binary", "boolean",     "canonical", "code",     "date", "dateTime",    "decimal",
    "id",           "instant",     "integer",   "markdown", "oid",  "positiveInt", "string",
    "time",         "unsignedInt", "uri",       "url",      "uuid", "xhtml"};

// ---------------------------------------------------------------------------------
// The regexes of the R4 package

TEST_F(Primitives, EveryR4PrimitiveRegexCompiles) {
  EXPECT_TRUE(rules_->problems().empty()) << ::testing::PrintToString(rules_->problems());
  size_t primitives = 0, withRegex = 0;
  for (const json::Value* sd : reg_->resourcesOfType("StructureDefinition")) {
    if (sd->getString("kind") != "primitive-type") continue;
    ++primitives;
    const std::string_view name = sd->getString("type");
    const TypeInfo* t = reg_->type(name);
    ASSERT_NE(t, nullptr) << name;
    if (name == "xhtml") {
      EXPECT_TRUE(rules_->pattern(*t).empty());
      continue;
    }
    ++withRegex;
    EXPECT_FALSE(rules_->pattern(*t).empty()) << name;
    EXPECT_TRUE(rules_->patternCompiled(*t)) << name << ": " << rules_->pattern(*t);
    EXPECT_TRUE(rules_->patternNative(*t)) << name << ": the R4 pattern has a native matcher";
    // The pattern is the one the definition declares on <type>.value.
    std::string error;
    auto re = regex::Regex::compile(rules_->pattern(*t), error);
    EXPECT_TRUE(re) << name << ": " << error;
  }
  EXPECT_EQ(primitives, 20u);
  EXPECT_EQ(withRegex, 19u);
  EXPECT_EQ(rules_->pattern(type("id")), R"([A-Za-z0-9\-\.]{1,64})");
  EXPECT_EQ(rules_->pattern(type("Patient")), "");
}

// Every value of a corpus gets the same answer, message included, from the native
// matchers and from the regex engine running the declared patterns.
TEST_F(Primitives, NativeMatchersAgreeWithTheRegexes) {
  PrimitiveRulesOptions options;
  options.alwaysUseRegex = true;
  const PrimitiveRules viaRegex(*reg_, options);
  for (std::string_view name : kPrimitiveNames)
    EXPECT_FALSE(viaRegex.patternNative(type(name))) << name;

  std::vector<std::string> seeds = {"true",
                                    "false",
                                    "0",
                                    "-0",
                                    "1",
                                    "-1",
                                    "01",
                                    "+1",
                                    "2147483647",
                                    "-2147483648",
                                    "2147483648",
                                    "1.5",
                                    "1e5",
                                    "-1.50E-3",
                                    ".5",
                                    "1.",
                                    "00.1",
                                    "abc",
                                    "a b",
                                    "a  b",
                                    " a",
                                    "a ",
                                    "a\tb",
                                    "urn:oid:1.2.3",
                                    "urn:oid:3.1",
                                    "urn:oid:1.02",
                                    "urn:oid:1",
                                    "urn:uuid:c757873d-ec9a-4326-a141-556f43239520",
                                    "urn:uuid:C757873D-EC9A-4326-A141-556F43239520",
                                    "QUJD",
                                    "QUJDRA==",
                                    "QUJDRA=",
                                    "QQ==",
                                    "Q===",
                                    "QUJD\nRA==",
                                    "QU JD",
                                    "=QUJ",
                                    "QU=J",
                                    "2023",
                                    "2023-02",
                                    "2023-02-28",
                                    "2024-02-29",
                                    "2023-02-29",
                                    "1900-02-29",
                                    "2000-02-29",
                                    "0000",
                                    "0001-01-01",
                                    "2023-13",
                                    "2023-00",
                                    "2023-04-31",
                                    "2023-1-01",
                                    "2023-01-01T10:00:00Z",
                                    "2023-01-01T10:00:00.123+01:00",
                                    "2023-01-01T10:00:00",
                                    "2023-01-01T10:00Z",
                                    "2023-01-01T24:00:00Z",
                                    "2023-01-01T23:59:60Z",
                                    "2023-01-01T10:00:60Z",
                                    "2023-01-01T00:59:60+01:00",
                                    "2023-01-01T10:00:00+14:00",
                                    "2023-01-01T10:00:00+14:01",
                                    "2023-01-01T10:00:00-15:00",
                                    "2023-01-01T10:00:00+05:60",
                                    "2023-01-01T10:00:00.Z",
                                    "2023-01-01 10:00:00Z",
                                    "10:00:00",
                                    "23:59:60",
                                    "24:00:00",
                                    "10:00",
                                    "10:00:00Z",
                                    "10:00:00.5",
                                    "http://x.org/a",
                                    "a/b c",
                                    "id-1.2",
                                    "A.b-C",
                                    std::string(64, 'a'),
                                    std::string(65, 'a'),
                                    "x\x01y",
                                    "caf\xc3\xa9",
                                    "bad\xff",
                                    "2023-01-01T10:00:00ZZ",
                                    "T10:00:00Z",
                                    "2023-01-01T",
                                    "-",
                                    "e",
                                    "1e",
                                    "-.5",
                                    "1.e5"};
  // Deterministic mutations of the seeds over the characters these types are made of.
  const std::string alphabet = "0123456789-:.TZ+ e=/aAfF\t\nuro:id";
  std::mt19937 rng(12345);
  std::vector<std::string> corpus = seeds;
  for (int round = 0; round < 40; ++round) {
    for (const std::string& seed : seeds) {
      std::string v = seed;
      const int edits = 1 + static_cast<int>(rng() % 3);
      for (int e = 0; e < edits; ++e) {
        const size_t pos = v.empty() ? 0 : rng() % v.size();
        const char c = alphabet[rng() % alphabet.size()];
        switch (rng() % 3) {
          case 0:
            if (!v.empty()) v[pos] = c;
            break;
          case 1:
            v.insert(v.begin() + static_cast<std::ptrdiff_t>(pos), c);
            break;
          default:
            if (!v.empty()) v.erase(pos, 1);
        }
      }
      corpus.push_back(v);
    }
  }
  // Dates and times assembled from fields around their limits.
  const auto pick = [&](std::initializer_list<const char*> choices) {
    return std::string(choices.begin()[rng() % choices.size()]);
  };
  for (int i = 0; i < 6000; ++i) {
    std::string v = pick({"2023", "2024", "1900", "2000", "0000", "0001", "9999", "202", "20240"});
    if (rng() % 6) v += "-" + pick({"01", "02", "04", "12", "00", "13", "1", "06"});
    if (rng() % 5) v += "-" + pick({"01", "28", "29", "30", "31", "00", "32", "3"});
    if (rng() % 4) {
      v += pick({"T", "T", "T", " ", "t"}) + pick({"00", "09", "23", "24", "25", "1"}) + ":" +
           pick({"00", "59", "60", "5"});
      if (rng() % 5) v += ":" + pick({"00", "30", "59", "60", "61", "6"});
      if (rng() % 3 == 0) v += pick({".5", ".123", ".", ".x"});
      if (rng() % 6)
        v += pick({"Z", "+00:00", "-00:00", "+01:00", "-05:30", "+14:00", "-14:00", "+14:01",
                   "+13:59", "+15:00", "+05:60", "+0100", "z", "+1:00", "ZZ"});
    }
    corpus.push_back(rng() % 7 == 0 && v.size() > 11 ? v.substr(11) : v);  // also times
  }
  // Short strings over the characters that matter to the other types.
  const std::string small = "aZ09=+/-. \t\n:_";
  for (int i = 0; i < 6000; ++i) {
    std::string v(rng() % 10, ' ');
    for (char& c : v) c = small[rng() % small.size()];
    corpus.push_back(v);
  }
  size_t compared = 0, rejected = 0;
  for (std::string_view name : kPrimitiveNames) {
    const TypeInfo& t = type(name);
    std::string error;
    std::optional<regex::Regex> re;
    if (!rules_->pattern(t).empty()) re = regex::Regex::compile(rules_->pattern(t), error);
    for (const std::string& v : corpus) {
      auto fast = rules_->check(t, v);
      ASSERT_EQ(fast, viaRegex.check(t, v)) << name << " '" << v << "'";
      // Whatever the declared regex rejects is rejected.
      if (re && !v.empty() && !re->fullMatch(v)) {
        EXPECT_TRUE(fast) << name << " '" << v << "'";
      }
      ++compared;
      rejected += fast.has_value();
    }
  }
  EXPECT_GT(compared, 250000u);
  EXPECT_GT(rejected, compared / 2);
}

// ---------------------------------------------------------------------------------
// Each type

TEST_F(Primitives, Boolean) {
  valid("boolean", {"true", "false"});
  invalid("boolean", {"True", "FALSE", "1", "0", "yes", " true", "true "});
  EXPECT_EQ(message("boolean", "yes"), "boolean 'yes' does not match true|false");
}

TEST_F(Primitives, IntegerBounds) {
  valid("integer", {"0", "-0", "1", "-1", "42", "2147483647", "-2147483648"});
  invalid("integer", {"2147483648", "-2147483649", "99999999999", "12345678901234567890", "01",
                      "+1", "1.0", "1e3", "", " 1", "1 ", "--1", "-", "0x10"});
  EXPECT_EQ(message("integer", "2147483648"),
            "'2147483648' is not a valid integer: it is outside the 32-bit range "
            "-2,147,483,648..2,147,483,647");
  EXPECT_EQ(message("integer", "+1"),
            "integer '+1' does not match -?([0]|([1-9][0-9]*)): a leading '+' is not allowed");
  EXPECT_EQ(message("integer", "007"),
            "integer '007' does not match -?([0]|([1-9][0-9]*)): leading zeros are not allowed");
  EXPECT_EQ(message("integer", "1.0"),
            "integer '1.0' does not match -?([0]|([1-9][0-9]*)): it is not a whole number");
}

TEST_F(Primitives, PositiveIntAndUnsignedInt) {
  valid("positiveInt", {"1", "2", "10", "2147483647"});
  invalid("positiveInt", {"0", "-1", "-0", "00", "01", "2147483648", "+1", "1.5"});
  EXPECT_EQ(message("positiveInt", "0"),
            "positiveInt '0' does not match [1-9][0-9]*: a positiveInt is at least 1");
  EXPECT_EQ(message("positiveInt", "2147483648"),
            "'2147483648' is not a valid positiveInt: it is above 2,147,483,647, the largest "
            "32-bit integer");
  valid("unsignedInt", {"0", "1", "10", "2147483647"});
  invalid("unsignedInt", {"-1", "-0", "00", "01", "2147483648", "4294967295", "+0"});
  EXPECT_EQ(message("unsignedInt", "-1"),
            "unsignedInt '-1' does not match [0]|([1-9][0-9]*): an unsignedInt is not negative");
}

TEST_F(Primitives, Decimal) {
  valid("decimal", {"0", "-0", "0.0", "1.50", "-123.456", "1e10", "1E-10", "-1.5e+3", "0.010",
                    // 18+ significant digits: the HL7 validator only warns
                    "3.14159265358979323846264338327950288", "123456789012345678901234567890"});
  invalid("decimal", {"01", "+1", ".5", "1.", "1.e5", "1e", "1e+", "--1", "1,5", "NaN", "Infinity",
                      "0x1", " 1", "1 "});
  EXPECT_EQ(
      message("decimal", ".5"),
      R"(decimal '.5' does not match -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?: a decimal point needs digits on both sides)");
}

TEST_F(Primitives, StringAndMarkdown) {
  for (std::string_view name : {"string", "markdown"}) {
    valid(name,
          {"a", " ", "  leading and trailing  ", "line\nbreak", "tab\there", "cr\r\n",
           "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\xc2\xa0no-break space", "# *markdown*"});
    invalid(name, {"", "a\x01", "vt\vhere", "ff\fhere", "\x1b[0m", "bad\xff utf-8",
                   "overlong \xc0\xaf", "surrogate \xed\xa0\x80", "truncated \xe2\x82"});
  }
  EXPECT_EQ(message("string", std::string_view("a\0b", 3)),
            "'a\\u0000b' is not a valid string: it contains the control character U+0000 (only "
            "tab, CR and LF are allowed below U+0020)");
  EXPECT_EQ(message("string", "bad\xff"),
            "'bad\\xFF' is not a valid string: it is not well-formed UTF-8");
  EXPECT_EQ(message("string", ""),
            "an empty string is not a valid string (FHIR values are never empty)");
  // DEL and C1 controls are only a SHOULD NOT.
  valid("string", {"del\x7f", "c1 \xc2\x85"});
}

TEST_F(Primitives, StringsHoldAtMostOneMebiCharacters) {
  const std::string max(1048576, 'x');
  valid("string", {max});
  valid("markdown", {max});
  const std::string over = max + "x";
  EXPECT_EQ(message("string", over).substr(message("string", over).find(" is not")),
            " is not a valid string: it has 1,048,577 characters; FHIR strings hold at most "
            "1,048,576 (1 MiB)");
  invalid("markdown", {over});
  invalid("code", {over});
  // Characters, not bytes: 1,048,576 two-byte characters are fine, one more is not.
  std::string wide;
  for (int i = 0; i < 1048576; ++i) wide += "\xc3\xa9";
  valid("string", {wide});
  wide += "\xc3\xa9";
  invalid("string", {wide});
  // Types that are not strings have no such limit.
  std::string bigBase64;
  for (int i = 0; i < 300000; ++i) bigBase64 += "QUJD";
  valid("base64Binary", {bigBase64});
  valid("uri", {"http://x.org/" + max});
}

TEST_F(Primitives, Code) {
  valid("code",
        {"a", "male", "http://loinc.org", "a b", "a b c", "text/plain; charset=utf-8", "\xc3\xa9"});
  invalid("code", {"", " a", "a ", "a  b", " ", "a\tb", "a\nb", "a \tb", "\ta"});
  EXPECT_EQ(
      message("code", " a"),
      R"(code ' a' does not match [^\s]+(\s[^\s]+)*: leading or trailing whitespace is not allowed)");
  EXPECT_EQ(message("code", "a  b"),
            R"(code 'a  b' does not match [^\s]+(\s[^\s]+)*: whitespace may not be repeated)");
  EXPECT_EQ(message("code", "a\tb"),
            "'a\\tb' is not a valid code: whitespace inside a code must be single spaces (no tabs "
            "or line breaks)");
}

TEST_F(Primitives, Id) {
  valid("id", {"a", "123", "A-b.C", "example", "f001", "1.2.840.10008", std::string(64, 'z'),
               "c757873d-ec9a-4326-a141-556f43239520"});
  invalid("id", {"", "a b", "a_b", "a/b", "\xc3\xa9", std::string(65, 'z'), "a:b", "#a"});
  EXPECT_EQ(message("id", "a b"), R"(id 'a b' does not match [A-Za-z0-9\-\.]{1,64})");
  EXPECT_EQ(message("id", std::string(65, 'z')),
            "id '" + std::string(60, 'z') +
                R"(…' does not match [A-Za-z0-9\-\.]{1,64}: it is 65 characters long)");
}

TEST_F(Primitives, UriUrlCanonical) {
  for (std::string_view name : {"uri", "url", "canonical"}) {
    valid(name, {"http://hl7.org/fhir", "urn:oid:1.2.3", "Patient/123", "#frag", "a",
                 "mailto:a@b.org", "http://x.org/ValueSet/vs|1.0.0", "cid:part1"});
    invalid(name, {"", "http://x.org/a b", " http://x.org", "http://x.org\n", "a\tb", "x\x01"});
  }
  EXPECT_EQ(message("uri", "a b"), R"(uri 'a b' does not match \S*: it contains whitespace)");
}

TEST_F(Primitives, OidAndUuid) {
  valid("oid", {"urn:oid:1.2.3", "urn:oid:2.16.840.1.113883.6.1", "urn:oid:0.0", "urn:oid:1.0.10"});
  invalid("oid", {"1.2.3", "urn:oid:3.1", "urn:oid:1", "urn:oid:1.02", "urn:oid:1..2",
                  "urn:oid:1.2.", "urn:oid:", "URN:OID:1.2", "urn:oid:1.2.a"});
  EXPECT_EQ(
      message("oid", "1.2.3"),
      R"(oid '1.2.3' does not match urn:oid:[0-2](\.(0|[1-9][0-9]*))+: an oid is written as a URI: urn:oid:1.2.3)");
  valid("uuid", {"urn:uuid:c757873d-ec9a-4326-a141-556f43239520",
                 "urn:uuid:00000000-0000-0000-0000-000000000000"});
  invalid(
      "uuid",
      {"c757873d-ec9a-4326-a141-556f43239520", "urn:uuid:C757873D-EC9A-4326-A141-556F43239520",
       "urn:uuid:c757873d-ec9a-4326-a141-556f4323952",
       "urn:uuid:c757873d-ec9a-4326-a141-556f432395200",
       "urn:uuid:c757873dec9a4326a141556f43239520", "urn:uuid:g757873d-ec9a-4326-a141-556f43239520",
       "urn:uuid:{c757873d-ec9a-4326-a141-556f43239520}"});
  EXPECT_NE(message("uuid", "urn:uuid:C757873D-EC9A-4326-A141-556F43239520")
                .find("the hex digits must be lowercase"),
            std::string::npos);
}

TEST_F(Primitives, Base64Binary) {
  valid("base64Binary", {"QUJD", "QUJDRA==", "QUJDREU=", "AAAA", "+/+/", "QUJD\nRA==", "QUJD RA==",
                         "  QUJD  ", "QUJD\r\nQUJD\r\n", "QQ==", "QUI="});
  invalid("base64Binary",
          {"", "Q", "QQ", "QUJ", "QUJDR", "QUJDRA=", "QU JD", "Q-JD", "QUJD!", "QQ=A", "=QUJ",
           "Q===", "====", "QQ==QUJD", "QQ==\nQUJD", "   ", "QUJD\xc3\xa9"});
  EXPECT_EQ(
      message("base64Binary", "QUJDR"),
      R"(base64Binary 'QUJDR' does not match (\s*([0-9a-zA-Z\+/=]){4}\s*)+: its length without whitespace (5) is not a multiple of 4)");
  EXPECT_EQ(
      message("base64Binary", "QU JD"),
      R"(base64Binary 'QU JD' does not match (\s*([0-9a-zA-Z\+/=]){4}\s*)+: whitespace may only come between groups of four characters)");
  EXPECT_EQ(
      message("base64Binary", "Q-JD"),
      R"(base64Binary 'Q-JD' does not match (\s*([0-9a-zA-Z\+/=]){4}\s*)+: '-' is not a base64 character)");
  EXPECT_EQ(message("base64Binary", "QQ=A"),
            "'QQ=A' is not a valid base64Binary: '=' may only pad the end of the data");
  EXPECT_EQ(message("base64Binary", "Q==="),
            "'Q===' is not a valid base64Binary: at most two '=' may pad the end of the data");
}

// ---------------------------------------------------------------------------------
// Dates and times

TEST_F(Primitives, Date) {
  valid("date", {"2023", "2023-02", "2023-02-28", "0001", "0001-01-01", "9999-12-31", "2024-02-29",
                 "2000-02-29", "2023-04-30", "2023-12-31", "1970-01-01"});
  invalid("date", {"0000",       "023",         "20231",      "2023-1",
                   "2023-13",    "2023-00",     "2023-01-00", "2023-01-32",
                   "2023-02-29", "1900-02-29",  "2100-02-29", "2023-04-31",
                   "2023-06-31", "2023-09-31",  "2023-11-31", "2023-01-01T10:00:00Z",
                   "2023/01/01", "2023-01-01 ", "-2023",      "23-01-01"});
  EXPECT_EQ(message("date", "2023-02-30"),
            "'2023-02-30' is not a valid date: February 2023 has 28 days");
  EXPECT_EQ(message("date", "2023-04-31"),
            "'2023-04-31' is not a valid date: April 2023 has 30 days");
  EXPECT_EQ(message("date", "2023-13"),
            "'2023-13' is not a valid date: month 13 does not exist (01-12)");
  EXPECT_EQ(message("date", "0000"),
            "'0000' is not a valid date: there is no year 0000 (0001-9999)");
  EXPECT_EQ(
      message("date", "2023-01-01T10:00:00Z"),
      "'2023-01-01T10:00:00Z' is not a valid date: a date has no time (that would be a dateTime)");
}

TEST_F(Primitives, LeapYears) {
  for (std::string_view name : {"date", "dateTime"}) {
    valid(name,
          {"2024-02-29", "2000-02-29", "1600-02-29", "0004-02-29", "2020-02-29", "1996-02-29"});
    invalid(name,
            {"2023-02-29", "1900-02-29", "2100-02-29", "1800-02-29", "0001-02-29", "2024-02-30"});
  }
  valid("instant", {"2024-02-29T12:00:00Z"});
  invalid("instant", {"2023-02-29T12:00:00Z", "1900-02-29T00:00:00+01:00"});
  EXPECT_EQ(message("dateTime", "1900-02-29"),
            "'1900-02-29' is not a valid dateTime: February 1900 has 28 days");
}

TEST_F(Primitives, DateTime) {
  valid("dateTime",
        {"2023", "2023-06", "2023-06-15", "2023-06-15T10:20:30Z", "2023-06-15T10:20:30+02:00",
         "2023-06-15T10:20:30.1Z", "2023-06-15T10:20:30.123456789-05:30", "2023-06-15T00:00:00Z",
         "2023-06-15T23:59:59-00:00"});
  invalid("dateTime", {"2023-06-15T10:20:30", "2023-06-15T10:20Z", "2023-06-15T10Z", "2023-06-15T",
                       "2023-06-15T10:20:30.Z", "2023-06-15T24:00:00Z", "2023-06-15T25:00:00Z",
                       "2023-06-15T10:60:00Z", "2023-06-15T10:20:61Z", "2023-06-15 10:20:30Z",
                       "2023-06-15t10:20:30Z", "2023-06-15T10:20:30z", "2023-06-15T10:20:30+0200",
                       "2023-06-15T10:20:30+02", "2023-06-15T10:20:30ZZ", "2023-06T10:20:30Z",
                       "2023T10:20:30Z", "2023-06-31T10:20:30Z"});
  EXPECT_EQ(message("dateTime", "2023-06-15T10:20:30"),
            "'2023-06-15T10:20:30' is not a valid dateTime: a dateTime with a time needs a time "
            "zone (Z, +hh:mm or -hh:mm)");
  EXPECT_EQ(message("dateTime", "2023-06-15T10:20Z"),
            "'2023-06-15T10:20Z' is not a valid dateTime: seconds are required (hh:mm:ss)");
  EXPECT_EQ(message("dateTime", "2023-06-15T24:00:00Z"),
            "'2023-06-15T24:00:00Z' is not a valid dateTime: hour 24 is not allowed (00-23; 24:00 "
            "is 00:00 of the next day)");
  EXPECT_EQ(message("dateTime", "2023-06-15 10:20:30Z"),
            "'2023-06-15 10:20:30Z' is not a valid dateTime: the date and the time must be "
            "separated by 'T'");
}

TEST_F(Primitives, TimeZones) {
  for (std::string_view name : {"dateTime", "instant"}) {
    valid(name,
          {"2023-06-15T10:20:30Z", "2023-06-15T10:20:30+00:00", "2023-06-15T10:20:30-00:00",
           "2023-06-15T10:20:30+14:00", "2023-06-15T10:20:30-14:00", "2023-06-15T10:20:30+13:59",
           "2023-06-15T10:20:30+05:45", "2023-06-15T10:20:30-09:30", "2023-06-15T10:20:30-12:00"});
    invalid(name,
            {"2023-06-15T10:20:30+14:01", "2023-06-15T10:20:30-14:30", "2023-06-15T10:20:30+15:00",
             "2023-06-15T10:20:30-23:00", "2023-06-15T10:20:30+05:60", "2023-06-15T10:20:30+05:99",
             "2023-06-15T10:20:30+5:00", "2023-06-15T10:20:30+05:0", "2023-06-15T10:20:30 +05:00",
             "2023-06-15T10:20:30UTC", "2023-06-15T10:20:30+05:00:00"});
  }
  EXPECT_EQ(message("dateTime", "2023-06-15T10:20:30+14:30"),
            "'2023-06-15T10:20:30+14:30' is not a valid dateTime: the time zone offset +14:30 is "
            "outside -14:00..+14:00");
  EXPECT_EQ(message("instant", "2023-06-15T10:20:30+05:60"),
            "'2023-06-15T10:20:30+05:60' is not a valid instant: the time zone minutes 60 do not "
            "exist (00-59)");
}

TEST_F(Primitives, LeapSeconds) {
  // A leap second is the last second of a UTC day, whatever the offset it is written in.
  for (std::string_view name : {"dateTime", "instant"}) {
    valid(name, {"2016-12-31T23:59:60Z", "2016-12-31T23:59:60.5Z", "2017-01-01T00:59:60+01:00",
                 "2016-12-31T18:59:60-05:00", "2017-01-01T05:29:60+05:30",
                 "2017-01-01T13:59:60+14:00", "2016-12-31T09:59:60-14:00"});
    invalid(name, {"2016-12-31T10:00:60Z", "2016-12-31T23:59:60+01:00", "2016-12-31T23:58:60Z",
                   "2017-01-01T05:59:60+05:30", "2016-12-31T23:59:61Z"});
  }
  EXPECT_EQ(message("instant", "2016-12-31T23:59:60+01:00"),
            "'2016-12-31T23:59:60+01:00' is not a valid instant: a leap second (:60) can only be "
            "23:59:60 UTC, and 23:59 here is 22:59 UTC");
  // A time has no zone: any hh:mm:60 may be a leap second somewhere.
  valid("time", {"23:59:60", "10:29:60"});
}

TEST_F(Primitives, Instant) {
  valid("instant", {"2023-06-15T10:20:30Z", "2023-06-15T10:20:30.000+01:00", "0001-01-01T00:00:00Z",
                    "9999-12-31T23:59:59.999999Z"});
  invalid("instant", {"2023", "2023-06", "2023-06-15", "2023-06-15T10:20:30", "2023-06-15T10:20Z",
                      "2023-06-15T10:20:30.Z", "0000-01-01T00:00:00Z", "2023-06-31T10:20:30Z"});
  EXPECT_EQ(
      message("instant", "2023-06-15"),
      "'2023-06-15' is not a valid instant: an instant needs a full date, a time with seconds "
      "and a time zone (YYYY-MM-DDThh:mm:ss+zz:zz)");
  EXPECT_EQ(message("instant", "2023-06-15T10:20:30"),
            "'2023-06-15T10:20:30' is not a valid instant: an instant needs a time zone (Z, +hh:mm "
            "or -hh:mm)");
}

TEST_F(Primitives, Time) {
  valid("time", {"00:00:00", "10:20:30", "23:59:59", "12:00:00.5", "12:00:00.123456"});
  invalid("time",
          {"24:00:00", "25:00:00", "10:60:00", "10:20:61", "10:20", "10", "1:02:03", "10:20:30Z",
           "10:20:30+01:00", "10:20:30.", "T10:20:30", "10-20-30", "10:20:30 "});
  EXPECT_EQ(message("time", "24:00:00"),
            "'24:00:00' is not a valid time: hour 24 is not allowed (00-23; 24:00 is 00:00 of the "
            "next day)");
  EXPECT_EQ(message("time", "10:20:30Z"),
            "'10:20:30Z' is not a valid time: a time has no time zone");
  EXPECT_EQ(message("time", "10:20"),
            "'10:20' is not a valid time: seconds are required (hh:mm:ss)");
}

// ---------------------------------------------------------------------------------
// Messages, types, threads

TEST_F(Primitives, MessagesQuoteAtMostSixtyCharacters) {
  std::string longValue = std::string(100, 'a') + " b";
  const std::string m = message("id", longValue);
  EXPECT_EQ(m, "id '" + std::string(60, 'a') + R"(…' does not match [A-Za-z0-9\-\.]{1,64})");
  // Characters, not bytes; a character is never cut.
  std::string accents;
  for (int i = 0; i < 70; ++i) accents += "\xc3\xa9";
  const std::string m2 = message("id", accents);
  std::string expected;
  for (int i = 0; i < 60; ++i) expected += "\xc3\xa9";
  EXPECT_EQ(m2, "id '" + expected + R"(…' does not match [A-Za-z0-9\-\.]{1,64})");
  EXPECT_TRUE(json::isValidUtf8(message("string", std::string(100, 'x') + "\xff")));
}

TEST_F(Primitives, TypesWithoutRules) {
  EXPECT_FALSE(rules_->check(type("xhtml"), "<div>not checked here</div>"));
  EXPECT_FALSE(rules_->check(type("Patient"), ""));
  EXPECT_FALSE(rules_->check(type("HumanName"), "anything"));
}

TEST_F(Primitives, ProfilesOfPrimitivesAreCheckedAsTheirBase) {
  TypeInfo profile;  // as a profile on code would be modelled
  profile.name = "my-code-profile";
  profile.kind = TypeKind::Primitive;
  profile.base = &type("code");
  EXPECT_FALSE(rules_->check(profile, "abc"));
  EXPECT_TRUE(rules_->check(profile, "a  b"));
  EXPECT_EQ(rules_->pattern(profile), R"([^\s]+(\s[^\s]+)*)");
  TypeInfo deeper;
  deeper.name = "deeper";
  deeper.kind = TypeKind::Primitive;
  deeper.base = &profile;
  EXPECT_FALSE(rules_->check(deeper, "2023-02-29T00:00:00Z"));  // a fine code
  EXPECT_TRUE(rules_->check(deeper, " x"));
  TypeInfo onDate = profile;
  onDate.base = &type("date");
  EXPECT_EQ(
      rules_->check(onDate, "2023-02-29"),
      std::optional<std::string>("'2023-02-29' is not a valid date: February 2023 has 28 days"));
  // A primitive type of another registry: by name.
  TypeInfo foreign;
  foreign.name = "positiveInt";
  foreign.kind = TypeKind::Primitive;
  EXPECT_TRUE(rules_->check(foreign, "0"));
  EXPECT_FALSE(rules_->check(foreign, "1"));
}

TEST_F(Primitives, ThreadsShareTheRules) {
  const TypeInfo& dateTime = type("dateTime");
  const TypeInfo& date = type("date");
  const TypeInfo& id = type("id");
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int i = 0; i < 2000; ++i) {
        failures[k] += rules_->check(dateTime, "2023-06-15T10:20:30Z").has_value();
        failures[k] += !rules_->check(date, "2023-02-30").has_value();
        failures[k] += rules_->check(id, "abc-" + std::to_string(i)).has_value();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

// ---------------------------------------------------------------------------------
// Registries with other patterns (no package needed)

std::string primitiveSd(std::string_view type, std::string_view regexJson) {
  std::string ext;
  if (!regexJson.empty())
    ext = R"(,"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/regex","valueString":)" +
          std::string(regexJson) + "}]";
  return R"({"resourceType":"StructureDefinition","url":"http://hl7.org/fhir/StructureDefinition/)" +
         std::string(type) + R"(","name":")" + std::string(type) +
         R"(","kind":"primitive-type","abstract":false,"type":")" + std::string(type) +
         R"(","snapshot":{"element":[{"path":")" + std::string(type) + R"("},{"path":")" +
         std::string(type) + R"(.value","type":[{"code":"http://hl7.org/fhirpath/System.String")" +
         ext + "}]}]}}";
}

TEST(PrimitiveRulesOtherPackages, PatternsThatDoNotCompileAreReportedAndSkipped) {
  Registry registry;
  std::string error;
  ASSERT_TRUE(registry.addResource(primitiveSd("date", R"("(?=[0-9])[0-9-]+")"), "date", error))
      << error;
  ASSERT_TRUE(registry.addResource(primitiveSd("string", R"("[a-z]+")"), "string", error)) << error;
  ASSERT_TRUE(registry.addResource(primitiveSd("id", R"(".*")"), "id", error)) << error;
  ASSERT_TRUE(registry.addResource(primitiveSd("integer64", R"("-?[0-9]+")"), "integer64", error))
      << error;
  ASSERT_TRUE(registry.addResource(primitiveSd("uri", ""), "uri", error)) << error;
  ASSERT_TRUE(registry.finalize(error)) << error;
  const PrimitiveRules rules(registry);
  ASSERT_EQ(rules.problems().size(), 1u);
  EXPECT_NE(rules.problems()[0].find("date: the regex '(?=[0-9])[0-9-]+' does not compile: "),
            std::string::npos)
      << rules.problems()[0];
  const TypeInfo& date = *registry.type("date");
  EXPECT_FALSE(rules.patternCompiled(date));
  // Skipped: the R4 rules still apply.
  EXPECT_FALSE(rules.check(date, "2024-02-29"));
  EXPECT_EQ(
      rules.check(date, "2023-02-29"),
      std::optional<std::string>("'2023-02-29' is not a valid date: February 2023 has 28 days"));
  // A declared pattern other than R4's is run by the regex engine...
  const TypeInfo& str = *registry.type("string");
  EXPECT_TRUE(rules.patternCompiled(str));
  EXPECT_FALSE(rules.patternNative(str));
  EXPECT_FALSE(rules.check(str, "abc"));
  EXPECT_EQ(rules.check(str, "ABC"),
            std::optional<std::string>("string 'ABC' does not match [a-z]+"));
  // ...and the R4 rules apply besides.
  const TypeInfo& id = *registry.type("id");
  EXPECT_EQ(
      rules.check(id, "a b"),
      std::optional<std::string>(R"(id 'a b' does not match [A-Za-z0-9\-\.]{1,64} (the R4 rule))"));
  // A primitive R4 does not define: its regex and the text rules.
  const TypeInfo& i64 = *registry.type("integer64");
  EXPECT_FALSE(rules.check(i64, "9223372036854775807"));
  EXPECT_EQ(rules.check(i64, "1.5"),
            std::optional<std::string>("integer64 '1.5' does not match -?[0-9]+"));
  // No declared pattern: the R4 rules.
  const TypeInfo& uri = *registry.type("uri");
  EXPECT_EQ(rules.pattern(uri), "");
  EXPECT_EQ(rules.check(uri, "a b"),
            std::optional<std::string>(R"(uri 'a b' does not match \S*: it contains whitespace)"));
}

}  // namespace
}  // namespace hoa::fhir
