#pragma once
// The clinic's internal model of a referral: what the clinic's systems work with and
// receive as JSON (docs/internal-model.md). Filled from a FHIR referral by the mapping
// (mappings/referral_mapping.h); its field names are the documented JSON names.
//
// Thread-safety: plain values.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mappings/working_days.h"

namespace hoa::clinic {

struct CodedValue {
  std::string system;
  std::string code;
  std::string display;  // empty when the referral gave none
};

struct Identifier {
  std::string system;
  std::string value;
};

struct PatientInfo {
  std::string idType;      // "fnr" | "dnr"
  std::string nationalId;  // the number as sent (11 digits)
  std::string name;        // HumanName.text, else given names and family name
  std::optional<Date> birthDate;  // from the resource, else from the number
  std::string gender;      // FHIR administrative gender; from the number when absent
};

struct ReferrerInfo {
  std::string hpr;               // the practitioner's HPR number
  std::string name;              // the practitioner's name
  std::string herId;             // the practice's HER-id (routes answers back)
  std::string orgNumber;         // organisation number (ENH); empty when not sent
  std::string organizationName;
};

struct ProblemInfo {
  std::string category;  // musculoskeletal | mental | mixed | other
  std::vector<CodedValue> codes;  // ICPC-2 and ICD-10 codes, as sent
  std::string description;        // what the patient wants help with, in words
};

struct WorkInfo {
  std::string attachment;                 // a hoa:work-attachment code
  std::optional<std::string> sickLeavePercent;  // the decimal's text, e.g. "50"
  std::optional<Date> sickLeaveSince;
  std::string employer;
  std::string occupation;
};

struct Referral {
  std::string id;
  Identifier sourceIdentifier;  // the referrer's own id: the idempotency key with herId
  std::string receivedAt;       // instant, e.g. 2026-11-20T09:15:00Z
  Date assessmentDeadline;      // 10 Norwegian working days after the (Oslo) receipt date
  std::string status = "received";  // a hoa:referral-status code
  std::string priority = "routine";
  std::string authoredOn;
  PatientInfo patient;
  ReferrerInfo referrer;
  ProblemInfo problem;
  WorkInfo work;
  std::vector<std::string> offerings;  // hoa:offering codes
  bool needsCoordinatedServices = false;
  std::vector<std::string> warnings;   // rule codes of the warnings the referral raised
};

// The internal model's JSON (docs/internal-model.md): members in a fixed order, absent
// optional values as null, so golden files compare byte for byte.
std::string toJson(const Referral& r, bool pretty = false);
// The inverse of toJson (the stored form of a referral). Fails (nullopt, `error`) when
// the text is not JSON of that shape; unknown members are ignored.
std::optional<Referral> referralFromJson(std::string_view json, std::string& error);

}  // namespace hoa::clinic
