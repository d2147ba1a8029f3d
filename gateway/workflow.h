#pragma once
// The referral workflow behind the REST and clinic APIs: accept a referral (any of the
// three transport forms) and store it with its Task in one transaction; revoke it; move
// it through the clinic's statuses; record questionnaire responses.
//
// Each operation validates first (nothing is written for invalid input), then runs one
// store job — one database transaction, durable when the call returns.
//
// Thread-safety: a Workflow is immutable after construction; its operations may run on
// many threads at once (the store serialises the writes).
#include <optional>
#include <string>
#include <vector>

#include "fhir/definitions.h"
#include "fhir/format.h"
#include "fhir/validator.h"
#include "gateway/config.h"
#include "gateway/http.h"
#include "gateway/store.h"
#include "mappings/intake.h"
#include "mappings/questionnaire.h"
#include "mappings/task.h"

namespace hoa::gateway {

struct Services {
  const GatewayConfig* config = nullptr;
  const fhir::Registry* registry = nullptr;
  const fhir::Validator* validator = nullptr;
  const clinic::ReferralIntake* intake = nullptr;
  const clinic::TaskMapping* tasks = nullptr;
  const clinic::QuestionnaireCatalogue* questionnaires = nullptr;
  Store* store = nullptr;
  class Delivery* delivery = nullptr;  // optional: woken after commits that add outbox events
};

// A stored resource as a response needs it.
struct StoredRef {
  std::string type, id;
  int version = 0;
  std::string lastUpdated;
  std::string json;
  std::string reference() const { return type + "/" + id; }
};

struct SubmitResult {
  int status = 500;     // 201 created, 200 existing, else the error status
  fhir::Issues issues;  // errors, or warnings of an accepted referral
  bool created = false;
  std::optional<clinic::Transport> transport;
  ReferralRow referral;
  StoredRef serviceRequest, task;
  // Transaction and message: one per request entry, in order ("201 Created" / "200 OK").
  struct Entry {
    std::string fullUrl;
    StoredRef stored;  // empty type: not stored (MessageHeader)
  };
  std::vector<Entry> entries;
  // Message: the request's MessageHeader id and event (for the response message).
  std::string messageHeaderId, eventSystem, eventCode, sourceEndpoint;
};

class Workflow {
 public:
  explicit Workflow(Services s) : s_(s) {}
  const Services& services() const { return s_; }

  // Validates, maps and stores a referral sent as `expected` (REST create, transaction,
  // message). `ifNoneExist`: the If-None-Exist header (REST create).
  SubmitResult submit(const Principal& who, const HttpRequest& req, clinic::Transport expected,
                      const std::string& ifNoneExist, clinic::Lang lang) const;

  // Validation only (POST …/$validate): the issues of the full intake, nothing stored.
  fhir::Issues validateOnly(const HttpRequest& req, clinic::Lang lang, int& status) const;

  struct UpdateResult {
    int status = 500;
    fhir::Issues issues;
    StoredRef resource;
  };
  // PUT ServiceRequest/{id}: the referrer revokes its referral (status revoked); the
  // Task becomes cancelled. `ifMatch`: the If-Match header ("" when absent).
  // `conditional`: the id came from PUT ServiceRequest?identifier=… (the body's id may
  // then be absent).
  UpdateResult revoke(const Principal& who, const std::string& id, const HttpRequest& req, const std::string& ifMatch,
                      clinic::Lang lang, bool conditional = false) const;

  struct TransitionOutcome {
    int status = 500;
    fhir::Issues issues;
    std::vector<std::string> allowed;
    std::string modelJson;  // the referral as the clinic sees it now
  };
  // POST /clinic/referrals/{id}/transitions.
  TransitionOutcome transition(const std::string& id, const clinic::TransitionRequest& request,
                               clinic::Lang lang) const;

  struct ResponseOutcome {
    int status = 500;
    fhir::Issues issues;
    StoredRef resource;
    std::vector<clinic::InstrumentScore> scores;
  };
  // POST /clinic/referrals/{id}/questionnaire-responses.
  ResponseOutcome addQuestionnaireResponse(const std::string& id, const HttpRequest& req, clinic::Lang lang) const;

  // The internal model of a stored referral with its current status.
  std::string modelJson(const ReferralRow& row) const;

 private:
  // Adds the outbox event of a stored resource version when the practice has an endpoint
  // (inside the job that stores it); true when one was added.
  bool queueDelivery(WriteTxn& t, const std::string& practice, const std::string& referralId, const StoredRef& stored,
                     const std::string& identifierSystem, const std::string& identifierValue) const;
  void notifyDelivery(const std::string& practice) const;

  Services s_;
};

// W/"3" → 3; nullopt when the text is not a version tag.
std::optional<int> parseETag(std::string_view tag);

}  // namespace hoa::gateway
