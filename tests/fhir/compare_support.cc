#include "tests/fhir/compare_support.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <stdexcept>

#include "fhir/format.h"
#include "fhir/json.h"

namespace hoa::testing {
namespace {

CValue convert(const json::Value& v) {
  CValue c;
  switch (v.type) {
    case json::Type::Null: c.kind = CValue::Null; break;
    case json::Type::Bool:
      c.kind = CValue::Bool;
      c.text = v.boolean ? "true" : "false";
      break;
    case json::Type::Number:
      c.kind = CValue::Number;
      c.text = std::string(v.text);
      break;
    case json::Type::String:
      c.kind = CValue::String;
      c.text = std::string(v.text);
      break;
    case json::Type::Array:
      c.kind = CValue::Array;
      for (const json::Value* i : v) c.items.push_back(convert(*i));
      break;
    case json::Type::Object:
      c.kind = CValue::Object;
      for (uint32_t k = 0; k < v.size; ++k)
        c.members[std::string(v.members[k].key)] = convert(*v.members[k].value);
      break;
  }
  return c;
}

bool isHtest(const CValue& coding) {
  auto it = coding.members.find("code");
  return it != coding.members.end() && it->second.text == "HTEST";
}

void walkResources(CValue& v, const Allowances& a, bool isResource);

void applyToResource(CValue& r, const Allowances& a) {
  if (a.dropHtestSecurityTag) {
    auto meta = r.members.find("meta");
    if (meta != r.members.end()) {
      auto sec = meta->second.members.find("security");
      if (sec != meta->second.members.end()) {
        auto& items = sec->second.items;
        std::erase_if(items, isHtest);
        if (items.empty()) meta->second.members.erase(sec);
      }
      if (meta->second.members.empty()) r.members.erase(meta);
    }
  }
  auto text = r.members.find("text");
  if (text != r.members.end()) {
    auto div = text->second.members.find("div");
    if (div != text->second.members.end()) {
      if (a.ignoreNarrativeDiv) {
        div->second.text = "(ignored)";
      } else if (a.foldNarrativeWhitespace) {
        div->second.text = foldedXhtml(div->second.text);
      } else {
        std::string canon, error;
        if (fhir::canonicalXhtml(div->second.text, canon, error, true)) div->second.text = canon;
      }
    }
  }
}

void walkResources(CValue& v, const Allowances& a, bool isResource) {
  if (v.kind == CValue::Object) {
    if (isResource || v.members.count("resourceType")) applyToResource(v, a);
    for (auto& [k, m] : v.members) walkResources(m, a, false);
  } else if (v.kind == CValue::Array) {
    for (auto& i : v.items) walkResources(i, a, false);
  }
}

std::string describe(const CValue& v) {
  switch (v.kind) {
    case CValue::Null: return "null";
    case CValue::Bool:
    case CValue::Number: return v.text;
    case CValue::String: return "\"" + v.text.substr(0, 200) + "\"";
    case CValue::Array: return "array of " + std::to_string(v.items.size());
    case CValue::Object: return "object";
  }
  return "?";
}

bool numbersByValue_ = false;

bool sameNumber(const std::string& x, const std::string& y) {
  if (x == y) return true;
  if (!numbersByValue_) return false;
  std::string kx = decimalValueKey(x);
  return !kx.empty() && kx == decimalValueKey(y);
}

std::string diffAt(const std::string& path, const CValue& e, const CValue& a) {
  if (e.kind == CValue::Number && a.kind == CValue::Number && sameNumber(e.text, a.text))
    return {};
  if (e.kind != a.kind || e.text != a.text)
    return path + ": expected " + describe(e) + ", got " + describe(a);
  if (e.kind == CValue::Array) {
    if (e.items.size() != a.items.size())
      return path + ": expected " + std::to_string(e.items.size()) + " items, got " +
             std::to_string(a.items.size());
    for (size_t i = 0; i < e.items.size(); ++i) {
      std::string d = diffAt(path + "[" + std::to_string(i) + "]", e.items[i], a.items[i]);
      if (!d.empty()) return d;
    }
  }
  if (e.kind == CValue::Object) {
    for (const auto& [k, v] : e.members) {
      auto it = a.members.find(k);
      if (it == a.members.end()) return path + "." + k + ": missing";
      std::string d = diffAt(path + "." + k, v, it->second);
      if (!d.empty()) return d;
    }
    for (const auto& [k, v] : a.members)
      if (!e.members.count(k)) return path + "." + k + ": unexpected";
  }
  return {};
}

std::string nsOf(xmlNodePtr n) {
  return n->ns && n->ns->href ? reinterpret_cast<const char*>(n->ns->href) : "";
}

std::string serializeNode(xmlNodePtr n) {
  xmlBufferPtr buf = xmlBufferCreate();
  xmlNodeDump(buf, n->doc, n, 0, 0);
  std::string s(reinterpret_cast<const char*>(xmlBufferContent(buf)),
                static_cast<size_t>(xmlBufferLength(buf)));
  xmlBufferFree(buf);
  return s;
}

CElement convertXml(xmlNodePtr n) {
  CElement e;
  e.ns = nsOf(n);
  e.name = reinterpret_cast<const char*>(n->name);
  if (e.ns == "http://www.w3.org/1999/xhtml") {
    std::string s = serializeNode(n);
    // xmlNodeDump leaves the namespace declaration off nested copies only when it is
    // inherited; the root div carries it.
    e.text = foldedXhtml(s);
    return e;
  }
  for (xmlAttrPtr a = n->properties; a; a = a->next) {
    xmlChar* v = xmlNodeGetContent(reinterpret_cast<xmlNodePtr>(a));
    e.attrs[reinterpret_cast<const char*>(a->name)] = v ? reinterpret_cast<const char*>(v) : "";
    xmlFree(v);
  }
  for (xmlNodePtr c = n->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE) e.children.push_back(convertXml(c));
  return e;
}

void applyToXmlResource(CElement& r, const Allowances& a) {
  for (auto& c : r.children) {
    if (c.name == "meta" && a.dropHtestSecurityTag) {
      std::erase_if(c.children, [](const CElement& s) {
        if (s.name != "security") return false;
        for (const auto& f : s.children)
          if (f.name == "code" && f.attrs.count("value") && f.attrs.at("value") == "HTEST")
            return true;
        return false;
      });
    }
    if (c.name == "text" && a.ignoreNarrativeDiv)
      for (auto& d : c.children)
        if (d.name == "div") d.text = "(ignored)";
  }
  std::erase_if(r.children,
                [](const CElement& c) { return c.name == "meta" && c.children.empty() &&
                                               c.attrs.empty(); });
}

bool isResourceName(const std::string& n) { return !n.empty() && n[0] >= 'A' && n[0] <= 'Z'; }

void walkXml(CElement& e, const Allowances& a) {
  if (isResourceName(e.name)) applyToXmlResource(e, a);
  for (auto& c : e.children) walkXml(c, a);
}

std::string diffXmlAt(const std::string& path, const CElement& e, const CElement& a) {
  if (e.name != a.name || e.ns != a.ns)
    return path + ": expected element " + e.name + ", got " + a.name;
  bool attrsEqual = e.attrs.size() == a.attrs.size();
  for (auto it = e.attrs.begin(), jt = a.attrs.begin(); attrsEqual && it != e.attrs.end();
       ++it, ++jt)
    attrsEqual = it->first == jt->first && sameNumber(it->second, jt->second);
  if (!attrsEqual) {
    std::string d = path + "/" + e.name + ": attributes differ: expected";
    for (auto& [k, v] : e.attrs) d += " " + k + "=\"" + v.substr(0, 100) + "\"";
    d += "; got";
    for (auto& [k, v] : a.attrs) d += " " + k + "=\"" + v.substr(0, 100) + "\"";
    return d;
  }
  if (e.text != a.text)
    return path + "/" + e.name + ": narrative differs:\n  expected " + e.text.substr(0, 300) +
           "\n  got      " + a.text.substr(0, 300);
  size_t n = std::min(e.children.size(), a.children.size());
  for (size_t i = 0; i < n; ++i) {
    std::string d = diffXmlAt(path + "/" + e.name + "[" + std::to_string(i) + "]", e.children[i],
                              a.children[i]);
    if (!d.empty()) return d;
  }
  if (e.children.size() != a.children.size())
    return path + "/" + e.name + ": expected " + std::to_string(e.children.size()) +
           " child elements, got " + std::to_string(a.children.size());
  return {};
}

}  // namespace

CValue canonicalJson(const std::string& text) {
  json::Error err;
  json::Document doc = json::Document::parse(text, err);
  if (err)
    throw std::runtime_error("invalid JSON at " + std::to_string(err.line) + ":" +
                             std::to_string(err.column) + ": " + err.message);
  return convert(*doc.root());
}

void applyAllowances(CValue& resource, const Allowances& a) { walkResources(resource, a, true); }

std::string diffJson(const CValue& expected, const CValue& actual, bool numbersByValue) {
  numbersByValue_ = numbersByValue;
  std::string d = diffAt("$", expected, actual);
  numbersByValue_ = false;
  return d;
}

std::string decimalValueKey(const std::string& lit) {
  if (!json::isNumberLiteral(lit)) return {};
  size_t i = 0;
  bool neg = lit[0] == '-';
  if (neg) ++i;
  std::string digits;
  long exp = 0;
  bool seenPoint = false;
  for (; i < lit.size() && lit[i] != 'e' && lit[i] != 'E'; ++i) {
    if (lit[i] == '.') {
      seenPoint = true;
      continue;
    }
    digits += lit[i];
    if (!seenPoint) ++exp;
  }
  if (i < lit.size()) exp += std::stol(lit.substr(i + 1));
  size_t lead = digits.find_first_not_of('0');
  if (lead == std::string::npos) return "0";
  exp -= static_cast<long>(lead);
  digits = digits.substr(lead);
  digits.erase(digits.find_last_not_of('0') + 1);
  return std::string(neg ? "-" : "") + "0." + digits + "e" + std::to_string(exp);
}

CElement canonicalXml(const std::string& xml) {
  xmlDocPtr doc = xmlReadMemory(xml.data(), static_cast<int>(xml.size()), nullptr, nullptr,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (!doc) throw std::runtime_error("XML does not parse");
  CElement root = convertXml(xmlDocGetRootElement(doc));
  xmlFreeDoc(doc);
  return root;
}

void applyAllowances(CElement& resource, const Allowances& a) { walkXml(resource, a); }

std::string diffXml(const CElement& expected, const CElement& actual, bool numbersByValue) {
  numbersByValue_ = numbersByValue;
  std::string d = diffXmlAt("", expected, actual);
  numbersByValue_ = false;
  return d;
}

std::string foldedXhtml(const std::string& xhtml) {
  std::string canon, error;
  if (!fhir::canonicalXhtml(xhtml, canon, error, true)) return "(not XHTML: " + error + ") " + xhtml;
  std::string out;
  bool space = false;
  for (char c : canon) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  // Folding leaves "<b> x </b>" and "<b>x</b>" different; that difference is real text.
  return out;
}

}  // namespace hoa::testing
