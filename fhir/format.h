#pragma once
// FHIR JSON and XML: parse into the element model and serialize from it.
//
// Parsing builds the typed tree from the definitions and reports what cannot be
// represented: syntax errors (fatal: no tree), unknown elements, wrong JSON types,
// elements out of order in XML, empty objects, arrays and strings, bad primitive
// lexical forms, limits exceeded. It does not validate cardinality, bindings or
// invariants: that is the validator's job.
//
// Thread-safety: all functions are reentrant; a Registry may be shared.
#include <optional>
#include <string>
#include <string_view>

#include "fhir/definitions.h"
#include "fhir/element.h"
#include "fhir/issue.h"
#include "fhir/json.h"

namespace hoa::fhir {

enum class Format { Json, Xml };

struct ParseOptions {
  // maxInputBytes, maxDepth (element nesting), maxStringBytes (one value), maxValues.
  json::Limits limits;
  size_t maxIssues = 100;  // stop collecting after this many
};

struct ParseResult {
  Document doc;
  Issues issues;
  // True when a tree was built and no issue is an error or fatal.
  bool ok() const { return doc.root() != nullptr && !issues.hasErrors(); }
};

ParseResult parseJson(const Registry& registry, std::string source, const ParseOptions& options = {});
ParseResult parseXml(const Registry& registry, std::string_view source,
                     const ParseOptions& options = {});
// Parses either format, chosen by the first non-blank character ('<' → XML).
ParseResult parse(const Registry& registry, std::string source, const ParseOptions& options = {});
// The format by the first non-blank character, or nullopt.
std::optional<Format> sniffFormat(std::string_view source);

struct WriteOptions {
  bool pretty = false;
};

// Writes a resource (a root node, or a contained/entry resource node) as FHIR JSON.
std::string writeJson(const Node& resource, const WriteOptions& options = {});
// Writes a resource as FHIR XML. Fails (issues, false) only when a narrative div is not
// well-formed XHTML, which JSON can carry but XML cannot.
bool writeXml(const Node& resource, std::string& out, Issues& issues,
              const WriteOptions& options = {});

// XHTML (narrative div) helpers, hardened like the FHIR XML parser (no DTD, no network).
// Parses `xhtml` and writes it in the form this library emits: double-quoted
// attributes, minimal escaping, empty elements as <x/>, comments dropped; with
// `sortAttributes`, attributes in name order (for comparing: their order has no meaning).
bool canonicalXhtml(std::string_view xhtml, std::string& out, std::string& error,
                    bool sortAttributes = false);

}  // namespace hoa::fhir
