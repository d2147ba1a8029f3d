#include "mappings/referral.h"

#include "mappings/json_writer.h"

namespace hoa::clinic {

using detail::JsonWriter;

std::string toJson(const Referral& r, bool pretty) {
  JsonWriter w(pretty);
  w.beginObject();
  w.string("id", r.id);
  w.beginObject("sourceIdentifier");
  w.string("system", r.sourceIdentifier.system);
  w.string("value", r.sourceIdentifier.value);
  w.endObject();
  w.string("receivedAt", r.receivedAt);
  w.date("assessmentDeadline", r.assessmentDeadline);
  w.string("status", r.status);
  w.string("priority", r.priority);
  w.string("authoredOn", r.authoredOn);
  w.beginObject("patient");
  w.string("idType", r.patient.idType);
  w.string("nationalId", r.patient.nationalId);
  w.string("name", r.patient.name);
  w.date("birthDate", r.patient.birthDate);
  w.string("gender", r.patient.gender);
  w.endObject();
  w.beginObject("referrer");
  w.string("hpr", r.referrer.hpr);
  w.string("name", r.referrer.name);
  w.string("herId", r.referrer.herId);
  w.string("orgNumber", r.referrer.orgNumber);
  w.string("organizationName", r.referrer.organizationName);
  w.endObject();
  w.beginObject("problem");
  w.string("category", r.problem.category);
  w.beginArray("codes");
  for (const CodedValue& c : r.problem.codes) {
    w.beginObject();
    w.string("system", c.system);
    w.string("code", c.code);
    w.string("display", c.display);
    w.endObject();
  }
  w.endArray();
  w.string("description", r.problem.description);
  w.endObject();
  w.beginObject("work");
  w.string("attachment", r.work.attachment);
  w.number("sickLeavePercent", r.work.sickLeavePercent);
  w.date("sickLeaveSince", r.work.sickLeaveSince);
  w.string("employer", r.work.employer);
  w.string("occupation", r.work.occupation);
  w.endObject();
  w.beginArray("offerings");
  for (const std::string& o : r.offerings) w.string(o);
  w.endArray();
  w.boolean("needsCoordinatedServices", r.needsCoordinatedServices);
  w.beginArray("warnings");
  for (const std::string& o : r.warnings) w.string(o);
  w.endArray();
  w.endObject();
  return w.take();
}

namespace {

std::string str(const json::Value* v, std::string_view key) {
  if (!v || !v->isObject()) return {};
  return std::string(v->getString(key));
}

std::optional<Date> date(const json::Value* v, std::string_view key) {
  std::string s = str(v, key);
  if (s.empty()) return std::nullopt;
  return Date::parse(s);
}

}  // namespace

std::optional<Referral> referralFromJson(std::string_view text, std::string& error) {
  json::Error err;
  json::Document doc = json::Document::parse(std::string(text), err);
  if (!doc.root() || !doc.root()->isObject()) {
    error = err ? err.message : "a referral must be a JSON object";
    return std::nullopt;
  }
  const json::Value* root = doc.root();
  Referral r;
  r.id = str(root, "id");
  const json::Value* src = root->find("sourceIdentifier");
  r.sourceIdentifier = {str(src, "system"), str(src, "value")};
  r.receivedAt = str(root, "receivedAt");
  if (auto d = date(root, "assessmentDeadline")) r.assessmentDeadline = *d;
  r.status = str(root, "status");
  r.priority = str(root, "priority");
  r.authoredOn = str(root, "authoredOn");
  const json::Value* p = root->find("patient");
  r.patient.idType = str(p, "idType");
  r.patient.nationalId = str(p, "nationalId");
  r.patient.name = str(p, "name");
  r.patient.birthDate = date(p, "birthDate");
  r.patient.gender = str(p, "gender");
  const json::Value* ref = root->find("referrer");
  r.referrer.hpr = str(ref, "hpr");
  r.referrer.name = str(ref, "name");
  r.referrer.herId = str(ref, "herId");
  r.referrer.orgNumber = str(ref, "orgNumber");
  r.referrer.organizationName = str(ref, "organizationName");
  const json::Value* prob = root->find("problem");
  r.problem.category = str(prob, "category");
  r.problem.description = str(prob, "description");
  if (const json::Value* codes = prob && prob->isObject() ? prob->find("codes") : nullptr; codes && codes->isArray())
    for (const json::Value* c : *codes) r.problem.codes.push_back({str(c, "system"), str(c, "code"), str(c, "display")});
  const json::Value* work = root->find("work");
  r.work.attachment = str(work, "attachment");
  if (const json::Value* pct = work && work->isObject() ? work->find("sickLeavePercent") : nullptr;
      pct && pct->type == json::Type::Number)
    r.work.sickLeavePercent = std::string(pct->text);
  r.work.sickLeaveSince = date(work, "sickLeaveSince");
  r.work.employer = str(work, "employer");
  r.work.occupation = str(work, "occupation");
  if (const json::Value* o = root->find("offerings"); o && o->isArray())
    for (const json::Value* v : *o)
      if (v->isString()) r.offerings.emplace_back(v->text);
  if (const json::Value* b = root->find("needsCoordinatedServices"); b && b->type == json::Type::Bool)
    r.needsCoordinatedServices = b->boolean;
  if (const json::Value* w = root->find("warnings"); w && w->isArray())
    for (const json::Value* v : *w)
      if (v->isString()) r.warnings.emplace_back(v->text);
  return r;
}

}  // namespace hoa::clinic
