#include "fhir/fhirpath_values.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

namespace hoa::fhir::fhirpath {
namespace {

__extension__ typedef unsigned __int128 uint128;

// A Decimal's mantissa has at most 38 digits: |mantissa| < 10^38 (< 2^127).
constexpr int kMaxDigits = 38;

struct Pow10Table {
  uint128 v[kMaxDigits + 1];
  constexpr Pow10Table() : v() {
    uint128 r = 1;
    for (int i = 0; i <= kMaxDigits; ++i) {
      v[i] = r;
      r *= 10;
    }
  }
};
constexpr Pow10Table kPow10;
constexpr uint128 kLimit = kPow10.v[kMaxDigits];

uint128 pow10u(int n) { return kPow10.v[n]; }
uint128 absU(int128 v) { return v < 0 ? uint128(0) - uint128(v) : uint128(v); }
int128 signedOf(uint128 magnitude, bool negative) {
  return negative ? -int128(magnitude) : int128(magnitude);
}

// ---------------------------------------------------------------------------------
// 256-bit unsigned arithmetic for the rare cases a 128-bit intermediate overflows
// (products of two 38-digit mantissas, dividends scaled for division).
struct U256 {
  uint64_t w[4] = {0, 0, 0, 0};  // little-endian 64-bit limbs

  static U256 of(uint128 v) {
    U256 r;
    r.w[0] = uint64_t(v);
    r.w[1] = uint64_t(v >> 64);
    return r;
  }
  bool fits128() const { return w[2] == 0 && w[3] == 0; }
  uint128 low128() const { return (uint128(w[1]) << 64) | w[0]; }
};

int cmp(const U256& a, const U256& b) {
  for (int i = 3; i >= 0; --i) {
    if (a.w[i] != b.w[i]) return a.w[i] < b.w[i] ? -1 : 1;
  }
  return 0;
}

// a - b modulo 2^256.
U256 sub(const U256& a, const U256& b) {
  U256 r;
  uint64_t borrow = 0;
  for (int i = 0; i < 4; ++i) {
    uint128 t = uint128(a.w[i]) - b.w[i] - borrow;
    r.w[i] = uint64_t(t);
    borrow = (t >> 64) != 0 ? 1 : 0;
  }
  return r;
}

U256 increment(U256 a) {
  for (int i = 0; i < 4; ++i) {
    if (++a.w[i] != 0) break;
  }
  return a;
}

// false on overflow beyond 256 bits.
bool mulWide(const U256& a, const U256& b, U256& out) {
  uint64_t r[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < 4; ++i) {
    if (a.w[i] == 0) continue;
    uint64_t carry = 0;
    for (int j = 0; j < 4; ++j) {
      uint128 t = uint128(a.w[i]) * b.w[j] + r[i + j] + carry;
      r[i + j] = uint64_t(t);
      carry = uint64_t(t >> 64);
    }
    r[i + 4] = carry;
  }
  for (int i = 4; i < 8; ++i) {
    if (r[i] != 0) return false;
  }
  for (int i = 0; i < 4; ++i) out.w[i] = r[i];
  return true;
}

// 10^n for n in [0, 76]; false beyond.
bool pow10w(int n, U256& out) {
  if (n < 0) return false;
  if (n <= kMaxDigits) {
    out = U256::of(pow10u(n));
    return true;
  }
  if (n > 76) return false;
  return mulWide(U256::of(pow10u(kMaxDigits)), U256::of(pow10u(n - kMaxDigits)), out);
}

// Truncated n / d and the remainder; d must not be zero.
void divmod(const U256& n, const U256& d, U256& q, U256& r) {
  if (n.fits128() && d.fits128()) {
    uint128 a = n.low128(), b = d.low128();
    q = U256::of(a / b);
    r = U256::of(a % b);
    return;
  }
  q = U256();
  r = U256();
  int top = 255;
  while (top >= 0 && ((n.w[top / 64] >> (top % 64)) & 1) == 0) --top;
  for (int i = top; i >= 0; --i) {
    bool carry = (r.w[3] >> 63) != 0;
    r.w[3] = (r.w[3] << 1) | (r.w[2] >> 63);
    r.w[2] = (r.w[2] << 1) | (r.w[1] >> 63);
    r.w[1] = (r.w[1] << 1) | (r.w[0] >> 63);
    r.w[0] = (r.w[0] << 1) | ((n.w[i / 64] >> (i % 64)) & 1);
    if (carry || cmp(r, d) >= 0) {
      r = sub(r, d);  // exact modulo 2^256: the true value is below 2d
      q.w[i / 64] |= uint64_t(1) << (i % 64);
    }
  }
}

// n / d rounded half away from zero.
U256 roundDiv(const U256& n, const U256& d) {
  U256 q, r;
  divmod(n, d, q, r);
  if (cmp(r, sub(d, r)) >= 0) q = increment(q);
  return q;
}

// round(n / d * 10^shift), nullopt when an intermediate exceeds 256 bits.
std::optional<U256> scaledQuotient(const U256& n, const U256& d, int shift) {
  U256 p;
  if (shift >= 0) {
    U256 scaled;
    if (!pow10w(shift, p) || !mulWide(n, p, scaled)) return std::nullopt;
    return roundDiv(scaled, d);
  }
  U256 dd;
  if (!pow10w(-shift, p) || !mulWide(d, p, dd)) return U256();  // |n/d| * 10^shift < 1/2
  return roundDiv(n, dd);
}

int digitsOf(const U256& v) {
  int digits = 1;
  U256 p;
  while (digits < 77 && pow10w(digits, p) && cmp(v, p) >= 0) ++digits;
  return digits;
}

int digitsOf(uint128 v) {
  int digits = 1;
  while (digits <= kMaxDigits && v >= pow10u(digits)) ++digits;
  return digits;
}

// The decimal nearest to (n / d) * 10^-naturalScale with scale `scale`, or fewer digits
// after the point when the mantissa would not fit in 38 digits; nullopt when it does not
// fit even as an integer.
std::optional<Decimal> quotientDecimal(bool negative, const U256& n, const U256& d,
                                       int naturalScale, int scale) {
  while (true) {
    std::optional<U256> q = scaledQuotient(n, d, scale - naturalScale);
    if (q && q->fits128() && q->low128() < kLimit) {
      return Decimal(signedOf(q->low128(), negative), scale);
    }
    if (scale <= 0) return std::nullopt;
    int excess = q ? digitsOf(*q) - kMaxDigits : 1;
    scale -= excess < 1 ? 1 : excess;
    if (scale < 0) scale = 0;
  }
}

Decimal trimZeros(const Decimal& v, int minScale) {  // Decimal::trimmed
  int128 m = v.mantissa();
  int s = v.scale();
  while (s > minScale && m % 10 == 0) {
    m /= 10;
    --s;
  }
  return Decimal(m, s);
}

// Aligns |a| and |b| to the larger scale as 256-bit magnitudes.
bool align(const Decimal& a, const Decimal& b, U256& am, U256& bm, int& scale) {
  scale = a.scale() > b.scale() ? a.scale() : b.scale();
  U256 pa, pb;
  if (!pow10w(scale - a.scale(), pa) || !pow10w(scale - b.scale(), pb)) return false;
  return mulWide(U256::of(absU(a.mantissa())), pa, am) &&
         mulWide(U256::of(absU(b.mantissa())), pb, bm);
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

// ---------------------------------------------------------------------------------
// Decimal

std::optional<Decimal> Decimal::parse(std::string_view text) {
  size_t i = 0, n = text.size();
  bool negative = false;
  if (i < n && (text[i] == '-' || text[i] == '+')) {
    negative = text[i] == '-';
    ++i;
  }
  uint128 m = 0;
  int significant = 0;
  int intDigits = 0, fracDigits = 0;
  auto take = [&](char c) {
    if (m == 0 && c == '0') return true;  // leading zeros are not significant
    if (++significant > kMaxDigits) return false;
    m = m * 10 + uint128(c - '0');
    return true;
  };
  while (i < n && isDigit(text[i])) {
    if (!take(text[i])) return std::nullopt;
    ++intDigits;
    ++i;
  }
  if (intDigits == 0) return std::nullopt;
  if (i < n && text[i] == '.') {
    ++i;
    while (i < n && isDigit(text[i])) {
      if (!take(text[i])) return std::nullopt;
      ++fracDigits;
      ++i;
    }
    if (fracDigits == 0) return std::nullopt;
  }
  int exponent = 0;
  if (i < n && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool expNegative = false;
    if (i < n && (text[i] == '-' || text[i] == '+')) {
      expNegative = text[i] == '-';
      ++i;
    }
    int expDigits = 0;
    while (i < n && isDigit(text[i])) {
      if (exponent > 10000) return std::nullopt;
      exponent = exponent * 10 + (text[i] - '0');
      ++expDigits;
      ++i;
    }
    if (expDigits == 0) return std::nullopt;
    if (expNegative) exponent = -exponent;
  }
  if (i != n) return std::nullopt;
  int scale = fracDigits - exponent;
  if (scale < 0) {
    if (m != 0) {
      if (digitsOf(m) - scale > kMaxDigits) return std::nullopt;
      m *= pow10u(-scale);
    }
    scale = 0;
  }
  while (scale > kMaxScale && m % 10 == 0) {
    m /= 10;
    --scale;
  }
  if (scale > kMaxScale) return std::nullopt;
  Decimal d(signedOf(m, negative), scale);
  d.negativeZero_ = negative && m == 0;
  return d;
}

std::optional<Decimal> Decimal::fromDouble(double v, int significantDigits) {
  if (!std::isfinite(v)) return std::nullopt;
  if (v == 0) return Decimal(0, 0);
  if (significantDigits < 1) significantDigits = 1;
  if (significantDigits > 17) significantDigits = 17;
  char buf[64];
  int len = std::snprintf(buf, sizeof buf, "%.*e", significantDigits - 1, v);
  if (len <= 0 || len >= int(sizeof buf)) return std::nullopt;
  // d.ddddde[+-]xx
  int i = 0;
  bool negative = false;
  if (buf[i] == '-') {
    negative = true;
    ++i;
  }
  uint128 m = 0;
  int fracDigits = 0;
  bool afterPoint = false;
  for (; buf[i] != 'e' && buf[i] != 0; ++i) {
    if (buf[i] == '.') {
      afterPoint = true;
      continue;
    }
    m = m * 10 + uint128(buf[i] - '0');
    if (afterPoint) ++fracDigits;
  }
  if (buf[i] != 'e') return std::nullopt;
  int exponent = std::atoi(buf + i + 1);
  int scale = fracDigits - exponent;
  while (scale > 0 && m % 10 == 0) {
    m /= 10;
    --scale;
  }
  if (scale < 0) {
    if (digitsOf(m) - scale > kMaxDigits) return std::nullopt;
    m *= pow10u(-scale);
    scale = 0;
  }
  if (scale > kMaxScale) {
    int drop = scale - kMaxScale;
    if (drop > kMaxDigits) {
      m = 0;
    } else {
      uint128 p = pow10u(drop), q = m / p, r = m % p;
      m = r * 2 >= p ? q + 1 : q;
    }
    scale = kMaxScale;
    while (scale > 0 && m % 10 == 0) {
      m /= 10;
      --scale;
    }
  }
  return Decimal(signedOf(m, negative), scale);
}

double Decimal::toDouble() const { return std::strtod(toString().c_str(), nullptr); }

std::optional<int64_t> Decimal::toInt64() const {
  int128 q = mantissa_;
  if (scale_ > 0) {
    if (scale_ > kMaxDigits) {
      if (mantissa_ != 0) return std::nullopt;
      q = 0;
    } else {
      int128 p = int128(pow10u(scale_));
      if (mantissa_ % p != 0) return std::nullopt;
      q = mantissa_ / p;
    }
  }
  if (q > INT64_MAX || q < INT64_MIN) return std::nullopt;
  return int64_t(q);
}

std::string Decimal::toString() const {
  char digits[48];
  int n = 0;
  uint128 m = absU(mantissa_);
  do {
    digits[n++] = char('0' + int(m % 10));
    m /= 10;
  } while (m != 0 && n < 48);
  int scale = scale_ < 0 ? 0 : scale_;
  std::string out;
  out.reserve(size_t(n + scale + 3));
  if (mantissa_ < 0 || (mantissa_ == 0 && negativeZero_)) out.push_back('-');
  int total = n > scale ? n : scale + 1;  // at least one digit before the point
  for (int pos = total - 1; pos >= 0; --pos) {
    out.push_back(pos < n ? digits[pos] : '0');
    if (pos == scale && scale > 0) out.push_back('.');
  }
  return out;
}

std::optional<Decimal> Decimal::add(const Decimal& o) const {
  int scale = scale_ > o.scale_ ? scale_ : o.scale_;
  int128 a = mantissa_, b = o.mantissa_, r;
  if (scale - scale_ > kMaxDigits || scale - o.scale_ > kMaxDigits) return std::nullopt;
  if (__builtin_mul_overflow(a, int128(pow10u(scale - scale_)), &a)) return std::nullopt;
  if (__builtin_mul_overflow(b, int128(pow10u(scale - o.scale_)), &b)) return std::nullopt;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  if (absU(r) >= kLimit) return std::nullopt;
  return Decimal(r, scale);
}

std::optional<Decimal> Decimal::sub(const Decimal& o) const { return add(o.negate()); }

std::optional<Decimal> Decimal::mul(const Decimal& o) const {
  int scale = scale_ + o.scale_;
  int128 p;
  if (scale <= kMaxScale && !__builtin_mul_overflow(mantissa_, o.mantissa_, &p) &&
      absU(p) < kLimit) {
    return Decimal(p, scale);
  }
  U256 n;
  mulWide(U256::of(absU(mantissa_)), U256::of(absU(o.mantissa_)), n);  // < 2^254
  bool negative = (mantissa_ < 0) != (o.mantissa_ < 0);
  return quotientDecimal(negative, n, U256::of(1), scale, scale < kMaxScale ? scale : kMaxScale);
}

std::optional<Decimal> Decimal::div(const Decimal& o) const {
  if (o.mantissa_ == 0) return std::nullopt;
  int keep = scale_ > o.scale_ ? scale_ : o.scale_;
  int scale = keep > kDivisionScale ? keep : kDivisionScale;
  if (scale > kMaxScale) scale = kMaxScale;
  bool negative = (mantissa_ < 0) != (o.mantissa_ < 0);
  std::optional<Decimal> q = quotientDecimal(negative, U256::of(absU(mantissa_)),
                                             U256::of(absU(o.mantissa_)), scale_ - o.scale_, scale);
  if (!q) return std::nullopt;
  return trimZeros(*q, keep);
}

std::optional<Decimal> Decimal::intDiv(const Decimal& o) const {
  if (o.mantissa_ == 0) return std::nullopt;
  U256 a, b, q, r;
  int scale;
  if (!align(*this, o, a, b, scale)) return std::nullopt;
  divmod(a, b, q, r);
  if (!q.fits128() || q.low128() >= kLimit) return std::nullopt;
  return Decimal(signedOf(q.low128(), (mantissa_ < 0) != (o.mantissa_ < 0)), 0);
}

std::optional<Decimal> Decimal::mod(const Decimal& o) const {
  if (o.mantissa_ == 0) return std::nullopt;
  U256 a, b, q, r;
  int scale;
  if (!align(*this, o, a, b, scale)) return std::nullopt;
  divmod(a, b, q, r);
  if (!r.fits128() || r.low128() >= kLimit) return std::nullopt;
  return Decimal(signedOf(r.low128(), mantissa_ < 0), scale);
}

Decimal Decimal::round(int digits) const {
  if (digits < 0) digits = 0;
  if (digits >= scale_) return *this;
  int drop = scale_ - digits;
  if (drop > kMaxDigits) return Decimal(0, digits);
  uint128 p = pow10u(drop), m = absU(mantissa_), q = m / p, r = m % p;
  if (r * 2 >= p) ++q;
  return Decimal(signedOf(q, mantissa_ < 0), digits);
}

namespace {
enum class IntRounding { Floor, Ceiling, Truncate };
Decimal toInteger(const Decimal& d, IntRounding mode) {
  if (d.scale() <= 0) return Decimal(d.mantissa(), 0);
  if (d.scale() > kMaxDigits) {
    // |value| < 10^38 / 10^39: strictly between -1 and 1.
    if (d.mantissa() > 0 && mode == IntRounding::Ceiling) return Decimal(1, 0);
    if (d.mantissa() < 0 && mode == IntRounding::Floor) return Decimal(-1, 0);
    return Decimal(0, 0);
  }
  int128 p = int128(pow10u(d.scale()));
  int128 q = d.mantissa() / p, r = d.mantissa() % p;
  if (mode == IntRounding::Floor && r < 0) --q;
  if (mode == IntRounding::Ceiling && r > 0) ++q;
  return Decimal(q, 0);
}
}  // namespace

Decimal Decimal::floor() const { return toInteger(*this, IntRounding::Floor); }
Decimal Decimal::ceiling() const { return toInteger(*this, IntRounding::Ceiling); }
Decimal Decimal::truncate() const { return toInteger(*this, IntRounding::Truncate); }

Decimal Decimal::rescale(int scale) const {
  if (scale < 0) scale = 0;
  if (scale <= scale_) return round(scale);
  int add = scale - scale_;
  int128 m;
  if (add > kMaxDigits || __builtin_mul_overflow(mantissa_, int128(pow10u(add)), &m) ||
      absU(m) >= kLimit) {
    return *this;  // does not fit: unchanged
  }
  return Decimal(m, scale);
}

int Decimal::compare(const Decimal& o) const {
  int128 a = mantissa_, b = o.mantissa_;
  auto sign = [](int128 v) { return v < 0 ? -1 : (v > 0 ? 1 : 0); };
  if (scale_ < o.scale_) {
    int d = o.scale_ - scale_;
    if (a != 0 && (d > kMaxDigits || __builtin_mul_overflow(a, int128(pow10u(d)), &a))) {
      return sign(mantissa_);  // |a| scaled exceeds any 38-digit mantissa
    }
  } else if (scale_ > o.scale_) {
    int d = scale_ - o.scale_;
    if (b != 0 && (d > kMaxDigits || __builtin_mul_overflow(b, int128(pow10u(d)), &b))) {
      return -sign(o.mantissa_);
    }
  }
  return a < b ? -1 : (a > b ? 1 : 0);
}

bool Decimal::equivalent(const Decimal& o) const {
  int s = scale_ < o.scale_ ? scale_ : o.scale_;
  return round(s).compare(o.round(s)) == 0;
}

namespace {
// The boundary of a non-negative decimal x (magnitude, scale s): low = x - 5*10^-(s+1)
// truncated to p digits, high = x + 5*10^-(s+1) rounded half up to p digits. (Those are the
// roundings the specification's LowBoundary/HighBoundary tests expect.)
std::optional<uint128> positiveBoundary(uint128 x, int s, int p, bool low) {
  uint128 big;
  if (__builtin_mul_overflow(x, uint128(10), &big)) return std::nullopt;
  if (low) {
    big -= 5;  // only called with x > 0
  } else if (__builtin_add_overflow(big, uint128(5), &big)) {
    return std::nullopt;
  }
  int from = s + 1;
  if (p >= from) {
    int add = p - from;
    if (add > kMaxDigits || __builtin_mul_overflow(big, pow10u(add), &big) || big >= kLimit) {
      return std::nullopt;
    }
    return big;
  }
  int drop = from - p;
  if (drop > kMaxDigits) return low ? uint128(0) : std::optional<uint128>();
  uint128 pw = pow10u(drop), q = big / pw, r = big % pw;
  if (!low && r >= pw - r) ++q;
  return q;
}
}  // namespace

std::optional<Decimal> Decimal::lowBoundary(std::optional<int> precision) const {
  int p = precision.value_or(8);
  if (p < 0 || p > 28 || scale_ < 0 || scale_ > kMaxScale) return std::nullopt;
  uint128 x = absU(mantissa_);
  std::optional<uint128> v = positiveBoundary(x, scale_, p, mantissa_ > 0);
  if (!v) return std::nullopt;
  bool negative = mantissa_ <= 0;  // low of -x is -(high of x); of 0, -(high of 0)
  Decimal r(signedOf(*v, negative), p);
  r.negativeZero_ = negative && *v == 0;
  return r;
}

std::optional<Decimal> Decimal::highBoundary(std::optional<int> precision) const {
  int p = precision.value_or(8);
  if (p < 0 || p > 28 || scale_ < 0 || scale_ > kMaxScale) return std::nullopt;
  uint128 x = absU(mantissa_);
  std::optional<uint128> v = positiveBoundary(x, scale_, p, mantissa_ < 0);
  if (!v) return std::nullopt;
  bool negative = mantissa_ < 0;  // high of -x is -(low of x)
  Decimal r(signedOf(*v, negative), p);
  r.negativeZero_ = negative && *v == 0;
  return r;
}

// ---------------------------------------------------------------------------------
// Temporal

namespace {

constexpr int64_t kMsPerDay = 86400000;

bool isLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
int daysInMonth(int64_t y, int m) {
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && isLeap(y) ? 29 : kDays[m - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t daysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void civilFromDays(int64_t z, int64_t& y, int& m, int& d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  d = int(doy - (153 * mp + 2) / 5 + 1);
  m = int(mp < 10 ? mp + 3 : mp - 9);
  y = yoe + era * 400 + (m <= 2);
}

struct Cursor {
  std::string_view s;
  size_t i = 0;

  bool atEnd() const { return i == s.size(); }
  bool peek(char c) const { return i < s.size() && s[i] == c; }
  bool accept(char c) {
    if (!peek(c)) return false;
    ++i;
    return true;
  }
  bool number(int digits, int& out) {
    if (s.size() - i < size_t(digits)) return false;
    int v = 0;
    for (int k = 0; k < digits; ++k) {
      char c = s[i + size_t(k)];
      if (!isDigit(c)) return false;
      v = v * 10 + (c - '0');
    }
    i += size_t(digits);
    out = v;
    return true;
  }
};

bool parseDate(Cursor& c, Temporal& t) {
  if (!c.number(4, t.year) || t.year < 1) return false;
  t.precision = Precision::Year;
  if (!c.accept('-')) return true;
  if (!c.number(2, t.month) || t.month < 1 || t.month > 12) return false;
  t.precision = Precision::Month;
  if (!c.accept('-')) return true;
  if (!c.number(2, t.day) || t.day < 1 || t.day > daysInMonth(t.year, t.month)) return false;
  t.precision = Precision::Day;
  return true;
}

bool parseTime(Cursor& c, Temporal& t) {
  if (!c.number(2, t.hour) || t.hour > 23) return false;
  t.precision = Precision::Hour;
  if (!c.accept(':')) return true;
  if (!c.number(2, t.minute) || t.minute > 59) return false;
  t.precision = Precision::Minute;
  if (!c.accept(':')) return true;
  // 60 admits a leap second, as FHIR's lexical forms do.
  if (!c.number(2, t.second) || t.second > 60) return false;
  t.precision = Precision::Second;
  if (!c.accept('.')) return true;
  int digits = 0, ms = 0;
  while (!c.atEnd() && isDigit(c.s[c.i])) {
    if (digits < 3) ms = ms * 10 + (c.s[c.i] - '0');
    ++digits;
    ++c.i;
  }
  if (digits == 0 || digits > 9) return false;
  for (int k = digits; k < 3; ++k) ms *= 10;
  t.millisecond = ms;
  t.fractionDigits = digits;
  t.precision = Precision::Millisecond;
  return true;
}

bool parseTimezone(Cursor& c, Temporal& t) {
  if (c.accept('Z')) {
    t.tzMinutes = 0;
    t.zulu = true;
    return true;
  }
  if (!c.peek('+') && !c.peek('-')) return false;
  bool negative = c.s[c.i] == '-';
  ++c.i;
  int h, m;
  if (!c.number(2, h) || !c.accept(':') || !c.number(2, m) || h > 14 || m > 59) return false;
  t.tzMinutes = (negative ? -1 : 1) * (h * 60 + m);
  t.zulu = false;
  return true;
}

void append2(std::string& out, int v) {
  out.push_back(char('0' + (v / 10) % 10));
  out.push_back(char('0' + v % 10));
}

bool hasTimePart(const Temporal& t) {
  return t.kind == TemporalKind::Time || t.precision >= Precision::Hour;
}

// Comparison level: Second and Millisecond are one level.
int level(Precision p) { return p == Precision::Millisecond ? 5 : int(p); }

int64_t timeOfDayMs(const Temporal& t) {
  return ((int64_t(t.hour) * 60 + t.minute) * 60 + t.second) * 1000 + t.millisecond;
}

// The same instant in UTC (the fields move; the offset is dropped).
Temporal toUtc(const Temporal& t) {
  Temporal r = t;
  int64_t minutes = daysFromCivil(t.year, t.month, t.day) * 1440 + t.hour * 60 + t.minute -
                    *t.tzMinutes;
  int64_t days = minutes >= 0 ? minutes / 1440 : (minutes - 1439) / 1440;
  int64_t rest = minutes - days * 1440;
  int64_t y;
  civilFromDays(days, y, r.month, r.day);
  r.year = int(y);
  r.hour = int(rest / 60);
  r.minute = int(rest % 60);
  r.tzMinutes = 0;
  return r;
}

enum class TimeUnit { Year, Month, Week, Day, Hour, Minute, Second, Millisecond };

// The calendar or UCUM time unit of a quantity; `ucumYearMonth` marks 'a' and 'mo'.
std::optional<TimeUnit> timeUnitOf(std::string_view unit, bool& ucumYearMonth) {
  ucumYearMonth = false;
  if (unit == "a" || unit == "mo") {
    ucumYearMonth = true;
    return unit == "a" ? TimeUnit::Year : TimeUnit::Month;
  }
  std::optional<std::string_view> code = ucum::calendarToUcum(unit);
  std::string_view u = code ? *code : unit;
  if (u == "a") return TimeUnit::Year;
  if (u == "mo") return TimeUnit::Month;
  if (u == "wk") return TimeUnit::Week;
  if (u == "d") return TimeUnit::Day;
  if (u == "h") return TimeUnit::Hour;
  if (u == "min") return TimeUnit::Minute;
  if (u == "s") return TimeUnit::Second;
  if (u == "ms") return TimeUnit::Millisecond;
  return std::nullopt;
}

int64_t unitMs(TimeUnit u) {
  switch (u) {
    case TimeUnit::Hour: return 3600000;
    case TimeUnit::Minute: return 60000;
    case TimeUnit::Second: return 1000;
    case TimeUnit::Millisecond: return 1;
    case TimeUnit::Week: return 7 * kMsPerDay;
    default: return kMsPerDay;
  }
}

int64_t precisionMs(Precision p) {
  switch (p) {
    case Precision::Hour: return 3600000;
    case Precision::Minute: return 60000;
    case Precision::Second: return 1000;
    case Precision::Millisecond: return 1;
    default: return kMsPerDay;
  }
}

bool addMonths(Temporal& t, int64_t months) {
  if (months > 120000 || months < -120000) return false;
  int64_t total = int64_t(t.year) * 12 + (t.month - 1) + months;
  int64_t y = total >= 0 ? total / 12 : (total - 11) / 12;
  if (y < 1 || y > 9999) return false;
  t.year = int(y);
  t.month = int(total - y * 12) + 1;
  int last = daysInMonth(t.year, t.month);
  if (t.day > last) t.day = last;
  return true;
}

// Adds milliseconds to a value with a date and a time (or a date of day precision, with
// a multiple of a day).
bool addMs(Temporal& t, int64_t ms) {
  int64_t days = daysFromCivil(t.year, t.month, t.day);
  int64_t tod = timeOfDayMs(t) + ms % kMsPerDay;
  days += ms / kMsPerDay;
  if (tod < 0) {
    tod += kMsPerDay;
    --days;
  } else if (tod >= kMsPerDay) {
    tod -= kMsPerDay;
    ++days;
  }
  int64_t y;
  civilFromDays(days, y, t.month, t.day);
  if (y < 1 || y > 9999) return false;
  t.year = int(y);
  t.hour = int(tod / 3600000);
  t.minute = int(tod / 60000 % 60);
  t.second = int(tod / 1000 % 60);
  t.millisecond = int(tod % 1000);
  return true;
}

bool validDigits(TemporalKind kind, int digits, Precision& p) {
  if (kind == TemporalKind::Time) {
    switch (digits) {
      case 2: p = Precision::Hour; return true;
      case 4: p = Precision::Minute; return true;
      case 6: p = Precision::Second; return true;
      case 9: p = Precision::Millisecond; return true;
      default: return false;
    }
  }
  switch (digits) {
    case 4: p = Precision::Year; return true;
    case 6: p = Precision::Month; return true;
    case 8: p = Precision::Day; return true;
    default: break;
  }
  if (kind == TemporalKind::Date) return false;
  switch (digits) {
    case 10: p = Precision::Hour; return true;
    case 12: p = Precision::Minute; return true;
    case 14: p = Precision::Second; return true;
    case 17: p = Precision::Millisecond; return true;
    default: return false;
  }
}

std::optional<Temporal> boundary(const Temporal& t, std::optional<int> digits, bool low) {
  int d = digits.value_or(t.kind == TemporalKind::Time ? 9
                          : t.kind == TemporalKind::Date ? 8 : 17);
  Precision target;
  if (!validDigits(t.kind, d, target)) return std::nullopt;
  Temporal src = t;
  if (src.kind == TemporalKind::DateTime && src.precision == Precision::Hour) {
    src.precision = Precision::Minute;  // T08 counts as T08:00 (see the header)
    src.minute = 0;
  }
  Temporal r = src;
  r.precision = target;
  const bool isTime = t.kind == TemporalKind::Time;
  auto filled = [&](Precision field) { return src.precision >= field; };
  if (!isTime) {
    if (!filled(Precision::Month)) r.month = low ? 1 : 12;
    if (!filled(Precision::Day)) r.day = low ? 1 : daysInMonth(r.year, r.month);
  }
  if (!filled(Precision::Hour)) r.hour = low ? 0 : 23;
  if (!filled(Precision::Minute)) r.minute = low ? 0 : 59;
  if (!filled(Precision::Second)) r.second = low ? 0 : 59;
  if (!filled(Precision::Millisecond)) r.millisecond = low ? 0 : 999;
  // Fields finer than the target go back to their defaults.
  if (target < Precision::Month) r.month = 1;
  if (target < Precision::Day) r.day = 1;
  if (target < Precision::Hour) r.hour = 0;
  if (target < Precision::Minute) r.minute = 0;
  if (target < Precision::Second) r.second = 0;
  if (target < Precision::Millisecond) r.millisecond = 0;
  r.fractionDigits = target == Precision::Millisecond ? 3 : 0;
  if (r.kind == TemporalKind::DateTime && target >= Precision::Hour) {
    if (!r.tzMinutes) {
      r.tzMinutes = low ? 14 * 60 : -12 * 60;
      r.zulu = false;
    }
  } else {
    r.tzMinutes.reset();
  }
  return r;
}

}  // namespace

std::optional<Temporal> Temporal::parseLiteral(std::string_view text) {
  Temporal t;
  Cursor c{text};
  if (c.accept('T')) {
    t.kind = TemporalKind::Time;
    if (!parseTime(c, t) || !c.atEnd()) return std::nullopt;
    return t;
  }
  if (!parseDate(c, t)) return std::nullopt;
  if (c.atEnd()) {
    t.kind = TemporalKind::Date;
    return t;
  }
  if (!c.accept('T')) return std::nullopt;
  t.kind = TemporalKind::DateTime;
  if (c.atEnd()) return t;
  if (t.precision != Precision::Day || !parseTime(c, t)) return std::nullopt;
  if (!c.atEnd() && !parseTimezone(c, t)) return std::nullopt;
  if (!c.atEnd()) return std::nullopt;
  return t;
}

std::optional<Temporal> Temporal::parseFhir(std::string_view text, TemporalKind kind) {
  Temporal t;
  t.kind = kind;
  Cursor c{text};
  if (kind == TemporalKind::Time) {
    if (!parseTime(c, t) || !c.atEnd()) return std::nullopt;
    return t;
  }
  if (!parseDate(c, t)) return std::nullopt;
  if (c.atEnd()) return t;
  if (kind == TemporalKind::Date || !c.accept('T')) return std::nullopt;
  if (t.precision != Precision::Day || !parseTime(c, t)) return std::nullopt;
  if (!c.atEnd() && !parseTimezone(c, t)) return std::nullopt;
  if (!c.atEnd()) return std::nullopt;
  return t;
}

std::string Temporal::toString() const {
  std::string out;
  out.reserve(32);
  if (kind != TemporalKind::Time) {
    int y = year;
    out.push_back(char('0' + (y / 1000) % 10));
    out.push_back(char('0' + (y / 100) % 10));
    append2(out, y % 100);
    if (precision >= Precision::Month) {
      out.push_back('-');
      append2(out, month);
    }
    if (precision >= Precision::Day) {
      out.push_back('-');
      append2(out, day);
    }
    if (kind == TemporalKind::Date || precision < Precision::Hour) return out;
    out.push_back('T');
  }
  append2(out, hour);
  if (precision >= Precision::Minute) {
    out.push_back(':');
    append2(out, minute);
  }
  if (precision >= Precision::Second) {
    out.push_back(':');
    append2(out, second);
  }
  if (precision == Precision::Millisecond && fractionDigits > 0) {
    out.push_back('.');
    int ms = millisecond;
    char digits[3] = {char('0' + ms / 100), char('0' + ms / 10 % 10), char('0' + ms % 10)};
    for (int k = 0; k < fractionDigits; ++k) out.push_back(k < 3 ? digits[k] : '0');
  }
  if (kind == TemporalKind::DateTime && tzMinutes) {
    int tz = *tzMinutes;
    if (tz == 0 && zulu) {
      out.push_back('Z');
    } else {
      out.push_back(tz < 0 ? '-' : '+');
      if (tz < 0) tz = -tz;
      append2(out, tz / 60);
      out.push_back(':');
      append2(out, tz % 60);
    }
  }
  return out;
}

std::string Temporal::toLiteral() const {
  std::string out = "@";
  if (kind == TemporalKind::Time) out.push_back('T');
  out += toString();
  if (kind == TemporalKind::DateTime && precision <= Precision::Day) out.push_back('T');
  return out;
}

int Temporal::precisionDigits() const {
  if (kind == TemporalKind::Time) {
    switch (precision) {
      case Precision::Minute: return 4;
      case Precision::Second: return 6;
      case Precision::Millisecond: return 9;
      default: return 2;
    }
  }
  switch (precision) {
    case Precision::Year: return 4;
    case Precision::Month: return 6;
    case Precision::Day: return 8;
    case Precision::Hour: return 10;
    case Precision::Minute: return 12;
    case Precision::Second: return 14;
    case Precision::Millisecond: return 17;
  }
  return 4;
}

std::optional<int> Temporal::compare(const Temporal& a, const Temporal& b) {
  if ((a.kind == TemporalKind::Time) != (b.kind == TemporalKind::Time)) return std::nullopt;
  const Temporal* x = &a;
  const Temporal* y = &b;
  Temporal ux, uy;
  if (hasTimePart(a) && hasTimePart(b) && a.kind != TemporalKind::Time) {
    if (a.tzMinutes.has_value() != b.tzMinutes.has_value()) return std::nullopt;
    if (a.tzMinutes && *a.tzMinutes != *b.tzMinutes) {
      ux = toUtc(a);
      uy = toUtc(b);
      x = &ux;
      y = &uy;
    }
  }
  int la = level(a.precision), lb = level(b.precision);
  int common = la < lb ? la : lb;
  const int64_t fx[6] = {x->year, x->month, x->day, x->hour, x->minute,
                         int64_t(x->second) * 1000 + x->millisecond};
  const int64_t fy[6] = {y->year, y->month, y->day, y->hour, y->minute,
                         int64_t(y->second) * 1000 + y->millisecond};
  for (int i = 0; i <= common; ++i) {
    if (fx[i] != fy[i]) return fx[i] < fy[i] ? -1 : 1;
  }
  if (la != lb) return std::nullopt;
  return 0;
}

bool Temporal::equivalent(const Temporal& a, const Temporal& b) {
  if (level(a.precision) != level(b.precision)) return false;
  std::optional<int> c = compare(a, b);
  return c && *c == 0;
}

std::optional<Temporal> Temporal::add(const Temporal& t, const Quantity& q, bool subtract) {
  bool ucumYearMonth;
  std::optional<TimeUnit> unit = timeUnitOf(q.unit(), ucumYearMonth);
  if (!unit || ucumYearMonth) return std::nullopt;  // 'a'/'mo': not calendar durations
  std::optional<int64_t> amount = q.value().truncate().toInt64();
  if (!amount || *amount > 1000000000000000LL || *amount < -1000000000000000LL) {
    return std::nullopt;
  }
  int64_t n = subtract ? -*amount : *amount;
  Temporal r = t;
  const bool isTime = t.kind == TemporalKind::Time;
  switch (*unit) {
    case TimeUnit::Year:
      if (isTime || n > 10000 || n < -10000 || !addMonths(r, n * 12)) return std::nullopt;
      return r;
    case TimeUnit::Month:
      if (isTime) return std::nullopt;
      if (t.precision == Precision::Year) n = n / 12 * 12;
      if (!addMonths(r, n)) return std::nullopt;
      return r;
    default:
      break;
  }
  // Weeks, days and finer on a date, or on a value of year or month precision: the
  // quantity is converted to the value's finest unit and truncated (N1 6.7.1: @2016 + 365
  // days = @2017), with a month of 30 days and a year of 365.
  bool dayOrCoarser = t.kind == TemporalKind::Date || t.precision <= Precision::Day;
  if (!isTime && (dayOrCoarser || *unit == TimeUnit::Week || *unit == TimeUnit::Day) &&
      (t.kind == TemporalKind::Date || t.precision < Precision::Day || *unit == TimeUnit::Week ||
       *unit == TimeUnit::Day)) {
    if (n > 10000000000LL || n < -10000000000LL) return std::nullopt;
    int64_t ms;
    if (__builtin_mul_overflow(n, unitMs(*unit), &ms)) return std::nullopt;
    if (t.precision >= Precision::Day) {
      if (t.kind != TemporalKind::Date && t.precision > Precision::Day) {
        if (!addMs(r, ms)) return std::nullopt;  // a DateTime with a time: exact
        return r;
      }
      int64_t days = ms / kMsPerDay;
      if (days > 4000000 || days < -4000000 || !addMs(r, days * kMsPerDay)) return std::nullopt;
      return r;
    }
    int64_t months = t.precision == Precision::Month ? ms / (30 * kMsPerDay) : ms / (365 * kMsPerDay) * 12;
    if (!addMonths(r, months)) return std::nullopt;
    return r;
  }
  if (isTime && (*unit == TimeUnit::Week || *unit == TimeUnit::Day)) return std::nullopt;
  int64_t ms;
  if (__builtin_mul_overflow(n, unitMs(*unit), &ms)) return std::nullopt;
  int64_t step = isTime || t.precision >= Precision::Hour ? precisionMs(t.precision) : kMsPerDay;
  ms = ms / step * step;
  if (isTime) {
    int64_t tod = (timeOfDayMs(t) + ms % kMsPerDay + kMsPerDay) % kMsPerDay;
    r.hour = int(tod / 3600000);
    r.minute = int(tod / 60000 % 60);
    r.second = int(tod / 1000 % 60);
    r.millisecond = int(tod % 1000);
  } else {
    if (ms > 400000LL * kMsPerDay || ms < -400000LL * kMsPerDay) return std::nullopt;
    if (!addMs(r, ms)) return std::nullopt;
  }
  if (r.precision == Precision::Millisecond && ms % 1000 != 0 && r.fractionDigits < 3) {
    r.fractionDigits = 3;
  }
  return r;
}

std::optional<Temporal> Temporal::lowBoundary(std::optional<int> digits) const {
  return boundary(*this, digits, true);
}

std::optional<Temporal> Temporal::highBoundary(std::optional<int> digits) const {
  return boundary(*this, digits, false);
}

// ---------------------------------------------------------------------------------
// Quantity

namespace {

struct UnitInfo {
  std::string_view code;  // the UCUM code (calendar keywords mapped)
  bool calendar = false;
  bool yearMonth = false;  // a calendar year or month keyword
};

UnitInfo unitInfo(const std::string& unit) {
  UnitInfo u;
  std::optional<std::string_view> code = ucum::calendarToUcum(unit);
  if (code) {
    u.code = *code;
    u.calendar = true;
    u.yearMonth = *code == "a" || *code == "mo";
  } else {
    u.code = unit;
  }
  return u;
}

// Both values in one unit: the finer of the two (conversions that multiply stay exact)
// or the coarser (for equivalence: rounding to the smaller precision then compares at the
// coarser unit's precision).
std::optional<std::pair<Decimal, Decimal>> inCommonUnit(const Decimal& av, std::string_view au,
                                                        const Decimal& bv, std::string_view bu,
                                                        bool coarser) {
  if (au == bu) return std::make_pair(av, bv);
  std::optional<ucum::Canonical> ca = ucum::canonicalize(au);
  if (!ca) return std::nullopt;
  std::optional<ucum::Canonical> cb = ucum::canonicalize(bu);
  if (!cb || !ca->sameDimensions(*cb)) return std::nullopt;
  int c = ca->factor.compare(cb->factor);  // > 0: a's unit is the coarser
  bool intoA = coarser ? c >= 0 : c <= 0;
  if (intoA) {
    std::optional<Decimal> v = ucum::convert(bv, bu, au);
    if (!v) return std::nullopt;
    return std::make_pair(av, *v);
  }
  std::optional<Decimal> v = ucum::convert(av, au, bu);
  if (!v) return std::nullopt;
  return std::make_pair(*v, bv);
}

// Calendar years/months compare only with each other (1 year = 1 'a' is unknown).
bool calendarCompatible(const UnitInfo& a, const UnitInfo& b) {
  return a.yearMonth == b.yearMonth;
}

std::string quotedUnit(std::string_view code) {
  std::string out;
  out.reserve(code.size() + 2);
  out.push_back('\'');
  for (char c : code) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

std::string wrapUnit(std::string_view code) {
  if (code.find_first_of("./") == std::string_view::npos) return std::string(code);
  std::string out = "(";
  out += code;
  out.push_back(')');
  return out;
}

}  // namespace

bool Quantity::isCalendarUnit() const { return ucum::calendarToUcum(unit_).has_value(); }

std::string Quantity::toString() const {
  std::string out = value_.toString();
  out.push_back(' ');
  if (isCalendarUnit()) {
    out += unit_;
  } else {
    out += quotedUnit(unit_);
  }
  return out;
}

std::optional<Quantity> Quantity::parse(std::string_view text) {
  size_t i = 0, n = text.size();
  if (i < n && (text[i] == '+' || text[i] == '-')) ++i;
  size_t digits = 0;
  while (i < n && isDigit(text[i])) {
    ++i;
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  if (i < n && text[i] == '.') {
    ++i;
    size_t frac = 0;
    while (i < n && isDigit(text[i])) {
      ++i;
      ++frac;
    }
    if (frac == 0) return std::nullopt;
  }
  std::optional<Decimal> value = Decimal::parse(text.substr(0, i));
  if (!value) return std::nullopt;
  while (i < n && (text[i] == ' ' || text[i] == '\t')) ++i;
  if (i == n) return Quantity(*value, "1");
  if (text[i] == '\'') {
    size_t close = text.find('\'', i + 1);
    if (close == std::string_view::npos || close == i + 1 || close + 1 != n) return std::nullopt;
    return Quantity(*value, std::string(text.substr(i + 1, close - i - 1)));
  }
  std::string_view word = text.substr(i);
  if (!ucum::calendarToUcum(word)) return std::nullopt;
  return Quantity(*value, std::string(word));
}

std::optional<int> Quantity::compare(const Quantity& a, const Quantity& b) {
  UnitInfo ua = unitInfo(a.unit_), ub = unitInfo(b.unit_);
  if (!calendarCompatible(ua, ub)) return std::nullopt;
  auto values = inCommonUnit(a.value_, ua.code, b.value_, ub.code, false);
  if (!values) return std::nullopt;
  return values->first.compare(values->second);
}

std::optional<bool> Quantity::equals(const Quantity& a, const Quantity& b) {
  std::optional<int> c = compare(a, b);
  if (!c) return std::nullopt;
  return *c == 0;
}

bool Quantity::equivalent(const Quantity& a, const Quantity& b) {
  UnitInfo ua = unitInfo(a.unit_), ub = unitInfo(b.unit_);
  auto values = inCommonUnit(a.value_, ua.code, b.value_, ub.code, true);
  if (!values) return false;
  return values->first.equivalent(values->second);
}

bool Quantity::comparable(const Quantity& a, const Quantity& b) {
  UnitInfo ua = unitInfo(a.unit_), ub = unitInfo(b.unit_);
  if (ua.code == ub.code) return true;
  std::optional<ucum::Canonical> ca = ucum::canonicalize(ua.code);
  if (!ca) return false;
  std::optional<ucum::Canonical> cb = ucum::canonicalize(ub.code);
  return cb && ca->sameDimensions(*cb);
}

std::optional<Quantity> Quantity::add(const Quantity& a, const Quantity& b, bool subtract) {
  UnitInfo ua = unitInfo(a.unit_), ub = unitInfo(b.unit_);
  if (!calendarCompatible(ua, ub)) return std::nullopt;
  // The result is in the finer unit of the two (N1 6.6: 3 'm' + 3 'cm' = 303 'cm').
  bool intoA = true;
  if (ua.code != ub.code) {
    std::optional<ucum::Canonical> ca = ucum::canonicalize(ua.code);
    std::optional<ucum::Canonical> cb = ucum::canonicalize(ub.code);
    if (!ca || !cb || !ca->sameDimensions(*cb)) return std::nullopt;
    intoA = ca->factor.compare(cb->factor) <= 0;
  }
  std::optional<Decimal> av = a.value_, bv = b.value_;
  if (ua.code != ub.code) {
    if (intoA) bv = ucum::convert(b.value_, ub.code, ua.code);
    else av = ucum::convert(a.value_, ua.code, ub.code);
  }
  if (!av || !bv) return std::nullopt;
  std::optional<Decimal> v = subtract ? av->sub(*bv) : av->add(*bv);
  if (!v) return std::nullopt;
  return Quantity(*v, intoA ? a.unit_ : b.unit_);
}

namespace {

// Simple unit products ("cm", "cm2", "kg/m2", "mm[Hg].s-1") as atom -> exponent, in the
// order of first appearance; nullopt for anything with parentheses, annotations or
// numeric factors, which are then combined without simplification.
std::optional<std::vector<std::pair<std::string, int>>> unitTerms(std::string_view u) {
  std::vector<std::pair<std::string, int>> terms;
  if (u == "1") return terms;
  int sign = 1;
  size_t i = 0;
  if (!u.empty() && u[0] == '/') {
    sign = -1;
    i = 1;
  }
  while (i <= u.size()) {
    size_t j = i;
    int depth = 0;
    while (j < u.size() && (depth > 0 || (u[j] != '.' && u[j] != '/'))) {
      if (u[j] == '[') ++depth;
      if (u[j] == ']') --depth;
      ++j;
    }
    std::string_view term = u.substr(i, j - i);
    if (term.empty() || term.find_first_of("(){}*^") != std::string_view::npos) return std::nullopt;
    size_t k = term.size();
    while (k > 0 && term[k - 1] >= '0' && term[k - 1] <= '9') --k;
    bool neg = k > 0 && k < term.size() && (term[k - 1] == '-' || term[k - 1] == '+');
    size_t atomEnd = neg ? k - 1 : k;
    if (atomEnd == 0) return std::nullopt;
    int exp = 1;
    if (k < term.size()) {
      exp = 0;
      for (size_t p = k; p < term.size(); ++p) exp = exp * 10 + (term[p] - '0');
      if (exp > 99) return std::nullopt;
      if (term[k - 1] == '-') exp = -exp;
    }
    std::string atom(term.substr(0, atomEnd));
    bool found = false;
    for (auto& [a, e] : terms)
      if (a == atom) {
        e += sign * exp;
        found = true;
      }
    if (!found) terms.emplace_back(std::move(atom), sign * exp);
    if (j >= u.size()) break;
    sign = u[j] == '/' ? -1 : 1;
    i = j + 1;
  }
  return terms;
}

// The unit of a product (sign 1) or quotient (sign -1) of two units.
std::string combineUnits(std::string_view a, std::string_view b, int sign) {
  auto ta = unitTerms(a), tb = unitTerms(b);
  if (!ta || !tb) {
    std::string unit(a);
    unit.push_back(sign > 0 ? '.' : '/');
    unit += wrapUnit(b);
    return unit;
  }
  for (auto& [atom, e] : *tb) {
    bool found = false;
    for (auto& [a2, e2] : *ta)
      if (a2 == atom) {
        e2 += sign * e;
        found = true;
      }
    if (!found) ta->emplace_back(atom, sign * e);
  }
  // UCUM reads '.' and '/' left to right: g/m/s is g/(m.s), so each divisor gets its '/'.
  std::string num, den;
  for (const auto& [atom, e] : *ta) {
    if (e == 0) continue;
    int x = e > 0 ? e : -e;
    if (e > 0) {
      if (!num.empty()) num.push_back('.');
      num += atom;
    } else {
      den.push_back('/');
      den += atom;
    }
    if (x != 1) (e > 0 ? num : den) += std::to_string(x);
  }
  if (num.empty() && den.empty()) return "1";
  return (num.empty() ? "1" : num) + den;
}

}  // namespace

std::optional<Quantity> Quantity::mul(const Quantity& a, const Quantity& b) {
  std::optional<Decimal> v = a.value_.mul(b.value_);
  if (!v) return std::nullopt;
  UnitInfo ua = unitInfo(a.unit_), ub = unitInfo(b.unit_);
  if (ub.code == "1") return Quantity(*v, a.unit_);
  if (ua.code == "1") return Quantity(*v, b.unit_);
  return Quantity(*v, combineUnits(ua.code, ub.code, 1));
}

std::optional<Quantity> Quantity::div(const Quantity& a, const Quantity& b) {
  std::optional<Decimal> v = a.value_.div(b.value_);
  if (!v) return std::nullopt;
  UnitInfo ua = unitInfo(a.unit_), ub = unitInfo(b.unit_);
  if (ub.code == "1") return Quantity(*v, a.unit_);
  if (ua.code == ub.code) return Quantity(*v, "1");
  return Quantity(*v, combineUnits(ua.code, ub.code, -1));
}

Decimal Decimal::trimmed(int minScale) const { return trimZeros(*this, minScale); }

}  // namespace hoa::fhir::fhirpath
