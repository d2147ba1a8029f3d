#include "mappings/working_days.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>

namespace hoa::clinic {
namespace {

using std::chrono::Friday;
using std::chrono::Monday;
using std::chrono::Saturday;
using std::chrono::Sunday;
using std::chrono::Thursday;
using std::chrono::Tuesday;

Date d(std::string_view text) {
  const std::optional<Date> date = Date::parse(text);
  EXPECT_TRUE(date.has_value()) << text;
  return date.value_or(Date{});
}

// ---------------------------------------------------------------------------------------
// Date

TEST(Date, ParsesAndPrintsIsoText) {
  for (std::string_view text :
       {"2024-02-29", "0001-01-01", "9999-12-31", "1970-01-01", "2000-02-29", "2030-12-31"}) {
    const std::optional<Date> date = Date::parse(text);
    ASSERT_TRUE(date.has_value()) << text;
    EXPECT_EQ(date->toString(), text);
  }
  const Date date = d("2038-04-25");
  EXPECT_EQ(date.year(), 2038);
  EXPECT_EQ(date.month(), 4);
  EXPECT_EQ(date.day(), 25);
}

TEST(Date, RefusesMalformedOrImpossibleText) {
  for (std::string_view text : {"",           "2024-1-01",        "2024-01-1",   "24-01-01",
                                "2024/01/01", "2024-01-01T00:00", " 2024-01-01", "2024-01-01 ",
                                "+024-01-01", "-024-01-01",       "2024-0a-01",  "2024-02-30",
                                "2023-02-29", "1900-02-29",       "2024-04-31",  "2024-13-01",
                                "2024-00-10", "2024-01-00",       "2024-01-32",  "0000-01-01",
                                "2024",       "2024-01"}) {
    EXPECT_FALSE(Date::parse(text).has_value()) << '"' << text << '"';
  }
}

TEST(Date, FromYmdChecksTheCalendar) {
  EXPECT_TRUE(Date::fromYmd(2024, 2, 29).has_value());
  EXPECT_TRUE(Date::fromYmd(2000, 2, 29).has_value());
  EXPECT_FALSE(Date::fromYmd(2100, 2, 29).has_value());
  EXPECT_FALSE(Date::fromYmd(2025, 2, 29).has_value());
  EXPECT_FALSE(Date::fromYmd(2025, 6, 31).has_value());
  EXPECT_FALSE(Date::fromYmd(0, 1, 1).has_value());
  EXPECT_FALSE(Date::fromYmd(10000, 1, 1).has_value());
  EXPECT_FALSE(Date::fromYmd(2025, -1, 1).has_value());
  EXPECT_FALSE(Date::fromYmd(2025, 1, -1).has_value());
  EXPECT_EQ(Date::fromYmd(2025, 12, 31)->toString(), "2025-12-31");
}

TEST(Date, DefaultIsUnixEpoch) {
  EXPECT_EQ(Date{}, d("1970-01-01"));
}

TEST(Date, ComparesChronologically) {
  EXPECT_LT(d("2024-12-31"), d("2025-01-01"));
  EXPECT_LT(d("2025-01-31"), d("2025-02-01"));
  EXPECT_GT(d("2025-02-01"), d("2025-01-31"));
  EXPECT_EQ(d("2025-02-01"), d("2025-02-01"));
  EXPECT_NE(d("2025-02-01"), d("2025-02-02"));
  EXPECT_LE(Date::earliest(), Date::latest());
}

TEST(Date, AddsDaysAcrossMonthsYearsAndLeapDays) {
  EXPECT_EQ(d("2024-02-28").addDays(1), d("2024-02-29"));
  EXPECT_EQ(d("2024-02-28").addDays(2), d("2024-03-01"));
  EXPECT_EQ(d("2025-02-28").addDays(1), d("2025-03-01"));
  EXPECT_EQ(d("2024-12-31").addDays(1), d("2025-01-01"));
  EXPECT_EQ(d("2025-01-01").addDays(-1), d("2024-12-31"));
  EXPECT_EQ(d("2024-01-01").addDays(366), d("2025-01-01"));
  EXPECT_EQ(d("2024-01-01").addDays(0), d("2024-01-01"));
  EXPECT_EQ(d("2024-01-01").daysUntil(d("2025-01-01")), 366);
  EXPECT_EQ(d("2025-01-01").daysUntil(d("2024-01-01")), -366);
}

TEST(Date, AddDaysSaturatesAtTheSupportedRange) {
  EXPECT_EQ(Date::latest().addDays(1), Date::latest());
  EXPECT_EQ(Date::earliest().addDays(-1), Date::earliest());
  EXPECT_EQ(d("2025-01-01").addDays(INT64_MAX), Date::latest());
  EXPECT_EQ(d("2025-01-01").addDays(INT64_MIN), Date::earliest());
  EXPECT_EQ(Date::earliest().toString(), "0001-01-01");
  EXPECT_EQ(Date::latest().toString(), "9999-12-31");
}

TEST(Date, KnowsTheDayOfWeek) {
  EXPECT_EQ(d("1970-01-01").dayOfWeek(), Thursday);
  EXPECT_EQ(d("2024-01-01").dayOfWeek(), Monday);
  EXPECT_EQ(d("2000-02-29").dayOfWeek(), Tuesday);
  EXPECT_EQ(d("2025-05-17").dayOfWeek(), Saturday);
  EXPECT_EQ(d("2026-11-22").dayOfWeek(), Sunday);
  EXPECT_EQ(d("0001-01-01").dayOfWeek(), Monday);  // proleptic Gregorian
}

TEST(Date, ConvertsToAndFromChrono) {
  using namespace std::chrono;
  const sys_days days = sys_days{2025y / May / 17};
  ASSERT_TRUE(Date::fromSysDays(days).has_value());
  EXPECT_EQ(Date::fromSysDays(days)->sysDays(), days);
  EXPECT_EQ(d("2025-05-17").ymd(), 2025y / May / 17);
  EXPECT_FALSE(Date::fromSysDays(sys_days{10000y / January / 1}).has_value());
  EXPECT_FALSE(Date::fromSysDays(sys_days{0y / December / 31}).has_value());
}

// ---------------------------------------------------------------------------------------
// Easter

TEST(EasterSunday, MatchesKnownDates) {
  const std::array<std::pair<int, std::string_view>, 20> known = {{
      {2024, "2024-03-31"},
      {2025, "2025-04-20"},
      {2026, "2026-04-05"},
      {2027, "2027-03-28"},
      {2030, "2030-04-21"},
      {2038, "2038-04-25"},
      {1961, "1961-04-02"},
      {2000, "2000-04-23"},
      {2008, "2008-03-23"},
      {2011, "2011-04-24"},
      {1583, "1583-04-10"},
      {1818, "1818-03-22"},  // earliest possible date
      {2285, "2285-03-22"},  // earliest possible date
      {1943, "1943-04-25"},  // latest possible date
      // The years where Gauss's formula needs its two exceptions.
      {1954, "1954-04-18"},
      {1981, "1981-04-19"},
      {2049, "2049-04-18"},
      {2076, "2076-04-19"},
      {2007, "2007-04-08"},
      {9999, "9999-03-28"},
  }};
  for (const auto& [year, text] : known) EXPECT_EQ(easterSunday(year).toString(), text) << year;
}

// Knuth, TAOCP vol. 1, 1.3.2 exercise 14 (Algorithm E): golden number and epact, a
// different derivation from the anonymous Gregorian algorithm under test.
Date knuthEaster(int y) {
  const int g = y % 19 + 1;
  const int c = y / 100 + 1;
  const int x = 3 * c / 4 - 12;
  const int z = (8 * c + 5) / 25 - 5;
  const int dd = 5 * y / 4 - x - 10;
  int e = (11 * g + 20 + z - x) % 30;
  if (e < 0) e += 30;
  if ((e == 25 && g > 11) || e == 24) ++e;
  int n = 44 - e;
  if (n < 21) n += 30;
  n = n + 7 - (dd + n) % 7;
  return n > 31 ? *Date::fromYmd(y, 4, n - 31) : *Date::fromYmd(y, 3, n);
}

TEST(EasterSunday, AgreesWithKnuthsAlgorithmForEveryGregorianYear) {
  for (int y = 1583; y <= Date::kMaxYear; ++y) {
    const Date easter = easterSunday(y);
    ASSERT_EQ(easter, knuthEaster(y)) << y;
    ASSERT_EQ(easter.dayOfWeek(), Sunday) << y;
    ASSERT_GE(easter, *Date::fromYmd(y, 3, 22)) << y;
    ASSERT_LE(easter, *Date::fromYmd(y, 4, 25)) << y;
  }
}

// ---------------------------------------------------------------------------------------
// Holidays and working days

TEST(PublicHoliday, KnowsEveryHolidayOf2025) {
  const std::array<std::pair<std::string_view, std::string_view>, 12> holidays = {{
      {"2025-01-01", "1. nyttårsdag"},
      {"2025-04-17", "Skjærtorsdag"},
      {"2025-04-18", "Langfredag"},
      {"2025-04-20", "1. påskedag"},
      {"2025-04-21", "2. påskedag"},
      {"2025-05-01", "Offentlig høytidsdag"},
      {"2025-05-17", "Grunnlovsdag"},
      {"2025-05-29", "Kristi himmelfartsdag"},
      {"2025-06-08", "1. pinsedag"},
      {"2025-06-09", "2. pinsedag"},
      {"2025-12-25", "1. juledag"},
      {"2025-12-26", "2. juledag"},
  }};
  for (const auto& [text, name] : holidays) {
    EXPECT_TRUE(isPublicHoliday(d(text))) << text;
    EXPECT_EQ(publicHolidayName(d(text)).value_or("-"), name) << text;
    EXPECT_FALSE(isWorkingDay(d(text))) << text;
  }
  // Exactly those twelve days in the year.
  int count = 0;
  for (Date day = d("2025-01-01"); day <= d("2025-12-31"); day = day.addDays(1))
    count += isPublicHoliday(day) ? 1 : 0;
  EXPECT_EQ(count, 12);
}

TEST(PublicHoliday, MovableHolidaysFollowEaster) {
  // 2026: Easter Sunday 5 April.
  EXPECT_TRUE(isPublicHoliday(d("2026-04-02")));   // Maundy Thursday
  EXPECT_TRUE(isPublicHoliday(d("2026-04-03")));   // Good Friday
  EXPECT_TRUE(isPublicHoliday(d("2026-04-06")));   // Easter Monday
  EXPECT_TRUE(isPublicHoliday(d("2026-05-14")));   // Ascension Day
  EXPECT_TRUE(isPublicHoliday(d("2026-05-24")));   // Whit Sunday
  EXPECT_TRUE(isPublicHoliday(d("2026-05-25")));   // Whit Monday
  EXPECT_FALSE(isPublicHoliday(d("2026-04-17")));  // 2025's Good Friday date
}

TEST(PublicHoliday, EveningsAndEasterSaturdayAreNotHolidays) {
  EXPECT_FALSE(isPublicHoliday(d("2025-12-24")));
  EXPECT_FALSE(isPublicHoliday(d("2025-12-31")));
  EXPECT_FALSE(isPublicHoliday(d("2025-04-19")));  // Easter Saturday
  EXPECT_FALSE(isPublicHoliday(d("2025-04-16")));  // Wednesday before Easter
  EXPECT_FALSE(isPublicHoliday(d("2025-05-16")));
  EXPECT_FALSE(publicHolidayName(d("2025-05-16")).has_value());
  EXPECT_TRUE(isWorkingDay(d("2025-12-24")));  // a Wednesday
  EXPECT_TRUE(isWorkingDay(d("2025-12-31")));
}

TEST(PublicHoliday, CoincidingHolidaysUseTheFixedDateName) {
  // 2027: Easter 28 March, so Whit Monday is 17 May.
  EXPECT_EQ(publicHolidayName(d("2027-05-17")).value_or("-"), "Grunnlovsdag");
  // 2007: Easter 8 April, so Ascension Day is 17 May.
  EXPECT_EQ(publicHolidayName(d("2007-05-17")).value_or("-"), "Grunnlovsdag");
}

TEST(WorkingDay, WeekendsAreNotWorkingDays) {
  EXPECT_FALSE(isWorkingDay(d("2025-01-11")));  // Saturday
  EXPECT_FALSE(isWorkingDay(d("2025-01-12")));  // Sunday
  EXPECT_TRUE(isWorkingDay(d("2025-01-10")));   // Friday
  EXPECT_TRUE(isWorkingDay(d("2025-01-13")));   // Monday
  EXPECT_FALSE(isPublicHoliday(d("2025-01-11")));
}

TEST(AddWorkingDays, DoesNotCountTheStartDay) {
  EXPECT_EQ(d("2025-01-10").dayOfWeek(), Friday);
  EXPECT_EQ(addWorkingDays(d("2025-01-10"), 1), d("2025-01-13"));  // Friday + 1 = Monday
  EXPECT_EQ(addWorkingDays(d("2025-01-11"), 1), d("2025-01-13"));  // Saturday + 1 = Monday
  EXPECT_EQ(addWorkingDays(d("2025-01-12"), 1), d("2025-01-13"));  // Sunday + 1 = Monday
  EXPECT_EQ(addWorkingDays(d("2025-01-13"), 1), d("2025-01-14"));
  EXPECT_EQ(addWorkingDays(d("2025-01-13"), 5), d("2025-01-20"));
  EXPECT_EQ(addWorkingDays(d("2025-01-10"), 10), d("2025-01-24"));
}

TEST(AddWorkingDays, ZeroReturnsTheStart) {
  EXPECT_EQ(addWorkingDays(d("2025-01-11"), 0), d("2025-01-11"));
  EXPECT_EQ(addWorkingDays(d("2025-01-13"), 0), d("2025-01-13"));
}

TEST(AddWorkingDays, SkipsHolidaysAfterAWeekend) {
  // Friday 2025-04-18 is Good Friday; Easter Monday 21 April is also off.
  EXPECT_EQ(addWorkingDays(d("2025-04-16"), 1), d("2025-04-22"));
  EXPECT_EQ(addWorkingDays(d("2025-04-17"), 1), d("2025-04-22"));
}

TEST(AddWorkingDays, CountsBackwardsForNegativeN) {
  EXPECT_EQ(addWorkingDays(d("2025-01-13"), -1), d("2025-01-10"));
  EXPECT_EQ(addWorkingDays(d("2025-04-22"), -1), d("2025-04-16"));
  EXPECT_EQ(addWorkingDays(d("2025-01-24"), -10), d("2025-01-10"));
}

TEST(AddWorkingDays, SaturatesAtTheEndOfTheRange) {
  EXPECT_EQ(addWorkingDays(d("9999-12-20"), 100), Date::latest());
  EXPECT_EQ(addWorkingDays(d("0001-01-10"), -100), Date::earliest());
}

TEST(AssessmentDeadline, TenWorkingDaysOverEaster) {
  // Received Monday 2025-04-14. Working days: 15, 16, (17-21 off), 22, 23, 24, 25, 28, 29,
  // 30, (1 May off), 2 May.
  EXPECT_EQ(assessmentDeadline(d("2025-04-14")), d("2025-05-02"));
  // 2026 Easter (2-6 April).
  EXPECT_EQ(assessmentDeadline(d("2026-03-27")), d("2026-04-15"));
}

TEST(AssessmentDeadline, TenWorkingDaysOverChristmasAndNewYear) {
  // Received Friday 2024-12-20. Working days: 23, 24, (25, 26 off), 27, 30, 31, (1 Jan off),
  // 2, 3, 6, 7, 8 January.
  EXPECT_EQ(assessmentDeadline(d("2024-12-20")), d("2025-01-08"));
  // Received on Christmas Day itself counts from the next working day.
  EXPECT_EQ(assessmentDeadline(d("2025-12-25")), d("2026-01-12"));
}

TEST(AssessmentDeadline, OverMayHolidays) {
  // 2026: 1 May Friday, Ascension 14 May, 17 May Sunday, Whit Monday 25 May.
  EXPECT_EQ(assessmentDeadline(d("2026-04-30")), d("2026-05-18"));
  EXPECT_EQ(assessmentDeadline(d("2026-05-13")), d("2026-05-29"));
}

// ---------------------------------------------------------------------------------------
// Brute force against an independent implementation: its own calendar arithmetic, Gauss's
// Easter formula, and a day-by-day walk.

struct Ymd {
  int y, m, day;
  bool operator==(const Ymd&) const = default;
};

bool leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int monthLength(int y, int m) {
  static constexpr int kLengths[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kLengths[m - 1];
}

Ymd nextDay(Ymd v) {
  if (++v.day > monthLength(v.y, v.m)) {
    v.day = 1;
    if (++v.m > 12) {
      v.m = 1;
      ++v.y;
    }
  }
  return v;
}

int dayOfYear(Ymd v) {
  int n = v.day;
  for (int m = 1; m < v.m; ++m) n += monthLength(v.y, m);
  return n;
}

// Gauss's Easter formula with its two exceptions; as a day of the year.
int gaussEasterDayOfYear(int y) {
  const int a = y % 19;
  const int b = y % 4;
  const int c = y % 7;
  const int k = y / 100;
  const int p = (13 + 8 * k) / 25;
  const int q = k / 4;
  const int mm = (15 - p + k - q) % 30;
  const int n = (4 + k - q) % 7;
  const int dd = (19 * a + mm) % 30;
  const int e = (2 * b + 4 * c + 6 * dd + n) % 7;
  int marchDay = 22 + dd + e;  // may exceed 31: then it is in April
  if (dd == 29 && e == 6) marchDay = 31 + 19;
  if (dd == 28 && e == 6 && (11 * mm + 11) % 30 < 19) marchDay = 31 + 18;
  return dayOfYear({y, 3, 1}) - 1 + marchDay;
}

bool referenceHoliday(Ymd v) {
  if ((v.m == 1 && v.day == 1) || (v.m == 5 && (v.day == 1 || v.day == 17)) ||
      (v.m == 12 && (v.day == 25 || v.day == 26)))
    return true;
  const int offset = dayOfYear(v) - gaussEasterDayOfYear(v.y);
  for (int o : {-3, -2, 0, 1, 39, 49, 50})
    if (offset == o) return true;
  return false;
}

std::string format(Ymd v) {
  char buf[48];  // room for any int, so -Wformat-truncation stays quiet
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", v.y, v.m, v.day);
  return buf;
}

TEST(AssessmentDeadline, MatchesAnIndependentImplementationFrom2024To2030) {
  // Weekday kept as 0 = Monday .. 6 = Sunday, walked forward from a known Monday.
  Ymd day{2024, 1, 1};
  int weekday = 0;
  int checked = 0;
  while (day.y <= 2030) {
    const Date date = d(format(day));
    ASSERT_EQ(isWorkingDay(date), weekday < 5 && !referenceHoliday(day)) << format(day);
    ASSERT_EQ(isPublicHoliday(date), referenceHoliday(day)) << format(day);

    Ymd deadline = day;
    int deadlineWeekday = weekday;
    for (int counted = 0; counted < 10;) {
      deadline = nextDay(deadline);
      deadlineWeekday = (deadlineWeekday + 1) % 7;
      if (deadlineWeekday < 5 && !referenceHoliday(deadline)) ++counted;
    }
    ASSERT_EQ(assessmentDeadline(date).toString(), format(deadline)) << "received " << format(day);
    ASSERT_LE(addWorkingDays(assessmentDeadline(date), -10), date) << format(day);

    day = nextDay(day);
    weekday = (weekday + 1) % 7;
    ++checked;
  }
  EXPECT_EQ(checked, 2557);  // 7 years, two of them leap years
}

TEST(EasterSunday, AgreesWithGaussForTheBruteForceYears) {
  for (int y = 2024; y <= 2031; ++y)
    EXPECT_EQ(dayOfYear({easterSunday(y).year(), easterSunday(y).month(), easterSunday(y).day()}),
              gaussEasterDayOfYear(y))
        << y;
}

}  // namespace
}  // namespace hoa::clinic
