#pragma once
// FHIRPath engine internals shared by the parser (fhirpath_parser.cc), the evaluator
// (fhirpath_eval.cc) and the function library (fhirpath_functions.cc). Not a public API.
#include <deque>
#include <memory>
#include <memory_resource>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/fhirpath.h"
#include "fhir/regex.h"

namespace hoa::fhir::fhirpath::detail {

enum class Op : uint8_t {
  Empty,      // {}
  Literal,    // a constant item (literal)
  This,       // $this
  Index,      // $index
  Total,      // $total
  Variable,   // %name
  Member,     // input.name (input null: the focus)
  Function,   // input.fn(args) (input null: the focus)
  Indexer,    // input[index]
  Negate,     // -x
  Plus,       // +x
  Mul, Div, IntDiv, Mod, Add, Sub, Concat,
  Is, As,     // x is T, x as T
  Union,
  Lt, Gt, Le, Ge,
  Eq, Ne, Equiv, NotEquiv,
  In, Contains,
  And, Or, Xor, Implies,
};

// A type named in an expression: is/as/ofType and the first identifier of a path.
struct TypeRef {
  enum class Ns : uint8_t { Unqualified, System, FHIR };
  Ns ns = Ns::Unqualified;
  std::string name;
  const TypeInfo* fhir = nullptr;  // the FHIR type of that name, if any
  int system = -1;                 // ItemKind of the System type of that name, or -1
  std::string display() const;
};

struct Ast;
struct EvalState;
struct Frame;
using Coll = std::pmr::vector<Item>;
using FunctionImpl = void (*)(const Ast& call, const Coll& input, const Frame& frame,
                              EvalState& st, Coll& out);

struct FunctionDef {
  std::string_view name;
  uint8_t minArgs;
  uint8_t maxArgs;
  // Bit i set: argument i is an expression evaluated per input item (where, select...),
  // not a value evaluated once in the caller's context.
  uint8_t lambdaArgs;
  FunctionImpl impl;
  // Needs exactly zero or one input item (string and math functions): more is an error.
  bool singletonInput = false;
};
const FunctionDef* findFunction(std::string_view name);

struct Ast {
  Op op = Op::Empty;
  uint32_t pos = 0;    // byte offset in the text, for errors
  uint32_t height = 1; // levels of the tree below and including this node
  std::string name;    // Member, Function, Variable; Literal string storage
  Item literal;        // Literal
  const FunctionDef* fn = nullptr;
  TypeRef type;        // Is, As, ofType/is/as functions, type-name path heads
  bool typeHead = false;  // Member at the head of a path that may name a type
  // Member: when compile-time checking knew the input's single type, that type and the
  // element the name stands for (set once while compiling; read-only afterwards).
  mutable const TypeInfo* staticType = nullptr;
  mutable const ElementDef* staticDef = nullptr;
  bool descending = false;  // sort() keys written with a leading '-'
  std::optional<regex::Regex> regex;  // matches()/replaceMatches() with a literal pattern
  std::vector<std::unique_ptr<Ast>> args;  // operands; for Member/Function args[0] is the
                                           // input (may be null), then the arguments
  const Ast* arg(size_t i) const { return args[i].get(); }
};

}  // namespace hoa::fhir::fhirpath::detail

namespace hoa::fhir::fhirpath {
struct Expression::Impl {
  std::unique_ptr<detail::Ast> root;
  // Storage for literal values the AST's items point to.
  std::deque<Decimal> decimals;
  std::deque<Temporal> temporals;
  std::deque<Quantity> quantities;
  std::deque<std::string> strings;
};
}  // namespace hoa::fhir::fhirpath

namespace hoa::fhir::fhirpath::detail {

struct EvalError {
  std::string message;
};

// Per-evaluation state: arena, environment, computed-value storage.
struct EvalState {
  const Expression& expr;
  const Environment& env;
  std::pmr::memory_resource* mr;
  const Item* contextItems;   // %context: the input
  size_t contextCount;
  const Node* resource = nullptr;      // %resource
  const Node* rootResource = nullptr;  // %rootResource
  // Computed strings and quantities, created on first use; the Result keeps them.
  struct Owned {
    std::deque<Quantity> quantities;
    std::deque<std::string> strings;
  };
  std::shared_ptr<Owned> owned;
  unsigned depth = 0;
  size_t items = 0;
  Temporal nowValue;
  bool nowSet = false;

  Coll coll() { return Coll(mr); }
  template <class T>
  const T* make(const T& v) {
    void* p = mr->allocate(sizeof(T), alignof(T));
    return new (p) T(v);
  }
  Item str(std::string s);                     // keeps s in the state, returns a String
  Item dec(const Decimal& d) { return Item::decimal(make(d)); }
  Item tmp(const Temporal& t) { return Item::temporal(make(t)); }
  Item qty(Quantity q);
  [[noreturn]] void fail(const Ast& at, std::string message);
  const Temporal& now();
};

struct Frame {
  const Coll* focus = nullptr;  // the implicit input of a term
  Item thisItem;                // $this
  bool hasThis = false;
  int64_t index = 0;            // $index
  const Coll* total = nullptr;  // $total
};

// Evaluator entry points used by the function library.
void eval(const Ast& n, const Frame& f, EvalState& st, Coll& out);
// Evaluates a function's input (args[0], or the focus when absent).
void evalInput(const Ast& call, const Frame& f, EvalState& st, Coll& out);
// Evaluates argument i (1-based in args) in the caller's frame.
void evalArg(const Ast& call, size_t i, const Frame& f, EvalState& st, Coll& out);
// Evaluates argument i with $this = item, $index = index.
void evalLambda(const Ast& call, size_t i, const Item& item, int64_t index, const Frame& f,
                EvalState& st, Coll& out);

// Item helpers.
// A FHIR primitive node, or a FHIR Quantity node, as the System value it stands for;
// other items unchanged. Returns false when a primitive node has no value.
bool toSystem(const Item& in, EvalState& st, Item& out);
// Boolean of a collection as a criterion: empty -> nullopt; one Boolean -> it; one other
// item -> true; more -> error.
std::optional<bool> singletonBoolean(const Coll& c, const Ast& at, EvalState& st);
// A single String (or string-like primitive) argument; nullopt when empty; error when not
// a string or more than one item.
std::optional<std::string_view> singletonString(const Coll& c, const Ast& at, EvalState& st);
std::optional<int64_t> singletonInteger(const Coll& c, const Ast& at, EvalState& st);
// =, ~ on single items: nullopt when unknown.
std::optional<bool> itemEquals(const Item& a, const Item& b, EvalState& st);
bool itemEquivalent(const Item& a, const Item& b, EvalState& st);
// Ordering of two single items; nullopt unknown; error when not comparable types.
std::optional<int> itemCompare(const Item& a, const Item& b, const Ast& at, EvalState& st);
// Whether item is of the type (is), exactly (as/ofType on primitives).
bool itemIs(const Item& item, const TypeRef& t, bool exactPrimitives);
// String form used by toString() and string functions.
std::optional<std::string> itemString(const Item& item, EvalState& st);
[[noreturn]] void limitExceeded(const Coll& out, const Ast& at, EvalState& st);
// Appends an item, enforcing Environment::maxItems and maxSteps.
inline void addChecked(Coll& out, const Item& item, const Ast& at, EvalState& st) {
  if (out.size() >= st.env.maxItems || ++st.items > st.env.maxSteps) [[unlikely]]
    limitExceeded(out, at, st);
  out.push_back(item);
}
// Lower case of a UTF-8 string (Latin-1, Latin Extended-A, Greek and Cyrillic letters too).
std::string lowerUnicode(std::string_view s);

// Resolves a type name (is/as/ofType); false when no such type.
bool resolveType(const Registry& reg, TypeRef& t);

// Compile-time type checking against CompileOptions::focusType (fhirpath_check.cc).
struct TypeCheckError {
  std::string message;
  uint32_t pos;
};
void checkTypes(const Registry& reg, const Ast& root, const CompileOptions& options);

}  // namespace hoa::fhir::fhirpath::detail
