#include "fhir/primitives.h"

#include <array>
#include <cstdint>
#include <string>

#include "fhir/json.h"
#include "fhir/regex.h"

namespace hoa::fhir {
namespace {

enum class Kind : uint8_t {
  Boolean,
  Integer,
  PositiveInt,
  UnsignedInt,
  Decimal,
  String,
  Markdown,
  Code,
  Id,
  Uri,
  Url,
  Canonical,
  Oid,
  Uuid,
  Base64Binary,
  Date,
  DateTime,
  Instant,
  Time,
  Xhtml,
  Other,  // a primitive type R4 does not define: its regex and the text rules only
};

struct KnownType {
  std::string_view name;
  Kind kind;
  std::string_view r4Pattern;  // the regex of the R4 definition (hl7.fhir.r4.core 4.0.1)
};

// The matchers in shapeOk() accept exactly the languages of these patterns.
constexpr std::array kKnownTypes = {
    KnownType{"boolean", Kind::Boolean, "true|false"},
    KnownType{"integer", Kind::Integer, R"(-?([0]|([1-9][0-9]*)))"},
    KnownType{"positiveInt", Kind::PositiveInt, R"([1-9][0-9]*)"},
    KnownType{"unsignedInt", Kind::UnsignedInt, R"([0]|([1-9][0-9]*))"},
    KnownType{"decimal", Kind::Decimal, R"(-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)"},
    KnownType{"string", Kind::String, R"([ \r\n\t\S]+)"},
    KnownType{"markdown", Kind::Markdown, R"([ \r\n\t\S]+)"},
    KnownType{"code", Kind::Code, R"([^\s]+(\s[^\s]+)*)"},
    KnownType{"id", Kind::Id, R"([A-Za-z0-9\-\.]{1,64})"},
    KnownType{"uri", Kind::Uri, R"(\S*)"},
    KnownType{"url", Kind::Url, R"(\S*)"},
    KnownType{"canonical", Kind::Canonical, R"(\S*)"},
    KnownType{"oid", Kind::Oid, R"(urn:oid:[0-2](\.(0|[1-9][0-9]*))+)"},
    KnownType{"uuid", Kind::Uuid,
              R"(urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"},
    KnownType{"base64Binary", Kind::Base64Binary, R"((\s*([0-9a-zA-Z\+/=]){4}\s*)+)"},
    KnownType{
        "date", Kind::Date,
        R"(([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?)"},
    KnownType{
        "dateTime", Kind::DateTime,
        R"(([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?)"},
    KnownType{
        "instant", Kind::Instant,
        R"(([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))"},
    KnownType{"time", Kind::Time, R"(([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?)"},
    KnownType{"xhtml", Kind::Xhtml, ""},
};

constexpr std::string_view kRegexExtension = "http://hl7.org/fhir/StructureDefinition/regex";
// R4 string.value maxLength (characters); "FHIR strings SHALL NOT exceed 1MB in size".
constexpr size_t kMaxStringChars = 1048576;
constexpr size_t kQuoteChars = 60;

const KnownType* knownType(std::string_view name) {
  for (const KnownType& k : kKnownTypes)
    if (k.name == name) return &k;
  return nullptr;
}

bool isTemporal(Kind k) {
  return k == Kind::Date || k == Kind::DateTime || k == Kind::Instant || k == Kind::Time;
}
bool isStringFamily(Kind k) {
  return k == Kind::String || k == Kind::Markdown || k == Kind::Code || k == Kind::Id;
}

// The regex engine's \s: ASCII space, tab, LF, VT, FF, CR.
bool isSpace(char c) {
  return c == ' ' || (c >= '\t' && c <= '\r');
}
bool isDigit(char c) {
  return c >= '0' && c <= '9';
}
bool isLowerHex(char c) {
  return isDigit(c) || (c >= 'a' && c <= 'f');
}
bool isBase64Char(char c) {
  return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '+' || c == '/' ||
         c == '=';
}
bool isIdChar(char c) {
  return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '.';
}

// The length of the well-formed UTF-8 sequence at p (at most `avail` bytes), 0 if none.
size_t utf8Length(const unsigned char* p, size_t avail) {
  const unsigned c = p[0];
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2, cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3, cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4, cp = c & 0x07;
  } else {
    return 0;
  }
  if (avail < n) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((p[k] & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (p[k] & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

void appendHex(std::string& out, unsigned value, int digits) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) out += kHex[(value >> shift) & 0xF];
}

// 'value' for messages: at most kQuoteChars characters, then an ellipsis; control
// characters escaped (\n, \t, \r, \u0001), bytes that are not UTF-8 as \xHH.
std::string quote(std::string_view v) {
  std::string out = "'";
  const auto* p = reinterpret_cast<const unsigned char*>(v.data());
  size_t i = 0, chars = 0;
  while (i < v.size()) {
    if (chars == kQuoteChars) {
      out += "…";
      break;
    }
    const unsigned char c = p[i];
    if (c >= 0x80) {
      if (size_t n = utf8Length(p + i, v.size() - i); n != 0) {
        out.append(v.substr(i, n));
        i += n;
      } else {
        out += "\\x";
        appendHex(out, c, 2);
        ++i;
      }
    } else {
      switch (c) {
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20 || c == 0x7F) {
            out += "\\u";
            appendHex(out, c, 4);
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
    }
    ++chars;
  }
  out += '\'';
  return out;
}

std::string withThousands(size_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// ---------------------------------------------------------------------------------
// Text rules, for every type: control characters, UTF-8, the length of strings.

bool textOk(std::string_view v, bool stringFamily, std::string& reason) {
  bool ascii = true;
  for (char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20) {
      if (c != '\t' && c != '\n' && c != '\r') {
        reason = "it contains the control character U+";
        appendHex(reason, c, 4);
        reason += " (only tab, CR and LF are allowed below U+0020)";
        return false;
      }
    } else if (c >= 0x80) {
      ascii = false;
    }
  }
  if (!ascii && !json::isValidUtf8(v)) {
    reason = "it is not well-formed UTF-8";
    return false;
  }
  if (stringFamily && v.size() > kMaxStringChars) {
    size_t chars = v.size();
    if (!ascii)
      for (char ch : v)
        if ((static_cast<unsigned char>(ch) & 0xC0) == 0x80) --chars;
    if (chars > kMaxStringChars) {
      reason = "it has " + withThousands(chars) +
               " characters; FHIR strings hold at most 1,048,576 (1 MiB)";
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------
// The R4 rules of each type. check*() return Ok, Shape (what the R4 regex rejects; the
// reason may be empty) or Semantic (what the regex accepts but R4 does not); the reason
// is only built on failure.

enum class Verdict : uint8_t { Ok, Shape, Semantic };

// --- integers

bool digitsOnly(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!isDigit(c)) return false;
  return true;
}

Verdict checkInteger(Kind kind, std::string_view v, std::string& reason) {
  const bool negative = !v.empty() && v[0] == '-';
  const std::string_view digits = negative ? v.substr(1) : v;
  bool shape = digitsOnly(digits) && (digits[0] != '0' || digits.size() == 1);
  if (shape && kind == Kind::PositiveInt) shape = !negative && digits != "0";
  if (shape && kind == Kind::UnsignedInt) shape = !negative;
  if (!shape) {
    if (!v.empty() && v[0] == '+')
      reason = "a leading '+' is not allowed";
    else if (digitsOnly(digits) && digits.size() > 1 && digits[0] == '0')
      reason = "leading zeros are not allowed";
    else if (digitsOnly(digits) && kind == Kind::PositiveInt)
      reason = "a positiveInt is at least 1";
    else if (digitsOnly(digits) && kind == Kind::UnsignedInt)
      reason = "an unsignedInt is not negative";
    else if (json::isNumberLiteral(v))
      reason = "it is not a whole number";
    return Verdict::Shape;
  }
  // The 32-bit range.
  const uint64_t limit = negative ? 2147483648u : 2147483647u;
  bool inRange = digits.size() <= 10;
  if (inRange) {
    uint64_t n = 0;
    for (char c : digits) n = n * 10 + static_cast<uint64_t>(c - '0');
    inRange = n <= limit;
  }
  if (!inRange) {
    reason = kind == Kind::Integer ? "it is outside the 32-bit range -2,147,483,648..2,147,483,647"
                                   : "it is above 2,147,483,647, the largest 32-bit integer";
    return Verdict::Semantic;
  }
  return Verdict::Ok;
}

// --- decimal: the JSON number grammar

Verdict checkDecimal(std::string_view v, std::string& reason) {
  if (json::isNumberLiteral(v)) return Verdict::Ok;  // no limit on digits: R4 only warns
  const std::string_view body = !v.empty() && v[0] == '-' ? v.substr(1) : v;
  if (!v.empty() && v[0] == '+')
    reason = "a leading '+' is not allowed";
  else if (body.size() > 1 && body[0] == '0' && isDigit(body[1]))
    reason = "leading zeros are not allowed";
  else if (!body.empty() &&
           (body[0] == '.' || body.back() == '.' || body.find(".e") != std::string_view::npos ||
            body.find(".E") != std::string_view::npos))
    reason = "a decimal point needs digits on both sides";
  return Verdict::Shape;
}

// --- text types

Verdict checkText(Kind kind, std::string_view v, std::string& reason) {
  switch (kind) {
    case Kind::String:
    case Kind::Markdown:
      // [ \r\n\t\S]+ : not empty, anything but VT and FF, which textOk() has already
      // rejected as control characters.
      return v.empty() ? Verdict::Shape : Verdict::Ok;
    case Kind::Code: {
      // [^\s]+(\s[^\s]+)* : no leading, trailing or repeated whitespace.
      if (v.empty()) return Verdict::Shape;
      if (isSpace(v.front()) || isSpace(v.back())) {
        reason = "leading or trailing whitespace is not allowed";
        return Verdict::Shape;
      }
      bool otherSpace = false;
      for (size_t i = 1; i < v.size(); ++i) {
        if (isSpace(v[i]) && isSpace(v[i - 1])) {
          reason = "whitespace may not be repeated";
          return Verdict::Shape;
        }
        if (isSpace(v[i]) && v[i] != ' ') otherSpace = true;
      }
      if (otherSpace) {  // R4: "no whitespace other than single spaces in the contents"
        reason = "whitespace inside a code must be single spaces (no tabs or line breaks)";
        return Verdict::Semantic;
      }
      return Verdict::Ok;
    }
    case Kind::Id: {
      bool chars = true;
      for (char c : v) chars = chars && isIdChar(c);
      if (chars && !v.empty() && v.size() <= 64) return Verdict::Ok;
      if (chars && v.size() > 64) reason = "it is " + std::to_string(v.size()) + " characters long";
      return Verdict::Shape;
    }
    case Kind::Uri:
    case Kind::Url:
    case Kind::Canonical:
      for (char c : v)
        if (isSpace(c)) {
          reason = "it contains whitespace";
          return Verdict::Shape;
        }
      return Verdict::Ok;
    case Kind::Oid: {
      constexpr std::string_view kPrefix = "urn:oid:";
      if (!v.starts_with(kPrefix)) {
        reason = "an oid is written as a URI: urn:oid:1.2.3";
        return Verdict::Shape;
      }
      // [0-2](\.(0|[1-9][0-9]*))+
      std::string_view rest = v.substr(kPrefix.size());
      if (rest.size() < 3 || rest[0] < '0' || rest[0] > '2') return Verdict::Shape;
      size_t i = 1, arcs = 0;
      while (i < rest.size()) {
        if (rest[i] != '.') return Verdict::Shape;
        size_t start = ++i;
        while (i < rest.size() && isDigit(rest[i])) ++i;
        if (i == start || (rest[start] == '0' && i - start > 1)) return Verdict::Shape;
        ++arcs;
      }
      return arcs > 0 ? Verdict::Ok : Verdict::Shape;
    }
    case Kind::Uuid: {
      constexpr std::string_view kPrefix = "urn:uuid:";
      if (!v.starts_with(kPrefix)) {
        reason = "a uuid is written as a URI: urn:uuid:<lowercase hex>";
        return Verdict::Shape;
      }
      std::string_view rest = v.substr(kPrefix.size());
      bool ok = rest.size() == 36, upper = false;
      for (size_t i = 0; ok && i < rest.size(); ++i) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
          ok = rest[i] == '-';
        } else if (!isLowerHex(rest[i])) {
          upper = upper || (rest[i] >= 'A' && rest[i] <= 'F');
          ok = rest[i] >= 'A' && rest[i] <= 'F';
        }
      }
      if (ok && !upper) return Verdict::Ok;
      if (ok) reason = "the hex digits must be lowercase";
      return Verdict::Shape;
    }
    case Kind::Base64Binary: {
      // (\s*([0-9a-zA-Z\+/=]){4}\s*)+ : groups of four, whitespace only between groups.
      size_t count = 0;
      for (char c : v) {
        if (isSpace(c)) {
          if (count % 4 != 0) {
            reason = "whitespace may only come between groups of four characters";
            return Verdict::Shape;
          }
        } else if (isBase64Char(c)) {
          ++count;
        } else {
          reason = "'" + std::string(1, c) + "' is not a base64 character";
          if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F)
            reason = "it contains a character outside the base64 alphabet";
          return Verdict::Shape;
        }
      }
      if (count == 0 || count % 4 != 0) {
        if (count != 0)
          reason = "its length without whitespace (" + std::to_string(count) +
                   ") is not a multiple of 4";
        return Verdict::Shape;
      }
      // '=' only pads the end, at most twice.
      size_t pads = 0;
      for (char c : v) {
        if (c == '=') {
          ++pads;
        } else if (pads > 0 && !isSpace(c)) {
          reason = "'=' may only pad the end of the data";
          return Verdict::Semantic;
        }
      }
      if (pads > 2) {
        reason = "at most two '=' may pad the end of the data";
        return Verdict::Semantic;
      }
      return Verdict::Ok;
    }
    default:
      return Verdict::Ok;
  }
}

// --- date, dateTime, instant, time

constexpr std::array<std::string_view, 12> kMonths = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};

int daysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

bool twoDigits(std::string_view v, size_t at, int& out) {
  if (at + 2 > v.size() || !isDigit(v[at]) || !isDigit(v[at + 1])) return false;
  out = (v[at] - '0') * 10 + (v[at + 1] - '0');
  return true;
}

std::string pad2(int n) {
  return std::string{static_cast<char>('0' + n / 10), static_cast<char>('0' + n % 10)};
}

std::string unexpected(std::string_view v, size_t at, std::string_view after) {
  std::string rest = quote(v.substr(at));
  return "unexpected " + rest + " after the " + std::string(after);
}

// hh:mm:ss(.fff)? at `i`; advances i.
bool readTime(std::string_view v, size_t& i, int& h, int& mi, int& s, std::string& reason) {
  constexpr std::string_view kForm = "the time must be written hh:mm:ss";
  if (!twoDigits(v, i, h) || i + 2 >= v.size() || v[i + 2] != ':' || !twoDigits(v, i + 3, mi)) {
    reason = kForm;
    return false;
  }
  if (h > 23) {
    reason = h == 24 ? "hour 24 is not allowed (00-23; 24:00 is 00:00 of the next day)"
                     : "hour " + pad2(h) + " does not exist (00-23)";
    return false;
  }
  if (mi > 59) {
    reason = "minute " + pad2(mi) + " does not exist (00-59)";
    return false;
  }
  i += 5;
  if (i >= v.size() || v[i] != ':') {
    reason = "seconds are required (hh:mm:ss)";
    return false;
  }
  if (!twoDigits(v, i + 1, s)) {
    reason = kForm;
    return false;
  }
  if (s > 60) {
    reason = "second " + pad2(s) + " does not exist (00-59, or 60 for a leap second)";
    return false;
  }
  i += 3;
  if (i < v.size() && v[i] == '.') {
    const size_t start = ++i;
    while (i < v.size() && isDigit(v[i])) ++i;
    if (i == start) {
      reason = "the '.' must be followed by digits of a fraction of a second";
      return false;
    }
  }
  return true;
}

Verdict checkTemporal(Kind kind, std::string_view v, std::string& reason) {
  int h = 0, mi = 0, s = 0;
  size_t i = 0;
  if (kind == Kind::Time) {
    if (!readTime(v, i, h, mi, s, reason)) return Verdict::Shape;
    if (i != v.size()) {
      reason = v[i] == 'Z' || v[i] == '+' || v[i] == '-' ? "a time has no time zone"
                                                         : unexpected(v, i, "time");
      return Verdict::Shape;
    }
    return Verdict::Ok;  // any hh:mm:60: without a zone the UTC time is unknown
  }
  const char* const kIncomplete =
      kind == Kind::Instant ? "an instant needs a full date, a time with seconds and a time zone "
                              "(YYYY-MM-DDThh:mm:ss+zz:zz)"
                            : nullptr;
  int year = 0, month = 0, day = 0;
  int hi = 0, lo = 0;
  if (!twoDigits(v, 0, hi) || !twoDigits(v, 2, lo)) {
    reason = "the year must have four digits (YYYY)";
    return Verdict::Shape;
  }
  year = hi * 100 + lo;
  if (year == 0) {
    reason = "there is no year 0000 (0001-9999)";
    return Verdict::Shape;
  }
  i = 4;
  if (i == v.size()) {
    if (kIncomplete) reason = kIncomplete;
    return kIncomplete ? Verdict::Shape : Verdict::Ok;
  }
  if (v[i] != '-' || !twoDigits(v, 5, month)) {
    reason = v[i] == '-' ? "the month must have two digits (MM)" : unexpected(v, i, "year");
    return Verdict::Shape;
  }
  if (month < 1 || month > 12) {
    reason = "month " + pad2(month) + " does not exist (01-12)";
    return Verdict::Shape;
  }
  i = 7;
  if (i == v.size()) {
    if (kIncomplete) reason = kIncomplete;
    return kIncomplete ? Verdict::Shape : Verdict::Ok;
  }
  if (v[i] != '-' || !twoDigits(v, 8, day)) {
    reason = v[i] == '-' ? "the day must have two digits (DD)" : unexpected(v, i, "month");
    return Verdict::Shape;
  }
  if (day < 1 || day > 31) {
    reason = "day " + pad2(day) + " does not exist (01-31)";
    return Verdict::Shape;
  }
  i = 10;
  bool hasTime = false;
  int offset = 0;  // minutes east of UTC
  if (i == v.size()) {
    if (kIncomplete) {
      reason = kIncomplete;
      return Verdict::Shape;
    }
  } else {
    if (kind == Kind::Date) {
      reason =
          v[i] == 'T' ? "a date has no time (that would be a dateTime)" : unexpected(v, i, "date");
      return Verdict::Shape;
    }
    if (v[i] != 'T') {
      reason = i + 1 < v.size() && (v[i] == ' ' || v[i] == 't')
                   ? "the date and the time must be separated by 'T'"
                   : unexpected(v, i, "date");
      return Verdict::Shape;
    }
    ++i;
    if (!readTime(v, i, h, mi, s, reason)) return Verdict::Shape;
    hasTime = true;
    if (i == v.size()) {
      reason = kind == Kind::Instant
                   ? "an instant needs a time zone (Z, +hh:mm or -hh:mm)"
                   : "a dateTime with a time needs a time zone (Z, +hh:mm or -hh:mm)";
      return Verdict::Shape;
    }
    if (v[i] == 'Z') {
      ++i;
    } else if (v[i] == '+' || v[i] == '-') {
      int zh = 0, zm = 0;
      if (!twoDigits(v, i + 1, zh) || i + 3 >= v.size() || v[i + 3] != ':' ||
          !twoDigits(v, i + 4, zm)) {
        reason = "the time zone must be written Z, +hh:mm or -hh:mm";
        return Verdict::Shape;
      }
      if (zm > 59) {
        reason = "the time zone minutes " + pad2(zm) + " do not exist (00-59)";
        return Verdict::Shape;
      }
      if (zh > 14 || (zh == 14 && zm != 0)) {
        reason =
            "the time zone offset " + std::string(v.substr(i, 6)) + " is outside -14:00..+14:00";
        return Verdict::Shape;
      }
      offset = (v[i] == '-' ? -1 : 1) * (zh * 60 + zm);
      i += 6;
    } else {
      reason =
          "expected a time zone (Z, +hh:mm or -hh:mm) after the time, not " + quote(v.substr(i));
      return Verdict::Shape;
    }
    if (i != v.size()) {
      reason = unexpected(v, i, "time zone");
      return Verdict::Shape;
    }
  }
  // What the regexes cannot say.
  if (const int days = daysInMonth(year, month); day > days) {
    reason = std::string(kMonths[month - 1]) + " " + std::string(v.substr(0, 4)) + " has " +
             std::to_string(days) + " days";
    return Verdict::Semantic;
  }
  if (hasTime && s == 60) {
    const int utc = ((h * 60 + mi - offset) % 1440 + 1440) % 1440;
    if (utc != 23 * 60 + 59) {
      reason = "a leap second (:60) can only be 23:59:60 UTC";
      if (offset != 0)
        reason += ", and " + pad2(h) + ":" + pad2(mi) + " here is " + pad2(utc / 60) + ":" +
                  pad2(utc % 60) + " UTC";
      return Verdict::Semantic;
    }
  }
  return Verdict::Ok;
}

Verdict checkNative(Kind kind, std::string_view v, std::string& reason) {
  switch (kind) {
    case Kind::Boolean:
      return v == "true" || v == "false" ? Verdict::Ok : Verdict::Shape;
    case Kind::Integer:
    case Kind::PositiveInt:
    case Kind::UnsignedInt:
      return checkInteger(kind, v, reason);
    case Kind::Decimal:
      return checkDecimal(v, reason);
    case Kind::Date:
    case Kind::DateTime:
    case Kind::Instant:
    case Kind::Time:
      return checkTemporal(kind, v, reason);
    case Kind::Xhtml:
    case Kind::Other:
      return Verdict::Ok;
    default:
      return checkText(kind, v, reason);
  }
}

// The regex declared on "<type>.value" in the snapshot, or empty.
std::string_view declaredPattern(const json::Value& sd, std::string_view typeName) {
  const json::Value* snapshot = sd.find("snapshot");
  const json::Value* elements = snapshot ? snapshot->find("element") : nullptr;
  if (!elements || !elements->isArray()) return {};
  const std::string path = std::string(typeName) + ".value";
  for (const json::Value* e : *elements) {
    if (!e->isObject() || e->getString("path") != path) continue;
    const json::Value* types = e->find("type");
    if (!types || !types->isArray()) return {};
    for (const json::Value* t : *types) {
      const json::Value* exts = t->isObject() ? t->find("extension") : nullptr;
      if (!exts || !exts->isArray()) continue;
      for (const json::Value* x : *exts)
        if (x->isObject() && x->getString("url") == kRegexExtension)
          return x->getString("valueString");
    }
    return {};
  }
  return {};
}

}  // namespace

struct PrimitiveRules::Rule {
  std::string name;
  Kind kind = Kind::Other;
  std::string pattern;         // as declared; empty when none
  std::string_view r4Pattern;  // what the checks below implement; empty for Other, Xhtml
  std::optional<regex::Regex> re;
  bool runRegex = false;  // the declared pattern is not one the native matchers implement
  bool stringFamily = false;

  std::string shapeMessage(std::string_view v, const std::string& reason) const {
    if (isTemporal(kind) && !reason.empty())
      return quote(v) + " is not a valid " + name + ": " + reason;
    std::string_view shown = pattern.empty() ? r4Pattern : pattern;
    std::string m = name + " " + quote(v) + " does not match " + std::string(shown);
    if (!reason.empty()) m += ": " + reason;
    return m;
  }
};

PrimitiveRules::PrimitiveRules(const Registry& registry) : PrimitiveRules(registry, {}) {}

PrimitiveRules::PrimitiveRules(const Registry& registry, PrimitiveRulesOptions options)
    : options_(options) {
  for (const json::Value* sd : registry.resourcesOfType("StructureDefinition")) {
    if (sd->getString("kind") != "primitive-type") continue;
    const std::string_view typeName = sd->getString("type");
    const TypeInfo* type = registry.type(typeName);
    // Only the definition of the type itself: profiles are checked as their base.
    if (!type || type->kind != TypeKind::Primitive || type->structureDefinition != sd ||
        byType_.count(type))
      continue;
    auto rule = std::make_unique<Rule>();
    rule->name = std::string(typeName);
    const KnownType* known = knownType(typeName);
    rule->kind = known ? known->kind : Kind::Other;
    rule->r4Pattern = known ? known->r4Pattern : std::string_view();
    rule->stringFamily = isStringFamily(rule->kind);
    rule->pattern = std::string(declaredPattern(*sd, typeName));
    if (!rule->pattern.empty()) {
      std::string error;
      rule->re = regex::Regex::compile(rule->pattern, error);
      if (!rule->re)
        problems_.push_back(rule->name + ": the regex '" + rule->pattern +
                            "' does not compile: " + error);
      rule->runRegex = rule->re && (options_.alwaysUseRegex || rule->pattern != rule->r4Pattern);
    }
    byType_[type] = rule.get();
    byName_[rule->name] = rule.get();
    rules_.push_back(std::move(rule));
  }
}

PrimitiveRules::~PrimitiveRules() = default;

const PrimitiveRules::Rule* PrimitiveRules::ruleFor(const TypeInfo& type) const {
  for (const TypeInfo* t = &type; t; t = t->base)
    if (auto it = byType_.find(t); it != byType_.end()) return it->second;
  // A type of another registry (or built elsewhere): by name.
  if (type.kind != TypeKind::Primitive) return nullptr;
  for (const TypeInfo* t = &type; t; t = t->base)
    if (auto it = byName_.find(t->name); it != byName_.end()) return it->second;
  return nullptr;
}

std::string_view PrimitiveRules::pattern(const TypeInfo& type) const {
  const Rule* r = ruleFor(type);
  return r ? std::string_view(r->pattern) : std::string_view();
}

bool PrimitiveRules::patternCompiled(const TypeInfo& type) const {
  const Rule* r = ruleFor(type);
  return r && r->re.has_value();
}

bool PrimitiveRules::patternNative(const TypeInfo& type) const {
  const Rule* r = ruleFor(type);
  return r && !r->pattern.empty() && r->pattern == r->r4Pattern && !r->runRegex;
}

std::optional<std::string> PrimitiveRules::check(const TypeInfo& type,
                                                 std::string_view value) const {
  const Rule* r = ruleFor(type);
  if (!r || r->kind == Kind::Xhtml) return std::nullopt;
  if (value.empty())
    return "an empty string is not a valid " + r->name + " (FHIR values are never empty)";
  std::string reason;  // built only on failure
  if (!textOk(value, r->stringFamily, reason))
    return quote(value) + " is not a valid " + r->name + ": " + reason;
  // 1. The declared regex (where no native matcher implements it).
  if (r->runRegex && !r->re->fullMatch(value)) {
    if (checkNative(r->kind, value, reason) != Verdict::Shape) reason.clear();  // no hint
    return r->shapeMessage(value, reason);
  }
  // 2. The R4 rules: the R4 regex (natively), then what it cannot say.
  switch (checkNative(r->kind, value, reason)) {
    case Verdict::Ok:
      return std::nullopt;
    case Verdict::Shape:
      if (r->pattern.empty() || r->pattern == r->r4Pattern) return r->shapeMessage(value, reason);
      // The declared pattern differs from R4's and accepts the value: R4 still does not.
      if (reason.empty())
        return r->name + " " + quote(value) + " does not match " + std::string(r->r4Pattern) +
               " (the R4 rule)";
      return quote(value) + " is not a valid " + r->name + ": " + reason;
    case Verdict::Semantic:
      return quote(value) + " is not a valid " + r->name + ": " + reason;
  }
  return std::nullopt;
}

}  // namespace hoa::fhir
