#include "fhir/format_common.h"

#include <cstdlib>

#include "fhir/json.h"

namespace hoa::fhir::detail {

std::string PathTracker::str() const {
  std::string s;
  for (const Seg& seg : segs_) {
    if (!s.empty()) s += '.';
    s += seg.name;
    if (seg.index >= 0) {
      s += '[';
      s += std::to_string(seg.index);
      s += ']';
    }
  }
  return s;
}

namespace {
bool isIntegerLiteral(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  if (i >= s.size()) return false;
  if (s[i] == '0') return i + 1 == s.size();
  for (; i < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}
}  // namespace

std::string checkPrimitiveText(const TypeInfo& type, std::string_view text) {
  switch (type.jsonKind) {
    case JsonKind::Boolean:
      if (text != "true" && text != "false")
        return "'" + std::string(text) + "' is not a boolean (true or false)";
      return {};
    case JsonKind::Integer: {
      if (!isIntegerLiteral(text) || text.size() > 11)
        return "'" + std::string(text.substr(0, 40)) + "' is not a valid " + type.name +
               " (a 32-bit integer)";
      long long v = std::strtoll(std::string(text).c_str(), nullptr, 10);
      if (v < INT32_MIN || v > INT32_MAX)
        return "'" + std::string(text) + "' is outside the 32-bit range of " + type.name;
      return {};
    }
    case JsonKind::Decimal:
      if (!json::isNumberLiteral(text))
        return "'" + std::string(text.substr(0, 40)) + "' is not a valid decimal";
      return {};
    case JsonKind::String:
    case JsonKind::Xhtml:
      if (text.empty()) return "an empty string is not a valid " + type.name + " value";
      return {};
  }
  return {};
}

void appendXmlEscapedText(std::string& out, std::string_view s) {
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char* rep = nullptr;
    switch (s[i]) {
      case '&': rep = "&amp;"; break;
      case '<': rep = "&lt;"; break;
      case '>': rep = "&gt;"; break;
      case '\r': rep = "&#13;"; break;
      default: continue;
    }
    out.append(s.data() + run, i - run);
    out += rep;
    run = i + 1;
  }
  out.append(s.data() + run, s.size() - run);
}

void appendXmlEscapedAttr(std::string& out, std::string_view s) {
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char* rep = nullptr;
    switch (s[i]) {
      case '&': rep = "&amp;"; break;
      case '<': rep = "&lt;"; break;
      case '>': rep = "&gt;"; break;
      case '"': rep = "&quot;"; break;
      case '\n': rep = "&#10;"; break;
      case '\r': rep = "&#13;"; break;
      case '\t': rep = "&#9;"; break;
      default: continue;
    }
    out.append(s.data() + run, i - run);
    out += rep;
    run = i + 1;
  }
  out.append(s.data() + run, s.size() - run);
}

void XhtmlWriter::start(std::string_view prefix, std::string_view localname,
                        const std::vector<NsDecl>& ns, const std::vector<Attr>& attrs) {
  closePending();
  out_ += '<';
  if (!prefix.empty()) {
    out_ += prefix;
    out_ += ':';
  }
  out_ += localname;
  for (const NsDecl& d : ns) {
    out_ += d.prefix.empty() ? " xmlns" : " xmlns:";
    out_ += d.prefix;
    out_ += "=\"";
    appendXmlEscapedAttr(out_, d.uri);
    out_ += '"';
  }
  for (const Attr& a : attrs) {
    out_ += ' ';
    if (!a.prefix.empty()) {
      out_ += a.prefix;
      out_ += ':';
    }
    out_ += a.localname;
    out_ += "=\"";
    appendXmlEscapedAttr(out_, a.value);
    out_ += '"';
  }
  pendingClose_ = true;
}

void XhtmlWriter::text(std::string_view t) {
  if (t.empty()) return;
  closePending();
  appendXmlEscapedText(out_, t);
}

void XhtmlWriter::end(std::string_view prefix, std::string_view localname) {
  if (pendingClose_) {
    out_ += "/>";
    pendingClose_ = false;
    return;
  }
  out_ += "</";
  if (!prefix.empty()) {
    out_ += prefix;
    out_ += ':';
  }
  out_ += localname;
  out_ += '>';
}

}  // namespace hoa::fhir::detail
