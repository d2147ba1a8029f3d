// The status Task the referrer sees, and the clinic's state machine (referral-contract
// section 3).
#include "mappings/task.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "fhir/format.h"
#include "fhir/json.h"
#include "mappings/clinic_package.h"
#include "mappings/intake.h"
#include "tests/mappings/clinic_support.h"
#include "tests/test_env.h"

namespace hoa::clinic {
namespace {

const std::vector<std::string> kAllStatuses = {"received",    "under-assessment", "accepted",  "rejected", "forwarded",
                                               "in-progress", "on-hold",          "completed", "cancelled"};

class TaskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HOA_REQUIRE_CLINIC_REGISTRY(reg, validator);
    reg_ = reg;
    validator_ = validator;
    std::string error;
    mapping_ = TaskMapping::loadFile(*reg_, (defaultMappingsDir() / "task.map.json").string(), error);
    ASSERT_TRUE(mapping_) << error;
    // The referral of the package's REST-create example, through the real intake.
    auto intake = ReferralIntake::create(*reg_, *validator_, (defaultMappingsDir() / "referral.map.json").string(),
                                         IntakeConfig{"900100", true}, error);
    ASSERT_TRUE(intake) << error;
    fhir::ParseResult parsed = fhir::parse(
        *reg_, testing::readFile(defaultMappingsDir() / "package" / "examples" / "referral-rest-create.json"));
    ASSERT_TRUE(parsed.ok());
    IntakeResult r = intake->process(*parsed.doc.root(), {"ref-1", "2026-11-20T09:15:00Z", Lang::En});
    ASSERT_TRUE(r.accepted()) << r.issues.toOperationOutcomeJson(true);
    referral_ = r.referral;
    refs_ = TaskRefs{"task-1", "ServiceRequest/sr-1", "Patient/pat-1", "PractitionerRole/role-1", "900100"};
  }

  // Builds the Task for `state` and validates it against FHIR R4 and hoa-task.
  std::string checkedTask(const ReferralState& state) {
    std::string json = mapping_->buildTask(referral_, state, refs_, 3);
    fhir::ParseResult parsed = fhir::parse(*reg_, json);
    EXPECT_TRUE(parsed.ok()) << (parsed.issues.empty() ? "" : parsed.issues.items[0].toString()) << "\n" << json;
    if (!parsed.ok()) return json;
    fhir::Issues issues = validator_->validate(*parsed.doc.root());
    for (const fhir::Issue& i : issues.items)
      EXPECT_NE(i.severity, fhir::Severity::Error) << state.status << ": " << i.toString() << "\n" << json;
    return json;
  }

  const fhir::Registry* reg_ = nullptr;
  const fhir::Validator* validator_ = nullptr;
  std::shared_ptr<const TaskMapping> mapping_;
  Referral referral_;
  TaskRefs refs_;
};

// The value at a dotted path of a JSON document ("businessStatus.coding.0.code").
std::string at(const std::string& json, const std::string& path) {
  json::Error err;
  json::Document doc = json::Document::parse(json, err);
  const json::Value* v = doc.root();
  size_t start = 0;
  while (v && start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string seg = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (v->isArray()) {
      size_t i = std::stoul(seg);
      v = i < v->size ? v->items[i] : nullptr;
    } else {
      v = v->find(seg);
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (!v) return "<absent>";
  if (v->type == json::Type::Bool) return v->boolean ? "true" : "false";
  return std::string(v->text);
}

TEST_F(TaskTest, EveryStatusGivesAValidTaskWithTheContractsTaskStatus) {
  const std::pair<const char*, const char*> table[] = {
      {"received", "received"},   {"under-assessment", "received"}, {"accepted", "accepted"},
      {"rejected", "rejected"},   {"forwarded", "rejected"},        {"in-progress", "in-progress"},
      {"on-hold", "on-hold"},     {"completed", "completed"},       {"cancelled", "cancelled"}};
  for (const auto& [business, taskStatus] : table) {
    ReferralState s;
    s.status = business;
    s.lastModified = "2026-11-27T13:02:00Z";
    if (s.status == "accepted") s.careStartDeadline = Date::parse("2027-02-15");
    if (s.status == "rejected") s.reasonCode = "outside-target-group";
    if (s.status == "forwarded") s.reasonCode = "forwarded-dps";
    if (s.status == "in-progress") s.currentOffering = "coping-group";
    if (s.status == "completed") s.outputs = {"QuestionnaireResponse/qr-9"};
    std::string task = checkedTask(s);
    EXPECT_EQ(at(task, "status"), taskStatus) << business;
    EXPECT_EQ(at(task, "businessStatus.coding.0.code"), business);
    EXPECT_EQ(at(task, "businessStatus.coding.0.system"),
              "https://fhir.sthf.no/helse-og-arbeid/CodeSystem/referral-status");
    EXPECT_EQ(at(task, "focus.reference"), "ServiceRequest/sr-1");
    EXPECT_EQ(at(task, "basedOn.0.reference"), "ServiceRequest/sr-1");
    EXPECT_EQ(at(task, "for.reference"), "Patient/pat-1");
    EXPECT_EQ(at(task, "requester.reference"), "PractitionerRole/role-1");
    EXPECT_EQ(at(task, "owner.identifier.value"), "900100");
    EXPECT_EQ(at(task, "restriction.period.end"), "2026-12-04") << "10 working days after 2026-11-20";
    EXPECT_EQ(at(task, "identifier.0.value"), "ref-1");
    EXPECT_EQ(at(task, "meta.versionId"), "3");
  }
}

TEST_F(TaskTest, StatusExtrasGoWhereTheContractSays) {
  ReferralState accepted;
  accepted.status = "accepted";
  accepted.careStartDeadline = Date::parse("2027-02-15");
  std::string t = checkedTask(accepted);
  EXPECT_EQ(at(t, "extension.0.url"), "https://fhir.sthf.no/helse-og-arbeid/StructureDefinition/care-start-deadline");
  EXPECT_EQ(at(t, "extension.0.valueDate"), "2027-02-15");

  ReferralState rejected;
  rejected.status = "rejected";
  rejected.reasonText = "Ikke rett til helsehjelp i spesialisthelsetjenesten";
  t = checkedTask(rejected);
  EXPECT_EQ(at(t, "statusReason.text"), "Ikke rett til helsehjelp i spesialisthelsetjenesten");
  EXPECT_EQ(at(t, "statusReason.coding"), "<absent>");

  ReferralState forwarded;
  forwarded.status = "forwarded";
  forwarded.reasonCode = "forwarded-norsk-arbeidshelse";
  t = checkedTask(forwarded);
  EXPECT_EQ(at(t, "statusReason.coding.0.code"), "forwarded-norsk-arbeidshelse");
  EXPECT_NE(at(t, "statusReason.coding.0.display"), "<absent>");

  ReferralState running;
  running.status = "in-progress";
  running.currentOffering = "physiotherapist";
  t = checkedTask(running);
  EXPECT_EQ(at(t, "input.0.valueCodeableConcept.coding.0.code"), "physiotherapist");

  ReferralState done;
  done.status = "completed";
  done.outputs = {"QuestionnaireResponse/a", "QuestionnaireResponse/b"};
  t = checkedTask(done);
  EXPECT_EQ(at(t, "output.1.valueReference.reference"), "QuestionnaireResponse/b");
}

TEST(ReferralStateMachine, AllowsExactlyTheContractsTransitions) {
  const std::set<std::pair<std::string, std::string>> allowed = {
      {"received", "under-assessment"}, {"under-assessment", "accepted"}, {"under-assessment", "rejected"},
      {"under-assessment", "forwarded"}, {"accepted", "in-progress"},     {"accepted", "on-hold"},
      {"in-progress", "on-hold"},       {"on-hold", "in-progress"},       {"in-progress", "completed"},
      // any non-final → cancelled
      {"received", "cancelled"}, {"under-assessment", "cancelled"}, {"accepted", "cancelled"},
      {"in-progress", "cancelled"}, {"on-hold", "cancelled"}};
  for (const std::string& from : kAllStatuses) {
    std::vector<std::string> next = allowedTransitions(from);
    for (const std::string& to : kAllStatuses) {
      bool expected = allowed.count({from, to}) > 0;
      bool got = std::find(next.begin(), next.end(), to) != next.end();
      EXPECT_EQ(got, expected) << from << " -> " << to;
    }
    EXPECT_EQ(isFinalStatus(from), next.empty()) << from;
  }
}

TEST_F(TaskTest, TransitionsAreCheckedAndApplied) {
  RuleOptions ro{"900100", false, "https://fhir.sthf.no/helse-og-arbeid/CodeSystem/referral-rule"};
  Date received = *Date::parse("2026-11-20");
  ReferralState s;  // received
  auto go = [&](const TransitionRequest& r, Lang lang = Lang::En) {
    return applyTransition(*mapping_, s, r, received, ro, lang);
  };

  TransitionResult r = go({"accepted", "", "2027-01-10", "", "2026-11-21T10:00:00Z"});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.httpStatus, 409);
  EXPECT_EQ(r.allowed, (std::vector<std::string>{"under-assessment", "cancelled"}));
  ASSERT_EQ(r.issues.size(), 1u);
  EXPECT_EQ(r.issues.items[0].detailCode, "transition-not-allowed");
  EXPECT_NE(r.issues.items[0].message.find("allowed: under-assessment, cancelled"), std::string::npos);

  r = go({"on-its-way", "", "", "", ""});
  EXPECT_EQ(r.httpStatus, 422);
  EXPECT_EQ(r.issues.items.at(0).detailCode, "status-unknown");

  r = go({"under-assessment", "", "", "", "2026-11-21T10:00:00Z"});
  ASSERT_TRUE(r.ok);
  s = r.next;
  EXPECT_EQ(s.status, "under-assessment");
  EXPECT_EQ(s.lastModified, "2026-11-21T10:00:00Z");

  r = go({"accepted", "", "", "", ""});
  EXPECT_EQ(r.issues.items.at(0).detailCode, "care-start-deadline-required");
  r = go({"accepted", "", "2026-11-19", "", ""});
  EXPECT_EQ(r.issues.items.at(0).detailCode, "care-start-deadline-invalid") << "before the receipt date";
  r = go({"accepted", "", "2027-13-01", "", ""});
  EXPECT_EQ(r.issues.items.at(0).detailCode, "care-start-deadline-invalid");
  r = go({"rejected", "", "", "", ""}, Lang::Nb);
  EXPECT_EQ(r.issues.items.at(0).detailCode, "reason-required");
  EXPECT_NE(r.issues.items.at(0).message.find("begrunnelse"), std::string::npos) << "bokmål message";

  r = go({"accepted", "", "2027-02-15", "", "2026-11-27T13:02:00Z"});
  ASSERT_TRUE(r.ok);
  s = r.next;
  EXPECT_EQ(s.careStartDeadline, Date::parse("2027-02-15"));

  r = go({"in-progress", "", "", "yoga", ""});
  EXPECT_EQ(r.issues.items.at(0).detailCode, "offering-unknown");
  r = go({"in-progress", "", "", "coping-group", ""});
  ASSERT_TRUE(r.ok);
  s = r.next;
  EXPECT_EQ(s.currentOffering, "coping-group");
  EXPECT_EQ(s.careStartDeadline, Date::parse("2027-02-15")) << "the deadline stays once set";

  r = go({"cancelled", "withdrawn-by-patient", "", "", ""});
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.next.reasonCode, "withdrawn-by-patient");
  s = r.next;
  r = go({"in-progress", "", "", "", ""});
  EXPECT_EQ(r.httpStatus, 409);
  EXPECT_TRUE(r.allowed.empty()) << "cancelled is final";
}

TEST_F(TaskTest, RefusesABrokenTable) {
  std::string error;
  EXPECT_FALSE(TaskMapping::load(*reg_, R"({"statuses": {}, "systems": {}})", error));
  EXPECT_NE(error.find("lacks"), std::string::npos) << error;
  EXPECT_FALSE(TaskMapping::load(*reg_, "{", error));
}

// The CodeSystem referral-rule in the clinic's package and the rules the code runs agree.
TEST(ReferralRuleCodeSystem, MatchesTheRuleCatalogue) {
  HOA_REQUIRE_CLINIC_REGISTRY(reg, validator);
  const json::Value* cs = reg->resource("https://fhir.sthf.no/helse-og-arbeid/CodeSystem/referral-rule");
  ASSERT_NE(cs, nullptr);
  std::set<std::string> inPackage, inCode;
  for (const json::Value* c : *cs->find("concept")) {
    inPackage.insert(std::string(c->getString("code")));
    const Rule* r = findRule(c->getString("code"));
    if (!r) continue;
    for (const json::Value* p : *c->find("property")) {
      if (p->getString("code") == "severity") {
        EXPECT_EQ(p->getString("valueCode"), fhir::severityCode(r->severity)) << r->code;
      }
      if (p->getString("code") == "issue-type") {
        EXPECT_EQ(p->getString("valueCode"), r->issueType) << r->code;
      }
    }
  }
  for (const Rule& r : ruleCatalogue()) inCode.insert(std::string(r.code));
  EXPECT_EQ(inPackage, inCode);
}

}  // namespace
}  // namespace hoa::clinic
