#pragma once
// The referral's status as the referrer sees it: the clinic's internal state → a FHIR
// Task (referral-contract section 3), and the state machine of the clinic's transitions.
//
// The businessStatus table (display, Task.status, what each status carries) and the
// systems come from mappings/task.map.json; the transitions are the contract's rule.
//
// Thread-safety: a loaded TaskMapping is immutable; the functions are pure.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fhir/definitions.h"
#include "fhir/issue.h"
#include "mappings/referral.h"
#include "mappings/rules.h"

namespace hoa::clinic {

// Where the referral is in its course, beyond what the intake set.
struct ReferralState {
  std::string status = "received";  // a referral-status code
  std::string reasonCode;           // a status-reason code, when the reason is one
  std::string reasonText;           // the reason in words
  std::optional<Date> careStartDeadline;
  std::string currentOffering;           // an offering code (in-progress)
  std::vector<std::string> outputs;      // references to final QuestionnaireResponses
  std::string lastModified;              // instant of the last change
};

// The stored form of a state (JSON object with these member names), and back; fromJson
// fails (nullopt, `error`) on text that is not such an object.
std::string toJson(const ReferralState& state);
std::optional<ReferralState> referralStateFromJson(std::string_view json, std::string& error);

// References the Task makes, as the store knows them.
struct TaskRefs {
  std::string taskId;
  std::string serviceRequest;  // "ServiceRequest/123"
  std::string patient;         // "Patient/456"
  std::string requester;       // "PractitionerRole/789"
  std::string clinicHerId = "900100";
};

class TaskMapping {
 public:
  struct Status {
    std::string taskStatus;
    std::string display;
    bool careStartDeadline = false, statusReason = false, currentOffering = false, outputs = false;
  };
  // Loads the table; the displays of status-reason and offering codes come from those
  // CodeSystems in `registry` (the clinic's package).
  static std::shared_ptr<const TaskMapping> load(const fhir::Registry& registry, std::string_view json,
                                                 std::string& error);
  static std::shared_ptr<const TaskMapping> loadFile(const fhir::Registry& registry, const std::string& path,
                                                     std::string& error);

  // The row of the table for a referral-status code, or nullptr.
  const Status* status(std::string_view code) const;
  // A system or URL by its key in "systems" ("" when absent).
  std::string_view system(std::string_view key) const;
  // The display of a status-reason / offering code, or nullopt when it is not one.
  std::optional<std::string> reasonDisplay(std::string_view code) const;
  std::optional<std::string> offeringDisplay(std::string_view code) const;

  // The Task of a referral in `state`, as FHIR JSON (the clinic's hoa-task profile).
  // Compact JSON unless `pretty`.
  std::string buildTask(const Referral& referral, const ReferralState& state, const TaskRefs& refs,
                        int versionId = 0, bool pretty = false) const;

 private:
  std::map<std::string, Status, std::less<>> statuses_;
  std::map<std::string, std::string, std::less<>> systems_;
  std::map<std::string, std::string, std::less<>> reasons_, offerings_;
  std::string ownerDisplay_, inputTypeText_, outputTypeText_;
};

// The contract's transitions: received → under-assessment → accepted | rejected |
// forwarded; accepted → in-progress | on-hold; in-progress ↔ on-hold; in-progress →
// completed; any non-final status → cancelled.
std::vector<std::string> allowedTransitions(std::string_view from);
bool isFinalStatus(std::string_view status);

struct TransitionRequest {
  std::string to;
  std::string reason;             // a status-reason code or words
  std::string careStartDeadline;  // YYYY-MM-DD (accepted)
  std::string offering;           // offering code (in-progress, optional)
  std::string at;                 // instant of the change
};

struct TransitionResult {
  bool ok = false;
  int httpStatus = 200;  // 409 for a transition the state machine refuses, 422 for bad input
  std::vector<std::string> allowed;  // the allowed next statuses (on 409)
  fhir::Issues issues;
  ReferralState next;
};

// Checks and applies one transition. `receivedOn` bounds the care-start deadline.
TransitionResult applyTransition(const TaskMapping& mapping, const ReferralState& current,
                                 const TransitionRequest& request, Date receivedOn, const RuleOptions& options,
                                 Lang lang);

}  // namespace hoa::clinic
