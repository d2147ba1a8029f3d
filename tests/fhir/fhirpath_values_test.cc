#include "fhir/fhirpath_values.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace hoa::fhir::fhirpath {
namespace {

Decimal dec(const char* text) {
  std::optional<Decimal> d = Decimal::parse(text);
  EXPECT_TRUE(d.has_value()) << "cannot parse decimal " << text;
  return d.value_or(Decimal());
}

std::string str(const std::optional<Decimal>& d) { return d ? d->toString() : "<none>"; }
std::string str(const std::optional<Temporal>& t) { return t ? t->toLiteral() : "<none>"; }
std::string str(const std::optional<Quantity>& q) { return q ? q->toString() : "<none>"; }

Temporal lit(const char* textAfterAt) {
  std::optional<Temporal> t = Temporal::parseLiteral(textAfterAt);
  EXPECT_TRUE(t.has_value()) << "cannot parse literal @" << textAfterAt;
  return t.value_or(Temporal());
}

Quantity qty(const char* value, const char* unit) { return Quantity(dec(value), unit); }

// ---------------------------------------------------------------------------------
// Decimal

TEST(FhirPathDecimal, ParseKeepsScale) {
  EXPECT_EQ(dec("1.50").toString(), "1.50");
  EXPECT_EQ(dec("1.50").scale(), 2);
  EXPECT_EQ(dec("1.58700").precision(), 5);
  EXPECT_EQ(dec("-0.001").toString(), "-0.001");
  EXPECT_EQ(dec("150").toString(), "150");
  EXPECT_EQ(dec("0").toString(), "0");
  EXPECT_EQ(dec("0.0").toString(), "0.0");
  EXPECT_EQ(dec("+3").toString(), "3");
  EXPECT_EQ(dec("007.10").toString(), "7.10");
  EXPECT_EQ(dec("1234567890987654321.0").toString(), "1234567890987654321.0");
}

TEST(FhirPathDecimal, ParseFoldsExponents) {
  EXPECT_EQ(dec("1E-22").toString(), "0.0000000000000000000001");
  EXPECT_EQ(dec("1E-22").scale(), 22);
  EXPECT_EQ(dec("1.0e0").toString(), "1.0");
  EXPECT_EQ(dec("1.5e2").toString(), "150");
  EXPECT_EQ(dec("1.50e1").toString(), "15.0");
  EXPECT_EQ(dec("-2.5E+3").toString(), "-2500");
  EXPECT_EQ(dec("0e5").toString(), "0");
}

TEST(FhirPathDecimal, ParseRejectsInvalidText) {
  for (const char* text : {"", "-", "+", "1.", ".5", "1.a", "1e", "1e+", "abc", "1 ", " 1", "1..2",
                           "1.2.3", "--1", "1e2.5", "0x10", "1,5", "١"}) {
    EXPECT_FALSE(Decimal::parse(text).has_value()) << text;
  }
}

TEST(FhirPathDecimal, ParseRejectsValuesThatDoNotFit) {
  // 38 significant digits fit, 39 do not.
  EXPECT_EQ(str(Decimal::parse("99999999999999999999999999999999999999")),
            "99999999999999999999999999999999999999");
  EXPECT_FALSE(Decimal::parse("999999999999999999999999999999999999999").has_value());
  EXPECT_FALSE(Decimal::parse("1e38").has_value());
  EXPECT_TRUE(Decimal::parse("1e37").has_value());
  EXPECT_FALSE(Decimal::parse("1e-31").has_value());
  EXPECT_FALSE(Decimal::parse("1e99999999999").has_value());
  // Zeros beyond the maximum scale are dropped rather than refused.
  EXPECT_EQ(str(Decimal::parse("0.0000000000000000000000000000000000000000")),
            "0.000000000000000000000000000000");
  EXPECT_EQ(str(Decimal::parse("1.0000000000000000000000000000000")),
            "1.000000000000000000000000000000");
}

TEST(FhirPathDecimal, NegativeZeroKeepsItsSign) {
  Decimal z = dec("-0.0");
  EXPECT_EQ(z.toString(), "-0.0");
  EXPECT_EQ(z.compare(dec("0")), 0);
  EXPECT_TRUE(z.isZero());
  EXPECT_FALSE(z.isNegative());
  EXPECT_EQ(z.negate().toString(), "0.0");
}

TEST(FhirPathDecimal, EqualityIsNumeric) {
  EXPECT_EQ(dec("1.10").compare(dec("1.1")), 0);
  EXPECT_EQ(dec("0.0").compare(dec("0")), 0);
  EXPECT_EQ(dec("1.1").compare(dec("1.2")), -1);
  EXPECT_EQ(dec("1.2").compare(dec("1.1")), 1);
  EXPECT_EQ(dec("-1").compare(dec("1")), -1);
  EXPECT_EQ(dec("-1.5").compare(dec("-1.50")), 0);
  // Scales far apart: the alignment would overflow, the order is still right.
  Decimal big = dec("10000000000000000000000000000000000000");
  Decimal tiny = dec("0.000000000000000000000000000001");
  EXPECT_EQ(big.compare(tiny), 1);
  EXPECT_EQ(tiny.compare(big), -1);
  EXPECT_EQ(big.negate().compare(tiny), -1);
  EXPECT_EQ(tiny.compare(big.negate()), 1);
}

TEST(FhirPathDecimal, EquivalenceRoundsToTheSmallerScale) {
  Decimal third = *dec("1.2").div(dec("1.8"));
  EXPECT_TRUE(third.equivalent(dec("0.67")));
  EXPECT_FALSE(third.equivalent(dec("0.6")));
  EXPECT_TRUE(dec("1.10").equivalent(dec("1.1")));
  EXPECT_TRUE(dec("0.0").equivalent(dec("0")));
  EXPECT_FALSE(dec("1.1").equivalent(dec("1.2")));
  EXPECT_TRUE(dec("1.25").equivalent(dec("1.3")));
  EXPECT_TRUE(dec("-1.25").equivalent(dec("-1.3")));
}

TEST(FhirPathDecimal, AdditionAndSubtraction) {
  EXPECT_EQ(str(dec("1.2").add(dec("1.8"))), "3.0");
  EXPECT_EQ(str(dec("1.8").sub(dec("1.2"))), "0.6");
  EXPECT_EQ(str(dec("1").add(dec("0.25"))), "1.25");
  EXPECT_EQ(str(dec("1").sub(dec("1"))), "0");
  EXPECT_EQ(str(dec("-1.5").add(dec("0.5"))), "-1.0");
  EXPECT_EQ(dec("1.2").add(dec("1.8"))->compare(dec("3.0")), 0);
}

TEST(FhirPathDecimal, AdditionOverflowIsNullopt) {
  Decimal max = dec("99999999999999999999999999999999999999");
  EXPECT_FALSE(max.add(dec("1")).has_value());
  EXPECT_FALSE(max.negate().sub(dec("1")).has_value());
  EXPECT_FALSE(max.add(dec("0.1")).has_value());  // would need 39 digits
  EXPECT_EQ(str(max.sub(dec("1"))), "99999999999999999999999999999999999998");
}

TEST(FhirPathDecimal, Multiplication) {
  EXPECT_EQ(str(dec("1.2").mul(dec("1.8"))), "2.16");
  EXPECT_EQ(str(dec("2.0").mul(dec("2.0"))), "4.00");
  EXPECT_EQ(str(dec("1").mul(dec("0"))), "0");
  EXPECT_EQ(str(dec("-3").mul(dec("0.5"))), "-1.5");
  // Scales summing beyond 30 are rounded to 30.
  EXPECT_EQ(str(dec("0.000000000000005").mul(dec("0.0000000000000001"))),
            "0.000000000000000000000000000001");
  EXPECT_EQ(str(dec("1.2345678901234567890123456789").mul(dec("1.2345678901234567890123456789"))),
            "1.524157875323883675049535156254");
  EXPECT_FALSE(dec("10000000000000000000000000000000000000").mul(dec("10")).has_value());
  EXPECT_FALSE(dec("99999999999999999999999999999999999999")
                   .mul(dec("99999999999999999999999999999999999999"))
                   .has_value());
}

TEST(FhirPathDecimal, Division) {
  EXPECT_EQ(str(dec("1.2").div(dec("1.8"))), "0.66666667");
  EXPECT_EQ(str(dec("4.0").div(dec("2.0"))), "2.0");
  EXPECT_EQ(str(dec("4").div(dec("2"))), "2");
  EXPECT_EQ(str(dec("1").div(dec("2"))), "0.5");
  EXPECT_EQ(str(dec("1").div(dec("1"))), "1");
  EXPECT_EQ(str(dec("1").div(dec("3"))), "0.33333333");
  EXPECT_EQ(str(dec("-1").div(dec("3"))), "-0.33333333");
  EXPECT_EQ(str(dec("2").div(dec("3"))), "0.66666667");
  EXPECT_EQ(str(dec("1").div(dec("-8"))), "-0.125");
  EXPECT_EQ(str(dec("1.000").div(dec("4"))), "0.250");
  EXPECT_FALSE(dec("1").div(dec("0")).has_value());
  EXPECT_FALSE(dec("1.5").div(dec("0.00")).has_value());
  EXPECT_EQ(str(dec("1").div(dec("1.00000000000000000000000000001"))),
            "0.99999999999999999999999999999");
  // A quotient too large for 8 decimals keeps fewer; one too large for an integer fails.
  EXPECT_EQ(str(dec("10000000000000000000000000000000000").div(dec("3"))),
            "3333333333333333333333333333333333.3333");
  EXPECT_FALSE(dec("10000000000000000000000000000000000000").div(dec("0.001")).has_value());
}

TEST(FhirPathDecimal, IntegerDivisionAndModulo) {
  EXPECT_EQ(str(dec("2.2").intDiv(dec("1.8"))), "1");
  EXPECT_EQ(str(dec("2.2").mod(dec("1.8"))), "0.4");
  EXPECT_EQ(str(dec("5").intDiv(dec("2"))), "2");
  EXPECT_EQ(str(dec("5").mod(dec("2"))), "1");
  EXPECT_EQ(str(dec("4").mod(dec("2"))), "0");
  EXPECT_EQ(str(dec("-5").intDiv(dec("2"))), "-2");
  EXPECT_EQ(str(dec("-5").mod(dec("2"))), "-1");
  EXPECT_EQ(str(dec("5").mod(dec("-2"))), "1");
  EXPECT_EQ(str(dec("7.5").mod(dec("2"))), "1.5");
  EXPECT_FALSE(dec("5").intDiv(dec("0")).has_value());
  EXPECT_FALSE(dec("5").mod(dec("0.0")).has_value());
  // Operands far apart in scale go through the wide path.
  EXPECT_EQ(str(dec("10000000000000000000000000000000000000").mod(dec("0.000000000000000000000000000003"))),
            "0.000000000000000000000000000001");
  EXPECT_FALSE(dec("10000000000000000000000000000000000000")
                   .intDiv(dec("0.000000000000000000000000000003"))
                   .has_value());
}

TEST(FhirPathDecimal, RoundHalfAwayFromZero) {
  EXPECT_EQ(dec("3.14159").round(3).toString(), "3.142");
  EXPECT_EQ(dec("1.2").div(dec("1.8"))->round(2).toString(), "0.67");
  EXPECT_EQ(dec("1").round(0).toString(), "1");
  EXPECT_EQ(dec("2.5").round(0).toString(), "3");
  EXPECT_EQ(dec("-2.5").round(0).toString(), "-3");
  EXPECT_EQ(dec("-2.4").round(0).toString(), "-2");
  EXPECT_EQ(dec("0.0049").round(2).toString(), "0.00");
  EXPECT_EQ(dec("1.5").round(3).toString(), "1.5");  // no digits to drop: unchanged
  EXPECT_EQ(dec("9.999").round(2).toString(), "10.00");
  EXPECT_EQ(dec("1.5").round(-1).toString(), "2");
}

TEST(FhirPathDecimal, FloorCeilingTruncate) {
  EXPECT_EQ(dec("-2.1").floor().toString(), "-3");
  EXPECT_EQ(dec("2.1").floor().toString(), "2");
  EXPECT_EQ(dec("1").floor().toString(), "1");
  EXPECT_EQ(dec("-2.0").floor().toString(), "-2");
  EXPECT_EQ(dec("-1.1").ceiling().toString(), "-1");
  EXPECT_EQ(dec("1.1").ceiling().toString(), "2");
  EXPECT_EQ(dec("1").ceiling().toString(), "1");
  EXPECT_EQ(dec("-1.56").truncate().toString(), "-1");
  EXPECT_EQ(dec("1.00000001").truncate().toString(), "1");
  EXPECT_EQ(dec("101").truncate().toString(), "101");
  EXPECT_EQ(dec("0.000000000000000000000000000001").ceiling().toString(), "1");
  EXPECT_EQ(dec("-0.000000000000000000000000000001").floor().toString(), "-1");
  EXPECT_EQ(dec("-0.000000000000000000000000000001").truncate().toString(), "0");
}

TEST(FhirPathDecimal, Rescale) {
  EXPECT_EQ(dec("1.5").rescale(3).toString(), "1.500");
  EXPECT_EQ(dec("1.555").rescale(2).toString(), "1.56");
  EXPECT_EQ(dec("1.555").rescale(0).toString(), "2");
  // Does not fit: unchanged.
  EXPECT_EQ(dec("10000000000000000000000000000000000000").rescale(2).toString(),
            "10000000000000000000000000000000000000");
}

TEST(FhirPathDecimal, Conversions) {
  EXPECT_EQ(dec("5.0").toInt64(), 5);
  EXPECT_EQ(dec("-3").toInt64(), -3);
  EXPECT_FALSE(dec("5.5").toInt64().has_value());
  EXPECT_FALSE(dec("10000000000000000000").toInt64().has_value());
  EXPECT_EQ(dec("9223372036854775807").toInt64(), INT64_MAX);
  EXPECT_EQ(Decimal::fromInt(-42).toString(), "-42");
  EXPECT_DOUBLE_EQ(dec("1.5").toDouble(), 1.5);
  EXPECT_DOUBLE_EQ(dec("0.1").toDouble(), 0.1);
  EXPECT_DOUBLE_EQ(dec("-1E-22").toDouble(), -1e-22);
}

TEST(FhirPathDecimal, FromDouble) {
  EXPECT_EQ(str(Decimal::fromDouble(std::sqrt(81.0))), "9");
  EXPECT_EQ(str(Decimal::fromDouble(0.1 + 0.2)), "0.3");
  EXPECT_EQ(str(Decimal::fromDouble(6.25)), "6.25");
  EXPECT_EQ(str(Decimal::fromDouble(-2.5)), "-2.5");
  EXPECT_EQ(str(Decimal::fromDouble(0.0)), "0");
  EXPECT_EQ(str(Decimal::fromDouble(std::log(16.0) / std::log(2.0))), "4");
  EXPECT_EQ(str(Decimal::fromDouble(1.0 / 3.0, 5)), "0.33333");
  EXPECT_EQ(str(Decimal::fromDouble(123456789.0)), "123456789");
  EXPECT_EQ(str(Decimal::fromDouble(1e30)), "1000000000000000000000000000000");
  EXPECT_EQ(str(Decimal::fromDouble(1e-40)), "0");
  EXPECT_EQ(str(Decimal::fromDouble(1.5e-29)), "0.000000000000000000000000000015");
  EXPECT_FALSE(Decimal::fromDouble(1e40).has_value());
  EXPECT_FALSE(Decimal::fromDouble(NAN).has_value());
  EXPECT_FALSE(Decimal::fromDouble(INFINITY).has_value());
}

TEST(FhirPathDecimal, LowBoundary) {
  EXPECT_EQ(str(dec("1.587").lowBoundary(std::nullopt)), "1.58650000");
  EXPECT_EQ(str(dec("1.587").lowBoundary(6)), "1.586500");
  EXPECT_EQ(str(dec("1.587").lowBoundary(2)), "1.58");
  EXPECT_EQ(str(dec("1.587").lowBoundary(0)), "1");
  EXPECT_EQ(str(dec("1.587").lowBoundary(-1)), "<none>");
  EXPECT_EQ(str(dec("1.587").lowBoundary(32)), "<none>");
  EXPECT_EQ(str(dec("1.587").lowBoundary(39)), "<none>");
  EXPECT_EQ(str(dec("1.587").lowBoundary(28)), "1.5865000000000000000000000000");
  EXPECT_EQ(str(dec("-1.587").lowBoundary(std::nullopt)), "-1.58750000");
  EXPECT_EQ(str(dec("-1.587").lowBoundary(6)), "-1.587500");
  EXPECT_EQ(str(dec("-1.587").lowBoundary(2)), "-1.59");
  EXPECT_EQ(str(dec("-1.587").lowBoundary(0)), "-2");
  EXPECT_EQ(str(dec("1").lowBoundary(std::nullopt)), "0.50000000");
  EXPECT_EQ(str(dec("1").lowBoundary(0)), "0");
  EXPECT_EQ(str(dec("1").lowBoundary(5)), "0.50000");
  EXPECT_EQ(str(dec("12.587").lowBoundary(2)), "12.58");
  EXPECT_EQ(str(dec("12.500").lowBoundary(4)), "12.4995");
  EXPECT_EQ(str(dec("120").lowBoundary(2)), "119.50");
  EXPECT_EQ(str(dec("-120").lowBoundary(2)), "-120.50");
  EXPECT_EQ(str(dec("0.0034").lowBoundary(1)), "0.0");
  EXPECT_EQ(str(dec("-0.0034").lowBoundary(1)), "-0.0");
  EXPECT_EQ(str(dec("0").lowBoundary(std::nullopt)), "-0.50000000");
}

TEST(FhirPathDecimal, HighBoundary) {
  EXPECT_EQ(str(dec("1.587").highBoundary(std::nullopt)), "1.58750000");
  EXPECT_EQ(str(dec("1.587").highBoundary(2)), "1.59");
  EXPECT_EQ(str(dec("1.587").highBoundary(6)), "1.587500");
  EXPECT_EQ(str(dec("1.587").highBoundary(8)), "1.58750000");
  EXPECT_EQ(str(dec("1.587").highBoundary(-1)), "<none>");
  EXPECT_EQ(str(dec("1.587").highBoundary(39)), "<none>");
  EXPECT_EQ(str(dec("-1.587").highBoundary(std::nullopt)), "-1.58650000");
  EXPECT_EQ(str(dec("-1.587").highBoundary(2)), "-1.58");
  EXPECT_EQ(str(dec("-1.587").highBoundary(6)), "-1.586500");
  EXPECT_EQ(str(dec("1").highBoundary(std::nullopt)), "1.50000000");
  EXPECT_EQ(str(dec("1").highBoundary(0)), "2");
  EXPECT_EQ(str(dec("1").highBoundary(5)), "1.50000");
  EXPECT_EQ(str(dec("12.587").highBoundary(2)), "12.59");
  EXPECT_EQ(str(dec("12.500").highBoundary(4)), "12.5005");
  EXPECT_EQ(str(dec("120").highBoundary(2)), "120.50");
  EXPECT_EQ(str(dec("120").highBoundary(2)->negate()), "-120.50");  // -120.highBoundary(2)
  EXPECT_EQ(str(dec("0.0034").highBoundary(1)), "0.0");
  EXPECT_EQ(str(dec("0.0034").highBoundary(1)->negate()), "0.0");  // -0.0034.highBoundary(1)
  EXPECT_EQ(str(dec("-0.0034").highBoundary(1)), "-0.0");
  EXPECT_EQ(str(dec("0").highBoundary(std::nullopt)), "0.50000000");
}

TEST(FhirPathDecimal, BoundaryOverflowIsNullopt) {
  Decimal max = dec("99999999999999999999999999999999999999");
  EXPECT_FALSE(max.highBoundary(std::nullopt).has_value());
  EXPECT_FALSE(max.lowBoundary(2).has_value());
  EXPECT_EQ(str(dec("99999999999999999999999999999").lowBoundary(0)),
            "99999999999999999999999999998");
}

// ---------------------------------------------------------------------------------
// Temporal

TEST(FhirPathTemporal, ParsesLiteralDates) {
  Temporal y = lit("2015");
  EXPECT_EQ(y.kind, TemporalKind::Date);
  EXPECT_EQ(y.precision, Precision::Year);
  EXPECT_EQ(y.year, 2015);
  EXPECT_EQ(lit("2015-02").precision, Precision::Month);
  Temporal d = lit("2015-02-04");
  EXPECT_EQ(d.precision, Precision::Day);
  EXPECT_EQ(d.month, 2);
  EXPECT_EQ(d.day, 4);
  EXPECT_EQ(d.toString(), "2015-02-04");
}

TEST(FhirPathTemporal, ParsesLiteralDateTimes) {
  for (const char* text : {"2015T", "2015-02T", "2015-02-04T"}) {
    Temporal t = lit(text);
    EXPECT_EQ(t.kind, TemporalKind::DateTime) << text;
    EXPECT_EQ(t.toLiteral(), std::string("@") + text);
  }
  EXPECT_EQ(lit("2015T").precision, Precision::Year);
  EXPECT_EQ(lit("2015-02-04T").toString(), "2015-02-04");
  EXPECT_EQ(lit("2015-02-04T14").precision, Precision::Hour);
  EXPECT_EQ(lit("2015-02-04T14:34").precision, Precision::Minute);
  EXPECT_EQ(lit("2015-02-04T14:34:28").precision, Precision::Second);
  Temporal ms = lit("2015-02-04T14:34:28.123");
  EXPECT_EQ(ms.precision, Precision::Millisecond);
  EXPECT_EQ(ms.millisecond, 123);
  EXPECT_FALSE(ms.tzMinutes.has_value());
  Temporal z = lit("2015-02-04T14:34:28Z");
  EXPECT_EQ(z.tzMinutes, 0);
  EXPECT_EQ(z.toString(), "2015-02-04T14:34:28Z");
  Temporal off = lit("2015-02-04T14:34:28.123+10:00");
  EXPECT_EQ(off.tzMinutes, 600);
  EXPECT_EQ(off.toString(), "2015-02-04T14:34:28.123+10:00");
  EXPECT_EQ(lit("2017-11-05T01:30:00.0-04:30").tzMinutes, -270);
  EXPECT_EQ(lit("2017-11-05T01:30:00.0-04:30").toString(), "2017-11-05T01:30:00.0-04:30");
  EXPECT_EQ(lit("2015-02-04T14:34+00:00").toString(), "2015-02-04T14:34+00:00");
}

TEST(FhirPathTemporal, ParsesLiteralTimes) {
  Temporal h = lit("T14");
  EXPECT_EQ(h.kind, TemporalKind::Time);
  EXPECT_EQ(h.precision, Precision::Hour);
  EXPECT_EQ(h.toString(), "14");
  EXPECT_EQ(h.toLiteral(), "@T14");
  EXPECT_EQ(lit("T14:34").toString(), "14:34");
  EXPECT_EQ(lit("T14:34:28").precision, Precision::Second);
  Temporal ms = lit("T14:34:28.123");
  EXPECT_EQ(ms.precision, Precision::Millisecond);
  EXPECT_EQ(ms.toLiteral(), "@T14:34:28.123");
}

TEST(FhirPathTemporal, RejectsInvalidLiterals) {
  for (const char* text :
       {"", "T", "T14:34:28Z", "T14:34:28+10:00", "2015-13", "2015-00", "2015-02-30", "2015-02-29",
        "1900-02-29", "2015-04-31", "0000", "15", "20150", "2015-2", "2015-02-4", "2015T14",
        "2015-02T14", "2015-02-04TZ", "2015-02-04T24", "2015-02-04T14:60", "2015-02-04T14:34:61",
        "2015-02-04T14:34:28.", "2015-02-04T14:34:28.1234567890", "2015-02-04T14:34+15:00",
        "2015-02-04T14:34+10", "2015-02-04T14:34+10:60", "2015-02-04T14:34Z ", "T25", "T14:3",
        "2015-02-04 14:34", "2015-02-04T14:34:28Zx", "-2015"}) {
    EXPECT_FALSE(Temporal::parseLiteral(text).has_value()) << text;
  }
}

TEST(FhirPathTemporal, LeapYears) {
  EXPECT_TRUE(Temporal::parseLiteral("2016-02-29").has_value());
  EXPECT_TRUE(Temporal::parseLiteral("2000-02-29").has_value());
  EXPECT_FALSE(Temporal::parseLiteral("2100-02-29").has_value());
  EXPECT_FALSE(Temporal::parseLiteral("2019-02-29").has_value());
}

TEST(FhirPathTemporal, ParsesFhirForms) {
  using K = TemporalKind;
  EXPECT_EQ(str(Temporal::parseFhir("2015", K::Date)), "@2015");
  EXPECT_EQ(str(Temporal::parseFhir("2015-02", K::Date)), "@2015-02");
  EXPECT_EQ(str(Temporal::parseFhir("2015-02-04", K::Date)), "@2015-02-04");
  EXPECT_FALSE(Temporal::parseFhir("2015-02-04T10:00:00Z", K::Date).has_value());
  EXPECT_FALSE(Temporal::parseFhir("2015-02-04T", K::Date).has_value());

  EXPECT_EQ(str(Temporal::parseFhir("2015", K::DateTime)), "@2015T");
  EXPECT_EQ(str(Temporal::parseFhir("2015-02-04", K::DateTime)), "@2015-02-04T");
  EXPECT_EQ(str(Temporal::parseFhir("2015-02-04T14", K::DateTime)), "@2015-02-04T14");
  EXPECT_EQ(str(Temporal::parseFhir("2015-02-04T14:34", K::DateTime)), "@2015-02-04T14:34");
  EXPECT_EQ(str(Temporal::parseFhir("2015-02-04T14:34:28", K::DateTime)), "@2015-02-04T14:34:28");
  EXPECT_EQ(str(Temporal::parseFhir("2015-02-04T14:34:28.123", K::DateTime)),
            "@2015-02-04T14:34:28.123");
  EXPECT_EQ(str(Temporal::parseFhir("2015-02-04T14:34:28Z", K::DateTime)),
            "@2015-02-04T14:34:28Z");
  EXPECT_EQ(str(Temporal::parseFhir("2015-02-04T14:34:28+10:00", K::DateTime)),
            "@2015-02-04T14:34:28+10:00");
  EXPECT_EQ(str(Temporal::parseFhir("2013-06-08T10:57:34.123456789-05:00", K::DateTime)),
            "@2013-06-08T10:57:34.123000000-05:00");
  EXPECT_FALSE(Temporal::parseFhir("2015-02-04T", K::DateTime).has_value());
  EXPECT_FALSE(Temporal::parseFhir("2015T14", K::DateTime).has_value());
  EXPECT_FALSE(Temporal::parseFhir("2015-02-04Z", K::DateTime).has_value());

  EXPECT_EQ(str(Temporal::parseFhir("14", K::Time)), "@T14");
  EXPECT_EQ(str(Temporal::parseFhir("14:34", K::Time)), "@T14:34");
  EXPECT_EQ(str(Temporal::parseFhir("14:34:28", K::Time)), "@T14:34:28");
  EXPECT_EQ(str(Temporal::parseFhir("14:34:28.123", K::Time)), "@T14:34:28.123");
  EXPECT_FALSE(Temporal::parseFhir("T14", K::Time).has_value());
  EXPECT_FALSE(Temporal::parseFhir("14:34:28Z", K::Time).has_value());
  EXPECT_FALSE(Temporal::parseFhir("24:00:00", K::Time).has_value());
}

TEST(FhirPathTemporal, ToStringKeepsFractionDigits) {
  EXPECT_EQ(lit("1973-12-25T00:00:00.000+10:00").toString(), "1973-12-25T00:00:00.000+10:00");
  EXPECT_EQ(lit("2012-04-15T15:30:31.0").toString(), "2012-04-15T15:30:31.0");
  EXPECT_EQ(lit("2012-04-15T15:30:31.50").toString(), "2012-04-15T15:30:31.50");
  EXPECT_EQ(lit("2012-04-15T15:30:31.50").millisecond, 500);
  EXPECT_EQ(lit("2014-12-14").toString(), "2014-12-14");
  EXPECT_EQ(lit("0001-01-01").toString(), "0001-01-01");
}

TEST(FhirPathTemporal, PrecisionDigits) {
  EXPECT_EQ(lit("2014").precisionDigits(), 4);
  EXPECT_EQ(lit("2014-01").precisionDigits(), 6);
  EXPECT_EQ(lit("2014-01-05").precisionDigits(), 8);
  EXPECT_EQ(lit("2014-01-05T10").precisionDigits(), 10);
  EXPECT_EQ(lit("2014-01-05T10:30").precisionDigits(), 12);
  EXPECT_EQ(lit("2014-01-05T10:30:00").precisionDigits(), 14);
  EXPECT_EQ(lit("2014-01-05T10:30:00.000").precisionDigits(), 17);
  EXPECT_EQ(lit("T10").precisionDigits(), 2);
  EXPECT_EQ(lit("T10:30").precisionDigits(), 4);
  EXPECT_EQ(lit("T10:30:00").precisionDigits(), 6);
  EXPECT_EQ(lit("T10:30:00.000").precisionDigits(), 9);
}

std::optional<int> cmp(const char* a, const char* b) {
  return Temporal::compare(lit(a), lit(b));
}

TEST(FhirPathTemporal, CompareSpecificationExamples) {
  EXPECT_EQ(cmp("2012-04-15", "2012-04-15"), 0);
  EXPECT_EQ(cmp("2012-04-15", "2012-04-16"), -1);
  EXPECT_EQ(cmp("2012-04-15", "2012-04-15T10:00:00"), std::nullopt);
  EXPECT_EQ(cmp("2012-04-15T15:00:00", "2012-04-15T10:00:00"), 1);
  EXPECT_EQ(cmp("2012-04-15T15:30:31", "2012-04-15T15:30:31.0"), 0);
  EXPECT_EQ(cmp("2012-04-15T15:30:31", "2012-04-15T15:30:31.1"), -1);
  EXPECT_EQ(cmp("2012-04-15T15:00:00Z", "2012-04-15T10:00:00"), std::nullopt);
  EXPECT_EQ(cmp("2012-04-15T15:00:00+02:00", "2012-04-15T16:00:00+03:00"), 0);
  EXPECT_EQ(cmp("2017-11-05T01:30:00.0-04:00", "2017-11-05T01:15:00.0-05:00"), -1);
  EXPECT_EQ(cmp("2017-11-05T01:30:00.0-04:00", "2017-11-05T00:30:00.0-05:00"), 0);
  EXPECT_EQ(cmp("2018-03", "2018-03-01"), std::nullopt);
  EXPECT_EQ(cmp("2018-03-01T10:30", "2018-03-01T10:30:00"), std::nullopt);
  EXPECT_EQ(cmp("T10:30", "T10:30:00"), std::nullopt);
  EXPECT_EQ(cmp("2018-03-01T10:30:00", "2018-03-01T10:30:00.0"), 0);
  EXPECT_EQ(cmp("T10:30:00", "T10:30:00.0"), 0);
  EXPECT_EQ(cmp("T12:00:00", "T14:00:00"), -1);
  EXPECT_EQ(cmp("T12:00:01", "T12:00:00"), 1);
  EXPECT_EQ(cmp("2014-12-13T12:00:01", "2014-12-13T12:00:00"), 1);
  EXPECT_EQ(cmp("2018-03", "2018-04-01"), -1);  // differs before the precisions do
  EXPECT_EQ(cmp("2018", "2019-04-01T10:00Z"), -1);
}

TEST(FhirPathTemporal, CompareAcrossTimezonesAndDays) {
  // The offsets carry the comparison over midnight and month/year ends.
  EXPECT_EQ(cmp("2012-01-01T01:00:00+02:00", "2011-12-31T23:00:00Z"), 0);
  EXPECT_EQ(cmp("2012-03-01T00:30:00+01:00", "2012-02-29T23:30:00Z"), 0);
  EXPECT_EQ(cmp("2012-04-15T15:00:00Z", "2012-04-15T15:00:00+00:00"), 0);
  // A date without time against a value with a timezone compares the dates as written.
  EXPECT_EQ(cmp("1974-12-25", "2024-05-01T10:00:00+02:00"), -1);
  EXPECT_EQ(cmp("2024-05-01T10:00:00+02:00", "1974-12-25"), 1);
  EXPECT_EQ(cmp("2024-05-01T01:00:00+05:00", "2024-05-01"), std::nullopt);
  // Time and date do not compare.
  EXPECT_EQ(cmp("T10:00", "2012-04-15"), std::nullopt);
}

TEST(FhirPathTemporal, Equivalence) {
  EXPECT_TRUE(Temporal::equivalent(lit("2012-04-15"), lit("2012-04-15")));
  EXPECT_FALSE(Temporal::equivalent(lit("2012-04-15"), lit("2012-04-16")));
  EXPECT_FALSE(Temporal::equivalent(lit("2012-04-15"), lit("2012-04-15T10:00:00")));
  EXPECT_TRUE(Temporal::equivalent(lit("2012-04-15T15:30:31"), lit("2012-04-15T15:30:31.0")));
  EXPECT_FALSE(Temporal::equivalent(lit("2012-04-15T15:30:31"), lit("2012-04-15T15:30:31.1")));
  EXPECT_FALSE(Temporal::equivalent(lit("2018-03"), lit("2018-03-01")));
  EXPECT_TRUE(Temporal::equivalent(lit("2012-04-15"), lit("2012-04-15T")));
}

std::string plus(const char* literal, const char* value, const char* unit) {
  return str(Temporal::add(lit(literal), qty(value, unit), false));
}
std::string minus(const char* literal, const char* value, const char* unit) {
  return str(Temporal::add(lit(literal), qty(value, unit), true));
}

TEST(FhirPathTemporal, AddSpecificationExamples) {
  EXPECT_EQ(plus("1973-12-25", "7", "days"), "@1974-01-01");
  EXPECT_EQ(plus("1973-12-25", "7.7", "days"), "@1974-01-01");
  const char* dt = "1973-12-25T00:00:00.000+10:00";
  EXPECT_EQ(plus(dt, "7", "days"), "@1974-01-01T00:00:00.000+10:00");
  EXPECT_EQ(plus(dt, "7.7", "days"), "@1974-01-01T00:00:00.000+10:00");
  EXPECT_EQ(plus(dt, "1", "second"), "@1973-12-25T00:00:01.000+10:00");
  EXPECT_EQ(plus(dt, "10", "millisecond"), "@1973-12-25T00:00:00.010+10:00");
  EXPECT_EQ(plus(dt, "1", "minute"), "@1973-12-25T00:01:00.000+10:00");
  EXPECT_EQ(plus(dt, "1", "hour"), "@1973-12-25T01:00:00.000+10:00");
  EXPECT_EQ(plus("1973-12-25", "1", "day"), "@1973-12-26");
  EXPECT_EQ(plus("1973-12-25", "1", "month"), "@1974-01-25");
  EXPECT_EQ(plus("1973-12-25", "1", "week"), "@1974-01-01");
  EXPECT_EQ(plus("1973-12-25", "1", "year"), "@1974-12-25");
  EXPECT_EQ(plus("1973-12-25", "1", "d"), "@1973-12-26");
  EXPECT_EQ(plus("1973-12-25", "1", "mo"), "<none>");
  EXPECT_EQ(plus("1973-12-25", "1", "wk"), "@1974-01-01");
  EXPECT_EQ(plus("1973-12-25", "1", "a"), "<none>");
  EXPECT_EQ(plus("1975-12-25", "1", "a"), "<none>");
  EXPECT_EQ(plus(dt, "1", "s"), "@1973-12-25T00:00:01.000+10:00");
  EXPECT_EQ(plus(dt, "0.1", "s"), "@1973-12-25T00:00:00.000+10:00");
  EXPECT_EQ(plus(dt, "10", "ms"), "@1973-12-25T00:00:00.010+10:00");
  EXPECT_EQ(plus(dt, "1", "min"), "@1973-12-25T00:01:00.000+10:00");
  EXPECT_EQ(plus(dt, "1", "h"), "@1973-12-25T01:00:00.000+10:00");
  EXPECT_EQ(minus("1974-12-25", "1", "month"), "@1974-11-25");
  EXPECT_EQ(minus("1974-12-25", "1", "cm"), "<none>");
}

TEST(FhirPathTemporal, AddClampsToMonthEnds) {
  EXPECT_EQ(plus("2020-01-31", "1", "month"), "@2020-02-29");
  EXPECT_EQ(plus("2019-01-31", "1", "month"), "@2019-02-28");
  EXPECT_EQ(plus("2020-02-29", "1", "year"), "@2021-02-28");
  EXPECT_EQ(plus("2020-02-29", "4", "years"), "@2024-02-29");
  EXPECT_EQ(minus("2020-03-31", "1", "month"), "@2020-02-29");
  EXPECT_EQ(plus("2020-08-31", "1", "months"), "@2020-09-30");
  EXPECT_EQ(plus("2020-10-31", "14", "months"), "@2021-12-31");
  EXPECT_EQ(minus("2020-01-15", "13", "months"), "@2018-12-15");
  EXPECT_EQ(plus("2020-01-31T10:00:00Z", "1", "month"), "@2020-02-29T10:00:00Z");
}

TEST(FhirPathTemporal, AddCarriesAcrossDaysMonthsYears) {
  EXPECT_EQ(plus("2019-12-31", "1", "day"), "@2020-01-01");
  EXPECT_EQ(plus("2020-02-28", "1", "day"), "@2020-02-29");
  EXPECT_EQ(plus("2019-02-28", "1", "day"), "@2019-03-01");
  EXPECT_EQ(minus("2020-03-01", "1", "day"), "@2020-02-29");
  EXPECT_EQ(plus("2020-01-01", "366", "days"), "@2021-01-01");
  EXPECT_EQ(plus("2019-12-31T23:30:00Z", "1", "hour"), "@2020-01-01T00:30:00Z");
  EXPECT_EQ(minus("2020-01-01T00:00:00.000+01:00", "1", "ms"), "@2019-12-31T23:59:59.999+01:00");
  EXPECT_EQ(plus("2020-01-01T00:00:00", "90061", "seconds"), "@2020-01-02T01:01:01");
  EXPECT_EQ(minus("2020-01-01", "2", "weeks"), "@2019-12-18");
  EXPECT_EQ(minus("1973-12-25", "7.7", "days"), "@1973-12-18");
}

TEST(FhirPathTemporal, AddToPartialValues) {
  EXPECT_EQ(plus("2014", "24", "months"), "@2016");
  EXPECT_EQ(plus("2014", "23", "months"), "@2015");
  EXPECT_EQ(plus("2014", "1", "year"), "@2015");
  EXPECT_EQ(plus("2014-01", "13", "months"), "@2015-02");
  // Finer units are converted to the value's precision and truncated (N1 6.7.1).
  EXPECT_EQ(plus("2014", "1", "day"), "@2014");
  EXPECT_EQ(plus("2016", "365", "days"), "@2017");
  EXPECT_EQ(plus("2014-01", "1", "week"), "@2014-01");
  EXPECT_EQ(plus("2020-01", "45", "days"), "@2020-02");
  EXPECT_EQ(plus("2014-01-01", "1", "hour"), "@2014-01-01");
  EXPECT_EQ(plus("2014-01-01", "36", "hours"), "@2014-01-02");
  EXPECT_EQ(plus("2014-01-01T", "48", "hours"), "@2014-01-03T");
  EXPECT_EQ(plus("2014-01-01T10", "90", "minutes"), "@2014-01-01T11");
  EXPECT_EQ(plus("2014-01-01T10:00", "90", "seconds"), "@2014-01-01T10:01");
  EXPECT_EQ(plus("2014-01-01T10:00:00", "1500", "ms"), "@2014-01-01T10:00:01");
  EXPECT_EQ(plus("2014-01-01T10:00:00.0", "10", "ms"), "@2014-01-01T10:00:00.010");
  EXPECT_EQ(plus("2014T", "1", "hour"), "@2014T");
}

TEST(FhirPathTemporal, AddToTimes) {
  EXPECT_EQ(plus("T10:00", "1", "hour"), "@T11:00");
  EXPECT_EQ(plus("T23:30", "1", "hour"), "@T00:30");
  EXPECT_EQ(minus("T00:30", "1", "hour"), "@T23:30");
  EXPECT_EQ(plus("T10:00:00.000", "1", "ms"), "@T10:00:00.001");
  EXPECT_EQ(plus("T10", "90", "min"), "@T11");
  EXPECT_EQ(plus("T10:00", "1", "day"), "<none>");
  EXPECT_EQ(plus("T10:00", "1", "year"), "<none>");
}

TEST(FhirPathTemporal, AddOutOfRangeIsNullopt) {
  EXPECT_EQ(plus("9999-12-31", "1", "day"), "<none>");
  EXPECT_EQ(minus("0001-01-01", "1", "day"), "<none>");
  EXPECT_EQ(plus("9999-12-31T23:59:59.999Z", "1", "ms"), "<none>");
  EXPECT_EQ(plus("2000-01-01", "8000", "years"), "<none>");
  EXPECT_EQ(plus("2000-01-01", "99999999999999999999", "days"), "<none>");
  EXPECT_EQ(plus("2000-01-01T00:00:00Z", "9223372036854775807", "ms"), "<none>");
  EXPECT_EQ(plus("2000-01-01T00:00:00Z", "999999999999999", "hours"), "<none>");
  EXPECT_EQ(plus("2000-01-01", "1", "kg"), "<none>");
  EXPECT_EQ(plus("2000-01-01", "1", "[s]"), "<none>");
}

TEST(FhirPathTemporal, Boundaries) {
  auto low = [](const char* t, std::optional<int> d) { return str(lit(t).lowBoundary(d)); };
  auto high = [](const char* t, std::optional<int> d) { return str(lit(t).highBoundary(d)); };
  EXPECT_EQ(low("2014", 6), "@2014-01");
  EXPECT_EQ(high("2014", 6), "@2014-12");
  EXPECT_EQ(low("2014-01-01T08", 17), "@2014-01-01T08:00:00.000+14:00");
  EXPECT_EQ(low("2014-01-01T08:05+08:00", 17), "@2014-01-01T08:05:00.000+08:00");
  EXPECT_EQ(low("2014-01-01T08", 8), "@2014-01-01T");
  EXPECT_EQ(low("T10:30", 9), "@T10:30:00.000");
  EXPECT_EQ(high("2014-01-01T08", 17), "@2014-01-01T08:00:59.999-12:00");
  EXPECT_EQ(high("2014-01-01T08:05-05:00", 17), "@2014-01-01T08:05:59.999-05:00");
  EXPECT_EQ(high("T10:30", 9), "@T10:30:59.999");
  EXPECT_EQ(high("2016-02", 8), "@2016-02-29");
  EXPECT_EQ(high("2015-02", 8), "@2015-02-28");
  EXPECT_EQ(high("2015", std::nullopt), "@2015-12-31");
  EXPECT_EQ(low("2015", std::nullopt), "@2015-01-01");
  EXPECT_EQ(high("2015T", std::nullopt), "@2015-12-31T23:59:59.999-12:00");
  EXPECT_EQ(low("2015-06-15T10:20:30.5Z", 14), "@2015-06-15T10:20:30Z");
  EXPECT_EQ(high("T10", std::nullopt), "@T10:59:59.999");
  EXPECT_EQ(low("2014-01-01", 17), "<none>");  // a Date has no time
  EXPECT_EQ(low("2014-01-01", 7), "<none>");
  EXPECT_EQ(low("T10", 8), "<none>");
  EXPECT_EQ(low("2014T", 18), "<none>");
}

// ---------------------------------------------------------------------------------
// Quantity

TEST(FhirPathQuantity, ToString) {
  EXPECT_EQ(qty("1", "wk").toString(), "1 'wk'");
  EXPECT_EQ(qty("1", "week").toString(), "1 week");
  EXPECT_EQ(qty("4.0", "g").toString(), "4.0 'g'");
  EXPECT_EQ(qty("4", "days").toString(), "4 days");
  EXPECT_EQ(qty("1", "1").toString(), "1 '1'");
  EXPECT_EQ(qty("1", "it's").toString(), "1 'it\\'s'");
  EXPECT_TRUE(qty("1", "weeks").isCalendarUnit());
  EXPECT_FALSE(qty("1", "wk").isCalendarUnit());
  EXPECT_EQ(Quantity().unit(), "1");
}

TEST(FhirPathQuantity, Parse) {
  EXPECT_EQ(str(Quantity::parse("1")), "1 '1'");
  EXPECT_EQ(str(Quantity::parse("1.0")), "1.0 '1'");
  EXPECT_EQ(str(Quantity::parse("1.5 'mg'")), "1.5 'mg'");
  EXPECT_EQ(str(Quantity::parse("1 day")), "1 day");
  EXPECT_EQ(str(Quantity::parse("4 days")), "4 days");
  EXPECT_EQ(str(Quantity::parse("1 'wk'")), "1 'wk'");
  EXPECT_EQ(str(Quantity::parse("-2.5'mm[Hg]'")), "-2.5 'mm[Hg]'");
  EXPECT_EQ(str(Quantity::parse("+3 'g/m'")), "3 'g/m'");
  for (const char* text : {"", "1 wk", "1.a", "a", "1 'wk", "1 ''", "1 'wk' x", "1 'a'b", "1 Days",
                           ".5", "1.", "1e3", "1 days!", "'1'"}) {
    EXPECT_FALSE(Quantity::parse(text).has_value()) << text;
  }
}

std::optional<bool> eq(const Quantity& a, const Quantity& b) { return Quantity::equals(a, b); }

TEST(FhirPathQuantity, EqualitySpecificationExamples) {
  EXPECT_EQ(eq(qty("4.0000", "g"), qty("4000.0", "mg")), true);
  EXPECT_EQ(eq(qty("4", "g"), qty("4040", "mg")), false);
  EXPECT_EQ(eq(qty("7", "days"), qty("1", "week")), true);
  EXPECT_EQ(eq(qty("7", "days"), qty("1", "wk")), true);
  EXPECT_EQ(eq(qty("185", "[lb_av]"), qty("185", "[lb_av]")), true);
  EXPECT_EQ(eq(qty("185", "[lb_av]"), qty("185", "kg")), false);
  EXPECT_EQ(eq(*Quantity::parse("1 'wk'"), qty("1", "week")), true);
  EXPECT_EQ(eq(*Quantity::parse("1 'mo'"), qty("1", "month")), std::nullopt);
  EXPECT_EQ(eq(*Quantity::parse("1 'a'"), qty("1", "year")), std::nullopt);
  EXPECT_EQ(eq(*Quantity::parse("1 day"), qty("1", "d")), true);
  EXPECT_EQ(eq(*Quantity::parse("1 day"), qty("1", "day")), true);
  EXPECT_EQ(eq(*Quantity::parse("1"), qty("1", "1")), true);
  EXPECT_EQ(eq(qty("1", "second"), qty("1", "s")), true);
  EXPECT_EQ(eq(qty("1000", "milliseconds"), qty("1", "s")), true);
  EXPECT_EQ(eq(qty("1", "hour"), qty("60", "min")), true);
}

TEST(FhirPathQuantity, CalendarYearsAndMonths) {
  EXPECT_EQ(eq(qty("1", "year"), qty("1", "years")), true);
  EXPECT_EQ(eq(qty("1", "year"), qty("12", "months")), true);
  EXPECT_EQ(eq(qty("2", "years"), qty("12", "months")), false);
  EXPECT_EQ(eq(qty("1", "year"), qty("365", "days")), std::nullopt);
  EXPECT_EQ(eq(qty("1", "month"), qty("1", "mo")), std::nullopt);
  EXPECT_TRUE(Quantity::equivalent(qty("1", "year"), qty("1", "a")));
  EXPECT_TRUE(Quantity::equivalent(qty("1", "month"), qty("1", "mo")));
  EXPECT_TRUE(Quantity::equivalent(qty("12", "months"), qty("1", "a")));
  EXPECT_EQ(Quantity::compare(qty("1", "year"), qty("1", "a")), std::nullopt);
  EXPECT_EQ(Quantity::compare(qty("11", "months"), qty("1", "year")), -1);
  // The UCUM units themselves are ordinary definite durations.
  EXPECT_EQ(eq(qty("1", "a"), qty("12", "mo")), true);
}

TEST(FhirPathQuantity, UnknownUnitsCompareOnlyWhenIdentical) {
  EXPECT_EQ(eq(qty("1", "[s]"), qty("1", "[s]")), true);
  EXPECT_EQ(eq(qty("1", "[s]"), qty("2", "[s]")), false);
  EXPECT_EQ(eq(qty("37", "Cel"), qty("37.0", "Cel")), true);
  EXPECT_EQ(eq(qty("37", "Cel"), qty("98.6", "[degF]")), std::nullopt);
  EXPECT_EQ(eq(qty("1", "cm"), qty("1", "s")), std::nullopt);
  EXPECT_TRUE(Quantity::comparable(qty("1", "Cel"), qty("2", "Cel")));
  EXPECT_FALSE(Quantity::equivalent(qty("1", "cm"), qty("1", "s")));
}

TEST(FhirPathQuantity, Equivalence) {
  EXPECT_TRUE(Quantity::equivalent(qty("4", "g"), qty("4000", "mg")));
  EXPECT_TRUE(Quantity::equivalent(qty("4", "g"), qty("4040", "mg")));
  EXPECT_TRUE(Quantity::equivalent(qty("4040", "mg"), qty("4", "g")));
  EXPECT_TRUE(Quantity::equivalent(qty("4", "kg"), qty("4040", "g")));
  EXPECT_FALSE(Quantity::equivalent(qty("4", "g"), qty("4600", "mg")));
  EXPECT_TRUE(Quantity::equivalent(qty("4.0", "g"), qty("4040", "mg")));  // 4.0 ~ 4.040
  EXPECT_FALSE(Quantity::equivalent(qty("4.0", "g"), qty("4060", "mg")));
  EXPECT_TRUE(Quantity::equivalent(qty("185", "[lb_av]"), qty("185", "[lb_av]")));
  EXPECT_FALSE(Quantity::equivalent(qty("185", "[lb_av]"), qty("185", "kg")));
  EXPECT_TRUE(Quantity::equivalent(*Quantity::parse("1.0"), qty("1", "1")));
  EXPECT_TRUE(Quantity::equivalent(qty("1", "[lb_av]"), qty("453.6", "g")));
}

TEST(FhirPathQuantity, Ordering) {
  EXPECT_EQ(Quantity::compare(qty("6", "days"), qty("1", "week")), -1);
  EXPECT_EQ(Quantity::compare(qty("8", "days"), qty("1", "week")), 1);
  EXPECT_EQ(Quantity::compare(qty("1", "h"), qty("59", "min")), 1);
  EXPECT_EQ(Quantity::compare(qty("185", "[lb_av]"), qty("200", "[lb_av]")), -1);
  EXPECT_EQ(Quantity::compare(qty("185", "[lb_av]"), qty("100", "[lb_av]")), 1);
  EXPECT_EQ(Quantity::compare(qty("1", "kg"), qty("3", "[lb_av]")), -1);
  EXPECT_EQ(Quantity::compare(qty("1", "kg"), qty("2", "[lb_av]")), 1);
  EXPECT_EQ(Quantity::compare(qty("1", "[in_i]"), qty("2.54", "cm")), 0);
  EXPECT_EQ(Quantity::compare(qty("1", "cm"), qty("1", "g")), std::nullopt);
}

TEST(FhirPathQuantity, Comparable) {
  EXPECT_TRUE(Quantity::comparable(qty("1", "cm"), qty("1", "[in_i]")));
  EXPECT_FALSE(Quantity::comparable(qty("1", "cm"), qty("1", "[s]")));
  EXPECT_FALSE(Quantity::comparable(qty("1", "cm"), qty("1", "s")));
  EXPECT_TRUE(Quantity::comparable(qty("1", "week"), qty("1", "d")));
  EXPECT_TRUE(Quantity::comparable(qty("1", "mm[Hg]"), qty("1", "kPa")));
  EXPECT_TRUE(Quantity::comparable(qty("1", "mL"), qty("1", "[in_i]3")));
}

TEST(FhirPathQuantity, MultiplyAndDivide) {
  std::optional<Quantity> area = Quantity::mul(qty("2.0", "cm"), qty("2.0", "m"));
  ASSERT_TRUE(area);
  EXPECT_EQ(area->toString(), "4.00 'cm.m'");
  EXPECT_EQ(eq(*area, qty("0.040", "m2")), true);
  std::optional<Quantity> density = Quantity::div(qty("4.0", "g"), qty("2.0", "m"));
  ASSERT_TRUE(density);
  EXPECT_EQ(density->toString(), "2.0 'g/m'");
  EXPECT_EQ(eq(*density, qty("2", "g/m")), true);
  std::optional<Quantity> ratio = Quantity::div(qty("1.0", "m"), qty("1.0", "m"));
  ASSERT_TRUE(ratio);
  EXPECT_EQ(ratio->toString(), "1.0 '1'");
  EXPECT_EQ(eq(*ratio, qty("1", "1")), true);
  EXPECT_EQ(str(Quantity::mul(qty("2", "mg"), qty("3", "1"))), "6 'mg'");
  EXPECT_EQ(str(Quantity::mul(qty("2", "1"), qty("3", "weeks"))), "6 weeks");
  EXPECT_EQ(str(Quantity::div(qty("6", "mg"), qty("2", "1"))), "3 'mg'");
  EXPECT_EQ(str(Quantity::div(qty("6", "g"), qty("2", "m/s"))), "3 'g.s/m'");
  EXPECT_EQ(eq(*Quantity::div(qty("6", "g"), qty("2", "m/s")), qty("3", "g.s/m")), true);
  EXPECT_EQ(str(Quantity::div(qty("6", "g"), qty("2", "m.s"))), "3 'g/m/s'");
  EXPECT_EQ(eq(*Quantity::div(qty("6", "g"), qty("2", "m.s")), qty("3", "g/m/s")), true);
  EXPECT_EQ(str(Quantity::div(qty("1", "1"), qty("4", "s"))), "0.25 '1/s'");
  EXPECT_EQ(eq(*Quantity::div(qty("14", "days"), qty("1", "week")), qty("14", "d/wk")), true);
  EXPECT_EQ(str(Quantity::div(qty("1", "g"), qty("0", "m"))), "<none>");
}

TEST(FhirPathQuantity, AddAndSubtract) {
  EXPECT_EQ(str(Quantity::add(qty("1", "m"), qty("1", "cm"), false)), "101 'cm'");
  EXPECT_EQ(str(Quantity::add(qty("1", "m"), qty("1", "cm"), true)), "99 'cm'");
  EXPECT_EQ(str(Quantity::add(qty("1", "week"), qty("7", "d"), false)), "14 'd'");
  EXPECT_EQ(str(Quantity::add(qty("1", "day"), qty("1", "week"), false)), "8 day");
  EXPECT_EQ(str(Quantity::add(qty("1", "week"), qty("1", "d"), false)), "8 'd'");
  EXPECT_EQ(str(Quantity::add(qty("1", "year"), qty("12", "months"), false)), "24 months");
  EXPECT_EQ(str(Quantity::add(qty("1", "year"), qty("1", "a"), false)), "<none>");
  EXPECT_EQ(str(Quantity::add(qty("1", "m"), qty("1", "g"), false)), "<none>");
  EXPECT_EQ(str(Quantity::add(qty("1", "[s]"), qty("2", "[s]"), false)), "3 '[s]'");
  EXPECT_EQ(str(Quantity::add(qty("1", "h"), qty("30", "min"), false)), "90 'min'");
}

// ---------------------------------------------------------------------------------
// UCUM

std::string factor(const char* code) {
  std::optional<ucum::Canonical> c = ucum::canonicalize(code);
  return c ? c->factor.toString() : "<none>";
}

std::string dims(const char* code) {
  std::optional<ucum::Canonical> c = ucum::canonicalize(code);
  if (!c) return "<none>";
  std::string out;
  for (int i = 0; i < 8; ++i) {
    if (i) out.push_back(',');
    out += std::to_string(int(c->dims[i]));
  }
  return out;
}

TEST(FhirPathUcum, CanonicalFactors) {
  EXPECT_EQ(factor("g"), "1");
  EXPECT_EQ(factor("mg"), "0.001");
  EXPECT_EQ(factor("kg"), "1000");
  EXPECT_EQ(factor("ug"), "0.000001");
  EXPECT_EQ(factor("[lb_av]"), "453.59237");
  EXPECT_EQ(factor("[oz_av]"), "28.349523125");
  EXPECT_EQ(factor("[in_i]"), "0.0254");
  EXPECT_EQ(factor("[ft_i]"), "0.3048");
  EXPECT_EQ(factor("[mi_i]"), "1609.344");
  EXPECT_EQ(factor("mm[Hg]"), "133322");
  EXPECT_EQ(factor("L"), "0.001");
  EXPECT_EQ(factor("mL"), "0.000001");
  EXPECT_EQ(factor("dL"), "0.0001");
  EXPECT_EQ(factor("%"), "0.01");
  EXPECT_EQ(factor("1"), "1");
  EXPECT_EQ(factor("10*3/uL"), "1000000000000");
  EXPECT_EQ(factor("wk"), "604800");
  EXPECT_EQ(factor("a"), "31557600");
  EXPECT_EQ(factor("mo"), "2629800");
  EXPECT_EQ(factor("cm2"), "0.0001");
  EXPECT_EQ(factor("s-1"), "1");
  EXPECT_EQ(factor("/min"), "0.016666666666666666667");
  EXPECT_EQ(factor("kPa"), "1000000");
  EXPECT_EQ(factor("{count}"), "1");
  EXPECT_EQ(factor("mL{total}"), "0.000001");
  EXPECT_EQ(factor("dam"), "10");
}

TEST(FhirPathUcum, Dimensions) {
  EXPECT_EQ(dims("m"), "1,0,0,0,0,0,0,0");
  EXPECT_EQ(dims("g/m"), "-1,1,0,0,0,0,0,0");
  EXPECT_EQ(dims("g/(m.s)"), "-1,1,-1,0,0,0,0,0");
  EXPECT_EQ(dims("kg.m/s2"), dims("N"));
  EXPECT_EQ(dims("m3"), dims("L"));
  EXPECT_EQ(dims("mm[Hg]"), dims("Pa"));
  EXPECT_EQ(dims("cm[H2O]"), dims("Pa"));
  EXPECT_EQ(dims("[iU]/L"), "-3,0,0,0,0,0,0,1");
  EXPECT_EQ(dims("U/L"), "-3,0,-1,1,0,0,0,0");
  EXPECT_EQ(dims("mmol/L"), "-3,0,0,1,0,0,0,0");
  EXPECT_EQ(dims("meq/L"), dims("mmol/L"));
  EXPECT_EQ(dims("%"), "0,0,0,0,0,0,0,0");
  EXPECT_EQ(dims("/min"), "0,0,-1,0,0,0,0,0");
  EXPECT_EQ(dims("m.m-1"), "0,0,0,0,0,0,0,0");
  EXPECT_EQ(dims("mg/kg/d"), "0,0,-1,0,0,0,0,0");
}

TEST(FhirPathUcum, RejectsUnknownOrMalformedUnits) {
  for (const char* code : {"", "[s]", "foo", "Cel", "[degF]", "m[", "m(", "(m", "m/", ".m", "m..s",
                           "m//s", "()", "m)", "{", "m{x", "kmin", "k", "m+", "m2.", "m123", "0",
                           "Ym99", "1 m", "ms-", "mm [Hg]"}) {
    EXPECT_FALSE(ucum::canonicalize(code).has_value()) << code;
  }
}

TEST(FhirPathUcum, CalendarKeywords) {
  EXPECT_EQ(ucum::calendarToUcum("year"), "a");
  EXPECT_EQ(ucum::calendarToUcum("years"), "a");
  EXPECT_EQ(ucum::calendarToUcum("month"), "mo");
  EXPECT_EQ(ucum::calendarToUcum("months"), "mo");
  EXPECT_EQ(ucum::calendarToUcum("week"), "wk");
  EXPECT_EQ(ucum::calendarToUcum("weeks"), "wk");
  EXPECT_EQ(ucum::calendarToUcum("day"), "d");
  EXPECT_EQ(ucum::calendarToUcum("days"), "d");
  EXPECT_EQ(ucum::calendarToUcum("hour"), "h");
  EXPECT_EQ(ucum::calendarToUcum("hours"), "h");
  EXPECT_EQ(ucum::calendarToUcum("minute"), "min");
  EXPECT_EQ(ucum::calendarToUcum("minutes"), "min");
  EXPECT_EQ(ucum::calendarToUcum("second"), "s");
  EXPECT_EQ(ucum::calendarToUcum("seconds"), "s");
  EXPECT_EQ(ucum::calendarToUcum("millisecond"), "ms");
  EXPECT_EQ(ucum::calendarToUcum("milliseconds"), "ms");
  EXPECT_EQ(ucum::calendarToUcum("wk"), std::nullopt);
  EXPECT_EQ(ucum::calendarToUcum("Week"), std::nullopt);
  EXPECT_EQ(ucum::calendarToUcum(""), std::nullopt);
}

std::string conv(const char* value, const char* from, const char* to) {
  return str(ucum::convert(dec(value), from, to));
}

TEST(FhirPathUcum, Convert) {
  EXPECT_EQ(conv("1", "h", "min"), "60");
  EXPECT_EQ(conv("60", "min", "h"), "1");
  EXPECT_EQ(conv("90", "min", "h"), "1.5");
  EXPECT_EQ(conv("4040", "mg", "g"), "4.040");
  EXPECT_EQ(conv("4", "kg", "g"), "4000");
  EXPECT_EQ(conv("185", "[lb_av]", "g"), "83914.58845");
  EXPECT_EQ(conv("1", "g", "[lb_av]"), "0.002204622622");
  EXPECT_EQ(conv("2", "[ft_i]", "[in_i]"), "24");
  EXPECT_EQ(conv("1", "[in_i]", "cm"), "2.54");
  EXPECT_EQ(conv("1000", "mU", "U"), "1.000");  // a power of ten keeps the digits
  EXPECT_EQ(conv("1", "mL/min", "L/h"), "0.06");
  EXPECT_EQ(conv("1", "week", "d"), "7");
  EXPECT_EQ(conv("1", "a", "mo"), "12");
  EXPECT_EQ(conv("1", "1", "%"), "100");
  EXPECT_EQ(conv("0.5", "m2", "cm2"), "5000.0");
  EXPECT_EQ(conv("1", "m3", "L"), "1000");
  EXPECT_EQ(conv("760", "mm[Hg]", "kPa"), "101.324720");
  EXPECT_EQ(factor("m2.5"), "5");  // a numeric factor
  EXPECT_EQ(conv("1", "d", "h"), "24");
  EXPECT_EQ(conv("30", "min", "d"), "0.0208333333333");
  EXPECT_EQ(conv("1", "U", "umol/min"), "1");
  EXPECT_EQ(conv("1.5", "[s]", "[s]"), "1.5");
  EXPECT_EQ(conv("1", "m", "s"), "<none>");
  EXPECT_EQ(conv("1", "m", "[s]"), "<none>");
  EXPECT_EQ(conv("1", "Ym", "ym"), "<none>");  // 10^48 does not fit
  EXPECT_EQ(conv("-3", "km", "m"), "-3000");
}

}  // namespace
}  // namespace hoa::fhir::fhirpath
