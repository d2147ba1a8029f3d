#include "gateway/http.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>

namespace hoa::gateway {

bool Principal::mayAccess(std::string_view practice) const {
  if (isClinic()) return true;
  return std::find(herIds.begin(), herIds.end(), practice) != herIds.end();
}

bool CaseLess::operator()(const std::string& a, const std::string& b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) < std::tolower(static_cast<unsigned char>(y));
  });
}

std::string HttpRequest::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

std::optional<std::string> HttpRequest::param(std::string_view name) const {
  for (const auto& [k, v] : query)
    if (k == name) return v;
  return std::nullopt;
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return std::string(s.substr(a, b - a));
}

// The media type of a header value without parameters, lower case.
std::string mediaType(std::string_view v) { return lower(trim(v.substr(0, v.find(';')))); }

std::optional<fhir::Format> formatOfMime(const std::string& m) {
  if (m == "application/fhir+json" || m == "application/json" || m == "json" || m == "application/json+fhir")
    return fhir::Format::Json;
  if (m == "application/fhir+xml" || m == "application/xml" || m == "text/xml" || m == "xml" ||
      m == "application/xml+fhir")
    return fhir::Format::Xml;
  return std::nullopt;
}

}  // namespace

std::optional<fhir::Format> requestFormat(const HttpRequest& req) {
  std::string ct = req.header("Content-Type");
  if (trim(ct).empty()) return fhir::sniffFormat(req.body).value_or(fhir::Format::Json);
  return formatOfMime(mediaType(ct));
}

std::optional<fhir::Format> responseFormat(const HttpRequest& req, fhir::Format fallback) {
  if (auto f = req.param("_format")) {
    std::string m = lower(trim(*f));
    if (auto fmt = formatOfMime(m)) return fmt;
    return std::nullopt;
  }
  std::string accept = req.header("Accept");
  if (trim(accept).empty()) return fallback;
  // The acceptable type with the highest q (ties: the first listed).
  std::optional<fhir::Format> best;
  double bestQ = -1;
  bool any = false;
  size_t pos = 0;
  while (pos <= accept.size()) {
    size_t comma = accept.find(',', pos);
    std::string item = accept.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? accept.size() + 1 : comma + 1;
    std::string m = mediaType(item);
    double q = 1;
    if (size_t qp = item.find("q="); qp != std::string::npos) q = std::atof(item.c_str() + qp + 2);
    if (q <= 0) continue;
    std::optional<fhir::Format> f = formatOfMime(m);
    if (!f && (m == "*/*" || m == "application/*")) {
      any = true;
      f = fallback;
    }
    if (f && q > bestQ) {
      best = f;
      bestQ = q;
    }
  }
  if (best) return best;
  if (any) return fallback;
  return std::nullopt;
}

clinic::Lang requestLang(const HttpRequest& req) {
  std::string al = req.header("Accept-Language");
  // The first language with the highest q.
  double bestQ = -1;
  clinic::Lang best = clinic::Lang::Nb;
  size_t pos = 0;
  while (pos < al.size()) {
    size_t comma = al.find(',', pos);
    std::string item = al.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? al.size() : comma + 1;
    std::string tag = lower(trim(item.substr(0, item.find(';'))));
    double q = 1;
    if (size_t qp = item.find("q="); qp != std::string::npos) q = std::atof(item.c_str() + qp + 2);
    if (q <= bestQ || tag.empty()) continue;
    if (tag == "en" || tag.rfind("en-", 0) == 0) {
      best = clinic::Lang::En;
      bestQ = q;
    } else if (tag == "nb" || tag == "no" || tag == "nn" || tag.rfind("nb-", 0) == 0 || tag.rfind("no-", 0) == 0 ||
               tag.rfind("nn-", 0) == 0) {
      best = clinic::Lang::Nb;
      bestQ = q;
    }
  }
  return best;
}

std::string_view mimeType(fhir::Format f) {
  return f == fhir::Format::Xml ? "application/fhir+xml; charset=utf-8" : "application/fhir+json; charset=utf-8";
}

fhir::Issues oneIssue(fhir::Severity severity, std::string code, std::string message, std::string expression) {
  fhir::Issues issues;
  fhir::Issue i;
  i.severity = severity;
  i.code = std::move(code);
  i.message = std::move(message);
  i.expression = std::move(expression);
  issues.add(std::move(i));
  return issues;
}

bool renderResource(const fhir::Registry& registry, const std::string& json, fhir::Format format, std::string& out) {
  if (format == fhir::Format::Json) {
    out = json;
    return true;
  }
  fhir::ParseResult parsed = fhir::parseJson(registry, json);
  if (!parsed.doc.root()) return false;
  fhir::Issues issues;
  out.clear();
  return fhir::writeXml(*parsed.doc.root(), out, issues);
}

HttpResponse resourceResponse(const fhir::Registry& registry, int status, const std::string& json,
                              fhir::Format format) {
  HttpResponse r;
  r.status = status;
  r.contentType = std::string(mimeType(format));
  if (!renderResource(registry, json, format, r.body)) {
    // Only a narrative that is not well-formed XHTML cannot be written as XML.
    r.status = 500;
    r.contentType = std::string(mimeType(fhir::Format::Json));
    r.body = oneIssue(fhir::Severity::Error, "exception", "The resource cannot be written as XML").toOperationOutcomeJson();
  }
  return r;
}

HttpResponse outcomeResponse(const fhir::Registry& registry, int status, const fhir::Issues& issues,
                             fhir::Format format) {
  return resourceResponse(registry, status, issues.toOperationOutcomeJson(), format);
}

HttpResponse errorResponse(const fhir::Registry& registry, int status, std::string issueCode, const Text& text,
                           clinic::Lang lang, fhir::Format format) {
  return outcomeResponse(registry, status, oneIssue(fhir::Severity::Error, std::move(issueCode), text.in(lang)), format);
}

std::string percentDecode(std::string_view s, bool plusIsSpace) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (c == '+' && plusIsSpace) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string percentEncode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parseQuery(std::string_view q) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = 0;
  while (pos < q.size()) {
    size_t amp = q.find('&', pos);
    std::string_view item = q.substr(pos, amp == std::string_view::npos ? std::string_view::npos : amp - pos);
    pos = amp == std::string_view::npos ? q.size() : amp + 1;
    if (item.empty()) continue;
    size_t eq = item.find('=');
    std::string k = percentDecode(item.substr(0, eq), true);
    std::string v = eq == std::string_view::npos ? std::string() : percentDecode(item.substr(eq + 1), true);
    out.emplace_back(std::move(k), std::move(v));
  }
  return out;
}

std::string newId() {
  // UUID version 7 (RFC 9562): 48 bits of Unix time in milliseconds, then 74 random bits.
  // Time-ordered ids keep the database's B-tree inserts at the right edge, so a group
  // commit touches few pages; 74 random bits keep them unguessable.
  // Random bytes from OpenSSL's CSPRNG, fetched 1 KiB at a time per thread (one call per
  // 64 ids instead of one each: RAND_bytes takes a lock).
  thread_local unsigned char pool[1024];
  thread_local size_t used = sizeof pool;
  if (used + 16 > sizeof pool) {
    if (RAND_bytes(pool, sizeof pool) != 1) {
      thread_local std::mt19937_64 rng{std::random_device{}()};
      for (auto& x : pool) x = static_cast<unsigned char>(rng());
    }
    used = 0;
  }
  unsigned char b[16];
  std::memcpy(b, pool + used, sizeof b);
  std::memset(pool + used, 0, sizeof b);  // each byte is used once
  used += sizeof b;
  const auto ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
  for (int i = 0; i < 6; ++i) b[i] = static_cast<unsigned char>(ms >> (8 * (5 - i)));
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x70);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  char out[37];
  std::snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return out;
}

}  // namespace hoa::gateway
