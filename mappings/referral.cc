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

}  // namespace hoa::clinic
