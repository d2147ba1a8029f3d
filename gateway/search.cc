#include "gateway/search.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "fhir/json.h"
#include "gateway/timeutil.h"

namespace hoa::gateway {
namespace {

enum class Kind { Token, Reference, Date, Uri };

struct ParamDef {
  std::string_view type;
  std::string_view name;
  Kind kind;
  std::string_view path;              // dot path into the resource's JSON
  std::string_view targetType = {};   // references: the type of a bare id
};

const ParamDef kParams[] = {
    {"ServiceRequest", "identifier", Kind::Token, "identifier"},
    {"ServiceRequest", "patient", Kind::Reference, "subject", "Patient"},
    {"ServiceRequest", "subject", Kind::Reference, "subject", "Patient"},
    {"ServiceRequest", "status", Kind::Token, "status"},
    {"Task", "identifier", Kind::Token, "identifier"},
    {"Task", "focus", Kind::Reference, "focus", "ServiceRequest"},
    {"Task", "based-on", Kind::Reference, "basedOn", "ServiceRequest"},
    {"Task", "patient", Kind::Reference, "for", "Patient"},
    {"Task", "status", Kind::Token, "status"},
    {"Task", "business-status", Kind::Token, "businessStatus"},
    {"QuestionnaireResponse", "identifier", Kind::Token, "identifier"},
    {"QuestionnaireResponse", "based-on", Kind::Reference, "basedOn", "ServiceRequest"},
    {"QuestionnaireResponse", "subject", Kind::Reference, "subject", "Patient"},
    {"QuestionnaireResponse", "patient", Kind::Reference, "subject", "Patient"},
    {"QuestionnaireResponse", "questionnaire", Kind::Uri, "questionnaire"},
    {"QuestionnaireResponse", "status", Kind::Token, "status"},
    {"QuestionnaireResponse", "authored", Kind::Date, "authored"},
    {"Patient", "identifier", Kind::Token, "identifier"},
};

const ParamDef* findParam(std::string_view type, std::string_view name) {
  for (const ParamDef& p : kParams)
    if (p.type == type && p.name == name) return &p;
  return nullptr;
}

// Every value at a dot path (arrays flattened).
void collect(const json::Value* v, std::string_view path, std::vector<const json::Value*>& out) {
  if (!v) return;
  if (v->isArray()) {
    for (const json::Value* item : *v) collect(item, path, out);
    return;
  }
  if (path.empty()) {
    out.push_back(v);
    return;
  }
  if (!v->isObject()) return;
  size_t dot = path.find('.');
  std::string_view head = path.substr(0, dot);
  std::string_view rest = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
  collect(v->find(head), rest, out);
}

// "http://x/fhir/Patient/1/_history/2" → "Patient/1"; "Patient/1" stays; "#p" → "".
std::string normaliseReference(std::string_view ref) {
  if (ref.empty() || ref[0] == '#' || ref.rfind("urn:", 0) == 0) return {};
  if (size_t h = ref.find("/_history/"); h != std::string_view::npos) ref = ref.substr(0, h);
  size_t last = ref.rfind('/');
  if (last == std::string_view::npos || last == 0) return {};
  std::string_view id = ref.substr(last + 1);
  size_t prev = ref.rfind('/', last - 1);
  std::string_view type = prev == std::string_view::npos ? ref.substr(0, last) : ref.substr(prev + 1, last - prev - 1);
  auto idChar = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.'; };
  if (id.empty() || id.size() > 64 || !std::all_of(id.begin(), id.end(), idChar)) return {};
  if (type.empty() || !std::isupper(static_cast<unsigned char>(type[0])) ||
      !std::all_of(type.begin(), type.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); }))
    return {};
  return std::string(type) + "/" + std::string(id);
}

void addToken(std::vector<IndexRow>& rows, std::string_view param, const json::Value* v) {
  if (v->isString()) {
    rows.push_back({std::string(param), "", std::string(v->text), "", ""});
    return;
  }
  if (!v->isObject()) return;
  if (const json::Value* codings = v->find("coding")) {  // CodeableConcept
    std::vector<const json::Value*> cs;
    collect(codings, "", cs);
    for (const json::Value* c : cs)
      if (c->isObject() && !c->getString("code").empty())
        rows.push_back({std::string(param), std::string(c->getString("system")), std::string(c->getString("code")), "", ""});
    return;
  }
  if (!v->getString("code").empty()) {  // Coding
    rows.push_back({std::string(param), std::string(v->getString("system")), std::string(v->getString("code")), "", ""});
    return;
  }
  if (!v->getString("value").empty())  // Identifier
    rows.push_back({std::string(param), std::string(v->getString("system")), std::string(v->getString("value")), "", ""});
}

}  // namespace

bool isSearchable(std::string_view type) {
  return type == "ServiceRequest" || type == "Task" || type == "QuestionnaireResponse" || type == "Patient";
}

std::vector<IndexRow> indexRows(std::string_view type, std::string_view text) {
  std::vector<IndexRow> rows;
  // _id is matched on the resource table itself; types without search parameters get no rows.
  if (!isSearchable(type)) return rows;
  json::Error err;
  json::Document doc = json::Document::parse(std::string(text), err);
  if (!doc.root() || !doc.root()->isObject()) return rows;
  for (const ParamDef& p : kParams) {
    if (p.type != type) continue;
    std::vector<const json::Value*> values;
    collect(doc.root(), p.path, values);
    for (const json::Value* v : values) {
      switch (p.kind) {
        case Kind::Token: addToken(rows, p.name, v); break;
        case Kind::Uri:
          if (v->isString()) {
            std::string_view u = v->text;
            rows.push_back({std::string(p.name), "", std::string(u.substr(0, u.find('|'))), "", ""});
          }
          break;
        case Kind::Date:
          if (v->isString())
            if (auto r = instantRange(v->text)) rows.push_back({std::string(p.name), "", "", r->first, r->second});
          break;
        case Kind::Reference:
          if (!v->isObject()) break;
          if (std::string ref = normaliseReference(v->getString("reference")); !ref.empty())
            rows.push_back({std::string(p.name), "", ref, "", ""});
          if (const json::Value* id = v->find("identifier"); id && id->isObject() && !id->getString("value").empty())
            rows.push_back({std::string(p.name) + ":identifier", std::string(id->getString("system")),
                            std::string(id->getString("value")), "", ""});
          break;
      }
    }
  }
  return rows;
}

SearchRequest parseSearch(std::string_view type, const std::vector<std::pair<std::string, std::string>>& params,
                          int defaultCount, int maxCount) {
  SearchRequest out;
  out.query.type = std::string(type);
  out.query.count = static_cast<size_t>(defaultCount);
  static const std::vector<std::string_view> kResultParams = {"_format", "_pretty"};
  for (const auto& [rawName, value] : params) {
    std::string name = rawName;
    std::string modifier;
    if (size_t colon = name.find(':'); colon != std::string::npos) {
      modifier = name.substr(colon + 1);
      name = name.substr(0, colon);
    }
    if (std::find(kResultParams.begin(), kResultParams.end(), name) != kResultParams.end()) continue;
    if (name == "_count") {
      char* end = nullptr;
      long n = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end || n < 0) {
        out.error = "_count must be a non-negative integer, not '" + value + "'";
        return out;
      }
      out.query.count = static_cast<size_t>(std::min<long>(n, maxCount));
      continue;
    }
    if (name == "_offset") {
      char* end = nullptr;
      long n = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end || n < 0) {
        out.error = "_offset must be a non-negative integer, not '" + value + "'";
        return out;
      }
      out.query.offset = static_cast<size_t>(n);
      continue;
    }
    SearchCriterion crit;
    crit.param = name;
    // Comma-separated alternatives (a literal comma is escaped as "\,").
    std::vector<std::string> alts;
    {
      std::string cur;
      for (size_t i = 0; i < value.size(); ++i) {
        if (value[i] == '\\' && i + 1 < value.size() && value[i + 1] == ',') {
          cur += ',';
          ++i;
        } else if (value[i] == ',') {
          alts.push_back(cur);
          cur.clear();
        } else {
          cur += value[i];
        }
      }
      alts.push_back(cur);
    }
    if (name == "_id") {
      if (!modifier.empty()) {
        out.ignored.push_back(rawName);
        continue;
      }
      // _id is an exact match on the resource id (the resource table's key).
      crit.param = "_id";
      for (const std::string& a : alts) crit.anyOf.push_back({SearchMatch::Kind::Exact, true, "", a});
      out.query.all.push_back(std::move(crit));
      out.applied.emplace_back(rawName, value);
      continue;
    }
    if (name == "_lastUpdated") {
      if (!modifier.empty()) {
        out.ignored.push_back(rawName);
        continue;
      }
      for (const std::string& a : alts) {
        SearchMatch m;
        m.kind = SearchMatch::Kind::Date;
        std::string v = a;
        static const char* kPrefixes[] = {"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb"};
        for (const char* p : kPrefixes)
          if (v.size() > 2 && v.rfind(p, 0) == 0 && std::isdigit(static_cast<unsigned char>(v[2]))) {
            m.prefix = p;
            v = v.substr(2);
          }
        auto r = instantRange(v);
        if (!r) {
          out.error = "_lastUpdated: '" + a + "' is not a date or dateTime";
          return out;
        }
        m.lo = r->first;
        m.hi = r->second;
        crit.anyOf.push_back(std::move(m));
      }
      out.query.all.push_back(std::move(crit));
      out.applied.emplace_back(rawName, value);
      continue;
    }
    const ParamDef* def = findParam(type, name);
    if (!def) {
      out.ignored.push_back(rawName);
      continue;
    }
    bool identifierModifier = modifier == "identifier" && def->kind == Kind::Reference;
    if (!modifier.empty() && !identifierModifier) {
      out.ignored.push_back(rawName);
      continue;
    }
    for (const std::string& a : alts) {
      SearchMatch m;
      if (def->kind == Kind::Date) {
        m.kind = SearchMatch::Kind::Date;
        std::string v = a;
        static const char* kPrefixes[] = {"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb"};
        for (const char* p : kPrefixes)
          if (v.size() > 2 && v.rfind(p, 0) == 0 && std::isdigit(static_cast<unsigned char>(v[2]))) {
            m.prefix = p;
            v = v.substr(2);
          }
        auto r = instantRange(v);
        if (!r) {
          out.error = name + ": '" + a + "' is not a date or dateTime";
          return out;
        }
        m.lo = r->first;
        m.hi = r->second;
      } else if (def->kind == Kind::Token || identifierModifier) {
        size_t bar = a.find('|');
        if (bar == std::string::npos) {
          m.value = a;
        } else {
          m.anySystem = false;
          m.system = a.substr(0, bar);
          m.value = a.substr(bar + 1);
        }
        if (m.value.empty()) {
          out.error = rawName + ": '" + a + "' has no code";
          return out;
        }
      } else if (def->kind == Kind::Reference) {
        std::string ref = normaliseReference(a);
        if (ref.empty()) {
          if (a.empty() || a.find('/') != std::string::npos) {
            out.error = name + ": '" + a + "' is not a reference (Type/id or id)";
            return out;
          }
          ref = std::string(def->targetType) + "/" + a;
        }
        m.value = ref;
      } else {  // uri: a canonical, version ignored
        m.value = a.substr(0, a.find('|'));
      }
      crit.anyOf.push_back(std::move(m));
    }
    if (identifierModifier) crit.param = name + ":identifier";
    out.query.all.push_back(std::move(crit));
    out.applied.emplace_back(rawName, value);
  }
  return out;
}

}  // namespace hoa::gateway
