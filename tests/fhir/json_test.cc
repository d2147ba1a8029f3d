#include "fhir/json.h"

#include <gtest/gtest.h>

namespace hoa::json {
namespace {

Document parseOk(const std::string& text) {
  Error err;
  Document d = Document::parse(text, err);
  EXPECT_FALSE(err) << err.message << " at " << err.line << ":" << err.column;
  return d;
}

Error parseErr(const std::string& text, const Limits& limits = {}) {
  Error err;
  Document d = Document::parse(text, err, limits);
  EXPECT_TRUE(err) << "expected an error for: " << text.substr(0, 80);
  EXPECT_EQ(d.root(), nullptr);
  return err;
}

TEST(JsonParser, KeepsDecimalPrecision) {
  Document d = parseOk(R"({"a": 1.50, "b": 1.0e0, "c": -0.0000000000000000000001, "d": 123456789012345678901234567890})");
  EXPECT_EQ(d.root()->find("a")->text, "1.50");
  EXPECT_EQ(d.root()->find("b")->text, "1.0e0");
  EXPECT_EQ(d.root()->find("c")->text, "-0.0000000000000000000001");
  EXPECT_EQ(d.root()->find("d")->text, "123456789012345678901234567890");
}

TEST(JsonParser, KeepsMemberOrderAndTypes) {
  Document d = parseOk(R"({"z": true, "a": null, "m": [1, "x", {}], "s": "t"})");
  const Value* r = d.root();
  ASSERT_EQ(r->size, 4u);
  EXPECT_EQ(r->members[0].key, "z");
  EXPECT_TRUE(r->members[0].value->boolean);
  EXPECT_EQ(r->members[1].value->type, Type::Null);
  EXPECT_EQ(r->find("m")->size, 3u);
  EXPECT_EQ(r->find("m")->items[2]->type, Type::Object);
  EXPECT_EQ(r->getString("s"), "t");
}

TEST(JsonParser, UnescapesStringsAndSurrogatePairs) {
  Document d = parseOk(R"({"s": "a\"b\\c\/d\n\t\u00e6\ud83d\ude00"})");
  EXPECT_EQ(d.root()->getString("s"), "a\"b\\c/d\n\t\xC3\xA6\xF0\x9F\x98\x80");
}

TEST(JsonParser, RejectsDuplicateKeysWithTheirLocation) {
  Error e = parseErr("{\n  \"a\": 1,\n  \"b\": {\"x\": 1, \"x\": 2}\n}");
  EXPECT_NE(e.message.find("duplicate property \"x\""), std::string::npos);
  EXPECT_EQ(e.line, 3u);
  EXPECT_EQ(e.column, 17u);
}

TEST(JsonParser, RejectsInvalidUtf8) {
  EXPECT_NE(parseErr("{\"a\": \"\xC3\x28\"}").message.find("UTF-8"), std::string::npos);
  EXPECT_NE(parseErr("{\"a\": \"\xC0\xAF\"}").message.find("UTF-8"), std::string::npos);  // overlong
  EXPECT_NE(parseErr("{\"a\": \"\xED\xA0\x80\"}").message.find("UTF-8"), std::string::npos);  // surrogate
  EXPECT_NE(parseErr(R"({"a": "\ud800"})").message.find("surrogate"), std::string::npos);
}

TEST(JsonParser, RejectsBadNumbersAndLiterals) {
  parseErr("[01]");
  parseErr("[1.]");
  parseErr("[.5]");
  parseErr("[1e]");
  parseErr("[+1]");
  parseErr("[tru]");
  parseErr("[NaN]");
}

TEST(JsonParser, ReportsLineAndColumnOfSyntaxErrors) {
  Error e = parseErr("{\n  \"a\": [1, 2,,]\n}");
  EXPECT_EQ(e.line, 2u);
  EXPECT_EQ(e.column, 14u);  // the second comma
  e = parseErr("{\"a\": \"unterminated");
  EXPECT_NE(e.message.find("unterminated"), std::string::npos);
  e = parseErr("{\"a\": 1} x");
  EXPECT_NE(e.message.find("after the end"), std::string::npos);
}

TEST(JsonParser, SaysWhereInTheStructureASyntaxErrorIs) {
  Error e = parseErr(R"({"resourceType":"Patient","name":[{"given":["a"]},{"given":["x",[[1,{"a":01}]]]}]})");
  EXPECT_EQ(e.path, "name[1].given[1][0][1].a");
  EXPECT_EQ(e.rootResourceType, "Patient");
  e = parseErr(R"({"a":[1,2,{"b":[true, fals]}]})");
  EXPECT_EQ(e.path, "a[2].b[1]");
  EXPECT_EQ(e.rootResourceType, "");
}

TEST(JsonParser, EnforcesLimits) {
  Limits l;
  l.maxDepth = 10;
  EXPECT_NE(parseErr(std::string(11, '[') + std::string(11, ']'), l).message.find("nesting"),
            std::string::npos);
  parseOk(std::string(10, '[') + std::string(10, ']'));
  l = {};
  l.maxStringBytes = 4;
  EXPECT_NE(parseErr(R"(["12345"])", l).message.find("string longer"), std::string::npos);
  l = {};
  l.maxInputBytes = 8;
  EXPECT_NE(parseErr(R"([1,2,3,4,5])", l).message.find("larger than"), std::string::npos);
  l = {};
  l.maxValues = 3;
  EXPECT_NE(parseErr(R"([1,2,3,4])", l).message.find("values"), std::string::npos);
}

TEST(JsonParser, RejectsControlCharactersInStrings) {
  EXPECT_NE(parseErr("[\"a\x01\"]").message.find("control character"), std::string::npos);
}

TEST(JsonWriter, QuotesAndEscapes) {
  std::string out;
  appendQuoted(out, "a\"b\\\n\x01\xC3\xA6/");
  EXPECT_EQ(out, "\"a\\\"b\\\\\\n\\u0001\xC3\xA6/\"");
}

TEST(JsonNumbers, RecognisesTheGrammar) {
  EXPECT_TRUE(isNumberLiteral("0"));
  EXPECT_TRUE(isNumberLiteral("-1.50e+10"));
  EXPECT_FALSE(isNumberLiteral("01"));
  EXPECT_FALSE(isNumberLiteral("1."));
  EXPECT_FALSE(isNumberLiteral(""));
  EXPECT_FALSE(isNumberLiteral("0x10"));
}

}  // namespace
}  // namespace hoa::json
