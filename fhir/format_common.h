#pragma once
// Internal to the format code: what the JSON and XML parsers and writers share.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/definitions.h"
#include "fhir/issue.h"

namespace hoa::fhir::detail {

inline constexpr std::string_view kFhirNs = "http://hl7.org/fhir";
inline constexpr std::string_view kXhtmlNs = "http://www.w3.org/1999/xhtml";

// The element path being parsed, e.g. Patient.name[0].given[1], built only on demand.
class PathTracker {
 public:
  void push(std::string_view name, int32_t index = -1) { segs_.push_back({name, index}); }
  void pop() { segs_.pop_back(); }
  void setIndex(int32_t index) { segs_.back().index = index; }
  std::string str() const;

 private:
  struct Seg {
    std::string_view name;
    int32_t index;
  };
  std::vector<Seg> segs_;
};

// Checks the lexical form of a primitive value for its JSON kind. Returns an empty
// string when fine, else the problem.
std::string checkPrimitiveText(const TypeInfo& type, std::string_view text);

// A fast, conservative check of a narrative div: true only when `xhtml` is certainly a
// well-formed XML document whose root is <div xmlns="http://www.w3.org/1999/xhtml">
// (no DOCTYPE, balanced tags, quoted and unique attributes, only XML's own entities and
// valid character references, no forbidden characters). False means "not certain": ask
// canonicalXhtml() (libxml2), which also gives the reason. Assumes valid UTF-8, as both
// parsers guarantee.
bool quickXhtmlDivCheck(std::string_view xhtml);

// XHTML serialization shared by the XML parser (narrative capture) and canonicalXhtml.
class XhtmlWriter {
 public:
  struct Attr {
    std::string_view prefix, localname;
    std::string value;  // decoded
  };
  struct NsDecl {
    std::string_view prefix, uri;  // prefix empty for the default namespace
  };
  void start(std::string_view prefix, std::string_view localname, const std::vector<NsDecl>& ns,
             const std::vector<Attr>& attrs);
  void text(std::string_view t);
  void end(std::string_view prefix, std::string_view localname);
  std::string& str() { return out_; }
  void clear() {
    out_.clear();
    pendingClose_ = false;
  }

 private:
  void closePending() {
    if (pendingClose_) {
      out_ += '>';
      pendingClose_ = false;
    }
  }
  std::string out_;
  bool pendingClose_ = false;
};

void appendXmlEscapedText(std::string& out, std::string_view s);
void appendXmlEscapedAttr(std::string& out, std::string_view s);

}  // namespace hoa::fhir::detail
