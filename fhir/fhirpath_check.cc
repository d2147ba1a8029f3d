// Compile-time checks of a FHIRPath expression against the type of its focus
// (CompileOptions::focusType): element names the type cannot have, choice elements named
// with their type suffix, string functions on non-strings, non-boolean iif criteria,
// date arithmetic with plain numbers, and (optionally) ordered functions on unordered
// collections. Where a type cannot be known (children(), resolve(), abstract resource
// slots), checking stops: only certain errors are reported.
#include <algorithm>

#include "fhir/fhirpath_internal.h"

namespace hoa::fhir::fhirpath::detail {
namespace {

// System type bits.
enum : uint16_t {
  kBool = 1 << 0, kInt = 1 << 1, kDec = 1 << 2, kStr = 1 << 3, kDate = 1 << 4,
  kDateTime = 1 << 5, kTime = 1 << 6, kQty = 1 << 7,
};

struct SType {
  bool unknown = false;                // could be anything
  std::vector<const TypeInfo*> fhir;   // possible FHIR types
  uint16_t sys = 0;                    // possible System types
  bool unordered = false;

  static SType any() {
    SType t;
    t.unknown = true;
    return t;
  }
  static SType system(uint16_t bits) {
    SType t;
    t.sys = bits;
    return t;
  }
  bool empty() const { return !unknown && fhir.empty() && sys == 0; }
  void add(const SType& o) {
    unknown = unknown || o.unknown;
    for (const TypeInfo* t : o.fhir)
      if (std::find(fhir.begin(), fhir.end(), t) == fhir.end()) fhir.push_back(t);
    sys |= o.sys;
    unordered = unordered || o.unordered;
  }
};

// The System bits a FHIR primitive stands for.
uint16_t primitiveBits(const TypeInfo* t) {
  for (const TypeInfo* b = t; b; b = b->base) {
    const std::string& n = b->name;
    if (n == "boolean") return kBool;
    if (n == "integer") return kInt;
    if (n == "decimal") return kDec;
    if (n == "string" || n == "uri" || n == "base64Binary" || n == "xhtml") return kStr;
    if (n == "date") return kDate;
    if (n == "dateTime" || n == "instant") return kDateTime;
    if (n == "time") return kTime;
    if (n == "Quantity") return kQty;
  }
  return 0;
}

// Everything the type may stand for as System values (for primitive and Quantity FHIR
// types), plus its own System bits.
uint16_t valueBits(const SType& t) {
  uint16_t bits = t.sys;
  for (const TypeInfo* f : t.fhir) bits |= primitiveBits(f);
  return bits;
}

bool hasComplex(const SType& t) {
  for (const TypeInfo* f : t.fhir)
    if (f->kind != TypeKind::Primitive && primitiveBits(f) == 0) return true;
  return false;
}

bool isPolymorphic(const TypeInfo* t) {
  // Abstract types (Resource, DomainResource, Element...) stand for their subtypes.
  return t->isAbstract || t->name == "Resource" || t->name == "DomainResource" || t->name == "Element" ||
         t->name == "BackboneElement";
}

class Checker {
 public:
  Checker(const Registry& reg, const CompileOptions& opts) : reg_(reg), opts_(opts) {}

  SType check(const Ast& n, const SType& focus, const SType& thisType) {
    switch (n.op) {
      case Op::Empty: return SType{};
      case Op::Literal: return literal(n.literal);
      case Op::This: return thisType;
      case Op::Index: return SType::system(kInt);
      case Op::Total: return SType::any();
      case Op::Variable:
        if (n.name == "context") return root_;
        if (n.name == "resource" || n.name == "rootResource") {
          if (opts_.focusType && opts_.focusType->kind == TypeKind::Resource) return root_;
          return SType::any();
        }
        if (n.name == "ucum" || n.name == "sct" || n.name == "loinc" || n.name.starts_with("vs-") ||
            n.name.starts_with("ext-"))
          return SType::system(kStr);
        return SType::any();
      case Op::Member: return member(n, focus, thisType);
      case Op::Function: return function(n, focus, thisType);
      case Op::Indexer: {
        SType in = check(*n.args[0], focus, thisType);
        check(*n.args[1], focus, thisType);
        ordered(n, in, "indexer []");
        in.unordered = false;
        return in;
      }
      case Op::Negate:
      case Op::Plus: return check(*n.args[0], focus, thisType);
      case Op::Add:
      case Op::Sub:
      case Op::Mul:
      case Op::Div:
      case Op::IntDiv:
      case Op::Mod: return arithmetic(n, focus, thisType);
      case Op::Concat:
        check(*n.args[0], focus, thisType);
        check(*n.args[1], focus, thisType);
        return SType::system(kStr);
      case Op::Is:
        check(*n.args[0], focus, thisType);
        return SType::system(kBool);
      case Op::As: {
        SType in = check(*n.args[0], focus, thisType);
        return cast(n.type, in);
      }
      case Op::Union: {
        SType a = check(*n.args[0], focus, thisType);
        a.add(check(*n.args[1], focus, thisType));
        return a;
      }
      default:
        for (const auto& a : n.args) check(*a, focus, thisType);
        return SType::system(kBool);
    }
  }

  SType root_;

 private:
  [[noreturn]] void error(const Ast& at, std::string msg) { throw TypeCheckError{std::move(msg), at.pos}; }

  static SType literal(const Item& i) {
    switch (i.kind()) {
      case ItemKind::Boolean: return SType::system(kBool);
      case ItemKind::Integer: return SType::system(kInt);
      case ItemKind::Decimal: return SType::system(kDec);
      case ItemKind::String: return SType::system(kStr);
      case ItemKind::Date: return SType::system(kDate);
      case ItemKind::DateTime: return SType::system(kDateTime);
      case ItemKind::Time: return SType::system(kTime);
      case ItemKind::Quantity: return SType::system(kQty);
      default: return SType::any();
    }
  }

  void ordered(const Ast& at, const SType& in, const char* what) {
    if (opts_.checkOrderedFunctions && in.unordered)
      error(at, std::string(what) + " needs an ordered collection, but the input comes from children() or "
                                    "descendants(), whose order is not defined");
  }

  static std::string typeList(const SType& t) {
    std::string s;
    for (const TypeInfo* f : t.fhir) {
      if (!s.empty()) s += " | ";
      s += f->kind == TypeKind::Backbone ? f->name : f->name;
    }
    return s;
  }

  // Navigation by element name.
  SType member(const Ast& n, const SType& focus, const SType& thisType) {
    SType in = n.args[0] ? check(*n.args[0], focus, thisType) : focus;
    if (!n.args[0] && n.typeHead && !n.name.empty() && n.name[0] >= 'A' && n.name[0] <= 'Z') {
      if (const TypeInfo* t = reg_.type(n.name)) {
        if (!in.unknown && !in.fhir.empty()) {
          bool compatible = false;
          for (const TypeInfo* f : in.fhir)
            compatible = compatible || isPolymorphic(f) || f->isA(t->name) || t->isA(f->name);
          if (!compatible)
            error(n, "'" + n.name + "' does not match the type of the context (" + typeList(in) + ")");
        }
        SType r;
        r.fhir.push_back(t);
        return r;
      }
    }
    if (in.unknown) return SType::any();
    SType out;
    out.unordered = in.unordered;
    bool anyFhir = false, found = false;
    std::string choiceHint;
    for (const TypeInfo* t : in.fhir) {
      anyFhir = true;
      if (isPolymorphic(t)) return SType::any();
      const ElementDef* e = t->element(n.name);
      if (!e) {
        if (const auto* p = t->property(n.name); p && p->element->isChoice)
          choiceHint = p->element->name + ".ofType(" + p->type->name + ")";
        continue;
      }
      found = true;
      if (in.fhir.size() == 1 && in.sys == 0) {
        n.staticType = t;  // the evaluator compares element pointers for nodes of this type
        n.staticDef = e;
      }
      if (e->inlineType) {
        out.fhir.push_back(e->inlineType);
      } else {
        for (const ElementType& et : e->types) {
          if (!et.type) return SType::any();
          if (std::find(out.fhir.begin(), out.fhir.end(), et.type) == out.fhir.end()) out.fhir.push_back(et.type);
        }
        if (e->types.empty()) return SType::any();
      }
    }
    if (anyFhir && !found && in.sys == 0) {
      if (!choiceHint.empty())
        error(n, "'" + n.name + "' is not an element name in FHIRPath: write " + choiceHint);
      error(n, "'" + n.name + "' is not an element of " + typeList(in));
    }
    return out;
  }

  SType cast(const TypeRef& t, const SType& in) {
    SType r;
    if (t.fhir) r.fhir.push_back(t.fhir);
    if (t.system >= 0) {
      static const uint16_t bits[] = {0, kBool, kInt, kDec, kStr, kDate, kDateTime, kTime, kQty};
      r.sys |= bits[t.system];
    }
    r.unordered = in.unordered;
    return r;
  }

  SType arithmetic(const Ast& n, const SType& focus, const SType& thisType) {
    SType a = check(*n.args[0], focus, thisType);
    SType b = check(*n.args[1], focus, thisType);
    if (!a.unknown && !b.unknown && a.fhir.empty() && b.fhir.empty() && a.sys && b.sys) {
      const uint16_t temporal = kDate | kDateTime | kTime, numeric = kInt | kDec;
      if ((a.sys & temporal) && !(a.sys & ~temporal) && (b.sys & numeric) && !(b.sys & ~numeric))
        error(n, "a date or time can only be added to or subtracted from a quantity with a time unit, not a number");
      if (a.sys == kStr && b.sys == kStr && n.op != Op::Add)
        error(n, "strings can only be added ('+' or '&')");
    }
    uint16_t bits = valueBits(a) | valueBits(b);
    if (a.unknown || b.unknown) return SType::any();
    if (bits & (kDate | kDateTime | kTime)) return SType::system(bits & (kDate | kDateTime | kTime));
    if (bits & kQty) return SType::system(kQty);
    if (bits & kStr) return SType::system(kStr);
    if (n.op == Op::Div) return SType::system(kDec);
    return SType::system(bits & (kInt | kDec) ? bits & (kInt | kDec) : kDec);
  }

  SType function(const Ast& n, const SType& focus, const SType& thisType) {
    const std::string& name = n.name;
    SType in = n.args[0] ? check(*n.args[0], focus, thisType) : focus;
    // Lambda arguments see $this of the input's type; others the caller's.
    SType item = in;
    item.unordered = false;
    // repeat() applies its projection to its own results too: their type is not known.
    if (name == "repeat") item = SType::any();
    auto argType = [&](size_t i) -> SType {
      bool lambda = n.fn->lambdaArgs & (1u << (i - 1));
      return lambda ? check(*n.args[i], item, item) : check(*n.args[i], focus, thisType);
    };
    if (name == "iif") {
      SType inner = n.args[0] ? item : focus;
      SType innerThis = n.args[0] ? item : thisType;
      SType crit = check(*n.args[1], inner, innerThis);
      if (!crit.unknown && !(valueBits(crit) & kBool) && (crit.sys != 0 || !crit.fhir.empty()))
        error(*n.args[1], "the criterion of iif() must be a boolean");
      SType r = check(*n.args[2], inner, innerThis);
      if (n.args.size() > 3) r.add(check(*n.args[3], inner, innerThis));
      return r;
    }
    std::vector<SType> args;
    bool typeArg = name == "is" || name == "as" || name == "ofType";
    for (size_t i = 1; i < n.args.size() && !typeArg; ++i) args.push_back(argType(i));
    if (n.fn->singletonInput && isStringFunction(name) && !in.unknown && !in.empty() &&
        !(valueBits(in) & kStr) && hasComplexOrNonString(in))
      error(n, "function '" + name + "' needs a string, but the input is " + describe(in));
    if (name == "skip" || name == "take" || name == "first" || name == "last" || name == "tail" ||
        name == "single")
      ordered(n, in, ("function '" + name + "'").c_str());
    if (name == "where" || name == "skip" || name == "take" || name == "first" || name == "last" ||
        name == "tail" || name == "single" || name == "distinct" || name == "intersect" || name == "exclude" ||
        name == "trace" || name == "sort")
      return in;
    if (name == "select") return args.empty() ? SType::any() : args[0];
    if (name == "ofType" || name == "as") return cast(n.type, in);
    if (name == "union" || name == "combine") {
      SType r = in;
      if (!args.empty()) r.add(args[0]);
      return r;
    }
    if (name == "children" || name == "descendants") {
      SType r = SType::any();
      r.unordered = true;
      return r;
    }
    if (name == "extension") {
      SType r;
      if (const TypeInfo* e = reg_.type("Extension")) r.fhir.push_back(e);
      else r = SType::any();
      return r;
    }
    if (name == "count" || name == "length" || name == "indexOf" || name == "lastIndexOf" ||
        name == "toInteger" || name == "precision")
      return SType::system(kInt);
    if (name == "toString" || name == "substring" || name == "upper" || name == "lower" || name == "replace" ||
        name == "replaceMatches" || name == "toChars" || name == "trim" || name == "split" || name == "join" ||
        name == "encode" || name == "decode" || name == "escape" || name == "unescape")
      return SType::system(kStr);
    if (name == "toDecimal" || name == "round" || name == "sqrt" || name == "ln" || name == "exp" ||
        name == "log")
      return SType::system(kDec);
    if (name == "toQuantity") return SType::system(kQty);
    if (name == "toDate" || name == "today") return SType::system(kDate);
    if (name == "toDateTime" || name == "now") return SType::system(kDateTime);
    if (name == "toTime" || name == "timeOfDay") return SType::system(kTime);
    if (name.starts_with("convertsTo") || name == "empty" || name == "exists" || name == "all" ||
        name.starts_with("all") || name.starts_with("any") || name == "subsetOf" || name == "supersetOf" ||
        name == "isDistinct" || name == "not" || name == "is" || name == "startsWith" || name == "endsWith" ||
        name == "contains" || name == "matches" || name == "matchesFull" || name == "hasValue" ||
        name == "memberOf" || name == "conformsTo" || name == "htmlChecks" || name == "comparable" ||
        name == "hasExtension")
      return SType::system(kBool);
    return SType::any();
  }

  static bool isStringFunction(const std::string& name) {
    return name == "startsWith" || name == "endsWith" || name == "contains" || name == "indexOf" ||
           name == "substring" || name == "upper" || name == "lower" || name == "replace" || name == "matches" ||
           name == "matchesFull" || name == "replaceMatches" || name == "length" || name == "toChars" ||
           name == "lastIndexOf" || name == "trim" || name == "split";
  }

  static bool hasComplexOrNonString(const SType& t) { return hasComplex(t) || t.sys != 0 || !t.fhir.empty(); }

  static std::string describe(const SType& t) {
    std::string s = typeList(t);
    static const char* names[] = {"Boolean", "Integer", "Decimal", "String", "Date", "DateTime", "Time", "Quantity"};
    for (int i = 0; i < 8; ++i) {
      if (t.sys & (1 << i)) {
        if (!s.empty()) s += " | ";
        s += std::string("System.") + names[i];
      }
    }
    return s;
  }

  const Registry& reg_;
  const CompileOptions& opts_;
};

}  // namespace

void checkTypes(const Registry& reg, const Ast& root, const CompileOptions& options) {
  if (!options.focusType) return;
  Checker c(reg, options);
  SType focus;
  focus.fhir.push_back(options.focusType);
  c.root_ = focus;
  c.check(root, focus, focus);
}

}  // namespace hoa::fhir::fhirpath::detail
