// The FHIRPath function library.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "fhir/fhirpath_internal.h"
#include "fhir/json.h"

namespace hoa::fhir::fhirpath::detail {

bool containsItem(const Coll& c, const Item& item, EvalState& st);

namespace {

#define FN(name) void fn_##name(const Ast& call, const Coll& in, const Frame& f, EvalState& st, Coll& out)
#define UNUSED_ARGS (void)call, (void)in, (void)f, (void)st, (void)out

Coll arg(const Ast& call, size_t i, const Frame& f, EvalState& st) {
  Coll c = st.coll();
  evalArg(call, i, f, st, c);
  return c;
}

Item boolItem(bool b) { return Item::boolean(b); }

// ---------------------------------------------------------------------------------
// Existence

FN(empty) { UNUSED_ARGS; out.push_back(boolItem(in.empty())); }

FN(exists) {
  if (call.args.size() < 2) {
    out.push_back(boolItem(!in.empty()));
    return;
  }
  for (size_t i = 0; i < in.size(); ++i) {
    Coll r = st.coll();
    evalLambda(call, 1, in[i], static_cast<int64_t>(i), f, st, r);
    auto b = singletonBoolean(r, call, st);
    if (b && *b) {
      out.push_back(boolItem(true));
      return;
    }
  }
  out.push_back(boolItem(false));
}

FN(all) {
  for (size_t i = 0; i < in.size(); ++i) {
    Coll r = st.coll();
    evalLambda(call, 1, in[i], static_cast<int64_t>(i), f, st, r);
    auto b = singletonBoolean(r, call, st);
    if (!b || !*b) {
      out.push_back(boolItem(false));
      return;
    }
  }
  out.push_back(boolItem(true));
}

bool boolOf(const Item& it, const Ast& call, EvalState& st) {
  Item v;
  if (!toSystem(it, st, v) || v.kind() != ItemKind::Boolean)
    st.fail(call, "function '" + call.name + "' needs booleans, not " + it.typeName());
  return v.boolean();
}

FN(allTrue) {
  (void)f;
  for (const Item& it : in)
    if (!boolOf(it, call, st)) return out.push_back(boolItem(false));
  out.push_back(boolItem(true));
}
FN(anyTrue) {
  (void)f;
  for (const Item& it : in)
    if (boolOf(it, call, st)) return out.push_back(boolItem(true));
  out.push_back(boolItem(false));
}
FN(allFalse) {
  (void)f;
  for (const Item& it : in)
    if (boolOf(it, call, st)) return out.push_back(boolItem(false));
  out.push_back(boolItem(true));
}
FN(anyFalse) {
  (void)f;
  for (const Item& it : in)
    if (!boolOf(it, call, st)) return out.push_back(boolItem(true));
  out.push_back(boolItem(false));
}

FN(subsetOf) {
  Coll other = arg(call, 1, f, st);
  for (const Item& it : in)
    if (!containsItem(other, it, st)) return out.push_back(boolItem(false));
  out.push_back(boolItem(true));
}
FN(supersetOf) {
  Coll other = arg(call, 1, f, st);
  for (const Item& it : other)
    if (!containsItem(in, it, st)) return out.push_back(boolItem(false));
  out.push_back(boolItem(true));
}

FN(count) { UNUSED_ARGS; out.push_back(Item::integer(static_cast<int64_t>(in.size()))); }

void distinctInto(const Coll& in, EvalState& st, Coll& out) {
  size_t start = out.size();
  for (const Item& it : in) {
    bool dup = false;
    for (size_t j = start; j < out.size() && !dup; ++j) {
      if (out[j].isNode() && it.isNode()) {
        if (out[j].node() == it.node()) dup = true;
        else {
          auto e = itemEquals(out[j], it, st);
          dup = e && *e;
        }
      } else {
        auto e = itemEquals(out[j], it, st);
        dup = e && *e;
      }
    }
    if (!dup) out.push_back(it);
  }
}

FN(distinct) { UNUSED_ARGS; distinctInto(in, st, out); }
FN(isDistinct) {
  UNUSED_ARGS;
  Coll d = st.coll();
  distinctInto(in, st, d);
  out.push_back(boolItem(d.size() == in.size()));
}

// ---------------------------------------------------------------------------------
// Filtering and projection

FN(where) {
  for (size_t i = 0; i < in.size(); ++i) {
    Coll r = st.coll();
    evalLambda(call, 1, in[i], static_cast<int64_t>(i), f, st, r);
    auto b = singletonBoolean(r, call, st);
    if (b && *b) addChecked(out, in[i], call, st);
  }
}

FN(select) {
  for (size_t i = 0; i < in.size(); ++i) evalLambda(call, 1, in[i], static_cast<int64_t>(i), f, st, out);
  if (out.size() > st.env.maxItems) st.fail(call, "select() exceeds the item limit");
}

FN(repeat) {
  Coll current(in.begin(), in.end(), st.mr);
  size_t start = out.size();
  unsigned rounds = 0;
  while (!current.empty()) {
    if (++rounds > 10000) st.fail(call, "repeat() does not terminate");
    Coll next = st.coll();
    for (size_t i = 0; i < current.size(); ++i) {
      Coll r = st.coll();
      evalLambda(call, 1, current[i], static_cast<int64_t>(i), f, st, r);
      for (const Item& it : r) {
        // New items as the equals operator decides (N1 5.2.3), nodes by identity first.
        bool seen = false;
        for (size_t j = start; j < out.size() && !seen; ++j) {
          if (out[j].isNode() && it.isNode() && out[j].node() == it.node()) {
            seen = true;
          } else {
            auto e = itemEquals(out[j], it, st);
            seen = e && *e;
          }
        }
        if (!seen) {
          addChecked(out, it, call, st);
          next.push_back(it);
        }
      }
    }
    current.swap(next);
  }
}

FN(ofType) {
  (void)f, (void)st;
  for (const Item& it : in)
    if (itemIs(it, call.type, true)) out.push_back(it);
}

// ---------------------------------------------------------------------------------
// Subsetting

FN(single) {
  (void)f;
  if (in.size() > 1) st.fail(call, "single() on a collection of " + std::to_string(in.size()) + " items");
  if (!in.empty()) out.push_back(in[0]);
}
FN(first) { UNUSED_ARGS; if (!in.empty()) out.push_back(in.front()); }
FN(last) { UNUSED_ARGS; if (!in.empty()) out.push_back(in.back()); }
FN(tail) { UNUSED_ARGS; if (in.size() > 1) out.insert(out.end(), in.begin() + 1, in.end()); }
FN(skip) {
  auto n = singletonInteger(arg(call, 1, f, st), call, st);
  if (!n) return;
  if (*n <= 0) out.insert(out.end(), in.begin(), in.end());
  else if (static_cast<size_t>(*n) < in.size()) out.insert(out.end(), in.begin() + *n, in.end());
}
FN(take) {
  auto n = singletonInteger(arg(call, 1, f, st), call, st);
  if (!n || *n <= 0) return;
  size_t k = std::min(in.size(), static_cast<size_t>(*n));
  out.insert(out.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(k));
}
FN(intersect) {
  Coll other = arg(call, 1, f, st);
  Coll res = st.coll();
  for (const Item& it : in)
    if (containsItem(other, it, st) && !containsItem(res, it, st)) res.push_back(it);
  out.insert(out.end(), res.begin(), res.end());
}
FN(exclude) {
  Coll other = arg(call, 1, f, st);
  for (const Item& it : in)
    if (!containsItem(other, it, st)) out.push_back(it);
}

// ---------------------------------------------------------------------------------
// Combining

FN(union) {
  Coll other = arg(call, 1, f, st);
  Coll all(in.begin(), in.end(), st.mr);
  all.insert(all.end(), other.begin(), other.end());
  distinctInto(all, st, out);
}
FN(combine) {
  Coll other = arg(call, 1, f, st);
  out.insert(out.end(), in.begin(), in.end());
  out.insert(out.end(), other.begin(), other.end());
}

// ---------------------------------------------------------------------------------
// Conversion

FN(iif) {
  if (in.size() > 1) st.fail(call, "iif() needs at most one input item");
  Frame inner = f;
  Coll focus(in.begin(), in.end(), st.mr);
  if (call.args[0]) {
    inner.focus = &focus;
    if (!in.empty()) {
      inner.thisItem = in[0];
      inner.hasThis = true;
    }
  }
  Coll c = st.coll();
  eval(*call.args[1], inner, st, c);
  if (c.size() > 1) st.fail(call, "iif() criterion must be a single boolean");
  auto b = singletonBoolean(c, call, st);
  if (b && *b) eval(*call.args[2], inner, st, out);
  else if (call.args.size() > 3) eval(*call.args[3], inner, st, out);
}

std::string lowerAscii(std::string_view s) {
  std::string r(s);
  for (char& c : r)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return r;
}

std::optional<bool> convertBoolean(const Item& v) {
  switch (v.kind()) {
    case ItemKind::Boolean: return v.boolean();
    case ItemKind::Integer:
      if (v.integer() == 1) return true;
      if (v.integer() == 0) return false;
      return std::nullopt;
    case ItemKind::Decimal:
      if (v.decimal().compare(Decimal::fromInt(1)) == 0) return true;
      if (v.decimal().isZero()) return false;
      return std::nullopt;
    case ItemKind::String: {
      std::string s = lowerAscii(v.string());
      if (s == "true" || s == "t" || s == "yes" || s == "y" || s == "1" || s == "1.0") return true;
      if (s == "false" || s == "f" || s == "no" || s == "n" || s == "0" || s == "0.0") return false;
      return std::nullopt;
    }
    default: return std::nullopt;
  }
}

bool integerText(std::string_view s, int64_t& v) {
  size_t i = 0;
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    i = 1;
  }
  if (i >= s.size()) return false;
  int64_t r = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    r = r * 10 + (s[i] - '0');
    if (r > 2147483648LL) return false;
  }
  r = neg ? -r : r;
  if (r > 2147483647LL || r < -2147483648LL) return false;
  v = r;
  return true;
}

std::optional<int64_t> convertInteger(const Item& v) {
  switch (v.kind()) {
    case ItemKind::Integer: return v.integer();
    case ItemKind::Boolean: return v.boolean() ? 1 : 0;
    case ItemKind::String: {
      int64_t r;
      if (integerText(v.string(), r)) return r;
      return std::nullopt;
    }
    default: return std::nullopt;
  }
}

bool decimalText(std::string_view s) {
  size_t i = 0;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) i = 1;
  size_t d = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  if (i == d) return false;
  if (i < s.size() && s[i] == '.') {
    size_t f0 = ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == f0) return false;
  }
  return i == s.size();
}

std::optional<Decimal> convertDecimal(const Item& v) {
  switch (v.kind()) {
    case ItemKind::Decimal: return v.decimal();
    case ItemKind::Integer: return Decimal::fromInt(v.integer());
    case ItemKind::Boolean: return Decimal(v.boolean() ? 10 : 0, 1);
    case ItemKind::String: {
      std::string_view s = v.string();
      if (!decimalText(s)) return std::nullopt;
      if (s[0] == '+') s.remove_prefix(1);
      return Decimal::parse(s);
    }
    default: return std::nullopt;
  }
}

std::optional<Temporal> convertTemporal(const Item& v, TemporalKind kind) {
  if (v.kind() == ItemKind::String) {
    auto t = Temporal::parseFhir(v.string(), kind);
    if (t && t->kind != kind) return std::nullopt;
    return t;
  }
  if (v.kind() == ItemKind::Date || v.kind() == ItemKind::DateTime || v.kind() == ItemKind::Time) {
    Temporal t = v.temporal();
    if (t.kind == kind) return t;
    if (kind == TemporalKind::DateTime && t.kind == TemporalKind::Date) {
      t.kind = TemporalKind::DateTime;
      return t;
    }
    if (kind == TemporalKind::Date && t.kind == TemporalKind::DateTime) {
      t.kind = TemporalKind::Date;
      if (t.precision > Precision::Day) t.precision = Precision::Day;
      t.tzMinutes.reset();
      t.hour = t.minute = t.second = t.millisecond = 0;
      t.fractionDigits = 0;
      return t;
    }
  }
  return std::nullopt;
}

std::optional<Quantity> convertQuantity(const Item& v) {
  switch (v.kind()) {
    case ItemKind::Quantity: return v.quantity();
    case ItemKind::Integer: return Quantity(Decimal::fromInt(v.integer()), "1");
    case ItemKind::Decimal: return Quantity(v.decimal(), "1");
    case ItemKind::Boolean: return Quantity(Decimal(v.boolean() ? 10 : 0, 1), "1");
    case ItemKind::String: return Quantity::parse(v.string());
    default: return std::nullopt;
  }
}

// Runs `convert` on the single input item (already System-converted); `emit` receives
// the result.
template <class Conv, class Emit>
void convertOne(const Coll& in, EvalState& st, Conv convert, Emit emit) {
  if (in.empty()) return;
  Item v;
  if (!toSystem(in[0], st, v)) return;
  auto r = convert(v);
  if (r) emit(*r);
}

FN(toBoolean) { UNUSED_ARGS; convertOne(in, st, convertBoolean, [&](bool b) { out.push_back(boolItem(b)); }); }
FN(convertsToBoolean) {
  UNUSED_ARGS;
  if (in.empty()) return;
  Item v;
  out.push_back(boolItem(toSystem(in[0], st, v) && convertBoolean(v).has_value()));
}
FN(toInteger) { UNUSED_ARGS; convertOne(in, st, convertInteger, [&](int64_t i) { out.push_back(Item::integer(i)); }); }
FN(convertsToInteger) {
  UNUSED_ARGS;
  if (in.empty()) return;
  Item v;
  out.push_back(boolItem(toSystem(in[0], st, v) && convertInteger(v).has_value()));
}
FN(toDecimal) { UNUSED_ARGS; convertOne(in, st, convertDecimal, [&](const Decimal& d) { out.push_back(st.dec(d)); }); }
FN(convertsToDecimal) {
  UNUSED_ARGS;
  if (in.empty()) return;
  Item v;
  out.push_back(boolItem(toSystem(in[0], st, v) && convertDecimal(v).has_value()));
}
FN(toString) {
  UNUSED_ARGS;
  if (in.empty()) return;
  auto s = itemString(in[0], st);
  if (s) out.push_back(st.str(std::move(*s)));
}
FN(convertsToString) {
  UNUSED_ARGS;
  if (in.empty()) return;
  out.push_back(boolItem(itemString(in[0], st).has_value()));
}

template <TemporalKind K>
void toTemporalFn(const Coll& in, EvalState& st, Coll& out) {
  convertOne(in, st, [](const Item& v) { return convertTemporal(v, K); },
             [&](const Temporal& t) { out.push_back(st.tmp(t)); });
}
template <TemporalKind K>
void convertsToTemporalFn(const Coll& in, EvalState& st, Coll& out) {
  if (in.empty()) return;
  Item v;
  out.push_back(boolItem(toSystem(in[0], st, v) && convertTemporal(v, K).has_value()));
}
FN(toDate) { UNUSED_ARGS; toTemporalFn<TemporalKind::Date>(in, st, out); }
FN(toDateTime) { UNUSED_ARGS; toTemporalFn<TemporalKind::DateTime>(in, st, out); }
FN(toTime) { UNUSED_ARGS; toTemporalFn<TemporalKind::Time>(in, st, out); }
FN(convertsToDate) { UNUSED_ARGS; convertsToTemporalFn<TemporalKind::Date>(in, st, out); }
FN(convertsToDateTime) { UNUSED_ARGS; convertsToTemporalFn<TemporalKind::DateTime>(in, st, out); }
FN(convertsToTime) { UNUSED_ARGS; convertsToTemporalFn<TemporalKind::Time>(in, st, out); }

std::optional<Quantity> quantityWithUnit(const Ast& call, const Coll& in, const Frame& f, EvalState& st, bool& had) {
  had = false;
  if (in.empty()) return std::nullopt;
  had = true;
  Item v;
  if (!toSystem(in[0], st, v)) return std::nullopt;
  auto q = convertQuantity(v);
  if (!q) return std::nullopt;
  if (call.args.size() > 1) {
    auto unit = singletonString(arg(call, 1, f, st), call, st);
    if (!unit) return std::nullopt;
    if (q->unit() == *unit) return q;
    auto d = ucum::convert(q->value(), q->unit(), *unit);
    if (!d) return std::nullopt;
    return Quantity(*d, std::string(*unit));
  }
  return q;
}
FN(toQuantity) {
  bool had;
  auto q = quantityWithUnit(call, in, f, st, had);
  if (q) out.push_back(st.qty(std::move(*q)));
}
FN(convertsToQuantity) {
  bool had;
  auto q = quantityWithUnit(call, in, f, st, had);
  if (had) out.push_back(boolItem(q.has_value()));
}

// ---------------------------------------------------------------------------------
// Strings (positions and lengths count Unicode code points)

std::u32string decode(std::string_view s) {
  std::u32string r;
  r.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    char32_t cp;
    int n;
    if (c < 0x80) { cp = c; n = 1; }
    else if ((c >> 5) == 6) { cp = c & 0x1F; n = 2; }
    else if ((c >> 4) == 14) { cp = c & 0x0F; n = 3; }
    else if ((c >> 3) == 30) { cp = c & 0x07; n = 4; }
    else { cp = 0xFFFD; n = 1; }
    for (int k = 1; k < n; ++k) {
      if (i + static_cast<size_t>(k) >= s.size()) { n = k; break; }
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + static_cast<size_t>(k)]) & 0x3F);
    }
    r.push_back(cp);
    i += static_cast<size_t>(n);
  }
  return r;
}

std::string encode(std::u32string_view s) {
  std::string r;
  r.reserve(s.size());
  for (char32_t cp : s) json::appendUtf8(r, static_cast<uint32_t>(cp));
  return r;
}

bool ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

// The input string; nullopt when the input is empty. Error when not a string.
std::optional<std::string_view> inputString(const Ast& call, const Coll& in, EvalState& st) {
  return singletonString(in, call, st);
}

FN(length) {
  (void)f;
  auto s = inputString(call, in, st);
  if (!s) return;
  int64_t n = ascii(*s) ? static_cast<int64_t>(s->size()) : static_cast<int64_t>(decode(*s).size());
  out.push_back(Item::integer(n));
}

FN(indexOf) {
  auto s = inputString(call, in, st);
  auto sub = singletonString(arg(call, 1, f, st), call, st);
  if (!s || !sub) return;
  if (ascii(*s) && ascii(*sub)) {
    size_t p = s->find(*sub);
    out.push_back(Item::integer(p == std::string_view::npos ? -1 : static_cast<int64_t>(p)));
    return;
  }
  std::u32string a = decode(*s), b = decode(*sub);
  size_t p = a.find(b);
  out.push_back(Item::integer(p == std::u32string::npos ? -1 : static_cast<int64_t>(p)));
}

FN(lastIndexOf) {
  auto s = inputString(call, in, st);
  auto sub = singletonString(arg(call, 1, f, st), call, st);
  if (!s || !sub) return;
  std::u32string a = decode(*s), b = decode(*sub);
  size_t p = a.rfind(b);
  out.push_back(Item::integer(p == std::u32string::npos ? -1 : static_cast<int64_t>(p)));
}

FN(substring) {
  auto s = inputString(call, in, st);
  auto start = singletonInteger(arg(call, 1, f, st), call, st);
  if (!s || !start) return;
  std::optional<int64_t> len;
  if (call.args.size() > 2) {
    Coll l = arg(call, 2, f, st);
    if (!l.empty()) len = singletonInteger(l, call, st);
  }
  std::u32string a = decode(*s);
  if (*start < 0 || static_cast<size_t>(*start) >= a.size()) return;
  size_t n = a.size() - static_cast<size_t>(*start);
  if (len) {
    if (*len <= 0) return out.push_back(Item::string(""));
    n = std::min(n, static_cast<size_t>(*len));
  }
  out.push_back(st.str(encode(std::u32string_view(a).substr(static_cast<size_t>(*start), n))));
}

FN(startsWith) {
  auto s = inputString(call, in, st);
  auto p = singletonString(arg(call, 1, f, st), call, st);
  if (!s || !p) return;
  out.push_back(boolItem(s->starts_with(*p)));
}
FN(endsWith) {
  auto s = inputString(call, in, st);
  auto p = singletonString(arg(call, 1, f, st), call, st);
  if (!s || !p) return;
  out.push_back(boolItem(s->ends_with(*p)));
}
FN(contains) {
  auto s = inputString(call, in, st);
  auto p = singletonString(arg(call, 1, f, st), call, st);
  if (!s || !p) return;
  out.push_back(boolItem(s->find(*p) != std::string_view::npos));
}

char32_t caseMap(char32_t c, bool upper) {
  if (upper) {
    if (c >= 'a' && c <= 'z') return c - 32;
    if ((c >= 0xE0 && c <= 0xFE && c != 0xF7)) return c - 32;
    if (c >= 0x100 && c <= 0x17F && (c & 1) && c != 0x131 && c != 0x149 && c != 0x17F) return c - 1;
    if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 32;
    if (c >= 0x430 && c <= 0x44F) return c - 32;
  } else {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if ((c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 32;
    if (c >= 0x100 && c <= 0x17F && !(c & 1) && c != 0x130 && c != 0x138) return c + 1;
    if (c >= 0x391 && c <= 0x3A9) return c + 32;
    if (c >= 0x410 && c <= 0x42F) return c + 32;
  }
  return c;
}

void caseFn(const Ast& call, const Coll& in, EvalState& st, Coll& out, bool upper) {
  auto s = inputString(call, in, st);
  if (!s) return;
  std::u32string a = decode(*s);
  for (char32_t& c : a) c = caseMap(c, upper);
  out.push_back(st.str(encode(a)));
}
FN(upper) { (void)f; caseFn(call, in, st, out, true); }

}  // namespace

std::string lowerUnicode(std::string_view s) {
  if (ascii(s)) return lowerAscii(s);
  std::u32string a = decode(s);
  for (char32_t& c : a) c = caseMap(c, false);
  return encode(a);
}

namespace {

FN(lower) { (void)f; caseFn(call, in, st, out, false); }

FN(replace) {
  auto s = inputString(call, in, st);
  auto pat = singletonString(arg(call, 1, f, st), call, st);
  auto rep = singletonString(arg(call, 2, f, st), call, st);
  if (!s || !pat || !rep) return;
  std::string r;
  if (pat->empty()) {
    std::u32string a = decode(*s);
    r += *rep;
    for (char32_t c : a) {
      r += encode(std::u32string_view(&c, 1));
      r += *rep;
    }
  } else {
    size_t pos = 0;
    for (;;) {
      size_t p = s->find(*pat, pos);
      if (p == std::string_view::npos) break;
      r.append(s->substr(pos, p - pos));
      r.append(*rep);
      pos = p + pat->size();
    }
    r.append(s->substr(pos));
  }
  out.push_back(st.str(std::move(r)));
}

// Matching costs text length × program size steps; past this it is refused.
constexpr size_t kMaxRegexWork = 200'000'000;

// The compiled pattern: the one compiled with the expression for a literal pattern, else
// compiled now.
const regex::Regex& regexFor(const Ast& call, std::string_view pattern, EvalState& st,
                             std::optional<regex::Regex>& holder) {
  if (call.regex) return *call.regex;
  std::string why;
  holder = regex::Regex::compile(pattern, why);
  if (!holder) st.fail(call, "invalid regular expression '" + std::string(pattern) + "': " + why);
  return *holder;
}

void checkRegexWork(const Ast& call, const regex::Regex& re, std::string_view s, EvalState& st) {
  if ((s.size() + 1) * re.programSize() > kMaxRegexWork)
    st.fail(call, "regular expression over a string of " + std::to_string(s.size()) +
                      " bytes exceeds the work limit");
}

void matchFn(const Ast& call, const Coll& in, const Frame& f, EvalState& st, Coll& out, bool full) {
  auto s = inputString(call, in, st);
  auto pat = singletonString(arg(call, 1, f, st), call, st);
  if (!s || !pat) return;
  std::optional<regex::Regex> holder;
  const regex::Regex& re = regexFor(call, *pat, st, holder);
  checkRegexWork(call, re, *s, st);
  out.push_back(boolItem(full ? re.fullMatch(*s) : re.search(*s)));
}
FN(matches) { matchFn(call, in, f, st, out, false); }
FN(matchesFull) { matchFn(call, in, f, st, out, true); }

FN(replaceMatches) {
  auto s = inputString(call, in, st);
  auto pat = singletonString(arg(call, 1, f, st), call, st);
  auto rep = singletonString(arg(call, 2, f, st), call, st);
  if (!s || !pat || !rep) return;
  if (pat->empty()) return out.push_back(Item::string(*s));
  std::optional<regex::Regex> holder;
  const regex::Regex& re = regexFor(call, *pat, st, holder);
  checkRegexWork(call, re, *s, st);
  auto r = re.replaceAll(*s, *rep);
  if (!r) st.fail(call, "replaceMatches() exceeds the work limit");
  out.push_back(st.str(std::move(*r)));
}

FN(toChars) {
  (void)f;
  auto s = inputString(call, in, st);
  if (!s) return;
  for (char32_t c : decode(*s)) out.push_back(st.str(encode(std::u32string_view(&c, 1))));
}

FN(trim) {
  (void)f;
  auto s = inputString(call, in, st);
  if (!s) return;
  std::string_view v = *s;
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!v.empty() && ws(v.front())) v.remove_prefix(1);
  while (!v.empty() && ws(v.back())) v.remove_suffix(1);
  out.push_back(Item::string(v));
}

FN(split) {
  auto s = inputString(call, in, st);
  auto sep = singletonString(arg(call, 1, f, st), call, st);
  if (!s || !sep) return;
  if (sep->empty()) {
    for (char32_t c : decode(*s)) out.push_back(st.str(encode(std::u32string_view(&c, 1))));
    return;
  }
  size_t pos = 0;
  for (;;) {
    size_t p = s->find(*sep, pos);
    if (p == std::string_view::npos) {
      out.push_back(Item::string(s->substr(pos)));
      return;
    }
    out.push_back(Item::string(s->substr(pos, p - pos)));
    pos = p + sep->size();
  }
}

FN(join) {
  std::string sep;
  if (call.args.size() > 1) {
    auto s = singletonString(arg(call, 1, f, st), call, st);
    if (s) sep = *s;
  }
  std::string r;
  bool first = true;
  for (const Item& it : in) {
    Item v;
    if (!toSystem(it, st, v)) continue;
    if (v.kind() != ItemKind::String) st.fail(call, "join() needs strings, not " + it.typeName());
    if (!first) r += sep;
    r += v.string();
    first = false;
  }
  out.push_back(st.str(std::move(r)));
}

const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(std::string_view s, bool url) {
  std::string r;
  size_t i = 0;
  while (i + 2 < s.size() + 2 && i < s.size()) {
    uint32_t v = static_cast<unsigned char>(s[i]) << 16;
    size_t n = std::min<size_t>(3, s.size() - i);
    if (n > 1) v |= static_cast<unsigned char>(s[i + 1]) << 8;
    if (n > 2) v |= static_cast<unsigned char>(s[i + 2]);
    for (size_t k = 0; k < 4; ++k) {
      if (k <= n) {
        char c = kB64[(v >> (18 - 6 * k)) & 0x3F];
        if (url && c == '+') c = '-';
        if (url && c == '/') c = '_';
        r += c;
      } else {
        r += '=';
      }
    }
    i += 3;
  }
  return r;
}

std::optional<std::string> unbase64(std::string_view s, bool url) {
  std::string r;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == (url ? '-' : '+')) v = 62;
    else if (c == (url ? '_' : '/')) v = 63;
    else if (c == '=') break;
    else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    else return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      r += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return r;
}

FN(encode) {
  auto s = inputString(call, in, st);
  auto fmt = singletonString(arg(call, 1, f, st), call, st);
  if (!s || !fmt) return;
  if (*fmt == "base64" || *fmt == "urlbase64") return out.push_back(st.str(base64(*s, *fmt == "urlbase64")));
  if (*fmt == "hex") {
    static const char* hx = "0123456789abcdef";
    std::string r;
    for (char c : *s) {
      r += hx[(static_cast<unsigned char>(c) >> 4) & 0xF];
      r += hx[static_cast<unsigned char>(c) & 0xF];
    }
    return out.push_back(st.str(std::move(r)));
  }
  st.fail(call, "encode() does not know the format '" + std::string(*fmt) + "'");
}

FN(decode) {
  auto s = inputString(call, in, st);
  auto fmt = singletonString(arg(call, 1, f, st), call, st);
  if (!s || !fmt) return;
  if (*fmt == "base64" || *fmt == "urlbase64") {
    auto r = unbase64(*s, *fmt == "urlbase64");
    if (r) out.push_back(st.str(std::move(*r)));
    return;
  }
  if (*fmt == "hex") {
    if (s->size() % 2) return;
    std::string r;
    for (size_t i = 0; i < s->size(); i += 2) {
      auto hv = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
      int a = hv((*s)[i]), b = hv((*s)[i + 1]);
      if (a < 0 || b < 0) return;
      r += static_cast<char>(a * 16 + b);
    }
    return out.push_back(st.str(std::move(r)));
  }
  st.fail(call, "decode() does not know the format '" + std::string(*fmt) + "'");
}

FN(escape) {
  auto s = inputString(call, in, st);
  auto fmt = singletonString(arg(call, 1, f, st), call, st);
  if (!s || !fmt) return;
  std::string r;
  if (*fmt == "html") {
    for (char c : *s) {
      switch (c) {
        case '<': r += "&lt;"; break;
        case '>': r += "&gt;"; break;
        case '&': r += "&amp;"; break;
        case '"': r += "&quot;"; break;
        case '\'': r += "&#39;"; break;
        default: r += c;
      }
    }
  } else if (*fmt == "json") {
    for (char c : *s) {
      switch (c) {
        case '"': r += "\\\""; break;
        case '\\': r += "\\\\"; break;
        case '\n': r += "\\n"; break;
        case '\r': r += "\\r"; break;
        case '\t': r += "\\t"; break;
        default: r += c;
      }
    }
  } else {
    st.fail(call, "escape() does not know the format '" + std::string(*fmt) + "'");
  }
  out.push_back(st.str(std::move(r)));
}

FN(unescape) {
  auto s = inputString(call, in, st);
  auto fmt = singletonString(arg(call, 1, f, st), call, st);
  if (!s || !fmt) return;
  std::string r;
  if (*fmt == "html") {
    static const std::pair<const char*, char> ents[] = {{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&#39;", '\''}, {"&apos;", '\''}};
    for (size_t i = 0; i < s->size();) {
      bool done = false;
      if ((*s)[i] == '&') {
        for (const auto& [e, c] : ents) {
          if (s->substr(i).starts_with(e)) {
            r += c;
            i += std::strlen(e);
            done = true;
            break;
          }
        }
      }
      if (!done) r += (*s)[i++];
    }
  } else if (*fmt == "json") {
    for (size_t i = 0; i < s->size(); ++i) {
      char c = (*s)[i];
      if (c == '\\' && i + 1 < s->size()) {
        char e = (*s)[++i];
        r += e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
      } else {
        r += c;
      }
    }
  } else {
    st.fail(call, "unescape() does not know the format '" + std::string(*fmt) + "'");
  }
  out.push_back(st.str(std::move(r)));
}

// ---------------------------------------------------------------------------------
// Math

// The single numeric input as System value; nullopt when empty.
std::optional<Item> numberInput(const Ast& call, const Coll& in, EvalState& st, bool allowQuantity = false) {
  if (in.empty()) return std::nullopt;
  Item v;
  if (!toSystem(in[0], st, v)) return std::nullopt;
  if (v.kind() == ItemKind::Integer || v.kind() == ItemKind::Decimal) return v;
  if (allowQuantity && v.kind() == ItemKind::Quantity) return v;
  st.fail(call, "function '" + call.name + "' needs a number, not " + in[0].typeName());
}

Decimal dec(const Item& v) { return v.kind() == ItemKind::Integer ? Decimal::fromInt(v.integer()) : v.decimal(); }

FN(abs) {
  (void)f;
  auto v = numberInput(call, in, st, true);
  if (!v) return;
  if (v->kind() == ItemKind::Integer) {
    int64_t a = v->integer() < 0 ? -v->integer() : v->integer();
    if (a <= INT32_MAX) out.push_back(Item::integer(a));  // |-2^31| overflows: empty
    return;
  }
  if (v->kind() == ItemKind::Decimal) return out.push_back(st.dec(v->decimal().abs()));
  out.push_back(st.qty(Quantity(v->quantity().value().abs(), v->quantity().unit())));
}

void integral(const Ast& call, const Coll& in, EvalState& st, Coll& out, Decimal (Decimal::*op)() const) {
  auto v = numberInput(call, in, st);
  if (!v) return;
  if (v->kind() == ItemKind::Integer) return out.push_back(*v);
  auto i = (v->decimal().*op)().toInt64();
  if (i) out.push_back(Item::integer(*i));
}
FN(ceiling) { (void)f; integral(call, in, st, out, &Decimal::ceiling); }
FN(floor) { (void)f; integral(call, in, st, out, &Decimal::floor); }
FN(truncate) { (void)f; integral(call, in, st, out, &Decimal::truncate); }

FN(round) {
  auto v = numberInput(call, in, st);
  if (!v) return;
  int64_t digits = 0;
  if (call.args.size() > 1) {
    auto d = singletonInteger(arg(call, 1, f, st), call, st);
    if (!d) return;
    if (*d < 0) st.fail(call, "round() precision must not be negative");
    digits = std::min<int64_t>(*d, Decimal::kMaxScale);
  }
  out.push_back(st.dec(dec(*v).round(static_cast<int>(digits))));
}

void real(const Ast& call, const Coll& in, EvalState& st, Coll& out, double (*fn)(double)) {
  auto v = numberInput(call, in, st);
  if (!v) return;
  double r = fn(dec(*v).toDouble());
  if (!std::isfinite(r)) return;
  auto d = Decimal::fromDouble(r);
  if (d) out.push_back(st.dec(*d));
}
FN(exp) { (void)f; real(call, in, st, out, [](double x) { return std::exp(x); }); }
FN(ln) { (void)f; real(call, in, st, out, [](double x) { return x > 0 ? std::log(x) : NAN; }); }
FN(sqrt) { (void)f; real(call, in, st, out, [](double x) { return x >= 0 ? std::sqrt(x) : NAN; }); }

FN(log) {
  auto v = numberInput(call, in, st);
  if (!v) return;
  Coll b = arg(call, 1, f, st);
  auto base = numberInput(call, b, st);
  if (!base) return;
  double x = dec(*v).toDouble(), y = dec(*base).toDouble();
  if (x <= 0 || y <= 0 || y == 1) return;
  double r = std::log(x) / std::log(y);
  auto d = Decimal::fromDouble(r, 14);
  if (d) out.push_back(st.dec(*d));
}

FN(power) {
  auto v = numberInput(call, in, st);
  if (!v) return;
  Coll e = arg(call, 1, f, st);
  auto ex = numberInput(call, e, st);
  if (!ex) return;
  if (v->kind() == ItemKind::Integer && ex->kind() == ItemKind::Integer && ex->integer() >= 0) {
    int64_t r = 1, b = v->integer();
    for (int64_t i = 0; i < ex->integer() && r != 0; ++i)
      if (__builtin_mul_overflow(r, b, &r) || r > INT32_MAX || r < INT32_MIN) return;  // overflow: empty
    return out.push_back(Item::integer(r));
  }
  double r = std::pow(dec(*v).toDouble(), dec(*ex).toDouble());
  if (!std::isfinite(r)) return;
  auto d = Decimal::fromDouble(r);
  if (d) out.push_back(st.dec(*d));
}

// ---------------------------------------------------------------------------------
// Tree navigation

FN(children) {
  (void)f;
  for (const Item& it : in)
    if (it.isNode())
      for (const Node* c : it.node()->children) addChecked(out, Item::node(c), call, st);
}

FN(descendants) {
  (void)f;
  // Breadth-first, as repeat(children()) gives them.
  size_t start = out.size();
  for (const Item& it : in)
    if (it.isNode())
      for (const Node* c : it.node()->children) addChecked(out, Item::node(c), call, st);
  for (size_t i = start; i < out.size(); ++i) {
    const Node* n = out[i].node();
    for (const Node* c : n->children) addChecked(out, Item::node(c), call, st);
  }
}

// ---------------------------------------------------------------------------------
// Utility

FN(trace) {
  auto name = singletonString(arg(call, 1, f, st), call, st);
  if (st.env.trace) {
    Collection shown;
    if (call.args.size() > 2) {
      Coll p = st.coll();
      for (size_t i = 0; i < in.size(); ++i) evalLambda(call, 2, in[i], static_cast<int64_t>(i), f, st, p);
      shown.assign(p.begin(), p.end());
    } else {
      shown.assign(in.begin(), in.end());
    }
    st.env.trace(name ? *name : std::string_view(), shown);
  }
  out.insert(out.end(), in.begin(), in.end());
}

FN(now) { UNUSED_ARGS; out.push_back(st.tmp(st.now())); }
FN(today) {
  UNUSED_ARGS;
  Temporal t = st.now();
  t.kind = TemporalKind::Date;
  t.precision = Precision::Day;
  t.hour = t.minute = t.second = t.millisecond = 0;
  t.fractionDigits = 0;
  t.tzMinutes.reset();
  out.push_back(st.tmp(t));
}
FN(timeOfDay) {
  UNUSED_ARGS;
  Temporal t = st.now();
  t.kind = TemporalKind::Time;
  t.year = 0;
  t.month = t.day = 1;
  t.tzMinutes.reset();
  out.push_back(st.tmp(t));
}

FN(aggregate) {
  Coll total = st.coll();
  if (call.args.size() > 2) evalArg(call, 2, f, st, total);
  for (size_t i = 0; i < in.size(); ++i) {
    Coll focus(st.mr);
    focus.push_back(in[i]);
    Frame inner;
    inner.focus = &focus;
    inner.thisItem = in[i];
    inner.hasThis = true;
    inner.index = static_cast<int64_t>(i);
    inner.total = &total;
    Coll next = st.coll();
    eval(*call.args[1], inner, st, next);
    total.swap(next);
  }
  out.insert(out.end(), total.begin(), total.end());
}

FN(not) {
  (void)f;
  auto b = singletonBoolean(in, call, st);
  if (b) out.push_back(boolItem(!*b));
}

FN(is) {
  (void)f;
  if (in.empty()) return;
  if (in.size() > 1) st.fail(call, "is() needs a single input item");
  out.push_back(boolItem(itemIs(in[0], call.type, false)));
}

FN(as) {
  // As the R4 core invariants use it (dom-3: descendants().as(canonical)), as() on several
  // items keeps those of the type, like ofType().
  (void)f, (void)st;
  for (const Item& it : in)
    if (itemIs(it, call.type, true)) out.push_back(it);
}

const TypeSpec kSystemTypes[] = {
    {"System", "Boolean"}, {"System", "Integer"}, {"System", "Decimal"}, {"System", "String"},
    {"System", "Date"},    {"System", "DateTime"}, {"System", "Time"},   {"System", "Quantity"}};

FN(type) {
  UNUSED_ARGS;
  for (const Item& it : in) {
    switch (it.kind()) {
      case ItemKind::Node: {
        const TypeInfo* t = it.node()->type;
        TypeSpec ts{"FHIR", t->kind == TypeKind::Backbone ? std::string_view("BackboneElement") : std::string_view(t->name)};
        out.push_back(Item::typeSpec(st.make(ts)));
        break;
      }
      case ItemKind::Boolean: out.push_back(Item::typeSpec(&kSystemTypes[0])); break;
      case ItemKind::Integer: out.push_back(Item::typeSpec(&kSystemTypes[1])); break;
      case ItemKind::Decimal: out.push_back(Item::typeSpec(&kSystemTypes[2])); break;
      case ItemKind::String: out.push_back(Item::typeSpec(&kSystemTypes[3])); break;
      case ItemKind::Date: out.push_back(Item::typeSpec(&kSystemTypes[4])); break;
      case ItemKind::DateTime: out.push_back(Item::typeSpec(&kSystemTypes[5])); break;
      case ItemKind::Time: out.push_back(Item::typeSpec(&kSystemTypes[6])); break;
      case ItemKind::Quantity: out.push_back(Item::typeSpec(&kSystemTypes[7])); break;
      case ItemKind::TypeSpec: break;
    }
  }
}

// ---------------------------------------------------------------------------------
// 2.1 additions used by the suite: precision, boundaries, comparable, sort

FN(precision) {
  UNUSED_ARGS;
  if (in.empty()) return;
  Item v;
  if (!toSystem(in[0], st, v)) return;
  switch (v.kind()) {
    case ItemKind::Decimal: out.push_back(Item::integer(v.decimal().precision())); break;
    case ItemKind::Integer: out.push_back(Item::integer(0)); break;
    case ItemKind::Date:
    case ItemKind::DateTime:
    case ItemKind::Time: out.push_back(Item::integer(v.temporal().precisionDigits())); break;
    default: break;
  }
}

void boundary(const Ast& call, const Coll& in, const Frame& f, EvalState& st, Coll& out, bool low) {
  if (in.empty()) return;
  std::optional<int> digits;
  if (call.args.size() > 1) {
    auto d = singletonInteger(arg(call, 1, f, st), call, st);
    if (!d) return;
    digits = static_cast<int>(std::clamp<int64_t>(*d, -1000, 1000));
  }
  Item v;
  if (!toSystem(in[0], st, v)) return;
  switch (v.kind()) {
    case ItemKind::Integer:
    case ItemKind::Decimal: {
      Decimal d = dec(v);
      auto r = low ? d.lowBoundary(digits) : d.highBoundary(digits);
      if (r) out.push_back(st.dec(*r));
      break;
    }
    case ItemKind::Quantity: {
      const Quantity& q = v.quantity();
      auto r = low ? q.value().lowBoundary(digits) : q.value().highBoundary(digits);
      if (r) out.push_back(st.qty(Quantity(*r, q.unit())));
      break;
    }
    case ItemKind::Date:
    case ItemKind::DateTime:
    case ItemKind::Time: {
      auto r = low ? v.temporal().lowBoundary(digits) : v.temporal().highBoundary(digits);
      if (r) out.push_back(st.tmp(*r));
      break;
    }
    default: break;
  }
}
FN(lowBoundary) { boundary(call, in, f, st, out, true); }
FN(highBoundary) { boundary(call, in, f, st, out, false); }

FN(comparable) {
  if (in.empty()) return;
  Coll o = arg(call, 1, f, st);
  if (o.empty()) return;
  Item a, b;
  if (!toSystem(in[0], st, a) || !toSystem(o[0], st, b)) return;
  if (a.kind() != ItemKind::Quantity || b.kind() != ItemKind::Quantity)
    st.fail(call, "comparable() needs quantities");
  out.push_back(boolItem(Quantity::comparable(a.quantity(), b.quantity())));
}

FN(sort) {
  Coll items(in.begin(), in.end(), st.mr);
  size_t nkeys = call.args.size() - 1;
  std::vector<std::vector<std::optional<Item>>> keys(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    if (nkeys == 0) {
      keys[i].push_back(items[i]);
      continue;
    }
    for (size_t k = 0; k < nkeys; ++k) {
      Coll r = st.coll();
      evalLambda(call, k + 1, items[i], static_cast<int64_t>(i), f, st, r);
      if (r.size() > 1) st.fail(call, "sort() keys must be single items");
      keys[i].push_back(r.empty() ? std::nullopt : std::optional<Item>(r[0]));
    }
  }
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    for (size_t k = 0; k < keys[x].size(); ++k) {
      bool desc = nkeys > 0 && call.args[k + 1]->descending;
      const auto& a = keys[x][k];
      const auto& b = keys[y][k];
      if (!a && !b) continue;
      // An empty key sorts as the greatest value: last ascending, first descending.
      if (!a) return desc;
      if (!b) return !desc;
      auto c = itemCompare(*a, *b, call, st);
      if (!c || *c == 0) continue;
      return desc ? *c > 0 : *c < 0;
    }
    return false;
  });
  for (size_t i : order) out.push_back(items[i]);
}

// ---------------------------------------------------------------------------------
// FHIR functions

FN(extension) {
  auto url = singletonString(arg(call, 1, f, st), call, st);
  if (!url) return;
  for (const Item& it : in) {
    if (!it.isNode()) continue;
    for (const Node* c : it.node()->children) {
      if (c->def->name != "extension") continue;
      const Node* u = c->child("url");
      if (u && u->value == *url) out.push_back(Item::node(c));
    }
  }
}

FN(hasExtension) {
  Coll e = st.coll();
  fn_extension(call, in, f, st, e);
  out.push_back(boolItem(!e.empty()));
}

FN(hasValue) {
  UNUSED_ARGS;
  out.push_back(boolItem(in.size() == 1 && in[0].isNode() && in[0].node()->isPrimitive() && in[0].node()->hasValue));
}

FN(getValue) {
  UNUSED_ARGS;
  if (in.size() != 1 || !in[0].isNode() || !in[0].node()->isPrimitive()) return;
  Item v;
  if (toSystem(in[0], st, v) && !v.isNode()) out.push_back(v);
}

const Node* resolveReference(std::string_view ref, EvalState& st) {
  if (ref.empty()) return nullptr;
  if (ref[0] == '#') {
    if (ref.size() == 1) return st.resource;
    std::string_view id = ref.substr(1);
    if (const Node* c = findContained(st.resource, id)) return c;
    if (const Node* c = findContained(st.rootResource, id)) return c;
    return nullptr;
  }
  const Node* root = st.rootResource;
  if (root && root->type->name == "Bundle")
    if (const Node* res = findBundleEntry(*root, ref)) return res;
  if (st.env.resolver) return st.env.resolver->resolve(ref);
  return nullptr;
}

FN(resolve) {
  UNUSED_ARGS;
  for (const Item& it : in) {
    std::string_view ref;
    if (it.isNode()) {
      const Node* n = it.node();
      if (n->isPrimitive()) {
        if (!n->hasValue) continue;
        ref = n->value;
      } else {
        const Node* r = n->child("reference");
        if (!r || !r->hasValue) continue;
        ref = r->value;
      }
    } else if (it.kind() == ItemKind::String) {
      ref = it.string();
    } else {
      continue;
    }
    if (const Node* target = resolveReference(ref, st)) out.push_back(Item::node(target));
  }
}

FN(memberOf) {
  auto vs = singletonString(arg(call, 1, f, st), call, st);
  if (!vs || in.empty() || !st.env.terminology) return;
  if (in.size() > 1) st.fail(call, "memberOf() needs a single input item");
  const Item& it = in[0];
  auto check = [&](std::string_view system, std::string_view code) -> std::optional<bool> {
    return st.env.terminology->memberOf(system, code, *vs);
  };
  std::optional<bool> r;
  if (it.isNode()) {
    const Node* n = it.node();
    const std::string& t = n->type->name;
    if (n->isPrimitive()) {
      if (n->hasValue) r = check("", n->value);
    } else if (t == "Coding") {
      const Node* s = n->child("system");
      const Node* c = n->child("code");
      if (c) r = check(s ? s->value : std::string_view(), c->value);
    } else if (t == "CodeableConcept") {
      bool unknown = false;
      r = false;
      for (const Node* cd : n->children) {
        if (cd->def->name != "coding") continue;
        const Node* s = cd->child("system");
        const Node* c = cd->child("code");
        if (!c) continue;
        auto m = check(s ? s->value : std::string_view(), c->value);
        if (!m) unknown = true;
        else if (*m) {
          r = true;
          break;
        }
      }
      if (!*r && unknown) r.reset();
    }
  } else if (it.kind() == ItemKind::String) {
    r = check("", it.string());
  }
  if (r) out.push_back(boolItem(*r));
}

FN(conformsTo) {
  auto url = singletonString(arg(call, 1, f, st), call, st);
  if (!url) return;
  const Registry& reg = st.expr.registry();
  const json::Value* sd = reg.resource(*url);
  if (!sd || !sd->find("resourceType") || sd->find("resourceType")->text != "StructureDefinition")
    st.fail(call, "conformsTo(): no StructureDefinition '" + std::string(*url) + "' is known");
  const json::Value* derivation = sd->find("derivation");
  bool constraint = derivation && derivation->text == "constraint";
  for (const Item& it : in) {
    if (!it.isNode()) {
      out.push_back(boolItem(false));
      continue;
    }
    const TypeInfo* t = it.node()->type;
    bool is = false;
    for (const TypeInfo* b = t; b && !is; b = b->base) is = b->url == *url;
    if (!is || !constraint) {
      out.push_back(boolItem(is));
      continue;
    }
    // A profile: conformance needs the validator (issue 4); unknown here.
  }
}

// Narrative XHTML checks (txt-1, txt-2): only the basic formatting elements of HTML, no
// scripts or event handlers, and some non-whitespace content.
FN(htmlChecks) {
  UNUSED_ARGS;
  if (in.size() != 1 || !in[0].isNode()) return;
  const Node* n = in[0].node();
  if (n->type->name != "xhtml" || !n->hasValue) return out.push_back(boolItem(false));
  // Tag names compared in lower case without copying: one hash lookup per tag (this runs
  // on every narrative the validator sees).
  static const std::unordered_set<std::string_view> allowed = {
      "a", "abbr", "acronym", "b", "big", "blockquote", "br", "caption", "cite", "code", "col", "colgroup",
      "dd", "dfn", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd",
      "li", "ol", "p", "pre", "q", "samp", "small", "span", "strong", "sub", "sup", "table", "tbody",
      "td", "tfoot", "th", "thead", "tr", "tt", "ul", "var", "u", "s", "strike", "del", "ins", "center",
      "font", "address", "bdo", "map", "area", "label", "section", "article", "header", "footer", "nav",
      "figure", "figcaption", "mark", "time", "wbr"};
  std::string_view x = n->value;
  bool content = false;
  char lowered[16];
  for (size_t i = 0; i < x.size();) {
    if (x[i] == '<') {
      size_t end = x.find('>', i);
      if (end == std::string_view::npos) return out.push_back(boolItem(false));
      std::string_view tag = x.substr(i + 1, end - i - 1);
      i = end + 1;
      if (tag.starts_with("!--") || tag.starts_with("?")) continue;
      bool closing = !tag.empty() && tag[0] == '/';
      if (closing) tag.remove_prefix(1);
      size_t ne = 0;
      while (ne < tag.size() && tag[ne] != ' ' && tag[ne] != '/' && tag[ne] != '\t' && tag[ne] != '\n' && tag[ne] != '\r') ++ne;
      std::string_view name = tag.substr(0, ne);
      size_t colon = name.find(':');
      if (colon != std::string_view::npos) name = name.substr(colon + 1);
      if (name.size() > sizeof lowered) return out.push_back(boolItem(false));  // no allowed name is longer
      for (size_t k = 0; k < name.size(); ++k) {
        char c = name[k];
        lowered[k] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
      }
      name = std::string_view(lowered, name.size());
      if (!allowed.count(name)) return out.push_back(boolItem(false));
      if (name == "img") content = true;
      if (!closing && ne < tag.size() && tag.find('=', ne) != std::string_view::npos) {
        // No event handler attributes (on...=) and no javascript: URLs.
        std::string attrs = lowerAscii(tag.substr(ne));
        for (size_t p = attrs.find("on"); p != std::string::npos; p = attrs.find("on", p + 2)) {
          if (p > 0 && (attrs[p - 1] == ' ' || attrs[p - 1] == '\t' || attrs[p - 1] == '\n')) {
            size_t q = p + 2;
            while (q < attrs.size() && std::isalpha(static_cast<unsigned char>(attrs[q]))) ++q;
            while (q < attrs.size() && attrs[q] == ' ') ++q;
            if (q < attrs.size() && attrs[q] == '=' && q > p + 2) return out.push_back(boolItem(false));
          }
        }
        if (attrs.find("javascript:") != std::string::npos) return out.push_back(boolItem(false));
      }
      continue;
    }
    char c = x[i++];
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') content = true;
  }
  out.push_back(boolItem(content));
}

// ---------------------------------------------------------------------------------

constexpr uint8_t L0 = 1;  // argument 1 is a lambda
constexpr uint8_t L1 = 2;  // argument 2 is a lambda
constexpr uint8_t LALL = 0xFF;

const FunctionDef kFunctions[] = {
    {"empty", 0, 0, 0, fn_empty},
    {"exists", 0, 1, L0, fn_exists},
    {"all", 1, 1, L0, fn_all},
    {"allTrue", 0, 0, 0, fn_allTrue},
    {"anyTrue", 0, 0, 0, fn_anyTrue},
    {"allFalse", 0, 0, 0, fn_allFalse},
    {"anyFalse", 0, 0, 0, fn_anyFalse},
    {"subsetOf", 1, 1, 0, fn_subsetOf},
    {"supersetOf", 1, 1, 0, fn_supersetOf},
    {"count", 0, 0, 0, fn_count},
    {"distinct", 0, 0, 0, fn_distinct},
    {"isDistinct", 0, 0, 0, fn_isDistinct},
    {"where", 1, 1, L0, fn_where},
    {"select", 1, 1, L0, fn_select},
    {"repeat", 1, 1, L0, fn_repeat},
    {"ofType", 1, 1, 0, fn_ofType},
    {"single", 0, 0, 0, fn_single},
    {"first", 0, 0, 0, fn_first},
    {"last", 0, 0, 0, fn_last},
    {"tail", 0, 0, 0, fn_tail},
    {"skip", 1, 1, 0, fn_skip},
    {"take", 1, 1, 0, fn_take},
    {"intersect", 1, 1, 0, fn_intersect},
    {"exclude", 1, 1, 0, fn_exclude},
    {"union", 1, 1, 0, fn_union},
    {"combine", 1, 1, 0, fn_combine},
    {"iif", 2, 3, LALL, fn_iif},
    {"toBoolean", 0, 0, 0, fn_toBoolean, true},
    {"convertsToBoolean", 0, 0, 0, fn_convertsToBoolean, true},
    {"toInteger", 0, 0, 0, fn_toInteger, true},
    {"convertsToInteger", 0, 0, 0, fn_convertsToInteger, true},
    {"toDecimal", 0, 0, 0, fn_toDecimal, true},
    {"convertsToDecimal", 0, 0, 0, fn_convertsToDecimal, true},
    {"toString", 0, 0, 0, fn_toString, true},
    {"convertsToString", 0, 0, 0, fn_convertsToString, true},
    {"toDate", 0, 0, 0, fn_toDate, true},
    {"convertsToDate", 0, 0, 0, fn_convertsToDate, true},
    {"toDateTime", 0, 0, 0, fn_toDateTime, true},
    {"convertsToDateTime", 0, 0, 0, fn_convertsToDateTime, true},
    {"toTime", 0, 0, 0, fn_toTime, true},
    {"convertsToTime", 0, 0, 0, fn_convertsToTime, true},
    {"toQuantity", 0, 1, 0, fn_toQuantity, true},
    {"convertsToQuantity", 0, 1, 0, fn_convertsToQuantity, true},
    {"indexOf", 1, 1, 0, fn_indexOf, true},
    {"lastIndexOf", 1, 1, 0, fn_lastIndexOf, true},
    {"substring", 1, 2, 0, fn_substring, true},
    {"startsWith", 1, 1, 0, fn_startsWith, true},
    {"endsWith", 1, 1, 0, fn_endsWith, true},
    {"contains", 1, 1, 0, fn_contains, true},
    {"upper", 0, 0, 0, fn_upper, true},
    {"lower", 0, 0, 0, fn_lower, true},
    {"replace", 2, 2, 0, fn_replace, true},
    {"matches", 1, 1, 0, fn_matches, true},
    {"matchesFull", 1, 1, 0, fn_matchesFull, true},
    {"replaceMatches", 2, 2, 0, fn_replaceMatches, true},
    {"length", 0, 0, 0, fn_length, true},
    {"toChars", 0, 0, 0, fn_toChars, true},
    {"trim", 0, 0, 0, fn_trim, true},
    {"split", 1, 1, 0, fn_split, true},
    {"join", 0, 1, 0, fn_join},
    {"encode", 1, 1, 0, fn_encode, true},
    {"decode", 1, 1, 0, fn_decode, true},
    {"escape", 1, 1, 0, fn_escape, true},
    {"unescape", 1, 1, 0, fn_unescape, true},
    {"abs", 0, 0, 0, fn_abs, true},
    {"ceiling", 0, 0, 0, fn_ceiling, true},
    {"exp", 0, 0, 0, fn_exp, true},
    {"floor", 0, 0, 0, fn_floor, true},
    {"ln", 0, 0, 0, fn_ln, true},
    {"log", 1, 1, 0, fn_log, true},
    {"power", 1, 1, 0, fn_power, true},
    {"round", 0, 1, 0, fn_round, true},
    {"sqrt", 0, 0, 0, fn_sqrt, true},
    {"truncate", 0, 0, 0, fn_truncate, true},
    {"children", 0, 0, 0, fn_children},
    {"descendants", 0, 0, 0, fn_descendants},
    {"trace", 1, 2, L1, fn_trace},
    {"now", 0, 0, 0, fn_now},
    {"today", 0, 0, 0, fn_today},
    {"timeOfDay", 0, 0, 0, fn_timeOfDay},
    {"aggregate", 1, 2, L0, fn_aggregate},
    {"not", 0, 0, 0, fn_not},
    {"is", 1, 1, 0, fn_is},
    {"as", 1, 1, 0, fn_as},
    {"type", 0, 0, 0, fn_type},
    {"precision", 0, 0, 0, fn_precision, true},
    {"lowBoundary", 0, 1, 0, fn_lowBoundary, true},
    {"highBoundary", 0, 1, 0, fn_highBoundary, true},
    {"comparable", 1, 1, 0, fn_comparable, true},
    {"sort", 0, 8, LALL, fn_sort},
    {"extension", 1, 1, 0, fn_extension},
    {"hasExtension", 1, 1, 0, fn_hasExtension},
    {"hasValue", 0, 0, 0, fn_hasValue},
    {"getValue", 0, 0, 0, fn_getValue},
    {"resolve", 0, 0, 0, fn_resolve},
    {"memberOf", 1, 1, 0, fn_memberOf},
    {"conformsTo", 1, 1, 0, fn_conformsTo},
    {"htmlChecks", 0, 0, 0, fn_htmlChecks},
};

}  // namespace

const FunctionDef* findFunction(std::string_view name) {
  static const std::unordered_map<std::string_view, const FunctionDef*> index = [] {
    std::unordered_map<std::string_view, const FunctionDef*> m;
    for (const FunctionDef& d : kFunctions) m.emplace(d.name, &d);
    return m;
  }();
  auto it = index.find(name);
  return it == index.end() ? nullptr : it->second;
}

}  // namespace hoa::fhir::fhirpath::detail
