#pragma once
// FHIRPath (N1, as FHIR R4 uses it) over the element tree.
//
//   CompileError err;
//   auto expr = fhirpath::compile(registry, "name.where(use = 'official').given", err);
//   auto result = fhirpath::evaluate(*expr, doc.root());
//   if (!result.ok()) ... result.error ...
//   for (const Item& item : result.items) ... item.toString() ...
//
// A compiled Expression is immutable and may be shared between threads; each evaluate()
// call uses its own state. The Registry must outlive the expressions compiled with it.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <memory_resource>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/definitions.h"
#include "fhir/element.h"
#include "fhir/fhirpath_values.h"

namespace hoa::fhir::fhirpath {

// ---------------------------------------------------------------------------------
// Values

// The System types of FHIRPath, plus FHIR elements (kind Node) and type descriptions
// (the result of type()).
enum class ItemKind : uint8_t {
  Node,      // a FHIR element or resource; its FHIR type is node->type
  Boolean,
  Integer,
  Decimal,
  String,
  Date,
  DateTime,
  Time,
  Quantity,
  TypeSpec,  // the result of type(): has .namespace and .name
};

struct TypeSpec {
  std::string_view ns;    // "System" or "FHIR"
  std::string_view name;  // "Integer", "Patient", "string"
};

// One item of a collection: 16 bytes, trivially copyable. Strings and big values point
// into the evaluation's arena or into the document, so an Item is valid as long as the
// Result it came from (and the document) live.
class Item {
 public:
  Item() : kind_(ItemKind::Boolean), len_(0) { u_.integer = 0; }
  static Item node(const Node* n) { Item i(ItemKind::Node); i.u_.node = n; return i; }
  static Item boolean(bool b) { Item i(ItemKind::Boolean); i.u_.integer = b; return i; }
  static Item integer(int64_t v) { Item i(ItemKind::Integer); i.u_.integer = v; return i; }
  static Item string(std::string_view s) {
    Item i(ItemKind::String); i.u_.str = s.data(); i.len_ = static_cast<uint32_t>(s.size()); return i;
  }
  static Item decimal(const Decimal* d) { Item i(ItemKind::Decimal); i.u_.decimal = d; return i; }
  static Item temporal(const Temporal* t);
  static Item quantity(const Quantity* q) { Item i(ItemKind::Quantity); i.u_.quantity = q; return i; }
  static Item typeSpec(const TypeSpec* t) { Item i(ItemKind::TypeSpec); i.u_.typeSpec = t; return i; }

  ItemKind kind() const { return kind_; }
  bool isNode() const { return kind_ == ItemKind::Node; }
  const Node* node() const { return u_.node; }
  bool boolean() const { return u_.integer != 0; }
  int64_t integer() const { return u_.integer; }
  std::string_view string() const { return {u_.str, len_}; }
  const Decimal& decimal() const { return *u_.decimal; }
  const Temporal& temporal() const { return *u_.temporal; }
  const Quantity& quantity() const { return *u_.quantity; }
  const TypeSpec& typeSpec() const { return *u_.typeSpec; }

  // The type name as the CLI and the test suite print it: System types in lower case
  // ("string", "integer", "decimal", "boolean", "date", "dateTime", "time", "Quantity"),
  // FHIR elements by their FHIR type ("code", "HumanName", "Patient"; backbone elements
  // "BackboneElement").
  std::string typeName() const;
  // The FHIRPath string form of a System value or a FHIR primitive ("1.50", "1974-12-25",
  // "4 'mg'"); empty for complex elements.
  std::string toString() const;

 private:
  explicit Item(ItemKind k) : kind_(k), len_(0) {}
  ItemKind kind_;
  uint32_t len_;
  union {
    const Node* node;
    int64_t integer;
    const char* str;
    const Decimal* decimal;
    const Temporal* temporal;
    const Quantity* quantity;
    const TypeSpec* typeSpec;
  } u_;
};

using Collection = std::vector<Item>;

// ---------------------------------------------------------------------------------
// Compilation

struct CompileError {
  std::string message;
  uint32_t offset = 0;  // 0-based byte offset in the expression
  uint32_t line = 1;    // 1-based
  uint32_t column = 1;  // 1-based, in bytes
  // "line 1, column 7: unknown function 'foo'"
  std::string toString() const;
};

struct CompileOptions {
  // The FHIR type of the focus (%context): a resource type, data type or backbone
  // element. When set, the expression is checked against the definitions: element names
  // the type cannot have, names with a choice suffix (valueQuantity), string functions
  // on non-string elements and non-boolean iif criteria are errors.
  const TypeInfo* focusType = nullptr;
  // Extra environment variables the expression may use (%name), besides the built-in
  // ones (%resource, %rootResource, %context, %ucum, %sct, %loinc, %vs-*, %ext-*).
  std::vector<std::string> variables;
  // Reject ordered functions (first, skip, [n], ...) on unordered collections
  // (children(), descendants()).
  bool checkOrderedFunctions = false;
  // Limits on untrusted expressions.
  size_t maxLength = 64 * 1024;
  unsigned maxDepth = 200;
};

class Expression;
using ExpressionPtr = std::shared_ptr<const Expression>;

// Compiles `text`; returns nullptr and fills `error` when it is invalid.
ExpressionPtr compile(const Registry& registry, std::string_view text, CompileError& error,
                      const CompileOptions& options = {});

class Expression {
 public:
  ~Expression();
  const std::string& text() const { return text_; }
  const Registry& registry() const { return *registry_; }

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  friend ExpressionPtr compile(const Registry&, std::string_view, CompileError&,
                               const CompileOptions&);
  Expression() = default;
  std::string text_;
  const Registry* registry_ = nullptr;
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------
// Evaluation

// memberOf() asks this; the terminology layer implements it.
class Terminology {
 public:
  virtual ~Terminology() = default;
  // Whether system|code is in the value set: nullopt when unknown (value set not
  // available, or too large to expand), which memberOf() returns as empty.
  virtual std::optional<bool> memberOf(std::string_view system, std::string_view code,
                                       std::string_view valueSetUrl) const = 0;
};

// resolve() asks this for references it cannot resolve inside the resource itself
// (contained resources, Bundle entries): the store implements it.
class ReferenceResolver {
 public:
  virtual ~ReferenceResolver() = default;
  virtual const Node* resolve(std::string_view reference) const = 0;
};

struct Environment {
  const Node* resource = nullptr;      // %resource; default: the focus
  const Node* rootResource = nullptr;  // %rootResource; default: %resource
  std::map<std::string, Collection, std::less<>> variables;  // %name (without '%')
  const Terminology* terminology = nullptr;
  const ReferenceResolver* resolver = nullptr;
  // Receives trace(name [, projection]) output; none by default.
  std::function<void(std::string_view name, const Collection& items)> trace;
  // now()/today()/timeOfDay() for this evaluation; default: the wall clock, local offset.
  std::optional<Temporal> now;
  // Limits on work: evaluation stops with an error past these.
  size_t maxItems = 1'000'000;    // items in any one collection
  size_t maxSteps = 50'000'000;   // items produced over the whole evaluation (CPU bound)
  unsigned maxRecursion = 200;    // nesting of function calls during evaluation
};

struct Result {
  Collection items;
  std::string error;  // empty when the evaluation succeeded
  bool ok() const { return error.empty(); }

  // Owns computed values the items point to.
  std::shared_ptr<std::pmr::monotonic_buffer_resource> arena;
  std::shared_ptr<void> owned;
};

// Evaluates with `focus` as the input collection (and %context); nullptr focus means an
// empty input.
Result evaluate(const Expression& expr, const Node* focus, const Environment& env = {});
Result evaluate(const Expression& expr, const Collection& input, const Environment& env = {});

// Reusable evaluation state for hot loops (validation, indexing): no allocation per run
// once warm. Not thread-safe: one per thread. items() stay valid until the next run().
class Evaluator {
 public:
  Evaluator();
  ~Evaluator();
  Evaluator(const Evaluator&) = delete;
  Evaluator& operator=(const Evaluator&) = delete;
  // Returns false when evaluation failed (error() says why).
  bool run(const Expression& expr, const Node* focus, const Environment& env = {});
  const Collection& items() const;
  const std::string& error() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Convenience for invariants: the single boolean result, nullopt if empty, an error
// string if the result is not a single boolean or evaluation failed. Uses a per-thread
// Evaluator.
struct BoolResult {
  std::optional<bool> value;
  std::string error;
};
BoolResult evaluateBoolean(const Expression& expr, const Node* focus, const Environment& env = {});

}  // namespace hoa::fhir::fhirpath
