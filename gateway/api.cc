#include "gateway/api.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "fhir/json.h"
#include "gateway/delivery.h"
#include "gateway/search.h"
#include "gateway/timeutil.h"

namespace hoa::gateway {

using clinic::Lang;

namespace {

constexpr std::string_view kFhirJson = "application/fhir+json; charset=utf-8";
constexpr std::string_view kJson = "application/json; charset=utf-8";

std::string jq(std::string_view s) {
  std::string out;
  json::appendQuoted(out, s);
  return out;
}

std::vector<std::string> splitPath(std::string_view path) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    std::string_view part = path.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    if (!part.empty()) parts.emplace_back(part);
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  return parts;
}

bool isId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

std::string etag(int version) { return "W/\"" + std::to_string(version) + "\""; }

void setVersionHeaders(HttpResponse& r, const StoredRef& s) {
  r.set("ETag", etag(s.version));
  r.set("Last-Modified", httpDate(s.lastUpdated));
}

// Prefer: return=minimal | representation | OperationOutcome.
std::string preferReturn(const HttpRequest& req) {
  std::string p = req.header("Prefer");
  size_t at = p.find("return=");
  if (at == std::string::npos) return "representation";
  std::string v = p.substr(at + 7);
  v = v.substr(0, v.find_first_of(";, "));
  return v;
}

bool strictHandling(const HttpRequest& req) { return req.header("Prefer").find("handling=strict") != std::string::npos; }

HttpResponse jsonResponse(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.contentType = std::string(kJson);
  r.body = std::move(body);
  return r;
}

const std::vector<std::string_view> kReadableTypes = {"ServiceRequest", "Task", "QuestionnaireResponse", "Patient",
                                                      "Practitioner", "PractitionerRole", "Organization",
                                                      "Condition", "Observation", "DocumentReference"};

bool readable(std::string_view t) { return std::find(kReadableTypes.begin(), kReadableTypes.end(), t) != kReadableTypes.end(); }

std::string operationOutcomeJsonFor(const fhir::Issues& issues) { return issues.toOperationOutcomeJson(); }

// 405 with the methods allowed at the path (also in the Allow header).
HttpResponse methodNotAllowed(const fhir::Registry& reg, const std::string& method, const std::string& allow, Lang lang,
                              fhir::Format fmt) {
  HttpResponse r = errorResponse(reg, 405, "not-supported",
                                 {"Metoden " + method + " støttes ikke her (tillatt: " + allow + ")",
                                  "Method " + method + " is not supported here (allowed: " + allow + ")"},
                                 lang, fmt);
  r.set("Allow", allow);
  return r;
}

// A non-negative integer query value (_count, _offset): digits only, at most 9 of them.
std::optional<size_t> nonNegative(const std::string& v) {
  if (v.empty() || v.size() > 9 || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return static_cast<size_t>(std::stoul(v));
}

// _count (capped at 1000) and _offset of the clinic's lists; the error text when one is bad.
template <class N>
std::optional<std::pair<std::string, std::string>> pageParams(const HttpRequest& req, N& count, N& offset) {
  for (const char* k : {"_count", "_offset"}) {
    auto v = req.param(k);
    if (!v) continue;
    auto n = nonNegative(*v);
    if (!n)
      return std::make_pair(std::string(k) + " må være et ikke-negativt heltall, ikke '" + *v + "'",
                            std::string(k) + " must be a non-negative integer, not '" + *v + "'");
    if (std::string_view(k) == "_count") count = static_cast<N>(std::min<size_t>(*n, 1000));
    else offset = static_cast<N>(*n);
  }
  return std::nullopt;
}

// The extension on a refused transition's OperationOutcome naming a transition that is allowed.
constexpr const char* kAllowedTransitionPath = "/StructureDefinition/allowed-transition";

}  // namespace

HttpResponse Api::handle(const HttpRequest& req) const {
  const fhir::Registry& reg = *s_.registry;
  Lang lang = requestLang(req);
  try {
    const std::string& path = req.path;
    if (path == "/healthz") {
      HttpResponse r = jsonResponse(200, "{\"status\":\"ok\"}");
      r.interaction = "health";
      return r;
    }
    if (path == "/readyz") {
      bool ok = s_.store->healthy();
      HttpResponse r = jsonResponse(ok ? 200 : 503, std::string("{\"status\":") + (ok ? "\"ready\"" : "\"not-ready\"") +
                                                        ",\"store\":" + (ok ? "\"open\"" : "\"failing\"") +
                                                        ",\"schemaVersion\":" + std::to_string(s_.store->schemaVersion()) +
                                                        ",\"definitions\":" +
                                                        std::to_string(reg.structureDefinitionCount()) +
                                                        ",\"commits\":" + std::to_string(s_.store->commits()) +
                                                        ",\"committedJobs\":" + std::to_string(s_.store->committedJobs()) +
                                                        ",\"checkpoints\":" + std::to_string(s_.store->checkpoints()) +
                                                        ",\"walFrames\":" + std::to_string(s_.store->walFrames()) +
                                                        ",\"writerCpuMs\":" + std::to_string(s_.store->writerCpuMicros() / 1000) +
                                                        ",\"walSyncs\":" + std::to_string(s_.store->walSyncs()) + "}");
      r.interaction = "health";
      return r;
    }
    if (!req.principal) {
      HttpResponse r = errorResponse(reg, 401, "login",
                                     {"Klientsertifikatet er ikke kjent for gatewayen",
                                      "The client certificate is not known to the gateway"},
                                     lang, fhir::Format::Json);
      r.interaction = "authenticate";
      return r;
    }
    if (path == "/fhir" || path.rfind("/fhir/", 0) == 0) return handleFhir(req, std::string_view(path).substr(5));
    if (path == "/clinic" || path.rfind("/clinic/", 0) == 0) return handleClinic(req, std::string_view(path).substr(7));
    return errorResponse(reg, 404, "not-found", {"Ukjent adresse: " + path, "Unknown path: " + path}, lang,
                         fhir::Format::Json);
  } catch (const std::exception& e) {
    HttpResponse r = errorResponse(reg, 500, "exception",
                                   {"Intern feil; forespørsel " + req.requestId + " er logget",
                                    "Internal error; request " + req.requestId + " is logged"},
                                   lang, fhir::Format::Json);
    r.error = e.what();
    return r;
  } catch (...) {
    HttpResponse r = errorResponse(reg, 500, "exception",
                                   {"Intern feil; forespørsel " + req.requestId + " er logget",
                                    "Internal error; request " + req.requestId + " is logged"},
                                   lang, fhir::Format::Json);
    r.error = "unknown exception";
    return r;
  }
}

// --- /fhir -------------------------------------------------------------------------------

HttpResponse Api::handleFhir(const HttpRequest& req, std::string_view path) const {
  const fhir::Registry& reg = *s_.registry;
  Lang lang = requestLang(req);
  std::optional<fhir::Format> in = requestFormat(req);
  std::optional<fhir::Format> fmtOpt = responseFormat(req, in.value_or(fhir::Format::Json));
  if (!fmtOpt)
    return errorResponse(reg, 406, "not-supported",
                         {"Kan bare svare med application/fhir+json eller application/fhir+xml",
                          "Can only answer with application/fhir+json or application/fhir+xml"},
                         lang, fhir::Format::Json);
  const fhir::Format fmt = *fmtOpt;
  const std::vector<std::string> parts = splitPath(path);
  const std::string& m = req.method;
  auto notAllowed = [&](const std::string& allow) { return methodNotAllowed(reg, m, allow, lang, fmt); };
  auto unknownType = [&](const std::string& type) {
    return errorResponse(reg, 404, "not-supported",
                         {"Ressurstypen '" + type + "' finnes ikke på denne serveren",
                          "The resource type '" + type + "' is not served here"},
                         lang, fmt);
  };
  if (parts.empty()) {
    if (m == "POST") return submit(req, clinic::Transport::Transaction, fmt);
    return notAllowed("POST");
  }
  const std::string& first = parts[0];
  if (parts.size() == 1 && first == "metadata") {
    if (m != "GET") return notAllowed("GET");
    return metadata(req, fmt);
  }
  if (parts.size() == 1 && first == "$process-message") {
    if (m != "POST") return notAllowed("POST");
    return submit(req, clinic::Transport::Message, fmt);
  }
  if (parts.size() == 1 && first == "$validate") {
    if (m != "POST") return notAllowed("POST");
    return validate(req, fmt);
  }
  if (first == "AuditEvent") {
    if (parts.size() != 1) return unknownType(first);
    if (m != "GET") return notAllowed("GET");
    return auditSearch(req, fmt);
  }
  if (!reg.resourceType(first) || !readable(first)) return unknownType(first);
  const std::string& type = first;
  if (parts.size() == 1) {
    if (m == "GET") return search(req, type, fmt);
    if (m == "POST" && type == "ServiceRequest") return submit(req, clinic::Transport::RestCreate, fmt);
    if (m == "PUT" && type == "ServiceRequest") return conditionalUpdate(req, type, fmt);
    return notAllowed(type == "ServiceRequest" ? "GET, POST, PUT" : "GET");
  }
  if (parts.size() == 2 && parts[1] == "_search") {
    if (m != "POST") return notAllowed("POST");
    HttpRequest copy = req;
    auto form = parseQuery(req.body);
    copy.query.insert(copy.query.end(), form.begin(), form.end());
    return search(copy, type, fmt);
  }
  if (parts.size() == 2 && parts[1] == "$validate") {
    if (m != "POST") return notAllowed("POST");
    return validate(req, fmt);
  }
  const std::string& id = parts[1];
  if (!isId(id))
    return errorResponse(reg, 400, "invalid", {"'" + id + "' er ikke en gyldig id", "'" + id + "' is not a valid id"},
                         lang, fmt);
  if (parts.size() == 2) {
    if (m == "GET") return read(req, type, id, fmt);
    if (m == "PUT" && type == "ServiceRequest") return update(req, type, id, fmt);
    return notAllowed(type == "ServiceRequest" ? "GET, PUT" : "GET");
  }
  if (parts[2] != "_history" || parts.size() > 4)
    return errorResponse(reg, 404, "not-found", {"Ukjent adresse: " + req.path, "Unknown path: " + req.path}, lang, fmt);
  if (m != "GET") return notAllowed("GET");
  if (parts.size() == 3) return history(req, type, id, fmt);
  return vread(req, type, id, parts[3], fmt);
}

HttpResponse Api::submit(const HttpRequest& req, clinic::Transport t, fhir::Format fmt) const {
  const fhir::Registry& reg = *s_.registry;
  Lang lang = requestLang(req);
  std::string ifNoneExist = t == clinic::Transport::RestCreate ? req.header("If-None-Exist") : "";
  SubmitResult res = workflow_.submit(*req.principal, req, t, ifNoneExist, lang);
  HttpResponse r;
  const std::string base = s_.config->publicBase;
  if (res.status >= 400) {
    if (t == clinic::Transport::Message && !res.messageHeaderId.empty()) {
      // A response message: MessageHeader (fatal-error) and the OperationOutcome.
      std::string ooId = newId();
      std::string b = "{\"resourceType\":\"Bundle\",\"id\":" + jq(newId()) + ",\"type\":\"message\",\"timestamp\":" +
                      jq(nowInstant()) + ",\"entry\":[{\"fullUrl\":" + jq("urn:uuid:" + newId()) +
                      ",\"resource\":{\"resourceType\":\"MessageHeader\",\"id\":" + jq(newId()) +
                      ",\"eventCoding\":{\"system\":" + jq(res.eventSystem.empty() ? "https://fhir.sthf.no/helse-og-arbeid/CodeSystem/message-event" : res.eventSystem) +
                      ",\"code\":" + jq(res.eventCode.empty() ? "referral-new" : res.eventCode) + "}" +
                      (res.sourceEndpoint.empty() ? "" : ",\"destination\":[{\"endpoint\":" + jq(res.sourceEndpoint) + "}]") +
                      ",\"source\":{\"endpoint\":" + jq(base + "/$process-message") +
                      "},\"response\":{\"identifier\":" + jq(res.messageHeaderId) +
                      ",\"code\":\"fatal-error\",\"details\":{\"reference\":" + jq("urn:uuid:" + ooId) +
                      "}}}},{\"fullUrl\":" + jq("urn:uuid:" + ooId) + ",\"resource\":";
      std::string oo = res.issues.toOperationOutcomeJson();
      // Give the OperationOutcome the id its fullUrl names.
      oo.insert(oo.find('{') + 1, "\"id\":" + jq(ooId) + ",");
      b += oo + "}]}";
      r = resourceResponse(reg, res.status, b, fmt);
    } else {
      r = outcomeResponse(reg, res.status, res.issues, fmt);
    }
    r.interaction = t == clinic::Transport::RestCreate ? "create" : t == clinic::Transport::Transaction ? "transaction" : "operation";
    r.action = "C";
    return r;
  }
  const int status = res.status;  // 201 or 200
  fhir::Issues warnings = res.issues;
  if (t == clinic::Transport::RestCreate) {
    std::string ret = preferReturn(req);
    if (ret == "OperationOutcome") {
      fhir::Issues w = warnings;
      if (w.empty()) w = oneIssue(fhir::Severity::Information, "informational", res.created ? "Created" : "Already received");
      r = outcomeResponse(reg, status, w, fmt);
    } else if (ret == "minimal") {
      r.status = status;
    } else {
      r = resourceResponse(reg, status, res.serviceRequest.json, fmt);
    }
    r.set("Location", base + "/ServiceRequest/" + res.serviceRequest.id + "/_history/" +
                          std::to_string(res.serviceRequest.version));
    setVersionHeaders(r, res.serviceRequest);
    r.interaction = "create";
  } else if (t == clinic::Transport::Transaction) {
    std::string b = "{\"resourceType\":\"Bundle\",\"id\":" + jq(newId()) +
                    ",\"type\":\"transaction-response\",\"link\":[{\"relation\":\"self\",\"url\":" + jq(base) +
                    "}],\"entry\":[";
    bool firstEntry = true;
    for (const auto& e : res.entries) {
      if (!firstEntry) b += ",";
      firstEntry = false;
      b += "{";
      if (!e.stored.type.empty()) b += "\"fullUrl\":" + jq(base + "/" + e.stored.reference()) + ",";
      b += "\"response\":{\"status\":" + jq(res.created ? "201 Created" : "200 OK");
      if (!e.stored.type.empty()) {
        b += ",\"location\":" + jq(e.stored.reference() + "/_history/" + std::to_string(e.stored.version));
        b += ",\"etag\":" + jq(etag(e.stored.version));
        b += ",\"lastModified\":" + jq(e.stored.lastUpdated);
        if (e.stored.type == "ServiceRequest" && !warnings.empty())
          b += ",\"outcome\":" + warnings.toOperationOutcomeJson();
      }
      b += "}}";
    }
    b += "]}";
    r = resourceResponse(reg, 200, b, fmt);
    r.interaction = "transaction";
  } else {
    std::string ooId = newId();
    std::string taskUrl = base + "/Task/" + res.task.id;
    std::string b = "{\"resourceType\":\"Bundle\",\"id\":" + jq(newId()) + ",\"type\":\"message\",\"timestamp\":" +
                    jq(nowInstant()) + ",\"entry\":[{\"fullUrl\":" + jq("urn:uuid:" + newId()) +
                    ",\"resource\":{\"resourceType\":\"MessageHeader\",\"id\":" + jq(newId()) +
                    ",\"eventCoding\":{\"system\":" + jq(res.eventSystem) + ",\"code\":" + jq(res.eventCode) + "}" +
                    (res.sourceEndpoint.empty() ? "" : ",\"destination\":[{\"endpoint\":" + jq(res.sourceEndpoint) + "}]") +
                    ",\"source\":{\"endpoint\":" + jq(base + "/$process-message") +
                    "},\"response\":{\"identifier\":" + jq(res.messageHeaderId) + ",\"code\":\"ok\"" +
                    (warnings.empty() ? "" : ",\"details\":{\"reference\":" + jq("urn:uuid:" + ooId) + "}") +
                    "},\"focus\":[{\"reference\":" + jq(taskUrl) + "}]}},{\"fullUrl\":" + jq(taskUrl) +
                    ",\"resource\":" + res.task.json + "}";
    if (!warnings.empty()) {
      std::string oo = warnings.toOperationOutcomeJson();
      oo.insert(oo.find('{') + 1, "\"id\":" + jq(ooId) + ",");
      b += ",{\"fullUrl\":" + jq("urn:uuid:" + ooId) + ",\"resource\":" + oo + "}";
    }
    b += "]}";
    r = resourceResponse(reg, 200, b, fmt);
    r.interaction = "operation";
  }
  r.action = "C";
  r.entity = res.serviceRequest.type.empty() ? "" : res.serviceRequest.reference();
  if (status == 200) r.set("X-Duplicate-Of", res.serviceRequest.reference());
  return r;
}

HttpResponse Api::read(const HttpRequest& req, const std::string& type, const std::string& id, fhir::Format fmt) const {
  const fhir::Registry& reg = *s_.registry;
  Lang lang = requestLang(req);
  auto rec = s_.store->read([&](Queries& q) { return q.current(type, id); });
  HttpResponse r;
  if (!rec || !req.principal->mayAccess(rec->practice)) {
    r = errorResponse(reg, 404, "not-found", {"Fant ikke " + type + "/" + id, type + "/" + id + " was not found"}, lang,
                      fmt);
  } else if (rec->deleted) {
    r = errorResponse(reg, 410, "deleted", {type + "/" + id + " er slettet", type + "/" + id + " is deleted"}, lang, fmt);
  } else {
    StoredRef s{rec->type, rec->id, rec->version, rec->lastUpdated, rec->json};
    std::string inm = req.header("If-None-Match");
    if (!inm.empty() && parseETag(inm) == rec->version) {
      r.status = 304;
    } else {
      r = resourceResponse(reg, 200, rec->json, fmt);
    }
    setVersionHeaders(r, s);
  }
  r.interaction = "read";
  r.entity = type + "/" + id;
  return r;
}

HttpResponse Api::vread(const HttpRequest& req, const std::string& type, const std::string& id, const std::string& vid,
                        fhir::Format fmt) const {
  const fhir::Registry& reg = *s_.registry;
  Lang lang = requestLang(req);
  std::optional<int> v = parseETag(vid);
  std::optional<ResourceRecord> rec;
  if (v) rec = s_.store->read([&](Queries& q) { return q.version(type, id, *v); });
  HttpResponse r;
  if (!rec || !req.principal->mayAccess(rec->practice)) {
    r = errorResponse(reg, 404, "not-found",
                      {"Fant ikke " + type + "/" + id + "/_history/" + vid, type + "/" + id + "/_history/" + vid + " was not found"},
                      lang, fmt);
  } else {
    r = resourceResponse(reg, 200, rec->json, fmt);
    setVersionHeaders(r, {rec->type, rec->id, rec->version, rec->lastUpdated, {}});
  }
  r.interaction = "vread";
  r.entity = type + "/" + id;
  return r;
}

HttpResponse Api::history(const HttpRequest& req, const std::string& type, const std::string& id,
                          fhir::Format fmt) const {
  const fhir::Registry& reg = *s_.registry;
  Lang lang = requestLang(req);
  auto recs = s_.store->read([&](Queries& q) { return q.history(type, id, static_cast<size_t>(s_.config->maxCount)); });
  HttpResponse r;
  if (recs.empty() || !req.principal->mayAccess(recs.front().practice)) {
    r = errorResponse(reg, 404, "not-found", {"Fant ikke " + type + "/" + id, type + "/" + id + " was not found"}, lang,
                      fmt);
  } else {
    const std::string base = s_.config->publicBase;
    std::string b = "{\"resourceType\":\"Bundle\",\"id\":" + jq(newId()) + ",\"meta\":{\"lastUpdated\":" +
                    jq(nowInstant()) + "},\"type\":\"history\",\"total\":" + std::to_string(recs.size()) +
                    ",\"link\":[{\"relation\":\"self\",\"url\":" + jq(base + "/" + type + "/" + id + "/_history") +
                    "}],\"entry\":[";
    for (size_t i = 0; i < recs.size(); ++i) {
      const ResourceRecord& rec = recs[i];
      if (i) b += ",";
      b += "{\"fullUrl\":" + jq(base + "/" + type + "/" + id) + ",\"resource\":" + rec.json +
           ",\"request\":{\"method\":" + jq(rec.version == 1 ? "POST" : "PUT") + ",\"url\":" +
           jq(rec.version == 1 ? type : type + "/" + id) + "},\"response\":{\"status\":" +
           jq(rec.version == 1 ? "201 Created" : "200 OK") + ",\"etag\":" + jq(etag(rec.version)) +
           ",\"lastModified\":" + jq(rec.lastUpdated) + "}}";
    }
    b += "]}";
    r = resourceResponse(reg, 200, b, fmt);
  }
  r.interaction = "history-instance";
  r.entity = type + "/" + id;
  return r;
}

HttpResponse Api::search(const HttpRequest& req, const std::string& type, fhir::Format fmt) const {
  const fhir::Registry& reg = *s_.registry;
  Lang lang = requestLang(req);
  HttpResponse r;
  r.interaction = "search-type";
  if (!isSearchable(type)) {
    r = errorResponse(reg, 405, "not-supported",
                      {"Søk støttes ikke for " + type + " (bare lesing)", "Search is not supported for " + type + " (read only)"},
                      lang, fmt);
    r.set("Allow", "");
    return r;
  }
  SearchRequest sr = parseSearch(type, req.query, s_.config->defaultCount, s_.config->maxCount);
  if (!sr.error.empty()) {
    r = outcomeResponse(reg, 400, oneIssue(fhir::Severity::Error, "invalid", sr.error), fmt);
    r.interaction = "search-type";
    return r;
  }
  if (!sr.ignored.empty() && strictHandling(req)) {
    std::string list;
    for (const auto& p : sr.ignored) list += (list.empty() ? "" : ", ") + p;
    r = errorResponse(reg, 400, "not-supported",
                      {"Søkeparametre som ikke støttes: " + list, "Search parameters not supported: " + list}, lang, fmt);
    r.interaction = "search-type";
    return r;
  }
  if (req.principal->isReferrer()) sr.query.practices = req.principal->herIds;
  SearchPage page = s_.store->read([&](Queries& q) { return q.search(sr.query); });
  const std::string base = s_.config->publicBase;
  auto link = [&](size_t offset) {
    std::string url = base + "/" + type + "?";
    for (const auto& [k, v] : sr.applied) url += percentEncode(k) + "=" + percentEncode(v) + "&";
    url += "_count=" + std::to_string(sr.query.count);
    if (offset) url += "&_offset=" + std::to_string(offset);
    return url;
  };
  std::string b = "{\"resourceType\":\"Bundle\",\"id\":" + jq(newId()) + ",\"meta\":{\"lastUpdated\":" +
                  jq(nowInstant()) + "},\"type\":\"searchset\",\"total\":" + std::to_string(page.total) +
                  ",\"link\":[{\"relation\":\"self\",\"url\":" + jq(link(sr.query.offset)) + "}";
  if (sr.query.count > 0 && sr.query.offset + sr.query.count < page.total)
    b += ",{\"relation\":\"next\",\"url\":" + jq(link(sr.query.offset + sr.query.count)) + "}";
  if (sr.query.offset > 0)
    b += ",{\"relation\":\"previous\",\"url\":" +
         jq(link(sr.query.offset > sr.query.count ? sr.query.offset - sr.query.count : 0)) + "}";
  b += "]";
  std::string entries;
  for (const ResourceRecord& rec : page.resources) {
    if (!entries.empty()) entries += ",";
    entries += "{\"fullUrl\":" + jq(base + "/" + type + "/" + rec.id) + ",\"resource\":" + rec.json +
               ",\"search\":{\"mode\":\"match\"}}";
  }
  if (!sr.ignored.empty()) {
    std::string list;
    for (const auto& p : sr.ignored) list += (list.empty() ? "" : ", ") + p;
    fhir::Issues w = oneIssue(fhir::Severity::Warning, "not-supported",
                              Text{"Søkeparametre som ikke støttes ble ignorert: " + list,
                                   "Search parameters that are not supported were ignored: " + list}
                                  .in(lang));
    if (!entries.empty()) entries += ",";
    entries += "{\"resource\":" + w.toOperationOutcomeJson() + ",\"search\":{\"mode\":\"outcome\"}}";
  }
  if (!entries.empty()) b += ",\"entry\":[" + entries + "]";
  b += "}";
  r = resourceResponse(reg, 200, b, fmt);
  r.interaction = "search-type";
  r.entity = type;
  return r;
}

HttpResponse Api::auditSearch(const HttpRequest& req, fhir::Format fmt) const {
  const fhir::Registry& reg = *s_.registry;
  Lang lang = requestLang(req);
  if (!req.principal->isClinic())
    return errorResponse(reg, 403, "forbidden",
                         {"Bare klinikken kan lese revisjonsloggen", "Only the clinic can read the audit trail"}, lang, fmt);
  std::vector<std::pair<std::string, std::string>> recorded;  // (operator, instant)
  std::string agent;
  size_t count = static_cast<size_t>(s_.config->defaultCount), offset = 0;
  for (const auto& [k, v] : req.query) {
    if (k == "date") {
      // eq (or no prefix): within the value's range; ge/gt/le/lt against its start or end.
      std::string prefix = v.size() > 2 && std::isalpha(static_cast<unsigned char>(v[0])) ? v.substr(0, 2) : "eq";
      std::string d = prefix == "eq" && v.rfind("eq", 0) != 0 ? v : v.substr(2);
      auto range = instantRange(d);
      if (!range)
        return outcomeResponse(reg, 400, oneIssue(fhir::Severity::Error, "invalid", "date: '" + v + "' is not a date"), fmt);
      if (prefix == "eq") {
        recorded.emplace_back(">=", range->first);
        recorded.emplace_back("<=", range->second);
      } else if (prefix == "ge") {
        recorded.emplace_back(">=", range->first);
      } else if (prefix == "gt") {
        recorded.emplace_back(">", range->second);
      } else if (prefix == "le") {
        recorded.emplace_back("<=", range->second);
      } else if (prefix == "lt") {
        recorded.emplace_back("<", range->first);
      } else {
        return outcomeResponse(
            reg, 400,
            oneIssue(fhir::Severity::Error, "not-supported", "date: the prefix '" + prefix + "' is not supported (eq, ge, gt, le, lt)"),
            fmt);
      }
    } else if (k == "agent" || k == "agent-name") {
      agent = v;
    } else if (k == "_count" || k == "_offset") {
      auto n = nonNegative(v);
      if (!n)
        return outcomeResponse(
            reg, 400, oneIssue(fhir::Severity::Error, "invalid", k + " must be a non-negative integer, not '" + v + "'"), fmt);
      if (k == "_count") count = std::min<size_t>(*n, static_cast<size_t>(s_.config->maxCount));
      else offset = *n;
    }
  }
  auto rows = s_.store->read([&](Queries& q) { return q.audit(recorded, agent, count, offset); });
  const std::string base = s_.config->publicBase;
  std::string b = "{\"resourceType\":\"Bundle\",\"id\":" + jq(newId()) + ",\"type\":\"searchset\",\"entry\":[";
  for (size_t i = 0; i < rows.size(); ++i) {
    const AuditRow& a = rows[i];
    if (i) b += ",";
    std::string id = "audit-" + std::to_string(a.seq);
    b += "{\"fullUrl\":" + jq(base + "/AuditEvent/" + id) + ",\"resource\":{\"resourceType\":\"AuditEvent\",\"id\":" +
         jq(id) +
         ",\"type\":{\"system\":\"http://terminology.hl7.org/CodeSystem/audit-event-type\",\"code\":\"rest\",\"display\":"
         "\"RESTful Operation\"}";
    if (!a.interaction.empty()) {
      static const std::set<std::string, std::less<>> kRestful = {
          "read", "vread", "update", "patch", "delete", "history", "history-instance", "history-type",
          "history-system", "create", "search", "search-type", "search-system", "capabilities", "transaction",
          "batch", "operation"};
      const std::string system = kRestful.count(a.interaction) ? "http://hl7.org/fhir/restful-interaction"
                                                                 : s_.config->canonicalBase + "/CodeSystem/gateway-interaction";
      b += ",\"subtype\":[{\"system\":" + jq(system) + ",\"code\":" + jq(a.interaction) + "}]";
    }
    b += ",\"action\":" + jq(a.action) + ",\"recorded\":" + jq(a.recorded) + ",\"outcome\":" + jq(a.outcome) +
         ",\"outcomeDesc\":" + jq("HTTP " + std::to_string(a.status) + " " + a.method + " " + a.path) +
         ",\"agent\":[{\"type\":{\"text\":" + jq(a.principalKind.empty() ? "unknown" : a.principalKind) +
         "},\"who\":{\"display\":" + jq(a.principal.empty() ? "(unknown client)" : a.principal) +
         "},\"requestor\":true}],\"source\":{\"site\":\"Helse og arbeid\",\"observer\":{\"display\":\"hoa-fhir-gateway\"}}";
    b += ",\"entity\":[{\"what\":{";
    if (!a.entity.empty() && a.entity.find('/') != std::string::npos) b += "\"reference\":" + jq(a.entity) + ",";
    b += "\"identifier\":{\"system\":\"urn:ietf:rfc:3986\",\"value\":" + jq("urn:x-request-id:" + a.requestId) +
         "}}}]}}";
  }
  b += "]}";
  HttpResponse r = resourceResponse(reg, 200, b, fmt);
  r.interaction = "search-type";
  r.entity = "AuditEvent";
  return r;
}

HttpResponse Api::conditionalUpdate(const HttpRequest& req, const std::string& type, fhir::Format fmt) const {
  const fhir::Registry& reg = *s_.registry;
  Lang lang = requestLang(req);
  // PUT ServiceRequest?identifier=[system|]value: the referrer's own referral by its id.
  SearchRequest sr = parseSearch(type, req.query, 2, 2);
  bool onlyIdentifier = !req.query.empty() && sr.error.empty() && sr.ignored.empty();
  for (const auto& [k, v] : req.query) onlyIdentifier = onlyIdentifier && (k == "identifier" || k == "_format");
  HttpResponse r;
  if (!onlyIdentifier) {
    r = errorResponse(reg, 400, "not-supported",
                      {"Betinget oppdatering støttes bare med identifier=[system|]verdi",
                       "A conditional update is supported with identifier=[system|]value only"},
                      lang, fmt);
  } else {
    if (req.principal->isReferrer()) sr.query.practices = req.principal->herIds;
    sr.query.count = 2;
    SearchPage page = s_.store->read([&](Queries& q) { return q.search(sr.query); });
    if (page.total == 0)
      r = errorResponse(reg, 404, "not-found",
                        {"Ingen henvisning har denne identifikatoren; nye henvisninger sendes med POST",
                         "No referral has this identifier; new referrals are sent with POST"},
                        lang, fmt);
    else if (page.total > 1)
      r = errorResponse(reg, 412, "multiple-matches",
                        {"Identifikatoren treffer flere henvisninger", "The identifier matches more than one referral"},
                        lang, fmt);
    else
      return update(req, type, page.resources[0].id, fmt, true);
  }
  r.interaction = "update";
  r.action = "U";
  return r;
}

HttpResponse Api::update(const HttpRequest& req, const std::string& type, const std::string& id,
                         fhir::Format fmt, bool conditional) const {
  const fhir::Registry& reg = *s_.registry;
  Lang lang = requestLang(req);
  Workflow::UpdateResult res = workflow_.revoke(*req.principal, id, req, req.header("If-Match"), lang, conditional);
  HttpResponse r;
  if (res.status >= 400) {
    r = outcomeResponse(reg, res.status, res.issues, fmt);
  } else {
    r = resourceResponse(reg, 200, res.resource.json, fmt);
    setVersionHeaders(r, res.resource);
    r.set("Content-Location", s_.config->publicBase + "/" + type + "/" + id + "/_history/" + std::to_string(res.resource.version));
  }
  r.interaction = "update";
  r.action = "U";
  r.entity = type + "/" + id;
  return r;
}

HttpResponse Api::validate(const HttpRequest& req, fhir::Format fmt) const {
  int status = 200;
  fhir::Issues issues = workflow_.validateOnly(req, requestLang(req), status);
  HttpResponse r = outcomeResponse(*s_.registry, status, issues, fmt);
  r.interaction = "operation";
  r.action = "E";
  return r;
}

HttpResponse Api::metadata(const HttpRequest&, fhir::Format fmt) const {
  const std::string base = s_.config->publicBase;
  const std::string canon = s_.config->canonicalBase;
  auto searchParam = [](std::string_view name, std::string_view type, std::string_view doc) {
    return "{\"name\":" + jq(name) + ",\"type\":" + jq(type) + ",\"documentation\":" + jq(doc) + "}";
  };
  auto resource = [&](std::string_view type, std::string_view profile, std::vector<std::string> interactions,
                      std::vector<std::string> params, std::string extra) {
    std::string s = "{\"type\":" + jq(type);
    if (!profile.empty()) s += ",\"profile\":" + jq(profile);
    s += ",\"interaction\":[";
    for (size_t i = 0; i < interactions.size(); ++i) s += (i ? "," : "") + std::string("{\"code\":") + jq(interactions[i]) + "}";
    s += "],\"versioning\":\"versioned\",\"readHistory\":true,\"updateCreate\":false";
    if (type == "ServiceRequest") s += ",\"conditionalCreate\":true";
    if (!params.empty()) {
      s += ",\"searchParam\":[";
      for (size_t i = 0; i < params.size(); ++i) s += (i ? "," : "") + params[i];
      s += "]";
    }
    s += extra + "}";
    return s;
  };
  const std::string lu = searchParam("_lastUpdated", "date", "When the resource version was stored");
  const std::string idp = searchParam("_id", "token", "The resource id");
  std::string b =
      "{\"resourceType\":\"CapabilityStatement\",\"status\":\"active\",\"date\":\"2026-11-22\",\"publisher\":"
      "\"Sykehuset Telemark HF\",\"kind\":\"instance\",\"software\":{\"name\":\"hoa-fhir-gateway\",\"version\":"
      "\"0.1.0\"},\"implementation\":{\"description\":\"Helse og arbeid referral gateway\",\"url\":" +
      jq(base) +
      "},\"fhirVersion\":\"4.0.1\",\"format\":[\"application/fhir+json\",\"application/fhir+xml\"],"
      "\"rest\":[{\"mode\":\"server\",\"documentation\":\"Referrals to Helse og arbeid: REST create, transaction "
      "Bundle or FHIR message; status as Task; questionnaire answers as QuestionnaireResponse. Mutual TLS: every "
      "client presents a certificate the gateway is configured to trust.\",\"security\":{\"cors\":false,"
      "\"description\":\"Mutual TLS (TLS 1.2 or later); the client certificate identifies a referrer practice or the "
      "clinic\"},\"resource\":[" +
      resource("ServiceRequest", canon + "/StructureDefinition/hoa-referral", {"create", "read", "vread", "update", "history-instance", "search-type"},
               {idp, searchParam("identifier", "token", "The referrer's referral id"),
                searchParam("patient", "reference", "The patient (Patient/id, or :identifier=system|value)"),
                searchParam("subject", "reference", "The patient"), searchParam("status", "token", "active | revoked"), lu},
               ",\"operation\":[{\"name\":\"validate\",\"definition\":\"http://hl7.org/fhir/OperationDefinition/Resource-validate\"}]") +
      "," +
      resource("Task", canon + "/StructureDefinition/hoa-task", {"read", "vread", "history-instance", "search-type"},
               {idp, searchParam("identifier", "token", "The referral id"),
                searchParam("focus", "reference", "The ServiceRequest"),
                searchParam("based-on", "reference", "The ServiceRequest"),
                searchParam("patient", "reference", "The patient"), searchParam("status", "token", "Task.status"),
                searchParam("business-status", "token", "The referral status (referral-status)"), lu},
               "") +
      "," +
      resource("QuestionnaireResponse", canon + "/StructureDefinition/hoa-questionnaireresponse",
               {"read", "vread", "history-instance", "search-type"},
               {idp, searchParam("identifier", "token", "The gateway's stable id"),
                searchParam("based-on", "reference", "The ServiceRequest"),
                searchParam("subject", "reference", "The patient"), searchParam("patient", "reference", "The patient"),
                searchParam("questionnaire", "reference", "The Questionnaire's canonical URL"),
                searchParam("status", "token", "QuestionnaireResponse.status"),
                searchParam("authored", "date", "When the answers were given"), lu},
               "") +
      "," + resource("Patient", canon + "/StructureDefinition/hoa-patient", {"read", "vread", "history-instance", "search-type"},
                     {idp, searchParam("identifier", "token", "Fødselsnummer or D-number"), lu}, "") +
      ",{\"type\":\"AuditEvent\",\"interaction\":[{\"code\":\"search-type\"}],\"documentation\":\"The clinic's certificate "
      "only\",\"searchParam\":[" +
      searchParam("date", "date", "Recorded on or after") + "," + searchParam("agent", "string", "The client's name") + "]}";
  for (const char* t : {"Practitioner", "PractitionerRole", "Organization", "Condition", "Observation", "DocumentReference"})
    b += ",{\"type\":" + jq(t) + ",\"interaction\":[{\"code\":\"read\"},{\"code\":\"vread\"},{\"code\":\"history-instance\"}]}";
  b += "],\"interaction\":[{\"code\":\"transaction\"}],\"operation\":[{\"name\":\"process-message\",\"definition\":"
       "\"http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message\"},{\"name\":\"validate\",\"definition\":"
       "\"http://hl7.org/fhir/OperationDefinition/Resource-validate\"}]}],\"messaging\":[{\"documentation\":"
       "\"Synchronous: POST [base]/$process-message with a message Bundle (event referral-new); the response message "
       "carries the Task. Event: " + canon + "/CodeSystem/message-event#referral-new (also "
       "http://terminology.hl7.org/CodeSystem/v2-0003#I12)\"}]}";
  HttpResponse r = resourceResponse(*s_.registry, 200, b, fmt);
  r.interaction = "capabilities";
  return r;
}

// --- /clinic -----------------------------------------------------------------------------

HttpResponse Api::handleClinic(const HttpRequest& req, std::string_view path) const {
  const fhir::Registry& reg = *s_.registry;
  Lang lang = requestLang(req);
  HttpResponse r;
  if (!req.principal->isClinic()) {
    r = errorResponse(reg, 403, "forbidden", {"Klinikk-API-et er bare for klinikkens sertifikat",
                                              "The clinic API is for the clinic's certificate only"},
                      lang, fhir::Format::Json);
    r.interaction = "clinic";
    return r;
  }
  const std::vector<std::string> parts = splitPath(path);
  const std::string& m = req.method;
  auto notAllowed = [&](const std::string& allow) { return methodNotAllowed(reg, m, allow, lang, fhir::Format::Json); };
  auto issuesJson = [](const fhir::Issues& issues) { return operationOutcomeJsonFor(issues); };
  if (!parts.empty() && parts[0] == "deliveries") {
    r = deliveries(req, parts);
    r.interaction = "clinic-deliveries";
    return r;
  }
  if (parts.empty() || parts[0] != "referrals")
    return errorResponse(reg, 404, "not-found", {"Ukjent adresse: " + req.path, "Unknown path: " + req.path}, lang,
                         fhir::Format::Json);
  if (parts.size() == 1) {
    if (m != "GET") return notAllowed("GET");
    ReferralFilter f;
    f.status = req.param("status").value_or("");
    std::string overdue = req.param("overdue").value_or("");
    if (overdue == "true") f.overdueBefore = osloToday();
    else if (!overdue.empty() && overdue != "false")
      return errorResponse(reg, 400, "invalid", {"overdue er true eller false", "overdue is true or false"}, lang,
                           fhir::Format::Json);
    if (!f.status.empty() && !s_.tasks->status(f.status))
      return errorResponse(reg, 400, "invalid",
                           {"Ukjent status '" + f.status + "'", "Unknown status '" + f.status + "'"}, lang,
                           fhir::Format::Json);
    if (auto bad = pageParams(req, f.count, f.offset))
      return errorResponse(reg, 400, "invalid", {bad->first, bad->second}, lang, fhir::Format::Json);
    auto rows = s_.store->read([&](Queries& q) { return q.referrals(f); });
    std::string b = "[";
    for (size_t i = 0; i < rows.size(); ++i) b += (i ? "," : "") + workflow_.modelJson(rows[i]);
    b += "]";
    r = jsonResponse(200, b);
    r.interaction = "clinic-list";
    return r;
  }
  const std::string& id = parts[1];
  if (!isId(id))
    return errorResponse(reg, 400, "invalid", {"'" + id + "' er ikke en gyldig id", "'" + id + "' is not a valid id"},
                         lang, fhir::Format::Json);
  r.entity = "ServiceRequest/" + id;
  if (parts.size() == 2) {
    if (m != "GET") return notAllowed("GET");
    auto row = s_.store->read([&](Queries& q) { return q.referral(id); });
    if (!row)
      r = errorResponse(reg, 404, "not-found", {"Fant ingen henvisning med id " + id, "No referral with id " + id}, lang,
                        fhir::Format::Json);
    else
      r = jsonResponse(200, workflow_.modelJson(*row));
    r.interaction = "clinic-read";
    r.entity = "ServiceRequest/" + id;
    return r;
  }
  if (parts.size() == 3 && parts[2] == "transitions") {
    if (m != "POST") return notAllowed("POST");
    json::Error err;
    json::Document doc = json::Document::parse(req.body, err);
    if (!doc.root() || !doc.root()->isObject()) {
      r = errorResponse(reg, 400, "structure",
                        {"Forventet et JSON-objekt {\"to\": status, ...}", "Expected a JSON object {\"to\": status, ...}"},
                        lang, fhir::Format::Json);
    } else {
      const json::Value* o = doc.root();
      clinic::TransitionRequest tr;
      tr.to = std::string(o->getString("to"));
      tr.reason = std::string(o->getString("reason"));
      tr.careStartDeadline = std::string(o->getString("careStartDeadline"));
      tr.offering = std::string(o->getString("offering"));
      if (tr.to.empty()) {
        r = errorResponse(reg, 400, "required", {"Mangler \"to\" (ny status)", "\"to\" (the new status) is missing"}, lang,
                          fhir::Format::Json);
      } else {
        Workflow::TransitionOutcome t = workflow_.transition(id, tr, lang);
        if (t.status >= 400) {
          std::string b = issuesJson(t.issues);
          if (!t.allowed.empty()) {
            // The allowed transitions, for programs: one extension each on the
            // OperationOutcome (people find them in the message too).
            const std::string prefix = "{\"resourceType\":\"OperationOutcome\",";
            if (b.compare(0, prefix.size(), prefix) == 0) {
              std::string ext = "\"extension\":[";
              for (size_t i = 0; i < t.allowed.size(); ++i)
                ext += std::string(i ? "," : "") + "{\"url\":" + jq(s_.config->canonicalBase + kAllowedTransitionPath) +
                       ",\"valueCode\":" + jq(t.allowed[i]) + "}";
              b = prefix + ext + "]," + b.substr(prefix.size());
            }
          }
          r = jsonResponse(t.status, b);
          r.contentType = std::string(kFhirJson);
        } else {
          r = jsonResponse(200, t.modelJson);
        }
      }
    }
    r.interaction = "clinic-transition";
    r.action = "U";
    r.entity = "ServiceRequest/" + id;
    return r;
  }
  if (parts.size() == 3 && parts[2] == "questionnaire-responses") {
    if (m != "POST") return notAllowed("POST");
    Workflow::ResponseOutcome o = workflow_.addQuestionnaireResponse(id, req, lang);
    if (o.status >= 400) {
      r = outcomeResponse(reg, o.status, o.issues, fhir::Format::Json);
    } else {
      std::string scores = "[";
      for (size_t i = 0; i < o.scores.size(); ++i) {
        const auto& sc = o.scores[i];
        scores += std::string(i ? "," : "") + "{\"instrument\":" + jq(sc.instrument ? sc.instrument->id : "") +
                  ",\"complete\":" + (sc.complete ? "true" : "false");
        if (sc.complete) scores += ",\"total\":" + std::to_string(sc.total) + ",\"band\":" + jq(sc.band);
        scores += "}";
      }
      scores += "]";
      r = jsonResponse(o.status, "{\"questionnaireResponse\":" + o.resource.json + ",\"scores\":" + scores + "}");
      r.set("Location", s_.config->publicBase + "/QuestionnaireResponse/" + o.resource.id + "/_history/1");
    }
    r.interaction = "clinic-questionnaire-response";
    r.action = o.status == 200 ? "R" : "C";
    r.entity = o.resource.id.empty() ? "ServiceRequest/" + id : "QuestionnaireResponse/" + o.resource.id;
    return r;
  }
  return errorResponse(reg, 404, "not-found", {"Ukjent adresse: " + req.path, "Unknown path: " + req.path}, lang,
                       fhir::Format::Json);
}

// --- /clinic/deliveries ------------------------------------------------------------------

namespace {

std::string eventJson(const OutboxEvent& e) {
  std::string b = "{\"id\":" + std::to_string(e.id) + ",\"state\":" + jq(e.state) + ",\"practice\":" + jq(e.practice) +
                  ",\"referral\":" + jq(e.referralId) + ",\"resource\":" +
                  jq(e.resourceType + "/" + e.resourceId + "/_history/" + std::to_string(e.resourceVersion)) +
                  ",\"identifier\":" + jq(e.identifierSystem + "|" + e.identifierValue) + ",\"createdAt\":" +
                  jq(e.createdAt) + ",\"attempts\":" + std::to_string(e.attempts) + ",\"nextAttemptAt\":" +
                  jq(e.nextAttemptAt) + ",\"lastStatus\":" + std::to_string(e.lastStatus) + ",\"lastError\":" +
                  jq(e.lastError) + ",\"deliveredAt\":" + jq(e.deliveredAt) + ",\"updatedAt\":" + jq(e.updatedAt) + "}";
  return b;
}

}  // namespace

HttpResponse Api::deliveries(const HttpRequest& req, const std::vector<std::string>& parts) const {
  const fhir::Registry& reg = *s_.registry;
  Lang lang = requestLang(req);
  const std::string& m = req.method;
  auto notAllowed = [&](const std::string& allow) { return methodNotAllowed(reg, m, allow, lang, fhir::Format::Json); };
  if (parts.size() == 1) {
    if (m != "GET") return notAllowed("GET");
    OutboxFilter f;
    f.state = req.param("state").value_or("");
    static const std::set<std::string, std::less<>> kStates = {"", "pending", "in-flight", "delivered", "failed"};
    if (!kStates.count(f.state))
      return errorResponse(reg, 400, "invalid",
                           {"state er pending, in-flight, delivered eller failed",
                            "state is pending, in-flight, delivered or failed"},
                           lang, fhir::Format::Json);
    f.practice = req.param("practice").value_or("");
    f.referralId = req.param("referral").value_or("");
    if (auto bad = pageParams(req, f.count, f.offset))
      return errorResponse(reg, 400, "invalid", {bad->first, bad->second}, lang, fhir::Format::Json);
    auto events = s_.store->read([&](Queries& q) { return q.outbox(f); });
    std::string b = "[";
    for (size_t i = 0; i < events.size(); ++i) b += (i ? "," : "") + eventJson(events[i]);
    b += "]";
    return jsonResponse(200, b);
  }
  if (parts.size() == 2 && parts[1] == "counters") {
    if (m != "GET") return notAllowed("GET");
    auto counts = s_.store->read([&](Queries& q) { return q.outboxCounts(""); });
    std::string b = "{\"states\":{";
    for (size_t i = 0; i < counts.size(); ++i)
      b += (i ? "," : "") + jq(counts[i].first) + ":" + std::to_string(counts[i].second);
    b += "}";
    if (s_.delivery) {
      Delivery::Counters c = s_.delivery->counters();
      b += ",\"sinceStart\":{\"attempts\":" + std::to_string(c.attempts) + ",\"delivered\":" +
           std::to_string(c.delivered) + ",\"retried\":" + std::to_string(c.retried) + ",\"failed\":" +
           std::to_string(c.failed) + "}";
    }
    b += ",\"endpoints\":[";
    const auto& eps = s_.config->delivery.endpoints;
    for (size_t i = 0; i < eps.size(); ++i)
      b += (i ? "," : "") + std::string("{\"practice\":") + jq(eps[i].herId) + ",\"baseUrl\":" + jq(eps[i].baseUrl) + "}";
    b += "]}";
    return jsonResponse(200, b);
  }
  char* end = nullptr;
  const long long id = std::strtoll(parts[1].c_str(), &end, 10);
  if (parts[1].empty() || *end || id <= 0)
    return errorResponse(reg, 400, "invalid",
                         {"'" + parts[1] + "' er ikke et leveransenummer", "'" + parts[1] + "' is not a delivery id"}, lang,
                         fhir::Format::Json);
  if (parts.size() == 2) {
    if (m != "GET") return notAllowed("GET");
    auto ev = s_.store->read([&](Queries& q) { return q.outboxEvent(id); });
    if (!ev)
      return errorResponse(reg, 404, "not-found", {"Fant ingen leveranse " + parts[1], "No delivery " + parts[1]}, lang,
                           fhir::Format::Json);
    return jsonResponse(200, eventJson(*ev));
  }
  if (parts.size() == 3 && parts[2] == "retry") {
    if (m != "POST") return notAllowed("POST");
    std::optional<OutboxEvent> updated;
    int status = 200;
    s_.store->write([&](WriteTxn& t) {
      auto ev = t.outboxEvent(id);
      if (!ev) {
        status = 404;
        return;
      }
      if (ev->state == "in-flight") {
        status = 409;
        updated = ev;
        return;
      }
      if (ev->state == "delivered") {
        // Replaying a delivered version is harmless only while it is the newest one of its
        // resource: otherwise the receiver would be set back to an older state.
        sql::StatementUse n(t.db().cached(
            "SELECT 1 FROM outbox WHERE resource_type = ? AND resource_id = ? AND resource_version > ? LIMIT 1"));
        n->bind(1, ev->resourceType).bind(2, ev->resourceId).bind(3, ev->resourceVersion);
        if (n->step()) {
          status = 412;
          return;
        }
      }
      // A replay: a fresh budget of attempts, due now. The newest delivered version may be
      // replayed too (the receiver's conditional update absorbs it).
      const std::string now = nowInstant();
      ev->state = "pending";
      ev->attempts = 0;
      ev->nextAttemptAt = now;
      ev->createdAt = now;  // the age limit counts from the replay
      ev->updatedAt = now;
      t.updateOutbox(*ev);
      sql::StatementUse u(t.db().cached("UPDATE outbox SET created_at = ? WHERE id = ?"));
      u->bind(1, now).bind(2, static_cast<int64_t>(id));
      u->run();
      updated = ev;
    });
    if (status == 404)
      return errorResponse(reg, 404, "not-found", {"Fant ingen leveranse " + parts[1], "No delivery " + parts[1]}, lang,
                           fhir::Format::Json);
    if (status == 409)
      return errorResponse(reg, 409, "conflict",
                           {"Leveransen sendes akkurat nå; prøv igjen om litt", "The delivery is being sent right now; try again shortly"},
                           lang, fhir::Format::Json);
    if (status == 412)
      return errorResponse(reg, 409, "conflict",
                           {"Leveransen er levert, og en nyere versjon av ressursen finnes; å sende den igjen ville "
                            "sette mottakeren tilbake til en eldre tilstand",
                            "The delivery was delivered and a newer version of its resource exists; sending it again "
                            "would set the receiver back to an older state"},
                           lang, fhir::Format::Json);
    if (s_.delivery) s_.delivery->notify(updated->practice);
    HttpResponse r = jsonResponse(200, eventJson(*updated));
    r.action = "U";
    r.entity = "";
    return r;
  }
  return errorResponse(reg, 404, "not-found", {"Ukjent adresse: " + req.path, "Unknown path: " + req.path}, lang,
                       fhir::Format::Json);
}

}  // namespace hoa::gateway
