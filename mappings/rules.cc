#include "mappings/rules.h"

#include <algorithm>
#include <charconv>

#include "fhir/validator.h"
#include "mappings/norwegian_id.h"

namespace hoa::clinic {

using fhir::Severity;

Lang langFromTag(std::string_view tag) {
  while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
  if (tag.size() >= 2 && (tag[0] == 'e' || tag[0] == 'E') && (tag[1] == 'n' || tag[1] == 'N') &&
      (tag.size() == 2 || tag[2] == '-' || tag[2] == '_' || tag[2] == ',' || tag[2] == ';'))
    return Lang::En;
  return Lang::Nb;
}

const std::vector<Rule>& ruleCatalogue() {
  static const std::vector<Rule> rules = {
      // How the referral arrives.
      {"unsupported-resource", Severity::Error, "not-supported",
       "Bare en ServiceRequest, eller en Bundle av typen transaction eller message, kan tas imot som henvisning "
       "(fikk {value}).",
       "Only a ServiceRequest, or a Bundle of type transaction or message, is accepted as a referral (got {value})."},
      {"referral-not-found", Severity::Error, "required",
       "Fant ingen henvisning (ServiceRequest) i Bundle.",
       "The Bundle holds no referral (ServiceRequest)."},
      {"referral-ambiguous", Severity::Error, "structure",
       "Bundle inneholder {value} ServiceRequest-ressurser; send én henvisning om gangen.",
       "The Bundle holds {value} ServiceRequest resources; send one referral at a time."},
      {"message-header-first", Severity::Error, "structure",
       "I en meldings-Bundle må første entry være en MessageHeader.",
       "In a message Bundle the first entry must be a MessageHeader."},
      {"message-event-unsupported", Severity::Error, "not-supported",
       "Meldingshendelsen {value} støttes ikke; bruk {event} (eller HL7 v2-0003#I12).",
       "The message event {value} is not supported; use {event} (or HL7 v2-0003#I12)."},
      {"message-focus-missing", Severity::Error, "required",
       "MessageHeader.focus må peke på henvisningen (ServiceRequest) i Bundle.",
       "MessageHeader.focus must point to the referral (ServiceRequest) in the Bundle."},
      {"status-not-active", Severity::Error, "business-rule",
       "En ny henvisning må ha status «active» (fikk «{value}»).",
       "A new referral must have status 'active' (got '{value}')."},
      // The patient.
      {"patient-missing", Severity::Error, "required",
       "Henvisningen mangler pasienten: ServiceRequest.subject må peke på en Patient i henvisningen (contained eller "
       "i Bundle).",
       "The referral has no patient: ServiceRequest.subject must point to a Patient in the referral (contained or in "
       "the Bundle)."},
      {"national-id-missing", Severity::Error, "required",
       "Pasienten mangler fødselsnummer eller D-nummer (identifier med system {fnr} eller {dnr}).",
       "The patient has no fødselsnummer or D-number (an identifier with system {fnr} or {dnr})."},
      {"national-id-invalid", Severity::Error, "value",
       "«{value}» er ikke et gyldig {kind}: {reason}.",
       "'{value}' is not a valid {kind}: {reason}."},
      {"national-id-synthetic", Severity::Error, "value",
       "«{value}» er et syntetisk testnummer; slike tas bare imot der testdata er tillatt.",
       "'{value}' is a synthetic test number, accepted only where test data is allowed."},
      {"birthdate-mismatch", Severity::Error, "value",
       "Fødselsdatoen {birthDate} stemmer ikke med {kind} (som gir {numberDate}).",
       "The birth date {birthDate} does not match the {kind} (which gives {numberDate})."},
      // Priority.
      {"priority-acute", Severity::Error, "business-rule",
       "Henvisningen har prioritet «{value}». Helse og arbeid tar ikke imot akutte henvisninger fordi ventetiden kan "
       "være lang: akutte behov skal til fastlegen, DPS eller legevakten.",
       "The referral has priority '{value}'. Helse og arbeid does not take acute referrals, as waiting times can be "
       "long: acute needs go to the GP (fastlege), the local DPS or the emergency room (legevakt)."},
      // The problem.
      {"problem-code-missing", Severity::Error, "required",
       "Henvisningen må ha minst én problemkode i ICPC-2 eller ICD-10 (reasonCode, eller reasonReference til en "
       "Condition).",
       "The referral needs at least one problem code in ICPC-2 or ICD-10 (reasonCode, or reasonReference to a "
       "Condition)."},
      {"problem-code-invalid", Severity::Error, "code-invalid",
       "«{value}» er ikke en gyldig {system}-kode.",
       "'{value}' is not a valid {system} code."},
      {"problem-description-missing", Severity::Error, "required",
       "Beskriv med ord hva pasienten ønsker hjelp til (tekst i reasonCode eller Condition.code, minst 10 tegn).",
       "Describe in words what the patient wants help with (the text of reasonCode or Condition.code, at least 10 "
       "characters)."},
      // Work.
      {"work-attachment-missing", Severity::Error, "required",
       "Henvisningen må si noe om arbeidstilknytning: supportingInfo til en Observation med kode LOINC 74165-2 og "
       "verdi fra {codeSystem}.",
       "The referral must say something about work attachment: supportingInfo to an Observation with code LOINC "
       "74165-2 and a value from {codeSystem}."},
      {"sick-leave-percent-missing", Severity::Error, "required",
       "Ved sykmelding må sykmeldingsgraden oppgis (component work-detail#sick-leave-percent med valueQuantity "
       "1–100 %).",
       "For a sick-listed patient the sick-leave percentage is required (component work-detail#sick-leave-percent "
       "with valueQuantity 1–100 %)."},
      {"sick-leave-percent-invalid", Severity::Error, "value",
       "Sykmeldingsgraden må være mellom 1 og 100 % (fikk {value}).",
       "The sick-leave percentage must be between 1 and 100 % (got {value})."},
      {"sick-leave-since-missing", Severity::Error, "required",
       "Ved sykmelding må det oppgis fra når pasienten er sykmeldt (effectivePeriod.start).",
       "For a sick-listed patient, when the sick leave started is required (effectivePeriod.start)."},
      // Referrer and performer.
      {"requester-missing", Severity::Error, "required",
       "Henvisningen mangler henviser: requester må peke på en PractitionerRole i henvisningen, med practitioner og "
       "organization.",
       "The referral has no referrer: requester must point to a PractitionerRole in the referral, with practitioner "
       "and organization."},
      {"requester-hpr-missing", Severity::Error, "required",
       "Henvisende behandler mangler HPR-nummer (Practitioner.identifier med system {hpr}).",
       "The referring practitioner has no HPR number (Practitioner.identifier with system {hpr})."},
      {"practice-her-id-missing", Severity::Error, "required",
       "Legekontoret mangler HER-id (Organization.identifier med system {herId}); svar og status sendes dit.",
       "The practice has no HER-id (Organization.identifier with system {herId}); answers and status go there."},
      {"performer-not-clinic", Severity::Error, "business-rule",
       "performer må være Helse og arbeid (HER-id {clinicHerId}): en Organization i henvisningen eller en logisk "
       "referanse med identifier.",
       "performer must be Helse og arbeid (HER-id {clinicHerId}): an Organization in the referral or a logical "
       "reference by identifier."},
      // The clinic's transitions of a referral (the state machine of the contract).
      {"status-unknown", Severity::Error, "code-invalid",
       "«{value}» er ikke en henvisningsstatus (referral-status).",
       "'{value}' is not a referral status (referral-status)."},
      {"transition-not-allowed", Severity::Error, "business-rule",
       "En henvisning med status «{from}» kan ikke gå til «{value}»; tillatt: {allowed}.",
       "A referral in status '{from}' cannot move to '{value}'; allowed: {allowed}."},
      {"reason-required", Severity::Error, "required",
       "Status «{value}» krever en begrunnelse (reason).",
       "The status '{value}' needs a reason."},
      {"care-start-deadline-required", Severity::Error, "required",
       "Når retten til helsehjelp er gitt, må fristen for oppstart oppgis (careStartDeadline, ÅÅÅÅ-MM-DD).",
       "When the right to care is granted, the deadline for the start of care is required (careStartDeadline, "
       "YYYY-MM-DD)."},
      {"care-start-deadline-invalid", Severity::Error, "value",
       "Fristen for oppstart «{value}» er ikke en gyldig dato på eller etter mottaksdatoen.",
       "The start-of-care deadline '{value}' is not a valid date on or after the date of receipt."},
      {"offering-unknown", Severity::Error, "code-invalid",
       "«{value}» er ikke et av klinikkens tilbud (offering).",
       "'{value}' is not one of the clinic's offerings (offering)."},
      // The target group: warnings, the clinic still assesses the referral.
      {"work-attachment-none", Severity::Warning, "business-rule",
       "Pasienten har ingen tilknytning til arbeidslivet og ingen plan: det er utenfor målgruppen. Henvisningen "
       "vurderes likevel.",
       "The patient has no attachment to working life and no plan: outside the target group. The referral is still "
       "assessed."},
      {"problem-category-other", Severity::Warning, "business-rule",
       "Problemkodene er verken muskel/skjelett (ICPC-2 L, ICD-10 M) eller psykiske (ICPC-2 P, ICD-10 F): "
       "henvisningen ser ut til å være utenfor målgruppen. Den vurderes likevel.",
       "The problem codes are neither musculoskeletal (ICPC-2 L, ICD-10 M) nor mental (ICPC-2 P, ICD-10 F): the "
       "referral looks outside the target group. It is still assessed."},
      {"coordinated-services-needed", Severity::Warning, "business-rule",
       "Pasienten trenger koordinerte tjenester (individuell plan, koordinator): det er utenfor målgruppen. "
       "Henvisningen vurderes likevel.",
       "The patient needs coordinated services (individual plan, coordinator): outside the target group. The "
       "referral is still assessed."},
  };
  return rules;
}

const Rule* findRuleIn(const std::vector<Rule>& catalogue, std::string_view code) {
  for (const Rule& r : catalogue)
    if (r.code == code) return &r;
  return nullptr;
}

const Rule* findRule(std::string_view code) { return findRuleIn(ruleCatalogue(), code); }

fhir::Issue ruleIssue(const Rule& rule, const RuleOptions& options, Lang lang, std::string expression,
                      const fhir::Node* at, const std::map<std::string, std::string>& args) {
  std::string_view tpl = lang == Lang::En ? rule.en : rule.nb;
  std::string msg;
  for (size_t i = 0; i < tpl.size();) {
    if (tpl[i] == '{') {
      size_t end = tpl.find('}', i);
      if (end != std::string_view::npos) {
        auto it = args.find(std::string(tpl.substr(i + 1, end - i - 1)));
        if (it != args.end()) {
          msg += it->second;
          i = end + 1;
          continue;
        }
      }
    }
    msg += tpl[i++];
  }
  fhir::Issue issue;
  issue.severity = rule.severity;
  issue.code = std::string(rule.issueType);
  issue.message = std::move(msg);
  issue.expression = std::move(expression);
  if (at) {
    issue.line = at->line;
    issue.column = at->column;
  }
  issue.detailSystem = options.ruleSystem;
  issue.detailCode = std::string(rule.code);
  return issue;
}

namespace {

constexpr std::string_view kFnr = "urn:oid:2.16.578.1.12.4.1.4.1";
constexpr std::string_view kDnr = "urn:oid:2.16.578.1.12.4.1.4.2";
constexpr std::string_view kHpr = "urn:oid:2.16.578.1.12.4.1.4.4";
constexpr std::string_view kHerId = "urn:oid:2.16.578.1.12.4.1.2";
constexpr std::string_view kIcpc2 = "http://hl7.org/fhir/sid/icpc-2";
constexpr std::string_view kIcpc2Oid = "urn:oid:2.16.578.1.12.4.1.1.7170";
constexpr std::string_view kIcd10No = "urn:oid:2.16.578.1.12.4.1.1.7110";
constexpr std::string_view kIcd10 = "http://hl7.org/fhir/sid/icd-10";

bool isIcpc2(std::string_view system) { return system == kIcpc2 || system == kIcpc2Oid; }
bool isIcd10(std::string_view system) { return system == kIcd10No || system == kIcd10; }

bool upper(char c) { return c >= 'A' && c <= 'Z'; }
bool digit(char c) { return c >= '0' && c <= '9'; }

// ICPC-2: a chapter letter and two digits (L03, P76); process codes with a dash.
bool icpc2Syntax(std::string_view c) {
  if (c.size() == 3) return upper(c[0]) && digit(c[1]) && digit(c[2]);
  if (c.size() == 4) return upper(c[0]) && c[1] == '-' && digit(c[2]) && digit(c[3]);
  return false;
}

// ICD-10: a letter, two digits, then optionally a subdivision with or without the dot
// (F32.1, F321, M54.5, S72.00).
bool icd10Syntax(std::string_view c) {
  if (c.size() < 3 || !upper(c[0]) || !digit(c[1]) || !(digit(c[2]) || upper(c[2]))) return false;
  std::string_view rest = c.substr(3);
  if (!rest.empty() && rest[0] == '.') rest.remove_prefix(1);
  else if (c.size() > 3 && c[3] == '.') return false;
  if (c.size() > 3 && rest.empty()) return false;  // a dot with nothing after it
  if (rest.size() > 4) return false;
  for (char ch : rest)
    if (!digit(ch) && !upper(ch)) return false;
  return true;
}

size_t codePoints(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::string_view idReason(NationalIdError e, Lang lang) {
  bool en = lang == Lang::En;
  switch (e) {
    case NationalIdError::WrongLength: return en ? "it must be 11 digits" : "det må være 11 siffer";
    case NationalIdError::NotDigits: return en ? "it may contain digits only" : "det kan bare inneholde siffer";
    case NationalIdError::BadCheckDigit1: return en ? "the first check digit is wrong" : "første kontrollsiffer er feil";
    case NationalIdError::BadCheckDigit2: return en ? "the second check digit is wrong" : "andre kontrollsiffer er feil";
    case NationalIdError::InvalidDate: return en ? "it holds no real birth date" : "det inneholder ingen gyldig fødselsdato";
    default: return en ? "it is not accepted" : "det tas ikke imot";
  }
}

struct Checker {
  const fhir::Node& root;
  const fhir::Node& sr;
  const FieldValues& f;
  const RuleOptions& opt;
  Lang lang;
  fhir::Issues& out;
  RuleFindings& found;

  std::string where(const fhir::Node* n) const {
    std::string p = n ? fhir::fhirPathOf(root, n) : std::string();
    return p.empty() ? fhir::fhirPathOf(root, &sr) : p;
  }
  void add(std::string_view code, const fhir::Node* at, const std::map<std::string, std::string>& args = {}) {
    const Rule* r = findRule(code);
    out.add(ruleIssue(*r, opt, lang, where(at), at ? at : &sr, args));
  }
  // The element child `name` of the ServiceRequest, for locations.
  const fhir::Node* srChild(std::string_view name) const { return sr.child(name); }

  void status() {
    auto s = f.text("status");
    if (s && *s != "active") add("status-not-active", srChild("status"), {{"value", *s}});
  }

  void priority() {
    auto p = f.text("priority");
    if (p && (*p == "urgent" || *p == "asap" || *p == "stat")) add("priority-acute", srChild("priority"), {{"value", *p}});
  }

  void patient() {
    const fhir::Node* patient = f.node("patient");
    if (!patient) {
      add("patient-missing", srChild("subject"));
      return;
    }
    const fhir::Node* fnr = f.node("patient.fnr");
    const fhir::Node* dnr = f.node("patient.dnr");
    if (!fnr && !dnr) {
      add("national-id-missing", patient, {{"fnr", std::string(kFnr)}, {"dnr", std::string(kDnr)}});
      return;
    }
    const fhir::Node* idNode = fnr ? fnr : dnr;
    bool isD = !fnr;
    std::string number(idNode->value);
    std::string kind = isD ? (lang == Lang::En ? "D-number" : "D-nummer") : (lang == Lang::En ? "fødselsnummer" : "fødselsnummer");
    NationalIdOptions o;
    o.allowSynthetic = opt.allowSyntheticIds;
    NationalIdResult r = checkNationalId(number, o);
    if (r.error == NationalIdError::SyntheticNotAllowed) {
      add("national-id-synthetic", idNode, {{"value", number}});
      return;
    }
    if (!r.ok()) {
      add("national-id-invalid", idNode, {{"value", number}, {"kind", kind}, {"reason", std::string(idReason(r.error, lang))}});
      return;
    }
    bool kindOk = isD ? r.kind == NationalIdKind::DNumber : r.kind == NationalIdKind::Fnr;
    if (!kindOk) {
      std::string reason = lang == Lang::En
                               ? (r.kind == NationalIdKind::DNumber ? "it is a D-number, sent with the fødselsnummer system"
                                  : r.kind == NationalIdKind::HNumber ? "it is an H-number, which the clinic cannot use as the patient's identity"
                                                                      : "it is a fødselsnummer, sent with the D-number system")
                               : (r.kind == NationalIdKind::DNumber ? "det er et D-nummer, sendt med systemet for fødselsnummer"
                                  : r.kind == NationalIdKind::HNumber ? "det er et H-nummer, som ikke kan brukes som pasientens identitet"
                                                                      : "det er et fødselsnummer, sendt med systemet for D-nummer");
      add("national-id-invalid", idNode, {{"value", number}, {"kind", kind}, {"reason", reason}});
      return;
    }
    found.idType = isD ? "dnr" : "fnr";
    found.nationalId = number;
    found.birthDate = r.birthDate;
    if (auto g = genderDigitOf(number)) found.genderFromNumber = *g == Gender::Male ? "male" : "female";
    // A birthDate, when sent, must agree with the number (year, year-month or full date).
    if (const fhir::Node* bd = f.node("patient.birthDate"); bd && bd->hasValue && r.birthDate) {
      std::string full = r.birthDate->toString();
      std::string_view sent = bd->value.substr(0, std::min<size_t>(bd->value.size(), 10));
      if (full.compare(0, sent.size(), sent) != 0)
        add("birthdate-mismatch", bd, {{"birthDate", std::string(bd->value)}, {"kind", kind}, {"numberDate", full}});
    }
  }

  void problem() {
    std::vector<std::pair<std::string, std::string>> codes;
    for (const fhir::fhirpath::Item& i : f.items("problem.codings")) {
      if (!i.isNode()) continue;
      const fhir::Node* coding = i.node();
      const fhir::Node* sys = coding->child("system");
      const fhir::Node* code = coding->child("code");
      if (!sys || !code || !code->hasValue) continue;
      bool ok = isIcpc2(sys->value) ? icpc2Syntax(code->value) : icd10Syntax(code->value);
      if (!ok) {
        add("problem-code-invalid", code,
            {{"value", std::string(code->value)}, {"system", isIcpc2(sys->value) ? "ICPC-2" : "ICD-10"}});
        continue;
      }
      codes.emplace_back(std::string(sys->value), std::string(code->value));
    }
    const fhir::Node* firstConcept = f.node("problem.concepts");
    const fhir::Node* at = firstConcept ? firstConcept : srChild("reasonCode");
    if (f.items("problem.codings").empty()) add("problem-code-missing", at);
    for (const std::string& d : f.texts("problem.descriptions")) {
      std::string_view t = trim(d);
      if (codePoints(t) >= 10) {
        found.problemDescription = std::string(t);
        break;
      }
    }
    if (found.problemDescription.empty()) add("problem-description-missing", at);
    found.problemCategory = problemCategoryOf(codes);
    if (!codes.empty() && found.problemCategory == "other") add("problem-category-other", at);
  }

  void work() {
    const fhir::Node* obs = f.node("work.observation");
    std::string cs = opt.ruleSystem.substr(0, opt.ruleSystem.size() - kRuleCodeSystemPath.size()) +
                     "/CodeSystem/work-attachment";
    auto attachment = f.text("work.attachment");
    if (!obs || !attachment) {
      add("work-attachment-missing", obs ? obs : srChild("supportingInfo"), {{"codeSystem", cs}});
      return;
    }
    if (*attachment == "none") add("work-attachment-none", f.node("work.attachment"));
    if (*attachment != "sick-listed") return;
    const fhir::Node* pct = f.node("work.sickLeavePercent");
    if (!pct || !pct->hasValue) {
      const fhir::Node* comp = f.node("work.sickLeaveComponent");
      add("sick-leave-percent-missing", comp ? comp : obs);
    } else {
      double v = 0;
      std::string_view t = pct->value;
      auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      if (ec != std::errc() || p != t.data() + t.size() || v < 1 || v > 100)
        add("sick-leave-percent-invalid", pct, {{"value", std::string(t)}});
    }
    if (!f.node("work.sickLeaveSince")) add("sick-leave-since-missing", obs);
  }

  void referrer() {
    const fhir::Node* role = f.node("referrer.role");
    if (!role) {
      add("requester-missing", srChild("requester"));
      return;
    }
    const fhir::Node* practitioner = f.node("referrer.practitioner");
    if (!f.node("referrer.hpr"))
      add("requester-hpr-missing", practitioner ? practitioner : role, {{"hpr", std::string(kHpr)}});
    const fhir::Node* practice = f.node("referrer.practice");
    if (!f.node("referrer.herId"))
      add("practice-her-id-missing", practice ? practice : role, {{"herId", std::string(kHerId)}});
  }

  // Every performer, when there is one, must be the clinic.
  void performer() {
    for (const fhir::fhirpath::Item& i : f.items("performer.notClinic"))
      if (i.isNode()) add("performer-not-clinic", i.node(), {{"clinicHerId", opt.clinicHerId}});
  }

  void targetGroup() {
    auto c = f.text("needsCoordinatedServices");
    if (c && *c == "true") add("coordinated-services-needed", f.node("needsCoordinatedServices"));
  }
};

}  // namespace

std::string problemCategoryOf(const std::vector<std::pair<std::string, std::string>>& systemAndCodes) {
  bool msk = false, mental = false;
  for (const auto& [system, code] : systemAndCodes) {
    if (code.empty()) continue;
    char chapter = code[0];
    if (isIcpc2(system)) {
      msk = msk || chapter == 'L';
      mental = mental || chapter == 'P';
    } else if (isIcd10(system)) {
      msk = msk || chapter == 'M';
      mental = mental || chapter == 'F';
    }
  }
  return msk && mental ? "mixed" : msk ? "musculoskeletal" : mental ? "mental" : "other";
}

void checkRules(const fhir::Node& root, const fhir::Node& serviceRequest, const FieldValues& fields,
                const RuleOptions& options, Lang lang, fhir::Issues& out, RuleFindings& findings) {
  Checker c{root, serviceRequest, fields, options, lang, out, findings};
  c.status();
  c.priority();
  c.patient();
  c.referrer();
  c.performer();
  c.problem();
  c.work();
  c.targetGroup();
}

}  // namespace hoa::clinic
