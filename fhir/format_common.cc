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

namespace {
// At most `n` bytes of `s`, cut at a character boundary, for quoting in messages.
std::string quoted(std::string_view s, size_t n = 40) {
  if (s.size() <= n) return "'" + std::string(s) + "'";
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return "'" + std::string(s.substr(0, n)) + "…'";
}

bool digits(std::string_view s, size_t pos, size_t n, int& value) {
  if (pos + n > s.size()) return false;
  value = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    value = value * 10 + (s[i] - '0');
  }
  return true;
}

int daysInMonth(int y, int m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// YYYY, YYYY-MM or YYYY-MM-DD at the start of s; returns the length read, 0 if invalid.
size_t readDate(std::string_view s, bool fullOnly) {
  int y, m, d;
  if (!digits(s, 0, 4, y)) return 0;
  if (s.size() == 4 || s[4] != '-') return fullOnly ? 0 : 4;
  if (!digits(s, 5, 2, m) || m < 1 || m > 12) return 0;
  if (s.size() == 7 || s[7] != '-') return fullOnly ? 0 : 7;
  if (!digits(s, 8, 2, d) || d < 1 || d > daysInMonth(y, m)) return 0;
  return 10;
}

// hh:mm:ss(.fraction)? ; returns the length read, 0 if invalid.
size_t readTime(std::string_view s) {
  int h, mi, se;
  if (!digits(s, 0, 2, h) || s.size() < 8 || s[2] != ':' || !digits(s, 3, 2, mi) ||
      s[5] != ':' || !digits(s, 6, 2, se) || h > 23 || mi > 59 || se > 60)
    return 0;
  size_t i = 8;
  if (i < s.size() && s[i] == '.') {
    size_t start = ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == start) return 0;
  }
  return i;
}

bool isZone(std::string_view s) {
  if (s == "Z") return true;
  int h, m;
  return s.size() == 6 && (s[0] == '+' || s[0] == '-') && digits(s, 1, 2, h) && s[3] == ':' &&
         digits(s, 4, 2, m) && h <= 14 && m <= 59;
}

// FHIR date, dateTime, instant and time lexical forms (the regexes of the R4 types,
// with real calendar dates).
bool isTemporal(std::string_view type, std::string_view v) {
  if (type == "time") return readTime(v) == v.size() && !v.empty();
  bool full = type == "instant";
  size_t n = readDate(v, full);
  if (n == 0) return false;
  if (n == v.size()) return type != "instant";
  if (type == "date" || n != 10 || v[n] != 'T') return false;
  std::string_view rest = v.substr(n + 1);
  size_t t = readTime(rest);
  return t != 0 && isZone(rest.substr(t));
}
}  // namespace

std::string checkPrimitiveText(const TypeInfo& type, std::string_view text) {
  switch (type.jsonKind) {
    case JsonKind::Boolean:
      if (text != "true" && text != "false")
        return quoted(text) + " is not a boolean (true or false)";
      return {};
    case JsonKind::Integer: {
      if (!isIntegerLiteral(text) || text.size() > 11)
        return quoted(text) + " is not a valid " + type.name + " (a 32-bit integer)";
      long long v = std::strtoll(std::string(text).c_str(), nullptr, 10);
      if (v < INT32_MIN || v > INT32_MAX)
        return quoted(text) + " is outside the 32-bit range of " + type.name;
      if (type.name == "positiveInt" && v < 1) return quoted(text) + " is not a positiveInt (1 or more)";
      if (type.name == "unsignedInt" && v < 0) return quoted(text) + " is not an unsignedInt (0 or more)";
      return {};
    }
    case JsonKind::Decimal:
      if (!json::isNumberLiteral(text)) return quoted(text) + " is not a valid decimal";
      return {};
    case JsonKind::String:
    case JsonKind::Xhtml:
      if (text.empty()) return "an empty string is not a valid " + type.name + " value";
      // FHIR strings hold no control characters but tab, CR and LF (XML cannot carry them).
      for (char c : text)
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\r' && c != '\n')
          return "a " + type.name + " must not contain control characters (U+0000–U+001F other "
                 "than tab, CR, LF)";
      if ((type.name == "date" || type.name == "dateTime" || type.name == "instant" ||
           type.name == "time") &&
          !isTemporal(type.name, text))
        return quoted(text) + " is not a valid " + type.name;
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
