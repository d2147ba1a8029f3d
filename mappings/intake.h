#pragma once
// Referral intake: from a parsed FHIR document (REST create, transaction Bundle or
// message Bundle) to a verdict, the issues, and — when accepted — the internal model.
//
//   1. find the ServiceRequest (the root; the transaction's ServiceRequest entry; the
//      message's MessageHeader.focus) — the three transport forms of the contract;
//   2. validate the whole document against FHIR R4 and the clinic's profiles (applied to
//      every ServiceRequest, Patient, Practitioner, PractitionerRole and Condition in it);
//   3. evaluate the declarative mapping (mappings/referral.map.json);
//   4. run the clinic's named business rules (rules.h) on the mapped fields;
//   5. build the internal model (referral.h).
// The verdict follows the contract: not valid FHIR (parse or core errors) → 400; valid
// FHIR that breaks the clinic's profiles or rules → 422; else accepted with warnings.
//
// Thread-safety: a ReferralIntake is immutable after create(); process() may run on many
// threads at once.
#include <memory>
#include <optional>
#include <string>

#include "fhir/definitions.h"
#include "fhir/element.h"
#include "fhir/issue.h"
#include "fhir/validator.h"
#include "mappings/mapping.h"
#include "mappings/referral.h"
#include "mappings/rules.h"

namespace hoa::clinic {

enum class Transport { RestCreate, Transaction, Message };
std::string_view toString(Transport t);

struct IntakeConfig {
  std::string clinicHerId = "900100";  // the clinic's own HER-id (the performer)
  bool allowSyntheticIds = false;      // accept synthetic test national ids (month + 80)
  std::string canonicalBase = "https://fhir.sthf.no/helse-og-arbeid";
};

// What the caller knows about this submission.
struct IntakeContext {
  std::string id;          // the id the gateway gives the referral
  std::string receivedAt;  // instant of receipt, e.g. "2026-11-20T09:15:00Z"
  Lang lang = Lang::Nb;    // language of the rule messages
};

struct IntakeResult {
  enum class Verdict { Accepted, InvalidFhir, Rejected };
  Verdict verdict = Verdict::InvalidFhir;
  std::optional<Transport> transport;
  const fhir::Node* serviceRequest = nullptr;  // into the caller's document
  Referral referral;                           // complete when accepted
  fhir::Issues issues;                         // errors, warnings and information

  bool accepted() const { return verdict == Verdict::Accepted; }
  // 200-class handling is the caller's; 400 for InvalidFhir, 422 for Rejected.
  int httpStatus() const { return verdict == Verdict::Accepted ? 201 : verdict == Verdict::Rejected ? 422 : 400; }
};

class ReferralIntake {
 public:
  // `registry` must hold the core package and the clinic's package (its profiles are
  // required: a referral is never judged without them). Loads the mapping file.
  static std::unique_ptr<ReferralIntake> create(const fhir::Registry& registry, const fhir::Validator& validator,
                                                const std::string& mappingFile, IntakeConfig config,
                                                std::string& error);

  IntakeResult process(const fhir::Node& root, const IntakeContext& context) const;

  const IntakeConfig& config() const { return config_; }
  const Mapping& mapping() const { return *mapping_; }

 private:
  ReferralIntake(const fhir::Registry& r, const fhir::Validator& v) : registry_(r), validator_(v) {}
  const fhir::Registry& registry_;
  const fhir::Validator& validator_;
  std::shared_ptr<const Mapping> mapping_;
  IntakeConfig config_;
  fhir::ValidationOptions validation_;
};

// The calendar date in Norway (Europe/Oslo: CET, CEST from the last Sunday of March to
// the last Sunday of October, 01:00 UTC) of an instant "YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm)";
// nullopt when the text is not such an instant.
std::optional<Date> osloDateOf(std::string_view instant);

}  // namespace hoa::clinic
