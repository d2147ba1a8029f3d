// The clinic's questionnaires (referral-contract section 4): a QuestionnaireResponse
// checked against its Questionnaire, PHQ-9 / GAD-7 scoring, and recorded answers built
// into a QuestionnaireResponse that FHIR R4, the clinic's profile and the Questionnaire
// all accept.
#include "mappings/questionnaire.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fhir/format.h"
#include "fhir/json.h"
#include "fhir/validator.h"
#include "mappings/clinic_package.h"
#include "tests/mappings/clinic_support.h"
#include "tests/test_env.h"

namespace hoa::clinic {
namespace {

constexpr const char* kBase = "https://fhir.sthf.no/helse-og-arbeid";
constexpr const char* kRuleSystem = "https://fhir.sthf.no/helse-og-arbeid/CodeSystem/questionnaire-rule";

// The catalogue over the shared clinic registry, loaded once per test binary.
const QuestionnaireCatalogue* catalogue() {
  static const std::unique_ptr<const QuestionnaireCatalogue> c = []() -> std::unique_ptr<const QuestionnaireCatalogue> {
    const fhir::Registry* reg = testing::clinicRegistry();
    if (!reg) return nullptr;
    std::string error;
    auto loaded = QuestionnaireCatalogue::load(*reg, {}, error);
    EXPECT_TRUE(loaded) << error;
    return loaded;
  }();
  return c.get();
}

std::string examplePath(const char* ext) {
  return (defaultMappingsDir() / "package" / "examples" / (std::string("questionnaireresponse-intake.") + ext))
      .string();
}

// Replaces the only occurrence of `from` (fails the test when it is absent or not unique).
std::string replaceOnce(std::string s, const std::string& from, const std::string& to) {
  size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << "not found: " << from;
  if (at == std::string::npos) return s;
  EXPECT_EQ(s.find(from, at + 1), std::string::npos) << "not unique: " << from;
  return s.replace(at, from.size(), to);
}

// Replaces the first occurrence of `from`.
std::string replaceFirst(std::string s, const std::string& from, const std::string& to) {
  size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << "not found: " << from;
  return at == std::string::npos ? s : s.replace(at, from.size(), to);
}

// The end of the JSON object or array that starts at `open` (one past its closing bracket).
size_t endOfValue(const std::string& s, size_t open) {
  int depth = 0;
  bool inString = false;
  for (size_t i = open; i < s.size(); ++i) {
    char c = s[i];
    if (inString) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        inString = false;
    } else if (c == '"') {
      inString = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if ((c == '}' || c == ']') && --depth == 0) {
      return i + 1;
    }
  }
  return std::string::npos;
}

// Removes the item with this linkId from compact JSON, with its separating comma.
std::string removeItem(std::string s, const std::string& linkId) {
  size_t at = s.find("{\"linkId\":\"" + linkId + "\"");
  EXPECT_NE(at, std::string::npos) << linkId;
  if (at == std::string::npos) return s;
  size_t end = endOfValue(s, at);
  if (end < s.size() && s[end] == ',')
    ++end;
  else if (at > 0 && s[at - 1] == ',')
    --at;
  return s.erase(at, end - at);
}

// Removes the "answer" member of the item with this linkId from compact JSON.
std::string removeAnswers(std::string s, const std::string& linkId) {
  size_t item = s.find("{\"linkId\":\"" + linkId + "\"");
  size_t at = s.find(",\"answer\":[", item);
  EXPECT_NE(at, std::string::npos) << linkId;
  if (at == std::string::npos) return s;
  size_t end = endOfValue(s, at + 10);
  return s.erase(at, end - at);
}

class QuestionnaireTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HOA_REQUIRE_CLINIC_REGISTRY(reg, validator);
    reg_ = reg;
    validator_ = validator;
    ASSERT_NE(catalogue(), nullptr);
    cat_ = catalogue();
  }

  // Parses (asserting success) and keeps the document alive for the test.
  const fhir::Node& parse(const std::string& text) {
    docs_.push_back(std::make_unique<fhir::ParseResult>(fhir::parse(*reg_, text)));
    const fhir::ParseResult& p = *docs_.back();
    EXPECT_TRUE(p.ok()) << (p.issues.empty() ? "" : p.issues.items[0].toString()) << "\n" << text;
    if (!p.doc.root()) throw std::runtime_error("unparseable test input");
    return *p.doc.root();
  }

  // The package's example in compact JSON, in the element model's order: the base the
  // negative tests edit.
  std::string example() {
    const fhir::Node& root = parse(testing::readFile(examplePath("json")));
    return fhir::writeJson(root);
  }

  fhir::Issues check(const std::string& json, Lang lang = Lang::En) { return cat_->validate(parse(json), {lang}); }

  // Errors of the core validator (FHIR R4 and the profiles the resource claims); with
  // `warnings`, its warnings too.
  std::vector<std::string> coreIssues(const fhir::Node& root, bool warnings = false) {
    std::vector<std::string> out;
    for (const fhir::Issue& i : validator_->validate(root).items)
      if (i.severity == fhir::Severity::Error || i.severity == fhir::Severity::Fatal ||
          (warnings && i.severity == fhir::Severity::Warning))
        out.push_back(i.toString());
    return out;
  }

  const fhir::Registry* reg_ = nullptr;
  const fhir::Validator* validator_ = nullptr;
  const QuestionnaireCatalogue* cat_ = nullptr;
  std::vector<std::unique_ptr<fhir::ParseResult>> docs_;
};

std::string dump(const fhir::Issues& issues) {
  std::string s;
  for (const fhir::Issue& i : issues.items) s += "  [" + i.detailCode + "] " + i.toString() + "\n";
  return s;
}

// "code @ expression" of every issue, for exact comparisons.
std::vector<std::string> found(const fhir::Issues& issues) {
  std::vector<std::string> out;
  for (const fhir::Issue& i : issues.items) out.push_back(i.detailCode + " @ " + i.expression);
  return out;
}

using Found = std::vector<std::string>;

const fhir::Issue* issueWith(const fhir::Issues& issues, std::string_view code) {
  for (const fhir::Issue& i : issues.items)
    if (i.detailCode == code) return &i;
  return nullptr;
}

const InstrumentScore* scoreOf(const std::vector<InstrumentScore>& scores, std::string_view id) {
  for (const InstrumentScore& s : scores)
    if (s.instrument->id == id) return &s;
  return nullptr;
}

// ---------------------------------------------------------------------------------------
// The package's example

TEST_F(QuestionnaireTest, CatalogueHoldsTheClinicsThreeQuestionnaires) {
  std::set<std::string> ids;
  for (const auto& q : cat_->all()) ids.insert(q->id());
  EXPECT_EQ(ids, (std::set<std::string>{"intake", "end-of-treatment", "session-feedback"}));
  const Questionnaire* intake = cat_->byCanonical(std::string(kBase) + "/Questionnaire/intake|0.1.0");
  ASSERT_NE(intake, nullptr);
  EXPECT_EQ(intake, cat_->byId("intake"));
  EXPECT_EQ(intake, cat_->byCanonical(std::string(kBase) + "/Questionnaire/intake"));
  EXPECT_EQ(cat_->byCanonical(std::string(kBase) + "/Questionnaire/intake|9.9.9"), nullptr);
  // The weights are read from the package (R4 ordinalValue on the answerOption).
  const QuestionnaireItem* item = intake->find("phq-9-4");
  ASSERT_NE(item, nullptr);
  ASSERT_EQ(item->answerOptions.size(), 4u);
  EXPECT_EQ(item->answerOptions[3].value.code, "LA6571-9");
  EXPECT_EQ(item->answerOptions[3].weight.value_or("none"), "3");
  EXPECT_EQ(intake->parentOf("phq-9-4"), intake->find("phq-9"));
}

TEST_F(QuestionnaireTest, PackageExampleValidatesCleanAndScores) {
  const fhir::Node& qr = parse(testing::readFile(examplePath("json")));
  fhir::Issues issues = cat_->validate(qr);
  EXPECT_TRUE(issues.empty()) << dump(issues);
  EXPECT_EQ(coreIssues(qr, true), std::vector<std::string>{});

  std::vector<InstrumentScore> scores = cat_->score(qr);
  ASSERT_EQ(scores.size(), 2u);
  const InstrumentScore* phq = scoreOf(scores, "phq-9");
  const InstrumentScore* gad = scoreOf(scores, "gad-7");
  ASSERT_TRUE(phq && gad);
  EXPECT_TRUE(phq->complete);
  EXPECT_EQ(phq->total, 13);
  EXPECT_EQ(phq->band, "moderate");
  EXPECT_TRUE(gad->complete);
  EXPECT_EQ(gad->total, 10);
  EXPECT_EQ(gad->band, "moderate");
  EXPECT_EQ(phq->summary(), "PHQ-9: 13 (moderate)");
}

TEST_F(QuestionnaireTest, PackageExampleInXmlValidatesCleanAndScoresTheSame) {
  const fhir::Node& qr = parse(testing::readFile(examplePath("xml")));
  fhir::Issues issues = cat_->validate(qr);
  EXPECT_TRUE(issues.empty()) << dump(issues);
  std::vector<InstrumentScore> scores = cat_->score(qr);
  ASSERT_EQ(scores.size(), 2u);
  EXPECT_EQ(scoreOf(scores, "phq-9")->total, 13);
  EXPECT_EQ(scoreOf(scores, "gad-7")->total, 10);
}

TEST_F(QuestionnaireTest, XmlInputReportsTheSameExpressionWithItsLine) {
  std::string xml = testing::readFile(examplePath("xml"));
  xml = replaceOnce(xml, "<valueInteger value=\"50\"/>", "<valueInteger value=\"150\"/>");
  const fhir::Node& root = parse(xml);
  fhir::Issues issues = cat_->validate(root, {Lang::En});
  EXPECT_EQ(found(issues), Found{"answer-out-of-range @ QuestionnaireResponse.item[1].answer[0].value.ofType(integer)"})
      << dump(issues);
  ASSERT_EQ(issues.size(), 1u);
  // The line of <valueInteger value="150"/> in the file.
  size_t at = xml.find("value=\"150\"");
  uint32_t line = 1 + static_cast<uint32_t>(std::count(xml.begin(), xml.begin() + static_cast<long>(at), '\n'));
  EXPECT_EQ(issues.items[0].line, line);
  // The expression is the one the core validator would give the element.
  const fhir::Node* value = root.childrenNamed("item")[1]->child("answer")->child("value");
  EXPECT_EQ(fhir::fhirPathOf(root, value), issues.items[0].expression);
}

// ---------------------------------------------------------------------------------------
// Which Questionnaire

TEST_F(QuestionnaireTest, CanonicalWithOrWithoutVersionNamesTheQuestionnaire) {
  std::string qr = example();
  EXPECT_TRUE(check(qr).empty());
  std::string unversioned = replaceOnce(qr, "/Questionnaire/intake|0.1.0\"", "/Questionnaire/intake\"");
  EXPECT_TRUE(check(unversioned).empty()) << dump(check(unversioned));
}

TEST_F(QuestionnaireTest, UnknownCanonicalIsReported) {
  std::string qr = replaceOnce(example(), "/Questionnaire/intake|0.1.0\"", "/Questionnaire/intake|0.2.0\"");
  fhir::Issues issues = check(qr);
  EXPECT_EQ(found(issues), Found{"questionnaire-unknown @ QuestionnaireResponse.questionnaire"}) << dump(issues);
  qr = replaceOnce(example(), "/Questionnaire/intake|0.1.0\"", "/Questionnaire/exit\"");
  EXPECT_EQ(found(check(qr)), Found{"questionnaire-unknown @ QuestionnaireResponse.questionnaire"});
}

TEST_F(QuestionnaireTest, MissingCanonicalIsReported) {
  std::string qr =
      replaceOnce(example(), "\"questionnaire\":\"" + std::string(kBase) + "/Questionnaire/intake|0.1.0\",", "");
  fhir::Issues issues = check(qr);
  EXPECT_EQ(found(issues), Found{"questionnaire-missing @ QuestionnaireResponse"}) << dump(issues);
}

TEST_F(QuestionnaireTest, CanonicalMustNameTheQuestionnaireCheckedAgainst) {
  const fhir::Node& qr = parse(example());
  ResponseCheckOptions o;
  o.lang = Lang::En;
  fhir::Issues issues = validateResponse(*cat_->byId("end-of-treatment"), qr, o);
  ASSERT_FALSE(issues.empty());
  EXPECT_EQ(found(issues)[0], "questionnaire-mismatch @ QuestionnaireResponse.questionnaire") << dump(issues);
  // The intake's main-goal is not an item of end-of-treatment; its satisfaction is missing.
  EXPECT_NE(std::find(found(issues).begin(), found(issues).end(), "item-unknown @ QuestionnaireResponse.item[7]"),
            found(issues).end())
      << dump(issues);
}

TEST_F(QuestionnaireTest, OtherResourcesAreRefused) {
  const fhir::Node& patient = parse(R"({"resourceType":"Patient","id":"p"})");
  fhir::Issues issues = cat_->validate(patient);
  EXPECT_EQ(found(issues), Found{"not-questionnaire-response @ Patient"});
}

TEST_F(QuestionnaireTest, ExpressionsStartAtTheGivenPathForANestedResponse) {
  std::string qr = replaceOnce(example(), "{\"valueInteger\":13}", "{\"valueInteger\":14}");
  qr = replaceOnce(qr, "{\"valueInteger\":50}", "{\"valueInteger\":150}");
  const fhir::Node& bundle =
      parse(R"({"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:0d6fb9e2-2f3c-4d5e-9a40-1c6f3b2a9e11","resource":)" +
            qr + "}]}");
  const fhir::Node* resource = bundle.child("entry")->child("resource");
  ASSERT_NE(resource, nullptr);
  ResponseCheckOptions o;
  o.lang = Lang::En;
  o.path = "Bundle.entry[0].resource";
  fhir::Issues issues = cat_->validate(*resource, o);
  EXPECT_EQ(found(issues),
            (Found{"answer-out-of-range @ Bundle.entry[0].resource.item[1].answer[0].value.ofType(integer)",
                   "total-mismatch @ Bundle.entry[0].resource.item[5].item[9].answer[0].value.ofType(integer)"}))
      << dump(issues);
  // The same places as the core validator names them.
  EXPECT_EQ(fhir::fhirPathOf(bundle, resource), "Bundle.entry[0].resource");
}

// ---------------------------------------------------------------------------------------
// Issues carry the rule's code, severity, IssueType, message and location

TEST_F(QuestionnaireTest, IssuesCarryCodeSeverityTypeMessageAndLocation) {
  std::string qr = removeAnswers(example(), "main-goal");
  fhir::Issues en = check(qr, Lang::En);
  ASSERT_EQ(found(en), Found{"required-missing @ QuestionnaireResponse.item[7]"}) << dump(en);
  const fhir::Issue& i = en.items[0];
  EXPECT_EQ(i.severity, fhir::Severity::Error);
  EXPECT_EQ(i.code, "required");
  EXPECT_EQ(i.detailSystem, kRuleSystem);
  EXPECT_EQ(i.message, "The required item 'main-goal' is not answered.");
  EXPECT_GT(i.line, 0u);
  fhir::Issues nb = check(qr, Lang::Nb);
  ASSERT_EQ(nb.size(), 1u);
  EXPECT_EQ(nb.items[0].message, "Det obligatoriske spørsmålet «main-goal» er ikke besvart.");
  // Default language is bokmål, as for the referral rules.
  EXPECT_EQ(cat_->validate(parse(qr)).items[0].message, nb.items[0].message);
}

TEST_F(QuestionnaireTest, EveryRuleHasACodeAndBothLanguages) {
  std::set<std::string_view> codes;
  for (const Rule& r : questionnaireRuleCatalogue()) {
    EXPECT_TRUE(codes.insert(r.code).second) << "duplicate code " << r.code;
    EXPECT_FALSE(r.nb.empty()) << r.code;
    EXPECT_FALSE(r.en.empty()) << r.code;
    EXPECT_FALSE(r.issueType.empty()) << r.code;
    EXPECT_EQ(findQuestionnaireRule(r.code), &r);
  }
  EXPECT_EQ(codes.size(), 20u);
  EXPECT_EQ(findQuestionnaireRule("no-such-rule"), nullptr);
}

// When the package owner adds CodeSystem questionnaire-rule, it must list the same codes.
TEST_F(QuestionnaireTest, RuleCodeSystemMatchesTheCatalogueWhenPresent) {
  const json::Value* cs = reg_->resource(kRuleSystem);
  if (!cs) GTEST_SKIP() << "CodeSystem " << kRuleSystem << " is not in the clinic's package yet";
  std::set<std::string> inPackage, inCode;
  if (const json::Value* concepts = cs->find("concept"))
    for (const json::Value* c : *concepts) inPackage.insert(std::string(c->getString("code")));
  for (const Rule& r : questionnaireRuleCatalogue()) inCode.insert(std::string(r.code));
  EXPECT_EQ(inPackage, inCode);
}

// ---------------------------------------------------------------------------------------
// Structure by linkId

TEST_F(QuestionnaireTest, UnknownLinkIdIsReported) {
  std::string qr = replaceOnce(example(), "\"linkId\":\"main-goal\"", "\"linkId\":\"nonsense\"");
  fhir::Issues issues = check(qr);
  EXPECT_EQ(found(issues),
            (Found{"item-unknown @ QuestionnaireResponse.item[7]", "required-missing @ QuestionnaireResponse"}))
      << dump(issues);
  EXPECT_EQ(issues.items[0].message, "The Questionnaire has no item with linkId 'nonsense'.");
}

TEST_F(QuestionnaireTest, LinkIdAtTheWrongPlaceIsReported) {
  // A PHQ-9 item at the top level.
  std::string qr = replaceOnce(example(), "\"linkId\":\"work-ability\"", "\"linkId\":\"phq-9-1\"");
  fhir::Issues issues = check(qr);
  EXPECT_EQ(found(issues),
            (Found{"item-misplaced @ QuestionnaireResponse.item[2]", "required-missing @ QuestionnaireResponse"}))
      << dump(issues);
  EXPECT_EQ(issues.items[0].message,
            "The item 'phq-9-1' does not belong here; in the Questionnaire it is under 'phq-9'.");
  // A top-level item inside a group.
  qr = replaceOnce(example(), "\"linkId\":\"gad-7-7\"", "\"linkId\":\"pain-intensity\"");
  issues = check(qr);
  EXPECT_EQ(found(issues),
            (Found{"item-misplaced @ QuestionnaireResponse.item[6].item[6]",
                   "required-missing @ QuestionnaireResponse.item[6]",
                   "total-incomplete @ QuestionnaireResponse.item[6].item[7].answer[0].value.ofType(integer)"}))
      << dump(issues);
}

TEST_F(QuestionnaireTest, ItemsOutOfOrderAreReported) {
  std::string qr = example();
  qr = replaceOnce(qr, "\"linkId\":\"work-ability\"", "\"linkId\":\"@swap\"");
  qr = replaceOnce(qr, "\"linkId\":\"work-expectation\"", "\"linkId\":\"work-ability\"");
  qr = replaceOnce(qr, "\"linkId\":\"@swap\"", "\"linkId\":\"work-expectation\"");
  fhir::Issues issues = check(qr);
  EXPECT_EQ(found(issues), Found{"item-order @ QuestionnaireResponse.item[3]"}) << dump(issues);
}

TEST_F(QuestionnaireTest, RepeatedQuestionItemIsReported) {
  std::string qr = replaceOnce(example(), "\"linkId\":\"work-expectation\"", "\"linkId\":\"work-ability\"");
  fhir::Issues issues = check(qr);
  EXPECT_EQ(found(issues),
            (Found{"item-repeated @ QuestionnaireResponse.item[3]", "required-missing @ QuestionnaireResponse"}))
      << dump(issues);
}

TEST_F(QuestionnaireTest, AnswersOnAGroupAreReported) {
  std::string qr = replaceOnce(example(), "\"item\":[{\"linkId\":\"phq-9-1\"",
                               "\"answer\":[{\"valueString\":\"x\"}],\"item\":[{\"linkId\":\"phq-9-1\"");
  fhir::Issues issues = check(qr);
  EXPECT_EQ(found(issues), Found{"answer-not-allowed @ QuestionnaireResponse.item[5].answer[0]"}) << dump(issues);
}

// ---------------------------------------------------------------------------------------
// Answers

TEST_F(QuestionnaireTest, WrongAnswerTypeIsReported) {
  std::string qr = replaceOnce(example(), "{\"valueInteger\":4}", "{\"valueString\":\"4\"}");
  fhir::Issues issues = check(qr);
  EXPECT_EQ(found(issues), Found{"answer-type @ QuestionnaireResponse.item[2].answer[0].value.ofType(string)"})
      << dump(issues);
  EXPECT_EQ(issues.items[0].message,
            "The answer to 'work-ability' (type integer) must be valueInteger, not valueString.");
}

TEST_F(QuestionnaireTest, CodeOutsideTheAnswerOptionsIsReported) {
  // phq-9-1's answer, the first LA6570-1 of the response.
  std::string qr = replaceFirst(example(), "\"code\":\"LA6570-1\"", "\"code\":\"LA9999-9\"");
  fhir::Issues issues = check(qr);
  EXPECT_EQ(found(issues),
            (Found{"answer-option-unknown @ QuestionnaireResponse.item[5].item[0].answer[0].value.ofType(Coding)",
                   "total-incomplete @ QuestionnaireResponse.item[5].item[9].answer[0].value.ofType(integer)"}))
      << dump(issues);
  // The same code from another system is not the option either.
  qr = replaceFirst(example(), "\"system\":\"http://loinc.org\",\"code\":\"LA6570-1\"",
                    "\"system\":\"http://example.org/other\",\"code\":\"LA6570-1\"");
  EXPECT_EQ(found(check(qr))[0],
            "answer-option-unknown @ QuestionnaireResponse.item[5].item[0].answer[0].value.ofType(Coding)");
}

TEST_F(QuestionnaireTest, CodeOutsideTheAnswerValueSetIsReported) {
  std::string qr = replaceOnce(example(), "\"code\":\"sick-listed\"", "\"code\":\"retired\"");
  fhir::Issues issues = check(qr);
  // Not sick-listed any more, so the sick-leave percentage is disabled too.
  EXPECT_EQ(found(issues),
            (Found{"answer-option-unknown @ QuestionnaireResponse.item[0].answer[0].value.ofType(Coding)",
                   "answer-disabled @ QuestionnaireResponse.item[1].answer[0]"}))
      << dump(issues);
}

TEST_F(QuestionnaireTest, MoreThanOneAnswerToANonRepeatingItemIsReported) {
  std::string qr = replaceOnce(example(), "{\"valueInteger\":4}", "{\"valueInteger\":4},{\"valueInteger\":5}");
  fhir::Issues issues = check(qr);
  EXPECT_EQ(found(issues), Found{"answer-repeats @ QuestionnaireResponse.item[2].answer[1]"}) << dump(issues);
}

TEST_F(QuestionnaireTest, MinAndMaxValueAreEnforced) {
  std::string qr = replaceOnce(example(), "{\"valueInteger\":50}", "{\"valueInteger\":101}");
  fhir::Issues issues = check(qr);
  EXPECT_EQ(found(issues), Found{"answer-out-of-range @ QuestionnaireResponse.item[1].answer[0].value.ofType(integer)"})
      << dump(issues);
  EXPECT_EQ(issues.items[0].message, "The answer 101 to 'sick-leave-percent' is outside the allowed range (1–100).");
  qr = replaceOnce(example(), "{\"valueInteger\":50}", "{\"valueInteger\":0}");
  EXPECT_EQ(found(check(qr)),
            Found{"answer-out-of-range @ QuestionnaireResponse.item[1].answer[0].value.ofType(integer)"});
  for (const char* edge : {"1", "100"})
    EXPECT_TRUE(
        check(replaceOnce(example(), "{\"valueInteger\":50}", std::string("{\"valueInteger\":") + edge + "}")).empty())
        << edge;
  qr = replaceOnce(example(), "{\"valueInteger\":4}", "{\"valueInteger\":11}");
  EXPECT_EQ(found(check(qr)),
            Found{"answer-out-of-range @ QuestionnaireResponse.item[2].answer[0].value.ofType(integer)"});
}

TEST_F(QuestionnaireTest, ReadOnlyTotalsMayBePresentButMustBeRight) {
  // The example carries both totals and is clean (above); without them it is clean too.
  std::string qr = removeItem(removeItem(example(), "phq-9-total"), "gad-7-total");
  EXPECT_TRUE(check(qr).empty()) << dump(check(qr));
  qr = replaceOnce(example(), "{\"valueInteger\":13}", "{\"valueInteger\":14}");
  fhir::Issues issues = check(qr);
  EXPECT_EQ(found(issues),
            Found{"total-mismatch @ QuestionnaireResponse.item[5].item[9].answer[0].value.ofType(integer)"})
      << dump(issues);
  EXPECT_EQ(issues.items[0].message, "The PHQ-9 total in 'phq-9-total' is 14, but the answers give 13.");
  qr = replaceOnce(example(), "{\"valueInteger\":10}", "{\"valueInteger\":9}");
  EXPECT_EQ(found(check(qr)),
            Found{"total-mismatch @ QuestionnaireResponse.item[6].item[7].answer[0].value.ofType(integer)"});
}

// ---------------------------------------------------------------------------------------
// Required items and enableWhen in the clinic's intake

TEST_F(QuestionnaireTest, RequiredItemsMustBeAnsweredOnceCompleted) {
  std::string qr = removeItem(example(), "pain-intensity");
  fhir::Issues issues = check(qr);
  EXPECT_EQ(found(issues), Found{"required-missing @ QuestionnaireResponse"}) << dump(issues);
  EXPECT_NE(issues.items[0].message.find("pain-intensity"), std::string::npos);
  // A missing item inside a group is reported at the group.
  qr = removeItem(removeItem(example(), "phq-9-3"), "phq-9-total");
  EXPECT_EQ(found(check(qr)), Found{"required-missing @ QuestionnaireResponse.item[5]"});
  // A missing group.
  qr = removeItem(example(), "gad-7");
  EXPECT_EQ(found(check(qr)), Found{"required-missing @ QuestionnaireResponse"});
  // amended counts as completed.
  qr = replaceOnce(removeItem(example(), "pain-intensity"), "\"status\":\"completed\"", "\"status\":\"amended\"");
  EXPECT_EQ(found(check(qr)), Found{"required-missing @ QuestionnaireResponse"});
}

TEST_F(QuestionnaireTest, RequiredItemsMayBeMissingWhileInProgress) {
  std::string qr = removeItem(removeItem(removeItem(example(), "pain-intensity"), "phq-9-3"), "phq-9-total");
  qr = removeAnswers(qr, "main-goal");
  qr = replaceOnce(qr, "\"status\":\"completed\"", "\"status\":\"in-progress\"");
  fhir::Issues issues = check(qr);
  EXPECT_TRUE(issues.empty()) << dump(issues);
}

TEST_F(QuestionnaireTest, DisabledItemMustNotBeAnswered) {
  // Employed: the sick-leave percentage is not asked.
  std::string qr = replaceOnce(example(), "\"code\":\"sick-listed\",\"display\":\"Sykmeldt\"",
                               "\"code\":\"employed\",\"display\":\"I arbeid\"");
  fhir::Issues issues = check(qr);
  EXPECT_EQ(found(issues), Found{"answer-disabled @ QuestionnaireResponse.item[1].answer[0]"}) << dump(issues);
  EXPECT_EQ(issues.items[0].message,
            "'sick-leave-percent' has answers although it is not enabled (enableWhen: work-status = sick-listed).");
}

TEST_F(QuestionnaireTest, DisabledRequiredItemIsNotRequired) {
  std::string qr = replaceOnce(example(), "\"code\":\"sick-listed\",\"display\":\"Sykmeldt\"",
                               "\"code\":\"employed\",\"display\":\"I arbeid\"");
  qr = removeItem(qr, "sick-leave-percent");
  EXPECT_TRUE(check(qr).empty()) << dump(check(qr));
  // Sick-listed without the percentage: now it is required.
  qr = removeItem(example(), "sick-leave-percent");
  EXPECT_EQ(found(check(qr)), Found{"required-missing @ QuestionnaireResponse"});
}

// ---------------------------------------------------------------------------------------
// The item types, enableWhen operators, nesting and lengths, on a Questionnaire made for
// the tests.

constexpr const char* kTestQuestionnaire = R"({
  "resourceType": "Questionnaire", "id": "t", "url": "http://example.org/Questionnaire/t", "version": "1",
  "status": "active",
  "item": [
    {"linkId": "n", "type": "integer"},
    {"linkId": "c", "type": "choice", "answerOption": [
      {"valueCoding": {"system": "http://example.org/cs", "code": "a"}},
      {"valueCoding": {"system": "http://example.org/cs", "code": "b"}}]},
    {"linkId": "e-exists", "type": "string", "required": true,
     "enableWhen": [{"question": "n", "operator": "exists", "answerBoolean": true}]},
    {"linkId": "e-absent", "type": "string", "required": true,
     "enableWhen": [{"question": "n", "operator": "exists", "answerBoolean": false}]},
    {"linkId": "e-eq", "type": "string", "required": true,
     "enableWhen": [{"question": "n", "operator": "=", "answerInteger": 5}]},
    {"linkId": "e-ne", "type": "string", "required": true,
     "enableWhen": [{"question": "n", "operator": "!=", "answerInteger": 5}]},
    {"linkId": "e-gt", "type": "string", "required": true,
     "enableWhen": [{"question": "n", "operator": ">", "answerInteger": 5}]},
    {"linkId": "e-lt", "type": "string", "required": true,
     "enableWhen": [{"question": "n", "operator": "<", "answerInteger": 5}]},
    {"linkId": "e-ge", "type": "string", "required": true,
     "enableWhen": [{"question": "n", "operator": ">=", "answerDecimal": 5.0}]},
    {"linkId": "e-le", "type": "string", "required": true,
     "enableWhen": [{"question": "n", "operator": "<=", "answerInteger": 5}]},
    {"linkId": "e-code", "type": "string", "required": true,
     "enableWhen": [{"question": "c", "operator": "=", "answerCoding": {"system": "http://example.org/cs", "code": "a"}}]},
    {"linkId": "e-any", "type": "string", "required": true, "enableBehavior": "any",
     "enableWhen": [{"question": "n", "operator": "=", "answerInteger": 1},
                    {"question": "c", "operator": "=", "answerCoding": {"system": "http://example.org/cs", "code": "b"}}]},
    {"linkId": "e-all", "type": "string", "required": true, "enableBehavior": "all",
     "enableWhen": [{"question": "n", "operator": ">=", "answerInteger": 1},
                    {"question": "c", "operator": "=", "answerCoding": {"system": "http://example.org/cs", "code": "b"}}]},
    {"linkId": "e-chain", "type": "string", "required": true,
     "enableWhen": [{"question": "e-eq", "operator": "exists", "answerBoolean": true}]},
    {"linkId": "g", "type": "group", "required": true,
     "enableWhen": [{"question": "n", "operator": "=", "answerInteger": 7}],
     "item": [{"linkId": "g-1", "type": "string", "required": true}]}
  ]
})";

constexpr const char* kTypesQuestionnaire = R"({
  "resourceType": "Questionnaire", "id": "types", "url": "http://example.org/Questionnaire/types",
  "status": "active",
  "item": [
    {"linkId": "boolean", "type": "boolean"},
    {"linkId": "decimal", "type": "decimal",
     "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/maxValue", "valueDecimal": 2.5}]},
    {"linkId": "integer", "type": "integer"},
    {"linkId": "date", "type": "date",
     "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/minValue", "valueDate": "2020-01-01"}]},
    {"linkId": "dateTime", "type": "dateTime"},
    {"linkId": "time", "type": "time"},
    {"linkId": "string", "type": "string", "maxLength": 5},
    {"linkId": "text", "type": "text"},
    {"linkId": "url", "type": "url"},
    {"linkId": "choice", "type": "choice", "answerOption": [
      {"valueCoding": {"system": "http://example.org/cs", "code": "a"}}]},
    {"linkId": "open-choice", "type": "open-choice", "answerOption": [
      {"valueCoding": {"system": "http://example.org/cs", "code": "a"}}]},
    {"linkId": "int-choice", "type": "choice", "answerOption": [{"valueInteger": 1}, {"valueInteger": 2}]},
    {"linkId": "quantity", "type": "quantity"},
    {"linkId": "reference", "type": "reference"},
    {"linkId": "repeats", "type": "string", "repeats": true},
    {"linkId": "vs", "type": "choice", "answerValueSet": "http://example.org/ValueSet/not-loaded"},
    {"linkId": "parent", "type": "boolean", "item": [{"linkId": "child", "type": "string"}]}
  ]
})";

class QuestionnaireRulesTest : public QuestionnaireTest {
 protected:
  std::shared_ptr<const Questionnaire> load(const char* text) {
    std::string error;
    auto q = Questionnaire::fromJsonText(text, error);
    EXPECT_TRUE(q) << error;
    return q;
  }
  fhir::Issues checkAgainst(const Questionnaire& q, const std::string& items, const std::string& status = "completed") {
    std::string qr = R"({"resourceType":"QuestionnaireResponse","questionnaire":")" + q.url() + R"(","status":")" +
                     status + "\"" + (items.empty() ? "" : R"(,"item":[)" + items + "]") + "}";
    ResponseCheckOptions o;
    o.lang = Lang::En;
    o.terminology = &cat_->terminology();
    return validateResponse(q, parse(qr), o);
  }
  // The linkIds that required-missing names: the enabled ones among the unanswered.
  std::set<std::string> enabledOf(const Questionnaire& q, const std::string& items) {
    std::set<std::string> out;
    for (const fhir::Issue& i : checkAgainst(q, items).items) {
      EXPECT_EQ(i.detailCode, "required-missing") << i.toString();
      size_t a = i.message.find('\''), b = i.message.find('\'', a + 1);
      out.insert(i.message.substr(a + 1, b - a - 1));
    }
    return out;
  }
};

std::string intItem(const std::string& linkId, int v) {
  return R"({"linkId":")" + linkId + R"(","answer":[{"valueInteger":)" + std::to_string(v) + "}]}";
}
std::string codeItem(const std::string& linkId, const std::string& code) {
  return R"({"linkId":")" + linkId + R"(","answer":[{"valueCoding":{"system":"http://example.org/cs","code":")" + code +
         R"("}}]})";
}
std::string stringItem(const std::string& linkId, const std::string& v = "x") {
  return R"({"linkId":")" + linkId + R"(","answer":[{"valueString":")" + v + R"("}]})";
}

TEST_F(QuestionnaireRulesTest, EnableWhenOperators) {
  auto q = load(kTestQuestionnaire);
  ASSERT_TRUE(q);
  using S = std::set<std::string>;
  // No answer to n: only "exists = false" and "!=" (no answer equals 5) hold.
  EXPECT_EQ(enabledOf(*q, ""), (S{"e-absent", "e-ne"}));
  EXPECT_EQ(enabledOf(*q, intItem("n", 5)), (S{"e-exists", "e-eq", "e-ge", "e-le"}));
  EXPECT_EQ(enabledOf(*q, intItem("n", 6)), (S{"e-exists", "e-ne", "e-gt", "e-ge"}));
  // e-chain needs an answer to e-eq (enabled by n = 5).
  EXPECT_EQ(enabledOf(*q, intItem("n", 5) + "," + stringItem("e-eq")), (S{"e-exists", "e-ge", "e-le", "e-chain"}));
  EXPECT_EQ(enabledOf(*q, intItem("n", 4)), (S{"e-exists", "e-ne", "e-lt", "e-le"}));
  EXPECT_EQ(enabledOf(*q, codeItem("c", "a")), (S{"e-absent", "e-ne", "e-code"}));
  // any: n = 1 or c = b; all: n >= 1 and c = b.
  EXPECT_EQ(enabledOf(*q, intItem("n", 1)), (S{"e-exists", "e-ne", "e-lt", "e-le", "e-any"}));
  EXPECT_EQ(enabledOf(*q, codeItem("c", "b")), (S{"e-absent", "e-ne", "e-any"}));
  EXPECT_EQ(enabledOf(*q, intItem("n", 4) + "," + codeItem("c", "b")),
            (S{"e-exists", "e-ne", "e-lt", "e-le", "e-any", "e-all"}));
  // An enabled required group.
  EXPECT_EQ(enabledOf(*q, intItem("n", 7)), (S{"e-exists", "e-ne", "e-gt", "e-ge", "g"}));
}

TEST_F(QuestionnaireRulesTest, AnswersOfADisabledItemDoNotEnableOthers) {
  auto q = load(kTestQuestionnaire);
  ASSERT_TRUE(q);
  // n = 6: e-eq is disabled, so its answer counts as absent and e-chain is disabled too.
  fhir::Issues issues =
      checkAgainst(*q, intItem("n", 6) + "," + stringItem("e-eq") + "," + stringItem("e-chain"), "in-progress");
  EXPECT_EQ(found(issues), (Found{"answer-disabled @ QuestionnaireResponse.item[1].answer[0]",
                                  "answer-disabled @ QuestionnaireResponse.item[2].answer[0]"}))
      << dump(issues);
  // A disabled group's answers are reported once, at the group; its required child is not required.
  issues = checkAgainst(*q, intItem("n", 6) + R"(,{"linkId":"g","item":[)" + stringItem("g-1") + "]}", "in-progress");
  EXPECT_EQ(found(issues), Found{"answer-disabled @ QuestionnaireResponse.item[1]"}) << dump(issues);
  issues = checkAgainst(*q, intItem("n", 7) + R"(,{"linkId":"g","item":[{"linkId":"g-1"}]})", "in-progress");
  EXPECT_TRUE(issues.empty()) << dump(issues);
  issues = checkAgainst(*q, intItem("n", 7) + R"(,{"linkId":"g","item":[{"linkId":"g-1"}]})");
  EXPECT_NE(
      std::find(found(issues).begin(), found(issues).end(), "required-missing @ QuestionnaireResponse.item[1].item[0]"),
      found(issues).end())
      << dump(issues);
}

TEST_F(QuestionnaireRulesTest, AnswerTypesFollowTheItemTypes) {
  auto q = load(kTypesQuestionnaire);
  ASSERT_TRUE(q);
  struct Case {
    const char* linkId;
    const char* good;  // answer JSON members
    const char* bad;
    const char* badType;
  };
  const Case cases[] = {
      {"boolean", R"("valueBoolean":true)", R"("valueString":"true")", "string"},
      {"decimal", R"("valueDecimal":1.5)", R"("valueInteger":1)", "integer"},
      {"integer", R"("valueInteger":3)", R"("valueDecimal":3.0)", "decimal"},
      {"date", R"("valueDate":"2026-11-25")", R"("valueDateTime":"2026-11-25T10:00:00Z")", "dateTime"},
      {"dateTime", R"("valueDateTime":"2026-11-25T10:00:00Z")", R"("valueDate":"2026-11-25")", "date"},
      {"time", R"("valueTime":"10:00:00")", R"("valueString":"10:00")", "string"},
      {"string", R"("valueString":"abc")", R"("valueUri":"urn:x")", "uri"},
      {"text", R"("valueString":"a longer text")", R"("valueBoolean":false)", "boolean"},
      {"url", R"("valueUri":"https://example.org")", R"("valueString":"https://example.org")", "string"},
      {"choice", R"("valueCoding":{"system":"http://example.org/cs","code":"a"})", R"("valueString":"a")", "string"},
      {"open-choice", R"("valueString":"something else")", R"("valueInteger":1)", "integer"},
      {"int-choice", R"("valueInteger":2)", R"("valueCoding":{"code":"2"})", "Coding"},
      {"quantity", R"("valueQuantity":{"value":70,"unit":"kg"})", R"("valueDecimal":70)", "decimal"},
      {"reference", R"("valueReference":{"reference":"Patient/p"})", R"("valueString":"Patient/p")", "string"},
  };
  for (const Case& c : cases) {
    std::string good = std::string(R"({"linkId":")") + c.linkId + R"(","answer":[{)" + c.good + "}]}";
    fhir::Issues issues = checkAgainst(*q, good, "in-progress");
    EXPECT_TRUE(issues.empty()) << c.linkId << "\n" << dump(issues);
    std::string bad = std::string(R"({"linkId":")") + c.linkId + R"(","answer":[{)" + c.bad + "}]}";
    issues = checkAgainst(*q, bad, "in-progress");
    EXPECT_EQ(found(issues), Found{std::string("answer-type @ QuestionnaireResponse.item[0].answer[0].value.ofType(") +
                                   c.badType + ")"})
        << c.linkId << "\n"
        << dump(issues);
  }
}

TEST_F(QuestionnaireRulesTest, OptionsLengthsRangesAndRepeats) {
  auto q = load(kTypesQuestionnaire);
  ASSERT_TRUE(q);
  // open-choice: a Coding must still be one of the options.
  fhir::Issues issues = checkAgainst(*q, codeItem("open-choice", "z"), "in-progress");
  EXPECT_EQ(found(issues),
            Found{"answer-option-unknown @ QuestionnaireResponse.item[0].answer[0].value.ofType(Coding)"});
  EXPECT_TRUE(checkAgainst(*q, codeItem("open-choice", "a"), "in-progress").empty());
  // Non-Coding options.
  issues = checkAgainst(*q, intItem("int-choice", 3), "in-progress");
  EXPECT_EQ(found(issues),
            Found{"answer-option-unknown @ QuestionnaireResponse.item[0].answer[0].value.ofType(integer)"});
  // maxLength counts characters, not bytes.
  EXPECT_TRUE(checkAgainst(*q, stringItem("string", "ærøåé"), "in-progress").empty());
  issues = checkAgainst(*q, stringItem("string", "abcdef"), "in-progress");
  EXPECT_EQ(found(issues), Found{"answer-too-long @ QuestionnaireResponse.item[0].answer[0].value.ofType(string)"});
  // Decimal and date limits.
  issues = checkAgainst(*q, R"({"linkId":"decimal","answer":[{"valueDecimal":2.51}]})", "in-progress");
  EXPECT_EQ(found(issues),
            Found{"answer-out-of-range @ QuestionnaireResponse.item[0].answer[0].value.ofType(decimal)"});
  EXPECT_TRUE(checkAgainst(*q, R"({"linkId":"decimal","answer":[{"valueDecimal":2.50}]})", "in-progress").empty());
  issues = checkAgainst(*q, R"({"linkId":"date","answer":[{"valueDate":"2019-12-31"}]})", "in-progress");
  EXPECT_EQ(found(issues), Found{"answer-out-of-range @ QuestionnaireResponse.item[0].answer[0].value.ofType(date)"});
  // repeats allows several answers in one item, but never the same item twice.
  EXPECT_TRUE(
      checkAgainst(*q, R"({"linkId":"repeats","answer":[{"valueString":"a"},{"valueString":"b"}]})", "in-progress")
          .empty());
  issues = checkAgainst(*q, stringItem("repeats") + "," + stringItem("repeats"), "in-progress");
  EXPECT_EQ(found(issues), Found{"item-repeated @ QuestionnaireResponse.item[1]"});
  // A value set that cannot be expanded: the answer cannot be checked (a warning).
  issues = checkAgainst(*q, codeItem("vs", "a"), "in-progress");
  EXPECT_EQ(found(issues),
            Found{"answer-option-unchecked @ QuestionnaireResponse.item[0].answer[0].value.ofType(Coding)"});
  EXPECT_EQ(issues.items[0].severity, fhir::Severity::Warning);
}

TEST_F(QuestionnaireRulesTest, ItemsUnderAQuestionGoInItsAnswer) {
  auto q = load(kTypesQuestionnaire);
  ASSERT_TRUE(q);
  EXPECT_TRUE(
      checkAgainst(*q, R"({"linkId":"parent","answer":[{"valueBoolean":true,"item":[)" + stringItem("child") + "]}]}",
                   "in-progress")
          .empty());
  fhir::Issues issues =
      checkAgainst(*q, R"({"linkId":"parent","answer":[{"valueBoolean":true}],"item":[)" + stringItem("child") + "]}",
                   "in-progress");
  EXPECT_EQ(found(issues), Found{"item-nesting @ QuestionnaireResponse.item[0].item[0]"}) << dump(issues);
}

TEST_F(QuestionnaireRulesTest, QuestionnairesThatCannotBeCheckedAreRefused) {
  std::string error;
  EXPECT_FALSE(Questionnaire::fromJsonText(
      R"({"resourceType":"Questionnaire","url":"http://x/Q","item":[{"linkId":"a","type":"string"},
          {"linkId":"a","type":"string"}]})",
      error));
  EXPECT_NE(error.find("'a' is used more than once"), std::string::npos) << error;
  EXPECT_FALSE(Questionnaire::fromJsonText(R"({"resourceType":"Questionnaire","item":[]})", error));
  EXPECT_FALSE(Questionnaire::fromJsonText(
      R"({"resourceType":"Questionnaire","url":"http://x/Q","item":[{"linkId":"a","type":"string",
          "enableWhen":[{"question":"b","operator":"~","answerBoolean":true}]}]})",
      error));
  EXPECT_NE(error.find("operator"), std::string::npos) << error;
}

// ---------------------------------------------------------------------------------------
// Scoring

// Answers to an instrument's items whose weights add up to `total` (3s first).
void answerInstrument(const Instrument& ins, int total, RecordedAnswers& a) {
  static const char* codes[] = {"LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"};
  for (std::string_view linkId : ins.items) {
    int w = std::min(3, total);
    total -= w;
    a.answers[std::string(linkId)] = {AnswerValue::code(codes[w])};
  }
  ASSERT_EQ(total, 0) << "more than the instrument's maximum";
}

TEST(QuestionnaireScoring, BandsFollowTheContract) {
  const Instrument* phq = findInstrument("phq-9");
  const Instrument* gad = findInstrument("gad-7");
  ASSERT_TRUE(phq && gad);
  const std::pair<int, const char*> phqEdges[] = {{0, "minimal"},
                                                  {4, "minimal"},
                                                  {5, "mild"},
                                                  {9, "mild"},
                                                  {10, "moderate"},
                                                  {14, "moderate"},
                                                  {15, "moderately-severe"},
                                                  {19, "moderately-severe"},
                                                  {20, "severe"},
                                                  {27, "severe"}};
  for (const auto& [total, band] : phqEdges) EXPECT_EQ(scoreBand(*phq, total), band) << total;
  const std::pair<int, const char*> gadEdges[] = {{0, "minimal"},   {4, "minimal"},   {5, "mild"},    {9, "mild"},
                                                  {10, "moderate"}, {14, "moderate"}, {15, "severe"}, {21, "severe"}};
  for (const auto& [total, band] : gadEdges) EXPECT_EQ(scoreBand(*gad, total), band) << total;
  for (int outside : {-1, 28}) EXPECT_EQ(scoreBand(*phq, outside), "") << outside;
  EXPECT_EQ(scoreBand(*gad, 22), "");
  // Every total has exactly one band.
  for (const Instrument* ins : {phq, gad})
    for (int t = 0; t <= ins->maxTotal; ++t) EXPECT_NE(scoreBand(*ins, t), "") << ins->name << " " << t;
}

TEST_F(QuestionnaireTest, ScoresEveryBandEdgeFromTheAnswersWeights) {
  const Questionnaire* intake = cat_->byId("intake");
  for (const Instrument& ins : instruments()) {
    for (const ScoreBand& band : ins.bands) {
      for (int total : {band.min, band.max}) {
        RecordedAnswers a;
        a.questionnaireId = "intake";
        answerInstrument(ins, total, a);
        std::vector<InstrumentScore> scores = applyTotals(*intake, a);
        const InstrumentScore* s = scoreOf(scores, ins.id);
        ASSERT_NE(s, nullptr);
        EXPECT_TRUE(s->complete) << ins.name << " " << total;
        EXPECT_EQ(s->total, total) << ins.name;
        EXPECT_EQ(s->band, band.code) << ins.name << " " << total;
        ASSERT_EQ(a.answers[std::string(ins.totalLinkId)].size(), 1u);
        EXPECT_EQ(a.answers[std::string(ins.totalLinkId)][0].text, std::to_string(total));
        // The same through a built and parsed response.
        a.status = "in-progress";
        ResponseBuild b = cat_->build(a, {}, Lang::En);
        ASSERT_FALSE(b.json.empty()) << dump(b.issues);
        std::vector<InstrumentScore> built = cat_->score(parse(b.json));
        const InstrumentScore* fromQr = scoreOf(built, ins.id);
        ASSERT_NE(fromQr, nullptr);
        EXPECT_EQ(fromQr->total, total);
        EXPECT_EQ(fromQr->band, band.code);
      }
    }
  }
}

TEST_F(QuestionnaireTest, IncompleteInstrumentsHaveNoScore) {
  std::string qr = removeItem(removeItem(example(), "phq-9-3"), "phq-9-7");
  qr = replaceOnce(qr, "\"status\":\"completed\"", "\"status\":\"in-progress\"");
  const fhir::Node& root = parse(qr);
  std::vector<InstrumentScore> scores = cat_->score(root);
  const InstrumentScore* phq = scoreOf(scores, "phq-9");
  ASSERT_NE(phq, nullptr);
  EXPECT_FALSE(phq->complete);
  EXPECT_EQ(phq->band, "");
  EXPECT_EQ(phq->unanswered, (std::vector<std::string>{"phq-9-3", "phq-9-7"}));
  EXPECT_EQ(phq->summary(), "PHQ-9: incomplete (not answered: phq-9-3, phq-9-7)");
  EXPECT_EQ(phq->summary(Lang::Nb), "PHQ-9: ufullstendig (ikke besvart: phq-9-3, phq-9-7)");
  EXPECT_TRUE(scoreOf(scores, "gad-7")->complete);
  // The example's PHQ-9 total is still there: a warning, not a score.
  fhir::Issues issues = cat_->validate(root, {Lang::En});
  EXPECT_EQ(found(issues),
            Found{"total-incomplete @ QuestionnaireResponse.item[5].item[7].answer[0].value.ofType(integer)"})
      << dump(issues);
  EXPECT_EQ(issues.items[0].severity, fhir::Severity::Warning);

  // A code without a weight makes the instrument incomplete too.
  qr = replaceFirst(example(), "\"code\":\"LA6570-1\"", "\"code\":\"LA9999-9\"");
  scores = cat_->score(parse(qr));
  phq = scoreOf(scores, "phq-9");
  EXPECT_FALSE(phq->complete);
  EXPECT_EQ(phq->unscorable, std::vector<std::string>{"phq-9-1"});
  // session-feedback has no instruments.
  RecordedAnswers fb;
  EXPECT_TRUE(applyTotals(*cat_->byId("session-feedback"), fb).empty());
}

TEST_F(QuestionnaireTest, WeightsComeFromTheQuestionnaireNotTheResponse) {
  // phq-9-8 answers "Not at all" (0) but claims a weight of 3 on its Coding.
  std::string qr = replaceFirst(example(), "{\"system\":\"http://loinc.org\",\"code\":\"LA6568-5\"",
                                "{\"extension\":[{\"url\":\"http://hl7.org/fhir/StructureDefinition/ordinalValue\","
                                "\"valueDecimal\":3}],\"system\":\"http://loinc.org\",\"code\":\"LA6568-5\"");
  const fhir::Node& root = parse(qr);
  std::vector<InstrumentScore> scores = cat_->score(root);
  EXPECT_EQ(scoreOf(scores, "phq-9")->total, 13);
  EXPECT_TRUE(cat_->validate(root).empty()) << dump(cat_->validate(root));
}

TEST_F(QuestionnaireTest, ApplyTotalsOverwritesAndRemovesTotals) {
  const Questionnaire* intake = cat_->byId("intake");
  RecordedAnswers a;
  answerInstrument(*findInstrument("phq-9"), 13, a);
  a.answers["phq-9-total"] = {AnswerValue::integer(99)};
  a.answers["gad-7-total"] = {AnswerValue::integer(5)};  // no GAD-7 answers at all
  std::vector<InstrumentScore> scores = applyTotals(*intake, a);
  ASSERT_EQ(scores.size(), 2u);
  ASSERT_EQ(a.answers["phq-9-total"].size(), 1u);
  EXPECT_EQ(a.answers["phq-9-total"][0].text, "13");
  EXPECT_EQ(a.answers.count("gad-7-total"), 0u);
  EXPECT_FALSE(scoreOf(scores, "gad-7")->complete);
  EXPECT_EQ(scoreOf(scores, "gad-7")->unanswered.size(), 7u);
}

// ---------------------------------------------------------------------------------------
// Recorded answers → QuestionnaireResponse

RecordedAnswers intakeAnswers() {
  RecordedAnswers a;
  a.questionnaireId = "intake";
  a.status = "completed";
  a.authored = "2026-11-25T18:40:00+01:00";
  auto& m = a.answers;
  m["work-status"] = {AnswerValue::code("sick-listed")};
  m["sick-leave-percent"] = {AnswerValue::integer(50)};
  m["work-ability"] = {AnswerValue::integer(4)};
  m["work-expectation"] = {AnswerValue::integer(6)};
  m["pain-intensity"] = {AnswerValue::integer(6)};
  const char* phq[] = {"LA6570-1", "LA6570-1", "LA6570-1", "LA6571-9", "LA6569-3",
                       "LA6569-3", "LA6570-1", "LA6568-5", "LA6568-5"};
  for (int i = 0; i < 9; ++i) m["phq-9-" + std::to_string(i + 1)] = {AnswerValue::code(phq[i])};
  const char* gad[] = {"LA6570-1", "LA6569-3", "LA6570-1", "LA6570-1", "LA6569-3", "LA6569-3", "LA6569-3"};
  for (int i = 0; i < 7; ++i) m["gad-7-" + std::to_string(i + 1)] = {AnswerValue::code(gad[i])};
  m["main-goal"] = {AnswerValue::string(
      "Komme tilbake i full stilling og klare å håndtere ryggsmertene og nedstemtheten i hverdagen.")};
  return a;
}

ResponseRefs refs() {
  ResponseRefs r;
  r.id = "qr-1";
  r.identifier = {"https://fhir.sthf.no/helse-og-arbeid/NamingSystem/questionnaire-response", "QR-2026-000017"};
  r.serviceRequest = "ServiceRequest/hoa-ref-0001";
  r.patient = "Patient/hoa-pat-0001";
  r.patientDisplay = "Ingrid Marie Prøvesen";
  return r;
}

// The JSON of the element model from "\"item\":[" to the end: the item tree, in the
// model's order, for comparing two responses.
std::string itemTree(const std::string& json) {
  size_t at = json.find(",\"item\":[");
  return at == std::string::npos ? "" : json.substr(at);
}

TEST_F(QuestionnaireTest, BuiltIntakeGivesTheExamplesItemsExactly) {
  ResponseBuild b = cat_->build(intakeAnswers(), refs(), Lang::En);
  ASSERT_TRUE(b.ok()) << dump(b.issues) << b.json;
  EXPECT_TRUE(b.issues.empty()) << dump(b.issues);
  const fhir::Node& built = parse(b.json);
  EXPECT_EQ(itemTree(fhir::writeJson(built)), itemTree(example()));
  EXPECT_EQ(scoreOf(b.scores, "phq-9")->total, 13);
  EXPECT_EQ(scoreOf(b.scores, "gad-7")->band, "moderate");
  // The narrative says what the example's says.
  EXPECT_NE(b.json.find("<p><b>Spørreskjema før oppstart</b>, besvart 25.11.2026 av Ingrid Marie Prøvesen.</p>"
                        "<p>PHQ-9: 13 (moderat). GAD-7: 10 (moderat).</p>"),
            std::string::npos)
      << b.json;
}

TEST_F(QuestionnaireTest, BuiltResponsesValidateCleanForAllThreeQuestionnaires) {
  RecordedAnswers intake = intakeAnswers();
  RecordedAnswers end = intakeAnswers();
  end.questionnaireId = "end-of-treatment";
  end.answers.erase("main-goal");
  end.answers["goal-attainment"] = {AnswerValue::integer(7)};
  end.answers["satisfaction"] = {AnswerValue::integer(9)};
  end.answers["work-status"] = {AnswerValue::code("employed")};
  end.answers.erase("sick-leave-percent");
  RecordedAnswers feedback;
  feedback.questionnaireId = "session-feedback";
  feedback.authored = "2026-12-03T14:00:00+01:00";
  int v = 3;
  for (const char* l : {"wellbeing-individual", "wellbeing-relations", "wellbeing-social", "wellbeing-overall",
                        "alliance-heard", "alliance-goals", "alliance-approach", "alliance-overall"})
    feedback.answers[l] = {AnswerValue::integer(v++)};

  for (const RecordedAnswers* a : {&intake, &end, &feedback}) {
    SCOPED_TRACE(a->questionnaireId);
    ResponseBuild b = cat_->build(*a, refs(), Lang::En);
    ASSERT_TRUE(b.ok()) << dump(b.issues) << b.json;
    EXPECT_TRUE(b.issues.empty()) << dump(b.issues);
    const fhir::Node& root = parse(b.json);
    EXPECT_EQ(coreIssues(root, true), std::vector<std::string>{}) << b.json;
    fhir::Issues again = cat_->validate(root);
    EXPECT_TRUE(again.empty()) << dump(again);
    // What the contract asks the response to carry.
    json::Error err;
    json::Document doc = json::Document::parse(b.json, err);
    ASSERT_TRUE(doc.root());
    const json::Value& r = *doc.root();
    EXPECT_EQ(r.getString("questionnaire"), std::string(kBase) + "/Questionnaire/" + a->questionnaireId);
    EXPECT_EQ(r.find("basedOn")->items[0]->getString("reference"), "ServiceRequest/hoa-ref-0001");
    EXPECT_EQ(r.find("subject")->getString("reference"), "Patient/hoa-pat-0001");
    EXPECT_EQ(r.find("identifier")->getString("value"), "QR-2026-000017");
    EXPECT_EQ(r.find("meta")->find("profile")->items[0]->text,
              std::string(kBase) + "/StructureDefinition/hoa-questionnaireresponse");
    EXPECT_EQ(r.getString("status"), "completed");
  }
  // Groups keep the Questionnaire's nesting and order.
  ResponseBuild fb = cat_->build(feedback, refs());
  EXPECT_NE(fb.json.find(R"({"linkId":"wellbeing","text":)"), std::string::npos);
  EXPECT_LT(fb.json.find("\"wellbeing-overall\""), fb.json.find("\"alliance\""));
  // end-of-treatment: the totals are computed, the work status Coding comes from its CodeSystem.
  ResponseBuild eot = cat_->build(end, refs());
  EXPECT_NE(eot.json.find(R"("linkId":"phq-9-total")"), std::string::npos);
  EXPECT_NE(
      eot.json.find(
          R"({"system":"https://fhir.sthf.no/helse-og-arbeid/CodeSystem/work-attachment","code":"employed","display":"I arbeid"})"),
      std::string::npos)
      << eot.json;
}

TEST_F(QuestionnaireTest, BuildingAPartialResponseLeavesTotalsOut) {
  RecordedAnswers a = intakeAnswers();
  a.status = "in-progress";
  a.answers.erase("phq-9-5");
  a.answers.erase("main-goal");
  a.answers["phq-9-total"] = {AnswerValue::integer(12)};  // stale: overwritten (removed)
  ResponseBuild b = cat_->build(a, refs());
  ASSERT_TRUE(b.ok()) << dump(b.issues);
  EXPECT_TRUE(b.issues.empty()) << dump(b.issues);
  EXPECT_EQ(b.json.find("phq-9-total"), std::string::npos);
  EXPECT_NE(b.json.find("gad-7-total"), std::string::npos);
  EXPECT_FALSE(scoreOf(b.scores, "phq-9")->complete);
  EXPECT_EQ(coreIssues(parse(b.json), true), std::vector<std::string>{});
  // Completed, the same answers are refused: the built response is checked.
  a.status = "completed";
  b = cat_->build(a, refs(), Lang::En);
  EXPECT_FALSE(b.ok());
  EXPECT_EQ(found(b.issues),
            (Found{"required-missing @ QuestionnaireResponse.item[5]", "required-missing @ QuestionnaireResponse"}))
      << dump(b.issues);
}

TEST_F(QuestionnaireTest, BuildReportsAnswersThatCannotBePlaced) {
  RecordedAnswers a = intakeAnswers();
  a.answers["nonsense"] = {AnswerValue::integer(1)};
  a.answers["phq-9-1"] = {AnswerValue::code("LA9999-9")};
  a.answers["work-ability"] = {AnswerValue::string("four")};
  a.answers["pain-intensity"] = {AnswerValue::integer(3), AnswerValue::integer(4)};
  a.answers["gad-7"] = {AnswerValue::integer(1)};
  a.answers["work-status"] = {AnswerValue::code("retired")};
  ResponseBuild b = cat_->build(a, refs(), Lang::En);
  EXPECT_FALSE(b.ok());
  Found f = found(b.issues);
  for (const char* want :
       {"item-unknown @ answers['nonsense']", "answer-option-unknown @ answers['phq-9-1'][0]",
        "answer-type @ answers['work-ability'][0]", "answer-repeats @ answers['pain-intensity'][1]",
        "answer-not-allowed @ answers['gad-7'][0]", "answer-option-unknown @ answers['work-status'][0]"})
    EXPECT_NE(std::find(f.begin(), f.end(), want), f.end()) << want << "\n" << dump(b.issues);
  const fhir::Issue* type = issueWith(b.issues, "answer-type");
  ASSERT_NE(type, nullptr);
  EXPECT_EQ(type->message, "The answer to 'work-ability' (type integer) must be valueInteger, not string 'four'.");
  // The rest is still built and checked: the missing work status is reported in the response.
  EXPECT_NE(std::find(f.begin(), f.end(), "required-missing @ QuestionnaireResponse"), f.end()) << dump(b.issues);

  RecordedAnswers unknown;
  unknown.questionnaireId = "exit-interview";
  b = cat_->build(unknown, refs(), Lang::En);
  EXPECT_TRUE(b.json.empty());
  EXPECT_EQ(found(b.issues), Found{"questionnaire-unknown @ questionnaireId"});
}

TEST_F(QuestionnaireTest, BuildReportsAnswersToDisabledItems) {
  RecordedAnswers a = intakeAnswers();
  a.answers["work-status"] = {AnswerValue::code("employed")};
  ResponseBuild b = cat_->build(a, refs(), Lang::En);
  EXPECT_FALSE(b.ok());
  EXPECT_EQ(found(b.issues), Found{"answer-disabled @ QuestionnaireResponse.item[1].answer[0]"}) << dump(b.issues);
}

// ---------------------------------------------------------------------------------------
// Thread-safety: one catalogue, many threads.

TEST_F(QuestionnaireTest, CatalogueIsSharedBetweenThreads) {
  std::string qr = replaceOnce(example(), "{\"valueInteger\":50}", "{\"valueInteger\":150}");
  const fhir::Node& root = parse(qr);
  std::vector<std::thread> threads;
  std::vector<size_t> counts(4);
  for (size_t t = 0; t < counts.size(); ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) counts[t] += cat_->validate(root).size() + cat_->score(root).size();
    });
  for (std::thread& t : threads) t.join();
  for (size_t c : counts) EXPECT_EQ(c, 20u * 3u);
}

}  // namespace
}  // namespace hoa::clinic
