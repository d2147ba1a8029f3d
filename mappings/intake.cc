#include "mappings/intake.h"

#include <charconv>

namespace hoa::clinic {

std::string_view toString(Transport t) {
  switch (t) {
    case Transport::RestCreate: return "rest-create";
    case Transport::Transaction: return "transaction";
    case Transport::Message: return "message";
  }
  return "";
}

namespace {

constexpr std::string_view kV2EventSystem = "http://terminology.hl7.org/CodeSystem/v2-0003";

bool parseInt(std::string_view s, int& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// The last Sunday of `month` in `year`.
Date lastSunday(int year, int month) {
  Date d = *Date::fromYmd(year, month, month == 3 || month == 10 ? 31 : 30);
  while (d.dayOfWeek() != std::chrono::Sunday) d = d.addDays(-1);
  return d;
}

std::string joinName(const FieldValues& f, const std::string& prefix) {
  if (auto t = f.text(prefix + ".text")) return *t;
  std::string name;
  for (const std::string& g : f.texts(prefix + ".given")) name += (name.empty() ? "" : " ") + g;
  if (auto fam = f.text(prefix + ".family")) name += (name.empty() ? "" : " ") + *fam;
  return name;
}

}  // namespace

std::optional<Date> osloDateOf(std::string_view s) {
  // YYYY-MM-DDThh:mm:ss[.f+](Z|±hh:mm)
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return std::nullopt;
  int y, mo, d, h, mi, sec;
  if (!parseInt(s.substr(0, 4), y) || !parseInt(s.substr(5, 2), mo) || !parseInt(s.substr(8, 2), d) ||
      !parseInt(s.substr(11, 2), h) || !parseInt(s.substr(14, 2), mi) || !parseInt(s.substr(17, 2), sec))
    return std::nullopt;
  auto date = Date::fromYmd(y, mo, d);
  if (!date || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == start) return std::nullopt;
  }
  int offsetMinutes = 0;
  std::string_view tz = s.substr(i);
  if (tz == "Z") {
    offsetMinutes = 0;
  } else if (tz.size() == 6 && (tz[0] == '+' || tz[0] == '-') && tz[3] == ':') {
    int oh, om;
    if (!parseInt(tz.substr(1, 2), oh) || !parseInt(tz.substr(4, 2), om) || oh > 14 || om > 59) return std::nullopt;
    offsetMinutes = (tz[0] == '-' ? -1 : 1) * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  // Minutes since the epoch in UTC.
  int64_t minutes = int64_t{Date().daysUntil(*date)} * 1440 + h * 60 + mi - offsetMinutes;
  auto floorDiv = [](int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); };
  Date utcDate = Date().addDays(floorDiv(minutes, 1440));
  int64_t utcMinuteOfDay = minutes - int64_t{Date().daysUntil(utcDate)} * 1440;
  // Summer time: from the last Sunday of March 01:00 UTC to the last Sunday of October 01:00 UTC.
  int year = utcDate.year();
  auto at = [&](Date day, int64_t minuteOfDay) { return int64_t{Date().daysUntil(day)} * 1440 + minuteOfDay; };
  int64_t now = at(utcDate, utcMinuteOfDay);
  bool summer = now >= at(lastSunday(year, 3), 60) && now < at(lastSunday(year, 10), 60);
  int64_t local = minutes + (summer ? 120 : 60);
  return Date().addDays(floorDiv(local, 1440));
}

std::unique_ptr<ReferralIntake> ReferralIntake::create(const fhir::Registry& registry, const fhir::Validator& validator,
                                                       const std::string& mappingFile, IntakeConfig config,
                                                       std::string& error) {
  std::unique_ptr<ReferralIntake> in(new ReferralIntake(registry, validator));
  in->mapping_ = Mapping::loadFile(registry, mappingFile, error);
  if (!in->mapping_) return nullptr;
  if (in->mapping_->focus() != "ServiceRequest") {
    error = mappingFile + ": the referral mapping must have the focus ServiceRequest";
    return nullptr;
  }
  // Every field the rules and the model read must be in the file: a missing one is a
  // start-up error, not a failure on the first referral.
  static const std::vector<std::string_view> kFieldsRead = {
      "sourceIdentifier.system", "sourceIdentifier.value", "status", "priority", "authoredOn", "patient",
      "patient.fnr", "patient.dnr", "patient.name.text", "patient.name.given", "patient.name.family",
      "patient.birthDate", "patient.gender", "referrer.role", "referrer.practitioner", "referrer.practice",
      "referrer.hpr", "referrer.name.text", "referrer.name.given", "referrer.name.family", "referrer.herId",
      "referrer.orgNumber", "referrer.organizationName", "problem.concepts", "problem.codings",
      "problem.descriptions", "work.observation", "work.attachment", "work.sickLeavePercent",
      "work.sickLeaveComponent", "work.sickLeaveSince", "work.employer", "work.occupation", "offerings",
      "needsCoordinatedServices", "performer.notClinic"};
  if (auto missing = in->mapping_->missingFields(kFieldsRead); !missing.empty()) {
    error = mappingFile + ": the mapping lacks the field '" + missing[0] + "'" +
            (missing.size() > 1 ? " (and " + std::to_string(missing.size() - 1) + " more)" : "");
    return nullptr;
  }
  const std::string sd = config.canonicalBase + "/StructureDefinition/";
  const std::pair<const char*, const char*> profiles[] = {
      {"ServiceRequest", "hoa-referral"},         {"Patient", "hoa-patient"},
      {"Practitioner", "hoa-practitioner"},       {"PractitionerRole", "hoa-practitionerrole"},
      {"Condition", "hoa-condition"},
  };
  for (const auto& [type, id] : profiles) {
    std::string url = sd + id;
    if (!registry.resource(url)) {
      error = "the clinic's profile " + url + " is not loaded (is the clinic package in the registry?)";
      return nullptr;
    }
    in->validation_.profilesByType[type].push_back(url);
  }
  // A receiver may ignore extensions it does not know (FHIR's rule for non-modifier
  // extensions): a GP system's own extensions are warnings, not a reason to refuse.
  in->validation_.unknownExtensionsAreErrors = false;
  in->config_ = std::move(config);
  return in;
}

IntakeResult ReferralIntake::process(const fhir::Node& root, const IntakeContext& ctx) const {
  IntakeResult res;
  RuleOptions ro;
  ro.clinicHerId = config_.clinicHerId;
  ro.allowSyntheticIds = config_.allowSyntheticIds;
  ro.ruleSystem = config_.canonicalBase + std::string(kRuleCodeSystemPath);
  auto rule = [&](std::string_view code, const fhir::Node* at, const std::map<std::string, std::string>& args = {}) {
    std::string where = at ? fhir::fhirPathOf(root, at) : std::string(root.type->name);
    res.issues.add(ruleIssue(*findRule(code), ro, ctx.lang, where, at ? at : &root, args));
  };

  // 1. The transport form and the ServiceRequest.
  const std::string& rootType = root.type->name;
  const fhir::Node* sr = nullptr;
  if (rootType == "ServiceRequest") {
    res.transport = Transport::RestCreate;
    sr = &root;
  } else if (rootType == "Bundle") {
    const fhir::Node* type = root.child("type");
    std::string_view bt = type && type->hasValue ? type->value : std::string_view();
    std::vector<const fhir::Node*> entries;  // resources in entry order
    for (const fhir::Node* e : root.children)
      if (e->def->name == "entry")
        if (const fhir::Node* r = e->child("resource")) entries.push_back(r);
    std::vector<const fhir::Node*> srs;
    for (const fhir::Node* r : entries)
      if (r->type->name == "ServiceRequest") srs.push_back(r);
    if (bt == "transaction") {
      res.transport = Transport::Transaction;
      if (srs.size() == 1) sr = srs[0];
    } else if (bt == "message") {
      res.transport = Transport::Message;
      const fhir::Node* header = entries.empty() ? nullptr : entries[0];
      if (!header || header->type->name != "MessageHeader") {
        rule("message-header-first", header ? header : &root);
      } else {
        const fhir::Node* ev = header->child("event");  // eventCoding
        const fhir::Node* sys = ev ? ev->child("system") : nullptr;
        const fhir::Node* code = ev ? ev->child("code") : nullptr;
        std::string s = sys && sys->hasValue ? std::string(sys->value) : "";
        std::string c = code && code->hasValue ? std::string(code->value) : "";
        std::string ours = config_.canonicalBase + "/CodeSystem/message-event";
        bool ok = (s == ours && c == "referral-new") || (s == kV2EventSystem && c == "I12");
        if (!ok)
          rule("message-event-unsupported", ev ? ev : header,
               {{"value", s + "#" + c}, {"event", ours + "#referral-new"}});
        // The focus must be the ServiceRequest.
        const fhir::Node* focusTarget = nullptr;
        for (const fhir::Node* fo : header->children) {
          if (fo->def->name != "focus") continue;
          const fhir::Node* ref = fo->child("reference");
          if (!ref || !ref->hasValue) continue;
          const fhir::Node* r = fhir::findBundleEntry(root, ref->value);
          if (r && r->type->name == "ServiceRequest") focusTarget = r;
        }
        if (!focusTarget) rule("message-focus-missing", header);
        else sr = focusTarget;
      }
    } else {
      rule("unsupported-resource", type ? type : &root, {{"value", "Bundle " + std::string(bt)}});
    }
    if (!sr && res.issues.empty()) {
      if (srs.empty()) rule("referral-not-found", &root);
      else rule("referral-ambiguous", &root, {{"value", std::to_string(srs.size())}});
    }
  } else {
    rule("unsupported-resource", &root, {{"value", rootType}});
  }
  res.serviceRequest = sr;

  // 2. FHIR R4 and the clinic's profiles, over the whole document.
  // One issue per problem (contract section 3): a clinic profile that a resource both
  // claims in meta.profile and gets from profilesByType is checked twice by the validator,
  // which then reports each of its issues twice; keep the first of identical issues.
  fhir::Issues validated = validator_.validate(root, validation_);
  fhir::Issues validation;
  for (fhir::Issue& i : validated.items) {
    bool repeated = false;
    for (const fhir::Issue& have : validation.items)
      repeated = repeated || (have.severity == i.severity && have.code == i.code && have.expression == i.expression &&
                              have.message == i.message && have.detailCode == i.detailCode &&
                              have.fromProfile == i.fromProfile);
    if (!repeated) validation.add(std::move(i));
  }
  bool coreErrors = false;
  for (const fhir::Issue& i : validation.items)
    coreErrors = coreErrors || ((i.severity == fhir::Severity::Error || i.severity == fhir::Severity::Fatal) &&
                                !i.fromProfile);
  fhir::Issues transportIssues = std::move(res.issues);
  res.issues = std::move(validation);
  for (fhir::Issue& i : transportIssues.items) res.issues.add(std::move(i));
  if (coreErrors) {
    res.verdict = IntakeResult::Verdict::InvalidFhir;
    return res;
  }
  if (!sr) {
    res.verdict = IntakeResult::Verdict::Rejected;
    return res;
  }

  // 3. The mapping, 4. the business rules.
  FieldValues f = mapping_->evaluate(*sr, &root, {{"clinicHerId", config_.clinicHerId}});
  for (const std::string& e : f.errors())
    res.issues.add(fhir::Issue{fhir::Severity::Error, "processing", "The mapping failed: " + e,
                               fhir::fhirPathOf(root, sr)});
  RuleFindings found;
  checkRules(root, *sr, f, ro, ctx.lang, res.issues, found);
  if (res.issues.hasErrors()) {
    res.verdict = IntakeResult::Verdict::Rejected;
    return res;
  }

  // 5. The internal model. The receipt instant is the caller's; without one there is no
  // legal deadline, so the referral cannot be taken in.
  auto receivedOn = osloDateOf(ctx.receivedAt);
  if (!receivedOn) {
    res.issues.add(fhir::Issue{fhir::Severity::Error, "processing",
                               "The time of receipt '" + ctx.receivedAt + "' is not an instant",
                               std::string(root.type->name)});
    res.verdict = IntakeResult::Verdict::Rejected;
    return res;
  }
  Referral& r = res.referral;
  r.id = ctx.id;
  r.sourceIdentifier.system = f.text("sourceIdentifier.system").value_or("");
  r.sourceIdentifier.value = f.text("sourceIdentifier.value").value_or("");
  r.receivedAt = ctx.receivedAt;
  r.assessmentDeadline = assessmentDeadline(*receivedOn);
  r.status = "received";
  r.priority = f.text("priority").value_or("routine");
  r.authoredOn = f.text("authoredOn").value_or("");
  r.patient.idType = found.idType;
  r.patient.nationalId = found.nationalId;
  r.patient.name = joinName(f, "patient.name");
  if (auto bd = f.text("patient.birthDate"); bd && bd->size() == 10) r.patient.birthDate = Date::parse(*bd);
  if (!r.patient.birthDate) r.patient.birthDate = found.birthDate;
  r.patient.gender = f.text("patient.gender").value_or(found.genderFromNumber);
  r.referrer.hpr = f.text("referrer.hpr").value_or("");
  r.referrer.name = joinName(f, "referrer.name");
  r.referrer.herId = f.text("referrer.herId").value_or("");
  r.referrer.orgNumber = f.text("referrer.orgNumber").value_or("");
  r.referrer.organizationName = f.text("referrer.organizationName").value_or("");
  r.problem.category = found.problemCategory;
  for (const fhir::fhirpath::Item& i : f.items("problem.codings")) {
    if (!i.isNode()) continue;
    CodedValue c;
    if (const fhir::Node* n = i.node()->child("system")) c.system = std::string(n->value);
    if (const fhir::Node* n = i.node()->child("code")) c.code = std::string(n->value);
    if (const fhir::Node* n = i.node()->child("display")) c.display = std::string(n->value);
    bool dup = false;
    for (const CodedValue& have : r.problem.codes) dup = dup || (have.system == c.system && have.code == c.code);
    if (!dup) r.problem.codes.push_back(std::move(c));
  }
  r.problem.description = found.problemDescription;
  r.work.attachment = f.text("work.attachment").value_or("");
  if (r.work.attachment == "sick-listed") {
    r.work.sickLeavePercent = f.text("work.sickLeavePercent");
    if (auto since = f.text("work.sickLeaveSince"); since && since->size() >= 10)
      r.work.sickLeaveSince = Date::parse(since->substr(0, 10));
  }
  r.work.employer = f.text("work.employer").value_or("");
  r.work.occupation = f.text("work.occupation").value_or("");
  for (std::string& o : f.texts("offerings"))
    if (std::find(r.offerings.begin(), r.offerings.end(), o) == r.offerings.end()) r.offerings.push_back(std::move(o));
  r.needsCoordinatedServices = f.text("needsCoordinatedServices").value_or("false") == "true";
  for (const fhir::Issue& i : res.issues.items)
    if (i.severity == fhir::Severity::Warning && !i.detailCode.empty() &&
        std::find(r.warnings.begin(), r.warnings.end(), i.detailCode) == r.warnings.end())
      r.warnings.push_back(i.detailCode);
  res.verdict = IntakeResult::Verdict::Accepted;
  return res;
}

}  // namespace hoa::clinic
