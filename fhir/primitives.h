#pragma once
// The value rules of the FHIR R4 primitive types, for the validator: everything a value
// must satisfy beyond what the parsers already reject.
//
// Two layers, both applied to every value:
//   1. The regex each primitive type's StructureDefinition declares on its value element
//      (extension http://hl7.org/fhir/StructureDefinition/regex), matched against the
//      whole value. All are compiled with fhir/regex.h when the rules are built; a
//      pattern that does not compile is listed in problems() and skipped. Where the
//      declared pattern is exactly the R4 one, a hand-written matcher of the same
//      language runs instead (no allocation; the tests check both agree).
//   2. What the regexes cannot say:
//      - date, dateTime, instant: real calendar dates (month lengths, leap years); a
//        leap second (:60) only at 23:59:60 UTC (the offset is taken into account;
//        a time has no offset, so any hh:mm:60 is accepted there);
//      - integer, positiveInt, unsignedInt: the 32-bit range (the regexes bound the sign);
//      - base64Binary: '=' only as padding at the end, at most two of them;
//      - string and its specializations (code, id, markdown): at most 1,048,576
//        characters (R4: string.value maxLength); code: whitespace only as single spaces;
//      - every text type: no control characters U+0000–U+001F other than tab, CR, LF,
//        well-formed UTF-8, and never empty.
//   Not reported, as R4 makes them no error: decimals with more than 18 significant
//   digits (the HL7 validator only warns), relative url values (Attachment.url may be
//   relative), leading or trailing whitespace in a string (a SHOULD). xhtml is left to
//   the narrative checks.
//
// Messages are English, name the rule and quote the value (at most 60 characters, then
// an ellipsis; control characters escaped):
//   "'2023-02-30' is not a valid date: February 2023 has 28 days"
//   "id 'a b' does not match [A-Za-z0-9\-\.]{1,64}"
//
// Thread-safety: immutable once built; check() may be called from any number of threads.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fhir/definitions.h"

namespace hoa::fhir {

struct PrimitiveRulesOptions {
  // Run every declared regex with the regex engine, even where a hand-written matcher of
  // the same R4 pattern exists. For tests that compare the two; slower.
  bool alwaysUseRegex = false;
};

class PrimitiveRules {
 public:
  explicit PrimitiveRules(const Registry& registry);
  PrimitiveRules(const Registry& registry, PrimitiveRulesOptions options);
  ~PrimitiveRules();
  PrimitiveRules(const PrimitiveRules&) = delete;
  PrimitiveRules& operator=(const PrimitiveRules&) = delete;

  // nullopt when `value` is a valid value of the primitive type (a profile of a primitive
  // type is checked as its base type), else what is wrong. Also nullopt for types that
  // are not primitives and for xhtml: there is nothing to check here.
  std::optional<std::string> check(const TypeInfo& type, std::string_view value) const;

  // What went wrong while building: regexes that do not compile, e.g.
  // "date: the regex '…' does not compile: … at offset 3". Empty for the R4 package.
  const std::vector<std::string>& problems() const { return problems_; }

  // The regex declared for a primitive type (or the base it profiles); empty when none.
  std::string_view pattern(const TypeInfo& type) const;
  // Whether that regex compiled.
  bool patternCompiled(const TypeInfo& type) const;
  // Whether a hand-written matcher stands in for that regex (it is the R4 pattern).
  bool patternNative(const TypeInfo& type) const;

 private:
  struct Rule;
  const Rule* ruleFor(const TypeInfo& type) const;

  PrimitiveRulesOptions options_;
  std::vector<std::unique_ptr<Rule>> rules_;
  std::unordered_map<const TypeInfo*, const Rule*> byType_;
  StringMap<const Rule*> byName_;
  std::vector<std::string> problems_;
};

}  // namespace hoa::fhir
