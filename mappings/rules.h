#pragma once
// The clinic's named business rules: what the referral contract asks that a profile
// cannot say (check digits, dates that must agree, the clinic's advice on acute needs,
// the target group). Each rule has a code (CodeSystem referral-rule, written into
// OperationOutcome.issue.details.coding), a severity, an IssueType, and its message in
// Norwegian bokmål and English. docs/implementation-guide.md lists them all.
//
// Thread-safety: the catalogue is immutable; checkRules() is a pure function of its
// arguments.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/element.h"
#include "fhir/issue.h"
#include "mappings/mapping.h"
#include "mappings/working_days.h"

namespace hoa::clinic {

enum class Lang { Nb, En };
// "en" (or "en-…") → English; anything else → bokmål, the default.
Lang langFromTag(std::string_view tag);

inline constexpr std::string_view kRuleCodeSystemPath = "/CodeSystem/referral-rule";

struct Rule {
  std::string_view code;
  fhir::Severity severity;
  std::string_view issueType;  // OperationOutcome IssueType
  std::string_view nb;         // message templates: {name} is replaced
  std::string_view en;
};

// Every rule, in the order the implementation guide lists them.
const std::vector<Rule>& ruleCatalogue();
// The rule with this code, or nullptr.
const Rule* findRule(std::string_view code);
// The rule with this code in `catalogue`, or nullptr.
const Rule* findRuleIn(const std::vector<Rule>& catalogue, std::string_view code);

struct RuleOptions {
  std::string clinicHerId;
  bool allowSyntheticIds = false;
  std::string ruleSystem;  // canonical URL of the referral-rule CodeSystem
};

// What the rules learned that the internal model needs.
struct RuleFindings {
  std::string idType;             // fnr | dnr (when the number is valid)
  std::string nationalId;
  std::optional<Date> birthDate;  // from the number
  std::string genderFromNumber;   // male | female
  std::string problemCategory;    // musculoskeletal | mental | mixed | other
  std::string problemDescription;
};

// Runs every rule on the mapped fields of one referral. Issues go to `out` with the
// location of the element concerned in `root` (the submitted document).
void checkRules(const fhir::Node& root, const fhir::Node& serviceRequest, const FieldValues& fields,
                const RuleOptions& options, Lang lang, fhir::Issues& out, RuleFindings& findings);

// An issue for a rule of the catalogue, its message filled from `args`
// ({"value", "…"} replaces {value}).
fhir::Issue ruleIssue(const Rule& rule, const RuleOptions& options, Lang lang, std::string expression,
                      const fhir::Node* at, const std::map<std::string, std::string>& args = {});

// ICPC-2 chapter letters and ICD-10 chapters that decide the problem category.
std::string problemCategoryOf(const std::vector<std::pair<std::string, std::string>>& systemAndCodes);

}  // namespace hoa::clinic
