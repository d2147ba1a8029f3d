// UCUM (https://ucum.org/ucum) for FHIRPath quantities: a parser for unit expressions
// over a table of the common atoms, reducing a unit to base dimensions and an exact
// rational factor.
#include "fhir/fhirpath_values.h"

namespace hoa::fhir::fhirpath::ucum {
namespace {

enum Dim { kM, kG, kS, kMol, kK, kC, kCd, kArb };

// An exact factor num / den * 10^exp with dimensions.
struct Exact {
  int128 num = 1;
  int128 den = 1;
  int exp = 0;
  int8_t dims[8] = {0, 0, 0, 0, 0, 0, 0, 0};
};

int128 gcd(int128 a, int128 b) {
  if (a < 0) a = -a;
  if (b < 0) b = -b;
  while (b != 0) {
    int128 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

void normalize(Exact& e) {
  int128 g = gcd(e.num, e.den);
  if (g > 1) {
    e.num /= g;
    e.den /= g;
  }
  while (e.num != 0 && e.num % 10 == 0) {
    e.num /= 10;
    ++e.exp;
  }
  while (e.den % 10 == 0) {
    e.den /= 10;
    --e.exp;
  }
}

bool multiply(const Exact& a, const Exact& b, Exact& out) {
  int128 g1 = gcd(a.num, b.den), g2 = gcd(b.num, a.den);
  if (g1 == 0) g1 = 1;
  if (g2 == 0) g2 = 1;
  Exact r;
  if (__builtin_mul_overflow(a.num / g1, b.num / g2, &r.num)) return false;
  if (__builtin_mul_overflow(a.den / g2, b.den / g1, &r.den)) return false;
  r.exp = a.exp + b.exp;
  if (r.exp > 300 || r.exp < -300) return false;
  for (int i = 0; i < 8; ++i) {
    int d = a.dims[i] + b.dims[i];
    if (d > 100 || d < -100) return false;
    r.dims[i] = int8_t(d);
  }
  normalize(r);
  out = r;
  return true;
}

Exact invert(const Exact& e) {
  Exact r;
  r.num = e.den;
  r.den = e.num;
  r.exp = -e.exp;
  for (int i = 0; i < 8; ++i) r.dims[i] = int8_t(-e.dims[i]);
  return r;
}

bool power(const Exact& e, int n, Exact& out) {
  if (e.num == 0 && n < 0) return false;
  Exact base = n < 0 ? invert(e) : e;
  if (n < 0) n = -n;
  Exact r;
  for (int i = 0; i < n; ++i) {
    if (!multiply(r, base, r)) return false;
  }
  out = r;
  return true;
}

struct Atom {
  std::string_view code;
  bool metric;  // takes prefixes
  long long num;
  long long den;
  int exp;
  int8_t dims[8];  // m, g, s, mol, K, C, cd, arbitrary
};

// Factors are exact: value in the atom * num / den * 10^exp = value in base units.
constexpr Atom kAtoms[] = {
    // base units
    {"m", true, 1, 1, 0, {1, 0, 0, 0, 0, 0, 0, 0}},
    {"g", true, 1, 1, 0, {0, 1, 0, 0, 0, 0, 0, 0}},
    {"s", true, 1, 1, 0, {0, 0, 1, 0, 0, 0, 0, 0}},
    {"K", true, 1, 1, 0, {0, 0, 0, 0, 1, 0, 0, 0}},
    {"C", true, 1, 1, 0, {0, 0, 0, 0, 0, 1, 0, 0}},
    {"cd", true, 1, 1, 0, {0, 0, 0, 0, 0, 0, 1, 0}},
    {"mol", true, 1, 1, 0, {0, 0, 0, 1, 0, 0, 0, 0}},
    {"eq", true, 1, 1, 0, {0, 0, 0, 1, 0, 0, 0, 0}},
    // time
    {"min", false, 60, 1, 0, {0, 0, 1, 0, 0, 0, 0, 0}},
    {"h", false, 3600, 1, 0, {0, 0, 1, 0, 0, 0, 0, 0}},
    {"d", false, 86400, 1, 0, {0, 0, 1, 0, 0, 0, 0, 0}},
    {"wk", false, 604800, 1, 0, {0, 0, 1, 0, 0, 0, 0, 0}},
    {"mo", false, 2629800, 1, 0, {0, 0, 1, 0, 0, 0, 0, 0}},  // a / 12
    {"a", false, 31557600, 1, 0, {0, 0, 1, 0, 0, 0, 0, 0}},  // 365.25 d
    {"mo_j", false, 2629800, 1, 0, {0, 0, 1, 0, 0, 0, 0, 0}},
    {"a_j", false, 31557600, 1, 0, {0, 0, 1, 0, 0, 0, 0, 0}},
    {"mo_g", false, 2629746, 1, 0, {0, 0, 1, 0, 0, 0, 0, 0}},
    {"a_g", false, 31556952, 1, 0, {0, 0, 1, 0, 0, 0, 0, 0}},  // 365.2425 d
    {"a_t", false, 31556925216LL, 1, -3, {0, 0, 1, 0, 0, 0, 0, 0}},  // 365.24219 d
    {"Hz", true, 1, 1, 0, {0, 0, -1, 0, 0, 0, 0, 0}},
    // volume
    {"l", true, 1, 1, -3, {3, 0, 0, 0, 0, 0, 0, 0}},
    {"L", true, 1, 1, -3, {3, 0, 0, 0, 0, 0, 0, 0}},
    // mass
    {"t", true, 1, 1, 6, {0, 1, 0, 0, 0, 0, 0, 0}},
    {"[lb_av]", false, 45359237, 1, -5, {0, 1, 0, 0, 0, 0, 0, 0}},
    {"[oz_av]", false, 28349523125LL, 1, -9, {0, 1, 0, 0, 0, 0, 0, 0}},
    {"[gr]", false, 6479891, 1, -8, {0, 1, 0, 0, 0, 0, 0, 0}},
    // length
    {"[in_i]", false, 254, 1, -4, {1, 0, 0, 0, 0, 0, 0, 0}},
    {"[ft_i]", false, 3048, 1, -4, {1, 0, 0, 0, 0, 0, 0, 0}},
    {"[yd_i]", false, 9144, 1, -4, {1, 0, 0, 0, 0, 0, 0, 0}},
    {"[mi_i]", false, 1609344, 1, -3, {1, 0, 0, 0, 0, 0, 0, 0}},
    // force, pressure, energy, power, electricity
    {"N", true, 1, 1, 3, {1, 1, -2, 0, 0, 0, 0, 0}},
    {"Pa", true, 1, 1, 3, {-1, 1, -2, 0, 0, 0, 0, 0}},
    {"bar", true, 1, 1, 8, {-1, 1, -2, 0, 0, 0, 0, 0}},
    {"m[Hg]", true, 1333220, 1, 2, {-1, 1, -2, 0, 0, 0, 0, 0}},  // 133.3220 kPa
    {"m[H2O]", true, 980665, 1, 1, {-1, 1, -2, 0, 0, 0, 0, 0}},  // 9.80665 kPa
    {"J", true, 1, 1, 3, {2, 1, -2, 0, 0, 0, 0, 0}},
    {"cal", true, 4184, 1, 0, {2, 1, -2, 0, 0, 0, 0, 0}},
    {"W", true, 1, 1, 3, {2, 1, -3, 0, 0, 0, 0, 0}},
    {"A", true, 1, 1, 0, {0, 0, -1, 0, 0, 1, 0, 0}},
    {"V", true, 1, 1, 3, {2, 1, -2, 0, 0, -1, 0, 0}},
    // amount of substance per time
    {"kat", true, 1, 1, 0, {0, 0, -1, 1, 0, 0, 0, 0}},
    {"U", true, 1, 60, -6, {0, 0, -1, 1, 0, 0, 0, 0}},  // umol/min
    // dimensionless and arbitrary
    {"%", false, 1, 1, -2, {0, 0, 0, 0, 0, 0, 0, 0}},
    {"[ppth]", false, 1, 1, -3, {0, 0, 0, 0, 0, 0, 0, 0}},
    {"[ppm]", false, 1, 1, -6, {0, 0, 0, 0, 0, 0, 0, 0}},
    {"[ppb]", false, 1, 1, -9, {0, 0, 0, 0, 0, 0, 0, 0}},
    {"[iU]", true, 1, 1, 0, {0, 0, 0, 0, 0, 0, 0, 1}},
    {"[IU]", true, 1, 1, 0, {0, 0, 0, 0, 0, 0, 0, 1}},
};

struct Prefix {
  std::string_view code;
  int exp;
};
constexpr Prefix kPrefixes[] = {
    {"Y", 24}, {"Z", 21},  {"E", 18},  {"P", 15},  {"T", 12},  {"G", 9},   {"M", 6},
    {"k", 3},  {"h", 2},   {"da", 1},  {"d", -1},  {"c", -2},  {"m", -3},  {"u", -6},
    {"n", -9}, {"p", -12}, {"f", -15}, {"a", -18}, {"z", -21}, {"y", -24},
};

Exact fromAtom(const Atom& a) {
  Exact e;
  e.num = a.num;
  e.den = a.den;
  e.exp = a.exp;
  for (int i = 0; i < 8; ++i) e.dims[i] = a.dims[i];
  normalize(e);
  return e;
}

const Atom* findAtom(std::string_view code) {
  for (const Atom& a : kAtoms) {
    if (a.code == code) return &a;
  }
  return nullptr;
}

bool resolveSymbol(std::string_view symbol, Exact& out) {
  if (const Atom* a = findAtom(symbol)) {
    out = fromAtom(*a);
    return true;
  }
  for (const Prefix& p : kPrefixes) {
    if (symbol.size() <= p.code.size() || symbol.substr(0, p.code.size()) != p.code) continue;
    const Atom* a = findAtom(symbol.substr(p.code.size()));
    if (a && a->metric) {
      out = fromAtom(*a);
      out.exp += p.exp;
      return true;
    }
  }
  return false;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// term := ['/'] component (('.' | '/') component)*
// component := '(' term ')' | annotation | digits ['*'|'^' exponent] [annotation]
//            | symbol [exponent] [annotation]
class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  bool parse(Exact& out) { return term(out) && i_ == s_.size(); }

 private:
  bool term(Exact& out) {
    Exact acc;
    if (peek('/')) {
      ++i_;
      Exact c;
      if (!component(c)) return false;
      acc = invert(c);
    } else if (!component(acc)) {
      return false;
    }
    while (peek('.') || peek('/')) {
      bool divide = s_[i_] == '/';
      ++i_;
      Exact c;
      if (!component(c)) return false;
      if (!multiply(acc, divide ? invert(c) : c, acc)) return false;
    }
    out = acc;
    return true;
  }

  bool component(Exact& out) {
    if (i_ >= s_.size()) return false;
    char c = s_[i_];
    if (c == '(') {
      if (++depth_ > 8) return false;
      ++i_;
      if (!term(out) || !peek(')')) return false;
      ++i_;
      --depth_;
      return annotation();
    }
    if (c == '{') {
      out = Exact();
      return annotation();
    }
    if (isDigit(c)) {
      size_t start = i_;
      while (i_ < s_.size() && isDigit(s_[i_])) ++i_;
      std::string_view digits = s_.substr(start, i_ - start);
      if (digits == "10" && (peek('*') || peek('^'))) {
        ++i_;
        int n;
        if (!exponent(n, true)) return false;
        out = Exact();
        out.exp = n;
        return annotation();
      }
      if (digits.size() > 18) return false;
      long long v = 0;
      for (char d : digits) v = v * 10 + (d - '0');
      out = Exact();
      out.num = v;
      if (v == 0) return false;
      normalize(out);
      return annotation();
    }
    size_t start = i_;
    while (i_ < s_.size()) {
      char ch = s_[i_];
      if (ch == '[') {
        size_t close = s_.find(']', i_);
        if (close == std::string_view::npos) return false;
        i_ = close + 1;
        continue;
      }
      if (ch == '.' || ch == '/' || ch == '(' || ch == ')' || ch == '{' || ch == '}' ||
          ch == '+' || ch == '-' || isDigit(ch) || ch == ' ' || ch == ']') {
        break;
      }
      ++i_;
    }
    if (i_ == start) return false;
    Exact atom;
    if (!resolveSymbol(s_.substr(start, i_ - start), atom)) return false;
    int n = 1;
    if (i_ < s_.size() && (isDigit(s_[i_]) || s_[i_] == '+' || s_[i_] == '-')) {
      if (!exponent(n, true)) return false;
    }
    if (!power(atom, n, out)) return false;
    return annotation();
  }

  bool exponent(int& n, bool required) {
    bool negative = false;
    if (peek('+') || peek('-')) {
      negative = s_[i_] == '-';
      ++i_;
    }
    size_t start = i_;
    int v = 0;
    while (i_ < s_.size() && isDigit(s_[i_]) && i_ - start < 2) {
      v = v * 10 + (s_[i_] - '0');
      ++i_;
    }
    if (i_ == start) return !required;
    if (i_ < s_.size() && isDigit(s_[i_])) return false;
    n = negative ? -v : v;
    return true;
  }

  // An optional {annotation}: printable ASCII except braces.
  bool annotation() {
    if (!peek('{')) return true;
    ++i_;
    while (i_ < s_.size() && s_[i_] != '}') {
      char ch = s_[i_];
      if (ch < 0x20 || ch > 0x7e || ch == '{') return false;
      ++i_;
    }
    if (i_ >= s_.size()) return false;
    ++i_;
    return true;
  }

  bool peek(char c) const { return i_ < s_.size() && s_[i_] == c; }

  std::string_view s_;
  size_t i_ = 0;
  int depth_ = 0;
};

std::optional<Exact> exact(std::string_view code) {
  if (code.empty() || code.size() > 256) return std::nullopt;
  Exact e;
  Parser p(code);
  if (!p.parse(e)) return std::nullopt;
  return e;
}

// num * 10^exp as a Decimal (rounded to kMaxScale digits when finer).
std::optional<Decimal> scaledInteger(int128 num, int exp) {
  static constexpr int128 kLimit = [] {
    int128 r = 1;
    for (int i = 0; i < 38; ++i) r *= 10;
    return r;
  }();
  if (exp >= 0) {
    int128 v = num;
    for (int i = 0; i < exp; ++i) {
      if (__builtin_mul_overflow(v, int128(10), &v) || v >= kLimit) return std::nullopt;
    }
    return Decimal(v, 0);
  }
  int scale = -exp;
  int128 v = num;
  if (scale > Decimal::kMaxScale) {
    int drop = scale - Decimal::kMaxScale;
    int128 q = v, firstDropped = 0;
    if (drop > 40) q = 0;
    for (int i = 0; i < drop && i <= 40; ++i) {
      firstDropped = q % 10;  // the last one taken is the most significant dropped digit
      q /= 10;
    }
    if (firstDropped >= 5) ++q;  // half away from zero
    v = q;
    scale = Decimal::kMaxScale;
  }
  if (v >= kLimit) return std::nullopt;
  return Decimal(v, scale);
}

std::string_view mapCalendar(std::string_view unit) {
  std::optional<std::string_view> code = calendarToUcum(unit);
  return code ? *code : unit;
}


}  // namespace

bool Canonical::sameDimensions(const Canonical& o) const {
  for (int i = 0; i < 8; ++i) {
    if (dims[i] != o.dims[i]) return false;
  }
  return true;
}

std::optional<Canonical> canonicalize(std::string_view ucumCode) {
  std::optional<Exact> e = exact(ucumCode);
  if (!e) return std::nullopt;
  std::optional<Decimal> n = scaledInteger(e->num, e->exp);
  if (!n) return std::nullopt;
  Canonical c;
  if (e->den == 1) {
    c.factor = *n;
  } else {
    int natural = n->scale();
    Decimal wide = n->rescale(natural + 20 > Decimal::kMaxScale ? Decimal::kMaxScale : natural + 20);
    std::optional<Decimal> q = wide.div(Decimal(e->den, 0));
    if (!q) return std::nullopt;
    c.factor = q->trimmed(natural);
  }
  for (int i = 0; i < 8; ++i) c.dims[i] = e->dims[i];
  return c;
}

std::optional<std::string_view> calendarToUcum(std::string_view keyword) {
  struct Entry {
    std::string_view singular, plural, code;
  };
  static constexpr Entry kEntries[] = {
      {"year", "years", "a"},       {"month", "months", "mo"},  {"week", "weeks", "wk"},
      {"day", "days", "d"},         {"hour", "hours", "h"},     {"minute", "minutes", "min"},
      {"second", "seconds", "s"},   {"millisecond", "milliseconds", "ms"},
  };
  for (const Entry& e : kEntries) {
    if (keyword == e.singular || keyword == e.plural) return e.code;
  }
  return std::nullopt;
}

std::optional<Decimal> convert(const Decimal& value, std::string_view from, std::string_view to) {
  if (from == to) return value;
  from = mapCalendar(from);
  to = mapCalendar(to);
  if (from == to) return value;
  std::optional<Exact> ef = exact(from);
  if (!ef) return std::nullopt;
  std::optional<Exact> et = exact(to);
  if (!et) return std::nullopt;
  for (int i = 0; i < 8; ++i) {
    if (ef->dims[i] != et->dims[i]) return std::nullopt;
  }
  if (et->num == 0) return std::nullopt;
  Exact ratio;
  if (!multiply(*ef, invert(*et), ratio)) return std::nullopt;
  std::optional<Decimal> factor = scaledInteger(ratio.num, ratio.exp);
  if (!factor) return std::nullopt;
  std::optional<Decimal> v = value.mul(*factor);
  if (!v || ratio.den == 1) return v;
  // A ratio with a denominator: divide with 12 more digits than the product has, then
  // drop trailing zeros down to the value's own scale (60 'min' -> 1 'h', 90 'min' ->
  // 1.5 'h', 1 'g' -> 0.002204622622 '[lb_av]').
  int wideScale = v->scale() + 12 > Decimal::kMaxScale ? Decimal::kMaxScale : v->scale() + 12;
  std::optional<Decimal> q = v->rescale(wideScale).div(Decimal(ratio.den, 0));
  if (!q) return std::nullopt;
  return q->trimmed(value.scale());
}

}  // namespace hoa::fhir::fhirpath::ucum
