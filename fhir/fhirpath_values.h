#pragma once
// FHIRPath System values that need more than a C++ scalar: exact decimals, partial
// dates/times with timezone semantics, and quantities with UCUM units.
//
// Everything here is a plain value type: no allocation beyond std::string, no global
// state, safe to use from many threads.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hoa::fhir::fhirpath {

// A 128-bit signed integer; __extension__ keeps -Wpedantic quiet about the GNU type.
__extension__ typedef __int128 int128;

class Quantity;

// ---------------------------------------------------------------------------------
// Decimal: an exact decimal number, mantissa × 10^-scale, that keeps its scale
// (1.50 has scale 2 and prints as "1.50"). 38 significant digits.
class Decimal {
 public:
  static constexpr int kMaxScale = 30;
  // Scale given to results of division and of the math functions that are not exact.
  static constexpr int kDivisionScale = 8;

  Decimal() = default;
  Decimal(int128 mantissa, int scale) : mantissa_(mantissa), scale_(scale) {}
  static Decimal fromInt(int64_t v) { return Decimal(v, 0); }
  // Parses FHIR/FHIRPath decimal text: [+-]?digits(.digits)?([eE][+-]?digits)?. An exponent
  // is folded into the scale (1.5e2 -> 150, 1E-22 -> scale 22). Fails on any other text
  // and on values that do not fit (more than 38 significant digits, or more than
  // kMaxScale digits after the point unless the excess digits are zeros, which are
  // dropped). "-0.0" keeps its sign for printing.
  static std::optional<Decimal> parse(std::string_view text);
  // The nearest decimal of a double with at most `significantDigits` significant digits,
  // trailing zeros after the point removed (used for sqrt, ln, exp, log, power).
  static std::optional<Decimal> fromDouble(double v, int significantDigits = 15);

  int128 mantissa() const { return mantissa_; }
  int scale() const { return scale_; }
  bool isZero() const { return mantissa_ == 0; }
  bool isNegative() const { return mantissa_ < 0; }
  double toDouble() const;
  // The integer part when the value is integral and fits in int64.
  std::optional<int64_t> toInt64() const;

  // Keeps the scale: "1.50", "-0.001", "150"; never an exponent.
  std::string toString() const;

  // Arithmetic; nullopt on overflow (or division by zero). Addition and subtraction use
  // the larger scale; multiplication the sum of scales (capped at kMaxScale, rounded
  // half away from zero); division gives max(kDivisionScale, scales) digits, rounded,
  // then trailing zeros beyond the larger operand scale removed (4.0/2.0 = 2.0,
  // 1/3 = 0.33333333).
  std::optional<Decimal> add(const Decimal& o) const;
  std::optional<Decimal> sub(const Decimal& o) const;
  std::optional<Decimal> mul(const Decimal& o) const;
  std::optional<Decimal> div(const Decimal& o) const;
  // Truncated integer division and the matching remainder (FHIRPath div and mod).
  std::optional<Decimal> intDiv(const Decimal& o) const;
  std::optional<Decimal> mod(const Decimal& o) const;
  Decimal negate() const { return Decimal(-mantissa_, scale_); }
  Decimal abs() const { return mantissa_ < 0 ? negate() : *this; }

  // Rounds half away from zero to `digits` decimal places (digits >= 0).
  Decimal round(int digits) const;
  Decimal floor() const;    // scale 0
  Decimal ceiling() const;  // scale 0
  Decimal truncate() const; // scale 0
  // Same value with the given scale (adds zeros, or rounds when reducing); unchanged when
  // the added zeros would not fit in 38 digits.
  Decimal rescale(int scale) const;
  // Same value without trailing zeros after the point, keeping at least minScale digits.
  Decimal trimmed(int minScale) const;

  // Numeric comparison regardless of scale: -1, 0, 1.
  int compare(const Decimal& o) const;
  // FHIRPath equivalence (~): both rounded to the smaller of the two scales, then equal.
  bool equivalent(const Decimal& o) const;
  // Significant digits after the point as written (1.58700 -> 5); FHIRPath precision().
  int precision() const { return scale_; }

  // FHIRPath lowBoundary()/highBoundary() for a decimal: the least/greatest value the
  // written text could stand for, given with `precision` digits after the point (default
  // 8); nullopt when precision < 0 or > 28. 1.587 -> 1.58650000 / 1.58750000;
  // 1.587 with precision 2 -> 1.58 / 1.59; 120 (an integer) with 2 -> 119.50 / 120.50.
  std::optional<Decimal> lowBoundary(std::optional<int> precision) const;
  std::optional<Decimal> highBoundary(std::optional<int> precision) const;

 private:
  int128 mantissa_ = 0;
  int scale_ = 0;
  // A zero written or computed with a minus sign ("-0.0", (-0.0034).lowBoundary(1)):
  // printed with its sign, otherwise an ordinary zero.
  bool negativeZero_ = false;
};

// ---------------------------------------------------------------------------------
// Temporal: a FHIRPath Date, DateTime or Time with partial precision.
enum class TemporalKind : uint8_t { Date, DateTime, Time };

// How much of the value is given. Second and Millisecond count as one precision for
// comparison (@T10:30:00 = @T10:30:00.0), as the specification says.
enum class Precision : uint8_t { Year, Month, Day, Hour, Minute, Second, Millisecond };

struct Temporal {
  TemporalKind kind = TemporalKind::Date;
  Precision precision = Precision::Year;
  int year = 0, month = 1, day = 1;  // Date and DateTime
  int hour = 0, minute = 0, second = 0, millisecond = 0;
  int fractionDigits = 0;            // digits written after the seconds' point (for output)
  std::optional<int> tzMinutes;      // DateTime only: offset from UTC in minutes (Z = 0)
  bool zulu = true;                  // a zero offset is written "Z" (true) or "+00:00"

  // FHIRPath literal text without the '@': "2015-02-04T14:34:28.123+10:00", "2015T",
  // "T14:34". A Time has no timezone (a literal with one is invalid).
  static std::optional<Temporal> parseLiteral(std::string_view textAfterAt);
  // FHIR primitive text of the given FHIR type: date ("2015", "2015-02", "2015-02-04"),
  // dateTime/instant ("2015-02-04T14:34:28.123+10:00"), time ("14:34:28"). Also used by
  // toDate()/toDateTime()/toTime() on strings (which accept the same forms).
  static std::optional<Temporal> parseFhir(std::string_view text, TemporalKind kind);

  // FHIRPath string form without '@': "1974-12-25", "2015-02-04T14:34:28.123+10:00",
  // "14:34" (Time: no leading 'T'). A DateTime of year/month/day precision prints as the
  // date followed by 'T' only in literal form; toString() gives the FHIR form without 'T'.
  std::string toString() const;
  // Literal form with '@' (and "T" prefix for a Time, trailing 'T' for a date-precision
  // DateTime): used when printing test expectations.
  std::string toLiteral() const;

  // FHIRPath precision() digits: year 4, month 6, day 8, hour 10, minute 12, second 14,
  // millisecond 17; Time: hour 2, minute 4, second 6, millisecond 9.
  int precisionDigits() const;

  // Comparison for =, <, >, <=, >=: nullopt when the result is unknown, that is when the
  // values are equal up to the coarser precision and their precisions differ, or when one
  // has a timezone and the other does not while both have a time part. Date vs DateTime
  // compare as DateTime. Both with timezones compare in UTC.
  static std::optional<int> compare(const Temporal& a, const Temporal& b);
  // Equivalence (~): false when precisions differ, otherwise compare() == 0.
  static bool equivalent(const Temporal& a, const Temporal& b);

  // Adds `amount` of a calendar unit (year, month, week, day, hour, minute, second,
  // millisecond; also their UCUM forms 'a','mo','wk','d','h','min','s','ms' — but for a
  // Date/DateTime 'a' and 'mo' are rejected as the specification's tests expect, see
  // .cc). Decimal amounts are truncated to whole units of the quantity's unit (the
  // specification's tests: + 7.7 days adds 7 days, + 0.1 's' adds nothing). A unit finer
  // than the value's precision is converted to the precision and truncated (@2014 + 24
  // months = @2016; @2014-01-01T10 + 90 minutes adds 1 hour). Month/year arithmetic
  // clamps the day to the month's last day; a Time wraps around midnight. Returns nullopt
  // when the unit is not a time unit, or the unit is finer than the value's precision in
  // a way that cannot be applied (hours and finer to a Date, days or weeks to a year or
  // month precision, years/months/weeks/days to a Time), or the result is out of range
  // (year 1..9999).
  static std::optional<Temporal> add(const Temporal& t, const Quantity& q, bool subtract);

  // lowBoundary()/highBoundary(): the earliest/latest value at the given precision
  // (digits as precisionDigits() counts them; default: the finest, 17 for a DateTime, 8
  // for a Date, 9 for a Time; nullopt for other digit counts). A DateTime without timezone
  // gets +14:00 at the low boundary and -12:00 at the high boundary. The kind is kept (a
  // DateTime to 8 digits is a DateTime of day precision). As the specification's tests
  // expect, a DateTime of hour precision counts as its minute :00 first
  // (@2014-01-01T08.highBoundary(17) = @2014-01-01T08:00:59.999-12:00).
  std::optional<Temporal> lowBoundary(std::optional<int> digits) const;
  std::optional<Temporal> highBoundary(std::optional<int> digits) const;
};

// ---------------------------------------------------------------------------------
// Quantity: a decimal value with a unit. The unit is a UCUM code ("mg", "m2", "g/m",
// "[lb_av]", "mm[Hg]", "%", "1") or one of the FHIRPath calendar duration keywords
// (year(s), month(s), week(s), day(s), hour(s), minute(s), second(s), millisecond(s)).
class Quantity {
 public:
  Quantity() = default;
  Quantity(Decimal value, std::string unit) : value_(value), unit_(std::move(unit)) {}

  const Decimal& value() const { return value_; }
  const std::string& unit() const { return unit_; }
  bool isCalendarUnit() const;  // a keyword such as "week" or "years"

  // FHIRPath form: "1 'wk'", "1 week", "4.0 'g'".
  std::string toString() const;
  // Parses the string form accepted by toQuantity(): "1", "1.5 'mg'", "1 day", "4 days";
  // a bare UCUM code without quotes ("1 wk") is rejected. Unitless gives unit "1".
  static std::optional<Quantity> parse(std::string_view text);

  // Equality: nullopt when the units are not comparable, or when a calendar year/month
  // is compared with anything but a calendar year or month (1 year = 1 'a' is unknown,
  // 1 year = 12 months is true);
  // weeks/days/hours/minutes/seconds/milliseconds equal their UCUM forms. Otherwise the
  // values are compared after conversion to the same unit.
  static std::optional<bool> equals(const Quantity& a, const Quantity& b);
  // Equivalence: like equals, but calendar years/months are equivalent to 'a'/'mo', and
  // values are compared rounded to the smaller precision; non-comparable units give false.
  static bool equivalent(const Quantity& a, const Quantity& b);
  // Ordering: nullopt when not comparable.
  static std::optional<int> compare(const Quantity& a, const Quantity& b);
  // True when both units convert to each other (FHIRPath comparable()).
  static bool comparable(const Quantity& a, const Quantity& b);

  // Arithmetic. + and - need comparable units (result in the left operand's unit);
  // * and / multiply/divide values and combine units ("cm" * "m" -> "cm.m", which
  // compares equal to "m2" after conversion; "m"/"m" -> "1"). nullopt when not possible.
  static std::optional<Quantity> add(const Quantity& a, const Quantity& b, bool subtract);
  static std::optional<Quantity> mul(const Quantity& a, const Quantity& b);
  static std::optional<Quantity> div(const Quantity& a, const Quantity& b);

 private:
  Decimal value_;
  std::string unit_ = "1";
};

// UCUM support for the common units: metric prefixes on metric atoms; time (s, min, h,
// d, wk, mo, a), mass (g, [lb_av], [oz_av], [gr]), length (m, [in_i], [ft_i], [yd_i],
// [mi_i]), volume (l, L), amount (mol, eq), pressure (Pa, bar, mm[Hg]), %, 1, [iU], U,
// 10*N, products with '.', quotients with '/', integer exponents, annotations {..}.
namespace ucum {
// A unit reduced to base dimensions and a factor: value_in_unit * factor = value in base.
struct Canonical {
  Decimal factor;
  int8_t dims[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // m, g, s, mol, K, C(charge), cd, (arbitrary)
  bool sameDimensions(const Canonical& o) const;
};
// nullopt when the unit is not understood.
std::optional<Canonical> canonicalize(std::string_view ucumCode);
// The UCUM code for a FHIRPath calendar keyword ("weeks" -> "wk"); nullopt otherwise.
std::optional<std::string_view> calendarToUcum(std::string_view keyword);
// Converts value from one unit to another; nullopt when not comparable.
std::optional<Decimal> convert(const Decimal& value, std::string_view from, std::string_view to);
}  // namespace ucum

}  // namespace hoa::fhir::fhirpath
