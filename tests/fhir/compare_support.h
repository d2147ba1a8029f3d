#pragma once
// Canonical comparison of FHIR JSON and XML for the conformance tests: JSON property
// order and white space ignored, number text exact; XML comments and indentation
// ignored, attributes as sets; narrative divs compared as canonical XHTML with white
// space runs folded (the same text, formatted differently, is the same narrative).
#include <map>
#include <string>
#include <vector>

namespace hoa::testing {

struct CValue {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  std::string text;  // Bool/Number/String
  std::vector<CValue> items;
  std::map<std::string, CValue> members;
  bool operator==(const CValue&) const = default;
};

// Parses JSON into a canonical value; throws std::runtime_error on invalid JSON.
CValue canonicalJson(const std::string& json);

// What to leave out or fold before comparing.
struct Allowances {
  bool dropHtestSecurityTag = false;  // meta.security HTEST (added to the XML examples)
  bool ignoreNarrativeDiv = false;    // regenerated narrative text
  // Divs are always compared as canonical XHTML (quoting, escaping, empty-element
  // form); with this, runs of white space in them are folded too.
  bool foldNarrativeWhitespace = false;
};
void applyAllowances(CValue& resource, const Allowances& a);

// Empty when equal; else the path of the first difference and what differs. Numbers
// compare by their text, or with `numbersByValue` by their exact decimal value (for twins
// that write one value in different forms: 1.0e0 and 1.0).
std::string diffJson(const CValue& expected, const CValue& actual, bool numbersByValue = false);
// The exact decimal value of a number literal, as "-0.d1d2…dn×10^e" text; "" if not one.
std::string decimalValueKey(const std::string& literal);

struct CElement {
  std::string ns, name;
  std::map<std::string, std::string> attrs;
  std::vector<CElement> children;
  std::string text;  // only for the folded narrative div (its canonical XHTML)
  bool operator==(const CElement&) const = default;
};

// Parses XML into a canonical element tree; throws std::runtime_error on bad XML.
CElement canonicalXml(const std::string& xml);
void applyAllowances(CElement& resource, const Allowances& a);
std::string diffXml(const CElement& expected, const CElement& actual, bool numbersByValue = false);

// Canonical XHTML with white space runs folded to one space.
std::string foldedXhtml(const std::string& xhtml);

}  // namespace hoa::testing
