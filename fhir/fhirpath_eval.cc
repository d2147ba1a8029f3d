// FHIRPath evaluation: operators, equality and ordering, the entry points.
#include <algorithm>
#include <array>
#include <chrono>
#include <ctime>
#include <unordered_map>

#include "fhir/fhirpath_internal.h"

namespace hoa::fhir::fhirpath {

Item Item::temporal(const Temporal* t) {
  ItemKind k = t->kind == TemporalKind::Date       ? ItemKind::Date
               : t->kind == TemporalKind::DateTime ? ItemKind::DateTime
                                                   : ItemKind::Time;
  Item i(k);
  i.u_.temporal = t;
  return i;
}

std::string Item::typeName() const {
  switch (kind_) {
    case ItemKind::Node: {
      const TypeInfo* t = u_.node->type;
      if (t->kind == TypeKind::Backbone) return "BackboneElement";
      return t->name;
    }
    case ItemKind::Boolean: return "boolean";
    case ItemKind::Integer: return "integer";
    case ItemKind::Decimal: return "decimal";
    case ItemKind::String: return "string";
    case ItemKind::Date: return "date";
    case ItemKind::DateTime: return "dateTime";
    case ItemKind::Time: return "time";
    case ItemKind::Quantity: return "Quantity";
    case ItemKind::TypeSpec: return "TypeInfo";
  }
  return "";
}

std::string Item::toString() const {
  switch (kind_) {
    case ItemKind::Node:
      return u_.node->isPrimitive() && u_.node->hasValue ? std::string(u_.node->value) : std::string();
    case ItemKind::Boolean: return boolean() ? "true" : "false";
    case ItemKind::Integer: return std::to_string(u_.integer);
    case ItemKind::Decimal: return u_.decimal->toString();
    case ItemKind::String: return std::string(string());
    case ItemKind::Date:
    case ItemKind::DateTime:
    case ItemKind::Time: return u_.temporal->toString();
    case ItemKind::Quantity: return u_.quantity->toString();
    case ItemKind::TypeSpec: return std::string(u_.typeSpec->ns) + "." + std::string(u_.typeSpec->name);
  }
  return "";
}

namespace detail {

// ---------------------------------------------------------------------------------
// State helpers

Item EvalState::str(std::string s) {
  if (!owned) owned = std::make_shared<Owned>();
  owned->strings.push_back(std::move(s));
  return Item::string(owned->strings.back());
}

Item EvalState::qty(Quantity q) {
  if (!owned) owned = std::make_shared<Owned>();
  owned->quantities.push_back(std::move(q));
  return Item::quantity(&owned->quantities.back());
}

void EvalState::fail(const Ast& at, std::string message) {
  (void)at;
  throw EvalError{std::move(message)};
}

const Temporal& EvalState::now() {
  if (!nowSet) {
    if (env.now) {
      nowValue = *env.now;
    } else {
      using namespace std::chrono;
      auto tp = system_clock::now();
      auto ms = duration_cast<milliseconds>(tp.time_since_epoch()).count();
      std::time_t secs = static_cast<std::time_t>(ms / 1000);
      std::tm local{};
      localtime_r(&secs, &local);
      Temporal t;
      t.kind = TemporalKind::DateTime;
      t.precision = Precision::Millisecond;
      t.year = local.tm_year + 1900;
      t.month = local.tm_mon + 1;
      t.day = local.tm_mday;
      t.hour = local.tm_hour;
      t.minute = local.tm_min;
      t.second = local.tm_sec;
      t.millisecond = static_cast<int>(ms % 1000);
      t.fractionDigits = 3;
      t.tzMinutes = static_cast<int>(local.tm_gmtoff / 60);
      nowValue = t;
    }
    nowSet = true;
  }
  return nowValue;
}

void limitExceeded(const Coll& out, const Ast& at, EvalState& st) {
  if (out.size() >= st.env.maxItems)
    st.fail(at, "a collection exceeds the limit of " + std::to_string(st.env.maxItems) + " items");
  st.fail(at, "evaluation exceeds the work limit of " + std::to_string(st.env.maxSteps) + " items");
}

// ---------------------------------------------------------------------------------
// FHIR primitives as System values

namespace {

enum class Prim : uint8_t { None, Boolean, Integer, Decimal, String, Date, DateTime, Time, Quantity };

Prim primOf(const TypeInfo* t) {
  if (t->kind == TypeKind::Primitive) {
    switch (t->jsonKind) {
      case JsonKind::Boolean: return Prim::Boolean;
      case JsonKind::Integer: return Prim::Integer;
      case JsonKind::Decimal: return Prim::Decimal;
      case JsonKind::Xhtml: return Prim::String;
      case JsonKind::String: break;
    }
    const std::string& n = t->name;
    switch (n.size()) {
      case 4:
        if (n == "date") return Prim::Date;
        if (n == "time") return Prim::Time;
        break;
      case 7:
        if (n == "instant") return Prim::DateTime;
        break;
      case 8:
        if (n == "dateTime") return Prim::DateTime;
        break;
      default: break;
    }
    return Prim::String;
  }
  if (t->kind == TypeKind::Complex)
    for (const TypeInfo* b = t; b; b = b->base)
      if (b->name == "Quantity") return Prim::Quantity;
  return Prim::None;
}

}  // namespace

bool toSystem(const Item& in, EvalState& st, Item& out) {
  if (!in.isNode()) {
    out = in;
    return true;
  }
  const Node* n = in.node();
  Prim p = primOf(n->type);
  if (p == Prim::None) {
    out = in;
    return true;
  }
  if (p == Prim::Quantity) {
    const Node* v = n->child("value");
    if (!v || !v->hasValue) return false;
    auto d = Decimal::parse(v->value);
    if (!d) return false;
    const Node* code = n->child("code");
    const Node* system = n->child("system");
    const Node* unit = n->child("unit");
    std::string u;
    if (code && code->hasValue && (!system || system->value == "http://unitsofmeasure.org")) u = std::string(code->value);
    else if (!code && !system && unit && unit->hasValue) u = std::string(unit->value);
    else if (code && code->hasValue) u = std::string(code->value);
    else u = "1";
    out = st.qty(Quantity(*d, std::move(u)));
    return true;
  }
  if (!n->hasValue) return false;
  switch (p) {
    case Prim::Boolean:
      out = Item::boolean(n->value == "true");
      return true;
    case Prim::Integer: {
      int64_t v = 0;
      bool neg = false;
      size_t i = 0;
      std::string_view s = n->value;
      if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
      }
      if (i >= s.size()) return false;
      for (; i < s.size(); ++i) {
        if (s[i] < '0' || s[i] > '9' || v > 1'000'000'000'000LL) return false;
        v = v * 10 + (s[i] - '0');
      }
      out = Item::integer(neg ? -v : v);
      return true;
    }
    case Prim::Decimal: {
      auto d = Decimal::parse(n->value);
      if (!d) return false;
      out = st.dec(*d);
      return true;
    }
    case Prim::Date:
    case Prim::DateTime:
    case Prim::Time: {
      auto t = Temporal::parseFhir(n->value, p == Prim::Date       ? TemporalKind::Date
                                             : p == Prim::DateTime ? TemporalKind::DateTime
                                                                   : TemporalKind::Time);
      if (!t) return false;
      out = st.tmp(*t);
      return true;
    }
    default:
      out = Item::string(n->value);
      return true;
  }
}

std::optional<bool> singletonBoolean(const Coll& c, const Ast& at, EvalState& st) {
  if (c.empty()) return std::nullopt;
  if (c.size() > 1) st.fail(at, "expected a single boolean but the collection has " + std::to_string(c.size()) + " items");
  const Item& i = c[0];
  if (i.kind() == ItemKind::Boolean) return i.boolean();
  if (i.isNode() && i.node()->type->name == "boolean") {
    if (!i.node()->hasValue) return std::nullopt;
    return i.node()->value == "true";
  }
  return true;
}

std::optional<std::string_view> singletonString(const Coll& c, const Ast& at, EvalState& st) {
  if (c.empty()) return std::nullopt;
  if (c.size() > 1) st.fail(at, "expected a single string but the collection has " + std::to_string(c.size()) + " items");
  Item v;
  if (!toSystem(c[0], st, v)) return std::nullopt;
  if (v.kind() != ItemKind::String) st.fail(at, "expected a string, not " + c[0].typeName());
  return v.string();
}

std::optional<int64_t> singletonInteger(const Coll& c, const Ast& at, EvalState& st) {
  if (c.empty()) return std::nullopt;
  if (c.size() > 1) st.fail(at, "expected a single integer but the collection has " + std::to_string(c.size()) + " items");
  Item v;
  if (!toSystem(c[0], st, v)) return std::nullopt;
  if (v.kind() != ItemKind::Integer) st.fail(at, "expected an integer, not " + c[0].typeName());
  return v.integer();
}

std::optional<std::string> itemString(const Item& item, EvalState& st) {
  Item v;
  if (!toSystem(item, st, v)) return std::nullopt;
  switch (v.kind()) {
    case ItemKind::Node:
    case ItemKind::TypeSpec:
      return std::nullopt;
    case ItemKind::Quantity: return v.quantity().toString();
    default: return v.toString();
  }
}

// ---------------------------------------------------------------------------------
// Equality, equivalence, ordering

namespace {

bool isNumeric(ItemKind k) { return k == ItemKind::Integer || k == ItemKind::Decimal; }
bool isTemporal(ItemKind k) { return k == ItemKind::Date || k == ItemKind::DateTime || k == ItemKind::Time; }

Decimal asDecimal(const Item& i) {
  return i.kind() == ItemKind::Integer ? Decimal::fromInt(i.integer()) : i.decimal();
}

std::optional<bool> nodesEqual(const Node* a, const Node* b, EvalState& st, bool equivalent);

std::optional<bool> childrenEqual(const Node* a, const Node* b, EvalState& st, bool equivalent) {
  if (a->children.size() != b->children.size()) return false;
  for (size_t i = 0; i < a->children.size(); ++i) {
    const Node* ca = a->children[i];
    const Node* cb = b->children[i];
    if (ca->name() != cb->name()) return false;
    auto r = nodesEqual(ca, cb, st, equivalent);
    if (!r || !*r) return r;
  }
  return true;
}

std::optional<bool> nodesEqual(const Node* a, const Node* b, EvalState& st, bool equivalent) {
  if (a == b) return true;
  if (a->isPrimitive() != b->isPrimitive()) return false;
  if (a->isPrimitive()) {
    if (a->hasValue != b->hasValue) return false;
    if (a->hasValue) {
      Item x, y;
      if (!toSystem(Item::node(a), st, x) || !toSystem(Item::node(b), st, y)) return false;
      if (equivalent) {
        if (!itemEquivalent(x, y, st)) return false;
      } else {
        auto r = itemEquals(x, y, st);
        if (!r || !*r) return r;
      }
    }
    return childrenEqual(a, b, st, equivalent);
  }
  return childrenEqual(a, b, st, equivalent);
}

// String equivalence: case-insensitive (Unicode letters too) with runs of whitespace
// treated as one space and ends trimmed.
std::string normalizeForEquivalence(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return lowerUnicode(out);
}

}  // namespace

std::optional<bool> itemEquals(const Item& a0, const Item& b0, EvalState& st) {
  Item a, b;
  if (!toSystem(a0, st, a) || !toSystem(b0, st, b)) return std::nullopt;
  ItemKind ka = a.kind(), kb = b.kind();
  if (ka == ItemKind::Node || kb == ItemKind::Node) {
    if (ka != kb) return false;
    return nodesEqual(a.node(), b.node(), st, false);
  }
  if (isNumeric(ka) && isNumeric(kb)) {
    if (ka == ItemKind::Integer && kb == ItemKind::Integer) return a.integer() == b.integer();
    return asDecimal(a).compare(asDecimal(b)) == 0;
  }
  if (isTemporal(ka) && isTemporal(kb)) {
    if ((ka == ItemKind::Time) != (kb == ItemKind::Time)) return false;
    auto c = Temporal::compare(a.temporal(), b.temporal());
    if (!c) return std::nullopt;
    return *c == 0;
  }
  if (ka != kb) return false;
  switch (ka) {
    case ItemKind::Boolean: return a.boolean() == b.boolean();
    case ItemKind::String: return a.string() == b.string();
    case ItemKind::Quantity: return Quantity::equals(a.quantity(), b.quantity());
    case ItemKind::TypeSpec:
      return a.typeSpec().ns == b.typeSpec().ns && a.typeSpec().name == b.typeSpec().name;
    default: return false;
  }
}

bool itemEquivalent(const Item& a0, const Item& b0, EvalState& st) {
  Item a, b;
  bool okA = toSystem(a0, st, a), okB = toSystem(b0, st, b);
  if (!okA || !okB) return !okA && !okB;
  ItemKind ka = a.kind(), kb = b.kind();
  if (ka == ItemKind::Node || kb == ItemKind::Node) {
    if (ka != kb) return false;
    auto r = nodesEqual(a.node(), b.node(), st, true);
    return r && *r;
  }
  if (isNumeric(ka) && isNumeric(kb)) return asDecimal(a).equivalent(asDecimal(b));
  if (isTemporal(ka) && isTemporal(kb)) {
    if ((ka == ItemKind::Time) != (kb == ItemKind::Time)) return false;
    return Temporal::equivalent(a.temporal(), b.temporal());
  }
  if (ka != kb) return false;
  switch (ka) {
    case ItemKind::Boolean: return a.boolean() == b.boolean();
    case ItemKind::String: return normalizeForEquivalence(a.string()) == normalizeForEquivalence(b.string());
    case ItemKind::Quantity: return Quantity::equivalent(a.quantity(), b.quantity());
    case ItemKind::TypeSpec:
      return a.typeSpec().ns == b.typeSpec().ns && a.typeSpec().name == b.typeSpec().name;
    default: return false;
  }
}

std::optional<int> itemCompare(const Item& a0, const Item& b0, const Ast& at, EvalState& st) {
  Item a, b;
  if (!toSystem(a0, st, a) || !toSystem(b0, st, b)) return std::nullopt;
  ItemKind ka = a.kind(), kb = b.kind();
  if (isNumeric(ka) && isNumeric(kb)) {
    if (ka == ItemKind::Integer && kb == ItemKind::Integer)
      return a.integer() < b.integer() ? -1 : a.integer() > b.integer() ? 1 : 0;
    return asDecimal(a).compare(asDecimal(b));
  }
  if (isTemporal(ka) && isTemporal(kb) && (ka == ItemKind::Time) == (kb == ItemKind::Time))
    return Temporal::compare(a.temporal(), b.temporal());
  if (ka == ItemKind::String && kb == ItemKind::String) {
    int c = a.string().compare(b.string());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (ka == ItemKind::Quantity && kb == ItemKind::Quantity) return Quantity::compare(a.quantity(), b.quantity());
  st.fail(at, "cannot compare " + a0.typeName() + " with " + b0.typeName());
}

bool itemIs(const Item& item, const TypeRef& t, bool exactPrimitives) {
  if (item.isNode()) {
    if (!t.fhir) return false;
    const TypeInfo* type = item.node()->type;
    if (type == t.fhir) return true;
    if (exactPrimitives && type->kind == TypeKind::Primitive) return false;
    if (type->kind == TypeKind::Backbone)
      return t.fhir->name == "BackboneElement" || t.fhir->name == "Element" || t.fhir->name == "Base";
    for (const TypeInfo* b = type->base; b; b = b->base)
      if (b == t.fhir) return true;
    return false;
  }
  if (item.kind() == ItemKind::TypeSpec) return false;
  return t.system >= 0 && static_cast<int>(item.kind()) == t.system;
}

// ---------------------------------------------------------------------------------
// Evaluation

namespace {

struct DepthGuard {
  EvalState& st;
  DepthGuard(EvalState& s, const Ast& at) : st(s) {
    if (++st.depth > st.env.maxRecursion * 4) st.fail(at, "expression evaluation nests too deeply");
  }
  ~DepthGuard() { --st.depth; }
};

const Item* single(const Coll& c, const Ast& at, EvalState& st, const char* what) {
  if (c.empty()) return nullptr;
  if (c.size() > 1)
    st.fail(at, std::string(what) + " needs a single item but the collection has " + std::to_string(c.size()) + " items");
  return &c[0];
}

void member(const Ast& n, const Coll& input, EvalState& st, Coll& out) {
  const std::string& name = n.name;
  const char first = name.empty() ? '\0' : name[0];
  for (const Item& it : input) {
    if (it.isNode()) {
      const Node* node = it.node();
      if (out.capacity() - out.size() < node->children.size())  // grow geometrically
        out.reserve(std::max(out.size() + node->children.size(), 2 * out.capacity()));
      if (node->type == n.staticType) {
        // The type the compiler checked against: the element is known, compare pointers.
        const ElementDef* want = n.staticDef;
        for (const Node* c : node->children)
          if (c->def == want) addChecked(out, Item::node(c), n, st);
        continue;
      }
      for (const Node* c : node->children) {
        const ElementDef* d = c->def;
        if (d->name.size() == name.size()) {
          if (d->name[0] == first && d->name == name) addChecked(out, Item::node(c), n, st);
        } else if (d->isChoice && name.size() > d->name.size() && name.compare(0, d->name.size(), d->name) == 0) {
          // Lenient: valueQuantity for value[x] (strict compilation rejects it).
          std::string_view rest = std::string_view(name).substr(d->name.size());
          const std::string& tn = c->type->name;
          if (rest.size() == tn.size() && (rest[0] == tn[0] || rest[0] == tn[0] - 'a' + 'A') &&
              rest.substr(1) == std::string_view(tn).substr(1))
            addChecked(out, Item::node(c), n, st);
        }
      }
    } else if (it.kind() == ItemKind::TypeSpec) {
      if (name == "name") out.push_back(Item::string(it.typeSpec().name));
      else if (name == "namespace") out.push_back(Item::string(it.typeSpec().ns));
    }
  }
}

bool startsUpper(const std::string& s) { return !s.empty() && s[0] >= 'A' && s[0] <= 'Z'; }

void arithmetic(const Ast& n, const Frame& f, EvalState& st, Coll& out) {
  Coll l = st.coll(), rc = st.coll();
  eval(*n.args[0], f, st, l);
  eval(*n.args[1], f, st, rc);
  if (n.op == Op::Concat) {
    if (l.size() > 1 || rc.size() > 1) st.fail(n, "'&' needs single items");
    std::string s;
    if (!l.empty()) {
      auto a = singletonString(l, n, st);
      if (a) s += *a;
    }
    if (!rc.empty()) {
      auto b = singletonString(rc, n, st);
      if (b) s += *b;
    }
    out.push_back(st.str(std::move(s)));
    return;
  }
  const Item* a0 = single(l, n, st, "an arithmetic operator");
  const Item* b0 = single(rc, n, st, "an arithmetic operator");
  if (!a0 || !b0) return;
  Item a, b;
  if (!toSystem(*a0, st, a) || !toSystem(*b0, st, b)) return;
  ItemKind ka = a.kind(), kb = b.kind();
  auto opName = [&]() -> std::string {
    switch (n.op) {
      case Op::Add: return "+";
      case Op::Sub: return "-";
      case Op::Mul: return "*";
      case Op::Div: return "/";
      case Op::IntDiv: return "div";
      case Op::Mod: return "mod";
      default: return "?";
    }
  };
  auto bad = [&]() {
    st.fail(n, "operator '" + opName() + "' cannot be applied to " + a0->typeName() + " and " + b0->typeName());
  };
  if (ka == ItemKind::String && kb == ItemKind::String) {
    if (n.op != Op::Add) bad();
    std::string s(a.string());
    s += b.string();
    out.push_back(st.str(std::move(s)));
    return;
  }
  if (ka == ItemKind::Integer && kb == ItemKind::Integer && n.op != Op::Div) {
    // FHIRPath integers are 32-bit; a result outside that range is empty (N1 6.6).
    int64_t x = a.integer(), y = b.integer(), r64 = 0;
    switch (n.op) {
      case Op::Add: if (__builtin_add_overflow(x, y, &r64)) return; break;
      case Op::Sub: if (__builtin_sub_overflow(x, y, &r64)) return; break;
      case Op::Mul: if (__builtin_mul_overflow(x, y, &r64)) return; break;
      case Op::IntDiv:
        if (y == 0 || (x == INT64_MIN && y == -1)) return;
        r64 = x / y;
        break;
      case Op::Mod:
        if (y == 0 || (x == INT64_MIN && y == -1)) return;
        r64 = x % y;
        break;
      default: bad();
    }
    if (r64 > INT32_MAX || r64 < INT32_MIN) return;
    out.push_back(Item::integer(r64));
    return;
  }
  if (isNumeric(ka) && isNumeric(kb)) {
    Decimal x = asDecimal(a), y = asDecimal(b);
    std::optional<Decimal> r;
    switch (n.op) {
      case Op::Add: r = x.add(y); break;
      case Op::Sub: r = x.sub(y); break;
      case Op::Mul: r = x.mul(y); break;
      case Op::Div: r = x.div(y); break;
      case Op::IntDiv: {
        r = x.intDiv(y);
        if (r) {
          auto i = r->toInt64();
          if (i) {
            out.push_back(Item::integer(*i));
            return;
          }
        }
        break;
      }
      case Op::Mod: r = x.mod(y); break;
      default: bad();
    }
    if (r) out.push_back(st.dec(*r));
    return;
  }
  if (isTemporal(ka) && kb == ItemKind::Quantity && (n.op == Op::Add || n.op == Op::Sub)) {
    auto r = Temporal::add(a.temporal(), b.quantity(), n.op == Op::Sub);
    if (!r) st.fail(n, "cannot " + std::string(n.op == Op::Add ? "add " : "subtract ") + b.quantity().toString() +
                           (n.op == Op::Add ? " to " : " from ") + "a " + a0->typeName());
    out.push_back(st.tmp(*r));
    return;
  }
  if (ka == ItemKind::Quantity || kb == ItemKind::Quantity) {
    Quantity x = ka == ItemKind::Quantity ? a.quantity() : Quantity(isNumeric(ka) ? asDecimal(a) : Decimal(), "1");
    Quantity y = kb == ItemKind::Quantity ? b.quantity() : Quantity(isNumeric(kb) ? asDecimal(b) : Decimal(), "1");
    if ((ka != ItemKind::Quantity && !isNumeric(ka)) || (kb != ItemKind::Quantity && !isNumeric(kb))) bad();
    std::optional<Quantity> r;
    switch (n.op) {
      case Op::Add: r = Quantity::add(x, y, false); break;
      case Op::Sub: r = Quantity::add(x, y, true); break;
      case Op::Mul: r = Quantity::mul(x, y); break;
      case Op::Div: r = Quantity::div(x, y); break;
      default: bad();
    }
    if (r) out.push_back(st.qty(std::move(*r)));
    return;
  }
  bad();
}

void compareOp(const Ast& n, const Frame& f, EvalState& st, Coll& out) {
  Coll l = st.coll(), r = st.coll();
  eval(*n.args[0], f, st, l);
  eval(*n.args[1], f, st, r);
  const Item* a = single(l, n, st, "a comparison");
  const Item* b = single(r, n, st, "a comparison");
  if (!a || !b) return;
  auto c = itemCompare(*a, *b, n, st);
  if (!c) return;
  bool v = false;
  switch (n.op) {
    case Op::Lt: v = *c < 0; break;
    case Op::Gt: v = *c > 0; break;
    case Op::Le: v = *c <= 0; break;
    case Op::Ge: v = *c >= 0; break;
    default: break;
  }
  out.push_back(Item::boolean(v));
}

std::optional<bool> collectionsEqual(const Coll& l, const Coll& r, EvalState& st) {
  if (l.empty() || r.empty()) return std::nullopt;
  if (l.size() != r.size()) return false;
  bool unknown = false;
  for (size_t i = 0; i < l.size(); ++i) {
    auto e = itemEquals(l[i], r[i], st);
    if (!e) unknown = true;
    else if (!*e) return false;
  }
  if (unknown) return std::nullopt;
  return true;
}

bool collectionsEquivalent(const Coll& l, const Coll& r, EvalState& st) {
  if (l.size() != r.size()) return false;
  std::vector<bool> used(r.size(), false);
  for (const Item& a : l) {
    bool found = false;
    for (size_t j = 0; j < r.size(); ++j) {
      if (!used[j] && itemEquivalent(a, r[j], st)) {
        used[j] = true;
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

}  // namespace

bool containsItem(const Coll& c, const Item& item, EvalState& st) {
  for (const Item& x : c) {
    if (x.isNode() && item.isNode() && x.node() == item.node()) return true;
    auto e = itemEquals(x, item, st);
    if (e && *e) return true;
  }
  return false;
}

void evalInput(const Ast& call, const Frame& f, EvalState& st, Coll& out) {
  if (call.args[0]) eval(*call.args[0], f, st, out);
  else out.insert(out.end(), f.focus->begin(), f.focus->end());
}

void evalArg(const Ast& call, size_t i, const Frame& f, EvalState& st, Coll& out) {
  eval(*call.args[i], f, st, out);
}

void evalLambda(const Ast& call, size_t i, const Item& item, int64_t index, const Frame& f, EvalState& st,
                Coll& out) {
  Coll focus(st.mr);
  focus.push_back(item);
  Frame inner;
  inner.focus = &focus;
  inner.thisItem = item;
  inner.hasThis = true;
  inner.index = index;
  inner.total = f.total;
  eval(*call.args[i], inner, st, out);
}

void eval(const Ast& n, const Frame& f, EvalState& st, Coll& out) {
  switch (n.op) {
    case Op::Empty:
      return;
    case Op::Literal:
      out.push_back(n.literal);
      return;
    case Op::This:
      if (f.hasThis) out.push_back(f.thisItem);
      else out.insert(out.end(), f.focus->begin(), f.focus->end());
      return;
    case Op::Index:
      out.push_back(Item::integer(f.index));
      return;
    case Op::Total:
      if (f.total) out.insert(out.end(), f.total->begin(), f.total->end());
      return;
    case Op::Variable: {
      auto it = st.env.variables.find(n.name);
      if (it != st.env.variables.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
      }
      const std::string& v = n.name;
      if (v == "resource") {
        const Node* r = st.resource;
        if (r) out.push_back(Item::node(r));
        else out.insert(out.end(), st.contextItems, st.contextItems + st.contextCount);
      } else if (v == "rootResource") {
        const Node* r = st.rootResource;
        if (r) out.push_back(Item::node(r));
        else out.insert(out.end(), st.contextItems, st.contextItems + st.contextCount);
      } else if (v == "context") {
        out.insert(out.end(), st.contextItems, st.contextItems + st.contextCount);
      } else if (v == "ucum") {
        out.push_back(Item::string("http://unitsofmeasure.org"));
      } else if (v == "sct") {
        out.push_back(Item::string("http://snomed.info/sct"));
      } else if (v == "loinc") {
        out.push_back(Item::string("http://loinc.org"));
      } else if (v.starts_with("vs-")) {
        out.push_back(st.str("http://hl7.org/fhir/ValueSet/" + v.substr(3)));
      } else if (v.starts_with("ext-")) {
        out.push_back(st.str("http://hl7.org/fhir/StructureDefinition/" + v.substr(4)));
      } else {
        st.fail(n, "variable '%" + v + "' is not set");
      }
      return;
    }
    case Op::Member: {
      if (!n.args[0]) {
        if (n.typeHead && startsUpper(n.name)) {
          // A type name at the head of a path filters the focus: Patient.name.
          const TypeInfo* t = st.expr.registry().type(n.name);
          if (t) {
            TypeRef ref;
            ref.fhir = t;
            for (const Item& it : *f.focus)
              if (itemIs(it, ref, false)) out.push_back(it);
            return;
          }
        }
        member(n, *f.focus, st, out);
        return;
      }
      Coll input = st.coll();
      eval(*n.args[0], f, st, input);
      member(n, input, st, out);
      return;
    }
    case Op::Function: {
      DepthGuard g(st, n);
      Coll input = st.coll();
      evalInput(n, f, st, input);
      if (n.fn->singletonInput && input.size() > 1)
        st.fail(n, "function '" + n.name + "' needs a single input item but the collection has " +
                       std::to_string(input.size()) + " items");
      n.fn->impl(n, input, f, st, out);
      return;
    }
    case Op::Indexer: {
      Coll input = st.coll(), idx = st.coll();
      eval(*n.args[0], f, st, input);
      eval(*n.args[1], f, st, idx);
      auto i = singletonInteger(idx, n, st);
      if (i && *i >= 0 && static_cast<size_t>(*i) < input.size()) out.push_back(input[static_cast<size_t>(*i)]);
      return;
    }
    case Op::Negate:
    case Op::Plus: {
      Coll v = st.coll();
      eval(*n.args[0], f, st, v);
      const Item* x0 = single(v, n, st, "a sign");
      if (!x0) return;
      Item x;
      if (!toSystem(*x0, st, x)) return;
      bool neg = n.op == Op::Negate;
      switch (x.kind()) {
        case ItemKind::Integer:
          if (neg && -x.integer() > INT32_MAX) return;  // -(-2^31) overflows: empty
          out.push_back(Item::integer(neg ? -x.integer() : x.integer()));
          return;
        case ItemKind::Decimal:
          out.push_back(neg ? st.dec(x.decimal().negate()) : x);
          return;
        case ItemKind::Quantity:
          out.push_back(neg ? st.qty(Quantity(x.quantity().value().negate(), x.quantity().unit())) : x);
          return;
        default:
          st.fail(n, std::string("'") + (neg ? "-" : "+") + "' cannot be applied to " + x0->typeName());
      }
    }
    case Op::Mul:
    case Op::Div:
    case Op::IntDiv:
    case Op::Mod:
    case Op::Add:
    case Op::Sub:
    case Op::Concat:
      arithmetic(n, f, st, out);
      return;
    case Op::Is:
    case Op::As: {
      Coll v = st.coll();
      eval(*n.args[0], f, st, v);
      if (n.op == Op::As) {
        // Search parameters apply 'as' to repeating elements ((useContext.value as
        // CodeableConcept)): on several items it keeps those of the type, like ofType().
        for (const Item& x : v)
          if (itemIs(x, n.type, true)) out.push_back(x);
        return;
      }
      const Item* x = single(v, n, st, "'is'");
      if (x) out.push_back(Item::boolean(itemIs(*x, n.type, false)));
      return;
    }
    case Op::Union: {
      Coll l = st.coll(), r = st.coll();
      eval(*n.args[0], f, st, l);
      eval(*n.args[1], f, st, r);
      size_t start = out.size();
      Coll merged = st.coll();
      for (const Item& x : l)
        if (!containsItem(merged, x, st)) merged.push_back(x);
      for (const Item& x : r)
        if (!containsItem(merged, x, st)) merged.push_back(x);
      (void)start;
      out.insert(out.end(), merged.begin(), merged.end());
      return;
    }
    case Op::Lt:
    case Op::Gt:
    case Op::Le:
    case Op::Ge:
      compareOp(n, f, st, out);
      return;
    case Op::Eq:
    case Op::Ne: {
      Coll l = st.coll(), r = st.coll();
      eval(*n.args[0], f, st, l);
      eval(*n.args[1], f, st, r);
      auto e = collectionsEqual(l, r, st);
      if (e) out.push_back(Item::boolean(n.op == Op::Eq ? *e : !*e));
      return;
    }
    case Op::Equiv:
    case Op::NotEquiv: {
      Coll l = st.coll(), r = st.coll();
      eval(*n.args[0], f, st, l);
      eval(*n.args[1], f, st, r);
      bool e = collectionsEquivalent(l, r, st);
      out.push_back(Item::boolean(n.op == Op::Equiv ? e : !e));
      return;
    }
    case Op::In:
    case Op::Contains: {
      Coll l = st.coll(), r = st.coll();
      eval(*n.args[0], f, st, l);
      eval(*n.args[1], f, st, r);
      const Coll& element = n.op == Op::In ? l : r;
      const Coll& container = n.op == Op::In ? r : l;
      const Item* x = single(element, n, st, n.op == Op::In ? "'in'" : "'contains'");
      if (!x) return;
      out.push_back(Item::boolean(containsItem(container, *x, st)));
      return;
    }
    case Op::And:
    case Op::Or:
    case Op::Xor:
    case Op::Implies: {
      Coll l = st.coll();
      eval(*n.args[0], f, st, l);
      auto a = singletonBoolean(l, n, st);
      if (n.op == Op::And && a && !*a) {
        out.push_back(Item::boolean(false));
        return;
      }
      if (n.op == Op::Or && a && *a) {
        out.push_back(Item::boolean(true));
        return;
      }
      if (n.op == Op::Implies && a && !*a) {
        out.push_back(Item::boolean(true));
        return;
      }
      Coll r = st.coll();
      eval(*n.args[1], f, st, r);
      auto b = singletonBoolean(r, n, st);
      switch (n.op) {
        case Op::And:
          if (b && !*b) out.push_back(Item::boolean(false));
          else if (a && b) out.push_back(Item::boolean(true));
          return;
        case Op::Or:
          if (b && *b) out.push_back(Item::boolean(true));
          else if (a && b) out.push_back(Item::boolean(false));
          return;
        case Op::Xor:
          if (a && b) out.push_back(Item::boolean(*a != *b));
          return;
        default:  // implies, a is true or empty
          if (b && *b) out.push_back(Item::boolean(true));
          else if (a && b) out.push_back(Item::boolean(false));
          return;
      }
    }
  }
}

}  // namespace detail

// ---------------------------------------------------------------------------------
// Entry points

namespace {

// Runs an expression: the common core of evaluate() and Evaluator.
void runCore(const Expression& expr, const Item* input, size_t n, const Environment& env,
             std::pmr::memory_resource* mr, std::shared_ptr<detail::EvalState::Owned>& owned, Collection& items,
             std::string& error) {
  detail::EvalState st{expr, env, mr, input, n, nullptr, nullptr, std::move(owned), 0, 0, Temporal{}, false};
  st.resource = env.resource;
  if (!st.resource && n == 1 && input[0].isNode() && input[0].node()->isResource()) st.resource = input[0].node();
  st.rootResource = env.rootResource ? env.rootResource : st.resource;
  detail::Coll focus(input, input + n, mr);
  detail::Frame f;
  f.focus = &focus;
  if (n == 1) {
    f.thisItem = input[0];
    f.hasThis = true;
  }
  detail::Coll out(mr);
  out.reserve(8);
  try {
    detail::eval(*expr.impl().root, f, st, out);
    items.assign(out.begin(), out.end());
  } catch (const detail::EvalError& e) {
    error = e.message;
  } catch (const std::bad_alloc&) {
    error = "out of memory";
  }
  owned = std::move(st.owned);
}

struct ArenaBlock {
  alignas(16) std::byte buf[1536];
  std::pmr::monotonic_buffer_resource mr{buf, sizeof buf};
};

}  // namespace

Result evaluate(const Expression& expr, const Collection& input, const Environment& env) {
  Result res;
  auto block = std::make_shared<ArenaBlock>();
  res.arena = std::shared_ptr<std::pmr::monotonic_buffer_resource>(block, &block->mr);
  std::shared_ptr<detail::EvalState::Owned> owned;
  runCore(expr, input.data(), input.size(), env, &block->mr, owned, res.items, res.error);
  res.owned = std::move(owned);
  return res;
}

Result evaluate(const Expression& expr, const Node* focus, const Environment& env) {
  Result res;
  auto block = std::make_shared<ArenaBlock>();
  res.arena = std::shared_ptr<std::pmr::monotonic_buffer_resource>(block, &block->mr);
  std::shared_ptr<detail::EvalState::Owned> owned;
  Item in = Item::node(focus);
  runCore(expr, &in, focus ? 1 : 0, env, &block->mr, owned, res.items, res.error);
  res.owned = std::move(owned);
  return res;
}

struct Evaluator::State {
  alignas(16) std::byte buf[8192];
  std::pmr::monotonic_buffer_resource mr{buf, sizeof buf};
  std::shared_ptr<detail::EvalState::Owned> owned;
  Collection items;
  std::string error;
};

Evaluator::Evaluator() : s_(std::make_unique<State>()) {}
Evaluator::~Evaluator() = default;

bool Evaluator::run(const Expression& expr, const Node* focus, const Environment& env) {
  s_->mr.release();
  s_->items.clear();
  s_->error.clear();
  if (s_->owned) {
    s_->owned->strings.clear();
    s_->owned->quantities.clear();
  }
  Item in = Item::node(focus);
  runCore(expr, &in, focus ? 1 : 0, env, &s_->mr, s_->owned, s_->items, s_->error);
  return s_->error.empty();
}

const Collection& Evaluator::items() const { return s_->items; }
const std::string& Evaluator::error() const { return s_->error; }

BoolResult evaluateBoolean(const Expression& expr, const Node* focus, const Environment& env) {
  thread_local Evaluator evaluator;
  BoolResult b;
  if (!evaluator.run(expr, focus, env)) {
    b.error = evaluator.error();
    return b;
  }
  const Collection& items = evaluator.items();
  if (items.empty()) return b;
  if (items.size() > 1) {
    b.error = "the result has " + std::to_string(items.size()) + " items, not one boolean";
    return b;
  }
  const Item& i = items[0];
  if (i.kind() == ItemKind::Boolean) b.value = i.boolean();
  else if (i.isNode() && i.node()->type->name == "boolean" && i.node()->hasValue) b.value = i.node()->value == "true";
  else b.error = "the result is a " + i.typeName() + ", not a boolean";
  return b;
}

}  // namespace hoa::fhir::fhirpath
