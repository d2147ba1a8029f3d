#pragma once
// The gateway's view of an HTTP exchange, independent of Poco: the REST and clinic
// handlers are functions from HttpRequest to HttpResponse (gateway/server.cc adapts
// Poco's request and response, and tests call the handlers directly).
//
// Also: content negotiation (FHIR JSON / XML), the language of messages, and
// OperationOutcome responses — the one place that turns problems into a status.
//
// Thread-safety: the functions are reentrant.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fhir/definitions.h"
#include "fhir/format.h"
#include "fhir/issue.h"
#include "gateway/config.h"
#include "mappings/rules.h"

namespace hoa::gateway {

// Who is calling: from the verified client certificate and the configuration.
struct Principal {
  std::string name;
  ClientConfig::Kind kind = ClientConfig::Kind::Referrer;
  std::vector<std::string> herIds;  // referrers: the practices it acts for

  bool isClinic() const { return kind == ClientConfig::Kind::Clinic; }
  bool isReferrer() const { return kind == ClientConfig::Kind::Referrer; }
  // Whether it may see data of this practice (the clinic sees every practice).
  bool mayAccess(std::string_view practiceHerId) const;
  std::string_view kindName() const { return isClinic() ? "clinic" : "referrer"; }
};

struct CaseLess {
  bool operator()(const std::string& a, const std::string& b) const;
};

struct HttpRequest {
  std::string method;
  std::string path;  // percent-decoded, without the query
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  std::map<std::string, std::string, CaseLess> headers;
  std::string body;
  std::string requestId;
  const Principal* principal = nullptr;  // null: no (known) client certificate

  std::string header(const std::string& name) const;
  // The first value of a query parameter, or nullopt.
  std::optional<std::string> param(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string contentType;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // For the audit trail: what the request did.
  std::string interaction;  // create, read, vread, history, search, update, transaction, operation, ...
  std::string action = "R";  // C R U D E
  std::string entity;        // "Type/id"
  std::string error;         // an internal failure, for the server log only (never sent)

  void set(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
};

// --- negotiation -------------------------------------------------------------------------

// The format of a request body from Content-Type (FHIR JSON: application/fhir+json,
// application/json; XML: application/fhir+xml, application/xml, text/xml); when the
// header is absent, from the body's first character. nullopt: unsupported (415).
std::optional<fhir::Format> requestFormat(const HttpRequest& req);
// The format of the response from `_format`, else Accept, else `fallback`. nullopt: the
// client accepts neither (406).
std::optional<fhir::Format> responseFormat(const HttpRequest& req, fhir::Format fallback = fhir::Format::Json);
// Messages in English when Accept-Language prefers English, else bokmål.
clinic::Lang requestLang(const HttpRequest& req);
std::string_view mimeType(fhir::Format f);

// --- responses ---------------------------------------------------------------------------

// A message in both languages.
struct Text {
  std::string nb, en;
  const std::string& in(clinic::Lang l) const { return l == clinic::Lang::En ? en : nb; }
};

// An OperationOutcome with one issue.
fhir::Issues oneIssue(fhir::Severity severity, std::string code, std::string message, std::string expression = {});
// The response for an OperationOutcome (rendered in `format`).
HttpResponse outcomeResponse(const fhir::Registry& registry, int status, const fhir::Issues& issues, fhir::Format format);
HttpResponse errorResponse(const fhir::Registry& registry, int status, std::string issueCode, const Text& text,
                           clinic::Lang lang, fhir::Format format);
// A resource (FHIR JSON text) rendered in `format` as the response body.
HttpResponse resourceResponse(const fhir::Registry& registry, int status, const std::string& json, fhir::Format format);
// JSON text of a resource rendered in `format` (XML by parsing it into the element model).
bool renderResource(const fhir::Registry& registry, const std::string& json, fhir::Format format, std::string& out);

// Percent-decoding of a URL component ('+' kept as '+' in paths, ' ' in queries).
std::string percentDecode(std::string_view s, bool plusIsSpace);
std::string percentEncode(std::string_view s);
// Parses "a=1&b=2" into decoded pairs.
std::vector<std::pair<std::string, std::string>> parseQuery(std::string_view query);

// A random version 4 UUID (the ids the gateway assigns).
std::string newId();

}  // namespace hoa::gateway
