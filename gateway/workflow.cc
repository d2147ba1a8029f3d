#include "gateway/workflow.h"

#include <algorithm>
#include <map>

#include "fhir/json.h"
#include "gateway/delivery.h"
#include "gateway/search.h"
#include "gateway/timeutil.h"
#include "gateway/tree_edit.h"
#include "mappings/json_writer.h"

namespace hoa::gateway {

using clinic::Lang;
using fhir::Node;

namespace {

// A job's refusal: rolls its writes back and becomes the response.
struct Refusal {
  int status;
  fhir::Issues issues;
};

Refusal refusal(int status, std::string code, const Text& text, Lang lang) {
  return {status, oneIssue(fhir::Severity::Error, std::move(code), text.in(lang))};
}

void append(fhir::Issues& to, const fhir::Issues& from) {
  to.items.insert(to.items.end(), from.items.begin(), from.items.end());
}

fhir::ParseOptions parseOptions(const GatewayConfig& c) {
  fhir::ParseOptions o;
  o.limits.maxInputBytes = static_cast<size_t>(c.maxBodyBytes);
  o.limits.maxDepth = 64;
  o.limits.maxStringBytes = static_cast<size_t>(c.maxBodyBytes);
  o.limits.maxValues = 200000;
  return o;
}

// Parses the request body in the format its Content-Type names. On failure `status` and
// `issues` say why (415, 400).
std::optional<fhir::ParseResult> parseBody(const Services& s, const HttpRequest& req, fhir::Issues& issues,
                                           int& status, Lang lang) {
  std::optional<fhir::Format> fmt = requestFormat(req);
  if (!fmt) {
    status = 415;
    issues = oneIssue(fhir::Severity::Error, "not-supported",
                      Text{"Innholdstypen '" + req.header("Content-Type") +
                               "' støttes ikke: send application/fhir+json eller application/fhir+xml",
                           "The content type '" + req.header("Content-Type") +
                               "' is not supported: send application/fhir+json or application/fhir+xml"}
                          .in(lang));
    return std::nullopt;
  }
  if (req.body.empty()) {
    status = 400;
    issues = oneIssue(fhir::Severity::Error, "required",
                      Text{"Forespørselen har ingen ressurs", "The request has no resource in its body"}.in(lang));
    return std::nullopt;
  }
  fhir::ParseResult parsed = *fmt == fhir::Format::Json ? fhir::parseJson(*s.registry, req.body, parseOptions(*s.config))
                                                        : fhir::parseXml(*s.registry, req.body, parseOptions(*s.config));
  if (!parsed.doc.root() || parsed.issues.hasErrors()) {
    status = 400;
    issues = parsed.issues;
    if (issues.empty())
      issues = oneIssue(fhir::Severity::Fatal, "structure",
                        Text{"Innholdet kan ikke leses som en FHIR-ressurs", "The body cannot be read as a FHIR resource"}
                            .in(lang));
    return std::nullopt;
  }
  return parsed;
}

std::string str(const Node* n, std::string_view child) {
  if (!n) return {};
  const Node* c = n->child(child);
  return c && c->hasValue ? std::string(c->value) : std::string();
}

std::string refsJsonOf(const std::string& serviceRequest, const std::string& patient, const std::string& requester,
                       const std::vector<SubmitResult::Entry>& entries, const SubmitResult& res) {
  clinic::detail::JsonWriter w(false);
  w.beginObject();
  w.string("serviceRequest", serviceRequest);
  if (!patient.empty()) w.string("patient", patient);
  if (!requester.empty()) w.string("requester", requester);
  w.beginArray("entries");
  for (const auto& e : entries) {
    w.beginObject();
    if (!e.fullUrl.empty()) w.string("fullUrl", e.fullUrl);
    if (!e.stored.type.empty()) {
      w.string("type", e.stored.type);
      w.string("id", e.stored.id);
    }
    w.endObject();
  }
  w.endArray();
  if (!res.messageHeaderId.empty()) w.string("messageHeaderId", res.messageHeaderId);
  w.endObject();
  return w.take();
}

struct Refs {
  std::string serviceRequest, patient, requester;
  std::vector<std::pair<std::string, std::pair<std::string, std::string>>> entries;  // fullUrl, (type, id)
};

Refs parseRefs(const std::string& text) {
  Refs r;
  json::Error err;
  json::Document doc = json::Document::parse(text, err);
  if (!doc.root() || !doc.root()->isObject()) return r;
  r.serviceRequest = std::string(doc.root()->getString("serviceRequest"));
  r.patient = std::string(doc.root()->getString("patient"));
  r.requester = std::string(doc.root()->getString("requester"));
  if (const json::Value* es = doc.root()->find("entries"); es && es->isArray())
    for (const json::Value* e : *es)
      if (e->isObject())
        r.entries.push_back({std::string(e->getString("fullUrl")),
                             {std::string(e->getString("type")), std::string(e->getString("id"))}});
  return r;
}

StoredRef toRef(const ResourceRecord& r) { return {r.type, r.id, r.version, r.lastUpdated, r.json}; }

clinic::TaskRefs taskRefsOf(const ReferralRow& row, const Refs& refs, const GatewayConfig& c) {
  clinic::TaskRefs t;
  t.taskId = row.taskId;
  t.serviceRequest = refs.serviceRequest.empty() ? "ServiceRequest/" + row.id : refs.serviceRequest;
  t.patient = refs.patient;
  t.requester = refs.requester;
  t.clinicHerId = c.clinicHerId;
  return t;
}

std::string_view transportName(clinic::Transport t) {
  switch (t) {
    case clinic::Transport::RestCreate: return "rest-create";
    case clinic::Transport::Transaction: return "transaction";
    case clinic::Transport::Message: return "message";
  }
  return "";
}

Text transportMismatch(clinic::Transport expected, std::string_view got) {
  std::string g(got);
  switch (expected) {
    case clinic::Transport::RestCreate:
      return {"POST [base]/ServiceRequest tar imot en ServiceRequest, ikke " + g,
              "POST [base]/ServiceRequest takes a ServiceRequest, not " + g};
    case clinic::Transport::Transaction:
      return {"POST [base] tar imot en Bundle av type transaction, ikke " + g +
                  " (meldinger sendes til $process-message)",
              "POST [base] takes a Bundle of type transaction, not " + g + " (messages go to $process-message)"};
    case clinic::Transport::Message:
      return {"$process-message tar imot en Bundle av type message, ikke " + g,
              "$process-message takes a Bundle of type message, not " + g};
  }
  return {};
}

}  // namespace

std::optional<int> parseETag(std::string_view tag) {
  while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
  while (!tag.empty() && tag.back() == ' ') tag.remove_suffix(1);
  if (tag.rfind("W/", 0) == 0) tag.remove_prefix(2);
  if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"') tag = tag.substr(1, tag.size() - 2);
  if (tag.empty() || tag.size() > 9) return std::nullopt;
  int v = 0;
  for (char c : tag) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

bool Workflow::queueDelivery(WriteTxn& t, const std::string& practice, const std::string& referralId,
                             const StoredRef& stored, const std::string& identifierSystem,
                             const std::string& identifierValue) const {
  const DeliveryConfig& dc = s_.config->delivery;
  if (!dc.enabled || !dc.endpointFor(practice)) return false;
  OutboxEvent e;
  e.practice = practice;
  e.referralId = referralId;
  e.resourceType = stored.type;
  e.resourceId = stored.id;
  e.resourceVersion = stored.version;
  e.identifierSystem = identifierSystem;
  e.identifierValue = identifierValue;
  e.createdAt = stored.lastUpdated;
  t.addOutbox(e);
  return true;
}

void Workflow::notifyDelivery(const std::string& practice) const {
  if (s_.delivery) s_.delivery->notify(practice);
}

std::string Workflow::modelJson(const ReferralRow& row) const {
  std::string error;
  auto r = clinic::referralFromJson(row.modelJson, error);
  if (!r) return row.modelJson;
  r->status = row.status;
  return clinic::toJson(*r);
}

// --- submit ------------------------------------------------------------------------------

SubmitResult Workflow::submit(const Principal& who, const HttpRequest& req, clinic::Transport expected,
                              const std::string& ifNoneExist, Lang lang) const {
  SubmitResult res;
  res.transport = expected;
  if (!who.isReferrer()) {
    res.status = 403;
    res.issues = oneIssue(fhir::Severity::Error, "forbidden",
                          Text{"Bare henvisere kan sende henvisninger; klinikkens sertifikat kan ikke det",
                               "Only referrers send referrals; the clinic's certificate cannot"}
                              .in(lang));
    return res;
  }
  std::optional<fhir::ParseResult> parsed = parseBody(s_, req, res.issues, res.status, lang);
  if (!parsed) return res;
  Node* root = parsed->doc.root();
  const std::string rootType = root->type->name;
  const std::string bundleType = rootType == "Bundle" ? str(root, "type") : "";
  bool matches = (expected == clinic::Transport::RestCreate && rootType == "ServiceRequest") ||
                 (expected == clinic::Transport::Transaction && bundleType == "transaction") ||
                 (expected == clinic::Transport::Message && bundleType == "message");
  if (!matches) {
    res.status = 400;
    res.issues = oneIssue(fhir::Severity::Error, "invalid",
                          transportMismatch(expected, bundleType.empty() ? rootType : "Bundle (" + bundleType + ")").in(lang),
                          rootType);
    return res;
  }
  if (expected == clinic::Transport::Message) {
    // The request's MessageHeader: the response message refers to it.
    if (const Node* entry = root->child("entry"))
      if (const Node* mh = entry->child("resource"); mh && mh->type->name == "MessageHeader") {
        res.messageHeaderId = str(mh, "id");
        if (const Node* ev = mh->child("event")) {
          res.eventSystem = str(ev, "system");
          res.eventCode = str(ev, "code");
        }
        if (const Node* src = mh->child("source")) res.sourceEndpoint = str(src, "endpoint");
        // response.identifier names the request message: its MessageHeader.id, else the
        // Bundle's id.
        if (res.messageHeaderId.empty()) res.messageHeaderId = str(root, "id");
        // ... else the UUID of the MessageHeader's urn:uuid fullUrl (a valid id).
        if (std::string fu = str(entry, "fullUrl"); res.messageHeaderId.empty() && fu.rfind("urn:uuid:", 0) == 0)
          res.messageHeaderId = fu.substr(9);
      }
  }

  const std::string id = newId();
  const std::string receivedAt = nowInstant();
  clinic::IntakeResult ir = s_.intake->process(*root, {id, receivedAt, lang});
  res.issues = parsed->issues;
  append(res.issues, ir.issues);
  if (!ir.accepted()) {
    res.status = ir.httpStatus();
    return res;
  }
  const clinic::Referral& referral = ir.referral;
  const std::string& practice = referral.referrer.herId;
  if (!who.mayAccess(practice)) {
    res.status = 403;
    res.issues = oneIssue(fhir::Severity::Error, "forbidden",
                          Text{"Sertifikatet til '" + who.name + "' kan ikke sende henvisninger for legekontoret med HER-id " +
                                   practice,
                               "The certificate of '" + who.name +
                                   "' may not send referrals for the practice with HER-id " + practice}
                              .in(lang),
                          "ServiceRequest.requester");
    return res;
  }

  auto existingResult = [&](const ReferralRow& row) {
    res.status = 200;
    res.created = false;
    res.referral = row;
    res.entries.clear();
    Refs refs = parseRefs(row.refsJson);
    s_.store->read([&](Queries& q) {
      if (auto sr = q.current("ServiceRequest", row.id)) res.serviceRequest = toRef(*sr);
      if (auto t = q.current("Task", row.taskId)) res.task = toRef(*t);
      for (const auto& [fullUrl, ti] : refs.entries) {
        SubmitResult::Entry e;
        e.fullUrl = fullUrl;
        if (!ti.first.empty())
          if (auto r = q.current(ti.first, ti.second)) e.stored = toRef(*r);
        res.entries.push_back(std::move(e));
      }
      return 0;
    });
  };

  // If-None-Exist: identifier=[system|]value among the practice's referrals.
  if (!ifNoneExist.empty()) {
    auto params = parseQuery(ifNoneExist);
    SearchRequest sr = parseSearch("ServiceRequest", params, 2, 2);
    bool onlyIdentifier = !params.empty() && sr.error.empty() && sr.ignored.empty();
    for (const auto& p : params) onlyIdentifier = onlyIdentifier && p.first == "identifier";
    if (!onlyIdentifier) {
      res.status = 400;
      res.issues = oneIssue(fhir::Severity::Error, "not-supported",
                            Text{"If-None-Exist støtter bare identifier=[system|]verdi",
                                 "If-None-Exist supports identifier=[system|]value only"}
                                .in(lang));
      return res;
    }
    sr.query.practices = who.herIds;
    sr.query.count = 2;
    SearchPage page = s_.store->read([&](Queries& q) { return q.search(sr.query); });
    if (page.total > 1) {
      res.status = 412;
      res.issues = oneIssue(fhir::Severity::Error, "duplicate",
                            Text{"If-None-Exist treffer flere henvisninger", "If-None-Exist matches more than one referral"}
                                .in(lang));
      return res;
    }
    if (page.total == 1) {
      auto row = s_.store->read([&](Queries& q) { return q.referral(page.resources[0].id); });
      if (row) {
        existingResult(*row);
        return res;
      }
    }
  }

  // The resources to store, with their new ids; references rewritten to them.
  struct Item {
    Node* node;
    std::string type, id, fullUrl;
  };
  std::vector<Item> items;
  std::map<const Node*, std::string> newRefs;
  if (expected == clinic::Transport::RestCreate) {
    items.push_back({root, "ServiceRequest", id, ""});
  } else {
    for (Node* entry : root->children) {
      if (entry->name() != "entry") continue;
      Node* resource = entry->child("resource");
      std::string fullUrl = str(entry, "fullUrl");
      if (!resource) {
        items.push_back({nullptr, "", "", fullUrl});
        continue;
      }
      std::string type(resource->type->name);
      if (type == "MessageHeader") {
        items.push_back({nullptr, "", "", fullUrl});
        continue;
      }
      std::string rid = resource == ir.serviceRequest ? id : newId();
      newRefs[resource] = type + "/" + rid;
      items.push_back({resource, type, rid, fullUrl});
    }
    for (Item& it : items) {
      if (!it.node) continue;
      forEachReference(it.node, [&](Node& ref) {
        if (ref.value.empty() || ref.value[0] == '#') return;
        const Node* target = fhir::findBundleEntry(*root, ref.value);
        if (!target) return;
        auto found = newRefs.find(target);
        if (found != newRefs.end()) ref.value = parsed->doc.copy(found->second);
      });
    }
  }
  const std::string now = receivedAt;
  std::vector<ResourceWrite> writes;
  for (Item& it : items) {
    SubmitResult::Entry e;
    e.fullUrl = it.fullUrl;
    if (it.node) {
      setIdAndMeta(parsed->doc, it.node, it.id, 1, now);
      ResourceWrite w;
      w.record = {it.type, it.id, 1, now, fhir::writeJson(*it.node), practice, false};
      w.index = indexRows(it.type, w.record.json);
      e.stored = toRef(w.record);
      if (it.node == ir.serviceRequest || (expected == clinic::Transport::RestCreate)) res.serviceRequest = e.stored;
      writes.push_back(std::move(w));
    }
    res.entries.push_back(std::move(e));
  }

  // The Task's references: the stored Patient and requester when they are resources.
  const Node* srNode = expected == clinic::Transport::RestCreate ? root : ir.serviceRequest;
  std::string patientRef, requesterRef;
  if (const Node* subj = srNode->child("subject")) {
    std::string r = str(subj, "reference");
    if (r.rfind("Patient/", 0) == 0) patientRef = r;
  }
  if (const Node* rq = srNode->child("requester")) {
    std::string r = str(rq, "reference");
    if (r.rfind("PractitionerRole/", 0) == 0 || r.rfind("Practitioner/", 0) == 0) requesterRef = r;
  }
  const std::string taskId = newId();
  clinic::ReferralState state;
  state.status = "received";
  state.lastModified = now;
  clinic::TaskRefs taskRefs{taskId, "ServiceRequest/" + id, patientRef, requesterRef, s_.config->clinicHerId};
  ResourceWrite task;
  task.record = {"Task", taskId, 1, now, s_.tasks->buildTask(referral, state, taskRefs, 1), practice, false};
  task.index = indexRows("Task", task.record.json);
  res.task = toRef(task.record);

  ReferralRow row;
  row.id = id;
  row.practice = practice;
  row.identifierSystem = referral.sourceIdentifier.system;
  row.identifierValue = referral.sourceIdentifier.value;
  row.taskId = taskId;
  row.status = "received";
  row.receivedAt = receivedAt;
  row.deadline = referral.assessmentDeadline.toString();
  row.transport = std::string(transportName(expected));
  row.modelJson = clinic::toJson(referral);
  row.stateJson = clinic::toJson(state);
  row.refsJson = refsJsonOf("ServiceRequest/" + id, patientRef, requesterRef, res.entries, res);
  row.updatedAt = now;

  std::optional<ReferralRow> existing;
  s_.store->write([&](WriteTxn& t) {
    if (!t.insertReferral(row)) {
      existing = t.referralByIdentifier(row.practice, row.identifierSystem, row.identifierValue);
      return;
    }
    for (const ResourceWrite& w : writes) t.put(w);
    t.put(task);
    queueDelivery(t, practice, id, res.task, std::string(s_.tasks->system("taskIdentifier")), id);
  });
  if (existing) {
    existingResult(*existing);
    return res;
  }
  notifyDelivery(practice);
  res.status = 201;
  res.created = true;
  res.referral = row;
  return res;
}

fhir::Issues Workflow::validateOnly(const HttpRequest& req, Lang lang, int& status) const {
  fhir::Issues issues;
  std::optional<fhir::ParseResult> parsed = parseBody(s_, req, issues, status, lang);
  if (!parsed) return issues;
  status = 200;
  Node* root = parsed->doc.root();
  issues = parsed->issues;
  std::string type(root->type->name);
  if (type == "Parameters") {
    // $validate's Parameters form: the parameter "resource".
    for (Node* p : root->children)
      if (p->name() == "parameter" && str(p, "name") == "resource")
        if (Node* r = p->child("resource")) root = r;
    type = root->type->name;
  }
  const std::string bundleType = type == "Bundle" ? str(root, "type") : "";
  if (type == "ServiceRequest" || bundleType == "transaction" || bundleType == "message") {
    clinic::IntakeResult ir = s_.intake->process(*root, {newId(), nowInstant(), lang});
    append(issues, ir.issues);
  } else {
    append(issues, s_.validator->validate(*root));
  }
  if (issues.empty())
    issues = oneIssue(fhir::Severity::Information, "informational",
                      Text{"Ingen feil funnet", "No problems found"}.in(lang));
  return issues;
}

// --- revoke ------------------------------------------------------------------------------

Workflow::UpdateResult Workflow::revoke(const Principal& who, const std::string& id, const HttpRequest& req,
                                        const std::string& ifMatch, Lang lang, bool conditional) const {
  UpdateResult res;
  auto fail = [&](int status, std::string code, const Text& t, std::string expr = {}) {
    res.status = status;
    res.issues = oneIssue(fhir::Severity::Error, std::move(code), t.in(lang), std::move(expr));
    return res;
  };
  auto row = s_.store->read([&](Queries& q) { return q.referral(id); });
  if (!row || !who.mayAccess(row->practice))
    return fail(404, "not-found", {"Fant ikke ServiceRequest/" + id, "ServiceRequest/" + id + " was not found"});
  if (!who.isReferrer())
    return fail(403, "forbidden", {"Bare henviseren kan trekke en henvisning", "Only the referrer can revoke a referral"});
  std::optional<int> expectedVersion;
  if (!ifMatch.empty()) {
    expectedVersion = parseETag(ifMatch);
    if (!expectedVersion)
      return fail(400, "invalid", {"If-Match må være en versjon som W/\"1\"", "If-Match must be a version like W/\"1\""});
  }
  std::optional<fhir::ParseResult> parsed = parseBody(s_, req, res.issues, res.status, lang);
  if (!parsed) return res;
  Node* root = parsed->doc.root();
  if (root->type->name != "ServiceRequest")
    return fail(400, "invalid", {"PUT ServiceRequest/" + id + " tar imot en ServiceRequest",
                                 "PUT ServiceRequest/" + id + " takes a ServiceRequest"});
  if (conditional && str(root, "id").empty()) setPrimitive(parsed->doc, root, "id", id);
  if (str(root, "id") != id)
    return fail(400, "invalid", {"Ressursens id må være " + id + " (som i URL-en)",
                                 "The resource's id must be " + id + " (as in the URL)"},
                "ServiceRequest.id");
  fhir::Issues core = s_.validator->validate(*root);
  if (core.hasErrors()) {
    res.status = 400;
    res.issues = core;
    return res;
  }
  if (str(root, "status") != "revoked")
    return fail(422, "business-rule",
                {"En henvisning kan bare endres ved å trekke den (status revoked); send en ny henvisning for å endre innholdet",
                 "A referral can only be updated to withdraw it (status revoked); send a new referral to change its content"},
                "ServiceRequest.status");
  bool sameIdentifier = false;
  for (const Node* ident : root->childrenNamed("identifier"))
    sameIdentifier = sameIdentifier || (str(ident, "system") == row->identifierSystem && str(ident, "value") == row->identifierValue);
  if (!sameIdentifier)
    return fail(422, "business-rule",
                {"Henvisningens identifier kan ikke endres", "The referral's identifier cannot be changed"},
                "ServiceRequest.identifier");

  std::string error;
  auto state = clinic::referralStateFromJson(row->stateJson, error);
  auto referral = clinic::referralFromJson(row->modelJson, error);
  if (!state || !referral) throw std::runtime_error("stored referral " + id + " cannot be read: " + error);
  if (clinic::isFinalStatus(state->status))
    return fail(409, "conflict",
                {"Henvisningen er allerede avsluttet (" + state->status + ") og kan ikke trekkes",
                 "The referral has already ended (" + state->status + ") and cannot be revoked"});
  const std::string now = nowInstant();
  clinic::TransitionRequest tr;
  tr.to = "cancelled";
  tr.reason = "revoked-by-referrer";
  tr.at = now;
  clinic::RuleOptions opts{s_.config->clinicHerId, s_.config->allowSyntheticIds,
                           s_.config->canonicalBase + std::string(clinic::kRuleCodeSystemPath)};
  auto receivedOn = clinic::osloDateOf(row->receivedAt);
  clinic::TransitionResult t = clinic::applyTransition(*s_.tasks, *state, tr, receivedOn.value_or(clinic::Date()), opts, lang);
  if (!t.ok) {
    res.status = t.httpStatus;
    res.issues = t.issues;
    return res;
  }
  Refs refs = parseRefs(row->refsJson);
  try {
    s_.store->write([&](WriteTxn& txn) {
      auto cur = txn.current("ServiceRequest", id);
      auto curRow = txn.referral(id);
      if (!cur || !curRow) throw Refusal{404, oneIssue(fhir::Severity::Error, "not-found", "ServiceRequest/" + id)};
      if (expectedVersion && *expectedVersion != cur->version)
        throw refusal(412, "conflict",
                      {"Versjonen i If-Match (" + std::to_string(*expectedVersion) + ") er ikke den gjeldende (" +
                           std::to_string(cur->version) + ")",
                       "The version in If-Match (" + std::to_string(*expectedVersion) + ") is not the current one (" +
                           std::to_string(cur->version) + ")"},
                      lang);
      if (curRow->status != row->status)
        throw refusal(409, "conflict",
                      {"Henvisningen ble endret samtidig; prøv igjen", "The referral changed meanwhile; try again"}, lang);
      // The new version is the stored one with status revoked: revocation changes the
      // status only, whatever else the body differs in (the clinic's model of the referral
      // stays what was validated and accepted).
      fhir::ParseResult stored = fhir::parseJson(*s_.registry, cur->json);
      Node* revoked = stored.doc.root();
      if (!revoked) throw std::runtime_error("stored ServiceRequest/" + id + " cannot be read");
      setPrimitive(stored.doc, revoked, "status", "revoked");
      setIdAndMeta(stored.doc, revoked, id, cur->version + 1, now);
      ResourceWrite w;
      w.record = {"ServiceRequest", id, cur->version + 1, now, fhir::writeJson(*revoked), curRow->practice, false};
      w.index = indexRows("ServiceRequest", w.record.json);
      txn.put(w);
      res.resource = toRef(w.record);
      auto curTask = txn.current("Task", curRow->taskId);
      int tv = curTask ? curTask->version + 1 : 1;
      ResourceWrite tw;
      tw.record = {"Task", curRow->taskId, tv, now,
                   s_.tasks->buildTask(*referral, t.next, taskRefsOf(*curRow, refs, *s_.config), tv),
                   curRow->practice, false};
      tw.index = indexRows("Task", tw.record.json);
      txn.put(tw);
      queueDelivery(txn, curRow->practice, id, toRef(tw.record), std::string(s_.tasks->system("taskIdentifier")), id);
      ReferralRow updated = *curRow;
      updated.status = t.next.status;
      updated.stateJson = clinic::toJson(t.next);
      updated.updatedAt = now;
      txn.updateReferral(updated);
    });
  } catch (const Refusal& r) {
    res.status = r.status;
    res.issues = r.issues;
    return res;
  }
  notifyDelivery(row->practice);
  res.status = 200;
  return res;
}

// --- clinic transitions ------------------------------------------------------------------

Workflow::TransitionOutcome Workflow::transition(const std::string& id, const clinic::TransitionRequest& request,
                                                 Lang lang) const {
  TransitionOutcome res;
  auto row = s_.store->read([&](Queries& q) { return q.referral(id); });
  if (!row) {
    res.status = 404;
    res.issues = oneIssue(fhir::Severity::Error, "not-found",
                          Text{"Fant ingen henvisning med id " + id, "No referral with id " + id}.in(lang));
    return res;
  }
  std::string error;
  auto state = clinic::referralStateFromJson(row->stateJson, error);
  auto referral = clinic::referralFromJson(row->modelJson, error);
  if (!state || !referral) throw std::runtime_error("stored referral " + id + " cannot be read: " + error);
  clinic::TransitionRequest tr = request;
  tr.at = nowInstant();
  clinic::RuleOptions opts{s_.config->clinicHerId, s_.config->allowSyntheticIds,
                           s_.config->canonicalBase + std::string(clinic::kRuleCodeSystemPath)};
  auto receivedOn = clinic::osloDateOf(row->receivedAt);
  clinic::TransitionResult t = clinic::applyTransition(*s_.tasks, *state, tr, receivedOn.value_or(clinic::Date()), opts, lang);
  if (!t.ok) {
    res.status = t.httpStatus;
    res.issues = t.issues;
    res.allowed = t.allowed;
    return res;
  }
  Refs refs = parseRefs(row->refsJson);
  ReferralRow updated;
  try {
    s_.store->write([&](WriteTxn& txn) {
      auto curRow = txn.referral(id);
      if (!curRow) throw refusal(404, "not-found", {"Fant ingen henvisning med id " + id, "No referral with id " + id}, lang);
      if (curRow->status != row->status)
        throw refusal(409, "conflict",
                      {"Henvisningen ble endret samtidig (nå " + curRow->status + "); prøv igjen",
                       "The referral changed meanwhile (now " + curRow->status + "); try again"},
                      lang);
      clinic::ReferralState next = t.next;
      if (next.status == "completed" && next.outputs.empty()) {
        // Task.output: the referral's final questionnaire responses (end-of-treatment).
        SearchQuery q;
        q.type = "QuestionnaireResponse";
        q.count = 100;
        q.all.push_back({"based-on", {{SearchMatch::Kind::Exact, true, "", "ServiceRequest/" + id}}});
        q.all.push_back({"questionnaire",
                         {{SearchMatch::Kind::Exact, true, "", s_.config->canonicalBase + "/Questionnaire/end-of-treatment"}}});
        for (const ResourceRecord& r : txn.search(q).resources) next.outputs.push_back("QuestionnaireResponse/" + r.id);
      }
      auto curTask = txn.current("Task", curRow->taskId);
      int tv = curTask ? curTask->version + 1 : 1;
      ResourceWrite tw;
      tw.record = {"Task", curRow->taskId, tv, tr.at,
                   s_.tasks->buildTask(*referral, next, taskRefsOf(*curRow, refs, *s_.config), tv), curRow->practice,
                   false};
      tw.index = indexRows("Task", tw.record.json);
      txn.put(tw);
      queueDelivery(txn, curRow->practice, id, toRef(tw.record), std::string(s_.tasks->system("taskIdentifier")), id);
      updated = *curRow;
      updated.status = next.status;
      updated.stateJson = clinic::toJson(next);
      updated.updatedAt = tr.at;
      txn.updateReferral(updated);
    });
  } catch (const Refusal& r) {
    res.status = r.status;
    res.issues = r.issues;
    return res;
  }
  notifyDelivery(updated.practice);
  res.status = 200;
  res.issues = t.issues;
  res.modelJson = modelJson(updated);
  return res;
}

// --- questionnaire responses -------------------------------------------------------------

Workflow::ResponseOutcome Workflow::addQuestionnaireResponse(const std::string& id, const HttpRequest& req,
                                                             Lang lang) const {
  ResponseOutcome res;
  auto row = s_.store->read([&](Queries& q) { return q.referral(id); });
  if (!row) {
    res.status = 404;
    res.issues = oneIssue(fhir::Severity::Error, "not-found",
                          Text{"Fant ingen henvisning med id " + id, "No referral with id " + id}.in(lang));
    return res;
  }
  std::optional<fhir::ParseResult> parsed = parseBody(s_, req, res.issues, res.status, lang);
  if (!parsed) return res;
  fhir::Document& doc = parsed->doc;
  Node* root = doc.root();
  if (root->type->name != "QuestionnaireResponse") {
    res.status = 400;
    res.issues = oneIssue(fhir::Severity::Error, "invalid",
                          Text{"Forventet en QuestionnaireResponse, fikk " + std::string(root->type->name),
                               "Expected a QuestionnaireResponse, got " + std::string(root->type->name)}
                              .in(lang));
    return res;
  }
  std::string error;
  auto referral = clinic::referralFromJson(row->modelJson, error);
  if (!referral) throw std::runtime_error("stored referral " + id + " cannot be read: " + error);
  Refs refs = parseRefs(row->refsJson);
  const std::string qrId = newId();
  const std::string now = nowInstant();
  // Links: identifier (stable, for the referrer's conditional update), basedOn, subject.
  removeChildren(root, "identifier");
  if (Node* ident = ensureChild(doc, root, "identifier")) {
    setPrimitive(doc, ident, "system", s_.config->canonicalBase + "/NamingSystem/questionnaire-response-id");  // = qrIdentifierSystem
    setPrimitive(doc, ident, "value", qrId);
  }
  removeChildren(root, "basedOn");
  if (Node* b = addChild(doc, root, "basedOn")) setPrimitive(doc, b, "reference", "ServiceRequest/" + id);
  removeChildren(root, "subject");
  if (Node* subj = ensureChild(doc, root, "subject")) {
    if (!refs.patient.empty()) setPrimitive(doc, subj, "reference", refs.patient);
    if (!referral->patient.nationalId.empty())
      if (Node* ident = ensureChild(doc, subj, "identifier")) {
        setPrimitive(doc, ident, "system",
                     std::string(s_.tasks->system(referral->patient.idType == "dnr" ? "dnr" : "fnr")));
        setPrimitive(doc, ident, "value", referral->patient.nationalId);
      }
  }
  setIdAndMeta(doc, root, qrId, 1, now);

  fhir::ValidationOptions vo;
  vo.profilesByType["QuestionnaireResponse"].push_back(s_.config->canonicalBase +
                                                       "/StructureDefinition/hoa-questionnaireresponse");
  vo.unknownExtensionsAreErrors = false;
  fhir::Issues issues = s_.validator->validate(*root, vo);
  clinic::ResponseCheckOptions co;
  co.lang = lang;
  append(issues, s_.questionnaires->validate(*root, co));
  bool coreError = false;
  for (const fhir::Issue& i : issues.items)
    coreError = coreError || ((i.severity == fhir::Severity::Error || i.severity == fhir::Severity::Fatal) && !i.fromProfile &&
                              i.detailCode.empty());
  res.issues = issues;
  if (issues.hasErrors()) {
    res.status = coreError ? 400 : 422;
    return res;
  }
  res.scores = s_.questionnaires->score(*root);
  ResourceWrite w;
  w.record = {"QuestionnaireResponse", qrId, 1, now, fhir::writeJson(*root), row->practice, false};
  w.index = indexRows("QuestionnaireResponse", w.record.json);
  // Pushed to the referrer when its Questionnaire is one of the configured ones.
  std::string canonical;
  if (const Node* qn = root->child("questionnaire"); qn && qn->hasValue) canonical = std::string(qn->value);
  canonical = canonical.substr(0, canonical.find('|'));
  const std::string questionnaireId = canonical.substr(canonical.rfind('/') + 1);
  const auto& push = s_.config->delivery.pushQuestionnaires;
  const bool pushed = std::find(push.begin(), push.end(), questionnaireId) != push.end();
  const std::string qrIdentifierSystem = s_.config->canonicalBase + "/NamingSystem/questionnaire-response-id";
  // A repeated POST of the same response (same referral, Questionnaire and `authored`
  // instant, e.g. a retry after a lost answer) returns the stored one: 200, nothing
  // stored or pushed twice.
  const std::string authored = str(root, "authored");
  std::optional<ResourceRecord> existing;
  s_.store->write([&](WriteTxn& txn) {
    if (!authored.empty() && !canonical.empty()) {
      if (auto range = instantRange(authored)) {
        SearchQuery q;
        q.type = "QuestionnaireResponse";
        q.count = 1;
        q.all.push_back({"based-on", {{SearchMatch::Kind::Exact, true, "", "ServiceRequest/" + id}}});
        q.all.push_back({"questionnaire", {{SearchMatch::Kind::Exact, true, "", canonical}}});
        SearchMatch at;
        at.kind = SearchMatch::Kind::Date;
        at.prefix = "eq";
        at.lo = range->first;
        at.hi = range->second;
        q.all.push_back({"authored", {at}});
        auto found = txn.search(q);
        if (!found.resources.empty()) {
          existing = found.resources.front();
          return;
        }
      }
    }
    txn.put(w);
    if (pushed) queueDelivery(txn, row->practice, id, toRef(w.record), qrIdentifierSystem, qrId);
  });
  if (existing) {
    res.resource = toRef(*existing);
    res.status = 200;
    return res;
  }
  if (pushed) notifyDelivery(row->practice);
  res.resource = toRef(w.record);
  res.status = 201;
  return res;
}

}  // namespace hoa::gateway
