#include "mappings/task.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "fhir/json.h"
#include "mappings/clinic_package.h"
#include "mappings/json_writer.h"

namespace hoa::clinic {

using detail::JsonWriter;

namespace {

void readConcepts(const fhir::Registry& registry, std::string_view url, std::map<std::string, std::string, std::less<>>& out) {
  const json::Value* cs = registry.resource(url);
  const json::Value* concepts = cs ? cs->find("concept") : nullptr;
  if (!concepts || !concepts->isArray()) return;
  for (const json::Value* c : *concepts) out.emplace(std::string(c->getString("code")), std::string(c->getString("display")));
}

}  // namespace

std::shared_ptr<const TaskMapping> TaskMapping::loadFile(const fhir::Registry& registry, const std::string& path,
                                                         std::string& error) {
  std::string text;
  if (!readTextFile(path, text, error)) return nullptr;
  auto m = load(registry, text, error);
  if (!m) error = path + ": " + error;
  return m;
}

std::shared_ptr<const TaskMapping> TaskMapping::load(const fhir::Registry& registry, std::string_view text,
                                                     std::string& error) {
  json::Error jerr;
  json::Document doc = json::Document::parse(std::string(text), jerr);
  if (!doc.root() || !doc.root()->isObject()) {
    error = jerr ? "line " + std::to_string(jerr.line) + ": " + jerr.message : "a mapping file is a JSON object";
    return nullptr;
  }
  auto m = std::make_shared<TaskMapping>();
  const json::Value* statuses = doc.root()->find("statuses");
  const json::Value* systems = doc.root()->find("systems");
  if (!statuses || !statuses->isObject() || !systems || !systems->isObject()) {
    error = "the Task mapping needs \"statuses\" and \"systems\"";
    return nullptr;
  }
  auto flag = [](const json::Value* v, std::string_view k) {
    const json::Value* f = v->find(k);
    return f && f->type == json::Type::Bool && f->boolean;
  };
  for (size_t i = 0; i < statuses->size; ++i) {
    const json::Value* v = statuses->members[i].value;
    Status s;
    s.taskStatus = std::string(v->getString("taskStatus"));
    s.display = std::string(v->getString("display"));
    s.careStartDeadline = flag(v, "careStartDeadline");
    s.statusReason = flag(v, "statusReason");
    s.currentOffering = flag(v, "currentOffering");
    s.outputs = flag(v, "outputs");
    if (s.taskStatus.empty() || s.display.empty()) {
      error = "status '" + std::string(statuses->members[i].key) + "' needs taskStatus and display";
      return nullptr;
    }
    m->statuses_.emplace(std::string(statuses->members[i].key), std::move(s));
  }
  for (size_t i = 0; i < systems->size; ++i)
    m->systems_.emplace(std::string(systems->members[i].key), std::string(systems->members[i].value->text));
  for (const char* key : {"referralStatus", "statusReason", "offering", "taskIdentifier", "herId", "careStartDeadline",
                          "profile"})
    if (m->system(key).empty()) {
      error = std::string("\"systems\" lacks \"") + key + "\"";
      return nullptr;
    }
  for (std::string_view code : {"received", "under-assessment", "accepted", "rejected", "forwarded", "in-progress",
                                "on-hold", "completed", "cancelled"})
    if (!m->status(code)) {
      error = "the status table lacks '" + std::string(code) + "'";
      return nullptr;
    }
  if (const json::Value* o = doc.root()->find("owner")) m->ownerDisplay_ = std::string(o->getString("display"));
  if (const json::Value* o = doc.root()->find("inputType")) m->inputTypeText_ = std::string(o->getString("text"));
  if (const json::Value* o = doc.root()->find("outputType")) m->outputTypeText_ = std::string(o->getString("text"));
  readConcepts(registry, m->system("statusReason"), m->reasons_);
  readConcepts(registry, m->system("offering"), m->offerings_);
  if (m->reasons_.empty() || m->offerings_.empty()) {
    error = "the CodeSystems " + std::string(m->system("statusReason")) + " and " + std::string(m->system("offering")) +
            " are not loaded";
    return nullptr;
  }
  return m;
}

const TaskMapping::Status* TaskMapping::status(std::string_view code) const {
  auto it = statuses_.find(code);
  return it == statuses_.end() ? nullptr : &it->second;
}

std::string_view TaskMapping::system(std::string_view key) const {
  auto it = systems_.find(key);
  return it == systems_.end() ? std::string_view() : std::string_view(it->second);
}

std::optional<std::string> TaskMapping::reasonDisplay(std::string_view code) const {
  auto it = reasons_.find(code);
  return it == reasons_.end() ? std::nullopt : std::optional<std::string>(it->second);
}

std::optional<std::string> TaskMapping::offeringDisplay(std::string_view code) const {
  auto it = offerings_.find(code);
  return it == offerings_.end() ? std::nullopt : std::optional<std::string>(it->second);
}

std::string TaskMapping::buildTask(const Referral& r, const ReferralState& state, const TaskRefs& refs,
                                   int versionId, bool pretty) const {
  const Status* row = status(state.status);
  if (!row) row = status("received");
  JsonWriter w(pretty);
  auto reference = [&](std::string_view key, const std::string& ref, const std::string& display) {
    w.beginObject(key);
    if (!ref.empty()) w.string("reference", ref);
    if (!display.empty()) w.string("display", display);
    w.endObject();
  };
  w.beginObject();
  w.string("resourceType", "Task");
  if (!refs.taskId.empty()) w.string("id", refs.taskId);
  w.beginObject("meta");
  if (versionId > 0) w.string("versionId", std::to_string(versionId));
  if (!state.lastModified.empty()) w.string("lastUpdated", state.lastModified);
  w.beginArray("profile");
  w.string(system("profile"));
  w.endArray();
  w.endObject();
  if (state.careStartDeadline) {
    w.beginArray("extension");
    w.beginObject();
    w.string("url", system("careStartDeadline"));
    w.date("valueDate", state.careStartDeadline);
    w.endObject();
    w.endArray();
  }
  w.beginArray("identifier");
  w.beginObject();
  w.string("system", system("taskIdentifier"));
  w.string("value", r.id);
  w.endObject();
  w.endArray();
  if (!refs.serviceRequest.empty()) {
    w.beginArray("basedOn");
    w.beginObject();
    w.string("reference", refs.serviceRequest);
    w.endObject();
    w.endArray();
  }
  w.string("status", row->taskStatus);
  if (row->statusReason && (!state.reasonCode.empty() || !state.reasonText.empty())) {
    w.beginObject("statusReason");
    if (!state.reasonCode.empty()) {
      w.beginArray("coding");
      w.beginObject();
      w.string("system", system("statusReason"));
      w.string("code", state.reasonCode);
      if (auto d = reasonDisplay(state.reasonCode); d && !d->empty()) w.string("display", *d);
      w.endObject();
      w.endArray();
    }
    if (!state.reasonText.empty()) w.string("text", state.reasonText);
    w.endObject();
  }
  w.beginObject("businessStatus");
  w.beginArray("coding");
  w.beginObject();
  w.string("system", system("referralStatus"));
  w.string("code", state.status);
  w.string("display", row->display);
  w.endObject();
  w.endArray();
  w.string("text", row->display);
  w.endObject();
  w.string("intent", "order");
  w.string("priority", r.priority.empty() ? "routine" : r.priority);
  if (!refs.serviceRequest.empty()) reference("focus", refs.serviceRequest, "");
  // `for`: the stored Patient, and the national id so the referrer can match it.
  w.beginObject("for");
  if (!refs.patient.empty()) w.string("reference", refs.patient);
  if (!r.patient.nationalId.empty()) {
    w.beginObject("identifier");
    w.string("system", system(r.patient.idType == "dnr" ? "dnr" : "fnr"));
    w.string("value", r.patient.nationalId);
    w.endObject();
  }
  if (!r.patient.name.empty()) w.string("display", r.patient.name);
  w.endObject();
  if (!r.receivedAt.empty()) w.string("authoredOn", r.receivedAt);
  if (!state.lastModified.empty()) w.string("lastModified", state.lastModified);
  std::string requesterDisplay = r.referrer.name;
  if (!r.referrer.organizationName.empty())
    requesterDisplay += (requesterDisplay.empty() ? "" : ", ") + r.referrer.organizationName;
  reference("requester", refs.requester, requesterDisplay);
  w.beginObject("owner");
  w.string("type", "Organization");
  w.beginObject("identifier");
  w.string("system", system("herId"));
  w.string("value", refs.clinicHerId);
  w.endObject();
  if (!ownerDisplay_.empty()) w.string("display", ownerDisplay_);
  w.endObject();
  w.beginObject("restriction");
  w.beginObject("period");
  w.date("end", r.assessmentDeadline);
  w.endObject();
  w.endObject();
  if (row->currentOffering && !state.currentOffering.empty()) {
    w.beginArray("input");
    w.beginObject();
    w.beginObject("type");
    w.string("text", inputTypeText_.empty() ? "current-offering" : inputTypeText_);
    w.endObject();
    w.beginObject("valueCodeableConcept");
    w.beginArray("coding");
    w.beginObject();
    w.string("system", system("offering"));
    w.string("code", state.currentOffering);
    if (auto d = offeringDisplay(state.currentOffering); d && !d->empty()) w.string("display", *d);
    w.endObject();
    w.endArray();
    w.endObject();
    w.endObject();
    w.endArray();
  }
  if (row->outputs && !state.outputs.empty()) {
    w.beginArray("output");
    for (const std::string& o : state.outputs) {
      w.beginObject();
      w.beginObject("type");
      w.string("text", outputTypeText_.empty() ? "questionnaire-response" : outputTypeText_);
      w.endObject();
      w.beginObject("valueReference");
      w.string("reference", o);
      w.endObject();
      w.endObject();
    }
    w.endArray();
  }
  w.endObject();
  return w.take();
}

std::vector<std::string> allowedTransitions(std::string_view from) {
  if (from == "received") return {"under-assessment", "cancelled"};
  if (from == "under-assessment") return {"accepted", "rejected", "forwarded", "cancelled"};
  if (from == "accepted") return {"in-progress", "on-hold", "cancelled"};
  if (from == "in-progress") return {"on-hold", "completed", "cancelled"};
  if (from == "on-hold") return {"in-progress", "cancelled"};
  return {};  // rejected, forwarded, completed, cancelled: final
}

bool isFinalStatus(std::string_view s) {
  return s == "rejected" || s == "forwarded" || s == "completed" || s == "cancelled";
}

TransitionResult applyTransition(const TaskMapping& mapping, const ReferralState& current,
                                 const TransitionRequest& req, Date receivedOn, const RuleOptions& options,
                                 Lang lang) {
  TransitionResult res;
  auto fail = [&](std::string_view code, std::string expression, const std::map<std::string, std::string>& args,
                  int status) {
    res.issues.add(ruleIssue(*findRule(code), options, lang, std::move(expression), nullptr, args));
    res.httpStatus = status;
  };
  if (!mapping.status(req.to)) {
    fail("status-unknown", "to", {{"value", req.to}}, 422);
    return res;
  }
  res.allowed = allowedTransitions(current.status);
  if (std::find(res.allowed.begin(), res.allowed.end(), req.to) == res.allowed.end()) {
    std::string allowed;
    for (const std::string& a : res.allowed) allowed += (allowed.empty() ? "" : ", ") + a;
    if (allowed.empty()) allowed = lang == Lang::En ? "none (the status is final)" : "ingen (statusen er endelig)";
    fail("transition-not-allowed", "to", {{"value", req.to}, {"from", current.status}, {"allowed", allowed}}, 409);
    return res;
  }
  const TaskMapping::Status* row = mapping.status(req.to);
  ReferralState next = current;
  next.status = req.to;
  next.lastModified = req.at;
  next.reasonCode.clear();
  next.reasonText.clear();
  if (row->statusReason) {
    if (req.reason.empty() && req.to != "cancelled") {
      fail("reason-required", "reason", {{"value", req.to}}, 422);
      return res;
    }
    if (mapping.reasonDisplay(req.reason)) next.reasonCode = req.reason;
    else next.reasonText = req.reason;
  }
  if (row->careStartDeadline) {
    if (req.careStartDeadline.empty()) {
      fail("care-start-deadline-required", "careStartDeadline", {}, 422);
      return res;
    }
    auto d = Date::parse(req.careStartDeadline);
    if (!d || *d < receivedOn) {
      fail("care-start-deadline-invalid", "careStartDeadline", {{"value", req.careStartDeadline}}, 422);
      return res;
    }
    next.careStartDeadline = d;
  }
  if (!req.offering.empty()) {
    if (!mapping.offeringDisplay(req.offering)) {
      fail("offering-unknown", "offering", {{"value", req.offering}}, 422);
      return res;
    }
    next.currentOffering = req.offering;
  }
  res.ok = true;
  res.next = std::move(next);
  return res;
}

std::string toJson(const ReferralState& st) {
  JsonWriter w(false);
  w.beginObject();
  w.string("status", st.status);
  if (!st.reasonCode.empty()) w.string("reasonCode", st.reasonCode);
  if (!st.reasonText.empty()) w.string("reasonText", st.reasonText);
  if (st.careStartDeadline) w.date("careStartDeadline", st.careStartDeadline);
  if (!st.currentOffering.empty()) w.string("currentOffering", st.currentOffering);
  w.beginArray("outputs");
  for (const std::string& o : st.outputs) w.string(o);
  w.endArray();
  if (!st.lastModified.empty()) w.string("lastModified", st.lastModified);
  w.endObject();
  return w.take();
}

std::optional<ReferralState> referralStateFromJson(std::string_view text, std::string& error) {
  json::Error err;
  json::Document doc = json::Document::parse(std::string(text), err);
  if (!doc.root() || !doc.root()->isObject()) {
    error = err ? err.message : "a referral state must be a JSON object";
    return std::nullopt;
  }
  const json::Value* r = doc.root();
  ReferralState st;
  st.status = std::string(r->getString("status", "received"));
  st.reasonCode = std::string(r->getString("reasonCode"));
  st.reasonText = std::string(r->getString("reasonText"));
  if (auto d = r->getString("careStartDeadline"); !d.empty()) st.careStartDeadline = Date::parse(d);
  st.currentOffering = std::string(r->getString("currentOffering"));
  if (const json::Value* o = r->find("outputs"); o && o->isArray())
    for (const json::Value* v : *o)
      if (v->isString()) st.outputs.emplace_back(v->text);
  st.lastModified = std::string(r->getString("lastModified"));
  return st;
}

}  // namespace hoa::clinic
