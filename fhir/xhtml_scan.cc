// A quick, conservative well-formedness scan of narrative XHTML (see format_common.h).
#include <array>
#include <cstdint>
#include <string_view>

#include "fhir/format_common.h"

namespace hoa::fhir::detail {
namespace {

class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}

  bool run() {
    skipSpace();
    if (!startTag(/*root=*/true)) return false;
    while (depth_ > 0) {
      if (i_ >= s_.size()) return false;
      char c = s_[i_];
      if (c == '<') {
        if (at("</")) {
          if (!endTag()) return false;
        } else if (at("<!--")) {
          if (!comment()) return false;
        } else if (at("<![CDATA[")) {
          if (!cdata()) return false;
        } else if (!startTag(false)) {
          return false;
        }
      } else if (c == '&') {
        if (!reference()) return false;
      } else if (c == ']' && at("]]>")) {
        return false;  // not allowed in character data
      } else if (!textChar()) {
        return false;
      }
    }
    skipSpace();
    return i_ == s_.size();
  }

 private:
  static constexpr size_t kMaxDepth = 256;
  static constexpr size_t kMaxAttrs = 32;

  bool at(std::string_view p) const { return s_.substr(i_, p.size()) == p; }
  static bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
  void skipSpace() {
    while (i_ < s_.size() && isSpace(s_[i_])) ++i_;
  }
  static bool nameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
  static bool nameChar(char c) {
    return nameStart(c) || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == ':';
  }

  // An ASCII name; names with a prefix other than xml:/xmlns: are left to libxml2 (their
  // namespace must be declared).
  bool name(std::string_view& out, bool attribute) {
    size_t start = i_;
    if (i_ >= s_.size() || !nameStart(s_[i_])) return false;
    while (i_ < s_.size() && nameChar(s_[i_])) ++i_;
    out = s_.substr(start, i_ - start);
    size_t colon = out.find(':');
    if (colon == std::string_view::npos) return true;
    if (!attribute) return false;
    std::string_view prefix = out.substr(0, colon);
    std::string_view local = out.substr(colon + 1);
    if (local.empty() || local.find(':') != std::string_view::npos) return false;
    return prefix == "xml" || prefix == "xmlns";
  }

  // One byte of character data (or of an attribute value): no control characters but
  // tab, CR and LF; no U+FFFE/U+FFFF. Other UTF-8 was checked when the text was read.
  bool textChar() {
    auto c = static_cast<unsigned char>(s_[i_]);
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return false;
    if (c == 0xEF && i_ + 2 < s_.size() && static_cast<unsigned char>(s_[i_ + 1]) == 0xBF &&
        (static_cast<unsigned char>(s_[i_ + 2]) & 0xFE) == 0xBE)
      return false;
    ++i_;
    return true;
  }

  // &lt; &gt; &amp; &quot; &apos; &#N; &#xH; — HTML's named entities are not XML.
  bool reference() {
    ++i_;  // '&'
    if (i_ < s_.size() && s_[i_] == '#') {
      ++i_;
      bool hex = i_ < s_.size() && s_[i_] == 'x';
      if (hex) ++i_;
      uint32_t v = 0;
      size_t digits = 0;
      while (i_ < s_.size() && s_[i_] != ';') {
        char c = s_[i_];
        uint32_t d;
        if (c >= '0' && c <= '9') d = static_cast<uint32_t>(c - '0');
        else if (hex && c >= 'a' && c <= 'f') d = static_cast<uint32_t>(c - 'a' + 10);
        else if (hex && c >= 'A' && c <= 'F') d = static_cast<uint32_t>(c - 'A' + 10);
        else return false;
        if (++digits > 8) return false;
        v = v * (hex ? 16 : 10) + d;
        ++i_;
      }
      if (i_ >= s_.size() || digits == 0) return false;
      ++i_;  // ';'
      bool ok = (v >= 0x20 && v <= 0xD7FF) || v == 0x9 || v == 0xA || v == 0xD || (v >= 0xE000 && v <= 0xFFFD) ||
                (v >= 0x10000 && v <= 0x10FFFF);
      return ok;
    }
    for (std::string_view e : {"lt;", "gt;", "amp;", "quot;", "apos;"}) {
      if (s_.substr(i_, e.size()) == e) {
        i_ += e.size();
        return true;
      }
    }
    return false;
  }

  bool startTag(bool root) {
    if (!at("<")) return false;
    ++i_;
    std::string_view tag;
    if (!name(tag, false)) return false;
    if (root && tag != "div") return false;
    std::array<std::string_view, kMaxAttrs> seen;
    size_t attrs = 0;
    bool xhtmlNs = false;
    for (;;) {
      size_t before = i_;
      skipSpace();
      if (i_ >= s_.size()) return false;
      if (s_[i_] == '>' || at("/>")) break;
      if (i_ == before) return false;  // attributes are separated by white space
      std::string_view attr;
      if (!name(attr, true)) return false;
      for (size_t k = 0; k < attrs; ++k)
        if (seen[k] == attr) return false;  // a duplicate attribute
      if (attrs == kMaxAttrs) return false;
      seen[attrs++] = attr;
      skipSpace();
      if (!at("=")) return false;
      ++i_;
      skipSpace();
      if (i_ >= s_.size() || (s_[i_] != '"' && s_[i_] != '\'')) return false;
      char quote = s_[i_++];
      size_t valueStart = i_;
      while (i_ < s_.size() && s_[i_] != quote) {
        if (s_[i_] == '<') return false;
        if (s_[i_] == '&') {
          if (!reference()) return false;
        } else if (!textChar()) {
          return false;
        }
      }
      if (i_ >= s_.size()) return false;
      std::string_view value = s_.substr(valueStart, i_ - valueStart);
      ++i_;  // closing quote
      if (attr == "xmlns") {
        if (value != kXhtmlNs) return false;  // another default namespace: left to libxml2
        xhtmlNs = true;
      } else if (attr.starts_with("xmlns:")) {
        return false;  // namespace declarations with prefixes: left to libxml2
      }
    }
    if (root && !xhtmlNs) return false;
    if (at("/>")) {
      i_ += 2;
      return true;
    }
    ++i_;  // '>'
    if (depth_ == kMaxDepth) return false;
    stack_[depth_++] = tag;
    return true;
  }

  bool endTag() {
    i_ += 2;
    std::string_view tag;
    if (!name(tag, false)) return false;
    skipSpace();
    if (!at(">")) return false;
    ++i_;
    if (depth_ == 0 || stack_[depth_ - 1] != tag) return false;
    --depth_;
    return true;
  }

  bool comment() {
    size_t end = s_.find("--", i_ + 4);
    if (end == std::string_view::npos || s_.substr(end, 3) != "-->") return false;
    for (i_ += 4; i_ < end;)
      if (!textChar()) return false;
    i_ = end + 3;
    return true;
  }

  bool cdata() {
    size_t end = s_.find("]]>", i_ + 9);
    if (end == std::string_view::npos) return false;
    for (i_ += 9; i_ < end;)
      if (!textChar()) return false;
    i_ = end + 3;
    return true;
  }

  std::string_view s_;
  size_t i_ = 0;
  std::array<std::string_view, kMaxDepth> stack_;
  size_t depth_ = 0;
};

}  // namespace

bool quickXhtmlDivCheck(std::string_view xhtml) { return Scanner(xhtml).run(); }

}  // namespace hoa::fhir::detail
