#pragma once
// The clinic's questionnaires (referral-contract section 4): a QuestionnaireResponse
// checked against its Questionnaire, the PHQ-9 and GAD-7 scores, and the clinic's
// recorded answers turned into a QuestionnaireResponse.
//
//   auto catalogue = QuestionnaireCatalogue::load(registry, {}, error);   // once; shared
//   fhir::Issues issues = catalogue->validate(*parsed.doc.root(), {Lang::En});
//   std::vector<InstrumentScore> scores = catalogue->score(*parsed.doc.root());
//   ResponseBuild built = catalogue->build(recorded, refs, Lang::Nb);
//
// Validation is the Questionnaire's side of the contract only: every item's linkId at
// its place in the Questionnaire's tree (nesting, order, groups vs questions), the
// answer types of the item types, answerOption / answerValueSet membership, repeats,
// minValue / maxValue / maxLength, enableWhen, required items once the response is
// `completed` (or `amended`), the canonical in `questionnaire`, and the readOnly totals
// against the computed scores. FHIR R4 itself (cardinalities, formats, qrs-1, …) and the
// clinic's profile hoa-questionnaireresponse are the core validator's (fhir/validator.h):
// callers run both, as the intake does for referrals.
//
// enableWhen follows the R4 definitions as R4B/R5 clarified them: `exists` compares
// "has an answer" with answerBoolean; `=` and the ordering operators hold when at least
// one answer compares true; `!=` holds when no answer equals (so also when there is no
// answer). Answers of an item that is itself disabled count as absent; an item under a
// disabled item is disabled. The question's answers are looked up in the nearest
// enclosing item (then its parents, then the whole response), so a repeated group's
// conditions see their own repetition first. Dates, dateTimes and times compare as text,
// which is right for values of equal precision and time zone.
//
// Every problem is an issue with a rule code from the CodeSystem questionnaire-rule
// (<canonicalBase>/CodeSystem/questionnaire-rule, written into details.coding), its
// severity and IssueType, a message in bokmål or English, and the FHIRPath of the
// offending element in the response (`QuestionnaireResponse.item[5].item[0].answer[0].
// value.ofType(Coding)`). questionnaireRuleCatalogue() lists the codes; docs/
// questionnaires.md explains them.
//
// Scoring looks every weight up in the Questionnaire (answerOption extension ordinalValue,
// or itemWeight, or ordinalValue on the option's valueCoding) by the answer's code: a
// weight carried in the response itself is never trusted.
//
// Thread-safety: a loaded Questionnaire and QuestionnaireCatalogue are immutable and may
// be shared by any number of threads; every function here is reentrant (value set
// expansions are cached behind a mutex in fhir::RegistryTerminology).
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/definitions.h"
#include "fhir/element.h"
#include "fhir/issue.h"
#include "fhir/terminology.h"
#include "mappings/referral.h"
#include "mappings/rules.h"
#include "mappings/working_days.h"

namespace hoa::clinic {

inline constexpr std::string_view kQuestionnaireRuleCodeSystemPath = "/CodeSystem/questionnaire-rule";

// ---------------------------------------------------------------------------------------
// The Questionnaire, as the checks need it.

// A value of a Questionnaire (answerOption.value[x], enableWhen.answer[x], minValue…):
// its FHIR type name as the element model names it ("integer", "dateTime", "uri",
// "Coding", "Quantity", "Reference") and its text.
struct QuestionnaireValue {
  std::string type;
  std::string text;     // primitives: the value as written (numbers keep their text);
                        // Reference: the reference; Quantity: the value
  std::string system;   // Coding, Quantity
  std::string code;     // Coding, Quantity
  std::string display;  // Coding: display; Quantity: unit
};

struct AnswerOption {
  QuestionnaireValue value;
  // The option's score (ordinalValue / itemWeight), as the decimal's text; nullopt when
  // the option has none.
  std::optional<std::string> weight;
};

struct EnableWhen {
  std::string question;  // linkId
  std::string op;        // exists = != > < >= <=
  QuestionnaireValue answer;
};

struct QuestionnaireItem {
  std::string linkId;
  std::string type;  // group display boolean decimal integer date dateTime time string text url choice …
  std::string text;
  bool required = false;
  bool repeats = false;
  bool readOnly = false;
  std::optional<uint32_t> maxLength;
  std::optional<QuestionnaireValue> minValue, maxValue;  // the minValue / maxValue extensions
  std::string answerValueSet;                            // canonical, may carry |version
  std::vector<AnswerOption> answerOptions;
  std::vector<EnableWhen> enableWhen;
  bool enableAll = false;  // enableBehavior "all" (default "any")
  std::vector<QuestionnaireItem> items;

  bool isGroup() const { return type == "group"; }
  bool isDisplay() const { return type == "display"; }
  bool isQuestion() const { return !isGroup() && !isDisplay(); }
};

class Questionnaire {
 public:
  // Not copyable: the linkId index points into the item tree.
  Questionnaire() = default;
  Questionnaire(const Questionnaire&) = delete;
  Questionnaire& operator=(const Questionnaire&) = delete;

  // Reads a Questionnaire resource. Fails (nullptr, `error`) on what the checks cannot
  // work with: no url, an item without linkId or type, a linkId used twice (que-2), an
  // enableWhen without question, operator or answer.
  static std::shared_ptr<const Questionnaire> fromJson(const json::Value& resource, std::string& error);
  static std::shared_ptr<const Questionnaire> fromJsonText(std::string_view text, std::string& error);

  const std::string& id() const { return id_; }
  const std::string& url() const { return url_; }
  const std::string& version() const { return version_; }
  const std::string& title() const { return title_; }
  const std::vector<QuestionnaireItem>& items() const { return items_; }

  // The item with this linkId anywhere in the tree, or nullptr.
  const QuestionnaireItem* find(std::string_view linkId) const;
  // Its parent item, or nullptr for a top-level (or unknown) item.
  const QuestionnaireItem* parentOf(std::string_view linkId) const;
  // Whether `canonical` ("url" or "url|version") names this Questionnaire.
  bool isNamedBy(std::string_view canonical) const;

 private:
  std::string id_, url_, version_, title_;
  std::vector<QuestionnaireItem> items_;
  std::map<std::string, std::pair<const QuestionnaireItem*, const QuestionnaireItem*>, std::less<>> index_;
};

// ---------------------------------------------------------------------------------------
// The rules (codes of CodeSystem questionnaire-rule), in the shape of rules.h.

// Every questionnaire rule, in the order docs/questionnaires.md lists them.
const std::vector<Rule>& questionnaireRuleCatalogue();
// The rule with this code, or nullptr.
const Rule* findQuestionnaireRule(std::string_view code);

struct ResponseCheckOptions {
  Lang lang = Lang::Nb;
  // Canonical URL of the questionnaire-rule CodeSystem (details.coding.system).
  std::string ruleSystem = "https://fhir.sthf.no/helse-og-arbeid/CodeSystem/questionnaire-rule";
  // The FHIRPath of the response node: its type name for a root resource;
  // e.g. "Bundle.entry[2].resource" when it sits inside another resource.
  std::string path;
  // Checks choice answers against answerValueSet; without it they are reported as
  // unchecked (warning answer-option-unchecked).
  const fhir::RegistryTerminology* terminology = nullptr;
};

// Checks `response` (a QuestionnaireResponse node) against `questionnaire`; the response's
// `questionnaire` must name it (with or without |version; a version must be its own).
fhir::Issues validateResponse(const Questionnaire& questionnaire, const fhir::Node& response,
                              const ResponseCheckOptions& options = {});

// ---------------------------------------------------------------------------------------
// Scoring: PHQ-9 and GAD-7.

struct ScoreBand {
  int min, max;
  std::string_view code;  // a code of CodeSystem score-band
};

struct Instrument {
  std::string_view id;                  // the group's linkId: "phq-9", "gad-7"
  std::string_view name;                // "PHQ-9", "GAD-7"
  std::vector<std::string_view> items;  // the scored items' linkIds, in order
  std::string_view totalLinkId;         // the readOnly total item
  int maxTotal;
  std::vector<ScoreBand> bands;
};

// PHQ-9 (bands minimal 0–4, mild 5–9, moderate 10–14, moderately-severe 15–19, severe
// 20–27) and GAD-7 (minimal 0–4, mild 5–9, moderate 10–14, severe 15–21), with the
// package's linkIds.
const std::vector<Instrument>& instruments();
const Instrument* findInstrument(std::string_view id);
// The band code of a total, or "" outside 0..maxTotal.
std::string_view scoreBand(const Instrument& instrument, int total);

inline constexpr std::string_view kScoreBandCodeSystemPath = "/CodeSystem/score-band";

struct InstrumentScore {
  const Instrument* instrument = nullptr;
  bool complete = false;                // every item answered with an option that has a weight
  int total = 0;                        // complete only
  std::string band;                     // score-band code; complete only
  std::vector<std::string> unanswered;  // linkIds without an answer
  std::vector<std::string> unscorable;  // linkIds whose answer matches no weighted option

  // "PHQ-9: 13 (moderate)" or "PHQ-9: incomplete (not answered: phq-9-3, phq-9-7)".
  std::string summary(Lang lang = Lang::En) const;
};

// The score of every instrument whose items `questionnaire` holds (none for
// session-feedback). The answers are the Coding answers of the instrument's items inside
// its group (the first item with the group's linkId); an instrument item elsewhere is
// misplaced and does not count.
std::vector<InstrumentScore> scoreResponse(const Questionnaire& questionnaire, const fhir::Node& response);

// ---------------------------------------------------------------------------------------
// The clinic's recorded answers → QuestionnaireResponse.

// One recorded value. Numbers are kept as text so a decimal is written as recorded.
struct AnswerValue {
  enum class Kind : uint8_t { Integer, Decimal, String, Boolean, Date, Code };
  Kind kind = Kind::String;
  std::string text;  // Integer/Decimal: the number's text; Boolean: true|false; Date: YYYY-MM-DD;
                     // Code: the code of an answerOption or of the item's answerValueSet

  static AnswerValue integer(int64_t v) { return {Kind::Integer, std::to_string(v)}; }
  static AnswerValue decimal(std::string text) { return {Kind::Decimal, std::move(text)}; }
  static AnswerValue string(std::string s) { return {Kind::String, std::move(s)}; }
  static AnswerValue boolean(bool b) { return {Kind::Boolean, b ? "true" : "false"}; }
  static AnswerValue date(Date d) { return {Kind::Date, d.toString()}; }
  static AnswerValue code(std::string c) { return {Kind::Code, std::move(c)}; }
};

// What the clinic recorded for one questionnaire. One entry per question linkId (the
// clinic's forms have no repeating groups, so a linkId is one place in the tree).
// Strings also carry dateTime, time and url answers (their items' types decide).
struct RecordedAnswers {
  std::string questionnaireId;                                           // intake | end-of-treatment | session-feedback
  std::string status = "completed";                                      // QuestionnaireResponse.status
  std::string authored;                                                  // dateTime, e.g. 2026-11-25T18:40:00+01:00
  std::map<std::string, std::vector<AnswerValue>, std::less<>> answers;  // by linkId
};

// References and identity the QuestionnaireResponse carries.
struct ResponseRefs {
  std::string id;              // resource id; empty: none (a create)
  Identifier identifier;       // stable: the receiver updates on it (conditional update)
  std::string serviceRequest;  // basedOn, e.g. "ServiceRequest/123"
  std::string patient;         // subject, e.g. "Patient/456"
  std::string patientDisplay;  // optional
};

// Computes the totals of every instrument of `questionnaire` from `answers` and writes
// them into the total items (phq-9-total, gad-7-total), overwriting what was there; an
// incomplete instrument's total is removed (a total of a partial form would mislead).
std::vector<InstrumentScore> applyTotals(const Questionnaire& questionnaire, RecordedAnswers& answers);

struct ResponseBuild {
  std::string json;  // the QuestionnaireResponse; empty when it could not be built
  std::vector<InstrumentScore> scores;
  // Problems of the recorded answers (expressions like answers['phq-9-1'][0]) and the
  // response's own check against its Questionnaire (FHIRPath into `json`).
  fhir::Issues issues;
  bool ok() const { return !json.empty() && !issues.hasErrors(); }
};

// ---------------------------------------------------------------------------------------
// The clinic's questionnaires, loaded once.

class QuestionnaireCatalogue {
 public:
  struct Options {
    std::string canonicalBase = "https://fhir.sthf.no/helse-og-arbeid";
  };
  // Loads every Questionnaire of `registry` whose URL is <canonicalBase>/Questionnaire/…
  // (the clinic's package); fails when there is none or one cannot be read. `registry`
  // must outlive the catalogue.
  static std::unique_ptr<const QuestionnaireCatalogue> load(const fhir::Registry& registry, Options options,
                                                            std::string& error);

  // By id ("intake") or by canonical ("url" or "url|version"); nullptr when unknown.
  const Questionnaire* byId(std::string_view id) const;
  const Questionnaire* byCanonical(std::string_view canonical) const;
  const std::vector<std::shared_ptr<const Questionnaire>>& all() const { return all_; }
  const Options& options() const { return options_; }
  const fhir::RegistryTerminology& terminology() const { return *terminology_; }

  // Validates a QuestionnaireResponse against the Questionnaire its `questionnaire`
  // names (questionnaire-missing / questionnaire-unknown when there is none).
  // `options.terminology` and `ruleSystem` are filled in from the catalogue.
  fhir::Issues validate(const fhir::Node& response, ResponseCheckOptions options = {}) const;
  // The instruments' scores of a response (empty when its Questionnaire is unknown).
  std::vector<InstrumentScore> score(const fhir::Node& response) const;

  // The QuestionnaireResponse of recorded answers: `questionnaire` = <base>/Questionnaire/
  // <id>, meta.profile hoa-questionnaireresponse, identifier, basedOn, subject, authored,
  // the items in the Questionnaire's order and nesting (groups only when something in
  // them is answered, item texts from the Questionnaire), Coding answers with system,
  // code and display of the answerOption (or of the answerValueSet's CodeSystem), and the
  // totals computed (applyTotals). Answers that cannot be placed are issues and are left
  // out; the built response is then checked with validate() (its issues are added).
  ResponseBuild build(const RecordedAnswers& answers, const ResponseRefs& refs, Lang lang = Lang::Nb) const;

 private:
  explicit QuestionnaireCatalogue(const fhir::Registry& registry) : registry_(registry) {}
  ResponseCheckOptions checkOptions(ResponseCheckOptions o) const;

  const fhir::Registry& registry_;
  Options options_;
  std::unique_ptr<fhir::RegistryTerminology> terminology_;
  std::vector<std::shared_ptr<const Questionnaire>> all_;
};

}  // namespace hoa::clinic
