// The referral test corpus (tests/data/referrals/cases.json): each case edits the clinic
// package's example referral by LOGICAL resource (the Patient, the work Observation, …),
// so one case runs in the three transport forms of the contract (REST create with
// contained resources, transaction Bundle, message Bundle) and in both formats (JSON, and
// XML written by fhir::writeXml and read back by the XML parser). Each case states its
// expected result: the exact internal model (a golden file in tests/data/referrals/golden,
// the same for every form and format) or the exact issues (severity, IssueType, rule code,
// FHIRPath expression, computed per form from the logical resource).
//
// The case format is documented in tests/data/referrals/README.md.
//
// HOA_UPDATE_GOLDEN=1 writes the golden file of an accepted case from its first run when
// the file is missing or differs (every other run of the case is still compared with it).
// A rewritten golden must be reviewed against the referral contract before it is committed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "fhir/format.h"
#include "fhir/json.h"
#include "fhir/validator.h"
#include "mappings/clinic_package.h"
#include "mappings/intake.h"
#include "mappings/referral.h"
#include "mappings/rules.h"
#include "tests/mappings/clinic_support.h"
#include "tests/test_env.h"

namespace hoa::clinic {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------
// A small mutable JSON tree (json::Document is read-only). Numbers keep their text.

struct J {
  json::Type type = json::Type::Null;
  bool boolean = false;
  std::string text;  // String: the unescaped text; Number: the literal
  std::vector<J> items;
  std::vector<std::pair<std::string, J>> members;

  bool isObject() const { return type == json::Type::Object; }
  bool isArray() const { return type == json::Type::Array; }
  bool isString() const { return type == json::Type::String; }
  J* find(std::string_view key) {
    for (auto& [k, v] : members)
      if (k == key) return &v;
    return nullptr;
  }
  const J* find(std::string_view key) const { return const_cast<J*>(this)->find(key); }
  std::string str(std::string_view key) const {
    const J* v = find(key);
    return v && v->isString() ? v->text : std::string();
  }
  void set(const std::string& key, J v) {
    if (J* have = find(key))
      *have = std::move(v);
    else
      members.emplace_back(key, std::move(v));
  }
  bool erase(std::string_view key) {
    for (size_t i = 0; i < members.size(); ++i)
      if (members[i].first == key) {
        members.erase(members.begin() + static_cast<std::ptrdiff_t>(i));
        return true;
      }
    return false;
  }
  static J object() {
    J j;
    j.type = json::Type::Object;
    return j;
  }
  static J array() {
    J j;
    j.type = json::Type::Array;
    return j;
  }
  static J string(std::string s) {
    J j;
    j.type = json::Type::String;
    j.text = std::move(s);
    return j;
  }
};

J fromJson(const json::Value& v) {
  J j;
  j.type = v.type;
  j.boolean = v.boolean;
  if (v.type == json::Type::String || v.type == json::Type::Number) j.text = std::string(v.text);
  if (v.isArray())
    for (const json::Value* i : v) j.items.push_back(fromJson(*i));
  if (v.isObject())
    for (uint32_t i = 0; i < v.size; ++i)
      j.members.emplace_back(std::string(v.members[i].key), fromJson(*v.members[i].value));
  return j;
}

void write(const J& v, std::string& out, int depth) {
  auto nl = [&](int d) {
    out += '\n';
    out.append(static_cast<size_t>(d) * 2, ' ');
  };
  switch (v.type) {
    case json::Type::Null: out += "null"; break;
    case json::Type::Bool: out += v.boolean ? "true" : "false"; break;
    case json::Type::Number: out += v.text; break;
    case json::Type::String: json::appendQuoted(out, v.text); break;
    case json::Type::Array:
      out += '[';
      for (size_t i = 0; i < v.items.size(); ++i) {
        if (i) out += ',';
        nl(depth + 1);
        write(v.items[i], out, depth + 1);
      }
      if (!v.items.empty()) nl(depth);
      out += ']';
      break;
    case json::Type::Object:
      out += '{';
      for (size_t i = 0; i < v.members.size(); ++i) {
        if (i) out += ',';
        nl(depth + 1);
        json::appendQuoted(out, v.members[i].first);
        out += ": ";
        write(v.members[i].second, out, depth + 1);
      }
      if (!v.members.empty()) nl(depth);
      out += '}';
      break;
  }
}

std::string toText(const J& v) {
  std::string out;
  write(v, out, 0);
  out += '\n';
  return out;
}

J parseJ(const std::string& text, const std::string& what) {
  json::Error err;
  json::Document d = json::Document::parse(text, err);
  if (!d.root())
    throw std::runtime_error(what + ": line " + std::to_string(err.line) + ", column " + std::to_string(err.column) +
                             ": " + err.message);
  return fromJson(*d.root());
}

// ---------------------------------------------------------------------------------------
// The corpus.

enum class Form { RestCreate, Transaction, Message };
const Form kForms[] = {Form::RestCreate, Form::Transaction, Form::Message};
std::string_view formName(Form f) {
  return f == Form::RestCreate ? "rest-create" : f == Form::Transaction ? "transaction" : "message";
}

struct Change {
  std::string resource, op, path;
  std::optional<J> value;
  std::vector<Form> forms;  // empty: every form of the case
};

struct ExpectedIssue {
  std::string severity, code, rule, resource, path;
  bool hasRule = false;
  std::string messageContains;
  std::string describe() const {
    return severity + " " + code + (hasRule ? " [" + rule + "]" : "") + " at " + resource +
           (path.empty() ? "" : ":" + path) +
           (messageContains.empty() ? "" : " (message contains \"" + messageContains + "\")");
  }
};

struct Case {
  std::string name;
  std::string description;
  std::vector<Form> forms;
  std::vector<fhir::Format> formats;
  bool allowSyntheticIds = true;
  std::string clinicHerId = "900100";
  Lang lang = Lang::Nb;
  std::vector<Change> changes;
  std::vector<std::pair<std::string, std::string>> xmlEdits;  // find → replace
  std::string verdict;                                        // accepted | invalid-fhir | rejected
  std::string golden;
  std::vector<ExpectedIssue> issues;  // rejected/invalid: the issues; accepted: the warnings
  bool exactWarnings = false;
};

fs::path corpusDir() { return testing::testDataDir() / "referrals"; }

const std::set<std::string, std::less<>> kTargets = {
    "ServiceRequest", "Patient",         "Practitioner",          "PractitionerRole", "Organization",
    "Condition",      "WorkObservation", "OccupationObservation", "MessageHeader",    "Bundle"};

std::string need(const J& o, std::string_view key, const std::string& where) {
  const J* v = o.find(key);
  if (!v || !v->isString() || v->text.empty())
    throw std::runtime_error(where + ": needs \"" + std::string(key) + "\" (a string)");
  return v->text;
}

ExpectedIssue readIssue(const J& o, const std::string& where, const char* defaultSeverity) {
  ExpectedIssue e;
  e.severity = o.find("severity") ? need(o, "severity", where) : defaultSeverity;
  e.code = need(o, "code", where);
  if (const J* r = o.find("rule")) {
    e.hasRule = true;
    e.rule = r->text;
    if (!findRule(e.rule)) throw std::runtime_error(where + ": unknown rule '" + e.rule + "'");
  }
  e.resource = need(o, "resource", where);
  if (!kTargets.count(e.resource)) throw std::runtime_error(where + ": unknown resource '" + e.resource + "'");
  e.path = o.str("path");
  e.messageContains = o.str("messageContains");
  for (const auto& [k, v] : o.members)
    if (k != "severity" && k != "code" && k != "rule" && k != "resource" && k != "path" && k != "messageContains")
      throw std::runtime_error(where + ": unknown member '" + k + "'");
  return e;
}

Case readCase(const J& o, size_t index) {
  Case c;
  c.name = o.str("name");
  std::string where = "case " + std::to_string(index) + (c.name.empty() ? "" : " (" + c.name + ")");
  if (c.name.empty()) throw std::runtime_error(where + ": needs a \"name\"");
  static const std::set<std::string, std::less<>> known = {"name", "description", "forms",    "formats", "config",
                                                           "lang", "changes",     "xmlEdits", "expect"};
  for (const auto& [k, v] : o.members)
    if (!known.count(k)) throw std::runtime_error(where + ": unknown member '" + k + "'");
  c.description = o.str("description");
  if (const J* f = o.find("forms")) {
    for (const J& i : f->items) {
      if (i.text == "rest-create")
        c.forms.push_back(Form::RestCreate);
      else if (i.text == "transaction")
        c.forms.push_back(Form::Transaction);
      else if (i.text == "message")
        c.forms.push_back(Form::Message);
      else
        throw std::runtime_error(where + ": unknown form '" + i.text + "'");
    }
  } else {
    c.forms.assign(std::begin(kForms), std::end(kForms));
  }
  if (const J* f = o.find("formats")) {
    for (const J& i : f->items) {
      if (i.text == "json")
        c.formats.push_back(fhir::Format::Json);
      else if (i.text == "xml")
        c.formats.push_back(fhir::Format::Xml);
      else
        throw std::runtime_error(where + ": unknown format '" + i.text + "'");
    }
  } else {
    c.formats = {fhir::Format::Json, fhir::Format::Xml};
  }
  if (c.forms.empty() || c.formats.empty()) throw std::runtime_error(where + ": no form or no format to run");
  if (const J* cfg = o.find("config")) {
    for (const auto& [k, v] : cfg->members) {
      if (k == "allowSyntheticIds")
        c.allowSyntheticIds = v.boolean;
      else if (k == "clinicHerId")
        c.clinicHerId = v.text;
      else
        throw std::runtime_error(where + ": unknown config '" + k + "'");
    }
  }
  std::string lang = o.str("lang");
  if (lang == "en")
    c.lang = Lang::En;
  else if (!lang.empty() && lang != "nb")
    throw std::runtime_error(where + ": lang is nb or en");
  if (const J* ch = o.find("changes")) {
    for (const J& i : ch->items) {
      Change x;
      x.resource = need(i, "resource", where);
      x.op = need(i, "op", where);
      x.path = i.str("path");
      if (const J* v = i.find("value")) x.value = *v;
      if (const J* f = i.find("forms"))
        for (const J& name : f->items) {
          auto it = std::find_if(std::begin(kForms), std::end(kForms),
                                 [&](Form form) { return formName(form) == name.text; });
          if (it == std::end(kForms)) throw std::runtime_error(where + ": unknown form '" + name.text + "'");
          x.forms.push_back(*it);
        }
      if (!kTargets.count(x.resource)) throw std::runtime_error(where + ": unknown resource '" + x.resource + "'");
      bool needsValue = x.op == "set" || x.op == "append" || x.op == "add-resource";
      if (x.op != "set" && x.op != "remove" && x.op != "append" && x.op != "add-resource" && x.op != "copy")
        throw std::runtime_error(where + ": unknown op '" + x.op + "'");
      if (needsValue != x.value.has_value())
        throw std::runtime_error(where + ": op '" + x.op + "' and \"value\" disagree");
      c.changes.push_back(std::move(x));
    }
  }
  if (const J* xe = o.find("xmlEdits"))
    for (const J& i : xe->items) c.xmlEdits.emplace_back(need(i, "find", where), i.str("replace"));
  const J* ex = o.find("expect");
  if (!ex) throw std::runtime_error(where + ": needs \"expect\"");
  c.verdict = need(*ex, "verdict", where);
  if (c.verdict == "accepted") {
    c.golden = need(*ex, "golden", where);
    if (ex->find("issues")) throw std::runtime_error(where + ": an accepted case lists \"warnings\", not \"issues\"");
    if (const J* w = ex->find("warnings"))
      for (const J& i : w->items) c.issues.push_back(readIssue(i, where, "warning"));
  } else if (c.verdict == "invalid-fhir" || c.verdict == "rejected") {
    const J* is = ex->find("issues");
    if (!is || is->items.empty()) throw std::runtime_error(where + ": a refused case needs \"issues\"");
    for (const J& i : is->items) c.issues.push_back(readIssue(i, where, "error"));
  } else {
    throw std::runtime_error(where + ": verdict is accepted, invalid-fhir or rejected");
  }
  if (const J* e = ex->find("exactWarnings")) c.exactWarnings = e->boolean;
  return c;
}

struct Corpus {
  std::vector<Case> cases;
  std::string error;
};

const Corpus& corpus() {
  static const Corpus c = [] {
    Corpus out;
    try {
      J root = parseJ(testing::readFile(corpusDir() / "cases.json"), "cases.json");
      if (!root.isArray()) throw std::runtime_error("cases.json must be a list of cases");
      std::set<std::string> names;
      for (size_t i = 0; i < root.items.size(); ++i) {
        out.cases.push_back(readCase(root.items[i], i));
        if (!names.insert(out.cases.back().name).second)
          throw std::runtime_error("case name '" + out.cases.back().name + "' is used twice");
      }
    } catch (const std::exception& e) {
      out.cases.clear();
      out.error = e.what();
    }
    return out;
  }();
  return c;
}

// ---------------------------------------------------------------------------------------
// Editing a form's document by logical resource.

struct Seg {
  std::string name;
  std::optional<size_t> index;
};

std::vector<Seg> parsePath(const std::string& path) {
  std::vector<Seg> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t end = path.find_first_of(".[", i);
    Seg s;
    s.name = path.substr(i, end == std::string::npos ? std::string::npos : end - i);
    i = end == std::string::npos ? path.size() : end;
    if (i < path.size() && path[i] == '[') {
      size_t close = path.find(']', i);
      if (close == std::string::npos) throw std::runtime_error("bad path '" + path + "'");
      s.index = std::stoul(path.substr(i + 1, close - i - 1));
      i = close + 1;
    }
    if (s.name.empty()) throw std::runtime_error("bad path '" + path + "'");
    out.push_back(std::move(s));
    if (i < path.size()) {
      if (path[i] != '.') throw std::runtime_error("bad path '" + path + "'");
      ++i;
    }
  }
  return out;
}

// Where a logical resource is in a form's document.
struct Loc {
  enum Kind { Root, Contained, Entry } kind = Root;
  size_t index = 0;
  J* res = nullptr;
};

bool isBundleForm(Form f) { return f != Form::RestCreate; }

// The resources that can be targets: contained (REST create) or entry resources (Bundles).
std::vector<Loc> candidates(J& doc, Form form) {
  std::vector<Loc> out;
  if (!isBundleForm(form)) {
    if (J* c = doc.find("contained"))
      for (size_t i = 0; i < c->items.size(); ++i) out.push_back({Loc::Contained, i, &c->items[i]});
  } else if (J* e = doc.find("entry")) {
    for (size_t i = 0; i < e->items.size(); ++i)
      if (J* r = e->items[i].find("resource")) out.push_back({Loc::Entry, i, r});
  }
  return out;
}

bool hasLoinc(const J& obs, std::string_view code) {
  const J* cc = obs.find("code");
  const J* codings = cc ? cc->find("coding") : nullptr;
  if (!codings) return false;
  for (const J& c : codings->items)
    if (c.str("system") == "http://loinc.org" && c.str("code") == code) return true;
  return false;
}

// The reference text that points to `loc` in this form ("#id", or the entry's fullUrl).
std::string referenceTo(J& doc, const Loc& loc) {
  if (loc.kind == Loc::Root) return "#";
  if (loc.kind == Loc::Contained) return "#" + loc.res->str("id");
  return doc.find("entry")->items[loc.index].str("fullUrl");
}

std::optional<Loc> locate(J& doc, Form form, const std::string& target) {
  if (target == "Bundle") {
    if (!isBundleForm(form)) return std::nullopt;
    return Loc{Loc::Root, 0, &doc};
  }
  if (target == "ServiceRequest" && !isBundleForm(form)) return Loc{Loc::Root, 0, &doc};
  std::vector<Loc> all = candidates(doc, form);
  auto ofType = [&](std::string_view type) {
    std::vector<Loc> out;
    for (const Loc& l : all)
      if (l.res->str("resourceType") == type) out.push_back(l);
    return out;
  };
  if (target == "WorkObservation" || target == "OccupationObservation") {
    for (const Loc& l : ofType("Observation"))
      if (hasLoinc(*l.res, target == "WorkObservation" ? "74165-2" : "11341-5")) return l;
    return std::nullopt;
  }
  if (target == "Organization") {
    // The practice: the requester's (PractitionerRole's) organization, not the clinic.
    std::vector<Loc> orgs = ofType("Organization");
    std::vector<Loc> roles = ofType("PractitionerRole");
    if (!roles.empty())
      if (const J* ref = roles[0].res->find("organization"))
        for (const Loc& o : orgs)
          if (referenceTo(doc, o) == ref->str("reference")) return o;
    if (!orgs.empty()) return orgs[0];
    return std::nullopt;
  }
  std::vector<Loc> found = ofType(target);
  if (found.empty()) return std::nullopt;
  return found[0];
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string uuidFor(std::string_view name) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "urn:uuid:0c0ffee0-0000-4000-8000-%012llx",
                static_cast<unsigned long long>(fnv1a(name) & 0xffffffffffffull));
  return buf;
}

// Walks `segs` from `at`, creating missing members (objects, or arrays before an index)
// when `create`; an index equal to an array's size appends a new object.
J* walk(J* at, const std::vector<Seg>& segs, size_t count, bool create, const std::string& path) {
  for (size_t i = 0; i < count; ++i) {
    const Seg& s = segs[i];
    if (!at->isObject()) throw std::runtime_error("'" + path + "': '" + s.name + "' is not inside an object");
    J* next = at->find(s.name);
    if (!next) {
      if (!create) throw std::runtime_error("'" + path + "': no '" + s.name + "'");
      at->set(s.name, s.index ? J::array() : J::object());
      next = at->find(s.name);
    }
    if (s.index) {
      if (!next->isArray()) throw std::runtime_error("'" + path + "': '" + s.name + "' is not an array");
      if (*s.index == next->items.size() && create) next->items.push_back(J::object());
      if (*s.index >= next->items.size()) throw std::runtime_error("'" + path + "': index out of range");
      next = &next->items[*s.index];
    }
    at = next;
  }
  return at;
}

void applyChange(J& doc, Form form, const Change& c, int& copies) {
  std::optional<Loc> loc = locate(doc, form, c.resource);
  if (c.op == "add-resource") {
    J value = *c.value;
    std::string id = value.str("id"), type = value.str("resourceType");
    if (id.empty() || type.empty()) throw std::runtime_error("add-resource: the resource needs resourceType and id");
    if (!isBundleForm(form)) {
      J* contained = doc.find("contained");
      if (!contained) {
        doc.set("contained", J::array());
        contained = doc.find("contained");
      }
      contained->items.push_back(std::move(value));
    } else {
      J entry = J::object();
      entry.set("fullUrl", J::string(uuidFor(id)));
      entry.set("resource", std::move(value));
      if (form == Form::Transaction) {
        J request = J::object();
        request.set("method", J::string("POST"));
        request.set("url", J::string(type));
        entry.set("request", std::move(request));
      }
      doc.find("entry")->items.push_back(std::move(entry));
    }
    return;
  }
  if (!loc) throw std::runtime_error("no " + c.resource + " in the " + std::string(formName(form)) + " form");
  if (c.op == "copy") {
    if (loc->kind != Loc::Entry) throw std::runtime_error("copy: only Bundle entries can be copied");
    J entry = doc.find("entry")->items[loc->index];
    entry.set("fullUrl", J::string(uuidFor(c.resource + "-copy-" + std::to_string(++copies))));
    doc.find("entry")->items.push_back(std::move(entry));
    return;
  }
  std::vector<Seg> segs = parsePath(c.path);
  if (segs.empty()) {
    // The resource itself.
    if (c.op == "set") {
      *loc->res = *c.value;
    } else if (c.op == "remove") {
      if (loc->kind == Loc::Root) throw std::runtime_error("remove: the root cannot be removed");
      J* list = doc.find(loc->kind == Loc::Contained ? "contained" : "entry");
      list->items.erase(list->items.begin() + static_cast<std::ptrdiff_t>(loc->index));
      if (list->items.empty()) doc.erase(loc->kind == Loc::Contained ? "contained" : "entry");
    } else {
      throw std::runtime_error(c.op + ": needs a path");
    }
    return;
  }
  if (c.op == "set") {
    J* parent = walk(loc->res, segs, segs.size() - 1, true, c.path);
    const Seg& last = segs.back();
    if (!parent->isObject()) throw std::runtime_error("'" + c.path + "': not inside an object");
    if (!last.index) {
      parent->set(last.name, *c.value);
    } else {
      J* arr = parent->find(last.name);
      if (!arr) {
        parent->set(last.name, J::array());
        arr = parent->find(last.name);
      }
      if (*last.index == arr->items.size())
        arr->items.push_back(*c.value);
      else if (*last.index < arr->items.size())
        arr->items[*last.index] = *c.value;
      else
        throw std::runtime_error("'" + c.path + "': index out of range");
    }
  } else if (c.op == "remove") {
    J* parent = walk(loc->res, segs, segs.size() - 1, false, c.path);
    const Seg& last = segs.back();
    J* member = parent->find(last.name);
    if (!member) throw std::runtime_error("remove '" + c.path + "': not there");
    if (last.index) {
      if (!member->isArray() || *last.index >= member->items.size())
        throw std::runtime_error("remove '" + c.path + "': index out of range");
      member->items.erase(member->items.begin() + static_cast<std::ptrdiff_t>(*last.index));
      if (member->items.empty()) parent->erase(last.name);  // FHIR JSON has no empty arrays
    } else {
      parent->erase(last.name);
    }
  } else if (c.op == "append") {
    J* target = walk(loc->res, segs, segs.size(), true, c.path);
    if (target->isObject() && target->members.empty()) *target = J::array();  // just created
    if (!target->isArray()) throw std::runtime_error("append '" + c.path + "': not an array");
    target->items.push_back(*c.value);
  } else {
    throw std::runtime_error("op '" + c.op + "' needs no path");
  }
}

// Replaces every string "@ref:X" by the form's reference to X: a logical target
// ("@ref:Patient") or a resource added with add-resource, by its id ("@ref:clinic").
void resolveRefs(J& v, J& doc, Form form) {
  if (v.isString() && v.text.rfind("@ref:", 0) == 0) {
    std::string name = v.text.substr(5);
    if (kTargets.count(name)) {
      std::optional<Loc> l = locate(doc, form, name);
      if (!l) throw std::runtime_error(v.text + ": no such resource in the " + std::string(formName(form)) + " form");
      v.text = referenceTo(doc, *l);
    } else {
      v.text = isBundleForm(form) ? uuidFor(name) : "#" + name;
    }
    return;
  }
  for (J& i : v.items) resolveRefs(i, doc, form);
  for (auto& [k, m] : v.members) resolveRefs(m, doc, form);
}

// ---------------------------------------------------------------------------------------
// Running a case.

const fhir::Registry* gRegistry = nullptr;

const ReferralIntake& intakeFor(bool allowSynthetic, const std::string& clinicHerId) {
  static std::mutex mu;
  static std::map<std::pair<bool, std::string>, std::unique_ptr<ReferralIntake>> intakes;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = intakes[{allowSynthetic, clinicHerId}];
  if (!slot) {
    std::string error;
    IntakeConfig cfg;
    cfg.clinicHerId = clinicHerId;
    cfg.allowSyntheticIds = allowSynthetic;
    slot = ReferralIntake::create(*testing::clinicRegistry(), *testing::clinicValidator(),
                                  (defaultMappingsDir() / "referral.map.json").string(), cfg, error);
    if (!slot) throw std::runtime_error("cannot create the intake: " + error);
  }
  return *slot;
}

fs::path exampleFile(Form f, std::string_view ext) {
  return defaultMappingsDir() / "package" / "examples" /
         ("referral-" + std::string(formName(f)) + "." + std::string(ext));
}

const J& baseDoc(Form f) {
  static const std::map<Form, J> docs = [] {
    std::map<Form, J> out;
    for (Form form : kForms)
      out[form] = parseJ(testing::readFile(exampleFile(form, "json")), exampleFile(form, "json").string());
    return out;
  }();
  return docs.at(f);
}

std::string toXml(const std::string& jsonText, const std::string& what) {
  fhir::ParseResult p = fhir::parse(*gRegistry, jsonText);
  if (!p.ok()) {
    std::string msg = what +
                      ": the edited JSON does not parse cleanly, so it cannot be written as XML (give the "
                      "case \"xmlEdits\" or formats [\"json\"]):";
    for (const fhir::Issue& i : p.issues.items) msg += "\n  " + i.toString();
    throw std::runtime_error(msg);
  }
  std::string xml;
  fhir::Issues issues;
  if (!fhir::writeXml(*p.doc.root(), xml, issues, {true}))
    throw std::runtime_error(what + ": writeXml failed: " + (issues.empty() ? "" : issues.items[0].toString()));
  return xml;
}

const char* verdictName(IntakeResult::Verdict v) {
  return v == IntakeResult::Verdict::Accepted   ? "accepted"
         : v == IntakeResult::Verdict::Rejected ? "rejected"
                                                : "invalid-fhir";
}

struct VariantRun {
  std::string verdict;
  fhir::Issues issues;  // parse issues, then the intake's
  std::string model;    // pretty internal model when accepted
  fhir::ParseResult parsed;
  J doc;  // the JSON the tested tree corresponds to (for locations)
};

VariantRun runVariant(const Case& c, Form form, fhir::Format format) {
  VariantRun run;
  J doc = baseDoc(form);
  int copies = 0;
  for (const Change& ch : c.changes)
    if (ch.forms.empty() || std::find(ch.forms.begin(), ch.forms.end(), form) != ch.forms.end())
      applyChange(doc, form, ch, copies);
  resolveRefs(doc, doc, form);
  std::string text = toText(doc);
  std::string what = c.name + " [" + std::string(formName(form)) + "]";
  if (format == fhir::Format::Json) {
    run.doc = std::move(doc);
  } else if (c.xmlEdits.empty()) {
    text = toXml(text, what);
    run.doc = std::move(doc);
  } else {
    // The XML of the unedited example, then the case's text edits (for errors the JSON
    // tree cannot carry into XML).
    text = toXml(toText(baseDoc(form)), what);
    for (const auto& [find, replace] : c.xmlEdits) {
      size_t at = text.find(find);
      if (at == std::string::npos) throw std::runtime_error(what + ": xmlEdits: '" + find + "' not found in the XML");
      text.replace(at, find.size(), replace);
    }
    run.doc = baseDoc(form);
  }
  run.parsed = fhir::parse(*gRegistry, std::move(text));
  run.issues = run.parsed.issues;
  if (!run.parsed.doc.root() || run.parsed.issues.hasErrors()) {
    run.verdict = "invalid-fhir";  // as the gateway: 400 with the parser's issues
    return run;
  }
  IntakeContext ctx;
  ctx.id = "test-referral";
  ctx.receivedAt = "2026-11-20T09:15:00Z";
  ctx.lang = c.lang;
  IntakeResult r = intakeFor(c.allowSyntheticIds, c.clinicHerId).process(*run.parsed.doc.root(), ctx);
  for (fhir::Issue& i : r.issues.items) run.issues.add(std::move(i));
  run.verdict = verdictName(r.verdict);
  if (r.accepted()) run.model = toJson(r.referral, true);
  return run;
}

// The FHIRPath of a logical resource in the tested tree (fhirPathOf on its node).
std::string resourcePath(VariantRun& run, Form form, const std::string& target) {
  std::optional<Loc> loc = locate(run.doc, form, target);
  if (!loc)
    throw std::runtime_error("the expected issue's resource " + target + " is not in the " +
                             std::string(formName(form)) + " form");
  const fhir::Node* root = run.parsed.doc.root();
  std::string container = loc->kind == Loc::Contained ? "contained" : "entry";
  if (!root) {
    // No tree (a syntax error): the path the tree would have had.
    std::string type = run.doc.str("resourceType");
    if (loc->kind == Loc::Root) return type;
    return type + "." + container + "[" + std::to_string(loc->index) + "]" +
           (loc->kind == Loc::Entry ? ".resource" : "");
  }
  const fhir::Node* node = root;
  if (loc->kind != Loc::Root) {
    std::vector<const fhir::Node*> list = root->childrenNamed(container);
    if (loc->index >= list.size())
      throw std::runtime_error("the parsed tree has no " + container + "[" + std::to_string(loc->index) + "]");
    node = list[loc->index];
    if (loc->kind == Loc::Entry) node = node->child("resource");
    if (!node) throw std::runtime_error("entry[" + std::to_string(loc->index) + "] has no resource in the parsed tree");
  }
  std::string p = fhir::fhirPathOf(*root, node);
  if (p.empty()) throw std::runtime_error("fhirPathOf found no path to the " + target);
  return p;
}

std::string describe(const fhir::Issue& i) {
  return std::string(fhir::severityCode(i.severity)) + " " + i.code +
         (i.detailCode.empty() ? "" : " [" + i.detailCode + "]") + " at " + i.expression +
         (i.fromProfile ? " (profile)" : "") + ": " + i.message;
}

bool isErrorOrFatal(const fhir::Issue& i) {
  return i.severity == fhir::Severity::Error || i.severity == fhir::Severity::Fatal;
}

bool updateGoldens() {
  const char* e = std::getenv("HOA_UPDATE_GOLDEN");
  return e && std::string_view(e) == "1";
}

// Compares one run with the case; returns the problems ("" when it matches).
std::string check(const Case& c, Form form, VariantRun& run, bool& goldenWritten) {
  std::ostringstream problems;
  if (run.verdict != c.verdict) problems << "  verdict: expected " << c.verdict << ", got " << run.verdict << "\n";
  std::vector<bool> matched(run.issues.items.size(), false);
  for (const ExpectedIssue& e : c.issues) {
    std::string base = resourcePath(run, form, e.resource);
    std::string expression = e.path.empty() ? base : base + "." + e.path;
    size_t count = 0;
    for (size_t k = 0; k < run.issues.items.size(); ++k) {
      const fhir::Issue& i = run.issues.items[k];
      if (fhir::severityCode(i.severity) != e.severity || i.code != e.code || i.expression != expression) continue;
      if (e.hasRule ? i.detailCode != e.rule : !i.detailCode.empty()) continue;
      ++count;
      matched[k] = true;
      if (!e.messageContains.empty() && i.message.find(e.messageContains) == std::string::npos)
        problems << "  the message of " << e.describe() << " lacks \"" << e.messageContains << "\": " << i.message
                 << "\n";
    }
    if (count != 1)
      problems << "  expected once, found " << count << " times: " << e.describe() << " (expression " << expression
               << ")\n";
  }
  for (size_t k = 0; k < run.issues.items.size(); ++k) {
    const fhir::Issue& i = run.issues.items[k];
    if (matched[k]) continue;
    if (isErrorOrFatal(i) || (c.exactWarnings && i.severity == fhir::Severity::Warning))
      problems << "  unexpected: " << describe(i) << "\n";
  }
  if (c.verdict == "accepted" && run.verdict == "accepted") {
    fs::path golden = corpusDir() / "golden" / c.golden;
    std::string want;
    try {
      want = testing::readFile(golden);
    } catch (const std::exception&) {
    }
    if (want != run.model) {
      if (updateGoldens() && !goldenWritten) {
        std::ofstream(golden, std::ios::binary) << run.model;
        goldenWritten = true;
        std::cerr << "HOA_UPDATE_GOLDEN: wrote " << golden << " — review it against the referral contract\n";
      } else {
        problems << "  the internal model differs from golden/" << c.golden << "\n  expected:\n"
                 << want << "  got:\n"
                 << run.model;
      }
    }
  }
  if (!problems.str().empty()) {
    problems << "  all issues:\n";
    for (const fhir::Issue& i : run.issues.items) problems << "    " << describe(i) << "\n";
  }
  return problems.str();
}

class ReferralCorpusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HOA_REQUIRE_CLINIC_REGISTRY(reg, validator);
    gRegistry = reg;
    ASSERT_TRUE(corpus().error.empty()) << corpus().error;
  }
};

class ReferralCaseTest : public ReferralCorpusTest, public ::testing::WithParamInterface<size_t> {};

TEST_P(ReferralCaseTest, GivesItsExpectedResultInEveryFormAndFormat) {
  const Case& c = corpus().cases.at(GetParam());
  bool goldenWritten = false;
  for (Form form : c.forms)
    for (fhir::Format format : c.formats) {
      std::string variant = std::string(formName(form)) + ", " + (format == fhir::Format::Json ? "JSON" : "XML");
      try {
        VariantRun run = runVariant(c, form, format);
        std::string problems = check(c, form, run, goldenWritten);
        if (!problems.empty())
          ADD_FAILURE() << "case " << c.name << " (" << variant << ")"
                        << (c.description.empty() ? "" : ": " + c.description) << "\n"
                        << problems;
      } catch (const std::exception& e) {
        ADD_FAILURE() << "case " << c.name << " (" << variant << "): " << e.what();
      }
    }
}

std::vector<size_t> caseIndexes() {
  std::vector<size_t> out;
  for (size_t i = 0; i < std::max<size_t>(corpus().cases.size(), 1); ++i) out.push_back(i);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Corpus, ReferralCaseTest, ::testing::ValuesIn(caseIndexes()),
                         [](const ::testing::TestParamInfo<size_t>& p) {
                           if (p.param >= corpus().cases.size()) return std::string("load_error");
                           std::string n = corpus().cases[p.param].name;
                           for (char& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

// The rules of the catalogue that judge a referral (the others are the clinic's status
// transitions, tested in task_test.cc).
const std::set<std::string, std::less<>> kTransitionRules = {"status-unknown",
                                                             "transition-not-allowed",
                                                             "reason-required",
                                                             "care-start-deadline-required",
                                                             "care-start-deadline-invalid",
                                                             "offering-unknown"};

TEST_F(ReferralCorpusTest, CoversEveryReferralRuleFormAndFormat) {
  const std::vector<Case>& cases = corpus().cases;
  EXPECT_GE(cases.size(), 60u);
  size_t runs = 0, accepted = 0, invalid = 0, rejected = 0;
  std::set<std::string> rules;
  std::map<std::string, size_t> perForm, perFormat;
  for (const Case& c : cases) {
    runs += c.forms.size() * c.formats.size();
    (c.verdict == "accepted" ? accepted : c.verdict == "rejected" ? rejected : invalid)++;
    for (Form f : c.forms) perForm[std::string(formName(f))]++;
    for (fhir::Format f : c.formats) perFormat[f == fhir::Format::Json ? "json" : "xml"]++;
    for (const ExpectedIssue& e : c.issues)
      if (e.hasRule) rules.insert(e.rule);
  }
  std::set<fhir::Severity> severities;
  for (const Rule& r : ruleCatalogue()) {
    if (kTransitionRules.count(r.code)) continue;
    EXPECT_TRUE(rules.count(std::string(r.code))) << "no case expects the rule " << r.code;
    if (rules.count(std::string(r.code))) severities.insert(r.severity);
  }
  EXPECT_TRUE(severities.count(fhir::Severity::Error) && severities.count(fhir::Severity::Warning));
  for (const char* f : {"rest-create", "transaction", "message"}) EXPECT_GE(perForm[f], 40u) << f;
  for (const char* f : {"json", "xml"}) EXPECT_GE(perFormat[f], 40u) << f;
  EXPECT_GE(accepted, 10u);
  EXPECT_GE(rejected, 20u);
  EXPECT_GE(invalid, 4u);
  std::cout << "[ referral corpus ] " << cases.size() << " cases, " << runs << " runs (" << accepted << " accepted, "
            << rejected << " rejected, " << invalid << " invalid FHIR), " << rules.size() << " rules\n";
}

TEST_F(ReferralCorpusTest, EveryGoldenFileBelongsToACase) {
  std::set<std::string> used;
  for (const Case& c : corpus().cases)
    if (!c.golden.empty()) used.insert(c.golden);
  used.insert("example.json");  // the shipped examples (below)
  for (const auto& e : fs::directory_iterator(corpusDir() / "golden"))
    EXPECT_TRUE(used.count(e.path().filename().string())) << "golden file used by no case: " << e.path().filename();
}

// The clinic package's example referrals as shipped, JSON and XML, give one internal model.
TEST_F(ReferralCorpusTest, ShippedExamplesGiveTheExampleGolden) {
  std::string want = testing::readFile(corpusDir() / "golden" / "example.json");
  for (Form form : kForms)
    for (std::string_view ext : {"json", "xml"}) {
      fhir::ParseResult p = fhir::parse(*gRegistry, testing::readFile(exampleFile(form, ext)));
      ASSERT_TRUE(p.ok()) << exampleFile(form, ext);
      IntakeContext ctx{"test-referral", "2026-11-20T09:15:00Z", Lang::Nb};
      IntakeResult r = intakeFor(true, "900100").process(*p.doc.root(), ctx);
      ASSERT_TRUE(r.accepted()) << exampleFile(form, ext) << "\n" << r.issues.toOperationOutcomeJson(true);
      EXPECT_EQ(r.transport, form == Form::RestCreate    ? Transport::RestCreate
                             : form == Form::Transaction ? Transport::Transaction
                                                         : Transport::Message);
      for (const fhir::Issue& i : r.issues.items)
        EXPECT_EQ(i.severity, fhir::Severity::Information) << exampleFile(form, ext) << ": " << describe(i);
      EXPECT_EQ(toJson(r.referral, true), want) << exampleFile(form, ext);
    }
}

}  // namespace
}  // namespace hoa::clinic
